-- API key prefixes (README, "Sites and keys"): the public prefix is a key's business key and
-- names one key in the whole database. api.create_api_key skips a taken prefix (the
-- #[pg_test] a_taken_key_prefix_is_never_reused forces that); here: storing a second key with a
-- taken prefix is impossible, for another tenant as for the same one, and the first key keeps
-- working with its details and its one site.
SELECT util.hash_binary('Prefix Corp') AS prefix_tenant, util.hash_binary('Prefix Rival') AS rival_tenant \gset
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source)
VALUES (:'prefix_tenant', 'Prefix Corp', 'regress'), (:'rival_tenant', 'Prefix Rival', 'regress');
SELECT api.register_site(:'prefix_tenant', 'prefix.example', 'Prefix') ->> 'success' AS site;
SELECT api.register_site(:'rival_tenant', 'rival.example', 'Rival') ->> 'success' AS rival_site;
SELECT api.create_api_key(:'prefix_tenant', 'prefix.example', 'first') AS created \gset
SELECT (:'created'::jsonb) ->> 'key_prefix' AS prefix, (:'created'::jsonb) ->> 'api_key' AS first_key \gset
-- Another tenant's hub with the taken prefix (its hash key differs): refused by the index.
\set VERBOSITY terse
INSERT INTO business.api_key_h (api_key_hk, api_key_bk, tenant_hk, record_source)
VALUES (util.hash_binary('Prefix Rival|' || :'prefix'), :'prefix', :'rival_tenant', 'regress');
-- The same tenant's (the same hash key): refused by the primary key.
INSERT INTO business.api_key_h (api_key_hk, api_key_bk, tenant_hk, record_source)
SELECT api_key_hk, api_key_bk, tenant_hk, 'regress' FROM business.api_key_h WHERE api_key_bk = :'prefix';
\set VERBOSITY default
SELECT count(*) AS hubs_with_the_prefix FROM business.api_key_h WHERE api_key_bk = :'prefix';
SELECT answer ->> 'success' AS first_key_still_tracks
  FROM api.track_page_view(:'first_key', 'prefix.example', '/', 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0', '198.51.100.40') AS answer;
SELECT count(*) AS sites_linked FROM business.site_api_key_l l JOIN business.api_key_h h USING (api_key_hk) WHERE h.api_key_bk = :'prefix';
-- Every key created here has a prefix of its own.
SELECT count(*) AS created
  FROM (SELECT api.create_api_key(:'rival_tenant', 'rival.example', 'k' || i) FROM generate_series(1, 50) AS i) AS created;
SELECT count(*) = count(DISTINCT api_key_bk) AS every_prefix_distinct FROM business.api_key_h;
