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
--  10. one site, one visitor, one session: staged events carry their site
--      (staging.site_tracking_events_s.site_domain, the registered site whose domain or allowed
--      domains include the page's host), onevault_tracking.site_of_host(bytea, text), and
--      onevault_tracking.merge_allowed_domain_sites(), called once here, which moves the events
--      0.1.0 stored under an allowed domain's own site to their site (README, "One site, one
--      visitor"). It rebuilds rollups with onevault_tracking.rebuild_rollups, so it comes after
--      the rollups; before the lockdown and grants.
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

-- 10. One site, one visitor, one session (src/pipeline/sites.rs, sql/staging_layer.sql,
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
    onevault_tracking.stop_workers(),
    onevault_tracking.merge_allowed_domain_sites(),
    onevault_tracking.site_of_host(bytea, text)
TO onevault_tracking_admin;
GRANT SELECT ON onevault_tracking.worker_status TO onevault_tracking_admin;
GRANT EXECUTE ON FUNCTION onevault_tracking.pgcrypto_schema_creators() TO onevault_tracking_reader;
GRANT EXECUTE ON FUNCTION onevault_tracking.site_domain(text) TO onevault_tracking_reader;
GRANT SELECT ON staging.pipeline_dashboard TO onevault_tracking_reader;

-- 7. A key's public prefix names one key in the whole database.
CREATE UNIQUE INDEX api_key_h_bk_key ON business.api_key_h (api_key_bk);
