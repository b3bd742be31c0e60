-- demo/batch_result.sql: records the time batch :batch took (ms) and prints its answer: size,
-- accepted, duplicates, rejected, and what the batch is.
UPDATE demo.batch_results SET milliseconds = :ms WHERE batch_no = :batch;
SELECT (result ->> 'size'), (result ->> 'accepted'), (result ->> 'duplicates'), (result ->> 'rejected'), b.story
  FROM demo.batch_results JOIN demo.batches AS b USING (batch_no)
 WHERE batch_no = :batch;
