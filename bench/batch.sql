-- bench/batch.sql, E: the n events of bench.batches (bench/setup.sql) through
-- raw.batch_ingest_tracking_events, one call and one commit per batch of 1000, timed; every event
-- must be accepted and land PENDING. psql variable: n.
SELECT clock_timestamp() AS t0 \gset
DO $batches$
DECLARE
    v_tenant bytea := decode(substr((SELECT value FROM bench.config WHERE name = 'tenant_hk'), 3), 'hex');
    v_key bytea := decode(substr((SELECT value FROM bench.config WHERE name = 'api_key_hk'), 3), 'hex');
    v_batch record;
    v_answer jsonb;
BEGIN
    -- One call and one commit per batch, as the collector's requests would arrive.
    FOR v_batch IN SELECT * FROM bench.batches ORDER BY batch_no LOOP
        v_answer := raw.batch_ingest_tracking_events(v_tenant, v_key, v_batch.client_ip, v_batch.user_agent, v_batch.events);
        IF (v_answer ->> 'accepted')::int <> jsonb_array_length(v_batch.events) THEN
            RAISE EXCEPTION 'batch % not fully accepted: %', v_batch.batch_no, v_answer - 'results';
        END IF;
        COMMIT;
    END LOOP;
END
$batches$;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS seconds \gset
SELECT bench.assert((SELECT count(*) FROM raw.site_tracking_events_r WHERE processing_status = 'PENDING') = :n,
                    'the batches did not land every event');
SELECT bench.record('batch', 'events/s', :n / :seconds,
                    'E: raw.batch_ingest_tracking_events, batches of 1000, one transaction per batch',
                    format('%s events in %s s', :n, round(:seconds, 3)));
