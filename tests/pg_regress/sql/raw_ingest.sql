-- The raw landing layer's SQL contract.
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, load_date, record_source) VALUES
    (util.hash_binary('Oldest Corp_2020-01-01'), 'Oldest Corp_2020-01-01', '2020-01-01', 'regress'),
    (util.hash_binary('Acme Corp_2025-06-21'), 'Acme Corp_2025-06-21', '2025-06-21', 'regress');
SELECT util.hash_binary('Acme Corp_2025-06-21') AS acme \gset

-- Every bad input gets its own SQLSTATE, message and hint, and writes nothing.
CREATE FUNCTION pg_temp.attempt(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    hint text;
BEGIN
    EXECUTE statement;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ' ' || SQLERRM || E'\n      hint: ' || hint;
END $$;

SELECT pg_temp.attempt(format('SELECT raw.ingest_tracking_event(%L::bytea, NULL, %L, %L, %L)', t, ip, ua, payload)) AS answer
  FROM (VALUES
    (NULL, '10.0.0.1', 'UA', '{"event_type": "page_view"}'),
    ('\x00', '10.0.0.1', 'UA', '{"event_type": "page_view"}'),
    (:'acme', '10.0.0.1', 'UA', NULL),
    (:'acme', '10.0.0.1', 'UA', '[{"event_type": "page_view"}]'),
    (:'acme', '10.0.0.1', 'UA', '"page_view"'),
    (:'acme', '10.0.0.1', 'UA', 'null'),
    (:'acme', '10.0.0.1', 'UA', '{}'),
    (:'acme', '10.0.0.1', 'UA', json_build_object('page_title', repeat('x', 70000))::text),
    (:'acme', '10.0.0.1', repeat('Mozilla/5.0 ', 200), '{"event_type": "page_view"}')
  ) AS bad (t, ip, ua, payload);
SELECT pg_temp.attempt(format('SELECT raw.ingest_tracking_event(%L::bytea, ''\x0102''::bytea, NULL, NULL, ''{"a": 1}'')', :'acme')) AS short_api_key;
SELECT pg_temp.attempt(format('SELECT raw.batch_ingest_tracking_events(%L::bytea, NULL, NULL, NULL, %L)', t, events)) AS batch_answer
  FROM (VALUES
    (:'acme', '{"event_type": "page_view"}'),
    (:'acme', NULL),
    ('\x00', '[{"event_type": "page_view"}]')
  ) AS bad (t, events);
SET onevault_tracking.max_batch_size = 3;
SELECT pg_temp.attempt(format('SELECT raw.batch_ingest_tracking_events(%L::bytea, NULL, NULL, NULL, %L)', :'acme',
                              '[{"a":1},{"a":2},{"a":3},{"a":4}]')) AS batch_over_limit;
RESET onevault_tracking.max_batch_size;
SELECT (SELECT count(*) FROM raw.site_tracking_events_r) AS raw_rows,
       (SELECT count(*) FROM audit.audit_detail_s) AS audit_rows;

-- The seed-style call lands one PENDING row; the IP is stored as its /24.
SELECT raw.ingest_tracking_event(:'acme', NULL, '192.168.1.100', 'Test Browser',
       '{"event_type": "page_view", "page_path": "/dashboard", "event_id": "evt-0001"}') AS raw_event_id \gset
SELECT tenant_hk = :'acme' AS right_tenant, host(client_ip) AS stored_ip, user_agent, processing_status,
       client_event_id, batch_id IS NULL AS not_batched, retry_count, record_source
  FROM raw.site_tracking_events_r WHERE raw_event_id = :raw_event_id;
-- A retry with the same client event id answers with the same row and writes nothing.
SELECT raw.ingest_tracking_event(:'acme', NULL, '192.168.1.100', 'Test Browser',
       '{"event_type": "page_view", "page_path": "/dashboard", "event_id": "evt-0001"}') = :raw_event_id AS same_event;

-- A batch lands the valid items with one audit record; invalid ones are reported per item.
SELECT answer - 'batch_id' - 'first_raw_event_id' - 'last_raw_event_id' - 'results' AS summary,
       (SELECT jsonb_agg(r - 'raw_event_id') FROM jsonb_array_elements(answer -> 'results') AS r) AS results
  FROM raw.batch_ingest_tracking_events(:'acme', NULL, '2001:db8:85a3:8d3:1319:8a2e:370:7348', 'Test Browser',
       '[{"event_type": "page_view", "page_path": "/a", "event_id": "evt-0002"},
         {},
         {"event_type": "custom", "event_name": "signup", "event_id": "evt-0001"},
         "not an object",
         {"event_type": "page_view", "page_path": "/b"}]') AS answer;
SELECT batch_position, host(client_ip) AS stored_ip, raw_payload ->> 'page_path' AS page_path
  FROM raw.site_tracking_events_r WHERE batch_id IS NOT NULL ORDER BY batch_position;

-- Audit: one record per event and per batch, all on Acme (not the oldest tenant), without IP or user agent.
SELECT d.operation, d.table_name, d.changed_by, a.tenant_hk = :'acme' AS right_tenant,
       d.new_data ? 'tenant_id' AS has_tenant_id,
       d.new_data::text LIKE '%192.168%' OR d.new_data::text LIKE '%Test Browser%' AS leaks_client
  FROM audit.audit_detail_s d JOIN audit.audit_event_h a USING (audit_event_hk)
 ORDER BY d.operation;

-- Monitoring.
SELECT tenant_hk = :'acme' AS acme, total_events, pending_events, processed_events, quarantined_events,
       failed_events, error_rate, oldest_pending_age >= interval '0' AS has_pending_age
  FROM raw.get_ingestion_stats();
SELECT count(*) AS other_tenant_rows FROM raw.get_ingestion_stats(util.hash_binary('Oldest Corp_2020-01-01'));
SELECT pg_temp.attempt('SELECT * FROM raw.get_ingestion_stats(NULL, 0)') AS bad_window;
