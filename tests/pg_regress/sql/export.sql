-- Current visitors and the CSV exports (sql/export.sql) over a small known data set.
-- shared_schemas drops the extension; bring it back if it is gone.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS onevault_tracking;
RESET client_min_messages;

SELECT util.hash_binary('Export Corp_2025-05-01') AS ta, util.hash_binary('Export Other_2025-05-01') AS tb \gset
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source) VALUES
    (:'ta', 'Export Corp_2025-05-01', 'regress'),
    (:'tb', 'Export Other_2025-05-01', 'regress');
SELECT encode(:'ta'::bytea, 'hex') AS ta_hex, encode(:'tb'::bytea, 'hex') AS tb_hex \gset
SELECT api.register_site(:'ta', 'shop.example', 'Shop') ->> 'site_domain' AS a_site;
SELECT api.register_site(:'tb', 'hidden.example', 'Hidden') ->> 'site_domain' AS b_site;

CREATE FUNCTION pg_temp.ingest(tenant bytea, ip inet, ua text, events jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT raw.batch_ingest_tracking_events(tenant, NULL, ip, ua, events) ->> 'accepted'
$$;
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

-- The events of 2025-05-01 (UTC), one batch per visitor, with titles and properties that need
-- quoting (commas, double quotes; a backslash, which COPY's text format doubles):
--  V1 Chrome, Windows   s1  10:00:00  page_view /shoes  "Shoes, ""red"" & blue"   google (search)
--                       s1  10:01:00  custom add_to_cart {"item": "Shoe, \"Red\"", "qty": 2}
--                       s1  10:02:00  page_view /cart   Cart
--                       s1  11:00:00  page_view /cart   (= p_to: outside)
--  V2 Mobile Safari     s2  09:59:59  page_view /       (before p_from: outside)
--                       s2  10:00:30  page_view /       \o/ Home   utm newsletter/email/may
--  BOT Googlebot        s3  10:03:00  page_view /cart
-- Tenant B: hidden.example / at 10:00:00.
SELECT pg_temp.ingest(:'ta', '198.51.100.10',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36', '[
  {"event_type": "page_view", "page_url": "https://shop.example/shoes", "page_title": "Shoes, \"red\" & blue",
   "referrer": "https://www.google.com/", "session_id": "s1", "timestamp": "2025-05-01T10:00:00Z", "event_id": "exp-1"},
  {"event_type": "custom", "event_name": "add_to_cart", "page_url": "https://shop.example/shoes",
   "properties": {"item": "Shoe, \"Red\"", "qty": 2}, "session_id": "s1", "timestamp": "2025-05-01T10:01:00Z", "event_id": "exp-2"},
  {"event_type": "page_view", "page_url": "https://shop.example/cart", "page_title": "Cart", "referrer": "https://shop.example/shoes",
   "session_id": "s1", "timestamp": "2025-05-01T10:02:00Z", "event_id": "exp-3"},
  {"event_type": "page_view", "page_url": "https://shop.example/cart", "page_title": "Cart",
   "session_id": "s1", "timestamp": "2025-05-01T11:00:00Z", "event_id": "exp-4"}]') AS v1_accepted;
SELECT pg_temp.ingest(:'ta', '198.51.100.20',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1', '[
  {"event_type": "page_view", "page_url": "https://shop.example/", "page_title": "\\o/ Home",
   "session_id": "s2", "timestamp": "2025-05-01T09:59:59Z", "event_id": "exp-5"},
  {"event_type": "page_view", "page_url": "https://shop.example/?utm_source=newsletter&utm_medium=email&utm_campaign=may",
   "page_title": "\\o/ Home", "session_id": "s2", "timestamp": "2025-05-01T10:00:30Z", "event_id": "exp-6"}]') AS v2_accepted;
SELECT pg_temp.ingest(:'ta', '66.249.66.1',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', '[
  {"event_type": "page_view", "page_url": "https://shop.example/cart",
   "session_id": "s3", "timestamp": "2025-05-01T10:03:00Z", "event_id": "exp-7"}]') AS bot_accepted;
SELECT pg_temp.ingest(:'tb', '198.51.100.40',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0', '[
  {"event_type": "page_view", "page_url": "https://hidden.example/", "page_title": "Hidden",
   "session_id": "b1", "timestamp": "2025-05-01T10:00:00Z", "event_id": "exp-b1"}]') AS b_accepted;
-- Received a minute after they happened (timestamps over 7 days before receipt are invalid);
-- then raw -> staging -> vault, as a drain would.
UPDATE raw.site_tracking_events_r
   SET received_at = (raw_payload ->> 'timestamp')::timestamptz + interval '1 minute'
 WHERE tenant_hk IN (:'ta', :'tb') AND processing_status = 'PENDING';
SELECT staging.process_pending_events(1000) IS NOT NULL AS drained;
SELECT business.load_staged_events(1000) IS NOT NULL AS loaded;
SELECT s.validation_status, s.loaded_to_vault, count(*)
  FROM staging.site_tracking_events_s s WHERE s.tenant_hk IN (:'ta', :'tb') GROUP BY 1, 2;

SET onevault_tracking.tenant_id = :'ta_hex';
SELECT count(*) AS audit_records_before FROM audit.audit_detail_s WHERE operation = 'DATA_EXPORTED' \gset

-- CSV records: a field with a comma, a double quote, a line break (LF or CR) or nothing in it
-- is quoted, quotes doubled; NULL is an empty field, apart from the empty string ("").
\pset format unaligned
\pset tuples_only on
SELECT onevault_tracking.csv_line(ARRAY['plain', 'a,b', 'say "hi"', E'two\nlines', '', NULL, ' spaced ', 'é']);
SELECT onevault_tracking.csv_line(ARRAY[E'cr\rhere', 'x']) = E'"cr\rhere",x' AS carriage_return_quoted;

-- The events of [10:00, 11:00): 5 of the 7 (09:59:59 is before, 11:00 is p_to). Bots are in
-- (bot true), visits numbered by first appearance (s1 1, s2 2, s3 3), the custom event's
-- properties as JSON, the pages' titles quoted where they must be.
SELECT * FROM api.export_events('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z');
-- COPY streams the same rows. Its text format doubles backslashes (\o/ Home, \"Red\");
-- its CSV format with a delimiter and quote that no row holds (the vault keeps no control
-- characters: tracking refuses them) writes them as they are.
COPY (SELECT * FROM api.export_events('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z')) TO STDOUT;
COPY (SELECT * FROM api.export_events('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z'))
  TO STDOUT WITH (FORMAT csv, DELIMITER E'\x1f', QUOTE E'\x1e');

-- The limit: 2 rows of 5, and a warning naming the first event left out (10:01:00); the rows
-- are the first two of the full export, visit numbers included.
SELECT * FROM api.export_events('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z', 2);
-- Exactly as many rows as the limit: no warning.
SELECT * FROM api.export_events('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z', 5);
-- All time (infinite bounds) has all 7, and an empty range just the header.
SELECT count(*) - 1 AS all_time_rows FROM api.export_events('shop.example', '-infinity', 'infinity');
SELECT * FROM api.export_events('shop.example', '2024-01-01Z', '2024-01-02Z');

-- Reports as CSV, from the report functions (bots out): the same hour.
--   stats: visitors V1 V2 = 2; visits s1 = 1 (s2 started at 09:59:59); pageviews /shoes /cart
--   / = 3; events 4; views_per_visit 3.00; bounce_rate 0; visit_duration 3600 (s1, 10:00 to its
--   last event at 11:00: a visit counts whole in the range it starts in).
--   breakdown:page: /cart and /shoes (V1, s1), / (V2, no visit starting in range).
SELECT * FROM api.export_report('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z', 'stats');
SELECT * FROM api.export_report('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z', 'breakdown:page');
SELECT * FROM api.export_report('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z', 'breakdown:property:item');
SELECT * FROM api.export_report('shop.example', '2025-05-01T09:00:00Z', '2025-05-01T12:00:00Z', 'timeseries:hour');
-- Filters and bots are the report's: page /cart with the bot is V1's s1 and the bot's s3, one
-- page view each; s3 is a bounce (50), the durations 3600 and 0 average 1800.
SELECT * FROM api.export_report('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z', 'stats',
                                '{"page": "/cart"}', p_include_bots := true);
-- A breakdown cut at its limit warns as the events do.
SELECT * FROM api.export_report('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z', 'breakdown:page',
                                p_limit := 1);
\pset format aligned
\pset tuples_only off

-- One audit record per export call (13 calls above, the COPYs included), on the tenant, by
-- the session user, with the range and the rows; the cut ones say so.
SELECT count(*) FILTER (WHERE h.tenant_hk = :'ta') AS audit_records_written,
       count(*) - :audit_records_before = count(*) FILTER (WHERE h.tenant_hk = :'ta') AS all_on_the_tenant,
       bool_and(d.changed_by = 'onevault_tracking:' || session_user) AS by_the_session_user
  FROM audit.audit_detail_s AS d JOIN audit.audit_event_h AS h USING (audit_event_hk)
 WHERE d.operation = 'DATA_EXPORTED';
SELECT d.table_name, d.new_data - 'tenant_id' AS details
  FROM audit.audit_detail_s AS d
 WHERE d.operation = 'DATA_EXPORTED' AND (d.new_data ->> 'truncated')::boolean
 ORDER BY d.new_data ->> 'export';
-- Two exports in one transaction are two records.
BEGIN;
SELECT count(*) AS rows_a FROM api.export_events('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z');
SELECT count(*) AS rows_b FROM api.export_events('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z');
SELECT count(*) AS records_in_this_transaction
  FROM audit.audit_detail_s WHERE operation = 'DATA_EXPORTED' AND load_date = now();
COMMIT;

-- Bad input: a clear error, no row, no audit record.
SELECT count(*) AS audit_records_before FROM audit.audit_detail_s WHERE operation = 'DATA_EXPORTED' \gset
SELECT pg_temp.attempt(statement) AS answer
  FROM unnest(ARRAY[
    $$SELECT api.export_events('shop.example', '2025-05-01Z', '2025-05-02Z', 0)$$,
    $$SELECT api.export_events('shop.example', '2025-05-01Z', '2025-05-02Z', 1000001)$$,
    $$SELECT api.export_events('shop.example', '2025-05-01Z', '2025-05-02Z', NULL)$$,
    $$SELECT api.export_events('shop.example', '2025-05-02Z', '2025-05-01Z')$$,
    $$SELECT api.export_events('shop.example', '2025-05-01Z', '2025-05-01Z')$$,
    $$SELECT api.export_events('shop.example', NULL, '2025-05-01Z')$$,
    $$SELECT api.export_events('hidden.example', '2025-05-01Z', '2025-05-02Z')$$,
    $$SELECT api.export_events('nowhere.example', '2025-05-01Z', '2025-05-02Z')$$,
    $$SELECT api.export_report('shop.example', '2025-05-01Z', '2025-05-02Z', 'pages')$$,
    $$SELECT api.export_report('shop.example', '2025-05-01Z', '2025-05-02Z', NULL)$$,
    $$SELECT api.export_report('shop.example', '2025-05-01Z', '2025-05-02Z', 'breakdown:pages')$$,
    $$SELECT api.export_report('shop.example', '2025-05-01Z', '2025-05-02Z', 'timeseries:week')$$,
    $$SELECT api.export_report('shop.example', '2025-05-01Z', '2025-05-02Z', 'stats', '{"color": "red"}')$$,
    $$SELECT api.export_report('shop.example', '2025-05-01Z', '2025-05-02Z', 'stats', p_limit := 0)$$
  ]) AS statement;
SELECT count(*) - :audit_records_before AS audit_records_of_bad_calls
  FROM audit.audit_detail_s WHERE operation = 'DATA_EXPORTED';
RESET onevault_tracking.tenant_id;
SELECT pg_temp.attempt($$SELECT api.export_events('shop.example', '2025-05-01Z', '2025-05-02Z')$$) AS no_tenant;
SELECT pg_temp.attempt($$SELECT api.current_visitors('shop.example')$$) AS no_tenant;

-- A reader exports through its grants; the audit record names it.
DROP ROLE IF EXISTS export_analyst;
CREATE ROLE export_analyst LOGIN IN ROLE onevault_tracking_reader;
SET SESSION AUTHORIZATION export_analyst;
SET onevault_tracking.tenant_id = :'ta_hex';
SELECT count(*) - 1 AS reader_rows FROM api.export_events('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z');
SELECT count(*) - 1 AS reader_report_rows FROM api.export_report('shop.example', '2025-05-01T10:00:00Z', '2025-05-01T11:00:00Z', 'breakdown:page');
-- ... but it cannot write audit records of its choosing.
SELECT pg_temp.attempt($$SELECT onevault_tracking.log_platform_audit_event('DATA_EXPORTED', 'x', 'y', 'someone else', '{}')$$) AS forged;
RESET SESSION AUTHORIZATION;
SELECT d.changed_by, d.new_data ->> 'export' AS export, d.new_data ->> 'rows' AS rows
  FROM audit.audit_detail_s AS d
 WHERE d.operation = 'DATA_EXPORTED' AND d.changed_by LIKE '%export_analyst'
 ORDER BY 2;
DROP ROLE export_analyst;

-- Current visitors: the last 5 minutes, from the vault. Events relative to now:
--  V3 Firefox   c1  now - 1 min   page_view /          now - 4 min  page_view /shoes
--                   now - 5 min 30 s  page_view /old (too old)
--  V4 Safari    c2  now - 2 min   page_view /          now - 30 s   custom add_to_cart
--  BOT          c3  now - 1 min   page_view /
--  V5 Chrome    c4  now - 2 hours page_view /  (too old)
SELECT pg_temp.ingest(:'ta', '198.51.100.30', 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  jsonb_build_array(
    jsonb_build_object('event_type', 'page_view', 'page_url', 'https://shop.example/', 'page_title', 'Home',
                       'session_id', 'c1', 'timestamp', now() - interval '1 minute', 'event_id', 'cur-1'),
    jsonb_build_object('event_type', 'page_view', 'page_url', 'https://shop.example/shoes', 'page_title', 'Shoes',
                       'session_id', 'c1', 'timestamp', now() - interval '4 minutes', 'event_id', 'cur-2'),
    jsonb_build_object('event_type', 'page_view', 'page_url', 'https://shop.example/old', 'page_title', 'Old',
                       'session_id', 'c1', 'timestamp', now() - interval '5 minutes 30 seconds', 'event_id', 'cur-3'))) AS v3_accepted;
SELECT pg_temp.ingest(:'ta', '198.51.100.31',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
  jsonb_build_array(
    jsonb_build_object('event_type', 'page_view', 'page_url', 'https://shop.example/', 'page_title', 'Home',
                       'session_id', 'c2', 'timestamp', now() - interval '2 minutes', 'event_id', 'cur-4'),
    jsonb_build_object('event_type', 'custom', 'event_name', 'add_to_cart', 'page_url', 'https://shop.example/',
                       'session_id', 'c2', 'timestamp', now() - interval '30 seconds', 'event_id', 'cur-5'))) AS v4_accepted;
SELECT pg_temp.ingest(:'ta', '66.249.66.2', 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  jsonb_build_array(
    jsonb_build_object('event_type', 'page_view', 'page_url', 'https://shop.example/', 'page_title', 'Home',
                       'session_id', 'c3', 'timestamp', now() - interval '1 minute', 'event_id', 'cur-6'))) AS bot_accepted;
SELECT pg_temp.ingest(:'ta', '198.51.100.32',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  jsonb_build_array(
    jsonb_build_object('event_type', 'page_view', 'page_url', 'https://shop.example/', 'page_title', 'Home',
                       'session_id', 'c4', 'timestamp', now() - interval '2 hours', 'event_id', 'cur-7'))) AS v5_accepted;
SELECT staging.process_pending_events(1000) IS NOT NULL AS drained;
SELECT business.load_staged_events(1000) IS NOT NULL AS loaded;

SET onevault_tracking.tenant_id = :'ta_hex';
-- Bots out: visitors V3 V4 = 2; pageviews / / /shoes = 3; events 4; top pages / (V3 V4), /shoes.
SELECT jsonb_pretty(api.current_visitors('www.Shop.example') - 'from' - 'to') AS current;
-- With the bot: visitors 3, / has 3 of each.
SELECT c ->> 'visitors' AS visitors, c ->> 'pageviews' AS pageviews, c ->> 'events' AS events,
       c -> 'top_pages' -> 0 AS top_page
  FROM api.current_visitors('shop.example', true) AS c;
-- The window: the 5 minutes up to the statement's time.
SELECT (c ->> 'to')::timestamptz - (c ->> 'from')::timestamptz AS window_length,
       (c ->> 'to')::timestamptz = now() AS ends_now
  FROM api.current_visitors('shop.example') AS c;
-- Another tenant's site is unknown; tenant B sees its own site, with nobody on it now.
SELECT pg_temp.attempt($$SELECT api.current_visitors('hidden.example')$$) AS other_tenants_site;
SELECT pg_temp.attempt($$SELECT api.current_visitors(NULL)$$) AS null_site;
SELECT pg_temp.attempt($$SELECT api.current_visitors('shop.example', NULL)$$) AS null_bots;
SET onevault_tracking.tenant_id = :'tb_hex';
SELECT api.current_visitors('hidden.example') - 'from' - 'to' AS tenant_b_now;
RESET onevault_tracking.tenant_id;
