-- bench/tenant.sql: the benchmark's tenant (inserted, as the platform would have created it), its
-- site (api.register_site) and an API key (api.create_api_key). Prints the plaintext key, the
-- key's hash key and the tenant's hash key (hex) for bench/run.sh. psql variables: tenant_bk, site.
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, load_date, record_source)
VALUES (util.hash_binary(:'tenant_bk'), :'tenant_bk', '2026-01-01 00:00:00+00', 'bench');
SELECT api.register_site(util.hash_binary(:'tenant_bk'), :'site', 'Benchmark site', p_timezone => 'UTC') \g /dev/null
SELECT a ->> 'api_key', a ->> 'api_key_hk', encode(util.hash_binary(:'tenant_bk'), 'hex')
  FROM api.create_api_key(util.hash_binary(:'tenant_bk'), :'site', 'benchmark') AS a;
