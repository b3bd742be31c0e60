-- bench/scale_results.sql, "reports at scale": the stage's three figures from bench.report_times
-- and the upkeep measurements (bench/run.sh, reports_scale), recorded in bench.results (the
-- names are the issue's; the sizes are :small and :large, 100k and 1m in a full run):
--   report_speedup_1m         the lowest, over the report set at the large size, of the report's
--                             time over the vault / its time from the rollups
--   report_growth_100k_to_1m  the highest, over the set, of a rollup report's time at the large
--                             size / at the small size
--   rollup_upkeep_cost        the extra processing time per event with the rollup upkeep on:
--                             F with upkeep off / F with upkeep on - 1, each F over all the parts
--                             processed that way (upkeep_off_part<k>, upkeep_on_part<k>)
\set ON_ERROR_STOP 1
WITH pairs AS (
    SELECT r.report || ' ' || r.range AS name, v.median_ms / r.median_ms AS speedup
      FROM bench.report_times AS r
      JOIN bench.report_times AS v USING (size, report, range)
     WHERE r.size = :'large' AND r.source = 'rollups' AND v.source = 'vault'
)
SELECT bench.record('report_speedup_1m', 'x', min(speedup),
                    format('reports at scale: lowest over the report set of vault time / rollup time, at %s events', :'large'),
                    format('lowest: %s (%sx); highest: %s (%sx)',
                           (array_agg(name ORDER BY speedup))[1], round(min(speedup), 1),
                           (array_agg(name ORDER BY speedup DESC))[1], round(max(speedup), 1)))
  FROM pairs;
WITH pairs AS (
    SELECT s.report || ' ' || s.range AS name, l.median_ms / s.median_ms AS growth
      FROM bench.report_times AS s
      JOIN bench.report_times AS l USING (report, range, source)
     WHERE s.size = :'small' AND l.size = :'large' AND s.source = 'rollups'
)
SELECT bench.record('report_growth_100k_to_1m', 'x', max(growth),
                    format('reports at scale: highest over the report set of rollup time at %s / at %s events', :'large', :'small'),
                    format('highest: %s (%s); lowest: %s (%s)',
                           (array_agg(name ORDER BY growth DESC))[1], round(max(growth), 2),
                           (array_agg(name ORDER BY growth))[1], round(min(growth), 2)))
  FROM pairs;
-- upkeep_<on|off>_part<k>: part k of bench.scale_rows (still the upkeep load) at that rate.
WITH parts AS (
    SELECT r.metric LIKE 'upkeep_on%' AS upkeep_on, sum(p.events) AS events, sum(p.events / r.value) AS seconds
      FROM bench.results AS r
     CROSS JOIN LATERAL (SELECT count(*) AS events FROM bench.scale_rows AS s
                          WHERE s.part = substring(r.metric FROM 'part(\d+)$')::int) AS p
     WHERE r.metric ~ '^upkeep_o(n|ff)_part\d+$'
     GROUP BY 1
)
SELECT bench.record('rollup_upkeep_cost', 'fraction',
                    (off.events / off.seconds) / (upkeep.events / upkeep.seconds) - 1,
                    'reports at scale: extra processing time per event with onevault_tracking.rollup_upkeep on (F off / F on - 1)',
                    format('F with upkeep off %s events/s (%s events), on %s events/s (%s events), 1 worker, same data size',
                           round(off.events / off.seconds), off.events, round(upkeep.events / upkeep.seconds), upkeep.events))
  FROM parts AS off, parts AS upkeep
 WHERE NOT off.upkeep_on AND upkeep.upkeep_on;
