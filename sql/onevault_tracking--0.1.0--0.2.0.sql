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
--  10. report rollups kept by every vault load (sql/rollups.sql), and reports with filters and the
--      comparison with the previous period that read them (sql/reports.sql); the rollups of the
--      stored events are built here (onevault_tracking.rebuild_rollups()), before the lockdown.
--  11. one site, one visitor, one session: staged events carry their site
--      (staging.site_tracking_events_s.site_domain, the registered site whose domain or allowed
--      domains include the page's host), onevault_tracking.site_of_host(bytea, text), and
--      onevault_tracking.merge_allowed_domain_sites(), called once here, which moves the events
--      0.1.0 stored under an allowed domain's own site to their site (README, "One site, one
--      visitor"). It rebuilds rollups with onevault_tracking.rebuild_rollups, so it comes after
--      the rollups; before the lockdown and grants.
--  12. current visitors and the CSV exports: api.current_visitors, api.export_events and
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

-- 10. Report rollups (sql/rollups.sql) and the reports that read them (sql/reports.sql). The
-- reports gain filters and the comparison with the previous period, so their signatures change:
-- the 0.1.0 ones are dropped (the grants of section 6 give the new ones to the readers). The
-- events already stored get their rollups at the end of this section.
DROP FUNCTION api.site_stats(text, timestamptz, timestamptz, boolean);
DROP FUNCTION api.site_breakdown(text, text, timestamptz, timestamptz, integer, boolean);
DROP FUNCTION api.site_timeseries(text, timestamptz, timestamptz, text, boolean);

-- Report rollups: what the reports read instead of the events (README, "Reports").
--
-- Every report metric is a sum of contributions, and each contribution belongs to one instant:
--   an event contributes its page view and its event at its own time;
--   a visit (a session) contributes visits, bounces and duration at its start (its first event),
--   and it is the whole visit's: its bounce and its duration count every event of the visit;
--   a visitor (a visitor hash: the salt is daily, so one per visitor and UTC day) counts once
--   per bucket in which they have an event.
-- traffic_contributions() computes them from the vault for a set of whole visits; the reports
-- over the vault (onevault_tracking.report_source = vault) sum them directly, and the rollups
-- hold their sums per hour and per UTC day. Sums of events and visits are additive, so a range
-- is answered from the day and hour rows it covers, plus its partial hours read from the vault.
-- Visitors are not additive across buckets: see site_traffic_bucket below.
--
-- Dimensions. Every contribution is counted under the totals (dimension '', value NULL) and
-- under each dimension value it has:
--   page, event_name, property:<key>  the event's own (page views for page, custom events for
--                                     the others); a visit has each value one of its events has
--   entry_page, exit_page             the visit's first and last page view
--   referrer, channel, utm_source, utm_medium, utm_campaign, browser, os, device
--                                     the visit's, taken from its first event (an event without a
--                                     session stands for itself)
-- and under a page filter: the same rows again, restricted to the page views of that page and
-- the visits that viewed it (page_filter = the path; '' is no filter). Bots: a visit is a bot's
-- when its first event is; its events follow it.

CREATE TABLE business.site_traffic_rollup (
    tenant_hk   bytea       NOT NULL,
    site_hk     bytea       NOT NULL,
    granularity "char"      NOT NULL CHECK (granularity IN ('h', 'd')),  -- UTC hour or UTC day
    bucket      timestamptz NOT NULL,                                    -- its first instant
    bots        boolean     NOT NULL,
    page_filter text        NOT NULL,
    dimension   text        NOT NULL,
    value       text,
    pageviews   bigint      NOT NULL,
    events      bigint      NOT NULL,
    visits      bigint      NOT NULL,
    bounces     bigint      NOT NULL,
    duration_us bigint      NOT NULL,  -- the visits' durations, in microseconds
    visitors    bigint,                -- exact once the bucket is closed (site_traffic_bucket)
    -- Page paths and values are up to 2,000 bytes each: the key names them by a hash.
    filter_key  uuid        NOT NULL GENERATED ALWAYS AS (md5(page_filter)::uuid) STORED,
    row_key     uuid        NOT NULL GENERATED ALWAYS AS (
                    md5(page_filter || E'\x1f' || dimension || E'\x1f' || coalesce('v' || value, 'n'))::uuid) STORED
);
CREATE UNIQUE INDEX site_traffic_rollup_key
    ON business.site_traffic_rollup (tenant_hk, site_hk, granularity, bucket, bots, row_key);
-- What a report reads: one filter and one dimension of a site over a run of buckets.
CREATE INDEX site_traffic_rollup_report_idx
    ON business.site_traffic_rollup (tenant_hk, site_hk, filter_key, dimension, granularity, bucket);

-- The buckets that have rollup rows, and whether their visitors are counted. A bucket is closed
-- by onevault_tracking.close_rollup_buckets() (the background workers call it) five minutes
-- after its end: its visitors are then counted exactly from the vault, once, into the rows'
-- visitors. An event loaded into a closed bucket (a late event) opens it again. Reports count
-- the visitors of a bucket that is open from the vault.
CREATE TABLE business.site_traffic_bucket (
    tenant_hk   bytea       NOT NULL,
    site_hk     bytea       NOT NULL,
    granularity "char"      NOT NULL CHECK (granularity IN ('h', 'd')),
    bucket      timestamptz NOT NULL,
    closed_at   timestamptz,
    PRIMARY KEY (tenant_hk, site_hk, granularity, bucket)
);
CREATE INDEX site_traffic_bucket_open_idx
    ON business.site_traffic_bucket (bucket) WHERE closed_at IS NULL;

-- Whether the report filters p_filters keep a value of dimension p_key: yes when they do not
-- name it; otherwise the value must apply (p_applies) and equal the filter's (a JSON null asks
-- for no value). Inlined into the query that calls it, so written like report_events (every name
-- qualified, no SET clause).
CREATE FUNCTION onevault_tracking.traffic_filter_keeps(
    p_filters jsonb, p_key text, p_value text, p_applies boolean DEFAULT true)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
AS $keeps$
    SELECT NOT (p_filters OPERATOR(pg_catalog.?) p_key)
        OR (p_applies AND CASE WHEN pg_catalog.jsonb_typeof(p_filters OPERATOR(pg_catalog.->) p_key) OPERATOR(pg_catalog.=) 'null'
                               THEN p_value IS NULL
                               ELSE p_value OPERATOR(pg_catalog.=) (p_filters OPERATOR(pg_catalog.->>) p_key) END)
$keeps$;

-- The contributions of whole visits (see the top of this file), one row per contribution and
-- dimension value: kind 'e' (an event: pageviews, events, and the visitor_hash it counts) or
-- 'v' (a visit: visits, bounces, duration_us), at its instant.
-- Two ways to say which visits:
--   a range (p_from, p_to): the visits of p_site with an event in it, and the events without a
--     session in it; only the contributions inside the range are returned;
--   sets (p_from NULL): the visits p_sessions and the session-less events p_loose, every
--     contribution, leaving out the events p_excluded (what the visits were before them).
-- p_page: '' only the unfiltered rows, a path only that page filter's rows, NULL all of them.
-- p_dimension: one dimension ('' the totals), NULL all of them.
-- p_filters (jsonb, {} for none) restricts the visits and events: a visit attribute (entry_page,
-- exit_page, referrer, channel, utm_*, browser, os, device) keeps the visits that have it, an
-- event attribute (page, event_name, property:<key>) keeps the events that have it and the
-- visits with such an event; a JSON null asks for "none" (e.g. referrer null: direct).
CREATE FUNCTION onevault_tracking.traffic_contributions(
    p_tenant bytea, p_site bytea, p_from timestamptz, p_to timestamptz,
    p_sessions bytea[], p_loose bytea[], p_excluded bytea[],
    p_page text, p_dimension text, p_filters jsonb)
RETURNS TABLE (kind "char", at timestamptz, tenant_hk bytea, site_hk bytea, visitor_hash bytea,
               bots boolean, page_filter text, dimension text, value text,
               pageviews integer, events integer, visits integer, bounces integer, duration_us bigint)
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY INVOKER
AS $contributions$
WITH in_range AS MATERIALIZED (
    SELECT l.tracking_event_hk, l.session_hk
      FROM business.tracking_event_details_s AS d
      JOIN business.tracking_event_l AS l ON l.tracking_event_hk = d.tracking_event_hk
     WHERE p_from IS NOT NULL
       AND d.tenant_hk = p_tenant AND d.load_end_date IS NULL
       AND d.event_timestamp >= p_from AND d.event_timestamp < p_to
       AND l.tenant_hk = p_tenant AND l.site_hk = p_site
),
picked AS (
    SELECT l.tracking_event_hk
      FROM business.tracking_event_l AS l
     WHERE l.session_hk IN (SELECT DISTINCT r.session_hk FROM in_range AS r WHERE r.session_hk IS NOT NULL)
    UNION ALL
    SELECT r.tracking_event_hk FROM in_range AS r WHERE r.session_hk IS NULL
    UNION ALL
    SELECT l.tracking_event_hk FROM business.tracking_event_l AS l
     WHERE p_from IS NULL AND l.session_hk = ANY (p_sessions)
    UNION ALL
    SELECT k.hk FROM unnest(p_loose) AS k (hk) WHERE p_from IS NULL
),
ev AS MATERIALIZED (
    SELECT l.tracking_event_hk AS hk, l.tenant_hk, l.site_hk, l.session_hk, d.event_type, d.event_name,
           d.event_timestamp AS at, d.visitor_hash, d.properties, d.referrer_host, d.channel,
           d.utm_source, d.utm_medium, d.utm_campaign, d.browser_name, d.os_name, d.device_type,
           coalesce(d.is_bot, false) AS bot, d.event_type = 'page_view' AS pv, p.page_path
      FROM picked AS k
      JOIN business.tracking_event_l AS l ON l.tracking_event_hk = k.tracking_event_hk
      JOIN business.tracking_event_details_s AS d
        ON d.tracking_event_hk = l.tracking_event_hk AND d.load_end_date IS NULL
      LEFT JOIN business.page_details_s AS p ON p.page_hk = l.page_hk AND p.load_end_date IS NULL
     WHERE l.site_hk IS NOT NULL AND d.event_timestamp IS NOT NULL
       AND NOT EXISTS (SELECT FROM unnest(p_excluded) AS x (hk) WHERE x.hk = l.tracking_event_hk)
),
-- Each visit: its first event's attributes, and its page views (entry: the first, exit: the
-- last; equal times are ordered by event key, so the choice is stable).
visit AS (
    SELECT DISTINCT ON (e.session_hk) e.session_hk, e.tenant_hk, e.site_hk, e.at AS first_at, e.bot,
           e.referrer_host, e.channel,
           e.utm_source, e.utm_medium, e.utm_campaign, e.browser_name, e.os_name, e.device_type
      FROM ev AS e
     WHERE e.session_hk IS NOT NULL
     ORDER BY e.session_hk, e.at, e.hk
),
visit_pages AS (
    SELECT e.session_hk, count(*) FILTER (WHERE e.pv) AS pageviews, max(e.at) AS last_at,
           (array_agg(e.page_path ORDER BY e.at, e.hk) FILTER (WHERE e.pv))[1] AS entry_page,
           (array_agg(e.page_path ORDER BY e.at DESC, e.hk) FILTER (WHERE e.pv))[1] AS exit_page
      FROM ev AS e
     WHERE e.session_hk IS NOT NULL
     GROUP BY e.session_hk
),
-- Every event with its visit's attributes, and whether the filters keep it.
ev_visit AS (
    SELECT x.*,
           (p_filters IS NULL OR p_filters = '{}' OR (
                onevault_tracking.traffic_filter_keeps(p_filters, 'entry_page', x.entry_page)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'exit_page', x.exit_page)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'referrer', x.referrer_host)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'channel', x.channel)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'utm_source', x.utm_source)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'utm_medium', x.utm_medium)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'utm_campaign', x.utm_campaign)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'browser', x.browser_name)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'os', x.os_name)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'device', x.device_type))) AS visit_kept
      FROM (SELECT e.hk, e.tenant_hk, e.site_hk, e.session_hk, e.at, e.visitor_hash, e.pv, e.event_type,
                   e.event_name, e.properties, e.page_path,
                   coalesce(v.bot, e.bot) AS bots,
                   CASE WHEN v.session_hk IS NULL THEN e.referrer_host ELSE v.referrer_host END AS referrer_host,
                   CASE WHEN v.session_hk IS NULL THEN e.channel ELSE v.channel END AS channel,
                   CASE WHEN v.session_hk IS NULL THEN e.utm_source ELSE v.utm_source END AS utm_source,
                   CASE WHEN v.session_hk IS NULL THEN e.utm_medium ELSE v.utm_medium END AS utm_medium,
                   CASE WHEN v.session_hk IS NULL THEN e.utm_campaign ELSE v.utm_campaign END AS utm_campaign,
                   CASE WHEN v.session_hk IS NULL THEN e.browser_name ELSE v.browser_name END AS browser_name,
                   CASE WHEN v.session_hk IS NULL THEN e.os_name ELSE v.os_name END AS os_name,
                   CASE WHEN v.session_hk IS NULL THEN e.device_type ELSE v.device_type END AS device_type,
                   s.entry_page, s.exit_page
              FROM ev AS e
              LEFT JOIN visit AS v ON v.session_hk = e.session_hk
              LEFT JOIN visit_pages AS s ON s.session_hk = e.session_hk) AS x
),
kept AS MATERIALIZED (
    SELECT e.*,
           e.visit_kept AND (p_filters IS NULL OR p_filters = '{}' OR (
                onevault_tracking.traffic_filter_keeps(p_filters, 'page', CASE WHEN e.pv THEN e.page_path END, e.pv)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'event_name', e.event_name, e.event_type = 'custom')
            AND NOT EXISTS (SELECT FROM jsonb_each(p_filters) AS f
                             WHERE starts_with(f.key, 'property:')
                               AND NOT onevault_tracking.traffic_filter_keeps(
                                       p_filters, f.key, e.properties ->> substr(f.key, 10),
                                       e.event_type = 'custom' AND coalesce(e.properties ? substr(f.key, 10), false)))))
               AS event_kept
      FROM ev_visit AS e
),
ev_dims AS (
    SELECT e.hk, x.dimension, x.value
      FROM kept AS e
      CROSS JOIN LATERAL (
          SELECT d.dimension, d.value
            FROM (VALUES ('', NULL::text, true),
                         ('page', e.page_path, e.pv),
                         ('entry_page', e.entry_page, e.entry_page IS NOT NULL),
                         ('exit_page', e.exit_page, e.exit_page IS NOT NULL),
                         ('referrer', e.referrer_host, true),
                         ('channel', e.channel, true),
                         ('utm_source', e.utm_source, true),
                         ('utm_medium', e.utm_medium, true),
                         ('utm_campaign', e.utm_campaign, true),
                         ('browser', e.browser_name, true),
                         ('os', e.os_name, true),
                         ('device', e.device_type, true),
                         ('event_name', e.event_name, e.event_type = 'custom')) AS d (dimension, value, applies)
           WHERE d.applies
          UNION ALL
          SELECT 'property:' || p.key, p.value
            FROM jsonb_each_text(CASE WHEN e.event_type = 'custom' AND jsonb_typeof(e.properties) = 'object'
                                      THEN e.properties END) AS p) AS x
     WHERE p_dimension IS NULL OR x.dimension = p_dimension
),
event_rows AS (
    SELECT 'e'::"char" AS kind, e.at, e.tenant_hk, e.site_hk, e.visitor_hash, e.bots, f.page_filter,
           x.dimension, x.value, e.pv::integer AS pageviews, 1 AS events, 0 AS visits, 0 AS bounces,
           0::bigint AS duration_us
      FROM kept AS e
      JOIN ev_dims AS x ON x.hk = e.hk
      CROSS JOIN LATERAL (SELECT ''::text AS page_filter
                          UNION ALL
                          SELECT e.page_path WHERE e.pv AND e.page_path IS NOT NULL) AS f
     WHERE e.event_kept
       AND (p_page IS NULL OR f.page_filter = p_page)
       AND (p_from IS NULL OR (e.at >= p_from AND e.at < p_to))
),
-- A visit counts when the filters keep one of its events, under each value its events have
-- (once) and under each page it viewed.
kept_visits AS (
    SELECT DISTINCT e.session_hk
      FROM kept AS e
     WHERE e.session_hk IS NOT NULL AND e.event_kept
),
visit_keys AS (
    SELECT DISTINCT e.session_hk, x.dimension, x.value
      FROM kept AS e
      JOIN ev_dims AS x ON x.hk = e.hk
     WHERE e.session_hk IS NOT NULL AND e.visit_kept
),
visit_filters AS (
    SELECT v.session_hk, ''::text AS page_filter
      FROM visit AS v
    UNION
    SELECT e.session_hk, e.page_path
      FROM kept AS e
     WHERE e.session_hk IS NOT NULL AND e.pv AND e.page_path IS NOT NULL AND p_page IS DISTINCT FROM ''
),
visit_rows AS (
    SELECT 'v'::"char" AS kind, v.first_at AS at, v.tenant_hk, v.site_hk, NULL::bytea AS visitor_hash,
           v.bot AS bots, f.page_filter, k.dimension, k.value, 0 AS pageviews, 0 AS events, 1 AS visits,
           (s.pageviews = 1)::integer AS bounces,
           (extract(epoch FROM s.last_at - v.first_at) * 1000000)::bigint AS duration_us
      FROM visit AS v
      JOIN kept_visits AS c ON c.session_hk = v.session_hk
      JOIN visit_pages AS s ON s.session_hk = v.session_hk
      JOIN visit_filters AS f ON f.session_hk = v.session_hk
      JOIN visit_keys AS k ON k.session_hk = v.session_hk
     WHERE (p_page IS NULL OR f.page_filter = p_page)
       AND (p_from IS NULL OR (v.first_at >= p_from AND v.first_at < p_to))
)
SELECT * FROM event_rows
UNION ALL
SELECT * FROM visit_rows
$contributions$;

