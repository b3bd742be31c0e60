-- bench/pgbench/track.sql: B and C, one tracking call per transaction (after
-- bench/pgbench/variables.sql) to the track_page_view of api (the extension) or bench_plpgsql
-- (the PL/pgSQL reference, bench/plpgsql_pipeline.sql). run.sh fills in the placeholders @...@:
-- the implementation, the workload's lists and the client address, as in insert_raw.sql.
SELECT @IMPL@.track_page_view(
    :api_key, :site, '/p/' || :page || (@CAMPAIGNS@)[:campaign], (@USER_AGENTS@)[:ua], @CLIENT_IP@,
    nullif((@REFERRERS@)[:ref], ''), 'Page ' || :page,
    CASE WHEN :with_session = 1 THEN 'sess-' || :run || '-' || :sess END, 'ev-' || :client_id || '-' || :ev, now(),
    CASE WHEN :page % 5 = 0 THEN '{"plan": "pro", "experiment": "b"}'::jsonb END);
