-- demo/sites_and_keys.sql: the registered sites and the keys created, as the vault stores them
-- (a key only by its public prefix and the start of its SHA-256).
\pset footer off
SELECT c.subject AS site, d.site_name, d.timezone, d.allowed_domains, (c.answer ->> 'created')::boolean AS created,
       left(c.answer ->> 'site_hk', 16) || '...' AS site_hk
  FROM demo.admin_calls AS c
  JOIN business.site_h AS h ON h.site_bk = c.subject
  JOIN business.site_details_s AS d ON d.site_hk = h.site_hk AND d.load_end_date IS NULL
 WHERE c.action = 'api.register_site'
 ORDER BY c.call_no;
SELECT c.subject AS key_name, c.answer ->> 'key_prefix' AS key_prefix, c.answer ->> 'site_domain' AS site,
       c.answer -> 'scopes' AS scopes, coalesce(c.answer ->> 'expires_at', 'never') AS expires,
       coalesce(c.answer ->> 'rate_limit_per_minute', 'default') AS rate_limit,
       left(encode(d.key_hash, 'hex'), 16) || '...' AS stored_sha256
  FROM demo.admin_calls AS c
  JOIN business.api_key_details_s AS d
    ON d.key_prefix = c.answer ->> 'key_prefix' AND d.load_end_date IS NULL
 WHERE c.action = 'api.create_api_key'
 ORDER BY c.call_no;
