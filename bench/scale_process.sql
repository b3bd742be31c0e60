-- bench/scale_process.sql, "reports at scale": lands the events bench/scale_load.sql generated and
-- takes them through the pipeline as a backlog is processed (bench.scale_process():
-- staging.process_pending_events(1000) in a loop, staging, vault and rollup upkeep in one
-- transaction per batch), then closes the finished rollup buckets (bench.scale_close(): their
-- visitors counted, as the workers do between batches); both timed, recorded as
-- scale_process_<label> (events/s) and scale_close_<label> (s). Afterwards the stage's site must
-- hold exactly :total events in the vault, every one staged VALID.
-- With upkeep = off the batches leave the rollups alone (onevault_tracking.rollup_upkeep), and
-- onevault_tracking.rebuild_rollups() computes the site's rollups afterwards instead of the
-- closing step (timed as scale_close_<label>): how a bulk load is meant to be done, and how the
-- growth to 1,000,000 events fits the bench's time (the upkeep's own cost is measured apart, on
-- live traffic, by bench/scale_upkeep.sql).
-- psql variables: label, total (the site's events after this load), upkeep (on|off), what.
\set ON_ERROR_STOP 1
SELECT bench.assert(NOT EXISTS (SELECT FROM onevault_tracking.worker_status WHERE running), 'a worker runs');
SELECT bench.scale_land(NULL) AS landed \gset
SELECT bench.assert(bench.pending() = :landed, 'other events are pending');
ANALYZE raw.site_tracking_events_r;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \gset
SELECT set_config('onevault_tracking.rollup_upkeep', :'upkeep', false) \g /dev/null
CALL bench.scale_process();
RESET onevault_tracking.rollup_upkeep;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS seconds, clock_timestamp() AS t1 \gset
SELECT :'upkeep' = 'on' AS upkeep_on \gset
\if :upkeep_on
CALL bench.scale_close();
\else
SELECT onevault_tracking.rebuild_rollups(decode(substr((SELECT value FROM bench.config WHERE name = 'scale_tenant_hk'), 3), 'hex'),
                                         (SELECT value FROM bench.config WHERE name = 'scale_site')) \g /dev/null
\endif
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
                    format('%s events in %s s (upkeep %s), %s events of the site in the vault after', :landed, round(:seconds, 1), :'upkeep', :total));
SELECT bench.record('scale_close_' || :'label', 's', :close_seconds,
                    CASE WHEN :'upkeep' = 'on'
                         THEN 'reports at scale: closing the finished rollup buckets after that load (their visitors counted from the vault), 100 per transaction'
                         ELSE 'reports at scale: onevault_tracking.rebuild_rollups() of the site after that load (upkeep off), its buckets closed' END,
                    format('%s buckets of the site in all', :buckets));
