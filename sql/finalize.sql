-- Runs last, when every function of the extension exists.

-- 1. Nothing of the extension is executable by PUBLIC, and every function that resolves names
-- (SECURITY DEFINER ones, and all SQL and PL/pgSQL ones but onevault_tracking.report_events and
-- traffic_filter_keeps, which qualify every name so that they can be inlined) has search_path
-- pinned to pg_catalog, pg_temp: a caller's schemas (public, or objects planted in pg_temp) can
-- never stand in for a built-in function or operator. Tables are always schema-qualified in the
-- code. The one exception is onevault_tracking.log_platform_audit_event, whose path is pinned
-- by sql/integration.sql (pgcrypto's schema added, see there). The pure native functions
-- (hashing, validation) resolve no names, and a SET clause would cost each of their calls a
-- configuration save and restore.
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

-- 2. What each role may call (sql/security.sql creates the roles).
GRANT USAGE ON SCHEMA api TO onevault_tracking_ingest, onevault_tracking_admin, onevault_tracking_reader;
GRANT USAGE ON SCHEMA raw, staging, business, onevault_tracking
    TO onevault_tracking_admin, onevault_tracking_reader;

GRANT EXECUTE ON FUNCTION
    api.track_site_event(inet, text, text, character varying, jsonb),
    api.track_page_view(text, text, text, text, inet, text, text, text, text, timestamptz, jsonb, boolean, boolean),
    api.track_custom_event(text, text, text, jsonb, text, text, inet, text, text, text, text, timestamptz, boolean, boolean)
TO onevault_tracking_ingest;

GRANT EXECUTE ON FUNCTION
    api.register_site(bytea, text, text, text[], text, jsonb),
    api.create_api_key(bytea, text, text, text[], timestamptz, integer),
    api.revoke_api_key(bytea, text),
    api.check_rate_limit(bytea, inet, integer, integer),
    api.log_tracking_attempt(bytea, text, text, text, inet, jsonb),
    api.purge_expired_data(integer, integer),
    api.erase_visitor(bytea, bytea),
    api.erase_session(bytea, text),
    raw.ingest_tracking_event(bytea, bytea, inet, text, jsonb),
    raw.batch_ingest_tracking_events(bytea, bytea, inet, text, jsonb),
    staging.enrich_event_data(jsonb, text, inet),
    staging.process_raw_event(bigint),
    staging.process_pending_events(integer),
    staging.reprocess_quarantined_events(bytea, bigint[]),
    business.load_staged_events(integer),
    business.load_staged_event(bigint),
    onevault_tracking.process_event(bigint),
    onevault_tracking.integration_status(),
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

-- Readers (and admins, who are readers): statistics and reports run as the caller, so
-- row-level security limits them to the session's tenant.
GRANT EXECUTE ON FUNCTION
    onevault_tracking.current_tenant_hk(),
    api.site_stats(text, timestamptz, timestamptz, boolean, jsonb, boolean),
    api.site_breakdown(text, text, timestamptz, timestamptz, integer, boolean, jsonb),
    api.site_timeseries(text, timestamptz, timestamptz, text, boolean, jsonb),
    onevault_tracking.report_filters(jsonb),
    onevault_tracking.report_pieces(timestamptz, timestamptz),
    onevault_tracking.report_metrics(bytea, bytea, tstzrange[], boolean, text, jsonb),
    onevault_tracking.report_totals(bigint, bigint, bigint, bigint, bigint, bigint),
    onevault_tracking.traffic_contributions(bytea, bytea, timestamptz, timestamptz, bytea[], bytea[], bytea[], text, text, jsonb),
    onevault_tracking.traffic_filter_keeps(jsonb, text, text, boolean),
    onevault_tracking.report_site(text, timestamptz, timestamptz, boolean),
    onevault_tracking.report_events(bytea, bytea, timestamptz, timestamptz, boolean),
    api.current_visitors(text, boolean),
    api.tenant_site_stats(timestamptz, timestamptz, boolean),
    api.export_events(text, timestamptz, timestamptz, integer),
    api.export_report(text, timestamptz, timestamptz, text, jsonb, integer, boolean),
    onevault_tracking.csv_line(text[]),
    onevault_tracking.export_limit(integer),
    onevault_tracking.finish_export(text, timestamptz, timestamptz, integer, bigint, timestamptz, jsonb),
    raw.get_ingestion_stats(bytea, integer),
    onevault_tracking.pgcrypto_schema_creators(),
    staging.validate_event_data(jsonb),
    onevault_tracking.hash_binary(text),
    onevault_tracking.hash_key(bytea, text[]),
    onevault_tracking.business_key(bytea, text[]),
    onevault_tracking.site_domain(text)
TO onevault_tracking_reader;
GRANT SELECT ON staging.pipeline_dashboard TO onevault_tracking_reader;

-- 3. The earlier generation (sql/earlier_generation.sql), when this database had one: its
-- stubs and grants, then its rows, migrated and processed like any event (the answer is in
-- onevault_tracking_legacy.migration_runs).
DO $earlier$
BEGIN
    -- (At a restore the legacy schema may already exist, without its tables yet: they come
    -- later in the dump, and nothing is to be done here.)
    IF pg_catalog.to_regclass('onevault_tracking_legacy.superseded_objects') IS NULL THEN
        RETURN;
    END IF;
    PERFORM onevault_tracking.restore_earlier_generation();
    RAISE NOTICE 'onevault_tracking: earlier tracking generation migrated: %',
                 onevault_tracking.migrate_earlier_generation();
END
$earlier$;
