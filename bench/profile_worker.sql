-- bench/profile_worker.sql: with --profile, what the processing worker ran during the last
-- measurement, from pg_stat_statements (track = all): a worker's statements are top-level ones
-- (it runs them through SPI outside any client statement), so they are the top-level statements
-- that neither the measured calls (:top) nor the benchmark itself (its checks, polls, checkpoints)
-- ran; time per event over :events events (the worker's own Rust time between statements is not
-- in it). psql variables: events, top (a regular expression for the measured calls).
\pset footer off
SELECT coalesce(round(sum(total_exec_time)::numeric, 1), 0) AS worker_ms
  FROM pg_stat_statements
 WHERE toplevel AND query !~ :'top'
   AND query !~* '(bench\.|pg_stat_statements|worker_status|start_workers|stop_workers|CHECKPOINT|pg_current_wal|pg_wal_lsn_diff)' \gset
\echo 'worker statements for' :events 'events: total' :worker_ms 'ms'
SELECT round((100 * total_exec_time / nullif(:worker_ms, 0))::numeric, 1) AS "% of worker",
       round((total_exec_time / :events)::numeric, 4) AS "ms per event",
       calls AS runs,
       round(mean_exec_time::numeric, 3) AS "ms per run",
       left(regexp_replace(query, '\s+', ' ', 'g'), 150) AS statement
  FROM pg_stat_statements
 WHERE toplevel AND query !~ :'top'
   AND query !~* '(bench\.|pg_stat_statements|worker_status|start_workers|stop_workers|CHECKPOINT|pg_current_wal|pg_wal_lsn_diff)'
 ORDER BY total_exec_time DESC
 LIMIT 30;
