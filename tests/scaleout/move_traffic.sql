-- Page views of one site (psql variables key, domain) through the proxy while the site moves:
-- 150 calls 20 ms apart, each routed by the placement as it is at that moment. Answers the
-- accepted calls and all calls.
SELECT count(*) FILTER (WHERE (t.answer ->> 'success')::boolean), count(*)
  FROM (SELECT api.track_page_view(:'key', :'domain', '/during-move/' || i, 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0',
                                   ('192.0.2.' || (i % 200 + 1))::inet) AS answer,
               pg_sleep(0.02)
          FROM generate_series(1, 150) AS i) AS t;
