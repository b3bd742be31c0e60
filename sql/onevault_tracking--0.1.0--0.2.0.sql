-- onevault_tracking 0.1.0 -> 0.2.0
\echo Use "ALTER EXTENSION onevault_tracking UPDATE TO '0.2.0'" to load this file. \quit

-- What this release changes (README, "Lifecycle" and CHANGELOG.md), in the order below:
--   1. the tables name nothing of the platform (no foreign key into auth.tenant_h, no default
--      calling util.current_load_date()), so a pg_dump restore can create the extension first;
--   2. the earlier generation's migration and stubs, onevault_tracking.migrate_earlier_generation()
--      and restore_earlier_generation();
--   3. the audit path through pgcrypto's schema (onevault_tracking.log_platform_audit_event,
--      pgcrypto_schema_creators) and integration_status() reporting it;
--   4. what the platform's API app calls (sql/platform_callers.sql);
--   5. dump marks on every table and the DROP guard (sql/lifecycle.sql);
--   6. the lockdown and grants of finalize.sql for the new functions;
--   7. a key's public prefix unique in the whole database (0.1.0 could store two tenants' keys
--      with one prefix; such a database stops the update at this index with 23505 naming the
--      prefix, and one of the two keys has to be deleted first);
--   8. one normaliser of site domains (IDNA), onevault_tracking.site_domain(text), which the
--      reports now find sites with. Sites 0.1.0 stored keep their keys: 0.1.0 refused every
--      domain that is not ASCII, and its ASCII keys are already in the normalised form.
--   9. background processing workers: their state table, the view worker_status, and
--      start_workers() / stop_workers() (sql/worker.sql); before the lockdown and grants.
--  11. current visitors and the CSV exports: api.current_visitors, api.export_events and
--      api.export_report with their helpers (sql/export.sql); before the lockdown and grants.
-- Every statement here equals its counterpart in the install files of 0.2.0; the upgrade test
-- (tests/lifecycle/upgrade.sh) checks that the updated catalog equals a fresh install.

-- 1. Storage that names nothing of the platform.
DO $storage$
DECLARE
    target record;
BEGIN
    FOR target IN
        SELECT con.conrelid::regclass AS table_name, con.conname
          FROM pg_catalog.pg_constraint AS con
          JOIN pg_catalog.pg_depend AS d ON d.objid = con.conrelid AND d.classid = 'pg_catalog.pg_class'::regclass
         WHERE d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'onevault_tracking')
           AND d.deptype = 'e' AND con.contype = 'f'
           AND con.confrelid = 'auth.tenant_h'::regclass
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', target.table_name, target.conname);
    END LOOP;
    FOR target IN
        SELECT a.attrelid::regclass AS table_name, a.attname
          FROM pg_catalog.pg_attrdef AS def
          JOIN pg_catalog.pg_attribute AS a ON a.attrelid = def.adrelid AND a.attnum = def.adnum
          JOIN pg_catalog.pg_depend AS d ON d.objid = def.adrelid AND d.classid = 'pg_catalog.pg_class'::regclass
         WHERE d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'onevault_tracking')
           AND d.deptype = 'e'
           AND pg_catalog.pg_get_expr(def.adbin, def.adrelid) = 'util.current_load_date()'
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT CURRENT_TIMESTAMP',
                                  target.table_name, target.attname);
    END LOOP;
END
$storage$;

-- 2. The earlier generation's migration (a 0.1.0 installation never met the earlier generation:
-- its install stopped on the earlier tables).
-- Lands and processes the earlier raw rows (src/earlier_generation.rs); finalize.sql calls it
-- once the pipeline exists. Idempotent: a second call adds nothing.
CREATE FUNCTION onevault_tracking.migrate_earlier_generation()
RETURNS jsonb LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'migrate_earlier_generation_wrapper';


-- The earlier generation's stubs and grants, from the record of what was superseded: a stub
-- with the earlier signature for every superseded function that ours do not replace (raising
-- 0A000 with its successor), and EXECUTE on ours for whoever could call the earlier function
-- ours replaced (its owner, usually the platform's application role, and the roles it was
-- granted to; never PUBLIC). finalize.sql calls it at every install; after a pg_dump restore,
-- which brings the record back only after the extension, run it once (README, "Lifecycle").
CREATE FUNCTION onevault_tracking.restore_earlier_generation()
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $restore$
DECLARE
    superseded record;
    stubs integer := 0;
    grants integer := 0;
BEGIN
    IF to_regclass('onevault_tracking_legacy.superseded_objects') IS NULL THEN
        RETURN jsonb_build_object('earlier_generation', false);
    END IF;
    FOR superseded IN
        SELECT DISTINCT ON (object_identity) object_kind, object_identity, arguments, result, replaced_by
          FROM onevault_tracking_legacy.superseded_objects
         WHERE object_kind IN ('function', 'procedure')
           AND replaced_by <> 'onevault_tracking''s function of the same signature'
         ORDER BY object_identity, superseded_at DESC
    LOOP
        CONTINUE WHEN to_regprocedure(superseded.object_identity) IS NOT NULL;
        EXECUTE format(
            'CREATE %s %s(%s) %s LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS %L',
            upper(superseded.object_kind),
            regexp_replace(superseded.object_identity, '\(.*$', ''),
            superseded.arguments,
            CASE superseded.object_kind WHEN 'procedure' THEN '' ELSE 'RETURNS ' || superseded.result END,
            format('BEGIN RAISE EXCEPTION USING ERRCODE = %L, MESSAGE = %L, HINT = %L; END',
                   'feature_not_supported',
                   superseded.object_identity || ' belongs to the earlier tracking generation and is superseded by '
                       || superseded.replaced_by,
                   'Its tables and rows are in schema onevault_tracking_legacy and its definition in '
                       || 'onevault_tracking_legacy.superseded_objects; the earlier rows were migrated into onevault_tracking.'));
        EXECUTE format('REVOKE ALL ON %s %s FROM PUBLIC', upper(superseded.object_kind), superseded.object_identity);
        stubs := stubs + 1;
    END LOOP;
    FOR superseded IN
        SELECT DISTINCT s.object_identity, grantee.rolname
          FROM onevault_tracking_legacy.superseded_objects AS s
         CROSS JOIN LATERAL (
                SELECT r.rolname FROM pg_roles AS r WHERE r.rolname = s.owner_name
                UNION
                SELECT r.rolname
                  FROM aclexplode(s.acl) AS a
                  JOIN pg_roles AS r ON r.oid = a.grantee
                 WHERE a.privilege_type = 'EXECUTE') AS grantee
         WHERE s.replaced_by = 'onevault_tracking''s function of the same signature'
           AND CASE WHEN s.object_kind = 'function' THEN to_regprocedure(s.object_identity) END IS NOT NULL
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', superseded.object_identity, superseded.rolname);
        grants := grants + 1;
    END LOOP;
    EXECUTE 'GRANT USAGE ON SCHEMA onevault_tracking_legacy TO onevault_tracking_admin';
    EXECUTE 'GRANT SELECT ON ALL TABLES IN SCHEMA onevault_tracking_legacy TO onevault_tracking_admin';
    RETURN jsonb_build_object('earlier_generation', true, 'stubs_created', stubs, 'grants', grants);
