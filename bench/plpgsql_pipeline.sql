-- =============================================================================================
-- bench/plpgsql_pipeline.sql: the PL/pgSQL reference of the tracking pipeline (benchmark C).
--
-- What a competent PL/pgSQL developer would write for the seed's api.track_page_view, in the
-- seed's style (plain PL/pgSQL over pgcrypto, the platform's util.hash_binary and
-- util.log_audit_event), doing the same work as the native api.track_page_view and writing the
-- SAME tables with the same rows:
--
--   key      look-up by SHA-256 of the presented key in business.api_key_details_s (current row)
--            joined to its site; revoked, expired, scope and domain checks; limit from the key,
--            the site's settings or onevault_tracking.rate_limit_per_minute
--   signals  Do-Not-Track / Global Privacy Control as the site's privacy_signals setting says
--   limit    auth.security_tracking_h (ON CONFLICT DO NOTHING) and ONE upsert into
--            auth.ip_tracking_s per call (INSERT ... ON CONFLICT DO UPDATE, fixed one-minute
--            windows, load_date = window start, the previous window end-dated when a new one
--            starts), the same state shape as src/ratelimit.rs
--   raw      payload built from the parameters (page_url = https://<site><path>), size check,
--            client IP stored as onevault_tracking.client_ip_storage says, visitor hashes
--            (HMAC-SHA256 under today's and yesterday's salt in onevault_tracking.visitor_salts),
--            INSERT ... ON CONFLICT (tenant_hk, client_event_id) DO NOTHING (retries answer
--            DUPLICATE_EVENT)
--   staging  validation of every field of the vocabulary (codes, lengths, control characters,
--            timestamp window, properties), enrichment with regular expressions (browser, OS,
--            device, bot), URL parsing (host, normalised path, query without tracking
--            parameters), UTM and click ids (form-decoded), referrer host, channel, anonymised
--            IP, sessions (client id, else the visitor's nearest derived session within 30
--            minutes, else a new one), one staging row; an unexpected failure while staging
--            marks the raw row ERROR in an exception block (as the native code's subtransaction)
--   vault    hubs and links with INSERT ... ON CONFLICT DO NOTHING (keys by util.hash_binary over
--            the project's key recipe, so they equal the native keys), satellites only when
--            hash_diff differs from the current row (advisory lock per key, end-date, insert);
--            page details from the page's latest titled event, session details from the
--            session's first event, as the native loader
--   audit    one TRACKING_ATTEMPT record per call through util.log_audit_event, tenant_id (hex)
--            in the details, a unique resource id, the answer's success checked (fail closed)
--
-- Where a hand-written single-event path naturally saves work it does so (it keeps what it
-- inserted in variables instead of reading it back, lands the raw row already PROCESSED and the
-- staging row already loaded because all of it commits or rolls back together, and inserts a new
-- event's details without comparing). It does not skip checks the native code makes.
--
-- Differences that do not change the amount of work: jsonb values (properties, click ids) enter
-- hash_diff as PostgreSQL's jsonb text, where the native loader uses compact JSON text, so the
-- two pipelines' hash_diff bytes differ for those satellites; user agents are classified by a
-- hand-written rule list rather than uap-core, so rare agents may be named differently.
--
-- Settings are the extension's (onevault_tracking.*), read with their documented defaults when a
-- session has not loaded the extension's library yet.
--
-- Requires: the One Vault core (or tests/fixtures/onevault_core_replica.sql) with pgcrypto in schema public,
-- and onevault_tracking (its tables). Re-runnable.
-- =============================================================================================

CREATE SCHEMA IF NOT EXISTS bench_plpgsql;

-- One part of a business key: '\' -> '\\', '|' -> '\|', NULL -> '\N' (the project's recipe).
CREATE OR REPLACE FUNCTION bench_plpgsql.key_part(p text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT coalesce(replace(replace(p, '\', '\\'), '|', '\|'), '\N') $$;

-- A timestamp as the vault's hash_diff text: UTC, microseconds, 'Z'.
CREATE OR REPLACE FUNCTION bench_plpgsql.utc_text(p timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

-- %XX decoding (form decoding also reads '+' as a space). Malformed escapes stay as written;
-- bytes that are not UTF-8 leave the value undecoded.
CREATE OR REPLACE FUNCTION bench_plpgsql.url_decode(p text, p_form boolean)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    v text := CASE WHEN p_form THEN replace(p, '+', ' ') ELSE p END;
BEGIN
    IF v IS NULL OR strpos(v, '%') = 0 THEN
        RETURN v;
    END IF;
    BEGIN
        RETURN convert_from(
            (SELECT string_agg(CASE WHEN m[1] IS NOT NULL THEN decode(m[1], 'hex')
                                    ELSE convert_to(m[2], 'UTF8') END, ''::bytea ORDER BY n)
               FROM regexp_matches(v, '%([0-9A-Fa-f]{2})|([^%]+|%)', 'g') WITH ORDINALITY AS t (m, n)),
            'UTF8');
    EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
        RETURN v;
    END;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- User agents: browser, OS, device class, bot. Tokens are found with strpos and versions read by
-- one shared pattern, so a call compiles no regular expression of its own: PostgreSQL caches only
-- 32 compiled expressions per backend, and a pipeline cycling through more recompiles them all.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION bench_plpgsql.parse_user_agent(
    p_ua text,
    OUT browser_name text, OUT browser_version text, OUT os_name text, OUT os_version text,
    OUT device_type text, OUT is_bot boolean)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    c_version constant text := '^(\d+(?:[._]\d+){0,2})';
    v_token text;
BEGIN
    IF p_ua IS NULL OR btrim(p_ua) = '' THEN
        is_bot := true;
        device_type := 'bot';
        RETURN;
    END IF;
    is_bot := p_ua ~* '(bot\y|bot/|crawl|spider|slurp|^curl/|^wget/|python-requests|python-urllib|aiohttp|go-http-client|java/|okhttp|libwww|httpclient|axios/|node-fetch|headlesschrome|phantomjs|facebookexternalhit|lighthouse|pingdom|uptimerobot|scrapy|feedfetcher|mediapartners|adsbot|bingpreview|yandex(bot|images)|baiduspider|duckduckbot|applebot|petalbot|ahrefs|semrush|mj12bot|dotbot)';

    -- Browser: the most specific token first (Edge, Opera, Samsung and Chrome on iOS all claim
    -- to be Chrome or Safari too).
    v_token := CASE
        WHEN strpos(p_ua, 'Edg/') > 0 THEN 'Edg/'
        WHEN strpos(p_ua, 'EdgA/') > 0 THEN 'EdgA/'
        WHEN strpos(p_ua, 'EdgiOS/') > 0 THEN 'EdgiOS/'
        WHEN strpos(p_ua, 'OPR/') > 0 THEN 'OPR/'
        WHEN strpos(p_ua, 'SamsungBrowser/') > 0 THEN 'SamsungBrowser/'
        WHEN strpos(p_ua, 'FxiOS/') > 0 THEN 'FxiOS/'
        WHEN strpos(p_ua, 'Firefox/') > 0 THEN 'Firefox/'
        WHEN strpos(p_ua, 'CriOS/') > 0 THEN 'CriOS/'
        WHEN strpos(p_ua, 'HeadlessChrome/') > 0 THEN 'HeadlessChrome/'
        WHEN strpos(p_ua, 'Googlebot/') > 0 THEN 'Googlebot/'
        WHEN strpos(p_ua, 'bingbot/') > 0 THEN 'bingbot/'
        WHEN strpos(p_ua, 'Chrome/') > 0 THEN 'Chrome/'
        WHEN strpos(p_ua, 'Safari/') > 0 AND strpos(p_ua, 'Version/') > 0 THEN 'Version/'
        WHEN strpos(p_ua, 'MSIE ') > 0 THEN 'MSIE '
        WHEN strpos(p_ua, 'Trident/') > 0 AND strpos(p_ua, 'rv:') > 0 THEN 'rv:'
        WHEN p_ua ILIKE 'curl/%' THEN left(p_ua, 5)
        WHEN p_ua ILIKE 'wget/%' THEN left(p_ua, 5)
    END;
    browser_name := CASE v_token
        WHEN 'Edg/' THEN 'Edge' WHEN 'EdgA/' THEN 'Edge Mobile' WHEN 'EdgiOS/' THEN 'Edge Mobile'
        WHEN 'OPR/' THEN 'Opera' WHEN 'SamsungBrowser/' THEN 'Samsung Internet'
        WHEN 'FxiOS/' THEN 'Firefox iOS'
        WHEN 'Firefox/' THEN CASE WHEN strpos(p_ua, 'Mobile') > 0 OR strpos(p_ua, 'Tablet') > 0
                                  THEN 'Firefox Mobile' ELSE 'Firefox' END
        WHEN 'CriOS/' THEN 'Chrome Mobile iOS' WHEN 'HeadlessChrome/' THEN 'HeadlessChrome'
        WHEN 'Googlebot/' THEN 'Googlebot' WHEN 'bingbot/' THEN 'bingbot'
        WHEN 'Chrome/' THEN CASE WHEN strpos(p_ua, 'Mobile') > 0 THEN 'Chrome Mobile' ELSE 'Chrome' END
        WHEN 'Version/' THEN CASE WHEN strpos(p_ua, 'Mobile') > 0 THEN 'Mobile Safari' ELSE 'Safari' END
        WHEN 'MSIE ' THEN 'IE' WHEN 'rv:' THEN 'IE'
        ELSE CASE WHEN lower(v_token) = 'curl/' THEN 'curl' WHEN lower(v_token) = 'wget/' THEN 'Wget'
                  WHEN strpos(p_ua, 'AppleWebKit') > 0 AND (strpos(p_ua, 'iPhone') > 0 OR strpos(p_ua, 'iPad') > 0)
                  THEN 'Mobile Safari UI/WKWebView' END
    END;
    IF v_token IS NOT NULL THEN
        browser_version := substring(substr(p_ua, strpos(p_ua, v_token) + length(v_token)) FROM c_version);
    END IF;

    -- Operating system.
    v_token := CASE
        WHEN strpos(p_ua, 'iPad') > 0 THEN 'CPU OS '
        WHEN strpos(p_ua, 'iPhone') > 0 OR strpos(p_ua, 'iPod') > 0 THEN 'iPhone OS '
        WHEN strpos(p_ua, 'Android ') > 0 THEN 'Android '
        WHEN strpos(p_ua, 'Windows Phone ') > 0 THEN 'Windows Phone '
        WHEN strpos(p_ua, 'Windows NT ') > 0 THEN 'Windows NT '
        WHEN strpos(p_ua, 'Mac OS X ') > 0 THEN 'Mac OS X '
    END;
    IF v_token IS NOT NULL AND strpos(p_ua, v_token) > 0 THEN
        os_version := translate(substring(substr(p_ua, strpos(p_ua, v_token) + length(v_token)) FROM c_version), '_', '.');
    END IF;
    os_name := CASE v_token
        WHEN 'CPU OS ' THEN CASE WHEN split_part(os_version, '.', 1)::int >= 13 THEN 'iPadOS' ELSE 'iOS' END
        WHEN 'iPhone OS ' THEN 'iOS' WHEN 'Android ' THEN 'Android' WHEN 'Windows Phone ' THEN 'Windows Phone'
        WHEN 'Windows NT ' THEN 'Windows' WHEN 'Mac OS X ' THEN 'macOS'
        ELSE CASE WHEN strpos(p_ua, 'CrOS') > 0 THEN 'Chrome OS' WHEN strpos(p_ua, 'Ubuntu') > 0 THEN 'Ubuntu'
                  WHEN strpos(p_ua, 'Linux') > 0 THEN 'Linux' WHEN strpos(p_ua, 'FreeBSD') > 0 THEN 'FreeBSD' END
    END;
    IF v_token = 'Windows NT ' THEN
        os_version := CASE os_version WHEN '10.0' THEN '10' WHEN '6.3' THEN '8.1' WHEN '6.2' THEN '8'
                                      WHEN '6.1' THEN '7' WHEN '6.0' THEN 'Vista' WHEN '5.1' THEN 'XP' END;
    END IF;

    -- Device class: the first rule that applies.
    device_type := CASE
        WHEN is_bot THEN 'bot'
        WHEN p_ua ~* 'smart-?tv|googletv|appletv|hbbtv|crkey|aft[a-z]|playstation|xbox|nintendo|oculus' THEN 'other'
        WHEN strpos(p_ua, 'iPad') > 0 OR strpos(p_ua, 'Kindle') > 0 OR strpos(p_ua, 'Silk/') > 0
             OR (strpos(p_ua, 'Tablet') > 0 AND strpos(p_ua, 'Tablet PC') = 0)
             OR (strpos(p_ua, 'Android') > 0 AND strpos(p_ua, 'Mobi') = 0) THEN 'tablet'
        WHEN strpos(p_ua, 'iPhone') > 0 OR strpos(p_ua, 'iPod') > 0 OR strpos(p_ua, 'Windows Phone') > 0
             OR strpos(p_ua, 'Opera Mini') > 0 OR strpos(p_ua, 'Mobi') > 0 THEN 'mobile'
        WHEN strpos(p_ua, 'Windows NT') > 0 OR strpos(p_ua, 'Macintosh') > 0 OR strpos(p_ua, 'X11') > 0
             OR strpos(p_ua, 'CrOS') > 0 OR strpos(p_ua, 'Linux') > 0 THEN 'desktop'
        ELSE 'other'
    END;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Page URL: host, normalised path, query without tracking parameters, campaign.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION bench_plpgsql.parse_page_url(
    p_url text,
    OUT host text, OUT path text, OUT query text,
    OUT utm_source text, OUT utm_medium text, OUT utm_campaign text, OUT utm_term text,
    OUT utm_content text, OUT click_ids jsonb)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    c_click_ids constant text[] := ARRAY['gclid', 'gbraid', 'wbraid', 'dclid', 'msclkid', 'fbclid', 'ttclid',
                                         'twclid', 'li_fat_id', 'yclid', 'epik', 'rdt_cid', 'sccid'];
    m text[];
    v_piece text;
    v_name text;
    v_value text;
    v_kept text[] := '{}';
    v_segments text[];
    v_out text[];
    v_segment text;
BEGIN
    click_ids := '{}';
    m := regexp_match(p_url, '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#\\]*@)?([^:/?#\\]*)(?::[0-9]*)?([^?#]*)(?:\?([^#]*))?');
    IF m IS NULL THEN
        RETURN;
    END IF;
    host := rtrim(lower(m[1]), '.');

    -- Path: '\' read as '/', dot segments resolved, percent-decoded, no trailing slashes.
    path := CASE WHEN m[2] = '' THEN '/' ELSE m[2] END;
    IF strpos(path, '\') > 0 THEN
        path := replace(path, '\', '/');
    END IF;
    IF strpos(path, '/.') > 0 THEN
        v_segments := string_to_array(substr(path, 2), '/');
        v_out := '{}';
        FOREACH v_segment IN ARRAY v_segments LOOP
            IF v_segment = '..' THEN
                v_out := v_out[1:greatest(cardinality(v_out) - 1, 0)];
            ELSIF v_segment <> '.' THEN
                v_out := v_out || v_segment;
            END IF;
        END LOOP;
        path := '/' || array_to_string(v_out, '/');
    END IF;
    path := bench_plpgsql.url_decode(path, false);
    IF path ~ '[\u0001-\u001f\u007f-\u009f]' THEN
        path := regexp_replace(path, '[\u0001-\u001f\u007f-\u009f]', '', 'g');
    END IF;
    path := rtrim(path, '/');
    IF path = '' THEN
        path := '/';
    END IF;

    -- Query: campaign parameters and click ids are taken out, other tracking parameters
    -- dropped, the rest kept in order and as written.
    IF m[3] IS NOT NULL AND m[3] <> '' THEN
        FOREACH v_piece IN ARRAY string_to_array(m[3], '&') LOOP
            CONTINUE WHEN v_piece = '';
            v_name := lower(btrim(bench_plpgsql.url_decode(split_part(v_piece, '=', 1), true)));
            IF v_name LIKE 'utm\_%' OR v_name = ANY (c_click_ids) THEN
                v_value := CASE WHEN strpos(v_piece, '=') > 0
                                THEN bench_plpgsql.url_decode(substr(v_piece, strpos(v_piece, '=') + 1), true) END;
                IF v_value ~ '[\u0001-\u001f\u007f-\u009f]' THEN
                    v_value := regexp_replace(v_value, '[\u0001-\u001f\u007f-\u009f]', ' ', 'g');
                END IF;
                v_value := nullif(left(btrim(v_value), 500), '');
                CASE v_name
                    WHEN 'utm_source' THEN utm_source := coalesce(utm_source, v_value);
                    WHEN 'utm_medium' THEN utm_medium := coalesce(utm_medium, v_value);
                    WHEN 'utm_campaign' THEN utm_campaign := coalesce(utm_campaign, v_value);
                    WHEN 'utm_term' THEN utm_term := coalesce(utm_term, v_value);
                    WHEN 'utm_content' THEN utm_content := coalesce(utm_content, v_value);
                    ELSE
                        IF v_name = ANY (c_click_ids) AND v_value IS NOT NULL AND NOT click_ids ? v_name THEN
                            click_ids := click_ids || jsonb_build_object(v_name, v_value);
                        END IF;
                END CASE;
            ELSIF v_name NOT IN ('_gl', 'mc_eid', 'igshid') THEN
                v_kept := v_kept || v_piece;
            END IF;
        END LOOP;
        query := nullif(array_to_string(v_kept, '&'), '');
    END IF;
END
$$;

-- The referrer's host (lower case, no 'www.'; http and https only), or an android-app://
-- referrer's package name.
CREATE OR REPLACE FUNCTION bench_plpgsql.referrer_host(p_referrer text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    v_host text;
BEGIN
    IF p_referrer ILIKE 'android-app://%' THEN
        RETURN lower(substring(p_referrer FROM '^.{14}([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)(?:[/?#]|$)'));
    END IF;
    v_host := rtrim(lower(substring(p_referrer FROM '^[Hh][Tt][Tt][Pp][Ss]?://(?:[^@/?#]*@)?([^:/?#]+)')), '.');
    IF left(v_host, 4) = 'www.' AND length(v_host) > 4 THEN
        v_host := substr(v_host, 5);
    END IF;
    RETURN nullif(v_host, '');
END
$$;

-- The acquisition channel, first matching rule wins (campaign, webmail, same site, search
-- engines, social networks, any referrer, campaign without a known medium, direct).
CREATE OR REPLACE FUNCTION bench_plpgsql.channel(
    p_referrer_host text, p_page_host text, p_utm_medium text, p_utm_source text,
    p_click_ids jsonb, p_has_utm boolean)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    v_medium text := translate(lower(btrim(p_utm_medium)), '_ ', '--');
    v_page text := rtrim(lower(p_page_host), '.');
BEGIN
    IF left(v_page, 4) = 'www.' AND length(v_page) > 4 THEN
        v_page := substr(v_page, 5);
    END IF;
    IF (p_click_ids - 'fbclid') <> '{}'::jsonb
       OR v_medium LIKE 'paid%'
       OR v_medium IN ('cpc', 'ppc', 'cpm', 'cpv', 'cpa', 'display', 'banner', 'retargeting', 'remarketing',
                       'affiliate', 'affiliates') THEN
        RETURN 'paid';
    END IF;
    IF v_medium IN ('email', 'e-mail', 'mail', 'newsletter', 'newsletters')
       OR strpos(lower(p_utm_source), 'newsletter') > 0 OR strpos(lower(p_utm_source), 'mail') > 0
       OR p_referrer_host ~ '^webmail\.|^(mail\.google\.com|inbox\.google\.com|outlook\.live\.com|outlook\.office\.com|outlook\.office365\.com|mail\.aol\.com|mail\.proton\.me|mail\.protonmail\.com|e\.mail\.ru|app\.tuta\.com|mail\.tutanota\.com|email\.seznam\.cz|mail\.naver\.com|mail\.qq\.com|mail\.163\.com|com\.google\.android\.gm|com\.microsoft\.office\.outlook|com\.yahoo\.mobile\.client\.android\.mail|ch\.protonmail\.android|com\.samsung\.android\.email\.provider)$|(^|\.)(mail\.yahoo|gmx)\.[a-z]{2,6}(\.[a-z]{2})?$|^(mail\.zoho|mail\.yandex)\.[a-z]{2,6}(\.[a-z]{2})?$|(^|\.)(fastmail\.com|mail\.com)$' THEN
        RETURN 'email';
    END IF;
    IF v_medium IN ('social', 'social-network', 'social-media', 'socialmedia', 'socialnetwork', 'sm',
                    'organic-social', 'social-organic') THEN
        RETURN 'social';
    END IF;
    IF v_medium = 'organic' THEN
        RETURN 'search';
    END IF;
    IF p_referrer_host IS NOT NULL THEN
        IF p_referrer_host = v_page THEN
            RETURN 'internal';
        END IF;
        IF p_referrer_host ~ '^(google|yahoo|yandex)\.([a-z]{2,6}|(co|com|net|org|ne|or|ac|go|gob)\.[a-z]{2})$|(^|\.)search\.yahoo\.([a-z]{2,6}|(co|com|net|org|ne|or|ac|go|gob)\.[a-z]{2})$|(^|\.)(bing\.com|duckduckgo\.com|baidu\.com|ecosia\.org|startpage\.com|qwant\.com|search\.naver\.com|so\.com|sogou\.com|ask\.com|mojeek\.com)$|^(ya\.ru|search\.brave\.com|naver\.com|seznam\.cz|search\.seznam\.cz|search\.aol\.com|kagi\.com|search\.daum\.net|coccoc\.com|petalsearch\.com|com\.google\.android\.googlequicksearchbox)$' THEN
            RETURN 'search';
        END IF;
        IF p_referrer_host ~ '(^|\.)(facebook\.com|messenger\.com|twitter\.com|linkedin\.com|instagram\.com|reddit\.com|youtube\.com|tiktok\.com|threads\.net|threads\.com|vk\.com|weibo\.com|quora\.com|discord\.com|slack\.com|whatsapp\.com|snapchat\.com|tumblr\.com|xing\.com|douyin\.com)$|(^|\.)pinterest\.([a-z]{2,6}|(co|com|net|org|ne|or|ac|go|gob)\.[a-z]{2})$|^(fb\.me|t\.co|x\.com|lnkd\.in|redd\.it|pin\.it|youtu\.be|news\.ycombinator\.com|mastodon\.social|mastodon\.online|mstdn\.social|bsky\.app|weibo\.cn|discordapp\.com|slack-redir\.net|t\.me|web\.telegram\.org|wa\.me|lobste\.rs|line\.me|com\.facebook\.katana|com\.facebook\.orca|com\.twitter\.android|com\.linkedin\.android|com\.instagram\.android|com\.reddit\.frontpage|com\.pinterest|com\.google\.android\.youtube|com\.zhiliaoapp\.musically|org\.telegram\.messenger|com\.whatsapp|com\.slack|com\.discord)$' THEN
            RETURN 'social';
        END IF;
        RETURN 'referral';
    END IF;
    IF p_click_ids ? 'fbclid' THEN
        RETURN 'social';
    END IF;
    IF p_has_utm THEN
        RETURN 'referral';
    END IF;
    RETURN 'direct';
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Validation: every rule of the payload vocabulary, all problems at once.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION bench_plpgsql.validate_event(
    p jsonb, p_received_at timestamptz,
    OUT errors jsonb, OUT warnings jsonb, OUT quality_score numeric,
    OUT event_type text, OUT event_name text, OUT page_url text, OUT page_path text,
    OUT page_title text, OUT referrer text, OUT session_id text, OUT event_id text,
    OUT event_time timestamptz, OUT properties jsonb, OUT screen_width integer,
    OUT language text, OUT timezone text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    c_known constant text[] := ARRAY['event_type', 'event_name', 'page_url', 'page_path', 'page_title', 'referrer',
                                     'session_id', 'event_id', 'timestamp', 'properties', 'screen_width',
                                     'language', 'timezone'];
    c_controls constant text := '[\u0001-\u001f\u007f-\u009f]';
    c_client_id constant text := '^[A-Za-z0-9._:-]{1,128}$';
    v_key text;
    v_value jsonb;
    v_text text;
    v_type text;
    v_host text;
    v_number numeric;
    v_ok boolean;
    v_match text[];
BEGIN
    errors := '[]';
    warnings := '[]';
    properties := '{}';
    IF jsonb_typeof(p) IS DISTINCT FROM 'object' THEN
        errors := jsonb_build_array(jsonb_build_object('field', '', 'code', 'NOT_AN_OBJECT',
                      'message', format('event payload must be a JSON object, got %s', coalesce(jsonb_typeof(p), 'null'))));
        quality_score := 0.4;
        RETURN;
    END IF;

    FOR v_key IN SELECT k FROM jsonb_object_keys(p) AS k WHERE k <> ALL (c_known) LOOP
        errors := errors || jsonb_build_object('field', left(v_key, 100), 'code', 'UNKNOWN_FIELD',
                      'message', format('unknown field %s: custom data belongs in "properties"', to_jsonb(left(v_key, 100))));
    END LOOP;

    -- event_type
    v_value := nullif(p -> 'event_type', 'null');
    IF v_value IS NULL THEN
        errors := errors || jsonb_build_object('field', 'event_type', 'code', 'EVENT_TYPE_MISSING',
                      'message', 'event_type is required: "page_view" or "custom"');
    ELSIF jsonb_typeof(v_value) <> 'string' THEN
        errors := errors || jsonb_build_object('field', 'event_type', 'code', 'WRONG_TYPE',
                      'message', format('event_type must be a string, got %s', jsonb_typeof(v_value)));
    ELSIF v_value #>> '{}' IN ('page_view', 'custom') THEN
        event_type := v_value #>> '{}';
    ELSE
        errors := errors || jsonb_build_object('field', 'event_type', 'code', 'EVENT_TYPE_UNKNOWN',
                      'message', format('event_type %s is not "page_view" or "custom"', left(v_value::text, 102)));
    END IF;

    -- event_name
    v_value := nullif(p -> 'event_name', 'null');
    IF event_type = 'page_view' THEN
        IF v_value IS NOT NULL THEN
            warnings := warnings || jsonb_build_object('field', 'event_name', 'code', 'EVENT_NAME_IGNORED',
                          'message', 'event_name is ignored on a page_view; use event_type "custom" for named events');
        END IF;
    ELSIF v_value IS NULL THEN
        IF event_type = 'custom' THEN
            errors := errors || jsonb_build_object('field', 'event_name', 'code', 'EVENT_NAME_MISSING',
                          'message', 'a custom event needs an event_name');
        END IF;
    ELSIF jsonb_typeof(v_value) <> 'string' THEN
        errors := errors || jsonb_build_object('field', 'event_name', 'code', 'WRONG_TYPE',
                      'message', format('event_name must be a string, got %s', jsonb_typeof(v_value)));
    ELSE
        v_text := v_value #>> '{}';
        IF v_text ~ c_controls THEN
            errors := errors || jsonb_build_object('field', 'event_name', 'code', 'CONTROL_CHARACTERS',
                          'message', 'event_name contains control characters');
        ELSIF btrim(v_text) = '' OR char_length(v_text) > 120 THEN
            errors := errors || jsonb_build_object('field', 'event_name', 'code', 'EVENT_NAME_INVALID',
                          'message', 'event_name must be 1 to 120 characters and not blank');
        ELSE
            event_name := v_text;
        END IF;
    END IF;

    -- page_url / page_path
    IF nullif(p -> 'page_url', 'null') IS NULL AND nullif(p -> 'page_path', 'null') IS NULL THEN
        errors := errors || jsonb_build_object('field', 'page_url', 'code', 'PAGE_MISSING',
                      'message', 'the page is required: send page_url (absolute URL) or page_path');
    ELSIF nullif(p -> 'page_url', 'null') IS NOT NULL THEN
        IF nullif(p -> 'page_path', 'null') IS NOT NULL THEN
            warnings := warnings || jsonb_build_object('field', 'page_path', 'code', 'PAGE_PATH_IGNORED',
                          'message', 'page_path is ignored because page_url is present');
        END IF;
        v_value := p -> 'page_url';
        IF jsonb_typeof(v_value) <> 'string' THEN
            errors := errors || jsonb_build_object('field', 'page_url', 'code', 'WRONG_TYPE',
                          'message', format('page_url must be a string, got %s', jsonb_typeof(v_value)));
        ELSE
            v_text := v_value #>> '{}';
            v_ok := true;
            IF octet_length(v_text) > 2000 THEN
                v_ok := false;
                errors := errors || jsonb_build_object('field', 'page_url', 'code', 'PAGE_URL_TOO_LONG',
                              'message', format('page_url is %s bytes, over the limit of 2000', octet_length(v_text)));
            END IF;
            IF v_text ~ c_controls THEN
                v_ok := false;
                errors := errors || jsonb_build_object('field', 'page_url', 'code', 'CONTROL_CHARACTERS',
                              'message', 'page_url contains control characters');
            END IF;
            IF v_ok THEN
                v_match := regexp_match(v_text, '^([A-Za-z][A-Za-z0-9+.-]*):(//(?:[^@/?#]*@)?([^:/?#]*)(?::[0-9]{0,5})?(?:[/?#]|$))?');
                v_type := lower(v_match[1]);
                v_host := v_match[3];
                IF v_type IS NULL THEN
                    errors := errors || jsonb_build_object('field', 'page_url', 'code', 'PAGE_URL_INVALID',
                                  'message', format('page_url %s is not an absolute URL', to_jsonb(left(v_text, 100))));
                ELSIF v_type NOT IN ('http', 'https') THEN
                    errors := errors || jsonb_build_object('field', 'page_url', 'code', 'PAGE_URL_SCHEME',
                                  'message', format('page_url must be http or https, got scheme %s', to_jsonb(v_type)));
                ELSIF v_host IS NULL OR v_host = '' THEN
                    errors := errors || jsonb_build_object('field', 'page_url', 'code', 'PAGE_URL_INVALID',
                                  'message', format('page_url %s must have the form scheme://host/...', to_jsonb(left(v_text, 100))));
                ELSIF translate(v_host, '0123456789.', '') = '' OR v_host LIKE '[%' THEN
                    errors := errors || jsonb_build_object('field', 'page_url', 'code', 'DOMAIN_INVALID',
                                  'message', 'page_url host is an IP address; pages are tracked per domain name');
                ELSIF lower(rtrim(v_host, '.')) !~ '^(localhost|([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63})$' THEN
                    errors := errors || jsonb_build_object('field', 'page_url', 'code', 'DOMAIN_INVALID',
                                  'message', format('page_url host %s is not a valid domain name', to_jsonb(left(v_host, 100))));
                ELSE
                    page_url := v_text;
                END IF;
            END IF;
        END IF;
    ELSE
        v_value := p -> 'page_path';
        IF jsonb_typeof(v_value) <> 'string' THEN
            errors := errors || jsonb_build_object('field', 'page_path', 'code', 'WRONG_TYPE',
                          'message', format('page_path must be a string, got %s', jsonb_typeof(v_value)));
        ELSE
            v_text := v_value #>> '{}';
            v_ok := true;
            IF octet_length(v_text) > 2000 THEN
                v_ok := false;
                errors := errors || jsonb_build_object('field', 'page_path', 'code', 'PAGE_PATH_TOO_LONG',
                              'message', format('page_path is %s bytes, over the limit of 2000', octet_length(v_text)));
            END IF;
            IF v_text ~ c_controls THEN
                v_ok := false;
                errors := errors || jsonb_build_object('field', 'page_path', 'code', 'CONTROL_CHARACTERS',
                              'message', 'page_path contains control characters');
            END IF;
            IF left(v_text, 1) <> '/' OR left(v_text, 2) IN ('//', '/\') THEN
                v_ok := false;
                errors := errors || jsonb_build_object('field', 'page_path', 'code', 'PAGE_PATH_INVALID',
                              'message', format('page_path must start with a single ''/'', got %s', to_jsonb(left(v_text, 100))));
            END IF;
            IF v_ok THEN
                page_path := v_text;
            END IF;
        END IF;
    END IF;

    -- page_title
    v_value := nullif(p -> 'page_title', 'null');
    IF v_value IS NOT NULL AND jsonb_typeof(v_value) <> 'string' THEN
        errors := errors || jsonb_build_object('field', 'page_title', 'code', 'WRONG_TYPE',
                      'message', format('page_title must be a string, got %s', jsonb_typeof(v_value)));
    ELSE
        v_text := coalesce(v_value #>> '{}', '');
        v_ok := true;
        IF v_text ~ c_controls THEN
            v_ok := false;
            errors := errors || jsonb_build_object('field', 'page_title', 'code', 'CONTROL_CHARACTERS',
                          'message', 'page_title contains control characters');
        END IF;
        IF char_length(v_text) > 500 THEN
            v_ok := false;
            errors := errors || jsonb_build_object('field', 'page_title', 'code', 'TITLE_TOO_LONG',
                          'message', 'page_title is over 500 characters');
        END IF;
        IF v_ok THEN
            IF btrim(v_text) <> '' THEN
                page_title := v_text;
            ELSIF event_type = 'page_view' THEN
                warnings := warnings || jsonb_build_object('field', 'page_title', 'code', 'TITLE_MISSING',
                              'message', 'page_view has no page_title; reports will show the URL instead');
            END IF;
        END IF;
    END IF;

    -- referrer (any scheme; empty = direct)
    v_value := nullif(p -> 'referrer', 'null');
    IF v_value IS NOT NULL AND jsonb_typeof(v_value) <> 'string' THEN
        errors := errors || jsonb_build_object('field', 'referrer', 'code', 'WRONG_TYPE',
                      'message', format('referrer must be a string, got %s', jsonb_typeof(v_value)));
    ELSIF v_value IS NOT NULL AND v_value #>> '{}' <> '' THEN
        v_text := v_value #>> '{}';
        v_ok := true;
        IF octet_length(v_text) > 2000 THEN
            v_ok := false;
            errors := errors || jsonb_build_object('field', 'referrer', 'code', 'REFERRER_TOO_LONG',
                          'message', format('referrer is %s bytes, over the limit of 2000', octet_length(v_text)));
        END IF;
        IF v_text ~ c_controls THEN
            v_ok := false;
            errors := errors || jsonb_build_object('field', 'referrer', 'code', 'CONTROL_CHARACTERS',
                          'message', 'referrer contains control characters');
        END IF;
        IF v_ok THEN
            IF v_text ~ '^[A-Za-z][A-Za-z0-9+.-]*:\S' THEN
                referrer := v_text;
            ELSE
                errors := errors || jsonb_build_object('field', 'referrer', 'code', 'REFERRER_INVALID',
                              'message', format('referrer %s is not an absolute URL', to_jsonb(left(v_text, 100))));
            END IF;
        END IF;
    END IF;

    -- session_id, event_id
    v_value := nullif(p -> 'session_id', 'null');
    IF v_value IS NOT NULL THEN
        IF jsonb_typeof(v_value) <> 'string' THEN
            errors := errors || jsonb_build_object('field', 'session_id', 'code', 'WRONG_TYPE',
                          'message', format('session_id must be a string, got %s', jsonb_typeof(v_value)));
        ELSIF v_value #>> '{}' ~ c_client_id THEN
            session_id := v_value #>> '{}';
        ELSE
            errors := errors || jsonb_build_object('field', 'session_id', 'code', 'SESSION_ID_INVALID',
                          'message', format('session_id must be 1 to 128 characters of A-Z a-z 0-9 . _ : -, got %s', left(v_value::text, 102)));
        END IF;
    END IF;
    v_value := nullif(p -> 'event_id', 'null');
    IF v_value IS NOT NULL THEN
        IF jsonb_typeof(v_value) <> 'string' THEN
            errors := errors || jsonb_build_object('field', 'event_id', 'code', 'WRONG_TYPE',
                          'message', format('event_id must be a string, got %s', jsonb_typeof(v_value)));
        ELSIF v_value #>> '{}' ~ c_client_id THEN
            event_id := v_value #>> '{}';
        ELSE
            errors := errors || jsonb_build_object('field', 'event_id', 'code', 'EVENT_ID_INVALID',
                          'message', format('event_id must be 1 to 128 characters of A-Z a-z 0-9 . _ : -, got %s', left(v_value::text, 102)));
        END IF;
    END IF;

    -- timestamp: ISO-8601 / RFC 3339 with an offset, 7 days back to 5 minutes ahead
    v_value := nullif(p -> 'timestamp', 'null');
    IF v_value IS NULL THEN
        warnings := warnings || jsonb_build_object('field', 'timestamp', 'code', 'TIMESTAMP_MISSING',
                      'message', 'no timestamp; the server''s receipt time is used');
    ELSIF jsonb_typeof(v_value) <> 'string'
          OR v_value #>> '{}' !~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):?[0-5]\d)$' THEN
        errors := errors || jsonb_build_object('field', 'timestamp', 'code', 'TIMESTAMP_INVALID',
                      'message', 'timestamp is not ISO-8601 with an offset, such as "2026-11-25T20:17:02.123Z"');
    ELSE
        event_time := (v_value #>> '{}')::timestamptz;
        IF event_time > p_received_at + interval '5 minutes' OR event_time < p_received_at - interval '7 days' THEN
            errors := errors || jsonb_build_object('field', 'timestamp', 'code', 'TIMESTAMP_OUT_OF_WINDOW',
                          'message', 'timestamp is outside the window of 7 days before to 5 minutes after receipt');
            event_time := NULL;
        END IF;
    END IF;

    -- properties: at most 30 keys of 1-64 characters, scalar values, strings up to 500 characters
    v_value := nullif(p -> 'properties', 'null');
    IF v_value IS NOT NULL THEN
        IF jsonb_typeof(v_value) <> 'object' THEN
            errors := errors || jsonb_build_object('field', 'properties', 'code', 'PROPERTIES_NOT_OBJECT',
                          'message', format('properties must be an object of scalar values, got %s', jsonb_typeof(v_value)));
        ELSE
            IF (SELECT count(*) FROM jsonb_object_keys(v_value)) > 30 THEN
                errors := errors || jsonb_build_object('field', 'properties', 'code', 'PROPERTIES_TOO_MANY',
                              'message', 'properties has more than 30 keys');
            END IF;
            FOR v_key, v_type, v_text IN
                SELECT e.key, jsonb_typeof(e.value), e.value #>> '{}' FROM jsonb_each(v_value) AS e
            LOOP
                IF btrim(v_key) = '' OR char_length(v_key) > 64 OR v_key ~ c_controls THEN
                    errors := errors || jsonb_build_object('field', 'properties.' || left(v_key, 100), 'code', 'PROPERTY_KEY_INVALID',
                                  'message', 'property keys must be 1 to 64 characters, not blank, without control characters');
                ELSIF v_type IN ('object', 'array') THEN
                    errors := errors || jsonb_build_object('field', 'properties.' || v_key, 'code', 'PROPERTY_VALUE_NOT_SCALAR',
                                  'message', 'property values must be null, boolean, number or string');
                ELSIF v_type = 'string' AND char_length(v_text) > 500 THEN
                    errors := errors || jsonb_build_object('field', 'properties.' || v_key, 'code', 'PROPERTY_VALUE_TOO_LONG',
                                  'message', 'property string values must be at most 500 characters');
                ELSIF v_type = 'string' AND v_text ~ c_controls THEN
                    errors := errors || jsonb_build_object('field', 'properties.' || v_key, 'code', 'CONTROL_CHARACTERS',
                                  'message', 'property value contains control characters');
                ELSIF (SELECT count(*) FROM jsonb_object_keys(properties)) < 30 THEN
                    properties := properties || jsonb_build_object(v_key, v_value -> v_key);
                END IF;
            END LOOP;
        END IF;
    END IF;

    -- screen_width, language, timezone
    v_value := nullif(p -> 'screen_width', 'null');
    IF v_value IS NOT NULL THEN
        IF jsonb_typeof(v_value) <> 'number' THEN
            errors := errors || jsonb_build_object('field', 'screen_width', 'code', 'WRONG_TYPE',
                          'message', format('screen_width must be a number, got %s', jsonb_typeof(v_value)));
        ELSE
            v_number := v_value::numeric;
            IF v_number <> trunc(v_number) OR v_number < 1 OR v_number > 20000 THEN
                errors := errors || jsonb_build_object('field', 'screen_width', 'code', 'SCREEN_WIDTH_INVALID',
                              'message', 'screen_width must be a whole number from 1 to 20000');
            ELSE
                screen_width := v_number::integer;
            END IF;
        END IF;
    END IF;
    v_value := nullif(p -> 'language', 'null');
    IF v_value IS NOT NULL THEN
        IF jsonb_typeof(v_value) <> 'string' THEN
            errors := errors || jsonb_build_object('field', 'language', 'code', 'WRONG_TYPE',
                          'message', format('language must be a string, got %s', jsonb_typeof(v_value)));
        ELSIF octet_length(v_value #>> '{}') <= 35 AND v_value #>> '{}' ~ '^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$' THEN
            language := v_value #>> '{}';
        ELSE
            errors := errors || jsonb_build_object('field', 'language', 'code', 'LANGUAGE_INVALID',
                          'message', 'language must be a BCP 47 tag such as "en-US"');
        END IF;
    END IF;
    v_value := nullif(p -> 'timezone', 'null');
    IF v_value IS NOT NULL THEN
        IF jsonb_typeof(v_value) <> 'string' THEN
            errors := errors || jsonb_build_object('field', 'timezone', 'code', 'WRONG_TYPE',
                          'message', format('timezone must be a string, got %s', jsonb_typeof(v_value)));
        ELSIF v_value #>> '{}' ~ '^[A-Za-z0-9/_+-]{1,64}$' THEN
            timezone := v_value #>> '{}';
        ELSE
            errors := errors || jsonb_build_object('field', 'timezone', 'code', 'TIMEZONE_INVALID',
                          'message', 'timezone must be an IANA name such as "Europe/Berlin"');
        END IF;
    END IF;

    quality_score := CASE WHEN errors = '[]'::jsonb
                          THEN 1.0 - 0.1 * least(jsonb_array_length(warnings), 5)
                          ELSE 0.5 - 0.1 * least(jsonb_array_length(errors), 5) END;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Audit: one TRACKING_ATTEMPT record through util.log_audit_event, checked. The platform's
-- util.hash_binary calls DIGEST unqualified, so this path (and the tracking call's, which hashes
-- keys with it) must reach pgcrypto, which the platform keeps in public.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION bench_plpgsql.log_attempt(
    p_tenant_hk bytea, p_outcome text, p_error_code text, p_key_prefix text, p_client_ip inet,
    p_extra jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_network text;
    v_details jsonb;
    v_answer jsonb;
BEGIN
    IF p_client_ip IS NOT NULL THEN
        v_network := host(CASE WHEN family(p_client_ip) = 4 THEN network(set_masklen(p_client_ip, 24))
                               WHEN host(p_client_ip) LIKE '::ffff:%.%' THEN network(set_masklen(p_client_ip, 120))
                               ELSE network(set_masklen(p_client_ip, 48)) END);
    END IF;
    v_details := p_extra || jsonb_build_object('outcome', p_outcome, 'error_code', p_error_code,
                                              'api_key_prefix', p_key_prefix, 'client_network', v_network);
    IF p_tenant_hk IS NOT NULL THEN
        v_details := v_details || jsonb_build_object('tenant_id', encode(p_tenant_hk, 'hex'));
    ELSE
        v_details := v_details || jsonb_build_object('attribution', 'none: no tenant could be identified');
    END IF;
    v_answer := util.log_audit_event('TRACKING_ATTEMPT', 'api.tracking',
                                     'attempt:' || gen_random_uuid()::text,
                                     left('onevault_tracking:' || session_user, 255), v_details);
    IF NOT coalesce((v_answer ->> 'success')::boolean, false) THEN
        RAISE EXCEPTION 'audit record could not be written: % %', v_answer ->> 'error_code', v_answer ->> 'error_message'
            USING ERRCODE = 'external_routine_exception';
    END IF;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- The tracking call.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION bench_plpgsql.track_page_view(
    p_api_key text, p_site_domain text, p_page_path text, p_user_agent text, p_client_ip inet,
    p_referrer text DEFAULT NULL, p_page_title text DEFAULT NULL, p_session_id text DEFAULT NULL,
    p_event_id text DEFAULT NULL, p_event_timestamp timestamptz DEFAULT NULL,
    p_properties jsonb DEFAULT NULL,
    p_do_not_track boolean DEFAULT NULL, p_global_privacy_control boolean DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $fn$
DECLARE
    c_window constant integer := 60;
    v_key record;
    v_domain text;
    v_limit integer;
    v_ip text;
    v_tracking_hk bytea;
    v_count integer;
    v_window_end timestamptz;
    v_payload jsonb;
    v_record_source varchar;
    v_stored_ip inet;
    v_page_host text;
    v_today date;
    v_salt bytea;
    v_salt_previous bytea;
    v_message bytea;
    v_visitor bytea;
    v_visitor_previous bytea;
    v_raw_event_id bigint;
    v_received_at timestamptz;
    v_v record;
    v_ua record;
    v_url record;
    v_referrer_host text;
    v_channel text;
    v_valid boolean;
    v_event_time timestamptz;
    v_session_id text;
    v_session_source text;
    v_session_visitor bytea;
    v_staging_event_id bigint;
    v_tenant_hex text;
    v_site_bk text;
    v_site_hk bytea;
    v_page_hk bytea;
    v_session_hk bytea;
    v_event_hk bytea;
    v_title text;
    v_first record;
    v_diff bytea;
    v_current bytea;
    v_now timestamptz;
    v_rows integer;
    v_opt_out text;
    v_client_ip inet;
BEGIN
    -- 1. The key: known, active, not expired, may track, bound to a site serving the domain.
    v_domain := nullif(rtrim(lower(btrim(p_site_domain)), '.'), '');
    IF left(v_domain, 4) = 'www.' THEN
        v_domain := nullif(substr(v_domain, 5), '');
    END IF;
    IF p_api_key IS NULL OR p_api_key = '' OR char_length(p_api_key) > 200 THEN
        PERFORM bench_plpgsql.log_attempt(
            (SELECT CASE WHEN count(DISTINCT h.tenant_hk) = 1 THEN (array_agg(h.tenant_hk))[1] END
               FROM business.site_h AS h WHERE h.site_bk = v_domain),
            'rejected', 'INVALID_API_KEY', NULL, p_client_ip);
        RETURN jsonb_build_object('success', false, 'error_code', 'INVALID_API_KEY',
                                  'message', 'no valid API key was presented');
    END IF;
    SELECT h.tenant_hk, h.api_key_hk, d.key_prefix, d.scopes, d.rate_limit_per_minute,
           d.revoked_at IS NOT NULL AS revoked, coalesce(d.expires_at <= now(), false) AS expired,
           s.site_bk, coalesce(sd.allowed_domains, ARRAY[s.site_bk]) AS allowed_domains,
           coalesce(sd.is_active, true) AS active,
           (sd.settings ->> 'rate_limit_per_minute')::integer AS site_limit,
           sd.settings ->> 'privacy_signals' AS privacy_signals
      INTO v_key
      FROM business.api_key_details_s AS d
      JOIN business.api_key_h AS h USING (api_key_hk)
      JOIN business.site_api_key_l AS l ON l.api_key_hk = h.api_key_hk
      JOIN business.site_h AS s ON s.site_hk = l.site_hk
      LEFT JOIN business.site_details_s AS sd ON sd.site_hk = s.site_hk AND sd.load_end_date IS NULL
     WHERE d.key_hash = util.hash_binary(p_api_key) AND d.load_end_date IS NULL;
    IF NOT FOUND THEN
        PERFORM bench_plpgsql.log_attempt(
            (SELECT CASE WHEN count(DISTINCT h.tenant_hk) = 1 THEN (array_agg(h.tenant_hk))[1] END
               FROM business.site_h AS h WHERE h.site_bk = v_domain),
            'rejected', 'INVALID_API_KEY', NULL, p_client_ip);
        RETURN jsonb_build_object('success', false, 'error_code', 'INVALID_API_KEY',
                                  'message', 'the API key is not known');
    END IF;
    IF v_key.revoked OR v_key.expired OR NOT ('track' = ANY (v_key.scopes)) THEN
        PERFORM bench_plpgsql.log_attempt(v_key.tenant_hk, 'rejected',
            CASE WHEN v_key.revoked THEN 'API_KEY_REVOKED' WHEN v_key.expired THEN 'API_KEY_EXPIRED'
                 ELSE 'INVALID_API_KEY' END, v_key.key_prefix, p_client_ip);
        RETURN jsonb_build_object('success', false, 'key_prefix', v_key.key_prefix,
            'error_code', CASE WHEN v_key.revoked THEN 'API_KEY_REVOKED' WHEN v_key.expired THEN 'API_KEY_EXPIRED'
                               ELSE 'INVALID_API_KEY' END,
            'message', CASE WHEN v_key.revoked THEN 'the API key was revoked' WHEN v_key.expired THEN 'the API key has expired'
                            ELSE 'the API key may not track' END);
    END IF;
    IF NOT v_key.active OR v_domain IS NULL OR NOT (v_domain = ANY (v_key.allowed_domains)) THEN
        PERFORM bench_plpgsql.log_attempt(v_key.tenant_hk, 'rejected', 'DOMAIN_MISMATCH', v_key.key_prefix, p_client_ip);
        RETURN jsonb_build_object('success', false, 'error_code', 'DOMAIN_MISMATCH', 'key_prefix', v_key.key_prefix,
                                  'site_domain', v_domain, 'message', 'the API key is not valid for this site domain');
    END IF;

    -- 2. Rate limit: one counter row per tenant, IP and window, counted by one upsert.
    v_limit := coalesce(v_key.rate_limit_per_minute, v_key.site_limit,
                        coalesce(nullif(current_setting('onevault_tracking.rate_limit_per_minute', true), '')::integer, 120));
    v_ip := coalesce(host(p_client_ip), '0.0.0.0');
    v_tenant_hex := encode(v_key.tenant_hk, 'hex');
    v_tracking_hk := util.hash_binary(v_tenant_hex || '|ip|' || bench_plpgsql.key_part(v_ip));
    v_record_source := util.get_record_source();
    INSERT INTO auth.security_tracking_h (security_tracking_hk, security_tracking_bk, tenant_hk, record_source)
    VALUES (v_tracking_hk, 'ip:' || v_ip, v_key.tenant_hk, v_record_source)
    ON CONFLICT DO NOTHING;
    INSERT INTO auth.ip_tracking_s AS t
           (security_tracking_hk, load_date, hash_diff, ip_address, request_count,
            first_request_time, last_request_time, record_source)
    VALUES (v_tracking_hk, to_timestamp(floor(extract(epoch FROM clock_timestamp()) / c_window) * c_window),
            util.hash_binary(bench_plpgsql.key_part(v_ip) || '|' || c_window), v_ip::inet, 1,
            clock_timestamp(), clock_timestamp(), v_record_source)
    ON CONFLICT (security_tracking_hk, load_date) DO UPDATE
       SET request_count = t.request_count + 1,
           last_request_time = greatest(t.last_request_time, clock_timestamp()),
           is_blocked = t.request_count + 1 > v_limit,
           block_reason = CASE WHEN t.request_count + 1 > v_limit
                               THEN format('more than %s requests in %s seconds', v_limit, c_window) END,
           suspicious_activity_flag = t.suspicious_activity_flag OR t.request_count + 1 > 2 * v_limit,
           suspicious_activity_details = CASE WHEN t.request_count + 1 > 2 * v_limit
               THEN jsonb_build_object('requests', t.request_count + 1, 'limit', v_limit,
                                       'window_seconds', c_window, 'reason', 'over twice the rate limit')
               ELSE t.suspicious_activity_details END
    RETURNING t.request_count, t.load_date + make_interval(secs => c_window) INTO v_count, v_window_end;
    IF v_count = 1 THEN
        UPDATE auth.ip_tracking_s
           SET load_end_date = load_date + make_interval(secs => c_window)
         WHERE security_tracking_hk = v_tracking_hk AND load_end_date IS NULL
           AND load_date < v_window_end - make_interval(secs => c_window);
    END IF;
    IF v_count > v_limit THEN
        PERFORM bench_plpgsql.log_attempt(v_key.tenant_hk, 'rejected', 'RATE_LIMITED', v_key.key_prefix, p_client_ip);
        RETURN jsonb_build_object('success', false, 'error_code', 'RATE_LIMITED',
            'message', 'too many requests from this client; retry later',
            'retry_after', greatest(ceil(extract(epoch FROM v_window_end - clock_timestamp())), 1)::bigint,
            'rate_limit', jsonb_build_object('allowed', false, 'current_count', v_count, 'limit', v_limit, 'remaining', 0,
                                             'reset_at', to_char(v_window_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')));
    END IF;

    -- Do-Not-Track / Global Privacy Control, as the site's privacy_signals setting says: drop
    -- the event, or keep it without anything that identifies the visitor.
    v_opt_out := CASE WHEN p_global_privacy_control THEN 'GLOBAL_PRIVACY_CONTROL'
                      WHEN p_do_not_track THEN 'DO_NOT_TRACK' END;
    IF coalesce(v_key.privacy_signals, 'ignore') NOT IN ('anonymize', 'drop') THEN
        v_opt_out := NULL;
    END IF;
    IF v_opt_out IS NOT NULL AND v_key.privacy_signals = 'drop' THEN
        PERFORM bench_plpgsql.log_attempt(v_key.tenant_hk, 'dropped', v_opt_out, v_key.key_prefix, NULL);
        RETURN jsonb_build_object('success', true, 'dropped', true, 'reason', v_opt_out,
                                  'message', 'the browser asked not to be tracked; nothing was stored');
    END IF;
    v_client_ip := CASE WHEN v_opt_out IS NULL THEN p_client_ip END;

    -- 3. Raw: the payload as the vocabulary has it, the client IP as the setting allows, the
    --    visitor hashes while the full IP is in hand.
    IF octet_length(p_user_agent) > 2048 THEN
        RAISE EXCEPTION 'the user agent is % bytes, over the limit of 2048', octet_length(p_user_agent)
            USING ERRCODE = 'program_limit_exceeded', HINT = 'Cut the user agent before calling.';
    END IF;
    v_payload := jsonb_strip_nulls(jsonb_build_object(
        'event_type', 'page_view',
        'page_url', CASE WHEN p_page_path LIKE '/%' THEN 'https://' || v_key.site_bk || p_page_path END,
        'page_path', CASE WHEN p_page_path NOT LIKE '/%' THEN p_page_path END,
        'referrer', nullif(p_referrer, ''), 'page_title', p_page_title, 'session_id', CASE WHEN v_opt_out IS NULL THEN p_session_id END,
        'event_id', p_event_id, 'timestamp', to_jsonb(p_event_timestamp), 'properties', p_properties));
    IF octet_length(v_payload::text) > coalesce(nullif(current_setting('onevault_tracking.max_payload_bytes', true), '')::integer, 65536) THEN
        PERFORM bench_plpgsql.log_attempt(v_key.tenant_hk, 'rejected', 'INVALID_EVENT', v_key.key_prefix, v_client_ip);
        RETURN jsonb_build_object('success', false, 'error_code', 'INVALID_EVENT', 'message', 'event payload is too large');
    END IF;
    v_stored_ip := CASE current_setting('onevault_tracking.client_ip_storage', true)
                       WHEN 'full' THEN set_masklen(v_client_ip, CASE family(v_client_ip) WHEN 4 THEN 32 ELSE 128 END)
                       WHEN 'none' THEN NULL
                       ELSE CASE WHEN family(v_client_ip) = 4 THEN set_masklen(network(set_masklen(v_client_ip, 24)), 32)
                                 WHEN host(v_client_ip) LIKE '::ffff:%.%' THEN set_masklen(network(set_masklen(v_client_ip, 120)), 128)
                                 ELSE set_masklen(network(set_masklen(v_client_ip, 48)), 128) END
                   END;
    -- The page's host: the site's domain, which the page URL was built from.
    v_page_host := CASE WHEN p_page_path LIKE '/%' THEN v_key.site_bk END;
    IF v_client_ip IS NOT NULL THEN
        v_today := (clock_timestamp() AT TIME ZONE 'UTC')::date;
        SELECT (SELECT salt FROM onevault_tracking.visitor_salts WHERE salt_date = v_today),
               (SELECT salt FROM onevault_tracking.visitor_salts WHERE salt_date = v_today - 1)
          INTO v_salt, v_salt_previous;
        IF v_salt IS NULL THEN
            INSERT INTO onevault_tracking.visitor_salts (salt_date, salt)
            VALUES (v_today, public.gen_random_bytes(32)) ON CONFLICT (salt_date) DO NOTHING;
            DELETE FROM onevault_tracking.visitor_salts WHERE salt_date < v_today - 1;
            SELECT salt INTO v_salt FROM onevault_tracking.visitor_salts WHERE salt_date = v_today;
        END IF;
        v_message := convert_to(coalesce(v_page_host, '') || chr(31) || host(v_client_ip) || chr(31)
                                || coalesce(p_user_agent, ''), 'UTF8');
        v_visitor := public.hmac(v_message, v_salt, 'sha256');
        IF v_salt_previous IS NOT NULL THEN
            v_visitor_previous := public.hmac(v_message, v_salt_previous, 'sha256');
        END IF;
    END IF;
    -- Landed already PROCESSED: staging and the vault load follow in this transaction (an
    -- unexpected staging failure marks it ERROR below, as the native code does).
    INSERT INTO raw.site_tracking_events_r
           (tenant_hk, api_key_hk, client_ip, user_agent, raw_payload, client_event_id,
            visitor_hash, visitor_hash_previous, processing_status, processed_at, record_source)
    VALUES (v_key.tenant_hk, v_key.api_key_hk, v_stored_ip, p_user_agent, v_payload,
            CASE WHEN p_event_id ~ '^[A-Za-z0-9._:-]{1,128}$' THEN p_event_id END,
            v_visitor, v_visitor_previous, 'PROCESSED', clock_timestamp(), v_record_source)
    ON CONFLICT (tenant_hk, client_event_id) DO NOTHING
    RETURNING raw_event_id, received_at INTO v_raw_event_id, v_received_at;
    IF v_raw_event_id IS NULL THEN
        SELECT raw_event_id INTO v_raw_event_id FROM raw.site_tracking_events_r
         WHERE tenant_hk = v_key.tenant_hk AND client_event_id = p_event_id;
        PERFORM bench_plpgsql.log_attempt(v_key.tenant_hk, 'duplicate', 'DUPLICATE_EVENT', v_key.key_prefix, v_client_ip,
                                          jsonb_build_object('raw_event_id', v_raw_event_id));
        RETURN jsonb_build_object('success', false, 'error_code', 'DUPLICATE_EVENT', 'raw_event_id', v_raw_event_id,
                                  'message', 'an event with this event_id was already received');
    END IF;

    -- 4. Staging: validate, enrich, sessionize, one row (VALID or INVALID with its reasons).
    v_v := bench_plpgsql.validate_event(v_payload, v_received_at);
    v_valid := v_v.errors = '[]'::jsonb;
    v_ua := bench_plpgsql.parse_user_agent(p_user_agent);
    IF v_v.page_url IS NOT NULL THEN
        v_url := bench_plpgsql.parse_page_url(v_v.page_url);
    ELSE
        v_url := bench_plpgsql.parse_page_url('http://placeholder.invalid' || coalesce(v_v.page_path, ''));
        v_url.host := NULL;
        IF v_v.page_path IS NULL THEN
            v_url.path := NULL;
        END IF;
    END IF;
    v_referrer_host := bench_plpgsql.referrer_host(v_v.referrer);
    v_channel := bench_plpgsql.channel(v_referrer_host, v_url.host, v_url.utm_medium, v_url.utm_source, v_url.click_ids,
                                       coalesce(v_url.utm_source, v_url.utm_medium, v_url.utm_campaign,
                                                v_url.utm_term, v_url.utm_content) IS NOT NULL);
    v_event_time := coalesce(v_v.event_time, v_received_at);
    v_session_id := v_v.session_id;
    v_session_source := CASE WHEN v_session_id IS NOT NULL THEN 'client' END;
    IF v_valid AND v_session_id IS NULL AND v_visitor IS NOT NULL THEN
        -- The visitor's nearest derived session within the idle window (today's or yesterday's
        -- hash); the event takes that session's visitor hash.
        SELECT s.session_id, s.visitor_hash INTO v_session_id, v_session_visitor
          FROM staging.site_tracking_events_s AS s
         WHERE s.tenant_hk = v_key.tenant_hk AND s.page_host = coalesce(v_url.host, '')
           AND s.visitor_hash IN (v_visitor, v_visitor_previous)
           AND s.session_source = 'derived'
           AND s.event_timestamp BETWEEN v_event_time - interval '30 minutes' AND v_event_time + interval '30 minutes'
         ORDER BY abs(extract(epoch FROM s.event_timestamp - v_event_time)), s.raw_event_id
         LIMIT 1;
        IF FOUND THEN
            v_visitor := v_session_visitor;
        ELSE
            v_session_id := left(encode(util.hash_binary(v_tenant_hex || '|' || coalesce(v_url.host, '') || '|'
                                                         || encode(v_visitor, 'hex') || '|' || v_event_time::text
                                                         || '|' || v_raw_event_id), 'hex'), 32);
        END IF;
        v_session_source := 'derived';
    END IF;

    BEGIN
        INSERT INTO staging.site_tracking_events_s (
            raw_event_id, tenant_hk, validation_status, validation_errors, validation_warnings,
            quality_score, event_type, event_name, client_event_id, event_timestamp,
            timestamp_from_client, page_url, page_host, page_path, page_query, page_title,
            referrer_url, properties, screen_width, language, timezone, referrer_host, channel,
            utm_source, utm_medium, utm_campaign, utm_term, utm_content, gclid, msclkid, fbclid,
            click_ids, browser_name, browser_version, os_name, os_version, device_type, is_bot,
            client_ip_anonymized, visitor_hash, session_id, session_source,
            loaded_to_vault, loaded_at, record_source)
        VALUES (
            v_raw_event_id, v_key.tenant_hk, CASE WHEN v_valid THEN 'VALID' ELSE 'INVALID' END, v_v.errors, v_v.warnings,
            v_v.quality_score, v_v.event_type, v_v.event_name, v_v.event_id, v_event_time,
            v_v.event_time IS NOT NULL, v_v.page_url, v_url.host, v_url.path, v_url.query, v_v.page_title,
            v_v.referrer, v_v.properties, v_v.screen_width, v_v.language, v_v.timezone, v_referrer_host, v_channel,
            v_url.utm_source, v_url.utm_medium, v_url.utm_campaign, v_url.utm_term, v_url.utm_content,
            v_url.click_ids ->> 'gclid', v_url.click_ids ->> 'msclkid', v_url.click_ids ->> 'fbclid',
            v_url.click_ids, v_ua.browser_name, v_ua.browser_version, v_ua.os_name, v_ua.os_version, v_ua.device_type,
            v_ua.is_bot,
            CASE WHEN family(v_client_ip) = 4 THEN set_masklen(network(set_masklen(v_client_ip, 24)), 32)
                 WHEN host(v_client_ip) LIKE '::ffff:%.%' THEN set_masklen(network(set_masklen(v_client_ip, 120)), 128)
                 ELSE set_masklen(network(set_masklen(v_client_ip, 48)), 128) END,
            v_visitor, v_session_id, v_session_source,
            v_valid, CASE WHEN v_valid THEN clock_timestamp() END, v_record_source)
        RETURNING staging_event_id INTO v_staging_event_id;
    EXCEPTION WHEN OTHERS THEN
        -- Not lost: the raw row waits for staging.process_pending_events to retry it.
        UPDATE raw.site_tracking_events_r
           SET processing_status = CASE WHEN retry_count + 1 >= coalesce(nullif(current_setting('onevault_tracking.max_processing_attempts', true), '')::integer, 5)
                                        THEN 'FAILED' ELSE 'ERROR' END,
               retry_count = retry_count + 1, error_message = SQLERRM, processed_at = NULL
         WHERE raw_event_id = v_raw_event_id;
        PERFORM bench_plpgsql.log_attempt(v_key.tenant_hk, 'accepted', NULL, v_key.key_prefix, v_client_ip,
                                          jsonb_build_object('raw_event_id', v_raw_event_id));
        RETURN jsonb_build_object('success', true, 'raw_event_id', v_raw_event_id, 'status', 'ERROR',
                                  'message', 'accepted; processing will be retried');
    END;

    IF NOT v_valid THEN
        PERFORM bench_plpgsql.log_attempt(v_key.tenant_hk, 'rejected', 'INVALID_EVENT', v_key.key_prefix, v_client_ip,
                                          jsonb_build_object('raw_event_id', v_raw_event_id));
        RETURN jsonb_build_object('success', false, 'error_code', 'INVALID_EVENT', 'errors', v_v.errors,
                                  'raw_event_id', v_raw_event_id,
                                  'message', 'the event failed validation and was quarantined');
    END IF;

    -- 5. The vault: hubs and links when new, satellites when their hash_diff changed.
    v_site_bk := nullif(rtrim(btrim(lower(v_url.host)), '.'), '');
    IF left(v_site_bk, 4) = 'www.' THEN
        v_site_bk := nullif(substr(v_site_bk, 5), '');
    END IF;
    v_event_hk := util.hash_binary(v_tenant_hex || '|' || v_raw_event_id);
    IF v_site_bk IS NOT NULL THEN
        v_site_hk := util.hash_binary(v_tenant_hex || '|' || bench_plpgsql.key_part(v_site_bk));
        INSERT INTO business.site_h (site_hk, site_bk, tenant_hk, record_source)
        VALUES (v_site_hk, v_site_bk, v_key.tenant_hk, v_record_source)
        ON CONFLICT (site_hk) DO NOTHING;
        IF v_url.path IS NOT NULL THEN
            v_page_hk := util.hash_binary(v_tenant_hex || '|' || bench_plpgsql.key_part(v_site_bk) || '|'
                                          || bench_plpgsql.key_part(v_url.path));
            INSERT INTO business.page_h (page_hk, page_bk, tenant_hk, record_source)
            VALUES (v_page_hk, v_site_bk || v_url.path, v_key.tenant_hk, v_record_source)
            ON CONFLICT (page_hk) DO NOTHING;
        END IF;
        IF v_session_id IS NOT NULL THEN
            v_session_hk := util.hash_binary(v_tenant_hex || '|' || bench_plpgsql.key_part(v_site_bk) || '|'
                                             || bench_plpgsql.key_part(v_session_id));
            INSERT INTO business.session_h (session_hk, session_bk, tenant_hk, record_source)
            VALUES (v_session_hk, v_session_id, v_key.tenant_hk, v_record_source)
            ON CONFLICT (session_hk) DO NOTHING;
        END IF;
        IF v_page_hk IS NOT NULL THEN
            INSERT INTO business.page_site_l (page_site_hk, page_hk, site_hk, tenant_hk, record_source)
            VALUES (util.hash_binary(v_tenant_hex || '|' || encode(v_page_hk, 'hex') || '|' || encode(v_site_hk, 'hex')),
                    v_page_hk, v_site_hk, v_key.tenant_hk, v_record_source)
            ON CONFLICT (page_site_hk) DO NOTHING;
        END IF;
        IF v_session_hk IS NOT NULL THEN
            INSERT INTO business.session_site_l (session_site_hk, session_hk, site_hk, tenant_hk, record_source)
            VALUES (util.hash_binary(v_tenant_hex || '|' || encode(v_session_hk, 'hex') || '|' || encode(v_site_hk, 'hex')),
                    v_session_hk, v_site_hk, v_key.tenant_hk, v_record_source)
            ON CONFLICT (session_site_hk) DO NOTHING;
        END IF;
    END IF;
    INSERT INTO business.tracking_event_l (tracking_event_hk, tracking_event_bk, site_hk, page_hk, session_hk,
                                           api_key_hk, tenant_hk, record_source)
    VALUES (v_event_hk, v_raw_event_id::text, v_site_hk, v_page_hk, v_session_hk, v_key.api_key_hk,
            v_key.tenant_hk, v_record_source)
    ON CONFLICT (tracking_event_hk) DO NOTHING;
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    -- Page details: from the page's latest titled VALID event (a late event cannot roll them back).
    IF v_page_hk IS NOT NULL THEN
        SELECT s.page_title INTO v_title
          FROM staging.site_tracking_events_s AS s
         WHERE s.tenant_hk = v_key.tenant_hk AND s.page_host = v_url.host AND s.page_path = v_url.path
           AND s.validation_status = 'VALID' AND s.page_title IS NOT NULL
         ORDER BY s.event_timestamp DESC
         LIMIT 1;
        v_diff := util.hash_binary(bench_plpgsql.key_part(v_title) || '|' || bench_plpgsql.key_part(v_url.host)
                                   || '|' || bench_plpgsql.key_part(v_url.path));
        PERFORM pg_advisory_xact_lock(hashtextextended('business.page_details_s' || encode(v_page_hk, 'hex'), 0));
        v_current := NULL;
        SELECT hash_diff INTO v_current FROM business.page_details_s
         WHERE page_hk = v_page_hk AND load_end_date IS NULL;
        IF v_current IS DISTINCT FROM v_diff THEN
            v_now := clock_timestamp();
            IF v_current IS NOT NULL THEN
                UPDATE business.page_details_s SET load_end_date = v_now
                 WHERE page_hk = v_page_hk AND load_end_date IS NULL;
            END IF;
            INSERT INTO business.page_details_s (page_hk, load_date, hash_diff, page_title, page_host, page_path,
                                                 tenant_hk, record_source)
            VALUES (v_page_hk, v_now, v_diff, v_title, v_url.host, v_url.path, v_key.tenant_hk, v_record_source);
        END IF;
    END IF;

    -- Session details: from the session's first VALID event.
    IF v_session_hk IS NOT NULL THEN
        SELECT s.visitor_hash, s.session_source, s.event_timestamp, s.page_path, s.referrer_host, s.channel,
               s.utm_source, s.utm_medium, s.utm_campaign, s.utm_term, s.utm_content, s.device_type,
               s.browser_name, s.os_name, s.is_bot
          INTO v_first
          FROM staging.site_tracking_events_s AS s
         WHERE s.tenant_hk = v_key.tenant_hk AND s.page_host = v_url.host AND s.session_id = v_session_id
           AND s.validation_status = 'VALID'
         ORDER BY s.event_timestamp, s.raw_event_id
         LIMIT 1;
        v_diff := util.hash_binary(concat_ws('|',
            bench_plpgsql.key_part('\x' || encode(v_first.visitor_hash, 'hex')), bench_plpgsql.key_part(v_first.session_source),
            bench_plpgsql.key_part(bench_plpgsql.utc_text(v_first.event_timestamp)), bench_plpgsql.key_part(v_first.page_path),
            bench_plpgsql.key_part(v_first.referrer_host), bench_plpgsql.key_part(v_first.channel),
            bench_plpgsql.key_part(v_first.utm_source), bench_plpgsql.key_part(v_first.utm_medium),
            bench_plpgsql.key_part(v_first.utm_campaign), bench_plpgsql.key_part(v_first.utm_term),
            bench_plpgsql.key_part(v_first.utm_content), bench_plpgsql.key_part(v_first.device_type),
            bench_plpgsql.key_part(v_first.browser_name), bench_plpgsql.key_part(v_first.os_name),
            bench_plpgsql.key_part(v_first.is_bot::text)));
        PERFORM pg_advisory_xact_lock(hashtextextended('business.session_details_s' || encode(v_session_hk, 'hex'), 0));
        v_current := NULL;
        SELECT hash_diff INTO v_current FROM business.session_details_s
         WHERE session_hk = v_session_hk AND load_end_date IS NULL;
        IF v_current IS DISTINCT FROM v_diff THEN
            v_now := clock_timestamp();
            IF v_current IS NOT NULL THEN
                UPDATE business.session_details_s SET load_end_date = v_now
                 WHERE session_hk = v_session_hk AND load_end_date IS NULL;
            END IF;
            INSERT INTO business.session_details_s (
                session_hk, load_date, hash_diff, visitor_hash, session_source, session_start, entry_page_path,
                referrer_host, channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
                device_type, browser_name, os_name, is_bot, tenant_hk, record_source)
            VALUES (v_session_hk, v_now, v_diff, v_first.visitor_hash, v_first.session_source, v_first.event_timestamp,
                    v_first.page_path, v_first.referrer_host, v_first.channel, v_first.utm_source, v_first.utm_medium,
                    v_first.utm_campaign, v_first.utm_term, v_first.utm_content, v_first.device_type,
                    v_first.browser_name, v_first.os_name, v_first.is_bot, v_key.tenant_hk, v_record_source);
        END IF;
    END IF;

    -- Event details: a new event's are new; a replayed one's are compared like any satellite.
    v_diff := util.hash_binary(concat_ws('|',
        bench_plpgsql.key_part(v_v.event_type), bench_plpgsql.key_part(NULL), bench_plpgsql.key_part(bench_plpgsql.utc_text(v_event_time)),
        bench_plpgsql.key_part(v_v.event_id), bench_plpgsql.key_part(v_v.properties::text), bench_plpgsql.key_part(v_url.query),
        bench_plpgsql.key_part(v_referrer_host), bench_plpgsql.key_part(v_channel), bench_plpgsql.key_part(v_url.utm_source),
        bench_plpgsql.key_part(v_url.utm_medium), bench_plpgsql.key_part(v_url.utm_campaign), bench_plpgsql.key_part(v_url.utm_term),
        bench_plpgsql.key_part(v_url.utm_content), bench_plpgsql.key_part(v_url.click_ids::text), bench_plpgsql.key_part(v_ua.device_type),
        bench_plpgsql.key_part(v_ua.browser_name), bench_plpgsql.key_part(v_ua.browser_version), bench_plpgsql.key_part(v_ua.os_name),
        bench_plpgsql.key_part(v_ua.os_version), bench_plpgsql.key_part(v_ua.is_bot::text),
        bench_plpgsql.key_part('\x' || encode(v_visitor, 'hex')), bench_plpgsql.key_part(v_v.screen_width::text),
        bench_plpgsql.key_part(v_v.language), bench_plpgsql.key_part(v_v.timezone)));
    v_current := NULL;
    IF v_rows = 0 THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('business.tracking_event_details_s' || encode(v_event_hk, 'hex'), 0));
        SELECT hash_diff INTO v_current FROM business.tracking_event_details_s
         WHERE tracking_event_hk = v_event_hk AND load_end_date IS NULL;
    END IF;
    IF v_current IS DISTINCT FROM v_diff THEN
        v_now := clock_timestamp();
        IF v_current IS NOT NULL THEN
            UPDATE business.tracking_event_details_s SET load_end_date = v_now
             WHERE tracking_event_hk = v_event_hk AND load_end_date IS NULL;
        END IF;
        INSERT INTO business.tracking_event_details_s (
            tracking_event_hk, load_date, hash_diff, event_type, event_name, event_timestamp, client_event_id,
            properties, page_query, referrer_host, channel, utm_source, utm_medium, utm_campaign, utm_term,
            utm_content, click_ids, device_type, browser_name, browser_version, os_name, os_version, is_bot,
            visitor_hash, screen_width, language, timezone, tenant_hk, record_source)
        VALUES (v_event_hk, v_now, v_diff, v_v.event_type, NULL, v_event_time, v_v.event_id,
                v_v.properties, v_url.query, v_referrer_host, v_channel, v_url.utm_source, v_url.utm_medium,
                v_url.utm_campaign, v_url.utm_term, v_url.utm_content, v_url.click_ids, v_ua.device_type,
                v_ua.browser_name, v_ua.browser_version, v_ua.os_name, v_ua.os_version, v_ua.is_bot,
                v_visitor, v_v.screen_width, v_v.language, v_v.timezone, v_key.tenant_hk, v_record_source);
    END IF;

    -- 6. One audit record for the attempt.
    PERFORM bench_plpgsql.log_attempt(v_key.tenant_hk, 'accepted', NULL, v_key.key_prefix, v_client_ip,
                                      jsonb_build_object('raw_event_id', v_raw_event_id));
    RETURN jsonb_build_object('success', true, 'raw_event_id', v_raw_event_id, 'status', 'PROCESSED',
                              'staging_event_id', v_staging_event_id, 'session_id', v_session_id,
                              'loaded_to_vault', true);
END
$fn$;
