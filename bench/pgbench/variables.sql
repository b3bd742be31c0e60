-- bench/pgbench/variables.sql: the random choices of one call of the workload, at the top of the
-- pgbench scripts of A, B and C (bench/run.sh writes them into work/ from this file and
-- bench/pgbench/insert_raw.sql or track.sql). The list lengths and the number of client
-- addresses come from run.sh (pgbench -D).
\set page random(1, 200)
\set ua random(1, :user_agents)
\set ref random(1, :referrers)
\set campaign random(1, :campaigns)
\set ip random(1, :client_ips)
\set sess random(1, 20000)
\set with_session random(0, 1)
\set ev random(1, 4000000000000000000)
