-- Backup, restore and DROP (README, "Lifecycle"). Runs when every table exists.

-- 1. pg_dump dumps the data of the extension's tables, not their definitions: CREATE EXTENSION
-- recreates them at restore, and the rows follow (pg_dump orders them by their foreign keys).
-- Identity sequences are marked too, or a restored table would hand out its ids again. The
-- visitor salts are left out on purpose: a backup that kept them could tie the visitor hashes
-- of their days to IP addresses for as long as the backup exists; without them, a restore
-- starts new salts, and sessions derived across the restore start anew (at most one day's).
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
