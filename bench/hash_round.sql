-- bench/hash_round.sql, G: one round of the four hash statements over :keys texts, each timed into
-- the temporary table timings; run.sh runs it once per round in one session, then
-- bench/hash.sql. The native hashes (onevault_tracking.hash_binary, hash_key) against pgcrypto's
-- (util.hash_binary) and the same hash key built in SQL, alternating, so that drift in the
-- machine's speed falls on both sides. psql variables: keys, site, tenant ('\x...').
SELECT to_regclass('pg_temp.timings') IS NULL AS first_round \gset
\if :first_round
CREATE TEMP TABLE timings (ord serial, metric text, seconds float8, keys bigint);
\endif
SELECT clock_timestamp() AS t0 \gset
SELECT count(onevault_tracking.hash_binary(:'site' || '|/p/' || i)) AS k FROM generate_series(1, :keys) AS i \gset
INSERT INTO timings (metric, seconds, keys) VALUES ('hash_native', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), :k);
SELECT clock_timestamp() AS t0 \gset
SELECT count(util.hash_binary(:'site' || '|/p/' || i)) AS k FROM generate_series(1, :keys) AS i \gset
INSERT INTO timings (metric, seconds, keys) VALUES ('hash_pgcrypto', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), :k);
SELECT clock_timestamp() AS t0 \gset
SELECT count(onevault_tracking.hash_key(:'tenant'::bytea, :'site', '/p/' || i)) AS k FROM generate_series(1, :keys) AS i \gset
INSERT INTO timings (metric, seconds, keys) VALUES ('hash_key_native', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), :k);
SELECT clock_timestamp() AS t0 \gset
SELECT count(util.hash_binary(encode(:'tenant'::bytea, 'hex') || '|' || replace(replace(:'site', '\', '\\'), '|', '\|')
                                       || '|' || replace(replace('/p/' || i, '\', '\\'), '|', '\|'))) AS k
  FROM generate_series(1, :keys) AS i \gset
INSERT INTO timings (metric, seconds, keys) VALUES ('hash_key_sql', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), :k);
