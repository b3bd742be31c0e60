-- demo/burst_summary.sql: one line on the burst's answers. psql variable: ms, the burst's time.
SELECT format('  %s calls in %s ms (%s to %s): %s accepted, %s RATE_LIMITED (from call %s on; retry_after %s to %s s)',
              count(*), :ms, to_char(min(called_at), 'HH24:MI:SS.MS'), to_char(max(called_at), 'HH24:MI:SS.MS'),
              count(*) FILTER (WHERE answer ->> 'success' = 'true'),
              count(*) FILTER (WHERE answer ->> 'error_code' = 'RATE_LIMITED'),
              coalesce(min(seq) FILTER (WHERE answer ->> 'error_code' = 'RATE_LIMITED')::text, '-'),
              coalesce(min((answer ->> 'retry_after')::int)::text, '-'), coalesce(max((answer ->> 'retry_after')::int)::text, '-'))
  FROM demo.api_calls
 WHERE story = 'rate-limit burst';
