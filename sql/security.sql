-- Roles and row-level security. Grants to functions are in finalize.sql (every function exists
-- by then); README "Security and privacy" describes the model.
--
-- Three NOLOGIN roles, created when absent (roles belong to the cluster, not the database, so
-- they outlive DROP EXTENSION and are shared by every database that installs it):
--   onevault_tracking_ingest  calls api.track_page_view and api.track_custom_event, nothing else;
--   onevault_tracking_admin   sites, keys, processing, retention and erasure (and reads);
--   onevault_tracking_reader  reads analytics tables and reports of one tenant at a time.
-- Grant them to login roles: GRANT onevault_tracking_reader TO analyst;
DO $roles$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['onevault_tracking_ingest', 'onevault_tracking_admin',
                                     'onevault_tracking_reader'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', role_name);
        END IF;
    END LOOP;
END
$roles$;
GRANT onevault_tracking_reader TO onevault_tracking_admin;

-- Optional hard binding of login roles to tenants. A session user with rows here sees only the
-- tenants listed for it, whatever it sets onevault_tracking.tenant_id to; a session user
-- without rows is scoped by the setting alone (for applications that set it per request).
CREATE TABLE onevault_tracking.reader_tenants (
    role_name  name        NOT NULL,
    tenant_hk  bytea       NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    PRIMARY KEY (role_name, tenant_hk)
);
REVOKE ALL ON onevault_tracking.reader_tenants FROM PUBLIC;

-- The tenant a reader's session works for: onevault_tracking.tenant_id holds the hex of its
-- tenant_hk (as util.log_audit_event's tenant_id does; a leading \x is accepted). Unset,
-- malformed or not bound to the session user: NULL, which matches no row. SECURITY DEFINER
-- only to read reader_tenants; session_user, unlike current_user, cannot be changed by
-- SET ROLE and is not replaced inside SECURITY DEFINER functions.
CREATE FUNCTION onevault_tracking.current_tenant_hk()
RETURNS bytea
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $tenant$
    SELECT requested.tenant_hk
      FROM (SELECT CASE WHEN setting OPERATOR(pg_catalog.~) '^(\\x)?[0-9A-Fa-f]{64}$'
                        THEN pg_catalog.decode(pg_catalog.ltrim(setting, '\x'), 'hex') END AS tenant_hk
              FROM (SELECT pg_catalog.current_setting('onevault_tracking.tenant_id', true) AS setting) AS s
           ) AS requested
     WHERE requested.tenant_hk IS NOT NULL
       AND (NOT EXISTS (SELECT 1 FROM onevault_tracking.reader_tenants AS b
                         WHERE b.role_name OPERATOR(pg_catalog.=) session_user)
            OR EXISTS (SELECT 1 FROM onevault_tracking.reader_tenants AS b
                        WHERE b.role_name OPERATOR(pg_catalog.=) session_user
                          AND b.tenant_hk OPERATOR(pg_catalog.=) requested.tenant_hk))
$tenant$;

-- Row-level security on every table of the raw, staging and business layers. Readers get one
-- policy: rows of the session's tenant. Nobody else has a policy, so every other role that
-- is not the owner sees and changes nothing; the extension's SECURITY DEFINER functions run
-- as the owner, which row-level security does not restrict (no FORCE), and are the only way
-- the ingestion and admin roles write. (SELECT ...) makes the tenant an InitPlan: computed
-- once per query and usable as an index condition.
DO $rls$
DECLARE
    layer_table regclass;
BEGIN
    FOR layer_table IN
        SELECT c.oid::regclass
          FROM pg_catalog.pg_class AS c
          JOIN pg_catalog.pg_depend AS d
            ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
         WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass
           AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'onevault_tracking')
           AND c.relkind = 'r'
           AND c.relnamespace::regnamespace::text IN ('raw', 'staging', 'business')
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', layer_table);
        EXECUTE pg_catalog.format(
            'CREATE POLICY tenant_reader ON %s FOR SELECT TO onevault_tracking_reader '
            'USING (tenant_hk OPERATOR(pg_catalog.=) (SELECT onevault_tracking.current_tenant_hk()))',
            layer_table);
        EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC', layer_table);
        EXECUTE pg_catalog.format('GRANT SELECT ON %s TO onevault_tracking_reader', layer_table);
    END LOOP;
END
$rls$;
-- The salts and the bindings are secret from everyone but the owner: row-level security with
-- no policy at all, on top of no grants.
ALTER TABLE onevault_tracking.visitor_salts ENABLE ROW LEVEL SECURITY;
ALTER TABLE onevault_tracking.reader_tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY admin_manages_bindings ON onevault_tracking.reader_tenants
    TO onevault_tracking_admin USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON onevault_tracking.reader_tenants TO onevault_tracking_admin;
