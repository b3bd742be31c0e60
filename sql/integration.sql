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

    component := 'util.log_audit_event works'; kind := 'probe';
    IF to_regprocedure('util.log_audit_event(text,text,text,text,jsonb)') IS NULL THEN
        status := 'missing'; detail := NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    BEGIN
        probe_result := util.log_audit_event(
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
