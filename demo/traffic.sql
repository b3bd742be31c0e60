-- demo/traffic.sql: realistic traffic for example.com, the demo's site, made in SQL: visitors with
-- browsers, devices, locales and addresses (a few percent bots: crawlers, an uptime check,
-- scrapers), their visits over the last hours, the page views and custom events of each visit
-- (referrers from search, social and other sites, newsletter, ad and social campaigns, properties),
-- client retries, and events from broken trackers that fail validation in one of ten ways.
-- scripts/demo.sh sends them as the site would; tests/reliability/soak.sh replays its clean
-- events from many concurrent clients.
--
-- psql variables:
--   seed            the pseudo-random mix: the same seed gives the same events (timestamps are
--                   relative to now)
--   visitors        how many visitors (the last 33 of them bots)
--   history_hours   how far back the visits start
--   single_events   events sent one call each (demo.events n = 1 .. single_events)
--   batch_events    events the edge collector relays in batches (the next batch_events)
-- It fails when the visitors make too few events for both.
--
-- Creates, in schema demo (which must exist): devices, bot_devices, locales, pages, sources (the vocabulary),
-- visitors, visits, visit_events, events (what clients send, numbered n in sending order),
-- breakages (what each broken tracker does), and the functions that make them and send them:
-- demo.track sends an event through the tracking API.

-- Index (1-based) of the weighted choice r in [0, 1) among weights.
CREATE FUNCTION demo.pick(weights float8[], r float8) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(min(i)::integer, cardinality(weights))
      FROM (SELECT i, sum(w) OVER (ORDER BY i) / sum(w) OVER () AS upto
              FROM unnest(weights) WITH ORDINALITY AS u (w, i)) AS c
     WHERE r < upto
$$;

