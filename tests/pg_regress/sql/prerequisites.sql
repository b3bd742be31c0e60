-- Without the One Vault core, CREATE EXTENSION warns with one WARNING that lists every
-- missing object and names the replica file; it does not fail, because a pg_dump restore
-- creates the extension before the platform's objects (README, "Lifecycle"). The first use
-- raises the same list, and integration_status() reports it.
\set VERBOSITY default
CREATE EXTENSION pgcrypto;
CREATE EXTENSION onevault_tracking;
SELECT component, status FROM onevault_tracking.integration_status() WHERE status <> 'ok' ORDER BY 1;
SELECT raw.ingest_tracking_event('\x00', NULL, NULL, NULL, '{"event_type": "page_view"}');
SELECT api.track_site_event('192.0.2.1', 'curl/8', 'https://example.com/', 'page_view', '{}');
-- Nothing was stored; the extension goes (no events, so DROP is not refused) and leaves the
-- shared schemas it created, as any DROP does.
SELECT count(*) AS raw_rows FROM raw.site_tracking_events_r;
DROP EXTENSION onevault_tracking;
SELECT count(*) AS extension_objects_left FROM pg_class WHERE relnamespace = 'onevault_tracking'::regnamespace;

-- Load the core replica, twice: re-running it on a database that has it must not fail.
\getenv abs_srcdir PG_ABS_SRCDIR
\set replica :abs_srcdir '/../fixtures/onevault_core_replica.sql'
SET client_min_messages = warning;
\set ECHO none
\i :replica
\i :replica
\set ECHO all
RESET client_min_messages;
SELECT count(*) AS record_sources FROM metadata.record_source;
SELECT encode(util.hash_binary('abc'), 'hex') AS sha256_of_abc;

CREATE EXTENSION onevault_tracking;

-- The seed's step 1: every integration component, and a real audit call that is rolled back.
SELECT component, kind, status FROM onevault_tracking.integration_status();
SELECT count(*) AS audit_rows_left_by_probe FROM audit.audit_event_h;
SELECT count(*) AS audit_details_left_by_probe FROM audit.audit_detail_s;

-- A broken audit function is reported, not hidden.
ALTER TABLE audit.audit_detail_s RENAME COLUMN new_data TO new_data_renamed;
SELECT component, status, detail::jsonb ->> 'error_code' AS error_code
  FROM onevault_tracking.integration_status() WHERE kind = 'probe';
ALTER TABLE audit.audit_detail_s RENAME COLUMN new_data_renamed TO new_data;

-- Nothing of the extension is executable by PUBLIC.
CREATE ROLE onevault_regress_nobody NOLOGIN;
SELECT p.oid::regprocedure AS executable_by_public
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'onevault_tracking')
   AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
   AND has_function_privilege('onevault_regress_nobody', p.oid, 'EXECUTE');
DROP ROLE onevault_regress_nobody;
