-- bench/scaleout_sites.sql: X's sites: site-01.example.org to site-<sites>.example.org of the
-- benchmark's tenant, time zone UTC, with one key each (api.register_site, api.create_api_key).
-- The same file on both sides: on the proxy, whose api.register_site places the site on a
-- shard and registers it there (its answer names the shard), and on the single node (the
-- benchmark database). psql variables (from run.sh): tenant_hk ('\x...'), sites (how many).
-- Prints one CSV row per site, by domain: domain, key, shard (empty on the single node).
COPY (
    SELECT r.answer ->> 'site_domain', k.answer ->> 'api_key', r.answer ->> 'shard'
      FROM generate_series(1, :sites) AS i,
           LATERAL (SELECT api.register_site(:'tenant_hk'::bytea, format('site-%s.example.org', to_char(i, 'FM00')),
                                             format('Scale-out site %s', i), p_timezone => 'UTC') AS answer) AS r,
           LATERAL (SELECT api.create_api_key(:'tenant_hk'::bytea, r.answer ->> 'site_domain', 'benchmark') AS answer) AS k
     ORDER BY 1
) TO STDOUT WITH (FORMAT csv);
