-- tests/reliability/worker.sh: :batches batches of 1000 events landed in one transaction, so the
-- workers find them all at once (psql variables: batches, prefix).
\set ON_ERROR_STOP 1
BEGIN;
SELECT count(*) FILTER (WHERE (raw.batch_ingest_tracking_events(util.hash_binary('Worker Corp'), NULL,
                                   ('198.51.100.' || b)::inet, 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
                                   public.worker_batch(:'prefix' || b, 1000)) ->> 'accepted')::int = 1000)
  FROM generate_series(1, :batches) AS b;
COMMIT;