END
$restore$;

-- 3. The audit path (sql/integration.sql).
-- The audit path into the platform. util.log_audit_event calls util.hash_binary, whose body
-- calls DIGEST unqualified (the platform's real definition), and neither pins a search_path:
-- they resolve digest() through the CALLER's path. Every function of this extension runs with
-- search_path = pg_catalog, pg_temp (finalize.sql), where pgcrypto is invisible, so a direct
-- call answers success=false, 42883. Every audit call therefore goes through this one
-- function, whose path is pinned at install to pg_catalog, then pgcrypto's own schema (as
-- pg_extension records it), then pg_temp: built-ins still win every name, only pgcrypto's
-- schema is added, and only for this call.
--
-- That is safe exactly when nobody but the schema's owner (and superusers) can create objects
-- in it: an object planted there could stand in for a function the audit path resolves. So
-- the install refuses when PUBLIC may create in that schema (one command fixes it, named in
-- the HINT), and warns, naming them, when other roles may. integration_status() re-checks it.
CREATE FUNCTION onevault_tracking.log_platform_audit_event(
    p_event_type text, p_resource_type text, p_resource_id text, p_actor text, p_event_details jsonb)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
AS $audit$
BEGIN
    -- PL/pgSQL resolves the call when it runs: at a restore the platform's function does not
    -- exist yet when this one is created.
    RETURN util.log_audit_event(p_event_type, p_resource_type, p_resource_id, p_actor, p_event_details);
END
$audit$;

-- Roles other than the schema's owner that may create objects in pgcrypto's schema ('PUBLIC'
-- for everyone); empty when the schema is safe to put on the audit path.
CREATE FUNCTION onevault_tracking.pgcrypto_schema_creators()
RETURNS text[]
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $creators$
    SELECT coalesce(array_agg(CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE acl.grantee::regrole::text END
                              ORDER BY acl.grantee), ARRAY[]::text[])
      FROM pg_extension AS e
      JOIN pg_namespace AS n ON n.oid = e.extnamespace
     CROSS JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) AS acl
     WHERE e.extname = 'pgcrypto'
       AND acl.privilege_type = 'CREATE'
       AND acl.grantee <> n.nspowner
$creators$;

DO $audit_path$
DECLARE
    pgcrypto_schema name;
    creators text[];
BEGIN
    SELECT n.nspname INTO pgcrypto_schema
      FROM pg_catalog.pg_extension AS e
      JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
     WHERE e.extname = 'pgcrypto';
    IF pgcrypto_schema IS NULL THEN
        RAISE EXCEPTION 'onevault_tracking needs pgcrypto, which the platform''s util.hash_binary calls'
            USING ERRCODE = 'undefined_object', HINT = 'CREATE EXTENSION onevault_tracking CASCADE';
    END IF;
    creators := onevault_tracking.pgcrypto_schema_creators();
    IF 'PUBLIC' = ANY (creators) THEN
        RAISE EXCEPTION 'every role may create objects in schema %, where pgcrypto lives: an object planted there could take part in every audit call',
                        pgcrypto_schema
            USING ERRCODE = 'insufficient_privilege',
                  HINT = pg_catalog.format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC; then CREATE EXTENSION onevault_tracking again.',
                                           pgcrypto_schema);
    ELSIF pg_catalog.cardinality(creators) > 0 THEN
        RAISE WARNING 'roles other than its owner may create objects in schema % (pgcrypto''s, on the audit path): %',
                      pgcrypto_schema, pg_catalog.array_to_string(creators, ', ')
            USING HINT = 'Only trusted roles should hold CREATE there; see README, "The audit path".';
    END IF;
    EXECUTE pg_catalog.format(
        'ALTER FUNCTION onevault_tracking.log_platform_audit_event(text, text, text, text, jsonb) '
        'SET search_path = pg_catalog, %I, pg_temp', pgcrypto_schema);
END
$audit_path$;

