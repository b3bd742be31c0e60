-- bench/summary.sql: the run's table: every throughput with its unit and notes, then every ratio
-- with its target and status (after bench/results.sql); freshness_p99_s is in seconds, lower is
-- better ('<=').
\pset footer off
SELECT metric AS name, unit, to_char(value, CASE WHEN unit = 's' THEN 'FM999990D000' ELSE 'FM999G999G999G990D0' END) AS throughput, notes
  FROM bench.results ORDER BY ord;
SELECT ratio, numerator || CASE WHEN denominator IS NOT NULL THEN ' / ' || denominator WHEN ratio = 'freshness_p99_s' THEN ' (s)' ELSE '' END AS "of", to_char(value, 'FM999990D000') AS value,
       coalesce(op || ' ' || target, '') AS target, status
  FROM bench.ratios ORDER BY ord;
