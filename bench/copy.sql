-- bench/copy.sql, D: COPY of the n raw-shaped rows bench/setup.sql wrote to :copy_file into
-- bench.raw_like (empty), one statement, timed. psql variables: n, copy_file.
SELECT clock_timestamp() AS t0 \gset
COPY bench.raw_like (tenant_hk, api_key_hk, client_ip, user_agent, visitor_hash, raw_payload, client_event_id,
                     batch_id, batch_position, record_source)
FROM :'copy_file';
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS seconds \gset
SELECT bench.assert((SELECT count(*) FROM bench.raw_like) = :n, 'COPY stored the wrong number of rows');
SELECT bench.record('copy', 'rows/s', :n / :seconds, 'D: COPY of N raw-shaped rows into bench.raw_like (one statement)',
                    format('%s rows in %s s', :n, round(:seconds, 3)));
