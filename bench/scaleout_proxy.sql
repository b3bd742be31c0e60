-- bench/scaleout_proxy.sql: X's proxy database, as tests/scaleout/setup_proxy.sql sets one up:
-- PL/Proxy, the proxy package (onevault_tracking_proxy), the three shards and the benchmark's
-- tenant. psql variables (from run.sh): s0, s1, s2 (the shards' connection strings), tenant_hk
-- ('\x...') and tenant_bk (the tenant of the benchmark database, so both sides track for the
-- same tenant). Prints the shard count and whether the tenant was registered.
SET client_min_messages = warning;
CREATE EXTENSION plproxy;
CREATE EXTENSION onevault_tracking_proxy;
SELECT onevault_tracking_proxy.add_shards(ARRAY[:'s0', :'s1', :'s2']) ->> 'shards';
SELECT onevault_tracking_proxy.register_tenant(:'tenant_hk'::bytea, :'tenant_bk') ->> 'success';
