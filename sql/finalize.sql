-- Nothing of the extension is executable by PUBLIC: access is granted explicitly.
DO $revoke$
DECLARE
    member_function regprocedure;
BEGIN
    FOR member_function IN
        SELECT d.objid::regprocedure
          FROM pg_catalog.pg_depend d
         WHERE d.classid = 'pg_catalog.pg_proc'::regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::regclass
           AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'onevault_tracking')
           AND d.deptype = 'e'
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', member_function);
    END LOOP;
END
$revoke$;

