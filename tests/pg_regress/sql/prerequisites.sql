-- Without the One Vault core, CREATE EXTENSION fails with one ERROR that lists every missing
-- object and names the replica file.
\set VERBOSITY default
CREATE EXTENSION pgcrypto;
CREATE EXTENSION onevault_tracking;
-- The failed attempt left nothing behind.
SELECT count(*) AS leftover_schemas FROM pg_namespace
 WHERE nspname IN ('raw', 'staging', 'business', 'api', 'onevault_tracking');

-- Load the core replica, twice: re-running it on a database that has it must not fail.
\getenv abs_srcdir PG_ABS_SRCDIR
\set replica :abs_srcdir '/../../sql/onevault_core_replica.sql'
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
