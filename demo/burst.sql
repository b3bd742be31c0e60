-- demo/burst.sql: the rate-limit burst, burst_calls page views from burst_ip, each on its own
-- (autocommit); calls after the first rate_limit are expected to be refused. psql variables:
-- burst_calls, burst_ip, rate_limit (per minute), api_key.
SELECT set_config('demo.api_key', :'api_key', false) \g /dev/null
SELECT format('SELECT demo.send_burst(%s, %L, %s)', k, :'burst_ip', :rate_limit)
  FROM generate_series(1, :burst_calls) AS k
\gexec
