-- demo/analyst.sql: the reader role the report runs as: a LOGIN role in onevault_tracking_reader
-- (read only), bound to Demo Corp in onevault_tracking.reader_tenants, so row-level security
-- shows it that tenant only. psql variables: analyst (the role), demo_tenant (business key).
SET client_min_messages = warning;
-- Roles are cluster-wide: created on the first run, kept (and checked) on later ones.
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'analyst') AS create_analyst \gset
\if :create_analyst
CREATE ROLE :"analyst" LOGIN IN ROLE onevault_tracking_reader;
\endif
ALTER ROLE :"analyst" NOSUPERUSER NOBYPASSRLS LOGIN;
GRANT onevault_tracking_reader TO :"analyst";
INSERT INTO onevault_tracking.reader_tenants (role_name, tenant_hk) VALUES (:'analyst', util.hash_binary(:'demo_tenant'));