-- The seed's step 1 ("integration validation"): what of the One Vault core this extension
-- relies on is present, and whether util.log_audit_event really works. The audit probe runs in
-- a subtransaction that is always rolled back, so calling this leaves no row anywhere.
CREATE OR REPLACE FUNCTION onevault_tracking.integration_status()
RETURNS TABLE (component text, kind text, status text, detail text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $status$
DECLARE
    probe_result jsonb;
    written_columns constant text[] := ARRAY[
        'security_tracking_hk', 'load_date', 'load_end_date', 'hash_diff', 'ip_address',
        'request_count', 'first_request_time', 'last_request_time', 'is_blocked',
        'block_reason', 'suspicious_activity_flag', 'suspicious_activity_details', 'record_source'];
    absent_columns text[];
    schema_creators text[];
BEGIN
    RETURN QUERY
    SELECT required.name, 'function',
           CASE WHEN to_regprocedure(required.name) IS NULL THEN 'missing' ELSE 'ok' END,
           NULL::text
      FROM unnest(ARRAY['util.log_audit_event(text,text,text,text,jsonb)', 'util.hash_binary(text)',
                        'util.current_load_date()', 'util.get_record_source()']) AS required(name);
    RETURN QUERY
    SELECT required.name, 'table',
           CASE WHEN to_regclass(required.name) IS NULL THEN 'missing' ELSE 'ok' END,
           NULL::text
      FROM unnest(ARRAY['auth.tenant_h', 'auth.security_tracking_h', 'auth.ip_tracking_s',
                        'audit.audit_event_h', 'audit.audit_detail_s']) AS required(name);

    -- The rate limiter writes these columns; the earlier PL/pgSQL attempt wrote columns that
    -- do not exist and never noticed.
    IF to_regclass('auth.ip_tracking_s') IS NOT NULL THEN
        SELECT array_agg(wanted.name ORDER BY wanted.name)
          INTO absent_columns
          FROM unnest(written_columns) AS wanted(name)
         WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = 'auth.ip_tracking_s'::regclass
                              AND a.attname = wanted.name AND NOT a.attisdropped);
        component := 'auth.ip_tracking_s columns'; kind := 'columns';
        status := CASE WHEN absent_columns IS NULL THEN 'ok' ELSE 'missing' END;
        detail := array_to_string(absent_columns, ', ');
        RETURN NEXT;
    END IF;

    component := 'pgcrypto schema on the audit path'; kind := 'privileges';
    schema_creators := onevault_tracking.pgcrypto_schema_creators();
    status := CASE WHEN cardinality(schema_creators) = 0 THEN 'ok' ELSE 'unsafe' END;
    detail := CASE WHEN status = 'ok' THEN NULL
                   ELSE 'may create objects there: ' || array_to_string(schema_creators, ', ') END;
    RETURN NEXT;

    component := 'util.log_audit_event works'; kind := 'probe';
    IF to_regprocedure('util.log_audit_event(text,text,text,text,jsonb)') IS NULL THEN
        status := 'missing'; detail := NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    BEGIN
        probe_result := onevault_tracking.log_platform_audit_event(
            'INTEGRATION_PROBE', 'onevault_tracking',
            'probe:' || pg_backend_pid() || ':' || extract(epoch FROM clock_timestamp()),
            'onevault_tracking', jsonb_build_object('probe', true));
        -- Undo whatever the probe wrote, carrying its answer out of the subtransaction.
        RAISE EXCEPTION USING ERRCODE = 'OVT01', MESSAGE = probe_result::text;
    EXCEPTION
        WHEN SQLSTATE 'OVT01' THEN
            probe_result := SQLERRM::jsonb;
        WHEN OTHERS THEN
            probe_result := jsonb_build_object('success', false, 'error_code', SQLSTATE,
                                               'error_message', SQLERRM);
    END;
    status := CASE WHEN (probe_result ->> 'success')::boolean THEN 'ok' ELSE 'failed' END;
    detail := probe_result::text;
    RETURN NEXT;
END
$status$;

-- 4. The platform's callers (sql/platform_callers.sql).
CREATE FUNCTION api.track_site_event(
    p_ip_address inet, p_user_agent text, p_page_url text,
    p_event_type character varying DEFAULT 'page_view', p_event_data jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'track_site_event_wrapper';

-- One bounded step of processing: at most p_batch_size raw events to staging (and the vault,
-- with onevault_tracking.process_loads_vault), then at most p_batch_size staged events into
-- the vault. Shared by the two functions below, which the app calls without arguments.
CREATE FUNCTION onevault_tracking.process_pipeline_step(p_batch_size integer DEFAULT 1000)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $step$
DECLARE
    staged jsonb;
    loaded jsonb;
BEGIN
    staged := staging.process_pending_events(p_batch_size);
    loaded := business.load_staged_events(p_batch_size);
    RETURN jsonb_build_object(
        'raw_to_staging', coalesce((staged ->> 'claimed')::integer, 0),
        'quarantined', coalesce((staged ->> 'quarantined')::integer, 0),
        'staging_to_business', coalesce((staged ->> 'loaded_to_vault')::integer, 0)
                               + coalesce((loaded ->> 'loaded')::integer, 0),
        'staging', staged,
        'vault', loaded);
END
$step$;

-- After every tracked event (or in a background task) the app calls this and logs the text.
CREATE FUNCTION staging.auto_process_if_needed()
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $auto$
DECLARE
    step jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM raw.site_tracking_events_r WHERE processing_status IN ('PENDING', 'ERROR'))
       AND NOT EXISTS (SELECT 1 FROM staging.site_tracking_events_s
                        WHERE validation_status = 'VALID' AND NOT loaded_to_vault) THEN
        RETURN 'No processing needed - all events up to date';
    END IF;
    step := onevault_tracking.process_pipeline_step();
    RETURN format('Processed: %s total (%s raw→staging, %s staging→business, %s quarantined)',
                  (step ->> 'raw_to_staging')::integer + (step ->> 'staging_to_business')::integer,
                  step ->> 'raw_to_staging', step ->> 'staging_to_business', step ->> 'quarantined');
END
$auto$;

-- POST /api/v1/track/process.
CREATE FUNCTION staging.trigger_pipeline_now()
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $trigger$
BEGIN
    RETURN jsonb_build_object('triggered_at', clock_timestamp(),
                              'results', onevault_tracking.process_pipeline_step());
END
$trigger$;

-- GET /api/v1/track/status reads the first row; the shape (and the four rows, in this order)
-- is the platform's automation script's. Counts only, over every tenant: an operator's view.
CREATE FUNCTION staging.get_pipeline_status()
RETURNS TABLE (status_type character varying, metric_name character varying,
               metric_value numeric, last_updated timestamptz)
LANGUAGE sql
STABLE
SECURITY DEFINER
AS $status$
    SELECT 'RAW_LAYER'::varchar, 'pending_events'::varchar, count(*)::numeric, max(r.received_at)
      FROM raw.site_tracking_events_r AS r
     WHERE r.processing_status IN ('PENDING', 'ERROR')
    UNION ALL
    SELECT 'STAGING_LAYER', 'unprocessed_to_business', count(*)::numeric, max(s.staged_at)
      FROM staging.site_tracking_events_s AS s
     WHERE s.validation_status = 'VALID' AND NOT s.loaded_to_vault
    UNION ALL
    SELECT 'BUSINESS_LAYER', 'events_today', count(*)::numeric, max(e.load_date)
      FROM business.tracking_event_l AS e
     WHERE e.load_date >= date_trunc('day', clock_timestamp())
    UNION ALL
    SELECT 'PERFORMANCE', 'avg_processing_time_minutes',
           round(avg(extract(epoch FROM s.staged_at - r.received_at)) / 60, 2), max(s.staged_at)
      FROM staging.site_tracking_events_s AS s
      JOIN raw.site_tracking_events_r AS r ON r.raw_event_id = s.raw_event_id
     WHERE r.received_at >= clock_timestamp() - interval '24 hours'
