-- bench/profile.sql: with --profile, the statements of the last measured run by total time, from
-- pg_stat_statements (track = all): the calls matching :top at the top level, and what they run
-- inside, with its share of the time and its time per :unit (a tracking call, or an event of F).
-- psql variables: calls (how many units), top (a regular expression), unit.
\pset footer off
SELECT (SELECT round(sum(total_exec_time)::numeric, 1) FROM pg_stat_statements WHERE toplevel AND query ~ :'top') AS calls_total_ms,
       :calls AS calls,
       (SELECT round((sum(total_exec_time) / :calls)::numeric, 3) FROM pg_stat_statements WHERE toplevel AND query ~ :'top') AS ms_per_call \gset
\echo :unit 's:' :calls ', total' :calls_total_ms 'ms,' :ms_per_call 'ms per' :unit
\echo 'statements run inside (pg_stat_statements, track = all), by total time (per' :unit '):'
SELECT round((100 * total_exec_time / :calls_total_ms)::numeric, 1) AS "% of calls",
       round((total_exec_time / :calls)::numeric, 3) AS "ms per call",
       round((calls::numeric / :calls), 2) AS "runs per call",
       round(mean_exec_time::numeric, 3) AS "ms per run",
       left(regexp_replace(query, '\s+', ' ', 'g'), 150) AS statement
  FROM pg_stat_statements
 WHERE NOT toplevel
 ORDER BY total_exec_time DESC
 LIMIT 40;
