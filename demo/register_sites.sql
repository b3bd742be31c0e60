-- demo/register_sites.sql: Demo Corp registers its two sites (api.register_site); the answers
-- go to demo.admin_calls. psql variables: tenant_bk, site, other_site.
INSERT INTO demo.admin_calls (action, subject, answer)
VALUES ('api.register_site', :'site',
        api.register_site(util.hash_binary(:'tenant_bk'), :'site', 'Example', p_timezone => 'Europe/Berlin')),
       ('api.register_site', :'other_site',
        api.register_site(util.hash_binary(:'tenant_bk'), :'other_site', 'Example (other site)',
                          p_timezone => 'America/New_York'));
