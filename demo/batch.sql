-- demo/batch.sql: sends batch number :batch of demo.batches through the raw bulk path
-- (raw.batch_ingest_tracking_events), one call; the answer goes to demo.batch_results.
-- psql variables: batch, tenant_bk.
INSERT INTO demo.batch_results (batch_no, result)
SELECT b.batch_no,
       raw.batch_ingest_tracking_events(util.hash_binary(:'tenant_bk'),
                                        util.hash_binary('demo_api_key_edge_collector'),
                                        b.client_ip, b.user_agent, b.events)
  FROM demo.batches AS b
 WHERE b.batch_no = :batch;
