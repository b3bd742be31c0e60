-- Nine sites of two tenants, registered through the proxy, one key each. Domains are written as
-- a website owner might (upper case, www., a trailing dot): the proxy normalises them as the
-- extension does. Answers one row per site: domain, shard, key.
CREATE TEMPORARY TABLE planned (tenant_hk bytea, domain text, allowed text[]);
INSERT INTO planned VALUES
    (sha256(convert_to('Scale Corp', 'UTF8')), 'WWW.Alpha.example.', ARRAY['alpha-shop.example']),
    (sha256(convert_to('Scale Corp', 'UTF8')), 'bravo.example', NULL),
    (sha256(convert_to('Scale Corp', 'UTF8')), 'charlie.example', ARRAY['www.charlie-blog.example']),
    (sha256(convert_to('Scale Corp', 'UTF8')), 'delta.example', NULL),
    (sha256(convert_to('Scale Corp', 'UTF8')), 'echo.example', NULL),
    (sha256(convert_to('Scale Corp', 'UTF8')), 'foxtrot.example', NULL),
    (sha256(convert_to('Other Corp', 'UTF8')), 'golf.example', NULL),
    (sha256(convert_to('Other Corp', 'UTF8')), 'hotel.example', NULL),
    (sha256(convert_to('Other Corp', 'UTF8')), 'india.example', NULL);
\copy (SELECT r.answer ->> 'site_domain', r.answer ->> 'shard', k.answer ->> 'api_key', encode(p.tenant_hk, 'hex') FROM planned AS p, LATERAL (SELECT api.register_site(p.tenant_hk, p.domain, initcap(p.domain), p.allowed, 'Europe/Berlin') AS answer) AS r, LATERAL (SELECT api.create_api_key(p.tenant_hk, r.answer ->> 'site_domain', 'website') AS answer) AS k ORDER BY 1) TO STDOUT WITH (FORMAT csv)
