-- Report rollups (sql/rollups.sql, sql/reports.sql): every report from the rollups equals the same
-- report computed over the vault (tests/fixtures/report_check.sql), on ranges aligned to days,
-- to hours and to nothing, with filters, for a site in a zone with a DST change (Berlin,
-- 2025-10-26 01:00 UTC) and one offset by half an hour (Kolkata), with visits loaded in several
-- batches, visits spanning hours and days, late events that become their visit's first event,
-- replays, events without a visitor, and bots; before and after the buckets are closed, and
-- after late events open them again. Then: the reports really read the rollups, a rebuild gives
-- the rows the upkeep wrote, the comparison with the previous period, bad filters, retention.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS onevault_tracking;
RESET client_min_messages;
-- pg_regress names its input directory in PG_ABS_SRCDIR.
\getenv abs_srcdir PG_ABS_SRCDIR
\set report_check :abs_srcdir '/../fixtures/report_check.sql'
\set ECHO none
\i :report_check
\set ECHO all

SELECT util.hash_binary('Rollup Corp_2025-10-01') AS tr \gset
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source) VALUES (:'tr', 'Rollup Corp_2025-10-01', 'regress');
SELECT encode(:'tr'::bytea, 'hex') AS tr_hex \gset
SELECT api.register_site(:'tr', 'shop.example', 'Shop', p_timezone := 'Europe/Berlin') ->> 'site_domain' AS site;
SELECT api.register_site(:'tr', 'half.example', 'Half', p_timezone := 'Asia/Kolkata') ->> 'site_domain' AS site;

