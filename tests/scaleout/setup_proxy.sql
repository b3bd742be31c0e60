-- The proxy database: PL/Proxy, the proxy package and the three shards (psql variables s0, s1,
-- s2: their connection strings), then the tenants of the test.
CREATE EXTENSION plproxy;
CREATE EXTENSION onevault_tracking_proxy;
SELECT onevault_tracking_proxy.add_shards(ARRAY[:'s0', :'s1'])
       -> 'added' -> 1 ->> 'first_id' AS shard1_first_id;
-- Shards are appended: the third one joins later, as it would when a deployment grows.
SELECT onevault_tracking_proxy.add_shards(ARRAY[:'s2']) ->> 'shards' AS shards;
SELECT onevault_tracking_proxy.register_tenant(sha256(convert_to('Scale Corp', 'UTF8')), 'Scale Corp') ->> 'success';
SELECT onevault_tracking_proxy.register_tenant(sha256(convert_to('Other Corp', 'UTF8')), 'Other Corp') ->> 'success';
