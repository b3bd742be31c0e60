-- H', the floor of the fast path: only the writes every accepted call must make while a worker
-- serves the database (api_processing = auto), with no key check, no rate-limit decision, no
-- validation and no native code: one prepared statement per transaction that copies H's template
-- raw row (bench/floor.sql made it) as a PENDING row, counts one request in H's rate-limit
-- window, and writes one audit record through util.log_audit_event. Its throughput bounds the
-- fast path's: fast_floor_c1 / insert_c1 is an upper bound for track_vs_insert_c1 on the
-- default path. Its raw rows are PENDING: run it while no worker runs, and they stay unprocessed.
--
-- Run by bench/run.sh right after bench/floor.sql, as psql with :fast_floor_script naming the
-- pgbench script to write (and the psql variables raw_cols and raw_values that floor.sql set).

\set QUIET on
\t on
\pset format unaligned
\o :fast_floor_script
SELECT format($script$
\set ev random(1, 4000000000000000000)
WITH r AS (
    INSERT INTO raw.site_tracking_events_r (%1$s, client_event_id)
    SELECT %2$s, 'fast-floor-' || :client_id || '-' || :ev FROM bench.floor_raw AS t
    RETURNING raw_event_id, tenant_hk),
w AS (
    UPDATE auth.ip_tracking_s SET request_count = request_count + 1, last_request_time = clock_timestamp()
     WHERE security_tracking_hk = (SELECT security_tracking_hk FROM bench.floor_window) AND load_end_date IS NULL)
SELECT util.log_audit_event('TRACKING_ATTEMPT', 'api.tracking', 'fast_floor:' || r.raw_event_id, 'onevault_tracking',
                            jsonb_build_object('tenant_id', encode(r.tenant_hk, 'hex'), 'outcome', 'accepted',
                                               'raw_event_id', r.raw_event_id)) ->> 'success'
  FROM r;
$script$, :'raw_cols', :'raw_values');
\o
