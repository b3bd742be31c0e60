-- Roles, grants, row-level security and search_path pinning (README, "Security and privacy").
-- Two tenants with one site each; login roles for each extension role.
SELECT util.hash_binary('Sec Alpha_2025-01-01') AS alpha \gset
SELECT util.hash_binary('Sec Beta_2025-01-01') AS beta \gset
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source)
VALUES (:'alpha', 'Sec Alpha_2025-01-01', 'regress'), (:'beta', 'Sec Beta_2025-01-01', 'regress');
SELECT api.register_site(:'alpha', 'alpha.example', 'Alpha') ->> 'success' AS alpha_site;
SELECT api.register_site(:'beta', 'beta.example', 'Beta') ->> 'success' AS beta_site;
SELECT api.create_api_key(:'alpha', 'alpha.example', 'sec') ->> 'api_key' AS alpha_key \gset
SELECT api.create_api_key(:'beta', 'beta.example', 'sec') ->> 'api_key' AS beta_key \gset
SELECT encode(:'alpha'::bytea, 'hex') AS alpha_hex, encode(:'beta'::bytea, 'hex') AS beta_hex \gset

DROP ROLE IF EXISTS sec_tracker, sec_analyst, sec_bound_analyst, sec_operator, sec_nobody;
CREATE ROLE sec_tracker LOGIN IN ROLE onevault_tracking_ingest;
CREATE ROLE sec_analyst LOGIN IN ROLE onevault_tracking_reader;
CREATE ROLE sec_bound_analyst LOGIN IN ROLE onevault_tracking_reader;
CREATE ROLE sec_operator LOGIN IN ROLE onevault_tracking_admin;
CREATE ROLE sec_nobody LOGIN;

-- The three roles exist and cannot log in.
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'onevault\_tracking\_%' ORDER BY 1;

-- PUBLIC can execute no function of the extension and use no table of it.
SELECT count(*) AS public_executable
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'onevault_tracking')
   AND d.classid = 'pg_proc'::regclass
   AND has_function_privilege('sec_nobody', p.oid, 'EXECUTE');
SELECT count(*) AS public_tables
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'onevault_tracking')
   AND d.classid = 'pg_class'::regclass AND c.relkind = 'r'
   AND has_table_privilege('sec_nobody', c.oid, 'SELECT, INSERT, UPDATE, DELETE');

-- What each role may execute.
SELECT r.role, string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.oid::regprocedure::text) AS executable
  FROM (VALUES ('onevault_tracking_ingest'), ('onevault_tracking_reader')) AS r (role)
  JOIN pg_depend d ON d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'onevault_tracking')
                  AND d.classid = 'pg_proc'::regclass
  JOIN pg_proc p ON p.oid = d.objid
 WHERE has_function_privilege(r.role, p.oid, 'EXECUTE')
 GROUP BY r.role ORDER BY r.role;
-- The admin role runs everything but the tracking calls, the internal audit path and the
-- rollups' upkeep inside the pipeline (the workers and the processing calls run it).
SELECT p.oid::regprocedure AS admin_not_executable
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'onevault_tracking')
   AND d.classid = 'pg_proc'::regclass
   AND NOT has_function_privilege('onevault_tracking_admin', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;

-- Every raw, staging and business table has row-level security; the ingestion role can touch
-- none of them.
SELECT n.nspname, count(*) AS tables, bool_and(c.relrowsecurity) AS rls,
       bool_and(EXISTS (SELECT 1 FROM pg_policy pol WHERE pol.polrelid = c.oid)) AS reader_policy,
       bool_or(has_table_privilege('onevault_tracking_ingest', c.oid, 'SELECT, INSERT, UPDATE, DELETE')) AS ingest_access,
       bool_or(has_table_privilege('onevault_tracking_reader', c.oid, 'INSERT, UPDATE, DELETE')) AS reader_writes
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'onevault_tracking')
   AND d.classid = 'pg_class'::regclass AND c.relkind = 'r'
 GROUP BY n.nspname ORDER BY 1;

-- Every SECURITY DEFINER function and every SQL or PL/pgSQL function pins search_path; the
-- only unpinned ones are the pure native functions, which resolve no names, the reports'
-- event set and the rollups' filter test, SQL functions that must stay inlinable and so
-- qualify every name instead,
-- and the audit path, pinned to pg_catalog, pgcrypto's schema, pg_temp (audit_path test).
SELECT p.oid::regprocedure AS unpinned, p.prosecdef
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'onevault_tracking')
   AND d.classid = 'pg_proc'::regclass
   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
 ORDER BY p.oid::regprocedure::text;

