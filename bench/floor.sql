-- H, the floor of a tracked page view: only the writes every accepted call must make, with no
-- key check, no rate-limit decision, no validation, enrichment, session or vault lookup and no
-- native code: one prepared statement per transaction (pgbench -M prepared) that copies template
-- rows taken from the events B stored (so row sizes and index entries are real) into
--   raw (one row, PROCESSED), staging (one row, loaded), the event link, the event satellite,
--   one rate-limit window update, and one audit record through util.log_audit_event.
-- A real call writes at least this (plus new sessions, pages and their details), so the floor's
-- throughput bounds what any implementation of the pipeline on this data model can reach:
-- floor_c1 / insert_c1 and floor_c1 / plpgsql_c1 are upper bounds for track_vs_insert_c1 and
-- track_vs_plpgsql_c1. The template reads are three one-row tables (a few microseconds).
--
-- Run by bench/run.sh after B and C, as psql with :floor_script naming the pgbench script to
-- write (the column lists are read from the catalogue, so the floor follows the tables).

CREATE TABLE bench.floor_raw AS
SELECT * FROM raw.site_tracking_events_r r
 WHERE EXISTS (SELECT FROM staging.site_tracking_events_s s
                WHERE s.raw_event_id = r.raw_event_id AND s.loaded_to_vault)
 ORDER BY raw_event_id DESC LIMIT 1;
CREATE TABLE bench.floor_staging AS
SELECT s.* FROM staging.site_tracking_events_s s JOIN bench.floor_raw USING (raw_event_id);
CREATE TABLE bench.floor_link AS
SELECT l.* FROM business.tracking_event_l l JOIN bench.floor_raw r ON l.tracking_event_bk = r.raw_event_id::text;
CREATE TABLE bench.floor_details AS
SELECT d.* FROM business.tracking_event_details_s d JOIN bench.floor_link USING (tracking_event_hk);
-- The rate-limit window the floor counts in (a generous limit: it only ever counts).
SELECT api.check_rate_limit((SELECT tenant_hk FROM bench.floor_raw), '203.0.113.250', 1000000)
       IS NOT NULL AS window_created;
CREATE TABLE bench.floor_window AS
SELECT w.security_tracking_hk FROM auth.ip_tracking_s w
 WHERE w.ip_address = '203.0.113.250' AND w.load_end_date IS NULL;
SELECT bench.assert((SELECT count(*) FROM bench.floor_raw) = 1 AND (SELECT count(*) FROM bench.floor_staging) = 1
                    AND (SELECT count(*) FROM bench.floor_link) = 1 AND (SELECT count(*) FROM bench.floor_details) = 1
                    AND (SELECT count(*) FROM bench.floor_window) = 1,
                    'the floor found no loaded event of B to copy');

-- Every column but the ones the statement sets itself, in table order, each after p_prefix.
CREATE FUNCTION pg_temp.columns(p_table regclass, p_except text[], p_prefix text DEFAULT '') RETURNS text
LANGUAGE sql AS $$
    SELECT string_agg(p_prefix || quote_ident(attname), ', ' ORDER BY attnum)
      FROM pg_attribute
     WHERE attrelid = p_table AND attnum > 0 AND NOT attisdropped AND attidentity = ''
       AND attname <> ALL (p_except)
$$;
SELECT '{client_event_id,received_at,processing_status,processed_at,load_date}' AS raw_except,
       '{raw_event_id,staged_at,loaded_to_vault,loaded_at,load_date,client_event_id}' AS staging_except,
       '{tracking_event_hk,load_date,client_event_id}' AS details_except \gset
SELECT pg_temp.columns('raw.site_tracking_events_r', :'raw_except') AS raw_cols,
       pg_temp.columns('raw.site_tracking_events_r', :'raw_except', 't.') AS raw_values,
       pg_temp.columns('staging.site_tracking_events_s', :'staging_except') AS staging_cols,
       pg_temp.columns('staging.site_tracking_events_s', :'staging_except', 't.') AS staging_values,
       pg_temp.columns('business.tracking_event_details_s', :'details_except') AS details_cols,
       pg_temp.columns('business.tracking_event_details_s', :'details_except', 't.') AS details_values \gset

\set QUIET on
\t on
\pset format unaligned
\o :floor_script
SELECT format($script$
\set ev random(1, 4000000000000000000)
WITH r AS (
    INSERT INTO raw.site_tracking_events_r (%1$s, client_event_id, processing_status, processed_at)
    SELECT %2$s, 'floor-' || :client_id || '-' || :ev, 'PROCESSED', clock_timestamp() FROM bench.floor_raw AS t
    RETURNING raw_event_id, tenant_hk, client_event_id),
s AS (
    INSERT INTO staging.site_tracking_events_s (raw_event_id, client_event_id, %3$s, loaded_to_vault, loaded_at)
    SELECT r.raw_event_id, r.client_event_id, %4$s, true, clock_timestamp() FROM r, bench.floor_staging AS t),
l AS (
    INSERT INTO business.tracking_event_l (tracking_event_hk, tracking_event_bk, site_hk, page_hk, session_hk,
                                           api_key_hk, tenant_hk, record_source)
    SELECT sha256(convert_to('floor|' || r.raw_event_id, 'UTF8')), r.raw_event_id::text, t.site_hk, t.page_hk,
           t.session_hk, t.api_key_hk, t.tenant_hk, t.record_source
      FROM r, bench.floor_link AS t
    RETURNING tracking_event_hk, tracking_event_bk),
d AS (
    INSERT INTO business.tracking_event_details_s (tracking_event_hk, load_date, client_event_id, %5$s)
    SELECT l.tracking_event_hk, clock_timestamp(), 'floor-' || l.tracking_event_bk, %6$s
      FROM l, bench.floor_details AS t),
w AS (
    UPDATE auth.ip_tracking_s SET request_count = request_count + 1, last_request_time = clock_timestamp()
     WHERE security_tracking_hk = (SELECT security_tracking_hk FROM bench.floor_window) AND load_end_date IS NULL)
SELECT util.log_audit_event('TRACKING_ATTEMPT', 'api.tracking', 'floor:' || r.raw_event_id, 'onevault_tracking',
                            jsonb_build_object('tenant_id', encode(r.tenant_hk, 'hex'), 'outcome', 'accepted',
                                               'raw_event_id', r.raw_event_id)) ->> 'success'
  FROM r;
$script$, :'raw_cols', :'raw_values', :'staging_cols', :'staging_values', :'details_cols', :'details_values');
\o
