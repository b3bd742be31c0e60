-- bench/hash.sql, G: after the rounds of bench/hash_round.sql (same session), checks that every
-- statement made one key per text, that the native keys are distinct and equal pgcrypto's, and
-- records the best round of each statement. psql variables: keys, site, tenant ('\x...').
SELECT bench.assert(NOT EXISTS (SELECT FROM timings WHERE keys <> :keys), 'a hash statement did not give one key per input');
-- Untimed: the timed statements measure hashing; sorting a million keys to count the distinct
-- ones would add the same large cost to both sides.
SELECT bench.assert((SELECT count(DISTINCT onevault_tracking.hash_binary(:'site' || '|/p/' || i))
                       FROM generate_series(1, :keys) AS i) = :keys, 'the native hash keys are not all distinct');
SELECT bench.assert(NOT EXISTS (SELECT FROM generate_series(1, 1000) AS i
                                 WHERE onevault_tracking.hash_binary(:'site' || '|/p/' || i) <> util.hash_binary(:'site' || '|/p/' || i)
                                    OR onevault_tracking.hash_key(:'tenant'::bytea, :'site', '/p/' || i)
                                       <> util.hash_binary(encode(:'tenant'::bytea, 'hex') || '|' || :'site' || '|/p/' || i)),
                    'the native hashes differ from util.hash_binary');
SELECT bench.record(metric, 'keys/s', (:keys / seconds)::numeric,
       CASE metric
           WHEN 'hash_native' THEN 'G: count(onevault_tracking.hash_binary(text)) over 1,000,000 keys'
           WHEN 'hash_pgcrypto' THEN 'G: count(util.hash_binary(text)) (pgcrypto digest) over the same keys'
           WHEN 'hash_key_native' THEN 'extra: onevault_tracking.hash_key(tenant, site, path) over 1,000,000 keys'
           ELSE 'extra: the same hash key built in SQL (hex tenant, escaped parts) and util.hash_binary' END,
       format('best of %s: %s s', runs, round(seconds::numeric, 3)))
  FROM (SELECT metric, min(seconds) AS seconds, count(*) AS runs, min(ord) AS ord
          FROM timings GROUP BY metric ORDER BY min(ord)) AS best;
