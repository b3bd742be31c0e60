-- tests/reliability/worker.sh: 20 visitors (one client address and user agent each), each with 20
-- page views a minute apart and no session id of their own, landed in one transaction: one visit
-- each, for the workers to derive. Consecutive events of a visitor fall into different (small)
-- batches that two workers process at the same time.
\set ON_ERROR_STOP 1
BEGIN;
SELECT count(*) FILTER (WHERE (raw.batch_ingest_tracking_events(
           util.hash_binary('Worker Corp'), NULL, ('192.0.2.' || v)::inet,
           'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
           (SELECT jsonb_agg(jsonb_build_object(
                       'event_type', 'page_view', 'page_url', 'https://worker.example/visit/' || e,
                       'event_id', 'visit-' || v || '-' || e,
                       'timestamp', to_jsonb(now() - make_interval(mins => 40 - e))) ORDER BY e)
              FROM generate_series(1, 20) AS e)) ->> 'accepted')::int = 20)
  FROM generate_series(1, 20) AS v;
COMMIT;
