-- bench/results.sql: the ratios of the run (the view bench.ratios: each with its numerator,
-- denominator, target and status) and the run's results as one JSON document, printed for
-- run.sh to write to target/bench/results-pg<version>.json. psql variables (from run.sh): mode,
-- date, elapsed, nproc, cpu, mem_gb, kernel, load_start, load_end, build, commit, profile, n,
-- seconds, warmup, ips.
CREATE VIEW bench.ratios AS
SELECT d.ord, d.ratio, d.numerator, d.denominator, n.value / nullif(m.value, 0) AS value, d.target,
       CASE WHEN d.target IS NULL THEN 'no target'
            WHEN n.value / nullif(m.value, 0) >= d.target THEN 'PASS' ELSE 'BELOW' END AS status
  FROM (VALUES (1, 'track_vs_insert_c1', 'track_c1', 'insert_c1', 0.5),
               (2, 'track_vs_insert_c2', 'track_c2', 'insert_c2', NULL),
               (3, 'track_vs_plpgsql_c1', 'track_c1', 'plpgsql_c1', 3),
               (4, 'track_vs_plpgsql_c2', 'track_c2', 'plpgsql_c2', NULL),
               (5, 'batch_vs_copy', 'batch', 'copy', 0.5),
               (6, 'process_vs_copy', 'process', 'copy', 0.1),
               (7, 'hash_vs_pgcrypto', 'hash_native', 'hash_pgcrypto', 2),
               -- Upper bounds of the first and third ratio (bench/floor.sql), and how near B is.
               (8, 'floor_vs_insert_c1', 'floor_c1', 'insert_c1', NULL),
               (9, 'floor_vs_plpgsql_c1', 'floor_c1', 'plpgsql_c1', NULL),
               (10, 'track_vs_floor_c1', 'track_c1', 'floor_c1', NULL),
               -- The upper bound of process_vs_copy (bench/process_floor.sql), and how near F is.
               (11, 'process_floor_vs_copy', 'process_floor', 'copy', NULL),
               (12, 'process_vs_floor', 'process', 'process_floor', NULL)) AS d (ord, ratio, numerator, denominator, target)
  JOIN bench.results AS n ON n.metric = d.numerator
  JOIN bench.results AS m ON m.metric = d.denominator;

SELECT json_build_object(
    'benchmark', 'onevault_tracking bench/run.sh',
    'mode', :'mode',
    'date', :'date',
    'elapsed_seconds', :elapsed,
    'machine', json_build_object('nproc', :nproc, 'cpu_model', :'cpu', 'memory_gb', :mem_gb, 'kernel', :'kernel',
                                 'load_average_at_start', :'load_start', 'load_average_at_end', :'load_end'),
    'postgresql', json_build_object('version', current_setting('server_version'), 'fsync', current_setting('fsync'),
                                     'synchronous_commit', current_setting('synchronous_commit'),
                                     'shared_buffers', current_setting('shared_buffers')),
    'extension', json_build_object('version', (SELECT extversion FROM pg_extension WHERE extname = 'onevault_tracking'),
                                    'build', :'build', 'commit', :'commit'),
    'profiled', :profile,
    'parameters', json_build_object('events_n', :n, 'batch_size', 1000, 'pgbench_seconds', :seconds,
                                     'pgbench_warmup_seconds', :warmup, 'pgbench_protocol', 'prepared',
                                     'client_ips', :ips, 'hash_keys', 1000000),
    'throughput', (SELECT json_object_agg(metric, round(value, 1) ORDER BY ord) FROM bench.results),
    'units', (SELECT json_object_agg(metric, unit ORDER BY ord) FROM bench.results),
    'descriptions', (SELECT json_object_agg(metric, what ORDER BY ord) FROM bench.results),
    'notes', (SELECT json_object_agg(metric, notes ORDER BY ord) FROM bench.results WHERE notes IS NOT NULL),
    'wal_bytes_per_transaction', (SELECT json_object_agg(metric, wal_bytes_per_tx ORDER BY ord) FROM bench.results
                                   WHERE wal_bytes_per_tx IS NOT NULL),
    'ratios', (SELECT json_object_agg(ratio, round(value, 3) ORDER BY ord) FROM bench.ratios),
    'targets', (SELECT json_object_agg(ratio, target ORDER BY ord) FROM bench.ratios WHERE target IS NOT NULL),
    'status', (SELECT json_object_agg(ratio, status ORDER BY ord) FROM bench.ratios));
