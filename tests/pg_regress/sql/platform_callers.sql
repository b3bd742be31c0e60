-- The One Vault platform's own callers (README, "The platform's callers"): its API app calls
-- api.track_site_event with untyped literals (psycopg2) and its browser code by parameter
-- name; then staging.auto_process_if_needed(), staging.get_pipeline_status(),
-- staging.pipeline_dashboard and staging.trigger_pipeline_now(). Payloads are the platform
-- trackers' dialect. Counted on this test's own tenants.
SELECT util.hash_binary('Platform Spa_2025-06-21 11:11:44.562053-07') AS spa \gset
SELECT util.hash_binary('Other Shop_2025-06-22 09:00:00.000000-07') AS shop \gset
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source)
VALUES (:'spa', 'Platform Spa_2025-06-21 11:11:44.562053-07', 'regress'),
       (:'shop', 'Other Shop_2025-06-22 09:00:00.000000-07', 'regress');
SELECT api.register_site(:'spa', 'platformspa.example', 'Platform Spa', ARRAY['localhost'],
                         p_settings := '{"rate_limit_per_minute": 1000}') ->> 'success' AS spa_site;
SELECT api.register_site(:'shop', 'othershop.example', 'Other Shop', ARRAY['shop.othershop.example']) ->> 'success' AS shop_site;

-- What was written: raw rows per tenant, and TRACKING_ATTEMPT audit records per outcome code.
CREATE FUNCTION pg_temp.writes() RETURNS text LANGUAGE sql AS $$
    SELECT format('raw spa=%s shop=%s all=%s; attempts %s',
        (SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk = util.hash_binary('Platform Spa_2025-06-21 11:11:44.562053-07')),
        (SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk = util.hash_binary('Other Shop_2025-06-22 09:00:00.000000-07')),
        (SELECT count(*) FROM raw.site_tracking_events_r),
        (SELECT coalesce(string_agg(code || '=' || n, ' ' ORDER BY code), '-')
           FROM (SELECT coalesce(d.new_data ->> 'error_code', 'accepted') AS code, count(*) AS n
                   FROM audit.audit_detail_s AS d JOIN audit.audit_event_h AS a USING (audit_event_hk)
                  WHERE d.operation = 'TRACKING_ATTEMPT'
                    AND (a.tenant_hk IN (util.hash_binary('Platform Spa_2025-06-21 11:11:44.562053-07'),
                                         util.hash_binary('Other Shop_2025-06-22 09:00:00.000000-07'))
                         OR d.new_data ? 'page_host')
                  GROUP BY 1) AS c))
$$;
SELECT pg_temp.writes() AS before;

-- psycopg2 sends untyped literals: the call resolves without casts. The app reads success,
-- message and event_id.
SELECT answer ->> 'success' AS success, answer ->> 'message' AS message,
       (answer ->> 'event_id')::bigint = (answer ->> 'raw_event_id')::bigint AS event_id_is_raw_event,
       answer ->> 'status' AS status, answer ->> 'session_id' AS session_id
  FROM (SELECT api.track_site_event('203.0.113.10', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36',
                                    'https://www.platformspa.example/services?utm_source=newsletter', 'page_view',
                                    '{"session_id": "sess_456", "user_id": "u123", "page_title": "Services"}') AS answer) AS call;
-- By parameter name, as the platform's HTTP RPC layer calls it; the defaults apply.
SELECT answer ->> 'success' AS success, answer ->> 'status' AS status
  FROM (SELECT api.track_site_event(p_ip_address := '203.0.113.11', p_user_agent := 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0',
                                    p_page_url := 'https://platformspa.example/') AS answer) AS call;
-- The tracker dialect: an event type other than page_view is a custom event named by it; the
-- nested event_data is lifted; a timestamp without offset is UTC, with a warning; client-claimed
-- device and browser are dropped (we derive them).
SELECT json_build_object('evt_category', 'general', 'evt_action', 'scroll', 'page_title', 'Harvest Glow',
                         'page_referrer', 'https://www.google.com/', 'device_type', 'tablet', 'browser_name', 'chrome',
                         'viewport_width', 982, 'viewport_height', 735,
                         'event_timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS')) AS engagement \gset
