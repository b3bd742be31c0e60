-- bench/batch.sql, E: the n events of bench.batches (bench/setup.sql) through
-- raw.batch_ingest_tracking_events, one call and one commit per batch of 1000, timed; every event
-- must be accepted and land PENDING (no worker runs: nothing drains them meanwhile).
-- psql variables: n; suffix, appended to every event id ('' for E itself; the later landings of
-- the same events for F's other measurements use their own suffix, so they are new events);
-- record (true: record the throughput as metric 'batch'; false: only land and check).
SELECT bench.pending() AS pending_before \gset
SELECT set_config('bench.suffix', :'suffix', false) IS NOT NULL AS ok \gset
SELECT clock_timestamp() AS t0 \gset
DO $batches$
DECLARE
    v_tenant bytea := decode(substr((SELECT value FROM bench.config WHERE name = 'tenant_hk'), 3), 'hex');
    v_key bytea := decode(substr((SELECT value FROM bench.config WHERE name = 'api_key_hk'), 3), 'hex');
    v_suffix text := current_setting('bench.suffix');
    v_batch record;
    v_events jsonb;
    v_answer jsonb;
BEGIN
    -- One call and one commit per batch, as the collector's requests would arrive.
    FOR v_batch IN SELECT * FROM bench.batches ORDER BY batch_no LOOP
        v_events := v_batch.events;
        IF v_suffix <> '' THEN
            SELECT jsonb_agg(e || jsonb_build_object('event_id', (e ->> 'event_id') || v_suffix) ORDER BY i)
              INTO v_events
              FROM jsonb_array_elements(v_batch.events) WITH ORDINALITY AS a (e, i);
        END IF;
        v_answer := raw.batch_ingest_tracking_events(v_tenant, v_key, v_batch.client_ip, v_batch.user_agent, v_events);
        IF (v_answer ->> 'accepted')::int <> jsonb_array_length(v_events) THEN
            RAISE EXCEPTION 'batch % not fully accepted: %', v_batch.batch_no, v_answer - 'results';
        END IF;
        COMMIT;
    END LOOP;
END
$batches$;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS seconds \gset
SELECT bench.assert(bench.pending() - :pending_before = :n, 'the batches did not land every event PENDING');
\if :record
SELECT bench.record('batch', 'events/s', :n / :seconds,
                    'E: raw.batch_ingest_tracking_events, batches of 1000, one transaction per batch',
                    format('%s events in %s s', :n, round(:seconds, 3)));
\endif