-- Upkeep: what the events p_events, just loaded into the vault (each one once: a replay loads
-- nothing), change in the rollups. Their visits are summed as they are now minus as they were
-- without these events: a late event that becomes its visit's first moves the whole visit (its
-- start bucket, entry page, attributes), and a visit spanning buckets stays counted once, at its
-- start. The buckets that change are opened, so their visitors are counted again when they
-- close. Answers the number of rollup rows written.
CREATE FUNCTION onevault_tracking.rollup_loaded_events(p_events bytea[])
RETURNS bigint
LANGUAGE plpgsql
SECURITY INVOKER
AS $rollup_loaded_events$
DECLARE
    sessions bytea[];
    loose bytea[];
    written bigint;
BEGIN
    SELECT array_agg(DISTINCT l.session_hk) FILTER (WHERE l.session_hk IS NOT NULL),
           array_agg(l.tracking_event_hk) FILTER (WHERE l.session_hk IS NULL)
      INTO sessions, loose
      FROM business.tracking_event_l AS l
     WHERE l.tracking_event_hk = ANY (p_events) AND l.site_hk IS NOT NULL;
    IF sessions IS NULL AND loose IS NULL THEN
        RETURN 0;
    END IF;
    -- Loads of one site's events take turns from here to their commit (a transaction advisory
    -- lock per site, its key's first 8 bytes XOR a constant of its own, apart from the visitor
    -- and vault locks; taken in key order, so two loads never wait for each other in a circle).
    -- The delta below then reads a snapshot taken after the lock, which holds every event an
    -- earlier load of the site committed: two loads adding events to one visit at once would
    -- otherwise both subtract the visit as it was before either (measured: a bounce counted -1).
    PERFORM pg_catalog.pg_advisory_xact_lock(k.lock_key)
       FROM (SELECT DISTINCT ('x' || encode(substr(l.site_hk, 1, 8), 'hex'))::bit(64)::bigint # 7016996765293437281 AS lock_key
               FROM business.tracking_event_l AS l
              WHERE l.tracking_event_hk = ANY (p_events) AND l.site_hk IS NOT NULL
              ORDER BY 1) AS k;

    WITH delta AS (
        SELECT c.*, 1 AS sign
          FROM onevault_tracking.traffic_contributions(NULL, NULL, NULL, NULL, sessions, loose, NULL,
                                                       NULL, NULL, NULL) AS c
        UNION ALL
        SELECT c.*, -1
          FROM onevault_tracking.traffic_contributions(NULL, NULL, NULL, NULL, sessions, NULL, p_events,
                                                       NULL, NULL, NULL) AS c
    ),
    sums AS (
        SELECT d.tenant_hk, d.site_hk, g.granularity,
               date_trunc(CASE g.granularity WHEN 'h' THEN 'hour' ELSE 'day' END, d.at, 'UTC') AS bucket,
               d.bots, d.page_filter, d.dimension, d.value,
               sum(d.sign * d.pageviews) AS pageviews, sum(d.sign * d.events) AS events,
               sum(d.sign * d.visits) AS visits, sum(d.sign * d.bounces) AS bounces,
               sum(d.sign * d.duration_us) AS duration_us
          FROM delta AS d
         CROSS JOIN (VALUES ('h'::"char"), ('d'::"char")) AS g (granularity)
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        HAVING sum(d.sign * d.pageviews) <> 0 OR sum(d.sign * d.events) <> 0 OR sum(d.sign * d.visits) <> 0
            OR sum(d.sign * d.bounces) <> 0 OR sum(d.sign * d.duration_us) <> 0
    ),
    opened AS (
        INSERT INTO business.site_traffic_bucket AS b (tenant_hk, site_hk, granularity, bucket)
        SELECT DISTINCT s.tenant_hk, s.site_hk, s.granularity, s.bucket FROM sums AS s
            ON CONFLICT (tenant_hk, site_hk, granularity, bucket) DO UPDATE SET closed_at = NULL
         WHERE b.closed_at IS NOT NULL
    ),
    rows_written AS (
        INSERT INTO business.site_traffic_rollup AS r
               (tenant_hk, site_hk, granularity, bucket, bots, page_filter, dimension, value,
                pageviews, events, visits, bounces, duration_us)
        SELECT s.tenant_hk, s.site_hk, s.granularity, s.bucket, s.bots, s.page_filter, s.dimension, s.value,
               s.pageviews, s.events, s.visits, s.bounces, s.duration_us
          FROM sums AS s
            ON CONFLICT (tenant_hk, site_hk, granularity, bucket, bots, row_key) DO UPDATE
           SET pageviews = r.pageviews + excluded.pageviews, events = r.events + excluded.events,
               visits = r.visits + excluded.visits, bounces = r.bounces + excluded.bounces,
               duration_us = r.duration_us + excluded.duration_us
        RETURNING 1
    )
    SELECT count(*) INTO written FROM rows_written;
    RETURN written;
END
$rollup_loaded_events$;