SELECT api.track_site_event('203.0.113.12', 'Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
       'http://localhost:5173/harvest-glow', 'content_engagement', :'engagement') ->> 'status' AS engagement;
SELECT s.event_type, s.event_name, s.page_host, s.page_title, s.referrer_host, s.channel, s.device_type, s.browser_name,
       s.properties, s.timestamp_from_client,
       (SELECT string_agg(w ->> 'code', ', ' ORDER BY w ->> 'code') FROM jsonb_array_elements(s.validation_warnings) AS w) AS warnings
  FROM staging.site_tracking_events_s AS s JOIN raw.site_tracking_events_r AS r USING (raw_event_id)
 WHERE r.tenant_hk = :'spa' AND s.event_name = 'content_engagement';
-- The raw payload is kept exactly as sent.
SELECT r.raw_payload ->> 'event_type' AS raw_event_type, r.raw_payload -> 'event_data' ->> 'device_type' AS raw_device_type,
       r.raw_payload -> 'event_data' ? 'evt_category' AS raw_keeps_evt_category
  FROM raw.site_tracking_events_r AS r JOIN staging.site_tracking_events_s AS s USING (raw_event_id)
 WHERE r.tenant_hk = :'spa' AND s.event_name = 'content_engagement';

-- Tenant and site come from the page's host and the sites' allowed domains, never the oldest
-- tenant: the shop's subdomain lands on the shop.
SELECT api.track_site_event('198.51.100.7', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0',
                            'https://shop.othershop.example/cart', 'transaction_step', '{"evt_value": 42}') ->> 'status' AS shop_event;
SELECT r.tenant_hk = :'shop' AS filed_under_shop, s.event_name, s.properties
  FROM raw.site_tracking_events_r AS r JOIN staging.site_tracking_events_s AS s USING (raw_event_id)
 WHERE s.event_name = 'transaction_step';
-- ... and the attempt's audit record is the shop's too.
SELECT a.tenant_hk = :'shop' AS audited_under_shop
  FROM audit.audit_detail_s AS d JOIN audit.audit_event_h AS a USING (audit_event_hk)
 WHERE d.operation = 'TRACKING_ATTEMPT' AND d.new_data ->> 'outcome' = 'accepted'
 ORDER BY d.load_date DESC LIMIT 1;
SELECT pg_temp.writes() AS after_accepted;

-- An unregistered host: a stable code, nothing stored, audited, counted by the rate limiter.
SELECT api.track_site_event('198.51.100.8', 'curl/8.0', 'https://unregistered.example/x', 'page_view', '{}') AS unregistered;
SELECT count(*) AS unattributed_buckets, max(s.request_count) AS requests
  FROM auth.security_tracking_h AS h JOIN auth.ip_tracking_s AS s USING (security_tracking_hk)
 WHERE h.security_tracking_bk = 'unattributed-ip:198.51.100.8';
-- A host two sites claim is refused, not guessed.
SELECT api.register_site(:'shop', 'shared.example', 'Shared A') ->> 'success' AS shared_a;
SELECT api.register_site(:'spa', 'platformspa.example', 'Platform Spa', ARRAY['localhost', 'shared.example'],
                         p_settings := '{"rate_limit_per_minute": 1000}') ->> 'success' AS shared_b;
SELECT api.track_site_event('198.51.100.9', 'curl/8.0', 'https://shared.example/', 'page_view', '{}') ->> 'error_code' AS ambiguous;
SELECT pg_temp.writes() AS after_refused;

