-- bench/summary.sql: the run's table: every throughput with its unit and notes, then every ratio
-- with its target and status (after bench/results.sql).
\pset footer off
SELECT metric AS name, unit, to_char(value, 'FM999G999G999G990D0') AS throughput, notes
  FROM bench.results ORDER BY ord;
SELECT ratio, numerator || ' / ' || denominator AS "of", to_char(value, 'FM999990D000') AS value,
       coalesce('>= ' || target, '') AS target, status
  FROM bench.ratios ORDER BY ord;