-- Closes up to p_limit open buckets that ended over five minutes ago (clients may be up to five
-- minutes ahead): counts each one's visitors exactly from the vault into its rows. A late event
-- opens its bucket again (rollup_loaded_events). Answers the number closed. A closer takes the
-- site's turn (the lock rollup_loaded_events takes) before the bucket's row, in the same key
-- order, so closers and loads of one site never deadlock (a bucket row locked first and the
-- site's turn second did, measured with two workers); a bucket another closer holds is skipped.
CREATE FUNCTION onevault_tracking.close_rollup_buckets(p_limit integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql
SECURITY INVOKER
AS $close_rollup_buckets$
DECLARE
    b record;
    closed integer := 0;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'p_limit must be a positive number of buckets, not %', coalesce(p_limit::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'Close up to p_limit buckets per call, e.g. 100.';
    END IF;
    FOR b IN
        SELECT c.* FROM (
            SELECT t.tenant_hk, t.site_hk, t.granularity, t.bucket,
                   t.bucket + CASE t.granularity WHEN 'h' THEN interval '1 hour' ELSE interval '24 hours' END AS bucket_end,
                   ('x' || encode(substr(t.site_hk, 1, 8), 'hex'))::bit(64)::bigint # 7016996765293437281 AS lock_key
              FROM business.site_traffic_bucket AS t
             WHERE t.closed_at IS NULL
               AND t.bucket + CASE t.granularity WHEN 'h' THEN interval '1 hour' ELSE interval '24 hours' END
                   + interval '5 minutes' <= now()
             ORDER BY t.bucket, t.granularity DESC
             LIMIT p_limit) AS c
         ORDER BY c.lock_key, c.bucket, c.granularity DESC
    LOOP
        PERFORM pg_catalog.pg_advisory_xact_lock(b.lock_key);
        -- Still open, and not another closer's (it holds the row until its commit).
        PERFORM FROM business.site_traffic_bucket AS t
          WHERE t.tenant_hk = b.tenant_hk AND t.site_hk = b.site_hk
            AND t.granularity = b.granularity AND t.bucket = b.bucket AND t.closed_at IS NULL
            FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        WITH counted AS (
            SELECT c.bots, c.page_filter, c.dimension, coalesce('v' || c.value, 'n') AS value_key,
                   count(DISTINCT c.visitor_hash) AS visitors
              FROM onevault_tracking.traffic_contributions(b.tenant_hk, b.site_hk, b.bucket, b.bucket_end,
                                                           NULL, NULL, NULL, NULL, NULL, NULL) AS c
             WHERE c.kind = 'e' AND c.visitor_hash IS NOT NULL
             GROUP BY 1, 2, 3, 4
        ),
        target AS (
            SELECT r.ctid AS row_id, coalesce(c.visitors, 0) AS visitors
              FROM business.site_traffic_rollup AS r
              LEFT JOIN counted AS c
                ON c.bots = r.bots AND c.page_filter = r.page_filter AND c.dimension = r.dimension
               AND c.value_key = coalesce('v' || r.value, 'n')
             WHERE r.tenant_hk = b.tenant_hk AND r.site_hk = b.site_hk
               AND r.granularity = b.granularity AND r.bucket = b.bucket
        )
        UPDATE business.site_traffic_rollup AS r
           SET visitors = t.visitors
          FROM target AS t
         WHERE r.ctid = t.row_id AND r.visitors IS DISTINCT FROM t.visitors;
        UPDATE business.site_traffic_bucket AS t
           SET closed_at = now()
         WHERE t.tenant_hk = b.tenant_hk AND t.site_hk = b.site_hk
           AND t.granularity = b.granularity AND t.bucket = b.bucket;
        closed := closed + 1;
    END LOOP;
    RETURN closed;
END
$close_rollup_buckets$;

-- Computes the rollups of a tenant's sites again from the vault (all of them when p_tenant_hk
-- is NULL; one site when p_site_domain names it), and closes their finished buckets. For a
-- database upgraded from a release without rollups, after onevault_tracking.rollup_upkeep was
-- off, or after events were moved between sites. Events removed by retention or erasure are no
-- longer in the vault, so a rebuild leaves them out of the rollups too. Answers the sites and
-- rows rebuilt.
CREATE FUNCTION onevault_tracking.rebuild_rollups(p_tenant_hk bytea DEFAULT NULL, p_site_domain text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
AS $rebuild_rollups$
DECLARE
    target record;
    sites integer := 0;
    written bigint := 0;
    n bigint;
    closed integer := 0;
    batch integer;
    audited jsonb;
    run_id text := replace(gen_random_uuid()::text, '-', '');
BEGIN
    IF p_site_domain IS NOT NULL AND p_tenant_hk IS NULL THEN
        RAISE EXCEPTION 'a site is named within its tenant'
            USING ERRCODE = '22004', HINT = 'Give p_tenant_hk with p_site_domain, or neither to rebuild every site.';
    END IF;
    FOR target IN
        SELECT h.tenant_hk, h.site_hk, h.site_bk
          FROM business.site_h AS h
         WHERE (p_tenant_hk IS NULL OR h.tenant_hk = p_tenant_hk)
           AND (p_site_domain IS NULL
                OR h.site_bk = coalesce(onevault_tracking.site_domain(p_site_domain), btrim(p_site_domain)))
         ORDER BY h.tenant_hk, h.site_hk
    LOOP
        -- The site's loads and bucket closings wait for the rebuild (their turn, rollup_loaded_events).
        PERFORM pg_catalog.pg_advisory_xact_lock(('x' || encode(substr(target.site_hk, 1, 8), 'hex'))::bit(64)::bigint # 7016996765293437281);
        DELETE FROM business.site_traffic_rollup AS r WHERE r.tenant_hk = target.tenant_hk AND r.site_hk = target.site_hk;
        DELETE FROM business.site_traffic_bucket AS t WHERE t.tenant_hk = target.tenant_hk AND t.site_hk = target.site_hk;
        WITH sums AS (
            SELECT c.tenant_hk, c.site_hk, g.granularity,
                   date_trunc(CASE g.granularity WHEN 'h' THEN 'hour' ELSE 'day' END, c.at, 'UTC') AS bucket,
                   c.bots, c.page_filter, c.dimension, c.value,
                   sum(c.pageviews) AS pageviews, sum(c.events) AS events, sum(c.visits) AS visits,
                   sum(c.bounces) AS bounces, sum(c.duration_us) AS duration_us
              FROM onevault_tracking.traffic_contributions(target.tenant_hk, target.site_hk, '-infinity', 'infinity',
                                                           NULL, NULL, NULL, NULL, NULL, NULL) AS c
             CROSS JOIN (VALUES ('h'::"char"), ('d'::"char")) AS g (granularity)
             GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        ),
        opened AS (
            INSERT INTO business.site_traffic_bucket (tenant_hk, site_hk, granularity, bucket)
            SELECT DISTINCT s.tenant_hk, s.site_hk, s.granularity, s.bucket FROM sums AS s
        ),
        rows_written AS (
            INSERT INTO business.site_traffic_rollup
                   (tenant_hk, site_hk, granularity, bucket, bots, page_filter, dimension, value,
                    pageviews, events, visits, bounces, duration_us)
            SELECT s.tenant_hk, s.site_hk, s.granularity, s.bucket, s.bots, s.page_filter, s.dimension, s.value,
                   s.pageviews, s.events, s.visits, s.bounces, s.duration_us
              FROM sums AS s
            RETURNING 1
        )
        SELECT count(*) INTO n FROM rows_written;
        sites := sites + 1;
        written := written + n;
        -- One record per site, keyed by the run (the platform's function keeps one record per
        -- event type, resource and transaction start); the tenant comes from tenant_id.
        audited := onevault_tracking.log_platform_audit_event(
            'ROLLUPS_REBUILT', 'onevault_tracking.rollups',
            'rebuild:' || run_id || ':' || encode(target.site_hk, 'hex'),
            'onevault_tracking:' || session_user,
            jsonb_build_object('tenant_id', encode(target.tenant_hk, 'hex'), 'site', target.site_bk,
                               'run_id', run_id, 'rollup_rows', n));
        IF (audited ->> 'success') IS DISTINCT FROM 'true' THEN
            RAISE EXCEPTION 'util.log_audit_event failed (%): %', audited ->> 'error_code', audited ->> 'error_message'
                USING ERRCODE = '39000', HINT = 'Nothing was rebuilt: the rebuild is audited or not done.';
        END IF;
    END LOOP;
    LOOP
        batch := onevault_tracking.close_rollup_buckets(1000);
        closed := closed + batch;
        EXIT WHEN batch = 0;
    END LOOP;
    RETURN jsonb_build_object('sites', sites, 'rollup_rows', written, 'buckets_closed', closed);
END
$rebuild_rollups$;

-- The rollup tables, like every table of the layers (sql/security.sql, sql/lifecycle.sql):
-- row-level security with the readers' tenant policy, and dumped with the data.
DO $rollup_tables$
DECLARE
    rollup_table regclass;
BEGIN
    FOREACH rollup_table IN ARRAY ARRAY['business.site_traffic_rollup'::regclass, 'business.site_traffic_bucket'::regclass] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', rollup_table);
        EXECUTE pg_catalog.format(
            'CREATE POLICY tenant_reader ON %s FOR SELECT TO onevault_tracking_reader '
            'USING (tenant_hk OPERATOR(pg_catalog.=) (SELECT onevault_tracking.current_tenant_hk()))',
            rollup_table);
        EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC', rollup_table);
        EXECUTE pg_catalog.format('GRANT SELECT ON %s TO onevault_tracking_reader', rollup_table);
        PERFORM pg_catalog.pg_extension_config_dump(rollup_table, '');
    END LOOP;
END
$rollup_tables$;

-- Checks p_filters (see the rules above) and answers it; NULL is no filter.
CREATE FUNCTION onevault_tracking.report_filters(p_filters jsonb)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SECURITY INVOKER
AS $report_filters$
DECLARE
    bad text;
BEGIN
    IF p_filters IS NULL THEN
        RETURN '{}';
    END IF;
    IF jsonb_typeof(p_filters) <> 'object' THEN
        RAISE EXCEPTION 'p_filters must be a JSON object, not %', jsonb_typeof(p_filters)
            USING ERRCODE = '22023', HINT = 'For example {"page": "/pricing", "channel": "search"}; {} is no filter.';
    END IF;
    SELECT f.key INTO bad
      FROM jsonb_each(p_filters) AS f
     WHERE NOT (f.key IN ('page', 'entry_page', 'exit_page', 'referrer', 'channel', 'utm_source', 'utm_medium',
                          'utm_campaign', 'browser', 'os', 'device', 'event_name')
                OR (starts_with(f.key, 'property:') AND length(f.key) > 9))
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'unknown report filter "%"', bad
            USING ERRCODE = '22023',
                  HINT = 'Filters: page, entry_page, exit_page, referrer, channel, utm_source, utm_medium, utm_campaign, browser, os, device, event_name, property:<key>.';
    END IF;
    SELECT f.key INTO bad FROM jsonb_each(p_filters) AS f WHERE jsonb_typeof(f.value) NOT IN ('string', 'null') LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'report filter "%" must be a string or null', bad
            USING ERRCODE = '22023', HINT = 'null asks for no value, e.g. {"referrer": null} for direct visits.';
    END IF;
    RETURN p_filters;
END
$report_filters$;

-- How the rollups cover [p_from, p_to): its whole UTC days ('d'), its other whole UTC hours
-- ('h'), and the partial hours at its ends, read from the vault ('v').
CREATE FUNCTION onevault_tracking.report_pieces(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (source "char", piece_from timestamptz, piece_to timestamptz)
LANGUAGE sql
STABLE
SECURITY INVOKER
AS $report_pieces$
    WITH b AS (
        SELECT CASE WHEN date_trunc('hour', p_from, 'UTC') = p_from THEN p_from
                    ELSE date_trunc('hour', p_from, 'UTC') + interval '1 hour' END AS hour_from,
               date_trunc('hour', p_to, 'UTC') AS hour_to,
               CASE WHEN date_trunc('day', p_from, 'UTC') = p_from THEN p_from
                    ELSE date_trunc('day', p_from, 'UTC') + interval '24 hours' END AS day_from,
               date_trunc('day', p_to, 'UTC') AS day_to
    )
    SELECT 'v'::"char", p_from, p_to FROM b WHERE b.hour_from >= b.hour_to
    UNION ALL SELECT 'v', p_from, b.hour_from FROM b WHERE b.hour_from < b.hour_to AND p_from < b.hour_from
    UNION ALL SELECT 'v', b.hour_to, p_to FROM b WHERE b.hour_from < b.hour_to AND b.hour_to < p_to
    UNION ALL SELECT 'd', b.day_from, b.day_to FROM b WHERE b.day_from < b.day_to
    UNION ALL SELECT 'h', b.hour_from, b.day_from FROM b WHERE b.day_from < b.day_to AND b.hour_from < b.day_from
    UNION ALL SELECT 'h', b.day_to, b.hour_to FROM b WHERE b.day_from < b.day_to AND b.day_to < b.hour_to
    UNION ALL SELECT 'h', b.hour_from, b.hour_to FROM b WHERE b.hour_from < b.hour_to AND b.day_from >= b.day_to
$report_pieces$;

-- Every report's numbers: for each range of p_ranges ([lower, upper), by its position) and each
-- value of p_dimension ('' the totals, with value NULL), the sums and the visitors (see the
-- definitions above), for the checked p_filters.
--   From the rollups: sums from the day and hour rows the range covers plus its partial hours
--   from the vault; visitors per UTC day piece of the range: a whole day or a single hour that is
--   closed from its rows (exact), any other piece counted from the vault (exact, slower).
--   From the vault (onevault_tracking.report_source = vault, a filter other than page, or an
--   infinite range): everything from onevault_tracking.traffic_contributions().
CREATE FUNCTION onevault_tracking.report_metrics(
    p_tenant bytea, p_site bytea, p_ranges tstzrange[], p_include_bots boolean, p_dimension text,
    p_filters jsonb)
RETURNS TABLE (range_index integer, value text, pageviews bigint, events bigint, visits bigint,
               bounces bigint, duration_us bigint, visitors bigint)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
-- A plan for the call's own ranges: a generic plan cached after a long hourly series reads every
-- bucket of the dimension for a one-day range (30x slower). Without JIT: the set-returning
-- functions' default estimates put these queries above jit_above_cost, and compiling them cost
-- 40 ms of a 1-day hourly series' 88 and most of a 30-day one's 660 (bench/README.md, "Reports
-- at scale"); the reports over the vault run without it too.
SET plan_cache_mode = force_custom_plan
SET jit = off
AS $report_metrics$
DECLARE
    page text := coalesce(p_filters ->> 'page', '');
    from_rollups boolean :=
        coalesce(current_setting('onevault_tracking.report_source', true), '') IS DISTINCT FROM 'vault'
        AND (p_filters = '{}' OR (p_filters ?& ARRAY['page'] AND (SELECT count(*) FROM jsonb_object_keys(p_filters)) = 1
                                 AND jsonb_typeof(p_filters -> 'page') = 'string'))
        AND NOT EXISTS (SELECT FROM unnest(p_ranges) AS r WHERE NOT (isfinite(lower(r)) AND isfinite(upper(r))));
BEGIN
    IF NOT from_rollups THEN
        RETURN QUERY
        WITH ranges AS (
            SELECT u.i::integer AS i, lower(u.r) AS range_from, upper(u.r) AS range_to
              FROM unnest(p_ranges) WITH ORDINALITY AS u (r, i)
        ),
        contributions AS MATERIALIZED (
            SELECT r.i, c.*
              FROM ranges AS r
             CROSS JOIN LATERAL onevault_tracking.traffic_contributions(
                       p_tenant, p_site, r.range_from, r.range_to, NULL, NULL, NULL, '', p_dimension, p_filters) AS c
             WHERE p_include_bots OR NOT c.bots
        ),
        sums AS (
            SELECT c.i, c.value, coalesce('v' || c.value, 'n') AS value_key,
                   sum(c.pageviews)::bigint AS pageviews, sum(c.events)::bigint AS events,
                   sum(c.visits)::bigint AS visits, sum(c.bounces)::bigint AS bounces,
                   sum(c.duration_us)::bigint AS duration_us
              FROM contributions AS c
             GROUP BY c.i, c.value
        ),
        visitors AS (
            SELECT v.i, v.value_key, sum(v.visitors)::bigint AS visitors
              FROM (SELECT c.i, coalesce('v' || c.value, 'n') AS value_key, count(DISTINCT c.visitor_hash) AS visitors
                      FROM contributions AS c
                     WHERE c.kind = 'e' AND c.visitor_hash IS NOT NULL
                     GROUP BY c.i, c.value, c.bots, date_trunc('day', c.at, 'UTC')) AS v
             GROUP BY v.i, v.value_key
        )
        SELECT s.i, s.value, s.pageviews, s.events, s.visits, s.bounces, s.duration_us, coalesce(v.visitors, 0)
          FROM sums AS s
          LEFT JOIN visitors AS v ON v.i = s.i AND v.value_key = s.value_key;
        RETURN;
    END IF;

    RETURN QUERY
    WITH ranges AS (
        SELECT u.i::integer AS i, lower(u.r) AS range_from, upper(u.r) AS range_to
          FROM unnest(p_ranges) WITH ORDINALITY AS u (r, i)
    ),
    pieces AS (
        SELECT r.i, p.source, p.piece_from, p.piece_to
          FROM ranges AS r
         CROSS JOIN LATERAL onevault_tracking.report_pieces(r.range_from, r.range_to) AS p
    ),
    parts AS (
        SELECT p.i, x.value, x.pageviews, x.events, x.visits, x.bounces, x.duration_us
          FROM pieces AS p
          JOIN business.site_traffic_rollup AS x
            ON x.tenant_hk = p_tenant AND x.site_hk = p_site AND x.filter_key = md5(page)::uuid
           AND x.page_filter = page AND x.dimension = p_dimension
           AND x.granularity = p.source AND x.bucket >= p.piece_from AND x.bucket < p.piece_to
           AND (p_include_bots OR NOT x.bots)
         WHERE p.source IN ('h', 'd')
        UNION ALL
        SELECT p.i, c.value, c.pageviews, c.events, c.visits, c.bounces, c.duration_us
          FROM pieces AS p
         CROSS JOIN LATERAL onevault_tracking.traffic_contributions(
                   p_tenant, p_site, p.piece_from, p.piece_to, NULL, NULL, NULL, page, p_dimension, NULL) AS c
         WHERE p.source = 'v' AND (p_include_bots OR NOT c.bots)
    ),
    sums AS (
        SELECT x.i, x.value, coalesce('v' || x.value, 'n') AS value_key,
               sum(x.pageviews)::bigint AS pageviews, sum(x.events)::bigint AS events,
               sum(x.visits)::bigint AS visits, sum(x.bounces)::bigint AS bounces,
               sum(x.duration_us)::bigint AS duration_us
          FROM parts AS x
         GROUP BY x.i, x.value
    ),
    -- Each range cut at UTC midnights: visitors add up across these pieces.
    day_pieces AS (
        SELECT f.i, f.piece_from, f.piece_to,
               CASE WHEN f.piece_to - f.piece_from = interval '24 hours'
                         AND f.piece_from = date_trunc('day', f.piece_from, 'UTC') THEN 'd'
                    WHEN f.piece_to - f.piece_from = interval '1 hour'
                         AND f.piece_from = date_trunc('hour', f.piece_from, 'UTC') THEN 'h'
               END::"char" AS granularity
          FROM (SELECT r.i, greatest(r.range_from, d.day) AS piece_from,
                       least(r.range_to, d.day + interval '24 hours') AS piece_to
                  FROM ranges AS r
                 CROSS JOIN LATERAL generate_series(date_trunc('day', r.range_from, 'UTC'),
                                                    r.range_to - interval '1 microsecond',
                                                    interval '24 hours') AS d (day)) AS f
    ),
    -- A whole hour or day is read from the rollups unless its bucket is open; a bucket without
    -- a row had no event loaded (every load opens the buckets of its events), so it counts no
    -- visitor and needs no look at the vault (a month by the hour has many such hours).
    counted AS (
        SELECT d.*, d.granularity IS NOT NULL
                    AND NOT EXISTS (SELECT FROM business.site_traffic_bucket AS t
                                     WHERE t.tenant_hk = p_tenant AND t.site_hk = p_site AND t.granularity = d.granularity
                                       AND t.bucket = d.piece_from AND t.closed_at IS NULL) AS closed
          FROM day_pieces AS d
    ),
    visitor_parts AS (
        SELECT c.i, coalesce('v' || x.value, 'n') AS value_key, x.visitors
          FROM counted AS c
          JOIN business.site_traffic_rollup AS x
            ON x.tenant_hk = p_tenant AND x.site_hk = p_site AND x.filter_key = md5(page)::uuid
           AND x.page_filter = page AND x.dimension = p_dimension
           AND x.granularity = c.granularity AND x.bucket = c.piece_from
           AND (p_include_bots OR NOT x.bots)
         WHERE c.closed
        UNION ALL
        SELECT c.i, coalesce('v' || v.value, 'n'), count(DISTINCT v.visitor_hash)
          FROM counted AS c
         CROSS JOIN LATERAL onevault_tracking.traffic_contributions(
                   p_tenant, p_site, c.piece_from, c.piece_to, NULL, NULL, NULL, page, p_dimension, NULL) AS v
         WHERE NOT c.closed AND v.kind = 'e' AND v.visitor_hash IS NOT NULL AND (p_include_bots OR NOT v.bots)
         GROUP BY c.i, c.piece_from, v.value, v.bots
    ),
    visitors AS (
        SELECT v.i, v.value_key, sum(v.visitors)::bigint AS visitors
          FROM visitor_parts AS v
         GROUP BY v.i, v.value_key
    )
    SELECT s.i, s.value, s.pageviews, s.events, s.visits, s.bounces, s.duration_us, coalesce(v.visitors, 0)
      FROM sums AS s
      LEFT JOIN visitors AS v ON v.i = s.i AND v.value_key = s.value_key;
END
$report_metrics$;

-- The totals of a report_metrics row as the reports show them.
CREATE FUNCTION onevault_tracking.report_totals(
    p_visitors bigint, p_visits bigint, p_pageviews bigint, p_events bigint, p_bounces bigint, p_duration_us bigint)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SECURITY INVOKER
AS $report_totals$
    SELECT jsonb_build_object(
               'visitors', coalesce(p_visitors, 0),
               'visits', coalesce(p_visits, 0),
               'pageviews', coalesce(p_pageviews, 0),
               'events', coalesce(p_events, 0),
               'views_per_visit', CASE WHEN coalesce(p_visits, 0) = 0 THEN 0
                                       ELSE round(p_pageviews::numeric / p_visits, 2) END,
               'bounce_rate', CASE WHEN coalesce(p_visits, 0) = 0 THEN 0
                                   ELSE round(100 * p_bounces::numeric / p_visits)::bigint END,
               'visit_duration', CASE WHEN coalesce(p_visits, 0) = 0 THEN 0
                                      ELSE round(p_duration_us::numeric / 1000000 / p_visits)::bigint END)
$report_totals$;

-- Totals -----------------------------------------------------------------------------------------

-- With p_compare, the answer adds "previous" (the same totals over the period of the same length
-- just before: [p_from - (p_to - p_from), p_from)) and "change": per metric the change in percent,
-- rounded to a whole number (null when the previous value is 0), except bounce_rate, whose change
-- is the difference in percentage points.
CREATE FUNCTION api.site_stats(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_include_bots boolean DEFAULT false,
    p_filters jsonb DEFAULT '{}', p_compare boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $site_stats$
DECLARE
    ctx record;
    filters jsonb;
    ranges tstzrange[];
    current_totals jsonb;
    previous_totals jsonb;
    custom jsonb;
    answer jsonb;
BEGIN
    SELECT * INTO STRICT ctx FROM onevault_tracking.report_site(p_site_domain, p_from, p_to, p_include_bots);
    filters := onevault_tracking.report_filters(p_filters);
    IF p_compare IS NULL THEN
        RAISE EXCEPTION 'p_compare must not be NULL' USING ERRCODE = '22004', HINT = 'true or false.';
    END IF;
    ranges := ARRAY[tstzrange(p_from, p_to, '[)')];
    IF p_compare THEN
        ranges := ranges || tstzrange(p_from - (p_to - p_from), p_from, '[)');
    END IF;

    WITH totals AS (
        SELECT r.i, m.visitors, m.visits, m.pageviews, m.events, m.bounces, m.duration_us
          FROM generate_series(1, cardinality(ranges)) AS r (i)
          LEFT JOIN onevault_tracking.report_metrics(ctx.tenant, ctx.site, ranges, p_include_bots, '', filters) AS m
            ON m.range_index = r.i
    )
    SELECT max(onevault_tracking.report_totals(t.visitors, t.visits, t.pageviews, t.events, t.bounces, t.duration_us)::text)
               FILTER (WHERE t.i = 1)::jsonb,
           max(onevault_tracking.report_totals(t.visitors, t.visits, t.pageviews, t.events, t.bounces, t.duration_us)::text)
               FILTER (WHERE t.i = 2)::jsonb
      INTO current_totals, previous_totals
      FROM totals AS t;

    SELECT coalesce(jsonb_object_agg(m.value, m.events), '{}')
      INTO custom
      FROM onevault_tracking.report_metrics(ctx.tenant, ctx.site, ranges[1:1], p_include_bots, 'event_name', filters) AS m
     WHERE m.value IS NOT NULL;

    answer := jsonb_build_object(
                  'site', ctx.domain,
                  'timezone', ctx.zone,
                  'from', to_char(p_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                  'to', to_char(p_to AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                  'include_bots', p_include_bots)
              || current_totals
              || jsonb_build_object('custom_events', custom);
    IF filters <> '{}' THEN
        answer := answer || jsonb_build_object('filters', filters);
    END IF;
    IF p_compare THEN
        answer := answer || jsonb_build_object(
            'previous', previous_totals || jsonb_build_object(
                'from', to_char((p_from - (p_to - p_from)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                'to', to_char(p_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
            'change', (SELECT jsonb_object_agg(
                                  k.metric,
                                  CASE WHEN k.metric = 'bounce_rate'
                                       THEN to_jsonb((current_totals ->> k.metric)::numeric - (previous_totals ->> k.metric)::numeric)
                                       WHEN (previous_totals ->> k.metric)::numeric = 0 THEN 'null'::jsonb
                                       ELSE to_jsonb(round(100 * ((current_totals ->> k.metric)::numeric
                                                                  - (previous_totals ->> k.metric)::numeric)
                                                           / (previous_totals ->> k.metric)::numeric)) END)
                         FROM unnest(ARRAY['visitors', 'visits', 'pageviews', 'events', 'views_per_visit',
                                           'bounce_rate', 'visit_duration']) AS k (metric)));
    END IF;
    RETURN answer;
END
$site_stats$;

-- Breakdowns -------------------------------------------------------------------------------------

-- Top values of one dimension, as a JSON array of {value, visitors, visits, pageviews} (events
-- instead of pageviews for event_name and property:<key>), ordered by visitors, visits, then
-- pageviews/events (all descending), then value (byte order, NULL last), at most p_limit rows.
-- A NULL value means none or unknown (e.g. referrer null = direct, utm_source null = no campaign).
--
--   page          page views by page path; visits: the visits (starting in range) that viewed it
--   entry_page    visits by the page of their first page view; pageviews: all page views of
--   exit_page     those visits in range (the last page view for exit_page)
--   referrer, channel, utm_source, utm_medium, utm_campaign, browser, os, device
--                 visits by where the visit came from and what it ran on, from its first event
--                 (as Plausible attributes a visit to its source); an event without a session
--                 stands for itself with its own attributes
--   event_name    custom events by name
--   property:<key> custom events that have the property, by its value (as text)
CREATE FUNCTION api.site_breakdown(
    p_site_domain text, p_dimension text, p_from timestamptz, p_to timestamptz,
    p_limit integer DEFAULT 10, p_include_bots boolean DEFAULT false, p_filters jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $site_breakdown$
DECLARE
    ctx record;
    filters jsonb;
    measure text;
    answer jsonb;
BEGIN
    SELECT * INTO STRICT ctx FROM onevault_tracking.report_site(p_site_domain, p_from, p_to, p_include_bots);
    filters := onevault_tracking.report_filters(p_filters);
    IF p_dimension IS NULL OR p_limit IS NULL THEN
        RAISE EXCEPTION 'p_dimension and p_limit must not be NULL'
            USING ERRCODE = '22004',
                  HINT = 'p_limit is the number of values to return, 1 to 1000.';
    END IF;
    IF p_limit NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'p_limit must be between 1 and 1000, not %', p_limit
            USING ERRCODE = '22023',
                  HINT = 'Ask for the top 1 to 1000 values.';
    END IF;
    IF NOT (p_dimension IN ('page', 'entry_page', 'exit_page', 'referrer', 'channel', 'utm_source',
                            'utm_medium', 'utm_campaign', 'browser', 'os', 'device', 'event_name')
            OR (starts_with(p_dimension, 'property:') AND length(p_dimension) > 9)) THEN
        RAISE EXCEPTION 'unknown breakdown dimension "%"', p_dimension
            USING ERRCODE = '22023',
                  HINT = 'Valid dimensions: page, entry_page, exit_page, referrer, channel, utm_source, utm_medium, utm_campaign, browser, os, device, event_name, property:<key> (a custom event property).';
    END IF;
    measure := CASE WHEN p_dimension = 'event_name' OR starts_with(p_dimension, 'property:') THEN 'events'
                    ELSE 'pageviews' END;

    WITH top AS (
        SELECT m.value, m.visitors, m.visits,
               CASE measure WHEN 'events' THEN m.events ELSE m.pageviews END AS amount
          FROM onevault_tracking.report_metrics(ctx.tenant, ctx.site, ARRAY[tstzrange(p_from, p_to, '[)')],
                                                p_include_bots, p_dimension, filters) AS m
         ORDER BY m.visitors DESC, m.visits DESC, amount DESC, m.value COLLATE "C" NULLS LAST
         LIMIT p_limit
    )
    SELECT jsonb_agg(jsonb_build_object('value', t.value, 'visitors', t.visitors, 'visits', t.visits,
                                        measure, t.amount)
                     ORDER BY t.visitors DESC, t.visits DESC, t.amount DESC, t.value COLLATE "C" NULLS LAST)
      INTO answer
      FROM top AS t;
    RETURN coalesce(answer, '[]');
END
$site_breakdown$;

-- Time series ------------------------------------------------------------------------------------

-- Every hour or day bucket of the range in the site's time zone, oldest first, zero-filled:
-- {bucket, start, visitors, visits, pageviews}. bucket is the local label ("2025-03-30" for a
-- day, "2025-03-30T03:00:00+02:00" for an hour: the offset tells the two 01:00 hours of a
-- autumn night apart), start the bucket's first instant in UTC. Buckets follow the zone's
-- clock: a spring day has 23 hours and no 02:00 bucket, an autumn day 25. The first and last
-- buckets count only what lies inside [p_from, p_to). Each bucket is a range of its own (the
-- definitions above): visits that start in it, visitors with an event in it.
--
-- A bucket is named by its start, computed from an instant t as
--   hour: t minus the part of its local time past the hour (exact across DST changes and for
--         zones offset by 30 or 45 minutes);
--   day:  local midnight of t's local date.
-- The series samples the range every 15 minutes (hours) or 6 hours (days) from the first
-- bucket's start and keeps the distinct buckets of the samples: bucket starts are whole quarter
-- hours in UTC and no bucket is shorter than its sampling step, so every bucket an event can
-- fall in is present (unlike local timestamps stepped with generate_series, which would invent
-- a spring 02:00 and merge the two autumn 01:00 hours).
CREATE FUNCTION api.site_timeseries(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_interval text DEFAULT 'day',
    p_include_bots boolean DEFAULT false, p_filters jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $site_timeseries$
DECLARE
    ctx record;
    filters jsonb;
    hourly boolean;
    max_buckets constant integer := 10000;
    starts timestamptz[];
    ranges tstzrange[];
    answer jsonb;
BEGIN
    SELECT * INTO STRICT ctx FROM onevault_tracking.report_site(p_site_domain, p_from, p_to, p_include_bots);
    filters := onevault_tracking.report_filters(p_filters);
    IF p_interval IS NULL THEN
        RAISE EXCEPTION 'p_interval must not be NULL'
            USING ERRCODE = '22004', HINT = 'Use ''hour'' or ''day''.';
    ELSIF p_interval NOT IN ('hour', 'day') THEN
        RAISE EXCEPTION 'unknown time series interval "%"', p_interval
            USING ERRCODE = '22023', HINT = 'Use ''hour'' or ''day''.';
    END IF;
    hourly := p_interval = 'hour';
    IF NOT (isfinite(p_from) AND isfinite(p_to)) THEN
        RAISE EXCEPTION 'a time series needs a finite range'
            USING ERRCODE = '22023', HINT = 'Give p_from and p_to as timestamps, not infinity.';
    END IF;
    IF extract(epoch FROM p_to - p_from) / (CASE WHEN hourly THEN 3600 ELSE 86400 END) > max_buckets THEN
        RAISE EXCEPTION 'the range has more than % % buckets', max_buckets, p_interval
            USING ERRCODE = '54000',
                  HINT = CASE WHEN hourly THEN 'Ask for days, or for a shorter range.'
                              ELSE 'Ask for a shorter range.' END;
    END IF;

    -- The buckets' starts, then each bucket's part of the range.
    SELECT array_agg(b.bucket ORDER BY b.bucket)
      INTO starts
      FROM (SELECT DISTINCT
                   CASE WHEN hourly
                        THEN s.at - ((s.at AT TIME ZONE ctx.zone) - date_trunc('hour', s.at AT TIME ZONE ctx.zone))
                        ELSE date_trunc('day', s.at AT TIME ZONE ctx.zone) AT TIME ZONE ctx.zone
                   END AS bucket
              FROM generate_series(CASE WHEN hourly
                                        THEN p_from - ((p_from AT TIME ZONE ctx.zone)
                                                       - date_trunc('hour', p_from AT TIME ZONE ctx.zone))
                                        ELSE date_trunc('day', p_from AT TIME ZONE ctx.zone) AT TIME ZONE ctx.zone
                                   END,
                                   p_to - interval '1 microsecond',
                                   CASE WHEN hourly THEN interval '15 minutes' ELSE interval '6 hours' END) AS s (at)) AS b;
    SELECT array_agg(tstzrange(greatest(starts[i], p_from), least(coalesce(starts[i + 1], p_to), p_to), '[)') ORDER BY i)
      INTO ranges
      FROM generate_subscripts(starts, 1) AS i;

    WITH labelled AS (
        SELECT i, starts[i] AS bucket,
               starts[i] AT TIME ZONE ctx.zone AS local_start,
               extract(epoch FROM (starts[i] AT TIME ZONE ctx.zone) - (starts[i] AT TIME ZONE 'UTC'))::integer / 60
                   AS offset_minutes,
               coalesce(m.visitors, 0) AS visitors,
               coalesce(m.visits, 0) AS visits,
               coalesce(m.pageviews, 0) AS pageviews
          FROM generate_subscripts(starts, 1) AS i
          LEFT JOIN onevault_tracking.report_metrics(ctx.tenant, ctx.site, ranges, p_include_bots, '', filters) AS m
            ON m.range_index = i
    )
    SELECT jsonb_agg(jsonb_build_object(
               'bucket', CASE WHEN hourly
                              THEN to_char(x.local_start, 'YYYY-MM-DD"T"HH24:MI:SS')
                                   || CASE WHEN x.offset_minutes < 0 THEN '-' ELSE '+' END
                                   || lpad((abs(x.offset_minutes) / 60)::text, 2, '0') || ':'
                                   || lpad((abs(x.offset_minutes) % 60)::text, 2, '0')
                              ELSE to_char(x.local_start, 'YYYY-MM-DD') END,
               'start', to_char(x.bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'visitors', x.visitors,
               'visits', x.visits,
               'pageviews', x.pageviews)
             ORDER BY x.bucket)
      INTO answer
      FROM labelled AS x;
    RETURN coalesce(answer, '[]');
END
$site_timeseries$;

-- The rollups of every site's stored events (closing their finished buckets), audited per site.
SELECT onevault_tracking.rebuild_rollups() - 'buckets_closed' AS rollups_built;
-- 11. One site, one visitor, one session (src/pipeline/sites.rs, sql/staging_layer.sql,
-- sql/business_vault.sql).
ALTER TABLE staging.site_tracking_events_s ADD COLUMN site_domain text;
DROP INDEX staging.site_tracking_events_s_visitor_idx;
DROP INDEX staging.site_tracking_events_s_session_idx;
-- Session derivation: the visitor's latest event on a site (any of its domains).
CREATE INDEX site_tracking_events_s_visitor_idx
    ON staging.site_tracking_events_s (tenant_hk, site_domain, visitor_hash, event_timestamp DESC)
    WHERE visitor_hash IS NOT NULL;
CREATE INDEX site_tracking_events_s_session_idx
    ON staging.site_tracking_events_s (tenant_hk, site_domain, session_id, event_timestamp)
    WHERE validation_status = 'VALID';

-- The site an event of the tenant on p_host belongs to, as the pipeline decides it
-- (src/pipeline/sites.rs): the registered site whose domain or allowed domains include the
-- host (without "www."), else the host's own site key; NULL for a host without one. Not SECURITY
-- DEFINER (a caller sees the sites row-level security lets it see), so the lockdown leaves it
-- alone; it queries tables, so its path is pinned here.
CREATE FUNCTION onevault_tracking.site_of_host(p_tenant_hk bytea, p_host text)
RETURNS text
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'site_of_host_wrapper';

-- 0.1.x keyed the vault site of an event by its page's host, so the events on a registered
-- site's allowed domains were stored under a site of their own (with no details: UTC, and
-- missing from the registered site's reports). This moves them to the site that claims their
-- host (onevault_tracking.site_of_host): for each such event the site's page (same path) and
-- session (same id) are added as hubs with their links to the site and a copy of the current
-- details where the site's page or session has none, and the event's link is pointed at them.
-- The event link is the one row updated: its key is the raw event id, not its hubs, so there is
-- no second link to insert, and it is what the reports join; the old site, its pages, sessions,
-- links and satellites stay as they were (the vault keeps what was loaded), without events.
-- Then the rollups of both sites are rebuilt (onevault_tracking.rebuild_rollups). Idempotent: a
-- second call finds no event to move and answers zero counts. A "www." variant of a site cannot
-- be among the moved ones: no version kept "www." in a site key.
-- What cannot be merged: visitor hashes. 0.1.x hashed the page's host, so one browser on www.
-- and the bare domain (or on an allowed domain) has two hashes for the day; they could only be
-- recomputed from the client IP and the day's salt, and raw keeps no full IP while the salts
-- are destroyed after two days. Those visitors stay counted twice in the days before 0.2.0.
CREATE FUNCTION onevault_tracking.merge_allowed_domain_sites()
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $merge$
DECLARE
    pair record;
    source varchar(100);
    page_from bytea[];
    page_to bytea[];
    page_paths text[];
    session_from bytea[];
    session_to bytea[];
    session_ids text[];
    n bigint;
    moved bigint;
    events_moved bigint := 0;
    pages_added bigint := 0;
    sessions_added bigint := 0;
    merged jsonb := '[]';
    rebuilt jsonb := '[]';
    answer jsonb;
BEGIN
    source := util.get_record_source()::text;
    FOR pair IN
        SELECT h.tenant_hk, h.site_hk AS from_hk, h.site_bk AS from_bk, t.site_bk AS to_bk,
               onevault_tracking.hash_key(h.tenant_hk, t.site_bk) AS to_hk
          FROM business.site_h AS h
         CROSS JOIN LATERAL (SELECT onevault_tracking.site_of_host(h.tenant_hk, h.site_bk) AS site_bk) AS t
         WHERE EXISTS (SELECT 1 FROM business.tracking_event_l AS e WHERE e.site_hk = h.site_hk)
           AND t.site_bk <> h.site_bk
         ORDER BY h.tenant_hk, h.site_bk
    LOOP
        -- The site's pages for the moved events' pages (a page key is the site key and the path).
        SELECT coalesce(array_agg(m.from_hk), '{}'),
               coalesce(array_agg(onevault_tracking.hash_key(pair.tenant_hk, pair.to_bk, m.page_path)), '{}'),
               coalesce(array_agg(m.page_path), '{}')
          INTO page_from, page_to, page_paths
          FROM (SELECT DISTINCT p.page_hk AS from_hk, substr(p.page_bk, length(pair.from_bk) + 1) AS page_path
                  FROM business.tracking_event_l AS e
                  JOIN business.page_h AS p ON p.page_hk = e.page_hk
                 WHERE e.tenant_hk = pair.tenant_hk AND e.site_hk = pair.from_hk) AS m;
        INSERT INTO business.page_h (page_hk, page_bk, tenant_hk, record_source)
        SELECT m.to_hk, pair.to_bk || m.page_path, pair.tenant_hk, source
          FROM unnest(page_to, page_paths) AS m (to_hk, page_path)
        ON CONFLICT (page_hk) DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        pages_added := pages_added + n;
        INSERT INTO business.page_site_l (page_site_hk, page_hk, site_hk, tenant_hk, record_source)
        SELECT onevault_tracking.hash_key(pair.tenant_hk, encode(m.to_hk, 'hex'), encode(pair.to_hk, 'hex')),
               m.to_hk, pair.to_hk, pair.tenant_hk, source
          FROM unnest(page_to) AS m (to_hk)
        ON CONFLICT (page_site_hk) DO NOTHING;
        INSERT INTO business.page_details_s (page_hk, load_date, hash_diff, page_title, page_host, page_path,
                                             tenant_hk, record_source)
        SELECT m.to_hk, clock_timestamp(), d.hash_diff, d.page_title, d.page_host, d.page_path, d.tenant_hk, source
          FROM unnest(page_from, page_to) AS m (from_hk, to_hk)
          JOIN business.page_details_s AS d ON d.page_hk = m.from_hk AND d.load_end_date IS NULL
         WHERE NOT EXISTS (SELECT 1 FROM business.page_details_s AS c
                            WHERE c.page_hk = m.to_hk AND c.load_end_date IS NULL);

        -- The site's sessions for the moved events' sessions (a session key is the site key and
        -- the session id).
        SELECT coalesce(array_agg(m.from_hk), '{}'),
               coalesce(array_agg(onevault_tracking.hash_key(pair.tenant_hk, pair.to_bk, m.session_id)), '{}'),
               coalesce(array_agg(m.session_id), '{}')
          INTO session_from, session_to, session_ids
          FROM (SELECT DISTINCT s.session_hk AS from_hk, s.session_bk AS session_id
                  FROM business.tracking_event_l AS e
                  JOIN business.session_h AS s ON s.session_hk = e.session_hk
                 WHERE e.tenant_hk = pair.tenant_hk AND e.site_hk = pair.from_hk) AS m;
        INSERT INTO business.session_h (session_hk, session_bk, tenant_hk, record_source)
        SELECT m.to_hk, m.session_id, pair.tenant_hk, source
          FROM unnest(session_to, session_ids) AS m (to_hk, session_id)
        ON CONFLICT (session_hk) DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        sessions_added := sessions_added + n;
        INSERT INTO business.session_site_l (session_site_hk, session_hk, site_hk, tenant_hk, record_source)
        SELECT onevault_tracking.hash_key(pair.tenant_hk, encode(m.to_hk, 'hex'), encode(pair.to_hk, 'hex')),
               m.to_hk, pair.to_hk, pair.tenant_hk, source
          FROM unnest(session_to) AS m (to_hk)
        ON CONFLICT (session_site_hk) DO NOTHING;
        INSERT INTO business.session_details_s
               (session_hk, load_date, hash_diff, visitor_hash, session_source, session_start, entry_page_path,
                referrer_host, channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
                device_type, browser_name, os_name, is_bot, tenant_hk, record_source)
        SELECT m.to_hk, clock_timestamp(), d.hash_diff, d.visitor_hash, d.session_source, d.session_start,
               d.entry_page_path, d.referrer_host, d.channel, d.utm_source, d.utm_medium, d.utm_campaign,
               d.utm_term, d.utm_content, d.device_type, d.browser_name, d.os_name, d.is_bot, d.tenant_hk, source
          FROM unnest(session_from, session_to) AS m (from_hk, to_hk)
          JOIN business.session_details_s AS d ON d.session_hk = m.from_hk AND d.load_end_date IS NULL
         WHERE NOT EXISTS (SELECT 1 FROM business.session_details_s AS c
                            WHERE c.session_hk = m.to_hk AND c.load_end_date IS NULL);

        -- The events, pointed at the site and its page and session.
        UPDATE business.tracking_event_l AS e
           SET site_hk = pair.to_hk, page_hk = x.page_to, session_hk = x.session_to
          FROM (SELECT l.tracking_event_hk, p.to_hk AS page_to, s.to_hk AS session_to
                  FROM business.tracking_event_l AS l
                  LEFT JOIN unnest(page_from, page_to) AS p (from_hk, to_hk) ON p.from_hk = l.page_hk
                  LEFT JOIN unnest(session_from, session_to) AS s (from_hk, to_hk) ON s.from_hk = l.session_hk
                 WHERE l.tenant_hk = pair.tenant_hk AND l.site_hk = pair.from_hk) AS x
         WHERE e.tracking_event_hk = x.tracking_event_hk;
        GET DIAGNOSTICS moved = ROW_COUNT;
        events_moved := events_moved + moved;

        -- The moved site's rollups are emptied, the site's rebuilt with its new events.
        PERFORM onevault_tracking.rebuild_rollups(pair.tenant_hk, pair.from_bk);
        IF NOT rebuilt @> jsonb_build_array(jsonb_build_object('tenant_id', encode(pair.tenant_hk, 'hex'), 'site_domain', pair.to_bk)) THEN
            PERFORM onevault_tracking.rebuild_rollups(pair.tenant_hk, pair.to_bk);
            rebuilt := rebuilt || jsonb_build_array(jsonb_build_object('tenant_id', encode(pair.tenant_hk, 'hex'), 'site_domain', pair.to_bk));
        END IF;

        merged := merged || jsonb_build_array(jsonb_build_object(
            'tenant_id', encode(pair.tenant_hk, 'hex'), 'from_site', pair.from_bk, 'to_site', pair.to_bk,
            'events', moved));
        answer := onevault_tracking.log_platform_audit_event(
            'SITE_EVENTS_MERGED', 'business.tracking_event_l', 'site:' || pair.to_bk, 'onevault_tracking:' || session_user,
            jsonb_build_object('tenant_id', encode(pair.tenant_hk, 'hex'), 'from_site', pair.from_bk,
                               'to_site', pair.to_bk, 'events', moved,
                               'pages', cardinality(page_to), 'sessions', cardinality(session_to)));
        IF (answer ->> 'success')::boolean IS NOT TRUE THEN
            RAISE EXCEPTION 'the audit record of merging site % into % failed: %', pair.from_bk, pair.to_bk, answer
                USING ERRCODE = 'external_routine_exception',
                      HINT = 'SELECT onevault_tracking.integration_status() tells what the audit path lacks.';
        END IF;
    END LOOP;
    RETURN jsonb_build_object('success', true, 'sites_merged', jsonb_array_length(merged),
                              'events_moved', events_moved, 'pages_added', pages_added,
                              'sessions_added', sessions_added, 'merged', merged, 'rollups_rebuilt', rebuilt);
END
$merge$;

-- The staged rows that processing still reads get their site: those not loaded yet, and those
-- of the last two days, which a new event can still join in a session (a derived session
-- matches the visitor hash, whose salt lives two days). Older rows keep no site: nothing
-- reads it from them.
UPDATE staging.site_tracking_events_s AS s
   SET site_domain = h.site_domain
  FROM (SELECT k.tenant_hk, k.page_host, onevault_tracking.site_of_host(k.tenant_hk, k.page_host) AS site_domain
          FROM (SELECT DISTINCT tenant_hk, page_host FROM staging.site_tracking_events_s
                 WHERE page_host IS NOT NULL
                   AND (NOT loaded_to_vault OR staged_at > now() - interval '2 days')) AS k) AS h
 WHERE s.tenant_hk = h.tenant_hk AND s.page_host = h.page_host
   AND (NOT s.loaded_to_vault OR s.staged_at > now() - interval '2 days');
-- Events 0.1.0 stored under an allowed domain's own site move to their site (the answer says
-- how many).
DO $merge_sites$
BEGIN
    RAISE NOTICE 'onevault_tracking: allowed domains'' sites merged: %',
                 onevault_tracking.merge_allowed_domain_sites();
END
$merge_sites$;

-- 12. Export and current visitors (sql/export.sql); before the lockdown and grants.
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

-- 13. Shards of a scaled-out deployment (sql/shard.sql): tenant provisioning, event id ranges
-- and site moves; before the lockdown and grants.

-- A tenant of the platform on this shard: its hub row only, which is all the extension needs
-- (api.register_site checks it). The platform's other tenant rows (profile, users, roles) stay
-- in the database where the platform created the tenant. Idempotent; audited when it adds the row.
CREATE FUNCTION onevault_tracking.provision_tenant(p_tenant_hk bytea, p_tenant_bk text)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $provision_tenant$
DECLARE
    added integer;
    audited jsonb;
BEGIN
    IF p_tenant_hk IS NULL OR octet_length(p_tenant_hk) <> 32 THEN
        RAISE EXCEPTION 'p_tenant_hk must be a 32-byte tenant hash key'
            USING ERRCODE = '22023', HINT = 'Pass the tenant_hk of the platform''s auth.tenant_h row.';
    END IF;
    IF p_tenant_bk IS NULL OR btrim(p_tenant_bk) = '' OR length(p_tenant_bk) > 255 THEN
        RAISE EXCEPTION 'p_tenant_bk must be 1 to 255 characters'
            USING ERRCODE = '22023', HINT = 'Pass the tenant_bk of the platform''s auth.tenant_h row.';
    END IF;
    INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, load_date, record_source)
    VALUES (p_tenant_hk, p_tenant_bk, CURRENT_TIMESTAMP, 'onevault_tracking')
    ON CONFLICT (tenant_hk) DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    IF added = 1 THEN
        audited := onevault_tracking.log_platform_audit_event(
            'TENANT_PROVISIONED', 'auth.tenant_h', 'tenant:' || encode(p_tenant_hk, 'hex'),
            'onevault_tracking:' || session_user,
            jsonb_build_object('tenant_id', encode(p_tenant_hk, 'hex'), 'tenant_bk', p_tenant_bk));
        IF (audited ->> 'success') IS DISTINCT FROM 'true' THEN
            RAISE EXCEPTION 'util.log_audit_event failed (%): %', audited ->> 'error_code', audited ->> 'error_message'
                USING ERRCODE = '39000', HINT = 'The tenant was not provisioned: it is audited or not done.';
        END IF;
    END IF;
    RETURN jsonb_build_object('success', true, 'tenant_hk', encode(p_tenant_hk, 'hex'), 'created', added = 1);
END
$provision_tenant$;

-- The raw event ids of shard N are N * 2^48 + 1 to (N + 1) * 2^48. An event's vault key is made
-- of its raw id (core/src/vault.rs), so two shards numbering events alike would give a moved
-- site's events the keys of the new shard's own: one range per shard keeps every id, and every
-- event key, unique across the deployment. Shard 0 keeps the range a single node already uses.
-- Refuses when this database already holds ids outside the range (it was another shard).
CREATE FUNCTION onevault_tracking.claim_shard_event_ids(p_shard integer)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $claim_shard_event_ids$
DECLARE
    range_start bigint;
    range_end bigint;
    highest bigint;
    next_id bigint;
BEGIN
    IF p_shard IS NULL OR p_shard < 0 OR p_shard > 32766 THEN
        RAISE EXCEPTION 'p_shard must be 0 to 32766'
            USING ERRCODE = '22023', HINT = 'The shard number is its position in the proxy''s server options (p0, p1, ...).';
    END IF;
    range_start := p_shard::bigint * 281474976710656 + 1;
    range_end := (p_shard::bigint + 1) * 281474976710656;
    SELECT max(raw_event_id) INTO highest FROM raw.site_tracking_events_r;
    IF highest IS NOT NULL AND highest NOT BETWEEN range_start AND range_end THEN
        -- Moved-in events keep their ids: only ids above the range mean another numbering.
        IF highest > range_end THEN
            RAISE EXCEPTION 'this database holds raw event id %, beyond shard %''s range % to %', highest, p_shard, range_start, range_end
                USING ERRCODE = '55000', HINT = 'A database numbered as another shard cannot take this number.';
        END IF;
    END IF;
    -- The next id: the sequence's own when it is in the range already (ids of rolled-back
    -- inserts are never reused), else the first free one of the range.
    SELECT max(raw_event_id) INTO highest FROM raw.site_tracking_events_r
     WHERE raw_event_id BETWEEN range_start AND range_end;
    next_id := coalesce(pg_catalog.pg_sequence_last_value(
                   pg_catalog.pg_get_serial_sequence('raw.site_tracking_events_r', 'raw_event_id')::regclass) + 1, 1);
    IF next_id NOT BETWEEN range_start AND range_end OR next_id <= highest THEN
        next_id := coalesce(highest + 1, range_start);
        EXECUTE format('ALTER TABLE raw.site_tracking_events_r ALTER COLUMN raw_event_id RESTART WITH %s', next_id);
    END IF;
    RETURN jsonb_build_object('success', true, 'shard', p_shard, 'first_id', range_start,
                              'last_id', range_end, 'next_id', next_id);
END
$claim_shard_event_ids$;

-- Moving a site: the proxy's onevault_tracking_proxy.move_site reads batches from the old shard
-- (site_transfer_batch), loads them into the new one (site_transfer_load), compares
-- (site_transfer_counts), then deletes the site from the old shard (delete_site_data).
--
-- A batch is one jsonb object: {"rows": {"<table>": [rows as jsonb], ...}, "next": cursor or
-- null}. Phases, each read with a cursor until "next" is null:
--   site     the site's hub and details, its keys (hubs, details, links): one batch;
--   events   the site's vault events with their details, pages and sessions, by event key;
--   staging  the site's staging rows (quarantined ones included) with their raw rows, by raw id.
-- Rollups are not moved: the new shard rebuilds them from the moved events.
CREATE FUNCTION onevault_tracking.site_transfer_batch(
    p_tenant_hk bytea, p_site_domain text, p_phase text, p_after text DEFAULT NULL, p_limit integer DEFAULT 5000)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $site_transfer_batch$
DECLARE
    domain constant text := coalesce(onevault_tracking.site_domain(p_site_domain), btrim(p_site_domain));
    site bytea;
    batch_rows jsonb;
    next_cursor text;
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 100000 THEN
        RAISE EXCEPTION 'p_limit must be 1 to 100000' USING ERRCODE = '22023', HINT = 'The rows of one batch travel as one jsonb value.';
    END IF;
    SELECT h.site_hk INTO site FROM business.site_h AS h WHERE h.tenant_hk = p_tenant_hk AND h.site_bk = domain;
    IF site IS NULL THEN
        RAISE EXCEPTION 'site "%" of tenant % is not on this shard', domain, encode(p_tenant_hk, 'hex')
            USING ERRCODE = 'P0002', HINT = 'The proxy''s onevault_tracking_proxy.sites says where each site is.';
    END IF;
    CASE p_phase
    WHEN 'site' THEN
        WITH keys AS (SELECT l.* FROM business.site_api_key_l AS l WHERE l.site_hk = site)
        SELECT jsonb_build_object(
                   'business.site_h', (SELECT jsonb_agg(to_jsonb(h)) FROM business.site_h AS h WHERE h.site_hk = site),
                   'business.site_details_s', (SELECT jsonb_agg(to_jsonb(s)) FROM business.site_details_s AS s WHERE s.site_hk = site),
                   'business.api_key_h', (SELECT jsonb_agg(to_jsonb(h)) FROM business.api_key_h AS h
                                           WHERE h.api_key_hk IN (SELECT k.api_key_hk FROM keys AS k)),
                   'business.api_key_details_s', (SELECT jsonb_agg(to_jsonb(s)) FROM business.api_key_details_s AS s
                                                   WHERE s.api_key_hk IN (SELECT k.api_key_hk FROM keys AS k)),
                   'business.site_api_key_l', (SELECT jsonb_agg(to_jsonb(k)) FROM keys AS k))
          INTO batch_rows;
    WHEN 'events' THEN
        WITH events AS MATERIALIZED (
            SELECT l.* FROM business.tracking_event_l AS l
             WHERE l.site_hk = site AND (p_after IS NULL OR l.tracking_event_hk > decode(p_after, 'hex'))
             ORDER BY l.tracking_event_hk
             LIMIT p_limit)
        SELECT jsonb_build_object(
                   'business.page_h', (SELECT jsonb_agg(to_jsonb(h)) FROM business.page_h AS h
                                        WHERE h.page_hk IN (SELECT e.page_hk FROM events AS e)),
                   'business.page_details_s', (SELECT jsonb_agg(to_jsonb(s)) FROM business.page_details_s AS s
                                                WHERE s.page_hk IN (SELECT e.page_hk FROM events AS e)),
                   'business.page_site_l', (SELECT jsonb_agg(to_jsonb(l)) FROM business.page_site_l AS l
                                             WHERE l.site_hk = site AND l.page_hk IN (SELECT e.page_hk FROM events AS e)),
                   'business.session_h', (SELECT jsonb_agg(to_jsonb(h)) FROM business.session_h AS h
                                           WHERE h.session_hk IN (SELECT e.session_hk FROM events AS e)),
                   'business.session_details_s', (SELECT jsonb_agg(to_jsonb(s)) FROM business.session_details_s AS s
                                                   WHERE s.session_hk IN (SELECT e.session_hk FROM events AS e)),
                   'business.session_site_l', (SELECT jsonb_agg(to_jsonb(l)) FROM business.session_site_l AS l
                                                WHERE l.site_hk = site AND l.session_hk IN (SELECT e.session_hk FROM events AS e)),
                   'business.tracking_event_l', (SELECT jsonb_agg(to_jsonb(e)) FROM events AS e),
                   'business.tracking_event_details_s', (SELECT jsonb_agg(to_jsonb(s)) FROM business.tracking_event_details_s AS s
                                                          WHERE s.tracking_event_hk IN (SELECT e.tracking_event_hk FROM events AS e))),
               (SELECT CASE WHEN count(*) = p_limit THEN max(encode(e.tracking_event_hk, 'hex')) END FROM events AS e)
          INTO batch_rows, next_cursor;
    WHEN 'staging' THEN
        WITH staged AS MATERIALIZED (
            SELECT s.* FROM staging.site_tracking_events_s AS s
             WHERE s.tenant_hk = p_tenant_hk AND s.site_domain = domain
               AND (p_after IS NULL OR s.raw_event_id > p_after::bigint)
             ORDER BY s.raw_event_id
             LIMIT p_limit)
        SELECT jsonb_build_object(
                   'raw.site_tracking_events_r', (SELECT jsonb_agg(to_jsonb(r)) FROM raw.site_tracking_events_r AS r
                                                   WHERE r.raw_event_id IN (SELECT s.raw_event_id FROM staged AS s)),
                   'staging.site_tracking_events_s', (SELECT jsonb_agg(to_jsonb(s) - 'staging_event_id') FROM staged AS s)),
               (SELECT CASE WHEN count(*) = p_limit THEN max(s.raw_event_id)::text END FROM staged AS s)
          INTO batch_rows, next_cursor;
    ELSE
        RAISE EXCEPTION 'unknown phase "%"', p_phase
            USING ERRCODE = '22023', HINT = 'The phases are site, events and staging, in that order.';
    END CASE;
    RETURN jsonb_build_object('rows', jsonb_strip_nulls(batch_rows), 'next', next_cursor);
END
$site_transfer_batch$;

-- Loads a batch of site_transfer_batch into this shard. Rows already here stay (hubs, links,
-- raw and staging rows by their keys, so a batch loads twice without harm). Satellite rows
-- merge into the history this shard may have started for the same key meanwhile (a session the
-- site's visitors continued here after the switch): the rows are inserted, then each touched
-- key's rows are end-dated by the next one in time and its latest row is the current one.
CREATE FUNCTION onevault_tracking.site_transfer_load(p_batch jsonb)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $site_transfer_load$
DECLARE
    target record;
    batch_rows jsonb;
    columns text;
    loaded integer;
    answer jsonb := '{}';
BEGIN
    -- Parents before children (the foreign keys), and raw before staging.
    FOR target IN
        SELECT t.name, t.parent
          FROM unnest(ARRAY['business.site_h', 'business.site_details_s', 'business.api_key_h',
                            'business.api_key_details_s', 'business.site_api_key_l', 'business.page_h',
                            'business.page_details_s', 'business.page_site_l', 'business.session_h',
                            'business.session_details_s', 'business.session_site_l',
                            'business.tracking_event_l', 'business.tracking_event_details_s',
                            'raw.site_tracking_events_r', 'staging.site_tracking_events_s'],
                      ARRAY[NULL, 'site_hk', NULL, 'api_key_hk', NULL, NULL, 'page_hk', NULL, NULL,
                            'session_hk', NULL, NULL, 'tracking_event_hk', NULL, NULL])
                   WITH ORDINALITY AS t (name, parent, position)
         ORDER BY t.position
    LOOP
        batch_rows := p_batch -> 'rows' -> target.name;
        CONTINUE WHEN batch_rows IS NULL OR jsonb_array_length(batch_rows) = 0;
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
          FROM pg_catalog.pg_attribute AS a
         WHERE a.attrelid = target.name::regclass AND a.attnum > 0 AND NOT a.attisdropped
           AND NOT (target.name = 'staging.site_tracking_events_s' AND a.attname = 'staging_event_id');
        IF target.parent IS NULL THEN
            EXECUTE format('INSERT INTO %s (%s) %s SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1) ON CONFLICT DO NOTHING',
                           target.name, columns,
                           CASE WHEN target.name = 'raw.site_tracking_events_r' THEN 'OVERRIDING SYSTEM VALUE' ELSE '' END,
                           columns, target.name)
              USING batch_rows;
            GET DIAGNOSTICS loaded = ROW_COUNT;
        ELSE
            -- A current row arrives end-dated at infinity (the partial unique index allows one
            -- current row per key); the two updates then set the history straight.
            EXECUTE format('INSERT INTO %1$s (%2$s) SELECT %3$s FROM jsonb_populate_recordset(NULL::%1$s, $1) AS r
                             WHERE NOT EXISTS (SELECT 1 FROM %1$s AS t WHERE t.%4$I = r.%4$I AND t.load_date = r.load_date)',
                           target.name, columns,
                           replace(columns, 'load_end_date', 'coalesce(load_end_date, ''infinity'') AS load_end_date'),
                           target.parent)
              USING batch_rows;
            GET DIAGNOSTICS loaded = ROW_COUNT;
            EXECUTE format('UPDATE %1$s AS t SET load_end_date = n.next_load
                              FROM (SELECT s.%2$I AS parent, s.load_date,
                                           lead(s.load_date) OVER (PARTITION BY s.%2$I ORDER BY s.load_date) AS next_load
                                      FROM %1$s AS s
                                     WHERE s.%2$I IN (SELECT (r ->> %3$L)::bytea FROM jsonb_array_elements($1) AS r)) AS n
                             WHERE t.%2$I = n.parent AND t.load_date = n.load_date
                               AND n.next_load IS NOT NULL AND t.load_end_date IS DISTINCT FROM n.next_load',
                           target.name, target.parent, target.parent)
              USING batch_rows;
            EXECUTE format('UPDATE %1$s AS t SET load_end_date = NULL
                             WHERE t.%2$I IN (SELECT (r ->> %3$L)::bytea FROM jsonb_array_elements($1) AS r)
                               AND t.load_end_date = ''infinity''',
                           target.name, target.parent, target.parent)
              USING batch_rows;
        END IF;
        answer := answer || jsonb_build_object(target.name, loaded);
    END LOOP;
    RETURN answer;
END
$site_transfer_load$;

-- What a shard holds of a site, per table, for the move's verification. Events (vault, details,
-- raw and staging rows) are counted without the ids of p_without_shard's range (the events the
-- new shard stored itself after the switch); pages, sessions and keys as they are.
CREATE FUNCTION onevault_tracking.site_transfer_counts(
    p_tenant_hk bytea, p_site_domain text, p_without_shard integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
AS $site_transfer_counts$
DECLARE
    domain constant text := coalesce(onevault_tracking.site_domain(p_site_domain), btrim(p_site_domain));
    site bytea;
    own_first constant bigint := coalesce(p_without_shard::bigint * 281474976710656 + 1, 0);
    own_last constant bigint := coalesce((p_without_shard::bigint + 1) * 281474976710656, -1);
    answer jsonb;
BEGIN
    SELECT h.site_hk INTO site FROM business.site_h AS h WHERE h.tenant_hk = p_tenant_hk AND h.site_bk = domain;
    SELECT jsonb_build_object(
               'sites', count(site),
               'events', (SELECT count(*) FROM business.tracking_event_l AS l
                           WHERE l.site_hk = site
                             AND l.tracking_event_bk::bigint NOT BETWEEN own_first AND own_last),
               'event_details', (SELECT count(*) FROM business.tracking_event_l AS l
                                   JOIN business.tracking_event_details_s AS s USING (tracking_event_hk)
                                  WHERE l.site_hk = site
                                    AND l.tracking_event_bk::bigint NOT BETWEEN own_first AND own_last),
               'staged', (SELECT count(*) FROM staging.site_tracking_events_s AS s
                           WHERE s.tenant_hk = p_tenant_hk AND s.site_domain = domain
                             AND s.raw_event_id NOT BETWEEN own_first AND own_last),
               'raw', (SELECT count(*) FROM raw.site_tracking_events_r AS r
                        WHERE r.raw_event_id IN (SELECT s.raw_event_id FROM staging.site_tracking_events_s AS s
                                                  WHERE s.tenant_hk = p_tenant_hk AND s.site_domain = domain)
                          AND r.raw_event_id NOT BETWEEN own_first AND own_last),
               'pages', (SELECT count(*) FROM business.page_site_l AS l WHERE l.site_hk = site),
               'sessions', (SELECT count(*) FROM business.session_site_l AS l WHERE l.site_hk = site),
               'api_keys', (SELECT count(*) FROM business.site_api_key_l AS l WHERE l.site_hk = site),
               'unprocessed', (SELECT count(*) FROM raw.site_tracking_events_r AS r
                                WHERE r.tenant_hk = p_tenant_hk AND r.processing_status IN ('PENDING', 'ERROR')))
      INTO answer;
    RETURN answer;
END
$site_transfer_counts$;

-- Waits until every client transaction of this database that began before the call has ended
-- (tracking calls the proxy routed here before it switched a site to another shard), at most
-- p_timeout_seconds; then processes what is pending, so the site's last events are in the vault.
-- Answers the events processed; fails with 57014 when older transactions are still running.
CREATE FUNCTION onevault_tracking.settle_before_move(p_timeout_seconds integer DEFAULT 60)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $settle_before_move$
DECLARE
    started constant timestamptz := clock_timestamp();
    step jsonb;
    processed bigint := 0;
BEGIN
    -- pg_stat_activity is read once per transaction unless its snapshot is cleared: each look
    -- clears it (without this, the loop saw the first look's backends for ever).
    LOOP
        PERFORM pg_catalog.pg_stat_clear_snapshot();
        EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity AS a
                               WHERE a.datname = current_database() AND a.backend_type = 'client backend'
                                 AND a.pid <> pg_backend_pid() AND a.xact_start < started);
        IF clock_timestamp() > started + make_interval(secs => p_timeout_seconds) THEN
            RAISE EXCEPTION 'transactions older than the switch are still running after % s', p_timeout_seconds
                USING ERRCODE = '57014',
                      DETAIL = (SELECT string_agg(format('pid %s (%s, since %s, waiting for %s %s, blocked by %s): %s', a.pid, a.state, a.xact_start, a.wait_event_type, a.wait_event, pg_catalog.pg_blocking_pids(a.pid), left(a.query, 200)), '; ')
                                  FROM pg_catalog.pg_stat_activity AS a
                                 WHERE a.datname = current_database() AND a.backend_type = 'client backend'
                                   AND a.pid <> pg_backend_pid() AND a.xact_start < started),
                      HINT = 'Call onevault_tracking_proxy.move_site again: it resumes here.';
        END IF;
        PERFORM pg_catalog.pg_sleep(0.05);
    END LOOP;
    LOOP
        step := onevault_tracking.process_pipeline_step(5000);
        EXIT WHEN (step ->> 'raw_to_staging')::bigint = 0 AND (step ->> 'staging_to_business')::bigint = 0;
        processed := processed + (step ->> 'raw_to_staging')::bigint;
    END LOOP;
    RETURN jsonb_build_object('processed', processed);
END
$settle_before_move$;

-- Removes a site and everything stored of it from this shard, once it lives on another one:
-- rollups, events (vault, staging, raw), sessions and pages only this site uses, keys, details
-- and hub. Audited (SITE_DATA_DELETED, with the counts).
CREATE FUNCTION onevault_tracking.delete_site_data(p_tenant_hk bytea, p_site_domain text)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $delete_site_data$
DECLARE
    domain constant text := coalesce(onevault_tracking.site_domain(p_site_domain), btrim(p_site_domain));
    site bytea;
    counts jsonb := '{}';
    n bigint;
    audited jsonb;
BEGIN
    SELECT h.site_hk INTO site FROM business.site_h AS h WHERE h.tenant_hk = p_tenant_hk AND h.site_bk = domain;
    IF site IS NULL THEN
        RETURN jsonb_build_object('success', true, 'deleted', counts);
    END IF;
    -- The site's loads and rollup closings take this turn (sql/rollups.sql): none runs meanwhile.
    PERFORM pg_catalog.pg_advisory_xact_lock(('x' || encode(substr(site, 1, 8), 'hex'))::bit(64)::bigint # 7016996765293437281);
    DELETE FROM business.site_traffic_rollup AS r WHERE r.tenant_hk = p_tenant_hk AND r.site_hk = site;
    DELETE FROM business.site_traffic_bucket AS b WHERE b.tenant_hk = p_tenant_hk AND b.site_hk = site;
    CREATE TEMPORARY TABLE site_delete_events ON COMMIT DROP AS
        SELECT l.tracking_event_hk, l.page_hk, l.session_hk FROM business.tracking_event_l AS l WHERE l.site_hk = site;
    DELETE FROM business.tracking_event_details_s AS s USING site_delete_events AS e WHERE s.tracking_event_hk = e.tracking_event_hk;
    DELETE FROM business.tracking_event_l AS l USING site_delete_events AS e WHERE l.tracking_event_hk = e.tracking_event_hk;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('events', n);
    CREATE TEMPORARY TABLE site_delete_staged ON COMMIT DROP AS
        SELECT s.raw_event_id FROM staging.site_tracking_events_s AS s WHERE s.tenant_hk = p_tenant_hk AND s.site_domain = domain;
    DELETE FROM staging.site_tracking_events_s AS s USING site_delete_staged AS d WHERE s.raw_event_id = d.raw_event_id;
    DELETE FROM raw.site_tracking_events_r AS r USING site_delete_staged AS d WHERE r.raw_event_id = d.raw_event_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('raw', n);
    -- Sessions: a client-sent session id may be shared with another site of the tenant.
    DELETE FROM business.session_site_l AS l WHERE l.site_hk = site;
    CREATE TEMPORARY TABLE site_delete_sessions ON COMMIT DROP AS
        SELECT h.session_hk FROM business.session_h AS h
         WHERE h.session_hk IN (SELECT e.session_hk FROM site_delete_events AS e)
           AND NOT EXISTS (SELECT 1 FROM business.session_site_l AS l WHERE l.session_hk = h.session_hk)
           AND NOT EXISTS (SELECT 1 FROM business.tracking_event_l AS l WHERE l.session_hk = h.session_hk);
    DELETE FROM business.session_details_s AS s USING site_delete_sessions AS d WHERE s.session_hk = d.session_hk;
    DELETE FROM business.session_h AS h USING site_delete_sessions AS d WHERE h.session_hk = d.session_hk;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('sessions', n);
    CREATE TEMPORARY TABLE site_delete_pages ON COMMIT DROP AS
        SELECT l.page_hk FROM business.page_site_l AS l WHERE l.site_hk = site;
    DELETE FROM business.page_site_l AS l WHERE l.site_hk = site;
    DELETE FROM business.page_details_s AS s USING site_delete_pages AS d WHERE s.page_hk = d.page_hk;
    DELETE FROM business.page_h AS h USING site_delete_pages AS d WHERE h.page_hk = d.page_hk;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('pages', n);
    CREATE TEMPORARY TABLE site_delete_keys ON COMMIT DROP AS
        SELECT l.api_key_hk FROM business.site_api_key_l AS l WHERE l.site_hk = site;
    DELETE FROM business.site_api_key_l AS l WHERE l.site_hk = site;
    DELETE FROM business.api_key_details_s AS s USING site_delete_keys AS d WHERE s.api_key_hk = d.api_key_hk;
    DELETE FROM business.api_key_h AS h USING site_delete_keys AS d WHERE h.api_key_hk = d.api_key_hk;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('api_keys', n);
    DELETE FROM business.site_details_s AS s WHERE s.site_hk = site;
    DELETE FROM business.site_h AS h WHERE h.site_hk = site;
    audited := onevault_tracking.log_platform_audit_event(
        'SITE_DATA_DELETED', 'business.site_h', 'site:' || encode(site, 'hex') || ':' || txid_current(),
        'onevault_tracking:' || session_user,
        jsonb_build_object('tenant_id', encode(p_tenant_hk, 'hex'), 'site', domain, 'deleted', counts));
    IF (audited ->> 'success') IS DISTINCT FROM 'true' THEN
        RAISE EXCEPTION 'util.log_audit_event failed (%): %', audited ->> 'error_code', audited ->> 'error_message'
            USING ERRCODE = '39000', HINT = 'Nothing was deleted: the deletion is audited or not done.';
    END IF;
    RETURN jsonb_build_object('success', true, 'deleted', counts);
END
$delete_site_data$;

-- 14. The tenant-wide report (sql/reports.sql).

-- Every site of the reader's tenant with its totals over [p_from, p_to): api.site_stats' counts
-- (bounces and the total visit duration instead of the rates, which do not add up), one row per
-- site by domain. A visitor hash is made per site, so the rows add up to the tenant's totals
-- exactly; the proxy of a scaled-out deployment answers with every shard's rows (README,
-- "Scaling out").
CREATE FUNCTION api.tenant_site_stats(p_from timestamptz, p_to timestamptz, p_include_bots boolean DEFAULT false)
RETURNS TABLE (site_domain text, visitors bigint, visits bigint, pageviews bigint, events bigint,
               bounces bigint, duration_seconds bigint)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $tenant_site_stats$
#variable_conflict use_column
DECLARE
    tenant constant bytea := onevault_tracking.current_tenant_hk();
BEGIN
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant selected for onevault_tracking reports'
            USING ERRCODE = '42501',
                  HINT = 'SET onevault_tracking.tenant_id to the hex of your tenant''s tenant_hk (64 hex digits); a role listed in onevault_tracking.reader_tenants may select only the tenants listed for it.';
    END IF;
    IF p_from IS NULL OR p_to IS NULL OR p_include_bots IS NULL OR p_from >= p_to THEN
        RAISE EXCEPTION 'the range [p_from, p_to) must be given and not empty, and p_include_bots true or false'
            USING ERRCODE = '22023', HINT = 'p_from is included, p_to is not.';
    END IF;
    RETURN QUERY
    SELECT h.site_bk::text, coalesce(m.visitors, 0), coalesce(m.visits, 0), coalesce(m.pageviews, 0),
           coalesce(m.events, 0), coalesce(m.bounces, 0), coalesce(round(m.duration_us / 1000000.0), 0)::bigint
      FROM business.site_h AS h
      LEFT JOIN LATERAL onevault_tracking.report_metrics(h.tenant_hk, h.site_hk, ARRAY[tstzrange(p_from, p_to, '[)')],
                                                         p_include_bots, '', '{}') AS m ON true
     WHERE h.tenant_hk = tenant
     ORDER BY h.site_bk;
END
$tenant_site_stats$;

-- 6. Lockdown and grants (sql/finalize.sql).
DO $lockdown$
DECLARE
    member_function regprocedure;
    pinned boolean;
    native_writer boolean;
BEGIN
    FOR member_function, pinned, native_writer IN
        SELECT d.objid::regprocedure,
               (p.prosecdef OR (l.lanname <> 'c'
                                AND p.oid <> 'onevault_tracking.report_events(bytea, bytea, timestamptz, timestamptz, boolean)'::regprocedure
                                AND p.oid <> 'onevault_tracking.traffic_filter_keeps(jsonb, text, text, boolean)'::regprocedure))
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
    onevault_tracking.stop_workers(),
    onevault_tracking.rebuild_rollups(bytea, text),
    onevault_tracking.merge_allowed_domain_sites(),
    onevault_tracking.site_of_host(bytea, text)
TO onevault_tracking_admin;
GRANT SELECT ON onevault_tracking.worker_status TO onevault_tracking_admin;
GRANT EXECUTE ON FUNCTION
    onevault_tracking.provision_tenant(bytea, text),
    onevault_tracking.claim_shard_event_ids(integer),
    onevault_tracking.site_transfer_batch(bytea, text, text, text, integer),
    onevault_tracking.site_transfer_load(jsonb),
    onevault_tracking.site_transfer_counts(bytea, text, integer),
    onevault_tracking.settle_before_move(integer),
    onevault_tracking.delete_site_data(bytea, text)
TO onevault_tracking_admin;
GRANT EXECUTE ON FUNCTION
    api.site_stats(text, timestamptz, timestamptz, boolean, jsonb, boolean),
    api.site_breakdown(text, text, timestamptz, timestamptz, integer, boolean, jsonb),
    api.site_timeseries(text, timestamptz, timestamptz, text, boolean, jsonb),
    onevault_tracking.report_filters(jsonb),
    onevault_tracking.report_pieces(timestamptz, timestamptz),
    onevault_tracking.report_metrics(bytea, bytea, tstzrange[], boolean, text, jsonb),
    onevault_tracking.report_totals(bigint, bigint, bigint, bigint, bigint, bigint),
    onevault_tracking.traffic_contributions(bytea, bytea, timestamptz, timestamptz, bytea[], bytea[], bytea[], text, text, jsonb),
    onevault_tracking.traffic_filter_keeps(jsonb, text, text, boolean)
TO onevault_tracking_reader;
GRANT EXECUTE ON FUNCTION onevault_tracking.pgcrypto_schema_creators() TO onevault_tracking_reader;
GRANT EXECUTE ON FUNCTION onevault_tracking.site_domain(text) TO onevault_tracking_reader;
GRANT EXECUTE ON FUNCTION
    api.current_visitors(text, boolean),
    api.export_events(text, timestamptz, timestamptz, integer),
    api.export_report(text, timestamptz, timestamptz, text, jsonb, integer, boolean),
    onevault_tracking.csv_line(text[]),
    onevault_tracking.export_limit(integer),
    onevault_tracking.finish_export(text, timestamptz, timestamptz, integer, bigint, timestamptz, jsonb),
    api.tenant_site_stats(timestamptz, timestamptz, boolean)
TO onevault_tracking_reader;
GRANT SELECT ON staging.pipeline_dashboard TO onevault_tracking_reader;

-- 7. A key's public prefix names one key in the whole database.
CREATE UNIQUE INDEX api_key_h_bk_key ON business.api_key_h (api_key_bk);