$status$;

-- GET /api/v1/track/status and /dashboard: the events of the last 7 days, newest first when
-- ordered by raw_load_date; the app counts staging_status = 'PROCESSED' and
-- business_status = '✅ Complete Pipeline' (the earlier generation's wording, kept). It runs
-- with the caller's rights (security_invoker), so row-level security shows a reader the
-- events of its tenant only.
CREATE VIEW staging.pipeline_dashboard WITH (security_invoker = true) AS
SELECT r.raw_event_id,
       r.tenant_hk,
       r.received_at AS raw_load_date,
       r.processing_status AS staging_status,
       s.validation_status,
       s.event_type,
       s.event_name,
       s.page_url,
       s.quality_score,
       s.validation_errors,
       CASE WHEN s.loaded_to_vault THEN '✅ Complete Pipeline'
            WHEN s.validation_status = 'INVALID' THEN '⛔ Quarantined'
            WHEN r.processing_status = 'FAILED' THEN '❌ Failed'
            ELSE '⏳ Pending' END AS business_status,
       s.staged_at,
       s.loaded_at,
       r.error_message
  FROM raw.site_tracking_events_r AS r
  LEFT JOIN staging.site_tracking_events_s AS s ON s.raw_event_id = r.raw_event_id
 WHERE r.received_at >= pg_catalog.clock_timestamp() - interval '7 days';

-- 5. Dump marks and the DROP guard (sql/lifecycle.sql).
DO $config$
DECLARE
    member regclass;
    sequence_name text;
BEGIN
    FOR member IN
        SELECT c.oid::regclass
          FROM pg_catalog.pg_depend AS d
          JOIN pg_catalog.pg_class AS c ON c.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_class'::regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::regclass
           AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'onevault_tracking')
           AND d.deptype = 'e'
           AND c.relkind = 'r'
           -- Unlogged tables (the workers' state) hold state, not data.
           AND c.relpersistence = 'p'
           AND c.oid <> 'onevault_tracking.visitor_salts'::regclass
           -- Test builds embed the core replica; its tables are the platform's, not ours.
           AND c.relnamespace NOT IN (SELECT oid FROM pg_catalog.pg_namespace
                                       WHERE nspname IN ('util', 'auth', 'audit', 'metadata'))
         ORDER BY 1
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(member, '');
        FOR sequence_name IN
            SELECT pg_catalog.pg_get_serial_sequence(member::text, a.attname)
              FROM pg_catalog.pg_attribute AS a
             WHERE a.attrelid = member AND a.attnum > 0 AND NOT a.attisdropped
               AND pg_catalog.pg_get_serial_sequence(member::text, a.attname) IS NOT NULL
        LOOP
            PERFORM pg_catalog.pg_extension_config_dump(sequence_name::regclass, '');
        END LOOP;
    END LOOP;
END
$config$;

-- 2. DROP EXTENSION onevault_tracking (or DROP SCHEMA onevault_tracking), with or without
-- CASCADE, is refused while events are stored, unless the dropping session set
-- onevault_tracking.drop_deletes_data = on (src/lifecycle.rs).
CREATE FUNCTION onevault_tracking.guard_tracked_data()
RETURNS event_trigger LANGUAGE c
AS 'MODULE_PATHNAME', 'onevault_tracking_drop_guard';

CREATE EVENT TRIGGER onevault_tracking_guards_its_data ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
    EXECUTE FUNCTION onevault_tracking.guard_tracked_data();

-- 8. One normaliser of site domains (src/hashing.rs, sql/reports.sql); before the lockdown,
-- which takes PUBLIC's EXECUTE away from it as from every member function.
CREATE FUNCTION onevault_tracking."site_domain"(
	"domain" TEXT
) RETURNS TEXT
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'site_domain_wrapper';

CREATE OR REPLACE FUNCTION onevault_tracking.report_site(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_include_bots boolean,
    OUT tenant bytea, OUT site bytea, OUT domain text, OUT zone text)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $report_site$
BEGIN
    tenant := onevault_tracking.current_tenant_hk();
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant selected for onevault_tracking reports'
            USING ERRCODE = '42501',
                  HINT = 'SET onevault_tracking.tenant_id to the hex of your tenant''s tenant_hk (64 hex digits); a role listed in onevault_tracking.reader_tenants may select only the tenants listed for it.';
    END IF;
    IF p_site_domain IS NULL OR p_from IS NULL OR p_to IS NULL OR p_include_bots IS NULL THEN
        RAISE EXCEPTION 'p_site_domain, p_from, p_to and p_include_bots must not be NULL'
            USING ERRCODE = '22004',
                  HINT = 'p_from and p_to bound the range [p_from, p_to); p_include_bots is true or false.';
    END IF;
    IF p_from >= p_to THEN
        RAISE EXCEPTION 'empty reporting range: p_from must be before p_to'
            USING ERRCODE = '22023',
                  HINT = 'The range is [p_from, p_to): p_from is included, p_to is not.';
    END IF;

    -- The site's business key, by the one normaliser of site domains (core/src/domain.rs); an
    -- input that is no domain at all finds no site and is named as given.
    domain := coalesce(onevault_tracking.site_domain(p_site_domain), btrim(p_site_domain));
    SELECT h.site_hk INTO site
      FROM business.site_h AS h
     WHERE h.tenant_hk = tenant AND h.site_bk = domain;
    IF site IS NULL THEN
        RAISE EXCEPTION 'site "%" not found for the current tenant', domain
            USING ERRCODE = 'P0002',
                  HINT = 'Sites are registered with api.register_site (or appear with their first event); the domain is compared in its ASCII (IDNA) form, in lower case, without "www." and a trailing dot.';
    END IF;

    SELECT nullif(d.timezone, '') INTO zone
      FROM business.site_details_s AS d
     WHERE d.site_hk = site AND d.tenant_hk = tenant AND d.load_end_date IS NULL;
    zone := coalesce(zone, 'UTC');
END
$report_site$;

-- 9. Background processing workers (sql/worker.sql).
-- The workers of this database, one row per worker number: who runs it (pid, NULL once stopped).
-- Written only when a worker starts or stops, so the tracking calls' once-a-second look at it
-- (which workers to wake) reads a small table that batches never rewrite. Unlogged: it is
-- state, not data (after a crash it is empty until the workers start again and register), and
-- it is not dumped.
CREATE UNLOGGED TABLE onevault_tracking.workers (
    worker_no   integer     PRIMARY KEY CHECK (worker_no BETWEEN 1 AND 16),
    pid         integer,
    started_by  text        NOT NULL CHECK (started_by IN ('launcher', 'start_workers')),
    started_at  timestamptz NOT NULL,
    stopped_at  timestamptz
);
-- What each worker has done since it started: written by every batch, in the batch's own
-- transaction, so the counts are exact.
CREATE UNLOGGED TABLE onevault_tracking.worker_activity (
    worker_no          integer     PRIMARY KEY REFERENCES onevault_tracking.workers ON DELETE CASCADE,
    last_batch_at      timestamptz,
    last_batch_events  integer,
    last_batch_ms      double precision,
    batches            bigint      NOT NULL DEFAULT 0,
    events_processed   bigint      NOT NULL DEFAULT 0,
    events_valid       bigint      NOT NULL DEFAULT 0,
    events_quarantined bigint      NOT NULL DEFAULT 0,
    events_failed      bigint      NOT NULL DEFAULT 0,
    errors             bigint      NOT NULL DEFAULT 0,
    last_error         text,
    last_error_at      timestamptz
);
REVOKE ALL ON onevault_tracking.workers, onevault_tracking.worker_activity FROM PUBLIC;
-- Like every table of the extension: no policy, so only its owner (and the workers, which run
-- as the bootstrap superuser) reads them; admins read worker_status.
ALTER TABLE onevault_tracking.workers ENABLE ROW LEVEL SECURITY;
ALTER TABLE onevault_tracking.worker_activity ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE onevault_tracking.workers IS
    'onevault_tracking processing workers of this database: one row per worker number, written when a worker starts or stops.';
COMMENT ON TABLE onevault_tracking.worker_activity IS
    'onevault_tracking processing workers: what each did since it started, written by its batches.';

-- The workers and the backlog they drain: one row per worker (one row with worker_no NULL when
-- none ever ran), each with the queue's size and lag (the oldest pending event's age).
CREATE VIEW onevault_tracking.worker_status AS
SELECT w.worker_no,
       w.pid,
       a.pid IS NOT NULL AS running,
       w.started_by,
       w.started_at,
       w.stopped_at,
       act.last_batch_at,
       act.last_batch_events,
       act.last_batch_ms,
       act.batches,
       act.events_processed,
       act.events_valid,
       act.events_quarantined,
       act.events_failed,
       act.errors,
       act.last_error,
       act.last_error_at,
       q.pending_events,
       q.oldest_pending_at,
       pg_catalog.now() OPERATOR(pg_catalog.-) q.oldest_pending_at AS lag
  FROM (SELECT pg_catalog.count(*) AS pending_events, pg_catalog.min(r.received_at) AS oldest_pending_at
          FROM raw.site_tracking_events_r AS r
         WHERE r.processing_status IN ('PENDING', 'ERROR')) AS q
  LEFT JOIN onevault_tracking.workers AS w ON true
  LEFT JOIN onevault_tracking.worker_activity AS act ON act.worker_no OPERATOR(pg_catalog.=) w.worker_no
  LEFT JOIN pg_catalog.pg_stat_activity AS a
         ON a.pid OPERATOR(pg_catalog.=) w.pid
        AND a.backend_type OPERATOR(pg_catalog.=) 'onevault_tracking worker'
        AND a.datname OPERATOR(pg_catalog.=) pg_catalog.current_database();