-- Bad input: clear answers, nothing stored, the backend survives. The refused calls come from
-- three clients: each is the first refused attempt of its client, so each is audited (a second
-- one from a client in the same window would be counted, not audited).
SELECT api.track_site_event('198.51.100.10', 'curl/8.0', 'not a url', 'page_view', '{}') ->> 'error_code' AS not_a_url;
SELECT api.track_site_event('198.51.100.11', 'curl/8.0', 'file:///C:/Users/test/simple-tracking-test.html', 'page_view', '{}') ->> 'error_code' AS file_page;
SELECT api.track_site_event('198.51.100.12', 'curl/8.0', 'https://platformspa.example/' || repeat('a', 3000), 'page_view', '{}') -> 'errors' -> 0 ->> 'code' AS long_url;
SELECT answer ->> 'error_code' AS ten_mb, answer -> 'errors' -> 0 ->> 'code' AS reason
  FROM (SELECT api.track_site_event('198.51.100.10', 'curl/8.0', 'https://platformspa.example/big', 'page_view',
                                    jsonb_build_object('blob', repeat('x', 10 * 1024 * 1024))) AS answer) AS call;
SELECT answer ->> 'error_code' AS all_null, answer -> 'errors' -> 0 ->> 'field' AS field
  FROM (SELECT api.track_site_event(NULL, NULL, NULL, NULL, NULL) AS answer) AS call;
SELECT api.track_site_event(NULL, NULL, 'https://platformspa.example/nulls', NULL, NULL) ->> 'status' AS only_url;
SELECT api.track_site_event('198.51.100.10', 'curl/8.0', 'https://platformspa.example/array', 'page_view', '[1, 2]') -> 'errors' -> 0 ->> 'code' AS event_data_not_object;
SELECT pg_temp.writes() AS after_bad_input;

-- The automation layer, on our tables.
SELECT staging.auto_process_if_needed() AS nothing_to_do;
SELECT raw.ingest_tracking_event(:'spa', NULL, '203.0.113.20', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0',
       '{"evt_type": "click", "page_url": "https://platformspa.example/book", "click_x": 10, "click_y": 20}') IS NOT NULL AS landed_pending;
SELECT staging.auto_process_if_needed() AS processed;
SELECT staging.trigger_pipeline_now() -> 'results' ->> 'raw_to_staging' AS triggered_raw_to_staging;
SELECT status_type, metric_name, metric_value IS NOT NULL AS has_value FROM staging.get_pipeline_status();
SELECT staging_status, business_status, event_type, event_name
  FROM staging.pipeline_dashboard WHERE tenant_hk = :'spa' ORDER BY raw_load_date DESC LIMIT 3;
SELECT count(*) FILTER (WHERE staging_status = 'PROCESSED') > 0 AS counted_as_processed,
       count(*) FILTER (WHERE business_status = '✅ Complete Pipeline') > 0 AS counted_as_complete
  FROM staging.pipeline_dashboard;

-- Who may call what: the ingestion role tracks, the admin role runs the pipeline, the reader
-- sees only its tenant's rows of the dashboard.
CREATE ROLE platform_app_ingest LOGIN IN ROLE onevault_tracking_ingest;
CREATE ROLE platform_app_admin LOGIN IN ROLE onevault_tracking_admin;
CREATE ROLE platform_app_reader LOGIN IN ROLE onevault_tracking_reader;
SET SESSION AUTHORIZATION platform_app_ingest;
SELECT api.track_site_event('203.0.113.30', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', 'https://platformspa.example/as-ingest', 'page_view', '{}') ->> 'success' AS ingest_tracks;
\set VERBOSITY terse
SELECT staging.auto_process_if_needed();
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION platform_app_admin;
SELECT staging.auto_process_if_needed() IS NOT NULL AS admin_processes;
SELECT count(*) > 0 AS admin_sees_status FROM staging.get_pipeline_status();
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION platform_app_reader;
SELECT count(*) AS reader_rows_without_tenant FROM staging.pipeline_dashboard;
SELECT set_config('onevault_tracking.tenant_id', encode(:'shop'::bytea, 'hex'), false) IS NOT NULL AS tenant_set;
SELECT count(*) > 0 AS reader_sees_own, bool_and(tenant_hk = :'shop') AS only_own FROM staging.pipeline_dashboard;
SELECT staging.trigger_pipeline_now();
RESET SESSION AUTHORIZATION;
\set VERBOSITY default
RESET onevault_tracking.tenant_id;
DROP ROLE platform_app_ingest, platform_app_admin, platform_app_reader;
