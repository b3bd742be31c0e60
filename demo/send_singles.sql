-- demo/send_singles.sql: sends the single events lo to hi (demo.send_single), each statement on
-- its own (autocommit): one transaction per event. Prints the browser traffic's answers so far:
-- successes, INVALID_EVENT, DUPLICATE_EVENT, other answers, and events sent to the raw endpoint.
-- psql variables: lo, hi, tenant_bk, api_key.
SELECT set_config('demo.api_key', :'api_key', false), set_config('demo.tenant_bk', :'tenant_bk', false) \g /dev/null
\o /dev/null
SELECT format('SELECT demo.send_single(%s)', n)
  FROM demo.events
 WHERE channel = 'single' AND n BETWEEN :lo AND :hi
 ORDER BY n
\gexec
\o
SELECT count(*) FILTER (WHERE answer ->> 'success' = 'true'),
       count(*) FILTER (WHERE answer ->> 'error_code' = 'INVALID_EVENT'),
       count(*) FILTER (WHERE answer ->> 'error_code' = 'DUPLICATE_EVENT'),
       count(*) FILTER (WHERE answer ->> 'success' <> 'true'
                          AND answer ->> 'error_code' NOT IN ('INVALID_EVENT', 'DUPLICATE_EVENT')),
       (SELECT count(*) FROM demo.raw_sends)
  FROM demo.api_calls
 WHERE story = 'browser traffic';
