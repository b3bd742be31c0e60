-- bench/traffic.sql: realistic traffic for the report timings, shared with the demo and the soak
-- test: the events demo/traffic.sql (which must have run) makes for working trackers (no broken
-- tracker, no retry; browsers, devices and bots, referrers, campaigns, sessions, properties),
-- sent through the tracking API to the benchmark's site as the demo sends them, one call each
-- from the visitor's own address. None of the measured workloads (A to I) uses them: they run on
-- fixed shapes, so that their ratios compare like with like. Prints how many events were sent
-- and how many were refused. psql variables: api_key, site.
SELECT count(*), count(*) FILTER (WHERE NOT coalesce((a ->> 'success')::boolean, false))
  FROM (SELECT demo.track(e.payload, :'api_key', :'site', e.user_agent, e.client_ip) AS a
          FROM demo.events AS e
         WHERE e.endpoint = 'api' AND e.broken IS NULL AND NOT e.retry
         ORDER BY e.n) AS sent;
