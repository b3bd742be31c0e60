-- demo/setup.sql: the demo's two tenants, inserted as the platform would have created them
-- (business key = name + creation time), and schema demo, which holds the sample data and the
-- demo's records (not part of the extension): demo.admin_calls keeps the answers of the site and
-- key administration (without the plaintext keys), demo.api_calls every tracking API call with
-- what the demo expects of it. psql variables: demo_tenant, other_tenant (business keys).
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, load_date, record_source)
VALUES (util.hash_binary(:'demo_tenant'), :'demo_tenant', '2026-01-01 00:00:00+00', 'demo'),
       (util.hash_binary(:'other_tenant'), :'other_tenant', '2025-01-01 00:00:00+00', 'demo');
SELECT tenant_bk, load_date, encode(tenant_hk, 'hex') AS tenant_hk FROM auth.tenant_h ORDER BY load_date;

CREATE SCHEMA demo;
COMMENT ON SCHEMA demo IS 'Sample data of scripts/demo.sh; not part of onevault_tracking';
CREATE TABLE demo.admin_calls (call_no serial PRIMARY KEY, action text, subject text, answer jsonb);
CREATE TABLE demo.api_calls (
    call_no bigserial PRIMARY KEY,
    story text NOT NULL,         -- browser traffic, wrong key, domain mismatch, revoked key, rate-limit burst
    n integer,                   -- the event (demo.events) a browser traffic call sends
    seq integer,                 -- the call's number within its story
    client_ip inet,
    expected text NOT NULL,      -- 'success' or the error_code the demo expects
    answer jsonb NOT NULL,
    called_at timestamptz NOT NULL DEFAULT clock_timestamp());
