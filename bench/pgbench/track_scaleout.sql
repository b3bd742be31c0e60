-- bench/pgbench/track_scaleout.sql: X, one tracking call per transaction (after
-- bench/pgbench/variables.sql) to a site drawn at random from X's sites, with that site's key:
-- through the proxy, or on the single node. Otherwise the workload of track.sql. run.sh fills in
-- the placeholders @...@: the implementation (api on both sides), the sites and how many there
-- are, their keys on the side called (in the same order), the workload's lists and the client
-- address, as in track.sql.
\set site_no random(1, @SITE_COUNT@)
SELECT @IMPL@.track_page_view(
    (@KEYS@)[:site_no], (@SITES@)[:site_no], '/p/' || :page || (@CAMPAIGNS@)[:campaign], (@USER_AGENTS@)[:ua], @CLIENT_IP@,
    nullif((@REFERRERS@)[:ref], ''), 'Page ' || :page,
    CASE WHEN :with_session = 1 THEN 'sess-' || :run || '-' || :sess END, 'ev-' || :client_id || '-' || :ev, now(),
    CASE WHEN :page % 5 = 0 THEN '{"plan": "pro", "experiment": "b"}'::jsonb END);
