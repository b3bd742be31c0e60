-- bench/setup.sql: the benchmark's own objects (schema "bench"), loaded by bench/run.sh into a
-- fresh database that already has the One Vault core replica, onevault_tracking, the tenant, the
-- site and the key. psql variables (set by run.sh):
--   tenant_hk, api_key_hk   '\x...' of the benchmark tenant and key
--   site                    the site's domain
--   n                       events for the bulk benchmarks (D, E, F)
--   uas, referrers, campaigns   SQL array literals of the workload (shared with the pgbench scripts)
--   copy_file               where the COPY benchmark's input file is written (server side)

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE SCHEMA bench;
COMMENT ON SCHEMA bench IS 'bench/run.sh: baselines, workload and results; not part of onevault_tracking';

CREATE TABLE bench.config (name text PRIMARY KEY, value text NOT NULL);
INSERT INTO bench.config VALUES ('tenant_hk', :'tenant_hk'), ('api_key_hk', :'api_key_hk'), ('site', :'site');

-- Results, filled as the run goes; run.sh turns them into target/bench/results.json.
CREATE TABLE bench.results (
    ord    serial,
    metric text PRIMARY KEY,
    unit   text NOT NULL,
    value  numeric NOT NULL,
    what   text NOT NULL,
    notes  text,
    wal_bytes_per_tx numeric
);
CREATE FUNCTION bench.record(p_metric text, p_unit text, p_value numeric, p_what text, p_notes text DEFAULT NULL,
                             p_wal_bytes_per_tx numeric DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO bench.results (metric, unit, value, what, notes, wal_bytes_per_tx)
    VALUES (p_metric, p_unit, p_value, p_what, p_notes, p_wal_bytes_per_tx)
    ON CONFLICT (metric) DO UPDATE SET unit = EXCLUDED.unit, value = EXCLUDED.value, what = EXCLUDED.what,
                                       notes = EXCLUDED.notes, wal_bytes_per_tx = EXCLUDED.wal_bytes_per_tx
$$;

-- Checks of the run: raise unless the condition holds (psql variables cannot reach DO blocks).
CREATE FUNCTION bench.assert(p_ok boolean, p_message text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_ok IS NOT TRUE THEN
        RAISE EXCEPTION 'benchmark check failed: %', p_message;
    END IF;
END
$$;

-- The baseline table of A and D: raw.site_tracking_events_r's columns, types, defaults, identity,
-- CHECK constraints and indexes (LIKE ... INCLUDING ALL), plus its foreign key to the tenant
-- (LIKE never copies foreign keys), so a row costs what a raw row costs to store.
CREATE TABLE bench.raw_like (LIKE raw.site_tracking_events_r INCLUDING ALL);
ALTER TABLE bench.raw_like ADD FOREIGN KEY (tenant_hk) REFERENCES auth.tenant_h (tenant_hk);
SELECT set_config('bench.tenant_hk', :'tenant_hk', false) IS NOT NULL AS configured \gset
-- The identity and the defaults work: a row without raw_event_id, received_at, status or dates.
DO $check$
DECLARE
    r bench.raw_like;
BEGIN
    INSERT INTO bench.raw_like (tenant_hk, raw_payload, record_source)
    VALUES (decode(substr(current_setting('bench.tenant_hk'), 3), 'hex'), '{"event_type": "page_view"}', 'bench')
    RETURNING * INTO r;
    IF r.raw_event_id IS NULL OR r.received_at IS NULL OR r.processing_status <> 'PENDING' OR r.load_date IS NULL THEN
        RAISE EXCEPTION 'bench.raw_like lost its identity or defaults: %', to_jsonb(r);
    END IF;
    IF (SELECT count(*) FROM pg_indexes WHERE schemaname = 'bench' AND tablename = 'raw_like')
       <> (SELECT count(*) FROM pg_indexes WHERE schemaname = 'raw' AND tablename = 'site_tracking_events_r') THEN
        RAISE EXCEPTION 'bench.raw_like does not have the raw table''s indexes';
    END IF;
END
$check$;
TRUNCATE bench.raw_like RESTART IDENTITY;

-- What a run of tracking calls left: raw rows of keyed calls, vault events, accepted attempts.
CREATE FUNCTION bench.tracked(OUT raw_rows bigint, OUT staged_valid bigint, OUT vault_events bigint,
                              OUT accepted_attempts bigint, OUT rejected_attempts bigint)
LANGUAGE sql STABLE AS $$
    SELECT (SELECT count(*) FROM raw.site_tracking_events_r WHERE api_key_hk IS NOT NULL),
           (SELECT count(*) FROM staging.site_tracking_events_s WHERE validation_status = 'VALID' AND loaded_to_vault),
           (SELECT count(*) FROM business.tracking_event_l WHERE api_key_hk IS NOT NULL),
           (SELECT count(*) FROM audit.audit_detail_s WHERE operation = 'TRACKING_ATTEMPT' AND new_data ->> 'outcome' = 'accepted'),
           (SELECT count(*) FROM audit.audit_detail_s WHERE operation = 'TRACKING_ATTEMPT' AND new_data ->> 'outcome' <> 'accepted')
$$;

-- The processing workers' backlog: raw rows waiting for processing (PENDING, or ERROR to retry),
-- what onevault_tracking.worker_status shows as pending_events.
CREATE FUNCTION bench.pending() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM raw.site_tracking_events_r WHERE processing_status IN ('PENDING', 'ERROR')
$$;

-- Waits until the workers drained the backlog (bench.pending() = 0), at most p_timeout seconds,
-- and answers how long it waited; raises when the time is up, when no worker runs while events
-- wait, or when a worker recorded a failed batch. Each poll is a statement of its own (its own
-- snapshot), 10 ms apart.
CREATE FUNCTION bench.wait_drained(p_timeout numeric) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    v_start timestamptz := clock_timestamp();
    v_pending bigint;
BEGIN
    LOOP
        v_pending := bench.pending();
        EXIT WHEN v_pending = 0;
        IF clock_timestamp() - v_start > make_interval(secs => p_timeout) THEN
            RAISE EXCEPTION 'benchmark check failed: % events still pending after % s', v_pending, p_timeout;
        END IF;
        IF NOT EXISTS (SELECT FROM onevault_tracking.worker_status WHERE running) THEN
            RAISE EXCEPTION 'benchmark check failed: % events pending and no worker runs', v_pending;
        END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
    IF EXISTS (SELECT FROM onevault_tracking.worker_status WHERE errors > 0) THEN
        RAISE EXCEPTION 'benchmark check failed: a worker recorded failed batches: %',
            (SELECT string_agg(format('worker %s: %s errors, last: %s', worker_no, errors, last_error), '; ')
               FROM onevault_tracking.worker_status WHERE errors > 0);
    END IF;
    RETURN extract(epoch FROM clock_timestamp() - v_start);
END
$$;

-- The bulk workload (D, E, F): n page views as browsers send them through the edge collector,
-- in batches of 1000 (one client address and user agent per batch, as the batch API takes them):
-- 200 pages, campaigns, referrers, half with a client session id, all with an event id and a
-- timestamp from the last hour, some with properties. All are valid.
SELECT setseed(0.42);
CREATE TABLE bench.events AS
SELECT n,
       (n - 1) / 1000 AS batch_no,
       jsonb_strip_nulls(jsonb_build_object(
           'event_type', 'page_view',
           'page_url', 'https://' || :'site' || '/p/' || page || (:campaigns::text[])[campaign],
           'referrer', nullif((:referrers::text[])[ref], ''),
           'page_title', 'Page ' || page,
           'session_id', CASE WHEN with_session THEN 'sess-' || sess END,
           'event_id', 'bulk-' || n,
           'timestamp', to_jsonb(now() - make_interval(secs => ago)),
           'properties', CASE WHEN page % 5 = 0 THEN '{"plan": "pro", "experiment": "b"}'::jsonb END,
           'screen_width', CASE WHEN page % 3 = 0 THEN 1440 END,
           'language', CASE WHEN page % 3 = 0 THEN 'en-US' END)) AS payload
  FROM (SELECT n,
               1 + floor(random() * 200)::int AS page,
               1 + floor(random() * cardinality(:campaigns::text[]))::int AS campaign,
               1 + floor(random() * cardinality(:referrers::text[]))::int AS ref,
               random() < 0.5 AS with_session,
               1 + floor(random() * 20000)::int AS sess,
               floor(random() * 3600)::int AS ago
          FROM generate_series(1, :n) AS n) AS r;

CREATE TABLE bench.batches AS
SELECT batch_no,
       '10.1.0.0'::inet + ((batch_no::bigint * 7919) % 65536) AS client_ip,
       (:uas::text[])[1 + batch_no % cardinality(:uas::text[])] AS user_agent,
       jsonb_agg(payload ORDER BY n) AS events
  FROM bench.events
 GROUP BY batch_no;

-- D's input: the same events as raw rows (what the batch path stores for them), written once
-- as a server-side COPY file.
COPY (SELECT decode(substr(:'tenant_hk', 3), 'hex') AS tenant_hk,
             decode(substr(:'api_key_hk', 3), 'hex') AS api_key_hk,
             set_masklen(network(set_masklen(b.client_ip, 24)), 32) AS client_ip,
             b.user_agent,
             sha256(convert_to(host(b.client_ip) || b.user_agent, 'UTF8')) AS visitor_hash,
             e.payload AS raw_payload,
             e.payload ->> 'event_id' AS client_event_id,
             md5('batch' || b.batch_no)::uuid AS batch_id,
             (e.n - 1) % 1000 AS batch_position,
             'web_application' AS record_source
        FROM bench.events AS e JOIN bench.batches AS b USING (batch_no)
       ORDER BY e.n)
  TO :'copy_file';

ANALYZE bench.events;
ANALYZE bench.batches;
