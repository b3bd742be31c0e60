-- demo/refused_calls.sql: calls the tracking API refuses: keys that were never issued, a key used
-- on a site it is not bound to, and a key revoked between two calls (the first is accepted).
-- psql variables: tenant_bk, site, api_key_prefix, old_key_prefix, and the plaintext keys
-- api_key, other_key, old_key (passed to the server as session settings, so that the statements
-- do not contain them).
\pset footer off
SELECT set_config('demo.api_key', :'api_key', false), set_config('demo.other_key', :'other_key', false),
       set_config('demo.old_key', :'old_key', false) \g /dev/null
SELECT user_agent AS firefox FROM demo.devices WHERE device = 3 \gset
SELECT user_agent AS iphone FROM demo.devices WHERE device = 7 \gset
-- Each statement on its own (autocommit): one call, one transaction.
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('wrong key: never issued', 1, '203.0.113.250', 'INVALID_API_KEY',
        api.track_page_view('ovt_00000000_' || repeat('0', 64), :'site', '/pricing', :'firefox', '203.0.113.250'));
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('wrong key: right prefix, wrong secret', 1, '203.0.113.250', 'INVALID_API_KEY',
        api.track_page_view(:'api_key_prefix' || '_' || repeat('f', 64), :'site', '/pricing', :'firefox', '203.0.113.250'));
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('wrong key: empty', 1, '2001:db8:bad:1::66', 'INVALID_API_KEY',
        api.track_page_view('', :'site', '/', :'iphone', '2001:db8:bad:1::66'));
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('domain mismatch: other.example key', 1, '192.0.2.201', 'DOMAIN_MISMATCH',
        api.track_page_view(current_setting('demo.other_key'), :'site', '/pricing', :'firefox', '192.0.2.201',
                            p_event_id => 'other-site-0001'));
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('domain mismatch: other.example key', 2, '192.0.2.201', 'DOMAIN_MISMATCH',
        api.track_custom_event(current_setting('demo.other_key'), :'site', 'signup_click', '{"button": "hero"}',
                               '/pricing', :'firefox', '192.0.2.201', p_event_id => 'other-site-0002'));
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('revoked key: old WordPress plugin', 1, '198.51.100.77', 'success',
        api.track_page_view(current_setting('demo.old_key'), :'site', '/blog/privacy-first-analytics', :'iphone',
                            '198.51.100.77', 'https://news.ycombinator.com/', 'Analytics without cookies | Example Blog',
                            p_event_id => 'wp-plugin-0001'));
INSERT INTO demo.admin_calls (action, subject, answer)
VALUES ('api.revoke_api_key', 'old WordPress plugin', api.revoke_api_key(util.hash_binary(:'tenant_bk'), :'old_key_prefix'));
INSERT INTO demo.api_calls (story, seq, client_ip, expected, answer)
VALUES ('revoked key: old WordPress plugin', 2, '198.51.100.77', 'API_KEY_REVOKED',
        api.track_page_view(current_setting('demo.old_key'), :'site', '/docs/getting-started', :'iphone',
                            '198.51.100.77', 'https://example.com/blog/privacy-first-analytics',
                            'Getting started | Example Docs', p_event_id => 'wp-plugin-0002'));
SELECT story || ' #' || seq AS call, coalesce(answer ->> 'error_code', 'success') AS answer,
       coalesce(answer ->> 'key_prefix', '') AS answered_key_prefix,
       coalesce(answer ->> 'message', answer ->> 'status') AS message
  FROM demo.api_calls
 WHERE story NOT IN ('browser traffic', 'rate-limit burst')
 ORDER BY call_no;
SELECT format('(api.revoke_api_key revoked %s at %s, between the two calls of that key.)',
              answer ->> 'key_prefix', answer ->> 'revoked_at') AS revoked
  FROM demo.admin_calls WHERE action = 'api.revoke_api_key' \gset
\echo :revoked