CREATE FUNCTION demo.iso8601(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- A deterministic UUID-shaped id, as trackers make session ids.
CREATE FUNCTION demo.uuid_like(seed text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(md5(seed), '^(.{8})(.{4})(.{4})(.{4})(.{12})$', '\1-\2-\3-\4-\5')
$$;

-- Browsers and devices; weight is the share of human visitors. The bots are not drawn: the last
-- visitors are the bots of demo.bot_devices (crawlers, an uptime check, scrapers).
CREATE TABLE demo.devices (device integer PRIMARY KEY, kind text, weight float8, user_agent text);
INSERT INTO demo.devices VALUES
 (1, 'desktop', 24, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'),
 (2, 'desktop',  9, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0'),
 (3, 'desktop',  4, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0'),
 (4, 'desktop',  2, 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'),
 (5, 'desktop',  8, 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15'),
 (6, 'desktop',  5, 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'),
 (7, 'mobile',  16, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Mobile/15E148 Safari/604.1'),
 (8, 'mobile',   3, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1'),
 (9, 'mobile',  10, 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36'),
 (10, 'mobile',  3, 'Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36'),
 (11, 'tablet',  4, 'Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1'),
 (12, 'tablet',  2, 'Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'),
 (13, 'crawler', 0, 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'),
 (14, 'crawler', 0, 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)'),
 (15, 'script',  0, 'curl/8.5.0'),
 (16, 'script',  0, 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36'),
 (17, 'crawler', 0, 'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)'),
 (18, 'crawler', 0, 'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)'),
 (19, 'script',  0, 'python-requests/2.32.3');
-- The bot visitors, the last of all (k = 1 is the first bot): six Googlebots, four bingbots, three
-- GPTBots, three AhrefsBots, a curl uptime check, six python-requests and ten headless scrapers.
CREATE TABLE demo.bot_devices (k integer PRIMARY KEY, device integer);
INSERT INTO demo.bot_devices
SELECT k, d FROM unnest(ARRAY[13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 17, 17, 17, 18, 18, 18, 15,
                              19, 19, 19, 19, 19, 19, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16]) WITH ORDINALITY AS b (d, k);

CREATE TABLE demo.locales (locale integer PRIMARY KEY, weight float8, language text, timezone text);
INSERT INTO demo.locales VALUES
 (1, 25, 'en-US', 'America/New_York'), (2, 15, 'en-US', 'America/Los_Angeles'),
 (3, 15, 'en-GB', 'Europe/London'),    (4, 15, 'de-DE', 'Europe/Berlin'),
 (5, 10, 'fr-FR', 'Europe/Paris'),     (6, 6, 'es-ES', 'Europe/Madrid'),
 (7, 6, 'nl-NL', 'Europe/Amsterdam'),  (8, 4, 'ja-JP', 'Asia/Tokyo'),
 (9, 4, 'pt-BR', 'America/Sao_Paulo');

-- The site's pages: how often a visit lands on one (landing) and moves on to it (browse).
CREATE TABLE demo.pages (page integer PRIMARY KEY, landing float8, browse float8, path text, title text);
INSERT INTO demo.pages VALUES
 (1, 30, 16, '/', 'Example | Privacy-first analytics'),
 (2,  8, 18, '/pricing', 'Pricing | Example'),
 (3,  6, 14, '/features', 'Features | Example'),
 (4, 14,  5, '/blog/data-vault-2-0-explained', 'Data Vault 2.0, explained | Example Blog'),
 (5, 12,  5, '/blog/privacy-first-analytics', 'Analytics without cookies | Example Blog'),
 (6,  3,  3, '/blog/whats-new-november-2026', 'What''s new in November | Example Blog'),
 (7,  8, 12, '/docs/getting-started', 'Getting started | Example Docs'),
 (8,  5,  8, '/docs/tracking-api', 'Tracking API | Example Docs'),
 (9,  2, 10, '/signup', 'Create your account | Example'),
 (10, 1,  4, '/contact', 'Contact us | Example'),
 (11, 1,  3, '/about', 'About us | Example'),
 (12, 1,  2, '/careers', 'Careers | Example');

-- Where a visit comes from: the referrer its first page carries, and the campaign tags of the
-- link (%s is a click id); newsletter, ads and campaigns land on a set page.
CREATE TABLE demo.sources (source integer PRIMARY KEY, weight float8, referrer text, tags text, landing integer);
INSERT INTO demo.sources VALUES
 (1, 27, NULL, NULL, NULL),
 (2, 20, 'https://www.google.com/', NULL, NULL),
 (3,  4, 'https://www.bing.com/', NULL, NULL),
 (4,  3, 'https://duckduckgo.com/', NULL, NULL),
 (5,  1, 'https://www.ecosia.org/', NULL, NULL),
 (6,  3, 'https://t.co/', NULL, NULL),
 (7,  3, 'https://l.facebook.com/', 'fbclid=IwAR%s', NULL),
 (8,  3, 'https://www.linkedin.com/', NULL, NULL),
 (9,  2, 'https://www.reddit.com/r/dataengineering/', NULL, NULL),
 (10, 2, 'https://news.ycombinator.com/', NULL, NULL),
 (11, 4, NULL, 'utm_source=newsletter&utm_medium=email&utm_campaign=november_digest', 6),
 (12, 2, 'https://mail.google.com/', 'utm_source=newsletter&utm_medium=email&utm_campaign=november_digest', 6),
 (13, 5, 'https://www.google.com/', 'utm_source=google&utm_medium=cpc&utm_campaign=brand_search&utm_term=privacy+analytics&gclid=Cj0KCQiA%s', 1),
 (14, 1.5, 'https://www.bing.com/', 'utm_source=bing&utm_medium=cpc&utm_campaign=brand_search&msclkid=%s', 1),
 (15, 2, 'https://www.linkedin.com/', 'utm_source=linkedin&utm_medium=social&utm_campaign=launch_week&utm_content=video', 3),
 (16, 3, 'https://dev.to/dataeng/privacy-friendly-analytics-compared-4k2p', NULL, NULL),
 (17, 2, 'https://medium.com/@vaultbuilder/data-vault-in-practice-9f1c2e', NULL, NULL),
 (18, 1, 'https://www.producthunt.com/products/example', 'ref=producthunt', NULL);

-- The same seed gives the same visitors and events (timestamps end at the current minute).
SELECT setseed((:seed % 2147483647)::float8 / 2147483647) \g /dev/null

-- Visitors, each with a device, a locale and an address of its own (documentation, private and
-- carrier-grade NAT ranges, and the crawlers' own): the visitor hash is site + address + user
-- agent, so two visitors never share one. Visitors 1 to 3 have the addresses the report uses to
-- show anonymisation. A visitor's browser sends its events either directly (one call per event)
-- or, for about one visitor in ten, to the edge collector that relays them in batches; the
-- collector always adds a session_id, browsers sending directly only on some visitors (the
-- site's newer tracker snippet).
CREATE TABLE demo.visitors AS
WITH draws AS MATERIALIZED (
    SELECT v, random() AS r_device, random() AS r_family, random() AS r_a, random() AS r_b,
           random() AS r_locale, random() AS r_screen, random() AS r_route, random() AS r_snippet,
           random() AS r_visits
      FROM generate_series(1, :visitors) AS v
), typed AS (
    SELECT d.*, b.k AS bot,
           coalesce(b.device,
                    demo.pick((SELECT array_agg(weight ORDER BY device) FROM demo.devices), d.r_device)) AS device
      FROM draws AS d
      LEFT JOIN demo.bot_devices AS b ON b.k = d.v - (:visitors - (SELECT count(*) FROM demo.bot_devices))
)
SELECT t.v AS visitor, dev.device, dev.kind, dev.user_agent,
       CASE WHEN t.v = 1 THEN inet '192.168.1.100'
            WHEN t.v = 2 THEN inet '2001:db8:85a3:8d3:1319:8a2e:370:7348'
            WHEN t.v = 3 THEN inet '::ffff:203.0.113.77'
            WHEN dev.device = 13 THEN ('66.249.66.' || t.bot)::inet
            WHEN dev.device = 14 THEN ('157.55.39.' || t.bot)::inet
            WHEN dev.device = 15 THEN inet '192.168.200.10'
            WHEN dev.device = 16 THEN ('192.168.200.' || 100 + t.bot)::inet
            WHEN dev.device = 17 THEN ('20.171.207.' || t.bot)::inet
            WHEN dev.device = 18 THEN ('54.36.148.' || t.bot)::inet
            WHEN dev.device = 19 THEN ('192.168.201.' || t.bot)::inet
            WHEN t.r_family < 0.25 THEN
                format('2001:db8:%s:%s::%s', to_hex(floor(t.r_a * 65536)::int), to_hex(t.v),
                       to_hex(1 + floor(t.r_b * 65535)::int))::inet
            WHEN t.v < 1016 THEN ((ARRAY['203.0.113.', '198.51.100.', '192.0.2.', '10.20.30.'])[1 + t.v % 4]
                                  || 1 + (t.v / 4 * 37) % 254)::inet
            ELSE format('100.%s.%s.%s', 64 + t.v / 254 / 256, t.v / 254 % 256, 1 + t.v % 254)::inet
       END AS client_ip,
       CASE WHEN dev.kind IN ('desktop', 'mobile', 'tablet') THEN loc.language
            WHEN dev.device = 16 THEN 'en-US' END AS language,
       CASE WHEN dev.kind IN ('desktop', 'mobile', 'tablet') THEN loc.timezone
            WHEN dev.device = 16 THEN 'UTC' END AS timezone,
       CASE dev.kind
            WHEN 'desktop' THEN (ARRAY[1280, 1366, 1440, 1536, 1920, 2560])[1 + floor(t.r_screen * 6)::int]
            WHEN 'mobile' THEN (ARRAY[375, 390, 393, 412, 414, 430])[1 + floor(t.r_screen * 6)::int]
            WHEN 'tablet' THEN (ARRAY[768, 810, 820, 834, 1024])[1 + floor(t.r_screen * 5)::int]
            ELSE CASE WHEN dev.device = 16 THEN 800 END
       END AS screen_width,
       CASE WHEN t.v > 3 AND dev.kind IN ('desktop', 'mobile', 'tablet') AND t.r_route < 0.10
            THEN 'collector' ELSE 'direct' END AS route,
       dev.kind IN ('desktop', 'mobile', 'tablet') AND (t.r_route < 0.10 OR t.r_snippet < 0.40) AS sends_session_id,
       CASE dev.device WHEN 13 THEN 5 WHEN 14 THEN 4 WHEN 15 THEN 23 WHEN 16 THEN 1
                       WHEN 17 THEN 3 WHEN 18 THEN 3 WHEN 19 THEN 2
            ELSE least(8, 1 + floor(-ln(1 - t.r_visits) * 0.9))::int END AS visits
  FROM typed AS t
  JOIN demo.devices AS dev USING (device)
  JOIN demo.locales AS loc
    ON loc.locale = demo.pick((SELECT array_agg(weight ORDER BY locale) FROM demo.locales), t.r_locale);

-- Visits: each starts 2 to history_hours hours ago (the uptime check runs every 6 hours),
-- and a visitor's visits are over 2 hours apart (closer ones are dropped), so each one is a
-- session of its own.
CREATE TABLE demo.visits AS
WITH draws AS MATERIALIZED (
    SELECT v.visitor, v.device, k, random() AS r_start, random() AS r_pages, random() AS r_source
      FROM demo.visitors AS v, generate_series(1, v.visits) AS k
), timed AS (
    SELECT d.*,
           date_trunc('minute', now())
               - CASE WHEN d.device = 15 THEN d.k * interval '6 hours' - interval '7 minutes'
                      WHEN d.visitor <= 3 AND d.k = 1 THEN (2 + d.visitor) * interval '1 hour'
                      ELSE interval '2 hours' + d.r_start * (:history_hours - 2) * interval '1 hour' END AS started_at
      FROM draws AS d
), spaced AS (
    SELECT t.*, lag(started_at) OVER (PARTITION BY visitor ORDER BY started_at) AS previous_start
      FROM timed AS t
)
SELECT row_number() OVER (ORDER BY s.started_at, s.visitor)::int AS visit, s.visitor, s.started_at,
       CASE s.device
            WHEN 13 THEN 3 + floor(s.r_pages * 10)::int
            WHEN 14 THEN 2 + floor(s.r_pages * 5)::int
            WHEN 15 THEN 1
            WHEN 16 THEN 5 + floor(s.r_pages * 8)::int
            WHEN 17 THEN 4 + floor(s.r_pages * 8)::int
            WHEN 18 THEN 3 + floor(s.r_pages * 8)::int
            WHEN 19 THEN 4 + floor(s.r_pages * 8)::int
            ELSE least(12, 1 + floor(-ln(1 - s.r_pages) * 2.3))::int
       END AS pages,
       CASE WHEN s.device < 13
            THEN demo.pick((SELECT array_agg(weight ORDER BY source) FROM demo.sources), s.r_source)
       END AS source,
       substr(md5('click:' || :seed || ':' || s.visitor || ':' || s.k), 1, 20) AS click_id
  FROM spaced AS s
 WHERE s.previous_start IS NULL OR s.started_at - s.previous_start > interval '2 hours';

-- Every event of every visit: page views 25 s to 3 min apart (a crawler's seconds apart), and
-- on some pages a custom event a few seconds after the page view. The first page carries the
-- visit's referrer and campaign tags, later pages the previous page as referrer.
CREATE TABLE demo.visit_events AS
WITH draws AS MATERIALIZED (
    SELECT vi.visit, vi.visitor, vi.started_at, vi.source, vi.click_id, i, random() AS r_gap,
           random() AS r_page, random() AS r_custom, random() AS r_name, random() AS r_prop,
           random() AS r_login
      FROM demo.visits AS vi, generate_series(1, vi.pages) AS i
), paged AS (
    SELECT d.*, v.device, v.kind,
           CASE WHEN d.i = 1 AND v.device = 15 THEN 1
                WHEN d.i = 1 THEN coalesce(src.landing,
                    demo.pick((SELECT array_agg(landing ORDER BY page) FROM demo.pages), d.r_page))
                ELSE demo.pick((SELECT array_agg(browse ORDER BY page) FROM demo.pages), d.r_page)
           END AS page,
           CASE WHEN d.i = 1 THEN interval '0'
                WHEN v.kind = 'crawler' THEN (3 + d.r_gap * 17) * interval '1 second'
                WHEN v.kind = 'script' THEN (1 + d.r_gap * 2) * interval '1 second'
                ELSE (25 + d.r_gap * 155) * interval '1 second'
           END AS gap
      FROM draws AS d
      JOIN demo.visitors AS v USING (visitor)
      LEFT JOIN demo.sources AS src USING (source)
), page_views AS (
    SELECT p.*, pg.path, pg.title,
           p.started_at + sum(p.gap) OVER w AS at,
           CASE WHEN p.kind NOT IN ('desktop', 'mobile', 'tablet') THEN NULL
                WHEN p.i = 1 THEN src.referrer ELSE 'https://example.com' || lag(pg.path) OVER w END AS referrer,
           CASE WHEN p.i = 1 THEN replace(src.tags, '%s', p.click_id) END AS tags
      FROM paged AS p
      JOIN demo.pages AS pg USING (page)
      LEFT JOIN demo.sources AS src USING (source)
    WINDOW w AS (PARTITION BY p.visit ORDER BY p.i)
), customs AS (
    SELECT pv.*,
           CASE WHEN pv.kind NOT IN ('desktop', 'mobile', 'tablet') THEN NULL
                WHEN pv.path = '/pricing' AND pv.r_custom < 0.35 THEN 'signup_click'
                WHEN pv.path = '/signup' AND pv.r_custom < 0.55 THEN 'form_submit'
                WHEN pv.path = '/' AND pv.r_custom < 0.12 THEN 'video_play'
                WHEN pv.path = '/features' AND pv.r_custom < 0.25 THEN 'video_play'
                WHEN pv.path LIKE '/blog/%' AND pv.r_custom < 0.10 THEN 'newsletter_subscribe'
                WHEN pv.path LIKE '/blog/%' AND pv.r_custom < 0.18 THEN 'file_download'
                WHEN pv.path LIKE '/docs/%' AND pv.r_custom < 0.20 THEN 'outbound_click'
                WHEN pv.path = '/contact' AND pv.r_custom < 0.40 THEN 'form_submit'
           END AS custom_name
      FROM page_views AS pv
)
SELECT c.visit, c.visitor, c.i * 2 AS step, c.at, 'page_view' AS event_type, NULL AS event_name,
       c.path, c.title, c.referrer, c.tags,
       CASE WHEN c.kind IN ('desktop', 'mobile', 'tablet') THEN jsonb_build_object('logged_in', c.r_login < 0.12) END AS properties
  FROM customs AS c
UNION ALL
SELECT c.visit, c.visitor, c.i * 2 + 1, c.at + (3 + c.r_name * 15) * interval '1 second', 'custom',
       c.custom_name, c.path, c.title, c.referrer, c.tags,
       CASE c.custom_name
           WHEN 'signup_click' THEN jsonb_build_object(
               'button', 'pricing_table', 'plan', (ARRAY['free', 'pro', 'business'])[1 + floor(c.r_prop * 3)::int])
           WHEN 'form_submit' THEN jsonb_build_object(
               'form', CASE WHEN c.path = '/signup' THEN 'signup' ELSE 'contact' END, 'fields', 5,
               'valid', c.r_prop < 0.9)
           WHEN 'video_play' THEN jsonb_build_object('video_id', 'product-tour-2026', 'position_s', 0,
                                                     'muted', c.r_prop < 0.5)
           WHEN 'newsletter_subscribe' THEN jsonb_build_object('form', 'blog_footer', 'double_opt_in', true)
           WHEN 'file_download' THEN CASE c.path
               WHEN '/blog/data-vault-2-0-explained' THEN jsonb_build_object('file', 'data-vault-2.0-whitepaper.pdf', 'size_kb', 2048)
               WHEN '/blog/privacy-first-analytics' THEN jsonb_build_object('file', 'privacy-checklist.pdf', 'size_kb', 310)
               ELSE jsonb_build_object('file', 'release-notes-2026-11.pdf', 'size_kb', 120) END
           WHEN 'outbound_click' THEN jsonb_build_object('url', 'https://github.com/example/onevault', 'label', 'GitHub')
       END
  FROM customs AS c
 WHERE c.custom_name IS NOT NULL;

-- Every event a client sends, numbered n in sending order: 1..single_events are sent directly,
-- one per call, the next batch_events through the collector's batches. Each stream takes whole
-- visits in a random order until it is full (the last visit taken may be cut short) and sends
-- them in time order. About 3% of the single sends are a browser retrying the previous event (same
-- payload, same event_id) after a network timeout. About 2.5% of the events come from broken
-- tracker code: they pass the raw layer but fail validation, each in one of ten ways.
CREATE TABLE demo.events AS
WITH visit_sizes AS (
    SELECT e.visit, v.route, count(*) AS size,
           v.kind NOT IN ('desktop', 'mobile', 'tablet') OR v.visitor <= 3 AS always, random() AS r_order
      FROM demo.visit_events AS e JOIN demo.visitors AS v USING (visitor)
     GROUP BY e.visit, v.route, v.kind, v.visitor
), visit_order AS (
    SELECT s.*,
           sum(size) OVER (PARTITION BY route ORDER BY always DESC, r_order, visit) - size AS before,
           CASE route WHEN 'direct' THEN :single_events ELSE :batch_events END AS wanted
      FROM visit_sizes AS s
), taken AS (
    SELECT e.visit, e.visitor, e.step, e.at, e.event_type, e.event_name, e.path, e.title,
           e.referrer, e.tags, e.properties, v.device, v.kind, v.client_ip, v.user_agent,
           v.language, v.timezone, v.screen_width, v.sends_session_id, o.route AS stream
      FROM (SELECT x.*, row_number() OVER (PARTITION BY x.visit ORDER BY x.step) AS rank
              FROM demo.visit_events AS x) AS e
      JOIN visit_order AS o USING (visit)
      JOIN demo.visitors AS v USING (visitor)
     WHERE o.before + e.rank <= o.wanted
), numbered AS (
    SELECT t.*,
           CASE t.stream WHEN 'direct' THEN 0 ELSE :single_events END
               + row_number() OVER (PARTITION BY t.stream ORDER BY t.at, t.visit, t.step) AS n,
           random() AS r_bad, random() AS r_break, random() AS r_retry
      FROM taken AS t
), shaped AS (
    SELECT nb.*,
           CASE WHEN nb.kind IN ('desktop', 'mobile', 'tablet') AND nb.r_bad < 0.025 THEN
               (ARRAY['eventType', 'pageUrl', 'ftp_url', 'ip_host', 'custom_unnamed', 'month_old',
                      'epoch_timestamp', 'nested_property', 'spaced_session_id', 'width_as_text'])
               [demo.pick(ARRAY[18, 8, 12, 8, 12, 12, 8, 10, 8, 4], nb.r_break)]
           END AS broken,
           jsonb_strip_nulls(jsonb_build_object(
               'event_type', nb.event_type,
               'event_name', nb.event_name,
               'event_id', CASE WHEN nb.device = 15 THEN 'uptime-' || extract(epoch FROM nb.at)::bigint
                                ELSE 'evt-' || lpad(n::text, 5, '0') END,
               'timestamp', CASE WHEN nb.device = 15
                                 THEN to_char(nb.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
                                 ELSE demo.iso8601(nb.at) END,
               'session_id', CASE WHEN nb.sends_session_id THEN demo.uuid_like(:seed || ':visit:' || nb.visit) END,
               'page_url', 'https://example.com' || nb.path || coalesce('?' || nb.tags, ''),
               'page_title', CASE WHEN nb.device <> 15 THEN nb.title END,
               'referrer', nb.referrer,
               'screen_width', nb.screen_width,
               'language', nb.language,
               'timezone', nb.timezone,
               'properties', nb.properties)) AS clean
      FROM numbered AS nb
), payloads AS (
    SELECT s.*,
           CASE s.broken
               WHEN 'eventType' THEN s.clean - 'event_type' || jsonb_build_object('eventType', s.event_type)
               WHEN 'pageUrl' THEN s.clean - 'page_url' || jsonb_build_object('pageUrl', s.clean -> 'page_url')
               WHEN 'ftp_url' THEN s.clean || jsonb_build_object('page_url', 'ftp://files.example.com/pub/data-vault-whitepaper.pdf')
               WHEN 'ip_host' THEN s.clean || jsonb_build_object('page_url', 'http://10.20.0.15:8080' || s.path)
               WHEN 'custom_unnamed' THEN s.clean - 'event_name' || jsonb_build_object('event_type', 'custom')
               WHEN 'month_old' THEN s.clean || jsonb_build_object('timestamp', demo.iso8601(s.at - interval '30 days'))
               WHEN 'epoch_timestamp' THEN s.clean || jsonb_build_object('timestamp', (extract(epoch FROM s.at) * 1000)::bigint)
               WHEN 'nested_property' THEN s.clean || jsonb_build_object('properties',
                   coalesce(s.clean -> 'properties', '{}') || jsonb_build_object(
                       'experiment', jsonb_build_object('id', 'pricing-page-v2', 'variant', 'b')))
               WHEN 'spaced_session_id' THEN s.clean || jsonb_build_object('session_id', 'visit ' || s.visit || ' of ' || s.visitor)
               WHEN 'width_as_text' THEN s.clean || jsonb_build_object('screen_width', s.screen_width::text)
               ELSE s.clean
           END AS payload,
           s.stream = 'direct' AND s.n % 2 = 0 AND s.r_retry < 0.06 AS retry
      FROM shaped AS s
)
SELECT n,
       CASE WHEN stream = 'direct' THEN 'single' ELSE 'batch' END AS channel,
       retry,
       CASE WHEN retry THEN lag(visitor) OVER w ELSE visitor END AS visitor,
       CASE WHEN retry THEN lag(visit) OVER w ELSE visit END AS visit,
       CASE WHEN retry THEN lag(broken) OVER w ELSE broken END AS broken,
       CASE WHEN retry THEN lag(at) OVER w ELSE at END AS at,
       CASE WHEN retry THEN lag(client_ip) OVER w ELSE client_ip END AS client_ip,
       CASE WHEN retry THEN lag(user_agent) OVER w ELSE user_agent END AS user_agent,
       CASE WHEN retry THEN lag(payload) OVER w ELSE payload END AS payload
  FROM payloads
WINDOW w AS (ORDER BY n)
 ORDER BY n;
ALTER TABLE demo.events ADD PRIMARY KEY (n);
-- Every number must be sent: the visitors must have made enough events for both streams.
SELECT count(*) FILTER (WHERE channel = 'single') = :single_events
       AND count(*) FILTER (WHERE channel = 'batch') = :batch_events AS enough_events
  FROM demo.events \gset
\if :enough_events
\else
DO $$BEGIN RAISE EXCEPTION 'the visitors made too few events for the single calls and the batches; raise visitors'; END$$;
\endif
-- How each event is sent: the browsers' through the tracking API, one call per event; those of
-- the broken trackers whose payload the API's typed parameters cannot even express (eventType or
-- pageUrl instead of event_type or page_url, an epoch number as timestamp, screen_width as text:
-- old snippets posting their own JSON) through the raw endpoint raw.ingest_tracking_event, one
-- call per event too; the collector's in batches.
ALTER TABLE demo.events ADD COLUMN endpoint text GENERATED ALWAYS AS (
    CASE WHEN channel = 'batch' THEN 'batch'
         WHEN broken IN ('eventType', 'pageUrl', 'epoch_timestamp', 'width_as_text') THEN 'raw'
         ELSE 'api' END) STORED;


-- What each kind of broken tracker does, for the report.
CREATE TABLE demo.breakages (broken text PRIMARY KEY, what text);
INSERT INTO demo.breakages VALUES
 ('eventType', 'camelCase snippet: sends eventType instead of event_type'),
 ('pageUrl', 'SPA plugin: sends pageUrl instead of page_url'),
 ('ftp_url', 'download tracker: reports the ftp:// file as the page'),
 ('ip_host', 'a staging server (http://10.20.0.15:8080) with the live snippet'),
 ('custom_unnamed', 'custom event without event_name'),
 ('month_old', 'device clock a month behind'),
 ('epoch_timestamp', 'timestamp as epoch milliseconds (a number)'),
 ('nested_property', 'A/B test tool: properties.experiment is an object'),
 ('spaced_session_id', 'session_id with spaces ("visit 12 of 345")'),
 ('width_as_text', 'screen_width as a string ("1920")');

-- The page path an API caller passes: the page URL without https://example.com (keeping its
-- query string, with the campaign tags); a page that is not on the site (a broken tracker's) as
-- it is, so validation sees it.
CREATE FUNCTION demo.api_page_path(page_url text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN page_url LIKE 'https://example.com/%' THEN substr(page_url, length('https://example.com') + 1)
                ELSE page_url END
$$;

-- Sends an event's payload through the tracking API as the site's tracking endpoint makes the
-- call for a browser: custom events through api.track_custom_event, the rest through
-- api.track_page_view, every field of the payload in its parameter. Returns the answer.
CREATE FUNCTION demo.track(p_payload jsonb, p_api_key text, p_site text, p_user_agent text, p_client_ip inet)
RETURNS jsonb
LANGUAGE sql AS $$
    SELECT CASE WHEN p_payload ->> 'event_type' = 'custom'
                THEN api.track_custom_event(
                         p_api_key, p_site, p_payload ->> 'event_name',
                         p_payload -> 'properties', demo.api_page_path(p_payload ->> 'page_url'),
                         p_user_agent, p_client_ip, p_payload ->> 'referrer', p_payload ->> 'page_title',
                         p_payload ->> 'session_id', p_payload ->> 'event_id',
                         (p_payload ->> 'timestamp')::timestamptz)
                ELSE api.track_page_view(
                         p_api_key, p_site,
                         demo.api_page_path(p_payload ->> 'page_url'), p_user_agent, p_client_ip,
                         p_payload ->> 'referrer', p_payload ->> 'page_title', p_payload ->> 'session_id',
                         p_payload ->> 'event_id', (p_payload ->> 'timestamp')::timestamptz,
                         p_payload -> 'properties')
           END
$$;