-- The ingestion role tracks ...
SET SESSION AUTHORIZATION sec_tracker;
SELECT api.track_page_view(:'alpha_key', 'alpha.example', '/a1', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', '10.1.0.1') ->> 'status' AS alpha_1;
SELECT api.track_page_view(:'alpha_key', 'alpha.example', '/a2', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', '10.1.0.1') ->> 'status' AS alpha_2;
SELECT api.track_custom_event(:'beta_key', 'beta.example', 'signup', '{"plan": "pro"}', '/b1',
                              'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', '10.2.0.1') ->> 'status' AS beta_1;
-- ... and can do nothing else.
\set VERBOSITY terse
SELECT count(*) FROM raw.site_tracking_events_r;
SELECT raw.ingest_tracking_event(:'alpha', NULL, NULL, NULL, '{"event_type": "page_view", "page_url": "https://alpha.example/x"}');
SELECT api.register_site(:'alpha', 'evil.example', 'Evil');
SELECT staging.process_pending_events();
INSERT INTO raw.site_tracking_events_r (tenant_hk, raw_payload, record_source) VALUES (:'alpha', '{}', 'x');
RESET SESSION AUTHORIZATION;

-- A reader without the tenant setting sees no row at all.
SET SESSION AUTHORIZATION sec_analyst;
SELECT (SELECT count(*) FROM raw.site_tracking_events_r) AS raw_rows,
       (SELECT count(*) FROM staging.site_tracking_events_s) AS staged_rows,
       (SELECT count(*) FROM business.tracking_event_l) AS vault_events,
       (SELECT count(*) FROM business.site_h) AS sites;
-- With the setting: exactly its tenant's rows, in every layer.
SET onevault_tracking.tenant_id = :'alpha_hex';
SELECT (SELECT count(*) FROM raw.site_tracking_events_r) AS raw_rows,
       (SELECT count(*) FROM business.tracking_event_l) AS vault_events,
       (SELECT count(*) FROM business.site_h) AS sites,
       (SELECT bool_and(tenant_hk = :'alpha') FROM business.tracking_event_details_s) AS only_alpha,
       (SELECT count(*) FROM raw.get_ingestion_stats()) AS stats_tenants;
SET onevault_tracking.tenant_id = :'beta_hex';
SELECT (SELECT count(*) FROM business.tracking_event_l) AS vault_events,
       (SELECT string_agg(site_bk, ',') FROM business.site_h) AS sites;
-- A malformed setting matches nothing.
SET onevault_tracking.tenant_id = 'not hex';
SELECT count(*) AS malformed_setting_rows FROM business.tracking_event_l;
-- Readers cannot write, cannot read the visitor salts, and cannot call ingestion.
SELECT count(*) FROM onevault_tracking.visitor_salts;
DELETE FROM business.tracking_event_l;
SELECT api.track_page_view(:'alpha_key', 'alpha.example', '/r', 'UA', '10.1.0.9');
RESET onevault_tracking.tenant_id;
RESET SESSION AUTHORIZATION;

-- A login role bound to a tenant sees only that tenant, whatever the setting says, also after
-- SET ROLE to the group role.
INSERT INTO onevault_tracking.reader_tenants (role_name, tenant_hk) VALUES ('sec_bound_analyst', :'alpha');
SET SESSION AUTHORIZATION sec_bound_analyst;
SET onevault_tracking.tenant_id = :'beta_hex';
SELECT count(*) AS bound_to_alpha_asks_beta FROM business.tracking_event_l;
SET ROLE onevault_tracking_reader;
SELECT count(*) AS via_group_role_asks_beta FROM business.tracking_event_l;
RESET ROLE;
SET onevault_tracking.tenant_id = :'alpha_hex';
SELECT count(*) AS bound_to_alpha_asks_alpha FROM business.tracking_event_l;
RESET onevault_tracking.tenant_id;
RESET SESSION AUTHORIZATION;

-- The admin role administers sites and keys, drains, binds readers, and reads like a reader.
SET SESSION AUTHORIZATION sec_operator;
SELECT api.register_site(:'beta', 'beta-shop.example', 'Beta shop') ->> 'created' AS admin_registers;
SELECT api.create_api_key(:'beta', 'beta-shop.example', 'shop') ->> 'success' AS admin_creates_key;
SELECT staging.process_pending_events() IS NOT NULL AS admin_drains;
SELECT api.purge_expired_data() ->> 'success' AS admin_purges;
INSERT INTO onevault_tracking.reader_tenants (role_name, tenant_hk) VALUES ('sec_analyst', :'beta');
DELETE FROM onevault_tracking.reader_tenants WHERE role_name = 'sec_analyst';
SET onevault_tracking.tenant_id = :'beta_hex';
SELECT count(*) AS admin_reads_beta_sites FROM business.site_h;
SELECT count(*) FROM onevault_tracking.visitor_salts;
RESET onevault_tracking.tenant_id;
RESET SESSION AUTHORIZATION;
\set VERBOSITY default

DELETE FROM onevault_tracking.reader_tenants;
DROP ROLE sec_tracker, sec_analyst, sec_bound_analyst, sec_operator, sec_nobody;
