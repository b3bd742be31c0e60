-- bench/scale_upkeep.sql, "reports at scale": one part of the upkeep load (bench/scale_load.sql
-- with parts = 4) through F as run.sh measures it (bench/process_worker.sql: one background
-- worker, timed from its start until nothing is pending), with onevault_tracking.rollup_upkeep
-- :upkeep for the database (the worker takes the database's settings when it connects), recorded
-- as upkeep_<on|off>_part<part>. Checks that the rollups grew by the part's events exactly when
-- the upkeep was on. psql variables: part, upkeep (on or off), db, timeout.
\set ON_ERROR_STOP 1
ALTER DATABASE :"db" SET onevault_tracking.rollup_upkeep = :upkeep;
SELECT decode(substr((SELECT value FROM bench.config WHERE name = 'scale_tenant_hk'), 3), 'hex') AS scale_tenant \gset
SELECT coalesce(sum(events), 0) AS rolled0 FROM business.site_traffic_rollup
 WHERE tenant_hk = :'scale_tenant' AND granularity = 'h' AND page_filter = '' AND dimension = '' \gset
SELECT bench.scale_land(:part) AS n \gset
ANALYZE raw.site_tracking_events_r;
CHECKPOINT;
SELECT 'upkeep_' || :'upkeep' || '_part' || :part AS metric,
       format('reports at scale: F (one worker) on part %s of the upkeep load with onevault_tracking.rollup_upkeep %s', :part, :'upkeep') AS what \gset
\ir process_worker.sql
ALTER DATABASE :"db" RESET onevault_tracking.rollup_upkeep;
SELECT bench.assert((SELECT coalesce(sum(events), 0) FROM business.site_traffic_rollup
                      WHERE tenant_hk = :'scale_tenant' AND granularity = 'h' AND page_filter = '' AND dimension = '')
                    - :rolled0 = CASE :'upkeep' WHEN 'on' THEN :n ELSE 0 END,
                    format('the rollups did not follow onevault_tracking.rollup_upkeep = %s', :'upkeep'));
