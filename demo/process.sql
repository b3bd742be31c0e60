-- demo/process.sql: one processing call (staging.process_pending_events), recorded as call
-- :call in demo.processing_calls; prints claimed, valid, quarantined, errors, failed.
-- psql variables: call, batch_size.
INSERT INTO demo.processing_calls (call_no, result)
SELECT :call, staging.process_pending_events(:batch_size)
RETURNING result ->> 'claimed', result ->> 'valid', result ->> 'quarantined', result ->> 'errors', result ->> 'failed';
