-- bench/process.sql, F the old way (process_sql): the n events landed last (bench/batch.sql)
-- through staging.process_pending_events(1000) in the session, one call and one commit per 1000
-- events, timed, with no worker running; every event must be staged VALID and loaded.
-- psql variable: n.
SELECT bench.assert(NOT EXISTS (SELECT FROM onevault_tracking.worker_status WHERE running), 'a worker runs');
SELECT bench.assert(bench.pending() = :n, 'the events to process are not the only ones pending');
SELECT (SELECT count(*) FROM staging.site_tracking_events_s WHERE validation_status = 'VALID' AND loaded_to_vault) AS staged0,
       (SELECT count(*) FROM business.tracking_event_l) AS vault0 \gset
SELECT clock_timestamp() AS t0 \gset
DO $drain$
DECLARE
    v_answer jsonb;
BEGIN
    LOOP
        v_answer := staging.process_pending_events(1000);
        EXIT WHEN (v_answer ->> 'claimed')::int = 0;
        IF (v_answer ->> 'valid')::int <> (v_answer ->> 'claimed')::int THEN
            RAISE EXCEPTION 'processing did not stage every event VALID: %', v_answer;
        END IF;
        COMMIT;
    END LOOP;
END
$drain$;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS seconds \gset
-- The drain loads the vault in the same pass (onevault_tracking.process_loads_vault, on by
-- default): the loader must find nothing left.
SELECT bench.assert((business.load_staged_events(1000) ->> 'loaded')::int = 0,
                    'the drain left VALID events unloaded');
SELECT bench.assert((SELECT count(*) FROM staging.site_tracking_events_s WHERE validation_status = 'VALID' AND loaded_to_vault) - :staged0 = :n
                    AND (SELECT count(*) FROM business.tracking_event_l) - :vault0 = :n
                    AND NOT EXISTS (SELECT FROM raw.site_tracking_events_r WHERE processing_status <> 'PROCESSED'),
                    'processing did not stage and load every event');
SELECT bench.record('process_sql', 'events/s', :n / :seconds,
                    'F the old way: staging.process_pending_events(1000) in a DO loop, one transaction per call, no worker',
                    format('%s events in %s s, on top of %s events stored', :n, round(:seconds, 3), :vault0));
