-- The One Vault core: one WARNING lists every missing object, so an operator fixes them all in
-- one go. Not an ERROR: pg_dump writes CREATE EXTENSION before the platform's own tables and
-- functions, so a restore runs this script while they do not exist yet, and nothing this script
-- creates needs them (README, "Lifecycle"). The functions check for the core at first use
-- (src/platform.rs) and integration_status() reports it.
DO $check$
DECLARE
    missing text[] := ARRAY[]::text[];
    required_function text;
    required_table text;
BEGIN
    FOREACH required_function IN ARRAY ARRAY[
        'util.log_audit_event(text,text,text,text,jsonb)',
        'util.hash_binary(text)',
        'util.current_load_date()',
        'util.get_record_source()'
    ] LOOP
        IF pg_catalog.to_regprocedure(required_function) IS NULL THEN
            missing := missing || required_function;
        END IF;
    END LOOP;
    FOREACH required_table IN ARRAY ARRAY[
        'auth.tenant_h', 'auth.security_tracking_h', 'auth.ip_tracking_s', 'audit.audit_event_h'
    ] LOOP
        IF pg_catalog.to_regclass(required_table) IS NULL THEN
            missing := missing || required_table;
        END IF;
    END LOOP;
    IF pg_catalog.cardinality(missing) > 0 THEN
        RAISE WARNING 'onevault_tracking needs the One Vault core, and this database lacks: %',
                        pg_catalog.array_to_string(missing, ', ')
            USING HINT = 'Install onevault_tracking into a One Vault database, or load the core '
                         'replica first: psql -1 -v ON_ERROR_STOP=1 -f tests/fixtures/onevault_core_replica.sql '
                         '(in the onevault_tracking source tree).';
    END IF;
END
$check$;

-- raw, staging, business and api are shared with other One Vault features: create the ones
-- that are missing, and keep them out of the extension so DROP EXTENSION leaves them, and
-- whatever other features put in them, alone. (CREATE SCHEMA IF NOT EXISTS would fail on a
-- schema the extension does not own, by design since PostgreSQL 15's CVE-2022-2625 fix.)
DO $schemas$
DECLARE
    shared_schema text;
BEGIN
    FOREACH shared_schema IN ARRAY ARRAY['raw', 'staging', 'business', 'api'] LOOP
        IF pg_catalog.to_regnamespace(shared_schema) IS NULL THEN
            EXECUTE pg_catalog.format('CREATE SCHEMA %I', shared_schema);
            EXECUTE pg_catalog.format('ALTER EXTENSION onevault_tracking DROP SCHEMA %I', shared_schema);
        END IF;
    END LOOP;
END
$schemas$;
