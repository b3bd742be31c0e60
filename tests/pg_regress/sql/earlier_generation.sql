-- Installing into a One Vault database that holds the earlier PL/pgSQL tracking generation
-- (README, "Installing into an existing One Vault database"), reproduced by
-- tests/earlier_generation/fixture.sql (checked against the platform's dump by
-- check_catalog.sh): nothing dropped, every earlier raw row migrated once, the platform's
-- calls answered as its app reads them, tenants right in raw, vault and audit.

-- An ordinary database (this suite's) got no legacy schema.
SELECT to_regnamespace('onevault_tracking_legacy') IS NULL AS ordinary_database_untouched;

\set main_db :DBNAME
CREATE DATABASE regress_earlier;
\c regress_earlier
\getenv abs_srcdir PG_ABS_SRCDIR
\set replica :abs_srcdir '/../fixtures/onevault_core_replica.sql'
\set fixture :abs_srcdir '/../earlier_generation/fixture.sql'
SET client_min_messages = warning;
\set ECHO none
\i :replica
\o /dev/null
\i :fixture
\o
\set ECHO all
RESET client_min_messages;

-- Two earlier rows that cannot land in our raw table (a payload that is not an object, one over
-- onevault_tracking.max_payload_bytes): they must stay in the legacy table, listed with reasons.
SET client_min_messages = warning;
INSERT INTO raw.site_tracking_events_r (tenant_hk, received_timestamp, client_ip, user_agent, raw_payload, batch_id,
                                        processing_status, record_source)
SELECT tenant_hk, received_timestamp, '203.0.113.200', user_agent, payload, 'API_' || repeat(n::text, 64), 'PROCESSED', record_source
  FROM (SELECT * FROM raw.site_tracking_events_r ORDER BY raw_event_id LIMIT 1) AS first_row,
       (VALUES (1, '[1, 2]'::jsonb),
               (2, jsonb_build_object('event_type', 'page_view', 'page_url', 'https://test.example/',
                                      'event_data', jsonb_build_object('blob', repeat('x', 70000))))) AS bad (n, payload);
RESET client_min_messages;

-- What the earlier generation holds before the install (its event trigger tracks these too).
SET client_min_messages = warning;
CREATE TEMP TABLE earlier_rows AS
SELECT raw_event_id, tenant_hk, received_timestamp, client_ip, batch_id, raw_payload FROM raw.site_tracking_events_r;
CREATE TEMP TABLE earlier_functions AS
SELECT p.oid::regprocedure::text AS identity, pg_get_function_result(p.oid) AS result
  FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('raw', 'staging', 'api', 'business', 'util', 'script_tracking');
CREATE TEMP TABLE earlier_tables AS
SELECT c.relname, c.relnamespace::regnamespace::text AS schema_name, c.reltuples
  FROM pg_class AS c WHERE c.relkind IN ('r', 'v')
   AND c.relnamespace::regnamespace::text IN ('raw', 'staging', 'business', 'script_tracking');
RESET client_min_messages;
SELECT count(*) AS earlier_raw_rows, count(DISTINCT tenant_hk) AS earlier_tenants,
       (SELECT count(*) FROM staging.site_tracking_events_s) AS earlier_staged_rows,
       (SELECT count(*) FROM script_tracking.script_execution_h) AS ddl_tracked_before
  FROM earlier_rows;

-- The install, as an operator runs it: one command, no manual step.
SET client_min_messages = warning;
CREATE EXTENSION onevault_tracking CASCADE;
RESET client_min_messages;

-- Nothing dropped: the earlier tables are in onevault_tracking_legacy with every row, the
-- earlier vault tables are where they were, and every earlier function still exists with its
-- signature (ours, or a stub naming what supersedes it).
SELECT c.relnamespace::regnamespace AS schema_name, c.relname,
       (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', c.oid::regclass), false, true, '')))[1]::text::int AS rows
  FROM pg_class AS c
 WHERE c.relkind IN ('r', 'v') AND c.relnamespace = 'onevault_tracking_legacy'::regnamespace
 ORDER BY 2;
SELECT count(*) AS earlier_relations_missing
  FROM earlier_tables AS t
 WHERE to_regclass(format('%I.%I', t.schema_name, t.relname)) IS NULL
   AND to_regclass(format('onevault_tracking_legacy.%I', t.relname)) IS NULL;
-- (raw.ingest_tracking_event is ours now: it answers the raw event id as bigint, not integer.)
SELECT e.identity AS missing_or_changed_function FROM earlier_functions AS e
 WHERE to_regprocedure(e.identity) IS NULL OR pg_get_function_result(to_regprocedure(e.identity)) <> e.result;
SELECT count(*) AS earlier_vault_rows_kept FROM business.site_event_h;
-- The legacy schema is not part of the extension.
SELECT count(*) AS legacy_objects_in_extension
  FROM pg_depend AS d
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'onevault_tracking') AND d.deptype = 'e'
   AND ((d.classid = 'pg_namespace'::regclass AND d.objid = 'onevault_tracking_legacy'::regnamespace)
        OR (d.classid = 'pg_class'::regclass
            AND d.objid IN (SELECT oid FROM pg_class WHERE relnamespace = 'onevault_tracking_legacy'::regnamespace)));
-- What was superseded, with its definition kept.
SELECT object_kind, object_identity, replaced_by, length(definition) > 0 AS definition_kept
  FROM onevault_tracking_legacy.superseded_objects ORDER BY object_identity;
-- A stub raises a clear error naming its successor; ours answer.
SELECT * FROM staging.process_site_tracking_events();
SELECT * FROM raw.ingest_tracking_events_batch(NULL, NULL, NULL, NULL, '[]');
SELECT pg_get_function_result('raw.ingest_tracking_event(bytea,bytea,inet,text,jsonb)'::regprocedure) AS ingest_returns;

-- Every earlier raw row migrated exactly once: its tenant as stored, its receipt time, its
-- batch_id as the client event id; then processed like any event.
SELECT e.raw_event_id AS earlier_id, r.tenant_hk = e.tenant_hk AS same_tenant,
       r.received_at = e.received_timestamp AS same_receipt, r.raw_payload = e.raw_payload AS payload_as_stored,
       r.processing_status, s.validation_status, s.event_type, s.event_name, s.page_host,
       (SELECT string_agg(x ->> 'code', ', ' ORDER BY x ->> 'code') FROM jsonb_array_elements(s.validation_errors) AS x) AS errors,
       (SELECT string_agg(x ->> 'code', ', ' ORDER BY x ->> 'code') FROM jsonb_array_elements(s.validation_warnings) AS x) AS warnings
  FROM earlier_rows AS e
  LEFT JOIN raw.site_tracking_events_r AS r ON r.client_event_id = e.batch_id
  LEFT JOIN staging.site_tracking_events_s AS s ON s.raw_event_id = r.raw_event_id
 ORDER BY e.raw_event_id;
SELECT count(*) AS raw_rows, count(DISTINCT client_event_id) AS distinct_event_ids FROM raw.site_tracking_events_r;
-- Tenants right in the vault and in the audit trail.
SELECT count(*) AS vault_events, count(*) FILTER (WHERE e.tenant_hk = r.tenant_hk) AS on_the_raw_tenant
  FROM business.tracking_event_l AS e
  JOIN raw.site_tracking_events_r AS r ON r.raw_event_id::text = e.tracking_event_bk;
SELECT t.tenant_bk, (d.new_data ->> 'events')::int AS events
  FROM audit.audit_detail_s AS d JOIN audit.audit_event_h AS a USING (audit_event_hk)
  JOIN auth.tenant_h AS t ON t.tenant_hk = a.tenant_hk
 WHERE d.operation = 'EARLIER_GENERATION_MIGRATED' ORDER BY 1;
-- Privacy: the earlier rows' full addresses are anonymised, in the legacy table and in ours.
SELECT e.client_ip AS earlier_full, l.client_ip AS legacy_now, r.client_ip AS migrated
  FROM earlier_rows AS e
  JOIN onevault_tracking_legacy.site_tracking_events_r AS l USING (raw_event_id)
  JOIN raw.site_tracking_events_r AS r ON r.client_event_id = e.batch_id
 ORDER BY e.raw_event_id;
-- A second migration adds nothing.
SELECT answer ->> 'earlier_rows' AS earlier_rows, answer ->> 'migrated' AS migrated, answer ->> 'already_migrated' AS already_migrated
  FROM (SELECT onevault_tracking.migrate_earlier_generation() AS answer) AS run;
SELECT count(*) AS raw_rows_after_second_run FROM raw.site_tracking_events_r;
SELECT earlier_rows, migrated, already_migrated, not_migrated FROM onevault_tracking_legacy.migration_runs ORDER BY run_at;

-- The platform's calls, as its API app makes them (untyped literals), on a site registered
-- for the spa; the oldest tenant gets nothing.
SELECT api.register_site(util.hash_binary('Willow Day Spa_2025-06-21 10:26:51.730418-07'), 'willowdayspa.example', 'Willow Day Spa',
                         ARRAY['localhost']) ->> 'success' AS site;
SELECT answer ->> 'success' AS success, answer ->> 'message' AS message, answer ? 'event_id' AS has_event_id
  FROM (SELECT api.track_site_event('203.0.113.77', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36',
                                    'https://willowdayspa.example/treatments', 'item_interaction', '{"evt_category": "treatments", "session_id": "sess_9"}') AS answer) AS call;
SELECT t.tenant_bk FROM raw.site_tracking_events_r AS r JOIN auth.tenant_h AS t USING (tenant_hk)
 ORDER BY r.raw_event_id DESC LIMIT 1;
SELECT staging.auto_process_if_needed();
SELECT status_type FROM staging.get_pipeline_status() LIMIT 1;
SELECT staging_status, business_status FROM staging.pipeline_dashboard ORDER BY raw_load_date DESC LIMIT 1;
SELECT staging.trigger_pipeline_now() -> 'results' ->> 'raw_to_staging' AS triggered;
SELECT component, status FROM onevault_tracking.integration_status() WHERE status <> 'ok';
-- The platform's event trigger recorded the install and failed nothing.
SELECT count(*) > (SELECT count(*) FROM pg_temp.earlier_rows) AS ddl_tracked_after
  FROM script_tracking.script_execution_h;

-- DROP EXTENSION cannot take the earlier rows; CREATE again finds them already moved, and
-- our (new, empty) tables get each earlier row once.
SET client_min_messages = warning;
SET onevault_tracking.drop_deletes_data = on;
DROP EXTENSION onevault_tracking;
RESET onevault_tracking.drop_deletes_data;
RESET client_min_messages;
SELECT count(*) AS legacy_rows_after_drop FROM onevault_tracking_legacy.site_tracking_events_r;
SELECT to_regprocedure('staging.process_site_tracking_events()') IS NULL AS stub_went_with_the_extension,
       (SELECT count(*) FROM onevault_tracking_legacy.superseded_objects) AS definitions_kept;
SET client_min_messages = warning;
CREATE EXTENSION onevault_tracking;
RESET client_min_messages;
SELECT count(*) AS raw_rows, count(DISTINCT client_event_id) AS distinct_event_ids,
       count(*) FILTER (WHERE client_event_id IN (SELECT batch_id FROM pg_temp.earlier_rows)) AS earlier_rows_present
  FROM raw.site_tracking_events_r;
SELECT to_regprocedure('staging.process_site_tracking_events()') IS NOT NULL AS stub_back,
       to_regprocedure('api.track_site_event(inet,text,text,varchar,jsonb)') IS NOT NULL AS ours_back;
SELECT count(*) AS superseded_recorded_once_per_install
  FROM onevault_tracking_legacy.superseded_objects WHERE object_identity = 'staging.process_site_tracking_events()';

\c :main_db
DROP DATABASE regress_earlier;
