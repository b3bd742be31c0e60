-- bench/results.sql: the ratios of the run (the view bench.ratios: each with its numerator,
-- denominator, target, direction and status; freshness_p99_s is a metric in seconds with a '<='
-- target, listed with the ratios, the three figures of "reports at scale" are ratios recorded as
-- metrics, and proxy_vs_single_c4 of the scale-out stage has none: on one machine it shows what
-- the proxy's hop costs) and the run's results as one JSON document, printed for
-- run.sh to write to target/bench/results-pg<version>.json. psql variables (from run.sh): mode,
-- date, elapsed, nproc, cpu, mem_gb, kernel, load_start, load_end, build, commit, profile, n,
-- seconds, warmup, ips, sustained_seconds, scale_small, scale_large, scale_part, only.
CREATE VIEW bench.ratios AS
SELECT r.*,
       CASE WHEN r.target IS NULL THEN 'no target'
            WHEN r.op = '>=' AND r.value >= r.target THEN 'PASS'
            WHEN r.op = '<=' AND r.value <= r.target THEN 'PASS'
            ELSE 'BELOW' END AS status
  FROM (
SELECT d.ord, d.ratio, d.numerator, d.denominator, n.value / coalesce(nullif(m.value, 0), CASE WHEN d.denominator IS NULL THEN 1 END) AS value,
       d.op, d.target
  FROM (VALUES (1, 'track_vs_insert_c1', 'track_c1', 'insert_c1', '>=', 0.5),
               (2, 'track_vs_insert_c2', 'track_c2', 'insert_c2', '>=', 0.5),
               (3, 'track_vs_plpgsql_c1', 'track_c1', 'plpgsql_c1', '>=', 3),
               (4, 'track_vs_plpgsql_c2', 'track_c2', 'plpgsql_c2', NULL, NULL),
               -- The call that stages and loads in the call (api_processing = immediate): before.
               (5, 'track_immediate_vs_insert_c1', 'track_immediate_c1', 'insert_c1', NULL, NULL),
               (6, 'track_immediate_vs_plpgsql_c1', 'track_immediate_c1', 'plpgsql_c1', NULL, NULL),
               -- Sustained: vault events per second with the worker draining, 4 clients.
               (7, 'sustained_vs_insert_c4', 'sustained_c4', 'insert_c4', '>=', 0.3),
               (8, 'sustained_vs_plpgsql_c4', 'sustained_c4', 'plpgsql_sustained_c4', '>=', 3),
               -- Not a ratio: seconds from the call to the vault, lower is better.
               (9, 'freshness_p99_s', 'freshness_p99_s', NULL, '<=', 2),
               (10, 'batch_vs_copy', 'batch', 'copy', '>=', 0.5),
               (11, 'process_vs_copy', 'process', 'copy', '>=', 0.1),
               (12, 'process_1m_vs_copy', 'process_1m', 'copy', '>=', 0.1),
               (13, 'process_1m_vs_process', 'process_1m', 'process', NULL, NULL),
               (14, 'process_sql_vs_copy', 'process_sql', 'copy', NULL, NULL),
               (15, 'hash_vs_pgcrypto', 'hash_native', 'hash_pgcrypto', '>=', 2),
               -- Upper bounds of the in-call path (bench/floor.sql), and how near B is.
               (16, 'floor_vs_insert_c1', 'floor_c1', 'insert_c1', NULL, NULL),
               (17, 'floor_vs_plpgsql_c1', 'floor_c1', 'plpgsql_c1', NULL, NULL),
               (18, 'track_vs_floor_c1', 'track_c1', 'floor_c1', NULL, NULL),
               (19, 'track_immediate_vs_floor_c1', 'track_immediate_c1', 'floor_c1', NULL, NULL),
               -- Upper bounds of the fast path (bench/fast_floor.sql), and how near B is.
               (20, 'fast_floor_vs_insert_c1', 'fast_floor_c1', 'insert_c1', NULL, NULL),
               (21, 'track_vs_fast_floor_c1', 'track_c1', 'fast_floor_c1', NULL, NULL),
               -- The upper bound of process_vs_copy (bench/process_floor.sql), and how near F is.
               (22, 'process_floor_vs_copy', 'process_floor', 'copy', NULL, NULL),
               (23, 'process_vs_floor', 'process', 'process_floor', NULL, NULL),
               -- Reports at scale (bench/scale_results.sql): ratios already, no denominator.
               (24, 'report_speedup_1m', 'report_speedup_1m', NULL, '>=', 50),
               (25, 'report_growth_100k_to_1m', 'report_growth_100k_to_1m', NULL, '<=', 1.5),
               (26, 'rollup_upkeep_cost', 'rollup_upkeep_cost', NULL, '<=', 0.15),
               -- Scale-out (X): through the proxy to three shards / on the single node, 4 clients.
               (27, 'proxy_vs_single_c4', 'proxy_c4', 'single_c4', NULL, NULL))
       AS d (ord, ratio, numerator, denominator, op, target)
  JOIN bench.results AS n ON n.metric = d.numerator
  LEFT JOIN bench.results AS m ON m.metric = d.denominator
 WHERE d.denominator IS NULL OR m.metric IS NOT NULL) AS r;

-- R (reports at scale) makes bench.report_times; a run without R (BENCH_ONLY=scaleout) has an
-- empty one of the columns read below, and lists no reports at scale.
DO $no_reports_at_scale$
BEGIN
    IF to_regclass('bench.report_times') IS NULL THEN
        CREATE VIEW bench.report_times AS
        SELECT NULL::integer AS ord, NULL::text AS size, NULL::bigint AS events, NULL::text AS report,
               NULL::text AS range, NULL::text AS source, NULL::numeric AS median_ms, NULL::integer AS runs,
               NULL::boolean AS same_answer
         WHERE false;
    END IF;
END
$no_reports_at_scale$;

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
                                     'sustained_seconds', :sustained_seconds, 'workers', 1,
                                     'pgbench_warmup_seconds', :warmup, 'pgbench_protocol', 'prepared',
                                     'client_ips', :ips, 'hash_keys', 1000000,
                                     'scale_events', json_build_array(:scale_small, :scale_large),
                                     'scale_upkeep_part_events', :scale_part, 'only', nullif(:'only', '')),
    'throughput', (SELECT json_object_agg(metric, round(value, CASE WHEN unit = 's' THEN 3 ELSE 1 END) ORDER BY ord) FROM bench.results),
    'units', (SELECT json_object_agg(metric, unit ORDER BY ord) FROM bench.results),
    'descriptions', (SELECT json_object_agg(metric, what ORDER BY ord) FROM bench.results),
    'notes', (SELECT json_object_agg(metric, notes ORDER BY ord) FROM bench.results WHERE notes IS NOT NULL),
    'wal_bytes_per_transaction', (SELECT json_object_agg(metric, wal_bytes_per_tx ORDER BY ord) FROM bench.results
                                   WHERE wal_bytes_per_tx IS NOT NULL),
    'ratios', (SELECT json_object_agg(ratio, round(value, 3) ORDER BY ord) FROM bench.ratios),
    'targets', (SELECT json_object_agg(ratio, target ORDER BY ord) FROM bench.ratios WHERE target IS NOT NULL),
    -- '>=': the ratio must reach the target; '<=' (freshness_p99_s, in seconds): must not exceed it.
    'target_directions', (SELECT json_object_agg(ratio, op ORDER BY ord) FROM bench.ratios WHERE target IS NOT NULL),
    'status', (SELECT json_object_agg(ratio, status ORDER BY ord) FROM bench.ratios),
    -- Reports at scale: each report's median time in ms per size, range and source, the calls
    -- timed, and whether the vault's answer equalled the rollups'.
    'reports_at_scale', (SELECT json_agg(json_build_object('size', size, 'events', events, 'report', report, 'range', range,
                                                           'source', source, 'median_ms', round(median_ms, 2), 'runs', runs,
                                                           'same_answer', same_answer) ORDER BY ord)
                           FROM bench.report_times));
