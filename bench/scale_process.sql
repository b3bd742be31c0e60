-- bench/scale_process.sql, "reports at scale": lands the events bench/scale_load.sql generated and
-- takes them through the pipeline as a backlog is processed (bench.scale_process():
-- staging.process_pending_events(1000) in a loop, staging, vault and rollup upkeep in one
-- transaction per batch), then closes the finished rollup buckets (bench.scale_close(): their
-- visitors counted, as the workers do between batches); both timed, recorded as
-- scale_process_<label> (events/s) and scale_close_<label> (s). Afterwards the stage's site must
-- hold exactly :total events in the vault, every one staged VALID.
-- psql variables: label, total (the site's events after this load), what.
\set ON_ERROR_STOP 1
SELECT bench.assert(NOT EXISTS (SELECT FROM onevault_tracking.worker_status WHERE running), 'a worker runs');
SELECT bench.scale_land(NULL) AS landed \gset
SELECT bench.assert(bench.pending() = :landed, 'other events are pending');
ANALYZE raw.site_tracking_events_r;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \gset
CALL bench.scale_process();
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS seconds, clock_timestamp() AS t1 \gset
CALL bench.scale_close();
SELECT extract(epoch FROM clock_timestamp() - :'t1'::timestamptz) AS close_seconds \gset
SELECT count(*) AS buckets FROM business.site_traffic_bucket
 WHERE tenant_hk = decode(substr((SELECT value FROM bench.config WHERE name = 'scale_tenant_hk'), 3), 'hex') \gset
SELECT bench.assert((SELECT count(*) FROM business.tracking_event_l AS l
                       JOIN business.site_h AS h ON h.site_hk = l.site_hk
                      WHERE l.tenant_hk = decode(substr((SELECT value FROM bench.config WHERE name = 'scale_tenant_hk'), 3), 'hex')
                        AND h.site_bk = (SELECT value FROM bench.config WHERE name = 'scale_site')) = :total
                    AND NOT EXISTS (SELECT FROM raw.site_tracking_events_r WHERE processing_status <> 'PROCESSED'),
                    'the site does not hold every event loaded');
VACUUM ANALYZE raw.site_tracking_events_r, staging.site_tracking_events_s, business.tracking_event_l,
               business.tracking_event_details_s, business.site_traffic_rollup, business.site_traffic_bucket;
SELECT bench.record('scale_process_' || :'label', 'events/s', :landed / :seconds, :'what',
                    format('%s events in %s s (upkeep on), %s events of the site in the vault after', :landed, round(:seconds, 1), :total));
SELECT bench.record('scale_close_' || :'label', 's', :close_seconds,
                    'reports at scale: closing the finished rollup buckets after that load (their visitors counted from the vault), 100 per transaction',
                    format('%s buckets of the site in all', :buckets));
