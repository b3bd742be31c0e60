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
CREATE FUNCTION onevault_tracking.integration_status()
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
