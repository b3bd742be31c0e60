-- bench/process.sql, F: the n events E landed through staging.process_pending_events(1000), one
-- call and one commit per 1000 events, timed; every event must be staged VALID and loaded.
-- psql variable: n.
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
SELECT bench.assert((SELECT count(*) FROM staging.site_tracking_events_s WHERE validation_status = 'VALID' AND loaded_to_vault) = :n
                    AND (SELECT count(*) FROM business.tracking_event_l) = :n
                    AND NOT EXISTS (SELECT FROM raw.site_tracking_events_r WHERE processing_status <> 'PROCESSED'),
                    'processing did not stage and load every event');
SELECT bench.record('process', 'events/s', :n / :seconds,
                    'F: staging.process_pending_events(1000), raw to staging to vault in one pass, one transaction per call',
                    format('%s events in %s s', :n, round(:seconds, 3)));
