-- bench/scale_setup.sql, "reports at scale": the stage's vocabulary and helpers (schema bench,
-- after bench/setup.sql), loaded once per run by bench/run.sh before bench/scale_load.sql.
--   bench.scale_agents, scale_pages, scale_sources   what the visitors run, view and come from
--   bench.scale_rows         the generated events as the tracking API stores them (raw rows), by part
--   bench.scale_land(part)   lands a part (NULL: all) in raw.site_tracking_events_r, PENDING
--   bench.scale_process()    processes everything pending with staging.process_pending_events(1000),
--                            one transaction per batch (a procedure: CALL it outside a transaction)
--   bench.scale_close()      closes every finished rollup bucket (what the workers do between batches)
--   bench.time_report(...)   the median time of a report call (bench/scale_reports.sql)
-- psql variables: tenant_hk, api_key_hk ('\x...' of the stage's own tenant and key), site.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

INSERT INTO bench.config VALUES ('scale_tenant_hk', :'tenant_hk'), ('scale_api_key_hk', :'api_key_hk'),
                                ('scale_site', :'site');

-- A uniform number in [0, 1) from a text: per-visitor choices that stay the same on every visit.
CREATE FUNCTION bench.unit(p_seed text) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ('x' || substr(md5(p_seed), 1, 8))::bit(32)::bigint / 4294967296.0
$$;

-- User agents and their share of visitors (percent); the last five are bots (about 3%), which the
-- reports leave out by default, as a site's real traffic has them.
CREATE TABLE bench.scale_agents (agent int PRIMARY KEY, weight float8 NOT NULL, user_agent text NOT NULL, upto float8);
INSERT INTO bench.scale_agents (agent, weight, user_agent) VALUES
 (1, 24, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'),
 (2,  9, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0'),
 (3,  4, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0'),
 (4,  2, 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'),
 (5,  8, 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15'),
 (6,  5, 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'),
 (7, 16, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Mobile/15E148 Safari/604.1'),
 (8,  3, 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1'),
 (9, 10, 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36'),
 (10, 3, 'Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36'),
 (11, 4, 'Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1'),
 (12, 2, 'Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'),
 (13, 1.5, 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'),
 (14, 0.5, 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)'),
 (15, 0.3, 'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)'),
 (16, 0.4, 'python-requests/2.32.3'),
 (17, 0.3, 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36');
-- upto: the cumulative share, so a uniform draw u picks the first agent with u < upto.
UPDATE bench.scale_agents AS a SET upto = c.upto
  FROM (SELECT agent, sum(weight) OVER (ORDER BY agent) / sum(weight) OVER () AS upto FROM bench.scale_agents) AS c
 WHERE c.agent = a.agent;

-- 46 pages, Zipf-like: a page's weight is 1 / its rank, the home page first; landing and browsing
-- draw from the same weights. Some pages have a custom event (event) a visitor may trigger.
CREATE TABLE bench.scale_pages (page int PRIMARY KEY, path text NOT NULL, title text NOT NULL, event text, upto float8);
INSERT INTO bench.scale_pages (page, path, title, event)
SELECT row_number() OVER (), p.path, initcap(replace(btrim(p.path, '/'), '-', ' ')) || ' | Shop', p.event
  FROM (VALUES ('/', 'video_play'), ('/pricing', 'signup_click'), ('/features', 'video_play'), ('/signup', 'form_submit'),
               ('/blog', NULL), ('/docs', NULL), ('/login', NULL), ('/docs/getting-started', 'outbound_click'),
               ('/about', NULL), ('/contact', 'form_submit'), ('/changelog', NULL), ('/integrations', NULL),
               ('/customers', NULL), ('/security', 'file_download'), ('/careers', NULL)) AS p (path, event)
UNION ALL
SELECT 15 + k, '/blog/post-' || k, 'Post ' || k || ' | Shop Blog', CASE WHEN k % 3 = 0 THEN 'file_download' ELSE 'newsletter_subscribe' END
  FROM generate_series(1, 18) AS k
UNION ALL
SELECT 33 + k, '/docs/guide-' || k, 'Guide ' || k || ' | Shop Docs', 'outbound_click'
  FROM generate_series(1, 13) AS k;
UPDATE bench.scale_pages AS p SET upto = c.upto
  FROM (SELECT page, sum(1.0 / page) OVER (ORDER BY page) / sum(1.0 / page) OVER () AS upto FROM bench.scale_pages) AS c
 WHERE c.page = p.page;

-- Where a visit comes from: its first page view's referrer and the campaign tags of its link.
CREATE TABLE bench.scale_sources (source int PRIMARY KEY, weight float8 NOT NULL, referrer text, tags text, upto float8);
INSERT INTO bench.scale_sources (source, weight, referrer, tags) VALUES
 (1, 30, NULL, NULL),
 (2, 22, 'https://www.google.com/', NULL),
 (3,  4, 'https://www.bing.com/', NULL),
 (4,  3, 'https://duckduckgo.com/', NULL),
 (5,  3, 'https://t.co/', NULL),
 (6,  3, 'https://l.facebook.com/', 'fbclid=IwAR0x'),
 (7,  3, 'https://www.linkedin.com/', NULL),
 (8,  2, 'https://www.reddit.com/r/webdev/', NULL),
 (9,  2, 'https://news.ycombinator.com/', NULL),
 (10, 4, NULL, 'utm_source=newsletter&utm_medium=email&utm_campaign=monthly_digest'),
 (11, 5, 'https://www.google.com/', 'utm_source=google&utm_medium=cpc&utm_campaign=brand_search&gclid=Cj0KCQiA'),
 (12, 2, 'https://www.bing.com/', 'utm_source=bing&utm_medium=cpc&utm_campaign=brand_search'),
 (13, 2, 'https://www.linkedin.com/', 'utm_source=linkedin&utm_medium=social&utm_campaign=launch_week'),
 (14, 3, 'https://dev.to/shop/why-we-built-it-4k2p', NULL),
 (15, 2, 'https://github.com/shop/shop', NULL),
 (16, 1, 'https://www.producthunt.com/products/shop', 'ref=producthunt');
UPDATE bench.scale_sources AS s SET upto = c.upto
  FROM (SELECT source, sum(weight) OVER (ORDER BY source) / sum(weight) OVER () AS upto FROM bench.scale_sources) AS c
 WHERE c.source = s.source;

-- The generated events, numbered n in the order they arrive, each a raw row as the tracking API
-- lands it (api.track_page_view / api.track_custom_event: the payload with page_url built from
-- the site and path, the anonymised client address, the user agent, the visitor hashes under the
-- day's and the previous day's salt, the event id as idempotency key, no batch), in part
-- visit % parts (bench/scale_load.sql).
CREATE TABLE bench.scale_rows (
    n bigint PRIMARY KEY,
    part int NOT NULL,
    received_at timestamptz NOT NULL,
    client_ip inet,
    user_agent text,
    visitor_hash bytea,
    visitor_hash_previous bytea,
    raw_payload jsonb NOT NULL,
    client_event_id text NOT NULL
);

-- Lands part p_part of bench.scale_rows (NULL: every part) as PENDING raw rows, in arrival
-- order; answers how many.
CREATE FUNCTION bench.scale_land(p_part int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_tenant bytea := decode(substr((SELECT value FROM bench.config WHERE name = 'scale_tenant_hk'), 3), 'hex');
    v_key bytea := decode(substr((SELECT value FROM bench.config WHERE name = 'scale_api_key_hk'), 3), 'hex');
    v_landed bigint;
BEGIN
    INSERT INTO raw.site_tracking_events_r (tenant_hk, api_key_hk, received_at, client_ip, user_agent, visitor_hash,
                                            visitor_hash_previous, raw_payload, client_event_id, record_source)
    SELECT v_tenant, v_key, s.received_at, s.client_ip, s.user_agent, s.visitor_hash, s.visitor_hash_previous,
           s.raw_payload, s.client_event_id, util.get_record_source()
      FROM bench.scale_rows AS s
     WHERE p_part IS NULL OR s.part = p_part
     ORDER BY s.n;
    GET DIAGNOSTICS v_landed = ROW_COUNT;
    RETURN v_landed;
END
$$;

-- Everything pending through the pipeline, as process_sql does: staging.process_pending_events(1000)
-- (staging, the vault load and, unless onevault_tracking.rollup_upkeep is off, the rollups' upkeep
-- in the same transaction), one commit per batch; every event must be staged VALID.
CREATE PROCEDURE bench.scale_process() LANGUAGE plpgsql AS $$
DECLARE
    v_answer jsonb;
BEGIN
    LOOP
        v_answer := staging.process_pending_events(1000);
        EXIT WHEN (v_answer ->> 'claimed')::int = 0;
        IF (v_answer ->> 'valid')::int <> (v_answer ->> 'claimed')::int THEN
            RAISE EXCEPTION 'benchmark check failed: processing did not stage every event VALID: %', v_answer;
        END IF;
        COMMIT;
    END LOOP;
END
$$;

-- Closes every finished rollup bucket (counts its visitors), 100 per transaction as a worker
-- does between batches; answers how many.
CREATE PROCEDURE bench.scale_close(INOUT closed bigint DEFAULT 0) LANGUAGE plpgsql AS $$
DECLARE
    v_batch int;
BEGIN
    closed := 0;
    LOOP
        v_batch := onevault_tracking.close_rollup_buckets(100);
        EXIT WHEN v_batch = 0;
        closed := closed + v_batch;
        COMMIT;
    END LOOP;
END
$$;

-- Per report, range, data size and source: the median time of its calls (bench/scale_reports.sql).
CREATE TABLE bench.report_times (
    ord serial,
    size text NOT NULL,          -- '100k' or '1m' (the events the stage loaded at that point)
    events bigint NOT NULL,
    report text NOT NULL,
    range text NOT NULL,         -- '30d' or '1d'
    source text NOT NULL,        -- 'rollups' or 'vault' (onevault_tracking.report_source)
    median_ms numeric NOT NULL,
    runs int NOT NULL,
    same_answer boolean,         -- (vault rows) whether the vault's answer equals the rollups'
    PRIMARY KEY (size, report, range, source)
);

-- Times SELECT p_call with onevault_tracking.report_source = p_source: one untimed call first
-- (plans and caches warm), then timed calls until p_runs were made or the calls (the untimed one
-- included) took p_budget_s seconds, at least one: a direct report over a million events takes
-- seconds, and it is the slow side of every ratio. Answers the median in milliseconds, the calls
-- timed, and the answer.
CREATE FUNCTION bench.time_report(p_call text, p_source text, p_runs int, p_budget_s numeric,
                                  OUT median_ms numeric, OUT runs int, OUT answer jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_times numeric[] := '{}';
    v_start timestamptz;
    v_t0 timestamptz;
BEGIN
    PERFORM set_config('onevault_tracking.report_source', p_source, true);
    v_start := clock_timestamp();
    EXECUTE 'SELECT ' || p_call INTO answer;
    LOOP
        v_t0 := clock_timestamp();
        EXECUTE 'SELECT ' || p_call INTO answer;
        v_times := v_times || extract(epoch FROM clock_timestamp() - v_t0) * 1000;
        EXIT WHEN cardinality(v_times) >= p_runs OR clock_timestamp() - v_start >= make_interval(secs => p_budget_s);
    END LOOP;
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY t) INTO median_ms FROM unnest(v_times) AS t;
    runs := cardinality(v_times);
    PERFORM set_config('onevault_tracking.report_source', 'rollups', true);
END
$$;
