-- Site settings (README, "Sites and keys"): every setting of p_settings is checked when a site
-- is registered (names, with a suggestion for a near miss; types; ranges) and a refused call
-- writes nothing; a key's own limit has the same range. The tracking path never fails on a bad
-- stored value: it counts as not set, the default applies, and the other settings still work.
SELECT util.hash_binary('Settings Corp') AS tenant \gset
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source) VALUES (:'tenant', 'Settings Corp', 'regress');
\set ua '''Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'''
CREATE FUNCTION pg_temp.sites() RETURNS text LANGUAGE sql AS $$
    SELECT format('sites=%s details=%s keys=%s',
        (SELECT count(*) FROM business.site_h WHERE tenant_hk = util.hash_binary('Settings Corp')),
        (SELECT count(*) FROM business.site_details_s WHERE tenant_hk = util.hash_binary('Settings Corp')),
        (SELECT count(*) FROM business.api_key_h WHERE tenant_hk = util.hash_binary('Settings Corp')))
$$;

-- Refused, each with 22023 naming the setting; nothing is written.
SELECT api.register_site(:'tenant', 'settings.example', 'Settings', p_settings := '{"rate_limit_per_minute": "fast"}');
SELECT api.register_site(:'tenant', 'settings.example', 'Settings', p_settings := '{"rate_limit_per_minute": 1.5}');
SELECT api.register_site(:'tenant', 'settings.example', 'Settings', p_settings := '{"rate_limit_per_minute": 0}');
SELECT api.register_site(:'tenant', 'settings.example', 'Settings', p_settings := '{"rate_limit_per_minute": -3}');
SELECT api.register_site(:'tenant', 'settings.example', 'Settings', p_settings := '{"rate_limit_per_minute": 1000001}');
SELECT api.register_site(:'tenant', 'settings.example', 'Settings', p_settings := '{"rate_limit_per_minute": 100000000000000000000}');
SELECT api.register_site(:'tenant', 'settings.example', 'Settings', p_settings := '{"rateLimitPerMinute": 5}');
SELECT api.register_site(:'tenant', 'settings.example', 'Settings', p_settings := '{"retention_days": 30}');
SELECT api.register_site(:'tenant', 'settings.example', 'Settings', p_settings := '{"privacy_signals": "DROP"}');
SELECT api.register_site(:'tenant', 'settings.example', 'Settings', p_settings := '[1]');
SELECT pg_temp.sites() AS after_refusals;

-- Accepted: a whole number in range (60.0 is whole), a known privacy mode.
SELECT answer ->> 'success' AS registered
  FROM api.register_site(:'tenant', 'settings.example', 'Settings',
                         p_settings := '{"rate_limit_per_minute": 2, "privacy_signals": "drop"}') AS answer;
SELECT api.register_site(:'tenant', 'whole.example', 'Whole', p_settings := '{"rate_limit_per_minute": 60.0}') ->> 'success' AS whole_number;
SELECT api.create_api_key(:'tenant', 'settings.example', 'k', p_rate_limit_per_minute := 0);
SELECT api.create_api_key(:'tenant', 'settings.example', 'k', p_rate_limit_per_minute := 1000001);
SELECT pg_temp.sites() AS after_keys_refused;
SELECT api.create_api_key(:'tenant', 'settings.example', 'k') ->> 'api_key' AS settings_key \gset

-- The site's valid limit of 2 applies: the third call from one address is refused.
SELECT n, answer ->> 'success' AS success, answer ->> 'error_code' AS error_code
  FROM generate_series(1, 3) AS n,
       LATERAL api.track_page_view(:'settings_key', 'settings.example', '/limited/' || n, :ua, '198.51.100.1') AS answer;

-- Stored values that registering would refuse (written by hand, or before the checks existed):
-- the bad limit counts as not set (the default of 120 per minute applies, so all three calls
-- from a new address pass), and the valid privacy mode still drops a DNT call.
UPDATE business.site_details_s
   SET settings = '{"rate_limit_per_minute": "fast", "privacy_signals": "drop"}'
 WHERE tenant_hk = :'tenant' AND load_end_date IS NULL;
SELECT n, answer ->> 'success' AS success, answer ->> 'status' AS status
  FROM generate_series(1, 3) AS n,
       LATERAL api.track_page_view(:'settings_key', 'settings.example', '/bad-limit/' || n, :ua, '198.51.100.2') AS answer;
SELECT answer ->> 'dropped' AS dropped_by_the_valid_setting
  FROM api.track_page_view(:'settings_key', 'settings.example', '/', :ua, '198.51.100.2', p_do_not_track := true) AS answer;
-- Other bad shapes, through both tracking paths (a key's call and the platform's keyless call).
UPDATE business.site_details_s SET settings = '{"rate_limit_per_minute": 1.5, "privacy_signals": 7}'
 WHERE tenant_hk = :'tenant' AND load_end_date IS NULL;
SELECT answer ->> 'status' AS fractional_limit
  FROM api.track_page_view(:'settings_key', 'settings.example', '/fraction', :ua, '198.51.100.3') AS answer;
UPDATE business.site_details_s SET settings = '{"rate_limit_per_minute": 0}'
 WHERE tenant_hk = :'tenant' AND load_end_date IS NULL;
SELECT answer ->> 'status' AS zero_limit
  FROM api.track_page_view(:'settings_key', 'settings.example', '/zero', :ua, '198.51.100.4') AS answer;
SELECT answer ->> 'success' AS keyless_call_with_zero_limit
  FROM api.track_site_event('198.51.100.5', :ua, 'https://settings.example/keyless') AS answer;
UPDATE business.site_details_s SET settings = '"not an object"'
 WHERE tenant_hk = :'tenant' AND load_end_date IS NULL;
SELECT answer ->> 'status' AS settings_not_an_object
  FROM api.track_page_view(:'settings_key', 'settings.example', '/scalar', :ua, '198.51.100.6') AS answer;
-- A key limit outside the range (written by hand) counts as not set too.
UPDATE business.api_key_details_s SET rate_limit_per_minute = -1
 WHERE tenant_hk = :'tenant' AND load_end_date IS NULL;
SELECT answer ->> 'status' AS negative_key_limit
  FROM api.track_page_view(:'settings_key', 'settings.example', '/negative-key', :ua, '198.51.100.7') AS answer;
