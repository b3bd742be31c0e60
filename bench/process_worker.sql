-- bench/process_worker.sql, F: the n events landed last (bench/batch.sql, PENDING, no worker
-- running) processed by one background worker in its own batches
-- (onevault_tracking.worker_batch_size, 1000 by default): timed from start_workers(1) (the
-- worker's start, a few tens of milliseconds, included) until no event is pending (polled every
-- 10 ms); every event must be staged VALID and loaded exactly once, and no batch may have failed.
-- The worker is stopped afterwards. psql variables: n, metric, what, timeout (seconds).
SELECT bench.assert(NOT EXISTS (SELECT FROM onevault_tracking.worker_status WHERE running), 'a worker runs already');
SELECT bench.assert(bench.pending() = :n, 'the events to process are not the only ones pending');
SELECT (SELECT count(*) FROM staging.site_tracking_events_s WHERE validation_status = 'VALID' AND loaded_to_vault) AS staged0,
       (SELECT count(*) FROM business.tracking_event_l) AS vault0,
       (SELECT count(*) FROM staging.site_tracking_events_s WHERE validation_status <> 'VALID') AS invalid0 \gset
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS started FROM onevault_tracking.start_workers(1) \gset
SELECT bench.wait_drained(:timeout) AS waited \gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS seconds \gset
SELECT batches, round(last_batch_ms) AS last_batch_ms FROM onevault_tracking.worker_status WHERE running \gset
SELECT onevault_tracking.stop_workers() AS stopped \gset
-- The worker loads the vault in the batch that stages: the loader must find nothing left.
SELECT bench.assert((business.load_staged_events(1000) ->> 'loaded')::int = 0,
                    'the worker left VALID events unloaded');
SELECT bench.assert((SELECT count(*) FROM staging.site_tracking_events_s WHERE validation_status = 'VALID' AND loaded_to_vault) - :staged0 = :n
                    AND (SELECT count(*) FROM business.tracking_event_l) - :vault0 = :n
                    AND (SELECT count(*) FROM staging.site_tracking_events_s WHERE validation_status <> 'VALID') = :invalid0
                    AND NOT EXISTS (SELECT FROM raw.site_tracking_events_r WHERE processing_status <> 'PROCESSED'),
                    'the worker did not stage and load every event exactly once');
SELECT bench.record(:'metric', 'events/s', :n / :seconds, :'what',
                    format('%s events in %s s by 1 worker (%s batches, the last %s ms; worker start included), on top of %s events stored',
                           :n, round(:seconds, 3), :batches, :last_batch_ms, :vault0));
