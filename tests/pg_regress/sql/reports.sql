-- Reports (sql/reports.sql): site_stats, site_breakdown and site_timeseries over a small fixed
-- data set, every number checked against the hand count written next to it.
-- shared_schemas drops the extension; bring it back if it is gone.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS onevault_tracking;
RESET client_min_messages;

SELECT util.hash_binary('Reports Corp A_2025-03-01') AS ta, util.hash_binary('Reports Corp B_2025-03-01') AS tb \gset
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source) VALUES
    (:'ta', 'Reports Corp A_2025-03-01', 'regress'),
    (:'tb', 'Reports Corp B_2025-03-01', 'regress');
SELECT encode(:'ta'::bytea, 'hex') AS ta_hex, encode(:'tb'::bytea, 'hex') AS tb_hex \gset

-- Tenant A: example.com in Berlin time (registered as "www.Example.com": the same site) and
-- ny.example.net in New York time. Tenant B: its own example.com, and other.org.
SELECT api.register_site(:'ta', 'www.Example.com', 'Example', p_timezone := 'Europe/Berlin') ->> 'site_domain' AS a_site;
SELECT api.register_site(:'ta', 'ny.example.net', 'NY', p_timezone := 'America/New_York') ->> 'site_domain' AS a_site;
SELECT api.register_site(:'tb', 'example.com', 'B''s example') ->> 'site_domain' AS b_site;
SELECT api.register_site(:'tb', 'other.org', 'Other') ->> 'site_domain' AS b_site;