-- Visitor v (1..30) on shop.example (and v 1..6 on half.example too): two visits, the second 20
-- hours after the first, the first starting at 2025-10-25 20:00 UTC + 37 v minutes (so visits
-- run from Saturday evening to Monday morning, across midnights and the DST change), each of
-- 1 + v % 4 page views 9 minutes apart over five pages, entering from a search engine, a
-- social site, directly or from a newsletter campaign; every third visitor signs up (plan pro
-- or free). Visitors 7, 14, 21 and 28 send no session id (sessions are derived); visitor 30 is
-- Googlebot. pg_temp.visit_events(v, site, part) answers the events of part 1 (the first two of
-- each visit) or part 2 (the rest), loaded in separate batches.
CREATE FUNCTION pg_temp.visit_events(v int, site text, part int) RETURNS jsonb LANGUAGE sql AS $$
    SELECT coalesce(jsonb_agg(e ORDER BY at), '[]')
      FROM (SELECT s.at + make_interval(mins => 9 * i) AS at,
                   jsonb_strip_nulls(jsonb_build_object(
                       'event_type', 'page_view',
                       'page_url', 'https://' || site || (ARRAY['/', '/pricing', '/blog', '/about', '/signup'])[1 + (v + i + s.n) % 5]
                                   || CASE WHEN i = 0 AND v % 4 = 3 THEN '?utm_source=newsletter&utm_medium=email&utm_campaign=autumn' ELSE '' END,
                       'referrer', CASE WHEN i > 0 THEN 'https://' || site || '/'
                                        WHEN v % 4 = 0 THEN 'https://www.google.com/'
                                        WHEN v % 4 = 1 THEN 'https://twitter.com/' END,
                       'session_id', CASE WHEN v % 7 <> 0 THEN format('v%s-%s-%s', v, site, s.n) END,
                       'event_id', format('r-%s-%s-%s-%s', v, site, s.n, i),
                       'timestamp', to_char((s.at + make_interval(mins => 9 * i)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))) AS e
              FROM (SELECT n, timestamptz '2025-10-25 20:00Z' + make_interval(mins => 37 * v, hours => 20 * n) AS at
                      FROM generate_series(0, 1) AS n) AS s
             CROSS JOIN generate_series(0, v % 4) AS i
             WHERE (part = 1) = (i < 2)
            UNION ALL
            SELECT s.at + interval '4 minutes',
                   jsonb_build_object('event_type', 'custom', 'event_name', 'signup',
                                      'page_url', 'https://' || site || '/signup',
                                      'properties', jsonb_build_object('plan', CASE WHEN v % 2 = 0 THEN 'pro' ELSE 'free' END),
                                      'session_id', CASE WHEN v % 7 <> 0 THEN format('v%s-%s-%s', v, site, s.n) END,
                                      'event_id', format('r-%s-%s-%s-signup', v, site, s.n),
                                      'timestamp', to_char((s.at + interval '4 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
              FROM (SELECT n, timestamptz '2025-10-25 20:00Z' + make_interval(mins => 37 * v, hours => 20 * n) AS at
                      FROM generate_series(0, 1) AS n) AS s
             WHERE v % 3 = 0 AND part = 2) AS x
$$;
CREATE FUNCTION pg_temp.user_agent(v int) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN v = 30 THEN 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'
                ELSE (ARRAY['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
                            'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
                            'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
                            'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15'])[1 + v % 4] END
$$;
-- Ingests a batch (one visitor hash per batch: the day's salt), dates its receipt a minute after
-- its events (validation refuses events a week older than their receipt) and processes it.
CREATE FUNCTION pg_temp.load(ip inet, ua text, events jsonb) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    accepted int;
BEGIN
    accepted := (raw.batch_ingest_tracking_events(util.hash_binary('Rollup Corp_2025-10-01'), NULL, ip, ua, events) ->> 'accepted')::int;
    UPDATE raw.site_tracking_events_r
       SET received_at = (raw_payload ->> 'timestamp')::timestamptz + interval '1 minute'
     WHERE processing_status = 'PENDING';
    PERFORM staging.process_pending_events(1000);
    RETURN accepted;
END $$;

SELECT sum(pg_temp.load(('198.51.100.' || v)::inet, pg_temp.user_agent(v), pg_temp.visit_events(v, 'shop.example', 1))) AS part_1_shop,
       sum(pg_temp.load(('198.51.100.' || v)::inet, pg_temp.user_agent(v), pg_temp.visit_events(v, 'half.example', 1))) FILTER (WHERE v <= 6) AS part_1_half
  FROM generate_series(1, 30) AS v;
SELECT sum(pg_temp.load(('198.51.100.' || v)::inet, pg_temp.user_agent(v), pg_temp.visit_events(v, 'shop.example', 2))) AS part_2_shop,
       sum(pg_temp.load(('198.51.100.' || v)::inet, pg_temp.user_agent(v), pg_temp.visit_events(v, 'half.example', 2))) FILTER (WHERE v <= 6) AS part_2_half
  FROM generate_series(1, 30) AS v;
-- Events without a client IP: no visitor, no session; each stands for itself.
SELECT pg_temp.load(NULL, 'curl/8.5', '[
  {"event_type": "page_view", "page_url": "https://shop.example/pricing", "timestamp": "2025-10-26T00:30:00Z", "event_id": "r-anon-1"},
  {"event_type": "custom", "event_name": "download", "page_url": "https://shop.example/blog", "properties": {"file": "a.pdf"},
   "timestamp": "2025-10-26T12:00:00Z", "event_id": "r-anon-2"}]') AS anonymous_events;

SELECT count(*) AS events_in_vault,
       count(DISTINCT l.session_hk) AS visits,
       (SELECT count(*) FROM business.site_traffic_rollup WHERE tenant_hk = :'tr') > 0 AS rollups_written
  FROM business.tracking_event_l AS l WHERE l.tenant_hk = :'tr';

SET onevault_tracking.tenant_id = :'tr_hex';
-- The ranges and filters every check below runs: whole UTC days, a range aligned to nothing,
-- one hour, part of an hour; no filter, the page filter the rollups serve, and filters that
-- read the vault.
CREATE TEMP TABLE checks AS
SELECT site, r.range_from, r.range_to, f.filters
  FROM (VALUES ('shop.example'), ('half.example')) AS s (site),
       (VALUES (timestamptz '2025-10-25Z', timestamptz '2025-10-28Z'),
               ('2025-10-25 21:17:13.5Z', '2025-10-27 02:44:10Z'),
               ('2025-10-26 00:00Z', '2025-10-26 01:00Z'),
               ('2025-10-26 00:10Z', '2025-10-26 00:40Z')) AS r (range_from, range_to),
       (VALUES (jsonb '{}'), ('{"page": "/pricing"}'), ('{"channel": "search"}'),
               ('{"page": "/pricing", "channel": "search"}'), ('{"device": "mobile", "event_name": "signup"}'),
               ('{"referrer": null}'), ('{"property:plan": "pro"}')) AS f (filters);
CREATE FUNCTION pg_temp.mismatches() RETURNS TABLE (site text, range_from timestamptz, filters jsonb, report text, rollups jsonb, vault jsonb)
LANGUAGE sql AS $$
    SELECT c.site, c.range_from, c.filters, m.report, m.rollups, m.vault
      FROM checks AS c CROSS JOIN LATERAL pg_temp.report_mismatches(c.site, c.range_from, c.range_to, c.filters) AS m
$$;

-- 1. Open buckets (visitors from the vault): no report differs.
SELECT count(*) AS checks, (SELECT count(*) FROM pg_temp.mismatches()) AS mismatches FROM checks;
-- The check sees something: the totals over the three days are not empty.
SELECT s ->> 'visitors' AS visitors, s ->> 'visits' AS visits, s ->> 'pageviews' AS pageviews,
       s ->> 'events' AS events, s ->> 'bounce_rate' AS bounce_rate, s -> 'custom_events' AS custom_events
  FROM api.site_stats('shop.example', '2025-10-25Z', '2025-10-28Z') AS s;

-- 2. Closed buckets (visitors from the rollup rows): still none.
-- (It closes the finished buckets of every tenant, those of the tests before this one too; the
-- open ones are counted in a statement of their own, which sees the closing call's writes.)
SELECT onevault_tracking.close_rollup_buckets(10000) >= 53 AS closed_all_53;
SELECT count(*) AS still_open FROM business.site_traffic_bucket WHERE tenant_hk = :'tr' AND closed_at IS NULL;
SELECT count(*) AS checks, (SELECT count(*) FROM pg_temp.mismatches()) AS mismatches FROM checks;

-- 3. Late events: visitor 3's first visit gets an event 10 minutes before its first one, from
-- another referrer (the visit now starts earlier, in another hour, with another source), and
-- visitor 5's first event is sent again (a replay: nothing changes). The late event's buckets
-- are opened again.
SELECT pg_temp.load('198.51.100.3', pg_temp.user_agent(3), jsonb_build_array(
           jsonb_build_object('event_type', 'page_view', 'page_url', 'https://shop.example/about',
                              'referrer', 'https://duckduckgo.com/', 'session_id', 'v3-shop.example-0',
                              'event_id', 'r-late-3', 'timestamp', '2025-10-25T21:41:00Z'))) AS late_event,
       pg_temp.load('198.51.100.5', pg_temp.user_agent(5), jsonb_build_array(pg_temp.visit_events(5, 'shop.example', 1) -> 0)) AS replayed;
SELECT count(*) FILTER (WHERE closed_at IS NULL) AS reopened
  FROM business.site_traffic_bucket WHERE tenant_hk = :'tr';
SELECT count(*) AS checks, (SELECT count(*) FROM pg_temp.mismatches()) AS mismatches FROM checks;
SELECT onevault_tracking.close_rollup_buckets(10000) AS closed_again;
SELECT count(*) AS checks, (SELECT count(*) FROM pg_temp.mismatches()) AS mismatches FROM checks;

-- 4. The reports read the rollups: a day row changed by hand changes the answer from the
-- rollups, not the one from the vault.
UPDATE business.site_traffic_rollup SET pageviews = pageviews + 1000
 WHERE tenant_hk = :'tr' AND granularity = 'd' AND bucket = '2025-10-26Z' AND page_filter = '' AND dimension = '' AND NOT bots;
SELECT (SELECT (api.site_stats('shop.example', '2025-10-25Z', '2025-10-28Z') ->> 'pageviews')::int)
       - (SELECT (set_config('onevault_tracking.report_source', 'vault', false) IS NULL)::int
                 + (api.site_stats('shop.example', '2025-10-25Z', '2025-10-28Z') ->> 'pageviews')::int) AS rollups_minus_vault;
RESET onevault_tracking.report_source;

-- 5. A rebuild computes the rows the upkeep wrote (the hand-made change above is gone).
CREATE TEMP TABLE kept_up AS
SELECT tenant_hk, site_hk, granularity, bucket, bots, page_filter, dimension, value, pageviews, events, visits, bounces, duration_us, visitors
  FROM business.site_traffic_rollup WHERE tenant_hk = :'tr' AND (pageviews, events, visits, bounces, duration_us) <> (0, 0, 0, 0, 0);
UPDATE kept_up SET pageviews = pageviews - 1000
 WHERE granularity = 'd' AND bucket = '2025-10-26Z' AND page_filter = '' AND dimension = '' AND NOT bots;
SELECT onevault_tracking.rebuild_rollups(:'tr') - 'buckets_closed' AS rebuilt;
-- Audited: one record per site rebuilt, on the tenant, with the rows it wrote.
SELECT d.new_data ->> 'site' AS site, d.new_data ->> 'rollup_rows' AS rollup_rows
  FROM audit.audit_detail_s d JOIN audit.audit_event_h h USING (audit_event_hk)
 WHERE d.operation = 'ROLLUPS_REBUILT' AND h.tenant_hk = :'tr' ORDER BY 1;
SELECT (SELECT count(*) FROM (SELECT * FROM kept_up
                              EXCEPT
                              SELECT tenant_hk, site_hk, granularity, bucket, bots, page_filter, dimension, value, pageviews,
                                     events, visits, bounces, duration_us, visitors
                                FROM business.site_traffic_rollup WHERE tenant_hk = :'tr') AS x) AS only_kept_up,
       (SELECT count(*) FROM (SELECT tenant_hk, site_hk, granularity, bucket, bots, page_filter, dimension, value, pageviews,
                                     events, visits, bounces, duration_us, visitors
                                FROM business.site_traffic_rollup WHERE tenant_hk = :'tr'
                              EXCEPT
                              SELECT * FROM kept_up) AS x) AS only_rebuilt;
SELECT count(*) AS checks, (SELECT count(*) FROM pg_temp.mismatches()) AS mismatches FROM checks;

-- 6. The comparison with the previous period: Monday against Sunday.
SELECT jsonb_pretty(s - 'site' - 'timezone' - 'custom_events')
  FROM api.site_stats('shop.example', '2025-10-27Z', '2025-10-28Z', p_compare := true) AS s;

-- 7. Filters: one value per key, known keys only; a filter the rollups cannot serve still answers.
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
SELECT pg_temp.attempt($$SELECT api.site_stats('shop.example', '2025-10-25Z', '2025-10-28Z', p_filters := '{"color": "red"}')$$) AS unknown_key;
SELECT pg_temp.attempt($$SELECT api.site_breakdown('shop.example', 'page', '2025-10-25Z', '2025-10-28Z', p_filters := '{"page": ["/a", "/b"]}')$$) AS not_a_string;
SELECT pg_temp.attempt($$SELECT api.site_timeseries('shop.example', '2025-10-25Z', '2025-10-28Z', p_filters := '["page"]')$$) AS not_an_object;
SELECT pg_temp.attempt($$SELECT api.site_stats('shop.example', '2025-10-25Z', '2025-10-28Z', p_compare := NULL)$$) AS null_compare;
SELECT jsonb_pretty(api.site_breakdown('shop.example', 'browser', '2025-10-25Z', '2025-10-28Z', 3,
                                       p_filters := '{"page": "/pricing", "channel": "search"}')) AS search_visitors_of_pricing_by_browser;

-- 8. Retention: rollups are kept unless onevault_tracking.rollup_retention_days says otherwise
-- (these days are over 400 days old); the events stay in the vault.
SELECT api.purge_expired_data(30, 24) ->> 'rollup_rows' AS purged_by_default;
SET onevault_tracking.rollup_retention_days = 400;
SELECT (api.purge_expired_data(30, 24) ->> 'rollup_rows')::int > 0 AS purged_after_400_days;
SELECT (SELECT count(*) FROM business.site_traffic_rollup WHERE tenant_hk = :'tr') AS rollup_rows_left,
       (SELECT count(*) FROM business.site_traffic_bucket WHERE tenant_hk = :'tr') AS buckets_left,
       (SELECT count(*) FROM business.tracking_event_l WHERE tenant_hk = :'tr') > 0 AS events_kept;
RESET onevault_tracking.rollup_retention_days;
RESET onevault_tracking.tenant_id;
