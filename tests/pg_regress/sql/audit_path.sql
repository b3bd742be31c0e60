-- The audit path into the platform (README, "The audit path"). The platform's
-- util.hash_binary calls DIGEST unqualified and util.log_audit_event pins no search_path, as
-- the replica reproduces: under our pinned path a direct call cannot reach pgcrypto.
SET search_path = pg_catalog, pg_temp;
SELECT util.log_audit_event('REGRESS', 'audit_path', 'direct', 'regress', '{}') ->> 'error_code' AS direct_call_under_pinned_path;
RESET search_path;
-- Every audited call goes through onevault_tracking.log_platform_audit_event, whose path is
-- pg_catalog, then pgcrypto's schema only, then pg_temp.
SELECT p.proconfig AS audit_path_config
  FROM pg_proc AS p WHERE p.oid = 'onevault_tracking.log_platform_audit_event(text,text,text,text,jsonb)'::regprocedure;
SELECT component, status FROM onevault_tracking.integration_status() WHERE kind IN ('privileges', 'probe') ORDER BY kind;

-- pgcrypto in a schema of its own, and a digest() planted in public that must never be used:
-- with public first on the caller's path, every audited call still works and the plant is not
-- reached.
\set main_db :DBNAME
CREATE DATABASE regress_audit_path;
\c regress_audit_path
SET client_min_messages = warning;
CREATE SCHEMA crypto;
CREATE EXTENSION pgcrypto SCHEMA crypto;
SET search_path = public, crypto;
\getenv abs_srcdir PG_ABS_SRCDIR
\set replica :abs_srcdir '/../fixtures/onevault_core_replica.sql'
\set ECHO none
\i :replica
\set ECHO all
RESET client_min_messages;
CREATE FUNCTION public.digest(text, text) RETURNS bytea LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'the planted public.digest was used'; END $$;
CREATE FUNCTION public.digest(bytea, text) RETURNS bytea LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'the planted public.digest was used'; END $$;
-- The plant works for callers whose path puts public first.
\set VERBOSITY terse
SELECT util.hash_binary('x');
\set VERBOSITY default
SET client_min_messages = warning;
CREATE EXTENSION onevault_tracking;
RESET client_min_messages;
SELECT p.proconfig AS audit_path_config
  FROM pg_proc AS p WHERE p.oid = 'onevault_tracking.log_platform_audit_event(text,text,text,text,jsonb)'::regprocedure;
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source)
VALUES (crypto.digest('Crypto Corp', 'sha256'), 'Crypto Corp', 'regress');
SELECT api.register_site(crypto.digest('Crypto Corp', 'sha256'), 'crypto.example', 'Crypto') ->> 'success' AS site;
SELECT api.track_site_event('192.0.2.50', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', 'https://crypto.example/', 'page_view', '{}') ->> 'status' AS tracked;
SELECT count(*) AS audit_records, bool_and(a.tenant_hk = crypto.digest('Crypto Corp', 'sha256')) AS on_its_tenant
  FROM audit.audit_event_h AS a JOIN audit.audit_detail_s AS d USING (audit_event_hk);
SELECT component, status FROM onevault_tracking.integration_status() WHERE kind IN ('privileges', 'probe') ORDER BY kind;

-- A pgcrypto schema where every role may create objects is refused at install, with the one
-- command that fixes it; a schema where some other role may is installed with a WARNING and
-- reported by integration_status().
SET onevault_tracking.drop_deletes_data = on;
DROP EXTENSION onevault_tracking;
GRANT CREATE ON SCHEMA crypto TO PUBLIC;
CREATE EXTENSION onevault_tracking;
SELECT count(*) AS extension_left FROM pg_extension WHERE extname = 'onevault_tracking';
REVOKE CREATE ON SCHEMA crypto FROM PUBLIC;
CREATE ROLE regress_crypto_writer;
GRANT CREATE ON SCHEMA crypto TO regress_crypto_writer;
CREATE EXTENSION onevault_tracking;
SELECT component, status, detail FROM onevault_tracking.integration_status() WHERE kind = 'privileges';
DROP EXTENSION onevault_tracking;
REVOKE CREATE ON SCHEMA crypto FROM regress_crypto_writer;
DROP ROLE regress_crypto_writer;
\c :main_db
DROP DATABASE regress_audit_path;
