-- The earlier PL/pgSQL tracking generation of the One Vault platform (README, "Installing into
-- an existing One Vault database"). Its tables carry our names with other shapes, and its
-- functions name those tables in their bodies. Before any table of ours is created:
--   1. its tables (raw.site_tracking_events_r, staging.site_tracking_events_s) move, rows and
--      all, into schema onevault_tracking_legacy, which is NOT part of the extension, so
--      DROP EXTENSION cannot take them and pg_dump writes it like any platform schema;
--   2. views over them in the shared schemas move there too (they keep reading the earlier rows);
--   3. every function whose body names one of those tables would, once the names are ours,
--      silently read or write our tables: each is recorded (definition, owner, grants) in
--      onevault_tracking_legacy.superseded_objects and dropped; ours take the place of the
--      ones the platform's API app calls (sql/platform_callers.sql), every other one becomes a
--      stub with the same signature that raises 0A000 naming what supersedes it
--      (onevault_tracking.restore_earlier_generation, called by finalize.sql).
-- The rows are migrated into our pipeline at the end of the install (finalize.sql calls
-- onevault_tracking.migrate_earlier_generation, src/earlier_generation.rs).
-- A database without the earlier generation is left exactly as it was.
DO $earlier$
DECLARE
    legacy constant name := 'onevault_tracking_legacy';
    earlier_raw regclass := pg_catalog.to_regclass('raw.site_tracking_events_r');
    earlier_staging regclass := pg_catalog.to_regclass('staging.site_tracking_events_s');
    earlier_tables regclass[];
    -- Functions of ours that take the place of the earlier function of the same signature.
    ours_take_place constant text[] := ARRAY[
        'raw.ingest_tracking_event(bytea,bytea,inet,text,jsonb)',
        'api.track_site_event(inet,text,text,character varying,jsonb)',
        'staging.auto_process_if_needed()',
        'staging.get_pipeline_status()',
        'staging.trigger_pipeline_now()'];
    earlier_table regclass;
    known_columns text[];
    dependent record;
    superseded record;
    successor text;
BEGIN
    IF earlier_raw IS NULL AND earlier_staging IS NULL THEN
        -- Nothing to move (or moved by an earlier install: finalize.sql brings back the stubs
        -- and grants that went with a DROP EXTENSION).
        RETURN;
    END IF;

    -- Only shapes this install knows are moved; anything else is the operator's to decide.
    FOR earlier_table IN SELECT t FROM pg_catalog.unnest(ARRAY[earlier_raw, earlier_staging]) AS t WHERE t IS NOT NULL LOOP
        known_columns := CASE WHEN earlier_table = earlier_raw
                              THEN ARRAY['raw_event_id', 'tenant_hk', 'received_timestamp', 'raw_payload', 'batch_id', 'processing_status']
                              ELSE ARRAY['staging_event_id', 'raw_event_id', 'tenant_hk', 'validation_status', 'processed_to_business'] END;
        IF EXISTS (SELECT 1 FROM pg_catalog.unnest(known_columns) AS wanted (name)
                    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                       WHERE a.attrelid = earlier_table AND a.attname = wanted.name
                                         AND NOT a.attisdropped)) THEN
            RAISE EXCEPTION '% exists and is not a table of the earlier tracking generation that onevault_tracking knows how to move aside',
                            earlier_table
                USING ERRCODE = 'duplicate_table',
                      HINT = pg_catalog.format('Move it out of the way yourself, e.g. ALTER TABLE %s SET SCHEMA <a schema of yours>; then CREATE EXTENSION onevault_tracking again.',
                                               earlier_table);
        END IF;
    END LOOP;
    earlier_tables := ARRAY[earlier_raw, earlier_staging];

    IF pg_catalog.to_regnamespace(legacy) IS NULL THEN
        EXECUTE pg_catalog.format('CREATE SCHEMA %I', legacy);
        EXECUTE pg_catalog.format('ALTER EXTENSION onevault_tracking DROP SCHEMA %I', legacy);
        EXECUTE pg_catalog.format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', legacy);
        EXECUTE pg_catalog.format('COMMENT ON SCHEMA %I IS %L', legacy,
            'The earlier PL/pgSQL tracking generation, moved aside by CREATE EXTENSION onevault_tracking: its tables with their rows, and the definitions of the functions it superseded. Not part of the extension.');
    END IF;
    IF pg_catalog.to_regclass(pg_catalog.format('%I.superseded_objects', legacy)) IS NULL THEN
        EXECUTE pg_catalog.format($ddl$
            CREATE TABLE %1$I.superseded_objects (
                object_kind     text        NOT NULL CHECK (object_kind IN ('function', 'procedure', 'view')),
                object_identity text        NOT NULL,
                definition      text        NOT NULL,
                -- For functions and procedures: what their stub is created from.
                arguments       text,
                result          text,
                owner_name      name        NOT NULL,
                acl             aclitem[],
                replaced_by     text        NOT NULL,
                superseded_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
                PRIMARY KEY (object_identity, superseded_at))$ddl$, legacy);
        EXECUTE pg_catalog.format('ALTER EXTENSION onevault_tracking DROP TABLE %I.superseded_objects', legacy);
        EXECUTE pg_catalog.format($ddl$
            CREATE TABLE %1$I.migration_runs (
                run_at           timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp() PRIMARY KEY,
                earlier_rows     integer     NOT NULL,
                migrated         integer     NOT NULL,
                already_migrated integer     NOT NULL,
                not_migrated     jsonb       NOT NULL)$ddl$, legacy);
        EXECUTE pg_catalog.format('ALTER EXTENSION onevault_tracking DROP TABLE %I.migration_runs', legacy);
    END IF;

    -- Views over the earlier tables (the automation layer's staging.pipeline_dashboard): they
    -- follow the tables, keeping their definitions, and ours take their names.
    FOR dependent IN
        SELECT DISTINCT c.oid::regclass AS view_name, c.relname
          FROM pg_catalog.pg_depend AS d
          JOIN pg_catalog.pg_rewrite AS r ON r.oid = d.objid
          JOIN pg_catalog.pg_class AS c ON c.oid = r.ev_class
         WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass
           AND d.refobjid = ANY (earlier_tables)
           AND c.relkind IN ('v', 'm')
           AND c.relnamespace <> pg_catalog.to_regnamespace(legacy)
    LOOP
        IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', legacy, dependent.relname)) IS NOT NULL THEN
            RAISE EXCEPTION 'cannot move view % into %: a relation of that name is already there', dependent.view_name, legacy
                USING ERRCODE = 'duplicate_table',
                      HINT = pg_catalog.format('Rename one of them, e.g. ALTER VIEW %s RENAME TO %I.', dependent.view_name, dependent.relname || '_earlier');
        END IF;
        EXECUTE pg_catalog.format('INSERT INTO %I.superseded_objects (object_kind, object_identity, definition, owner_name, acl, replaced_by)
                                   SELECT ''view'', $1, pg_catalog.pg_get_viewdef($2), pg_catalog.pg_get_userbyid(c.relowner), c.relacl, $3
                                     FROM pg_catalog.pg_class AS c WHERE c.oid = $2', legacy)
            USING dependent.view_name::text, dependent.view_name::oid,
                  pg_catalog.format('moved to %I.%I; onevault_tracking defines its own', legacy, dependent.relname);
        EXECUTE pg_catalog.format('ALTER VIEW %s SET SCHEMA %I', dependent.view_name, legacy);
    END LOOP;

    FOR earlier_table IN SELECT t FROM pg_catalog.unnest(earlier_tables) AS t WHERE t IS NOT NULL LOOP
        IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', legacy, (SELECT relname FROM pg_catalog.pg_class WHERE oid = earlier_table))) IS NOT NULL THEN
            RAISE EXCEPTION 'cannot move % into %: an earlier table of that name is already there', earlier_table, legacy
                USING ERRCODE = 'duplicate_table',
                      HINT = pg_catalog.format('Rename the one in %I first, e.g. ALTER TABLE %I.%I RENAME TO %I.', legacy, legacy,
                                               (SELECT relname FROM pg_catalog.pg_class WHERE oid = earlier_table),
                                               (SELECT relname || '_1' FROM pg_catalog.pg_class WHERE oid = earlier_table));
        END IF;
        EXECUTE pg_catalog.format('ALTER TABLE %s SET SCHEMA %I', earlier_table, legacy);
    END LOOP;

    -- Functions naming the earlier tables, wherever they are (not ours, not in the legacy
    -- schema), and the earlier functions whose places ours take.
    FOR superseded IN
        SELECT p.oid, p.oid::regprocedure::text AS identity, p.prokind,
               pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
               pg_catalog.pg_get_function_result(p.oid) AS result,
               p.oid = ANY (SELECT pg_catalog.to_regprocedure(o) FROM pg_catalog.unnest(ours_take_place) AS o) AS ours_instead
          FROM pg_catalog.pg_proc AS p
          JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
          JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', legacy)
           AND l.lanname NOT IN ('c', 'internal')
           AND p.prokind IN ('f', 'p')
           AND (p.prosrc OPERATOR(pg_catalog.~) 'site_tracking_events_[rs]'
                OR p.oid = ANY (SELECT pg_catalog.to_regprocedure(o) FROM pg_catalog.unnest(ours_take_place) AS o))
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS d
                            WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
         ORDER BY 2
    LOOP
        successor := CASE
            WHEN superseded.ours_instead THEN 'onevault_tracking''s function of the same signature'
            WHEN superseded.identity LIKE 'raw.ingest_tracking_events_batch(%' THEN 'raw.batch_ingest_tracking_events'
            WHEN superseded.identity LIKE 'raw.get_processing_stats(%' OR superseded.identity LIKE 'staging.get_processing_stats(%' THEN 'raw.get_ingestion_stats'
            WHEN superseded.identity LIKE 'staging.validate_and_enrich_event(%' THEN 'staging.process_raw_event'
            WHEN superseded.identity LIKE 'business.process_staging_to_satellites(%' OR superseded.identity LIKE 'staging.process_staging_to_business(%' THEN 'business.load_staged_events'
            WHEN superseded.identity LIKE 'staging.process_%' THEN 'staging.process_pending_events'
            WHEN superseded.identity LIKE 'util.correct_event_tenant(%' THEN 'nothing: onevault_tracking decides an event''s tenant at ingestion, from its site'
            ELSE 'the onevault_tracking pipeline (README, "API")' END;
        EXECUTE pg_catalog.format('INSERT INTO %I.superseded_objects (object_kind, object_identity, definition, arguments, result, owner_name, acl, replaced_by)
                                   SELECT $1, $2, pg_catalog.pg_get_functiondef(p.oid), pg_catalog.pg_get_function_arguments(p.oid),
                                          pg_catalog.pg_get_function_result(p.oid), pg_catalog.pg_get_userbyid(p.proowner), p.proacl, $3
                                     FROM pg_catalog.pg_proc AS p WHERE p.oid = $4', legacy)
            USING CASE superseded.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
                  superseded.identity, successor, superseded.oid;
        EXECUTE pg_catalog.format('DROP %s %s', CASE superseded.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                                  superseded.identity);
    END LOOP;
END
$earlier$;

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