COMMENT ON VIEW onevault_tracking.worker_status IS
    'onevault_tracking processing workers: state, last batch, counts, errors, and the backlog with its lag.';

-- SECURITY DEFINER: the workers run as the bootstrap superuser, whom only a superuser may
-- signal, and their state table is not readable by the admin role itself.
CREATE FUNCTION onevault_tracking.start_workers(p_workers integer DEFAULT 1)
RETURNS TABLE (worker_no integer, pid integer, status text)
LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'start_workers_wrapper';

CREATE FUNCTION onevault_tracking.stop_workers()
RETURNS integer
LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'stop_workers_wrapper';

-- 11. Export and current visitors (sql/export.sql); before the lockdown and grants.
-- Current visitors and exports, beside the reports (sql/reports.sql), whose rules they follow:
-- the session's tenant (42501 without one), the site by its normalised domain within that
-- tenant (P0002 otherwise, another tenant's site included), ranges [p_from, p_to) on the
-- event's own timestamp, 22004 for NULL arguments and 22023 for bad ones, with a hint.
--
--   api.current_visitors(domain, include_bots)                      the last 5 minutes, as JSON
--   api.export_events(domain, from, to, limit)                      the events, as CSV lines
--   api.export_report(domain, from, to, report, filters, limit, include_bots)  a report, as CSV
--
-- The exports return one CSV record (RFC 4180) per row, the header first, with no line
-- terminator: a client writes each row followed by a line break (psql -XAt does). A field is
-- quoted when it holds a comma, a double quote or a line break, or is empty (so that an empty
-- string and a NULL, written as nothing, stay apart, as PostgreSQL's own CSV does); double
-- quotes inside are doubled. A quoted field keeps its line breaks, so one record can span lines.
-- COPY (SELECT * FROM api.export_events(...)) TO STDOUT streams the rows to the client. In
-- COPY's text format it doubles backslashes (and would escape tabs and line breaks); in CSV
-- format with a delimiter and a quote character that no row holds, e.g.
-- WITH (FORMAT csv, DELIMITER E'\x1f', QUOTE E'\x1e'), it writes every row as it is: the vault
-- keeps no control characters (tracking refuses them), so COPY finds nothing to quote
-- (README, "Current visitors and exports").
--
-- Row limit: p_limit data rows (the header not counted), 100,000 by default, at most 1,000,000.
-- When the range holds more, the first p_limit rows are returned and a WARNING says so, naming
-- the time of the first event left out (the audit record says it was cut short). A warning
-- rather than a marker row: the file stays valid CSV for every reader, and a client that drops
-- notices still finds the truncation in the audit record.
--
-- Every export is audited once per call (event DATA_EXPORTED through
-- onevault_tracking.log_platform_audit_event): who, which tenant and site, the range, the rows,
-- whether it was cut short. The rows are computed before the record is written and a call
-- returns nothing until it ends, so an export whose audit fails returns no row at all.

-- Helpers ----------------------------------------------------------------------------------------

-- One CSV record of p_fields, in order (see the quoting rules above).
CREATE FUNCTION onevault_tracking.csv_line(p_fields text[])
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $csv_line$
    SELECT string_agg(CASE WHEN u.field IS NULL THEN ''
                           WHEN u.field = '' OR u.field ~ '[",\r\n]' THEN '"' || replace(u.field, '"', '""') || '"'
                           ELSE u.field END,
                      ',' ORDER BY u.i)
      FROM unnest(p_fields) WITH ORDINALITY AS u (field, i)
$csv_line$;

-- The row limit of an export (see above).
CREATE FUNCTION onevault_tracking.export_limit(p_limit integer)
RETURNS integer
LANGUAGE plpgsql
IMMUTABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $export_limit$
BEGIN
    IF p_limit IS NULL THEN
        RAISE EXCEPTION 'p_limit must not be NULL'
            USING ERRCODE = '22004', HINT = 'p_limit is the most data rows to export, 1 to 1000000 (100000 by default).';
    END IF;
    IF p_limit NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION 'p_limit must be between 1 and 1000000, not %', p_limit
            USING ERRCODE = '22023',
                  HINT = 'Export at most 1000000 rows per call; split a larger range into several calls.';
    END IF;
    RETURN p_limit;
END
$export_limit$;

-- What every export ends with: the warning when it was cut short, and its audit record.
-- SECURITY DEFINER: a reader may not call the audit path itself (it would write any record it
-- likes). Here the actor is the session user and the tenant the session's, which the caller
-- cannot choose; the details are the caller's, so a reader calling this directly can only file
-- a record of an export under its own name.
CREATE FUNCTION onevault_tracking.finish_export(
    p_site text, p_from timestamptz, p_to timestamptz, p_limit integer, p_rows bigint,
    p_first_left_out timestamptz, p_details jsonb)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $finish_export$
DECLARE
    tenant bytea := onevault_tracking.current_tenant_hk();
    answer jsonb;
BEGIN
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant selected for onevault_tracking exports'
            USING ERRCODE = '42501', HINT = 'SET onevault_tracking.tenant_id to the hex of your tenant''s tenant_hk (64 hex digits).';
    END IF;
    IF p_rows > p_limit AND p_first_left_out IS NOT NULL THEN
        RAISE WARNING 'export stopped after % rows (p_limit): the range holds more', p_limit
            USING DETAIL = 'The first event left out happened at '
                           || to_char(p_first_left_out AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '.',
                  HINT = 'Export the rest with p_from at that time (events of that very instant already exported come again), or raise p_limit (at most 1000000).';
    ELSIF p_rows > p_limit THEN
        RAISE WARNING 'export stopped after % rows (p_limit): the report has more', p_limit
            USING HINT = 'Raise p_limit (at most 1000000).';
    END IF;
    -- The platform's audit key is (event type, resource type, resource id, transaction start):
    -- a random resource id keeps two exports in one transaction two records.
    answer := onevault_tracking.log_platform_audit_event(
        'DATA_EXPORTED', 'onevault_tracking.export', 'export:' || gen_random_uuid(),
        'onevault_tracking:' || session_user,
        jsonb_build_object(
            'tenant_id', encode(tenant, 'hex'),
            'site', p_site,
            'from', to_char(p_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'to', to_char(p_to AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'limit', p_limit,
            'rows', least(p_rows, p_limit),
            'truncated', p_rows > p_limit) || p_details);
    IF answer ->> 'success' IS DISTINCT FROM 'true' THEN
        RAISE EXCEPTION 'util.log_audit_event failed (%): %', answer ->> 'error_code', answer ->> 'error_message'
            USING ERRCODE = '38000', HINT = 'Check util.log_audit_event and the audit tables; nothing was exported.';
    END IF;
END
$finish_export$;

-- Current visitors -------------------------------------------------------------------------------

-- Who is on the site now: the events of the last 5 minutes, read from the vault (the rollups
-- are per hour; the vault holds an event as soon as it is processed, so the answer is as fresh
-- as the pipeline). The window is [now() - 5 minutes, ...) with no upper end: tracking accepts
-- client times up to 5 minutes ahead of the server, and such an event is happening now too.
--   visitors   distinct visitor hashes (the salt is daily: a visitor active across UTC midnight
--              is two hashes for those minutes; events without a client IP add no visitor)
--   pageviews  page views; events: all events (page views and custom)
--   top_pages  the 10 pages with the most visitors (then page views, then path), page views only
-- Bots are left out unless p_include_bots, as in the reports.
CREATE FUNCTION api.current_visitors(p_site_domain text, p_include_bots boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $current_visitors$
DECLARE
    window_from constant timestamptz := now() - interval '5 minutes';
    ctx record;
    totals record;
    pages jsonb;
BEGIN
    IF p_site_domain IS NULL OR p_include_bots IS NULL THEN
        RAISE EXCEPTION 'p_site_domain and p_include_bots must not be NULL'
            USING ERRCODE = '22004', HINT = 'p_include_bots is true or false (false by default).';
    END IF;
    SELECT * INTO STRICT ctx
      FROM onevault_tracking.report_site(p_site_domain, window_from, 'infinity', p_include_bots);

    SELECT count(DISTINCT e.visitor_hash) AS visitors,
           count(*) FILTER (WHERE e.event_type = 'page_view') AS pageviews,
           count(*) AS events
      INTO totals
      FROM onevault_tracking.report_events(ctx.tenant, ctx.site, window_from, 'infinity', p_include_bots) AS e;

    WITH top AS (
        SELECT p.page_path AS page, count(DISTINCT e.visitor_hash) AS visitors, count(*) AS pageviews
          FROM onevault_tracking.report_events(ctx.tenant, ctx.site, window_from, 'infinity', p_include_bots) AS e
          LEFT JOIN business.page_details_s AS p ON p.page_hk = e.page_hk AND p.load_end_date IS NULL
         WHERE e.event_type = 'page_view'
         GROUP BY p.page_path
         ORDER BY visitors DESC, pageviews DESC, p.page_path COLLATE "C" NULLS LAST
         LIMIT 10
    )
    SELECT jsonb_agg(jsonb_build_object('page', t.page, 'visitors', t.visitors, 'pageviews', t.pageviews)
                     ORDER BY t.visitors DESC, t.pageviews DESC, t.page COLLATE "C" NULLS LAST)
      INTO pages
      FROM top AS t;

    RETURN jsonb_build_object(
        'site', ctx.domain,
        'from', to_char(window_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'to', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'include_bots', p_include_bots,
        'visitors', totals.visitors,
        'pageviews', totals.pageviews,
        'events', totals.events,
        'top_pages', coalesce(pages, '[]'));
END
$current_visitors$;

-- Events -----------------------------------------------------------------------------------------

-- A site's events in [p_from, p_to) as CSV, oldest first (equal times in event key order), bots
-- included (the column bot says which; empty when unknown). Columns:
--   time          the event's time, UTC, ISO 8601 with microseconds
--   event_type    page_view or custom; event_name: a custom event's name
--   page, page_title   the page's path and its current title
--   referrer, channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content
--   browser, os, device, bot
--   visit         the number of the event's visit within this export (1 for the visit of the
--                 first event, 2 for the next visit to appear, ...; empty for an event without
--                 a visit)
--   properties    a custom event's properties, as JSON
-- No visitor hash, session id, IP or query string. The visitor hash is pseudonymous personal
-- data: retention and api.erase_visitor reach it in the vault, never in a file, and exported it
-- would link one person's events across exports and back to the vault. Session ids may be the
-- client's own identifiers. The visit number still groups a visit's events (funnels, paths),
-- but it means nothing outside the file: the same visit has another number in another export.
CREATE FUNCTION api.export_events(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_limit integer DEFAULT 100000)
RETURNS SETOF text
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $export_events$
DECLARE
    ctx record;
    max_rows constant integer := onevault_tracking.export_limit(p_limit);
    ev record;
    exported bigint := 0;
    first_left_out timestamptz;
BEGIN
    SELECT * INTO STRICT ctx FROM onevault_tracking.report_site(p_site_domain, p_from, p_to, true);

    RETURN NEXT onevault_tracking.csv_line(ARRAY[
        'time', 'event_type', 'event_name', 'page', 'page_title', 'referrer', 'channel', 'utm_source',
        'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'browser', 'os', 'device', 'bot', 'visit',
        'properties']);
    -- One row more than the limit tells whether the range holds more. The scan follows
    -- tracking_event_details_s_report_idx (tenant, time) and stops there.
    FOR ev IN
        WITH picked AS (
            SELECT d.tracking_event_hk, d.event_timestamp, d.event_type, d.event_name, l.page_hk, l.session_hk,
                   d.referrer_host, d.channel, d.utm_source, d.utm_medium, d.utm_campaign, d.utm_term,
                   d.utm_content, d.browser_name, d.os_name, d.device_type, d.is_bot, d.properties,
                   row_number() OVER (ORDER BY d.event_timestamp, d.tracking_event_hk) AS n
              FROM business.tracking_event_details_s AS d
              JOIN business.tracking_event_l AS l ON l.tracking_event_hk = d.tracking_event_hk
             WHERE d.tenant_hk = ctx.tenant AND d.load_end_date IS NULL
               AND d.event_timestamp >= p_from AND d.event_timestamp < p_to
               AND l.tenant_hk = ctx.tenant AND l.site_hk = ctx.site
             ORDER BY d.event_timestamp, d.tracking_event_hk
             LIMIT max_rows + 1
        ),
        visits AS (
            SELECT p.*, CASE WHEN p.session_hk IS NOT NULL THEN min(p.n) OVER (PARTITION BY p.session_hk) END AS visit_first
              FROM picked AS p
        )
        SELECT v.n, v.event_timestamp,
               onevault_tracking.csv_line(ARRAY[
                   to_char(v.event_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   v.event_type, v.event_name, pg.page_path, pg.page_title, v.referrer_host, v.channel,
                   v.utm_source, v.utm_medium, v.utm_campaign, v.utm_term, v.utm_content, v.browser_name,
                   v.os_name, v.device_type, v.is_bot::text,
                   CASE WHEN v.visit_first IS NOT NULL
                        THEN (dense_rank() OVER (ORDER BY v.visit_first NULLS LAST))::text END,
                   v.properties::text]) AS line
          FROM visits AS v
          LEFT JOIN business.page_details_s AS pg ON pg.page_hk = v.page_hk AND pg.load_end_date IS NULL
         ORDER BY v.n
    LOOP
        IF ev.n > max_rows THEN
            first_left_out := ev.event_timestamp;
            EXIT;
        END IF;
        RETURN NEXT ev.line;
        exported := ev.n;
    END LOOP;

    PERFORM onevault_tracking.finish_export(
        ctx.domain, p_from, p_to, max_rows, exported + (first_left_out IS NOT NULL)::integer, first_left_out,
        jsonb_build_object('export', 'events'));
END
$export_events$;

-- Reports ----------------------------------------------------------------------------------------

-- A report's rows as CSV, from the report functions themselves (same numbers, same rules, same
-- errors), for the same p_filters and p_include_bots:
--   'stats'                  one row: from, to, visitors, visits, pageviews, events,
--                            views_per_visit, bounce_rate, visit_duration (api.site_stats; its
--                            custom_events are the rows of 'breakdown:event_name')
--   'breakdown:<dimension>'  value, visitors, visits, pageviews (events for event_name and
--                            property:<key>), top values first (api.site_breakdown, which
--                            answers at most its top 1000 values)
--   'timeseries:hour|day'    bucket, start, visitors, visits, pageviews (api.site_timeseries,
--                            at most 10000 buckets)
-- p_limit bounds the data rows as in export_events.
CREATE FUNCTION api.export_report(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_report text, p_filters jsonb DEFAULT '{}',
    p_limit integer DEFAULT 100000, p_include_bots boolean DEFAULT false)
RETURNS SETOF text
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $export_report$
DECLARE
    max_rows constant integer := onevault_tracking.export_limit(p_limit);
    ctx record;
    dimension text;
    columns text[];
    answer jsonb;
BEGIN
    SELECT * INTO STRICT ctx FROM onevault_tracking.report_site(p_site_domain, p_from, p_to, p_include_bots);
    IF p_report IS NULL THEN
        RAISE EXCEPTION 'p_report must not be NULL'
            USING ERRCODE = '22004', HINT = 'Reports: stats, breakdown:<dimension>, timeseries:hour, timeseries:day.';
    END IF;
    IF p_report = 'stats' THEN
        columns := ARRAY['from', 'to', 'visitors', 'visits', 'pageviews', 'events', 'views_per_visit',
                         'bounce_rate', 'visit_duration'];
        answer := jsonb_build_array(api.site_stats(p_site_domain, p_from, p_to, p_include_bots, p_filters));
    ELSIF starts_with(p_report, 'breakdown:') THEN
        dimension := substr(p_report, length('breakdown:') + 1);
        -- The measure's name as site_breakdown gives it.
        columns := ARRAY['value', 'visitors', 'visits',
                         CASE WHEN dimension = 'event_name' OR starts_with(dimension, 'property:') THEN 'events'
                              ELSE 'pageviews' END];
        -- One value more than the limit, to tell whether there are more.
        answer := api.site_breakdown(p_site_domain, dimension, p_from, p_to, least(max_rows + 1, 1000),
                                     p_include_bots, p_filters);
    ELSIF starts_with(p_report, 'timeseries:') THEN
        columns := ARRAY['bucket', 'start', 'visitors', 'visits', 'pageviews'];
        answer := api.site_timeseries(p_site_domain, p_from, p_to, substr(p_report, length('timeseries:') + 1),
                                      p_include_bots, p_filters);
    ELSE
        RAISE EXCEPTION 'unknown report "%"', p_report
            USING ERRCODE = '22023',
                  HINT = 'Reports: stats, breakdown:<dimension> (e.g. breakdown:page), timeseries:hour, timeseries:day.';
    END IF;

    RETURN NEXT onevault_tracking.csv_line(columns);
    RETURN QUERY
        SELECT onevault_tracking.csv_line(ARRAY(SELECT r.item ->> c.name
                                                   FROM unnest(columns) WITH ORDINALITY AS c (name, i)
                                                  ORDER BY c.i))
          FROM jsonb_array_elements(answer) WITH ORDINALITY AS r (item, i)
         WHERE r.i <= max_rows
         ORDER BY r.i;

    PERFORM onevault_tracking.finish_export(
        ctx.domain, p_from, p_to, max_rows, jsonb_array_length(answer), NULL,
        jsonb_build_object('export', 'report', 'report', p_report,
                           'filters', onevault_tracking.report_filters(p_filters), 'include_bots', p_include_bots));
END
$export_report$;

-- 6. Lockdown and grants (sql/finalize.sql).
DO $lockdown$
DECLARE
    member_function regprocedure;
    pinned boolean;
    native_writer boolean;
BEGIN
    FOR member_function, pinned, native_writer IN
        SELECT d.objid::regprocedure,
               (p.prosecdef OR (l.lanname <> 'c' AND p.oid <> 'onevault_tracking.report_events(bytea, bytea, timestamptz, timestamptz, boolean)'::regprocedure))
               AND p.oid <> 'onevault_tracking.log_platform_audit_event(text, text, text, text, jsonb)'::regprocedure,
               p.prosecdef AND l.lanname = 'c'
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_proc p ON p.oid = d.objid
          JOIN pg_catalog.pg_language l ON l.oid = p.prolang
         WHERE d.classid = 'pg_catalog.pg_proc'::regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::regclass
           AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'onevault_tracking')
           AND d.deptype = 'e'
           -- Test builds embed the core replica (src/lib.rs), whose functions then are members:
           -- they must stay exactly as the platform's are (unpinned, executable by PUBLIC).
           AND p.pronamespace NOT IN (SELECT oid FROM pg_catalog.pg_namespace
                                       WHERE nspname IN ('util', 'auth', 'audit', 'metadata'))
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', member_function);
        IF pinned THEN
            EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp',
                                      member_function);
        END IF;
        -- The native functions keep their statements prepared for the life of the backend. With
        -- the default plan_cache_mode the plan cache re-plans a statement on every execution
        -- when its generic plan looks costlier than the custom ones, which for these statements
        -- (arrays and JSON as parameters) it always does: planning then costs more than the
        -- work. Their statements are key lookups whose best plan does not depend on the values,
        -- so one generic plan per backend is right, with one catch: it may be made while a
        -- table is still empty, when a sequential scan looks cheapest and then stays in use as
        -- the table grows (measured: 0.9 ms per session lookup after 2,500 events instead of
        -- 0.02 ms). Every statement of these functions has an index to use, so sequential
        -- scans are ruled out for them.
        IF native_writer THEN
            EXECUTE pg_catalog.format('ALTER FUNCTION %s SET plan_cache_mode = force_generic_plan',
                                      member_function);
            EXECUTE pg_catalog.format('ALTER FUNCTION %s SET enable_seqscan = off', member_function);
        END IF;
    END LOOP;
END
$lockdown$;

GRANT EXECUTE ON FUNCTION api.track_site_event(inet, text, text, character varying, jsonb)
TO onevault_tracking_ingest;
GRANT EXECUTE ON FUNCTION
    onevault_tracking.process_pipeline_step(integer),
    onevault_tracking.migrate_earlier_generation(),
    onevault_tracking.restore_earlier_generation(),
    staging.auto_process_if_needed(),
    staging.trigger_pipeline_now(),
    staging.get_pipeline_status(),
    onevault_tracking.start_workers(integer),
    onevault_tracking.stop_workers()
TO onevault_tracking_admin;
GRANT SELECT ON onevault_tracking.worker_status TO onevault_tracking_admin;
GRANT EXECUTE ON FUNCTION onevault_tracking.pgcrypto_schema_creators() TO onevault_tracking_reader;
GRANT EXECUTE ON FUNCTION onevault_tracking.site_domain(text) TO onevault_tracking_reader;
GRANT EXECUTE ON FUNCTION
    api.current_visitors(text, boolean),
    api.export_events(text, timestamptz, timestamptz, integer),
    api.export_report(text, timestamptz, timestamptz, text, jsonb, integer, boolean),
    onevault_tracking.csv_line(text[]),
    onevault_tracking.export_limit(integer),
    onevault_tracking.finish_export(text, timestamptz, timestamptz, integer, bigint, timestamptz, jsonb)
TO onevault_tracking_reader;
GRANT SELECT ON staging.pipeline_dashboard TO onevault_tracking_reader;

-- 7. A key's public prefix names one key in the whole database.
CREATE UNIQUE INDEX api_key_h_bk_key ON business.api_key_h (api_key_bk);
