-- bench/sustained.sql, after a sustained run (pgbench, 4 clients, :seconds s) of tracking calls:
-- how many of the run's events reached the vault by the end, and how fresh they were.
-- The run's events are the raw rows after :id0 with an API key. At most :grace seconds after
-- pgbench ended (or as soon as nothing is pending), the events then staged and loaded (the
-- worker commits staging and vault rows together) are counted: :metric is that count divided by
-- the run's :seconds (events still waiting do not count). Then the backlog is drained (at most
-- :drain_timeout s), every call must have been accepted and every event staged VALID and loaded
-- exactly once. With :freshness, the freshness of every event of the run (drained later or not)
-- is recorded: raw.processed_at (set by clock_timestamp() in the worker's batch after the vault
-- rows are written, just before the batch's audit record and commit) minus raw.received_at
-- (clock_timestamp() when the call inserted the raw row): freshness_p99_s, its 99th percentile.
-- psql variables: id0, seconds, tx (calls pgbench committed), metric, what, grace,
-- drain_timeout, freshness (true/false).
SELECT clock_timestamp() AS ended, bench.pending() AS backlog_at_end,
       set_config('bench.grace_until', (clock_timestamp() + make_interval(secs => :grace))::text, false) AS grace_until \gset
DO $grace$
BEGIN
    WHILE bench.pending() > 0 AND clock_timestamp() < current_setting('bench.grace_until')::timestamptz LOOP
        PERFORM pg_sleep(0.01);
    END LOOP;
END
$grace$;
SELECT clock_timestamp() AS counted_at,
       (SELECT count(*) FROM raw.site_tracking_events_r AS r
          JOIN staging.site_tracking_events_s AS s USING (raw_event_id)
         WHERE r.raw_event_id > :id0 AND r.api_key_hk IS NOT NULL
           AND s.validation_status = 'VALID' AND s.loaded_to_vault) AS reached \gset
SELECT bench.wait_drained(:drain_timeout) AS drain_seconds \gset
SELECT count(*) AS raw_rows,
       count(*) FILTER (WHERE r.processing_status = 'PROCESSED') AS processed,
       count(s.raw_event_id) FILTER (WHERE s.validation_status = 'VALID' AND s.loaded_to_vault) AS loaded
  FROM raw.site_tracking_events_r AS r
  LEFT JOIN staging.site_tracking_events_s AS s USING (raw_event_id)
 WHERE r.raw_event_id > :id0 AND r.api_key_hk IS NOT NULL \gset
SELECT count(*) AS vault_events, count(DISTINCT l.tracking_event_bk) AS vault_distinct
  FROM business.tracking_event_l AS l
 WHERE l.tracking_event_bk::bigint > :id0 AND l.api_key_hk IS NOT NULL \gset
SELECT bench.assert(:raw_rows = :tx AND :processed = :tx AND :loaded = :tx AND :vault_events = :tx AND :vault_distinct = :tx,
                    format('%s: %s calls, but %s raw rows, %s processed, %s staged VALID and loaded, %s vault events (%s distinct)',
                           :'metric', :tx, :raw_rows, :processed, :loaded, :vault_events, :vault_distinct));
SELECT bench.record(:'metric', 'events/s', :reached / :seconds::numeric, :'what',
                    format('%s calls in %s s, %s events in the vault %s s after the end (%s pending at the end, all drained after %s s more), all staged and loaded once',
                           :tx, :seconds, :reached, round(extract(epoch FROM :'counted_at'::timestamptz - :'ended'::timestamptz), 1),
                           :backlog_at_end, round(:drain_seconds, 1)));
\if :freshness
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY f) AS p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY f) AS p99,
       max(f) AS max
  FROM (SELECT extract(epoch FROM processed_at - received_at) AS f
          FROM raw.site_tracking_events_r
         WHERE raw_event_id > :id0 AND api_key_hk IS NOT NULL) AS e \gset
SELECT bench.record('freshness_p99_s', 's', :p99,
                    'the 99th percentile of (raw.processed_at - raw.received_at) over the events of ' || :'metric' || ' (lower is better)',
                    format('p50 %s s, p99 %s s, max %s s over %s events', round(:p50::numeric, 3), round(:p99::numeric, 3),
                           round(:max::numeric, 3), :tx));
\endif
