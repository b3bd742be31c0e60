-- International and unusual hosts (README, "Sites and keys"): one normaliser of site domains
-- (core/src/domain.rs) everywhere a domain is compared or stored. A Unicode domain is stored in
-- its ASCII (IDNA) form and shown in Unicode; every spelling of it (case, www., a trailing
-- dot, punycode) reaches the same site when registering, tracking and reporting; a page URL
-- with a trailing-dot host is not quarantined; the longest domain keeps the longest path whole.
SELECT util.hash_binary('Idn Corp') AS tenant, encode(util.hash_binary('Idn Corp'), 'hex') AS tenant_hex \gset
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source) VALUES (:'tenant', 'Idn Corp', 'regress');
\set ua '''Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0'''

SELECT answer ->> 'site_domain' AS stored, answer ->> 'site_domain_display' AS shown, answer -> 'allowed_domains' AS allowed
  FROM api.register_site(:'tenant', 'München.de', 'München', ARRAY['www.bücher.example.']) AS answer;
-- Registering another spelling of it is the same site.
SELECT answer ->> 'created' AS created_again
  FROM api.register_site(:'tenant', 'xn--mnchen-3ya.de.', 'München', ARRAY['www.bücher.example.']) AS answer;
SELECT api.create_api_key(:'tenant', 'WWW.MÜNCHEN.DE', 'web') ->> 'api_key' AS idn_key \gset
SELECT spelling, answer ->> 'status' AS status, answer ->> 'error_code' AS error_code
  FROM unnest(ARRAY['münchen.de', 'MÜNCHEN.de', 'www.münchen.de.', 'xn--mnchen-3ya.de', 'bücher.example']) AS spelling,
       LATERAL api.track_page_view(:'idn_key', spelling, '/karte', :ua, '198.51.100.60') AS answer;
-- The platform's keyless call: a Unicode host with a trailing dot is the site, not quarantined.
SELECT answer ->> 'success' AS success, answer ->> 'status' AS status
  FROM api.track_site_event('198.51.100.61', :ua, 'https://www.münchen.de./preise') AS answer;
SELECT answer ->> 'success' AS success, answer ->> 'status' AS status
  FROM api.track_site_event('198.51.100.62', :ua, 'https://xn--mnchen-3ya.de./kontakt') AS answer;
SELECT site_bk, count(*) AS sites FROM business.site_h WHERE tenant_hk = :'tenant' GROUP BY site_bk;
SELECT p.page_bk FROM business.page_h p WHERE p.tenant_hk = :'tenant' ORDER BY 1;

-- Reports find the site by any spelling.
SET onevault_tracking.tenant_id = :'tenant_hex';
SELECT spelling, (api.site_stats(spelling, now() - interval '1 day', now() + interval '1 day')) ->> 'pageviews' AS pageviews
  FROM unnest(ARRAY['münchen.de', 'MÜNCHEN.DE.', 'www.xn--mnchen-3ya.de']) AS spelling;
RESET onevault_tracking.tenant_id;
SELECT d AS given, coalesce(onevault_tracking.site_domain(d), '(not a site domain)') AS normalised
  FROM unnest(ARRAY['Straße.de', 'www.Example.COM.', 'example.com..', 'not a domain', '1.2.3.4']) AS d;

-- Not a domain: refused with 22023, nothing written.
\set VERBOSITY terse
SELECT api.register_site(:'tenant', 'münchen..de', 'Bad');
SELECT api.register_site(:'tenant', 'exa mple.de', 'Bad');
SELECT api.register_site(:'tenant', repeat('a', 64) || '.de', 'Bad');
\set VERBOSITY default

-- The longest domain (253 bytes) keeps a path of the longest length (2000 bytes) whole.
SELECT repeat('a', 63) || '.' || repeat('b', 63) || '.' || repeat('c', 63) || '.' || repeat('d', 61) AS longest \gset
SELECT octet_length(:'longest') AS domain_bytes,
       api.register_site(:'tenant', :'longest', 'Longest') ->> 'success' AS registered;
SELECT api.create_api_key(:'tenant', :'longest', 'web') ->> 'api_key' AS long_key \gset
SELECT '/' || repeat('p', 1999) AS longest_path \gset
SELECT answer ->> 'status' AS status, answer ->> 'error_code' AS error_code
  FROM api.track_page_view(:'long_key', :'longest', :'longest_path', :ua, '198.51.100.63') AS answer;
SELECT octet_length(page_url) AS url_bytes, octet_length(page_path) AS path_bytes
  FROM staging.site_tracking_events_s WHERE tenant_hk = :'tenant' AND page_host = :'longest';
-- One byte more of path is a path over its limit, and named so.
SELECT answer ->> 'error_code' AS error_code, answer -> 'errors' -> 0 ->> 'code' AS code
  FROM api.track_page_view(:'long_key', :'longest', :'longest_path' || 'p', :ua, '198.51.100.63') AS answer;