-- The events, one batch per visitor (a visitor is site host + client IP + user agent under the
-- day's salt, so one batch is one visitor hash whatever the clock), with explicit sessions.
-- The reports count a visitor once per UTC day of its events (sql/reports.sql: a real visitor's
-- hash changes with the salt at UTC midnight, so days are where visitors add up exactly): V2,
-- on 03-29 and 03-30, is two visitors over the two days.
-- Times are UTC; Berlin is UTC+1 until 2025-03-30 01:00 UTC and UTC+2 after it.
--
--  visitor (browser, os, device)   session  time (UTC)            event                    referrer / campaign
--  V1 Chrome, Windows, desktop     s1       2025-03-29 10:00:00   page_view /              google.com (search)
--                                  s1       2025-03-29 10:02:00   page_view /pricing       (internal)
--                                  s1       2025-03-29 10:03:00   custom signup plan=pro
--                                  s1       2025-03-29 10:05:00   page_view /signup        (internal)
--                                  s2       2025-03-29 23:30:00   page_view /pricing       direct (local: 03-30 00:30)
--  V2 Mobile Safari, iOS, mobile   s0       2025-03-29 00:00:00   page_view /about         direct (= p_from)
--                                  s3       2025-03-30 00:50:00   page_view /              utm newsletter/email/spring
--                                  s3       2025-03-30 01:05:00   page_view /blog          (internal; local 03:05 CEST)
--                                  s3       2025-03-30 01:06:00   custom download file=a.pdf
--  V3 Firefox, Linux, desktop      s4       2025-03-30 08:00:00   page_view /blog          news.ycombinator.com (social)
--                                  s4       2025-03-30 08:00:30   custom signup plan=free
--                                  s6       2025-03-31 00:00:00   page_view /about         direct (= p_to: outside)
--  BOT Googlebot                   s5       2025-03-30 09:00:00   page_view /
--                                  s5       2025-03-30 09:00:10   page_view /pricing
-- ny.example.net (New York; EDT -4 until 2025-11-02 06:00 UTC, EST -5 after):
--  V1                              ny1      2025-11-02 05:30:00   page_view /              (01:30 EDT)
--                                  ny1      2025-11-02 06:30:00   page_view /menu          (01:30 EST)
--                                  ny1      2025-11-02 07:10:00   page_view /menu          (02:10 EST)
-- Tenant B: example.com /secret and other.org / at 2025-03-29 12:00:00, from V4.
CREATE FUNCTION pg_temp.ingest(tenant bytea, ip inet, ua text, events jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT raw.batch_ingest_tracking_events(tenant, NULL, ip, ua, events) ->> 'accepted'
$$;
SELECT pg_temp.ingest(:'ta', '198.51.100.10',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36', '[
  {"event_type": "page_view", "page_url": "https://example.com/", "referrer": "https://www.google.com/",
   "session_id": "s1", "timestamp": "2025-03-29T10:00:00Z", "event_id": "rep-s1-1"},
  {"event_type": "page_view", "page_url": "https://example.com/pricing", "referrer": "https://example.com/",
   "session_id": "s1", "timestamp": "2025-03-29T10:02:00Z", "event_id": "rep-s1-2"},
  {"event_type": "custom", "event_name": "signup", "page_url": "https://example.com/pricing", "properties": {"plan": "pro"},
   "session_id": "s1", "timestamp": "2025-03-29T10:03:00Z", "event_id": "rep-s1-3"},
  {"event_type": "page_view", "page_url": "https://example.com/signup", "referrer": "https://example.com/pricing",
   "session_id": "s1", "timestamp": "2025-03-29T10:05:00Z", "event_id": "rep-s1-4"},
  {"event_type": "page_view", "page_url": "https://example.com/pricing",
   "session_id": "s2", "timestamp": "2025-03-29T23:30:00Z", "event_id": "rep-s2-1"},
  {"event_type": "page_view", "page_url": "https://ny.example.net/",
   "session_id": "ny1", "timestamp": "2025-11-02T05:30:00Z", "event_id": "rep-ny1-1"},
  {"event_type": "page_view", "page_url": "https://ny.example.net/menu", "referrer": "https://ny.example.net/",
   "session_id": "ny1", "timestamp": "2025-11-02T06:30:00Z", "event_id": "rep-ny1-2"},
  {"event_type": "page_view", "page_url": "https://ny.example.net/menu", "referrer": "https://ny.example.net/menu",
   "session_id": "ny1", "timestamp": "2025-11-02T07:10:00Z", "event_id": "rep-ny1-3"}]') AS v1_accepted;
SELECT pg_temp.ingest(:'ta', '198.51.100.20',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1', '[
  {"event_type": "page_view", "page_url": "https://example.com/about",
   "session_id": "s0", "timestamp": "2025-03-29T00:00:00Z", "event_id": "rep-s0-1"},
  {"event_type": "page_view", "page_url": "https://example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
   "session_id": "s3", "timestamp": "2025-03-30T00:50:00Z", "event_id": "rep-s3-1"},
  {"event_type": "page_view", "page_url": "https://example.com/blog", "referrer": "https://example.com/",
   "session_id": "s3", "timestamp": "2025-03-30T01:05:00Z", "event_id": "rep-s3-2"},
  {"event_type": "custom", "event_name": "download", "page_url": "https://example.com/blog", "properties": {"file": "a.pdf"},
   "session_id": "s3", "timestamp": "2025-03-30T01:06:00Z", "event_id": "rep-s3-3"}]') AS v2_accepted;
SELECT pg_temp.ingest(:'ta', '198.51.100.30',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0', '[
  {"event_type": "page_view", "page_url": "https://example.com/blog", "referrer": "https://news.ycombinator.com/item?id=1",
   "session_id": "s4", "timestamp": "2025-03-30T08:00:00Z", "event_id": "rep-s4-1"},
  {"event_type": "custom", "event_name": "signup", "page_url": "https://example.com/blog", "properties": {"plan": "free"},
   "session_id": "s4", "timestamp": "2025-03-30T08:00:30Z", "event_id": "rep-s4-2"},
  {"event_type": "page_view", "page_url": "https://example.com/about",
   "session_id": "s6", "timestamp": "2025-03-31T00:00:00Z", "event_id": "rep-s6-1"}]') AS v3_accepted;
SELECT pg_temp.ingest(:'ta', '66.249.66.1',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', '[
  {"event_type": "page_view", "page_url": "https://example.com/",
   "session_id": "s5", "timestamp": "2025-03-30T09:00:00Z", "event_id": "rep-s5-1"},
  {"event_type": "page_view", "page_url": "https://example.com/pricing", "referrer": "https://example.com/",
   "session_id": "s5", "timestamp": "2025-03-30T09:00:10Z", "event_id": "rep-s5-2"}]') AS bot_accepted;
SELECT pg_temp.ingest(:'tb', '198.51.100.40',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36', '[
  {"event_type": "page_view", "page_url": "https://example.com/secret",
   "session_id": "b1", "timestamp": "2025-03-29T12:00:00Z", "event_id": "rep-b1-1"},
  {"event_type": "page_view", "page_url": "https://other.org/",
   "session_id": "b2", "timestamp": "2025-03-29T12:00:00Z", "event_id": "rep-b2-1"}]') AS b_accepted;

-- Timestamps more than 7 days before receipt are invalid: the fixture says these events were
-- received a minute after they happened. Then raw -> staging -> vault, as a drain would.
UPDATE raw.site_tracking_events_r
   SET received_at = (raw_payload ->> 'timestamp')::timestamptz + interval '1 minute'
 WHERE tenant_hk IN (:'ta', :'tb') AND processing_status = 'PENDING';
SELECT staging.process_pending_events(1000) IS NOT NULL AS drained;
SELECT business.load_staged_events(1000) IS NOT NULL AS loaded;
SELECT s.validation_status, s.loaded_to_vault, count(*)
  FROM staging.site_tracking_events_s s WHERE s.tenant_hk IN (:'ta', :'tb') GROUP BY 1, 2;
SELECT count(*) AS tenant_a_events_in_vault FROM business.tracking_event_l WHERE tenant_hk = :'ta';

-- Without a tenant, no report (42501), and with an empty setting neither.
CREATE FUNCTION pg_temp.attempt(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    hint text;
BEGIN
    EXECUTE statement;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ' ' || SQLERRM || E'\n      hint: ' || hint;
END $$;
RESET onevault_tracking.tenant_id;
SELECT pg_temp.attempt($$SELECT api.site_stats('example.com', '2025-03-29Z', '2025-03-31Z')$$) AS no_tenant;
SET onevault_tracking.tenant_id = '';
SELECT pg_temp.attempt($$SELECT api.site_breakdown('example.com', 'page', '2025-03-29Z', '2025-03-31Z')$$) AS empty_tenant;
SELECT pg_temp.attempt($$SELECT api.site_timeseries('example.com', '2025-03-29Z', '2025-03-31Z')$$) AS empty_tenant;

SET onevault_tracking.tenant_id = :'ta_hex';

-- Totals over [2025-03-29 00:00Z, 2025-03-31 00:00Z), bots excluded: s0 s1 s2 s3 s4 (s6 starts
-- at p_to, s5 is the bot).
--   visitors 4 (03-29: V1 V2; 03-30: V2 V3); visits 5; pageviews s0 1 + s1 3 + s2 1 + s3 2 + s4 1 = 8;
--   events 8 + 3 custom = 11; views_per_visit 8/5 = 1.60;
--   bounce_rate: one page view in s0, s2, s4 = 3/5 = 60;
--   visit_duration: s0 0 + s1 300 + s2 0 + s3 960 (00:50 -> 01:06) + s4 30 = 1290 / 5 = 258;
--   custom_events: signup 2 (s1, s4), download 1.
SELECT jsonb_pretty(api.site_stats('www.EXAMPLE.com.', '2025-03-29T00:00:00Z', '2025-03-31T00:00:00Z')) AS stats;
-- With the bot: + V4, + s5 (2 page views over 10 s): visitors 5, visits 6, pageviews 10,
--   events 13, views_per_visit 10/6 = 1.67, bounce_rate 3/6 = 50, visit_duration 1300/6 = 216.67 -> 217.
SELECT s ->> 'visitors' AS visitors, s ->> 'visits' AS visits, s ->> 'pageviews' AS pageviews,
       s ->> 'events' AS events, s ->> 'views_per_visit' AS views_per_visit,
       s ->> 'bounce_rate' AS bounce_rate, s ->> 'visit_duration' AS visit_duration
  FROM api.site_stats('example.com', '2025-03-29T00:00:00Z', '2025-03-31T00:00:00Z', true) AS s;
-- The range's edges: p_from is in, p_to is out. From 2025-03-29 00:00:00.000001 s0 is gone
-- (visitors 3: V2 on 03-29 only had s0; visits 4, pageviews 7); to 2025-03-31 00:00:00.000001
-- adds s6 (V3 on 03-31: visitors 5, visits 6, pageviews 9, bounce_rate 4/6 = 67).
SELECT s ->> 'visitors' AS visitors, s ->> 'visits' AS visits, s ->> 'pageviews' AS pageviews
  FROM api.site_stats('example.com', '2025-03-29T00:00:00.000001Z', '2025-03-31T00:00:00Z') AS s;
SELECT s ->> 'visitors' AS visitors, s ->> 'visits' AS visits, s ->> 'pageviews' AS pageviews,
       s ->> 'bounce_rate' AS bounce_rate
  FROM api.site_stats('example.com', '2025-03-29T00:00:00Z', '2025-03-31T00:00:00.000001Z') AS s;
-- All time (infinite bounds): s6 is in too: visitors 5, visits 6, pageviews 9.
SELECT s ->> 'visitors' AS visitors, s ->> 'visits' AS visits, s ->> 'pageviews' AS pageviews, s ->> 'from' AS "from"
  FROM api.site_stats('example.com', '-infinity', 'infinity') AS s;
-- A range with nothing in it: zeros, not NULLs.
SELECT api.site_stats('example.com', '2024-01-01Z', '2024-01-02Z') - 'from' - 'to' AS empty_range;

-- Breakdowns, same range, bots excluded. Order: visitors, visits, pageviews/events (desc), value.
CREATE FUNCTION pg_temp.rows(dimension text, lim integer DEFAULT 10, bots boolean DEFAULT false)
RETURNS TABLE (value text, visitors int, visits int, n int)
LANGUAGE sql AS $$
    SELECT r ->> 'value', (r ->> 'visitors')::int, (r ->> 'visits')::int,
           coalesce(r ->> 'pageviews', r ->> 'events')::int
      FROM jsonb_array_elements(api.site_breakdown('example.com', dimension,
               '2025-03-29T00:00:00Z', '2025-03-31T00:00:00Z', lim, bots)) AS r
$$;
-- page (page views only): / s1 s3 (V1 V2) 2 views; /blog s3 s4 (V2 V3) 2; /pricing s1 s2
-- (V1) 2; /about s0 (V2) 1; /signup s1 (V1) 1.
SELECT * FROM pg_temp.rows('page');
-- The JSON shape of one row, and the limit.
SELECT api.site_breakdown('example.com', 'page', '2025-03-29Z', '2025-03-31Z', 2) AS top_two_pages;
-- entry_page: s0 /about, s1 /, s2 /pricing, s3 /, s4 /blog; pageviews are the visits' page views:
-- / = s1 3 + s3 2 = 5 (V1 V2).
SELECT * FROM pg_temp.rows('entry_page');
-- exit_page: s0 /about, s1 /signup (3 views), s2 /pricing, s3 /blog, s4 /blog (the custom event
-- after it is not a page): /blog = s3 2 + s4 1 = 3 (V2 V3).
SELECT * FROM pg_temp.rows('exit_page');
-- referrer (the visit's first event): direct s0 s2 s3 (V1, V2 on two days; 1 + 1 + 2 views), google.com s1,
-- news.ycombinator.com s4; the internal referrers of later page views do not count.
SELECT * FROM pg_temp.rows('referrer');
-- channel: direct s0 s2 (V2 V1, 2 views), search s1 (3), email s3 (2), social s4 (1).
SELECT * FROM pg_temp.rows('channel');
-- utm_*: only s3 has a campaign (V2, 2 views); the others (s0 s1 s2 s4: V1 V2 V3, 6 views) none.
SELECT * FROM pg_temp.rows('utm_source');
SELECT * FROM pg_temp.rows('utm_medium');
SELECT * FROM pg_temp.rows('utm_campaign');
-- browser / os / device: V1 s1 s2 (4 views), V2 s0 s3 (3; two visitors, one per day), V3 s4 (1);
-- desktop = V1 + V3.
SELECT * FROM pg_temp.rows('browser');
SELECT * FROM pg_temp.rows('os');
SELECT * FROM pg_temp.rows('device');
-- With the bot: Googlebot's visit s5 (2 views) and its device "bot".
SELECT * FROM pg_temp.rows('browser', 10, true);
SELECT * FROM pg_temp.rows('device', 10, true);
-- event_name (custom events): signup s1 s4 (V1 V3), download s3 (V2).
SELECT * FROM pg_temp.rows('event_name');
-- property:plan: free (s4), pro (s1); property:file: a.pdf (s3). A property's breakdown counts
-- only the events that have it (no empty group for the others, nor for a key no event has).
SELECT * FROM pg_temp.rows('property:plan');
SELECT * FROM pg_temp.rows('property:file');
SELECT * FROM pg_temp.rows('property:none_has_this', 1);

-- Time series by day in Berlin time: [03-29 00:00Z, 03-31 00:00Z) is 03-29 01:00 CET to
-- 03-31 02:00 CEST, so three local days, the last one empty but present. s2 (23:30 UTC on the
-- 29th) is on the 30th in Berlin.
--   03-29: s0 s1 -> visitors 2, visits 2, pageviews 1 + 3 = 4
--   03-30: s2 s3 s4 -> visitors 3, visits 3, pageviews 1 + 2 + 1 = 4 (a 23-hour day: starts 23:00Z, next 22:00Z)
--   03-31: zeros
SELECT b ->> 'bucket' AS bucket, b ->> 'start' AS start, (b ->> 'visitors')::int AS visitors,
       (b ->> 'visits')::int AS visits, (b ->> 'pageviews')::int AS pageviews
  FROM jsonb_array_elements(api.site_timeseries('example.com', '2025-03-29T00:00:00Z', '2025-03-31T00:00:00Z')) AS b;
-- Hours across the spring gap, [03-29 23:00Z, 03-30 02:00Z) = 00:00 CET to 04:00 CEST: no 02:00.
--   00:00+01 s2 (1 visitor, 1 visit, 1 view); 01:00+01 s3 starts (1, 1, 1);
--   03:00+02 s3 goes on (1 visitor, 0 visits: it started an hour earlier, 1 view).
SELECT b ->> 'bucket' AS bucket, b ->> 'start' AS start, (b ->> 'visitors')::int AS visitors,
       (b ->> 'visits')::int AS visits, (b ->> 'pageviews')::int AS pageviews
  FROM jsonb_array_elements(api.site_timeseries('example.com', '2025-03-29T23:00:00Z', '2025-03-30T02:00:00Z', 'hour')) AS b;
-- With the bot, the 30th gains V4 and s5: visitors 4, visits 4, pageviews 6.
SELECT b ->> 'bucket' AS bucket, (b ->> 'visitors')::int AS visitors, (b ->> 'visits')::int AS visits,
       (b ->> 'pageviews')::int AS pageviews
  FROM jsonb_array_elements(api.site_timeseries('example.com', '2025-03-29T00:00:00Z', '2025-03-31T00:00:00Z', 'day', true)) AS b;
-- New York's autumn night has two 01:00 hours: [11-02 04:00Z, 08:00Z) is 00:00 EDT to 03:00 EST.
--   00:00-04 nothing; 01:00-04 ny1 starts (1, 1, 1); 01:00-05 (1, 0, 1); 02:00-05 (1, 0, 1).
SELECT b ->> 'bucket' AS bucket, b ->> 'start' AS start, (b ->> 'visitors')::int AS visitors,
       (b ->> 'visits')::int AS visits, (b ->> 'pageviews')::int AS pageviews
  FROM jsonb_array_elements(api.site_timeseries('ny.example.net', '2025-11-02T04:00:00Z', '2025-11-02T08:00:00Z', 'hour')) AS b;
-- ... and that day has 25 hours: local 11-01 00:00 EDT to 11-03 00:00 EST is two buckets.
SELECT b ->> 'bucket' AS bucket, b ->> 'start' AS start, (b ->> 'visitors')::int AS visitors,
       (b ->> 'visits')::int AS visits, (b ->> 'pageviews')::int AS pageviews
  FROM jsonb_array_elements(api.site_timeseries('ny.example.net', '2025-11-01T04:00:00Z', '2025-11-03T05:00:00Z')) AS b;
-- The buckets' visits add up to site_stats' visits.
SELECT (SELECT sum((b ->> 'visits')::int)
          FROM jsonb_array_elements(api.site_timeseries('example.com', '2025-03-29Z', '2025-03-31Z', 'hour')) AS b)
       = (api.site_stats('example.com', '2025-03-29Z', '2025-03-31Z') ->> 'visits')::int AS visits_add_up,
       jsonb_array_length(api.site_timeseries('example.com', '2025-03-29Z', '2025-03-31Z', 'hour')) AS hour_buckets;

-- Tenants: tenant A does not see tenant B's events on its own example.com, nor B's other.org
-- (reported exactly like a site that does not exist).
SELECT pg_temp.attempt($$SELECT api.site_stats('other.org', '2025-03-29Z', '2025-03-31Z')$$) AS other_tenants_site;
SELECT pg_temp.attempt($$SELECT api.site_stats('nowhere.example', '2025-03-29Z', '2025-03-31Z')$$) AS unknown_site;
SELECT count(*) AS secret_page_rows FROM pg_temp.rows('page', 1000) WHERE value = '/secret';
-- Tenant B sees exactly its own: one visitor, one page view of /secret.
SET onevault_tracking.tenant_id = :'tb_hex';
SELECT s ->> 'visitors' AS visitors, s ->> 'pageviews' AS pageviews,
       api.site_breakdown('example.com', 'page', '2025-03-29Z', '2025-03-31Z') -> 0 ->> 'value' AS page
  FROM api.site_stats('example.com', '2025-03-29Z', '2025-03-31Z') AS s;
SET onevault_tracking.tenant_id = :'ta_hex';

-- Bad arguments.
SELECT pg_temp.attempt(statement) AS answer
  FROM unnest(ARRAY[
    $$SELECT api.site_breakdown('example.com', 'pages', '2025-03-29Z', '2025-03-31Z')$$,
    $$SELECT api.site_breakdown('example.com', 'property:', '2025-03-29Z', '2025-03-31Z')$$,
    $$SELECT api.site_breakdown('example.com', 'page', '2025-03-29Z', '2025-03-31Z', 0)$$,
    $$SELECT api.site_breakdown('example.com', 'page', '2025-03-29Z', '2025-03-31Z', 1001)$$,
    $$SELECT api.site_breakdown('example.com', NULL, '2025-03-29Z', '2025-03-31Z')$$,
    $$SELECT api.site_stats('example.com', '2025-03-31Z', '2025-03-29Z')$$,
    $$SELECT api.site_stats('example.com', '2025-03-31Z', '2025-03-31Z')$$,
    $$SELECT api.site_stats(NULL, '2025-03-29Z', '2025-03-31Z')$$,
    $$SELECT api.site_timeseries('example.com', '2025-03-29Z', '2025-03-31Z', 'week')$$,
    $$SELECT api.site_timeseries('example.com', '2024-01-01Z', '2026-01-01Z', 'hour')$$,
    $$SELECT api.site_timeseries('example.com', '-infinity', '2025-03-31Z')$$
  ]) AS statement;
SELECT jsonb_array_length(api.site_breakdown('example.com', 'page', '2025-03-29Z', '2025-03-31Z', 1000)) AS limit_1000_ok;

RESET onevault_tracking.tenant_id;
