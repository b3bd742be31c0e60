-- Tracked data in every table of the extension: a tenant with a site, a key, a reader binding,
-- 20 page views through the API (raw, staging and vault), a custom event, a quarantined event
-- and two pending batch events. Used by the dump-and-restore, upgrade and DROP tests.
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source)
VALUES (util.hash_binary('Lifecycle Spa_2025-06-21 11:11:44.562053-07'), 'Lifecycle Spa_2025-06-21 11:11:44.562053-07', 'lifecycle');
SELECT util.hash_binary('Lifecycle Spa_2025-06-21 11:11:44.562053-07') AS tenant \gset
SELECT api.register_site(:'tenant', 'lifecycle.example', 'Lifecycle', p_settings := '{"rate_limit_per_minute": 1000}') ->> 'success' AS site;
SELECT api.create_api_key(:'tenant', 'lifecycle.example', 'web', p_rate_limit_per_minute := 1000) ->> 'api_key' AS api_key \gset
INSERT INTO onevault_tracking.reader_tenants (role_name, tenant_hk) VALUES ('lifecycle_reader', :'tenant');
SELECT count(*) FILTER (WHERE answer ->> 'status' = 'PROCESSED') AS page_views
  FROM generate_series(1, 20) AS n,
       LATERAL api.track_page_view(:'api_key', 'lifecycle.example', '/page/' || (n % 4),
                                   'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', ('198.51.100.' || (n % 5))::inet,
                                   p_page_title := 'Page', p_session_id := 'session-' || (n % 3)) AS answer;
SELECT api.track_custom_event(:'api_key', 'lifecycle.example', 'signup', '{"plan": "pro"}', '/signup',
                              'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', '198.51.100.9') ->> 'status' AS custom;
SELECT raw.ingest_tracking_event(:'tenant', NULL, '198.51.100.10', 'curl/8.0',
                                 '{"eventType": "page_view", "page_url": "https://lifecycle.example/bad"}') IS NOT NULL AS bad_landed;
SELECT staging.process_pending_events() ->> 'quarantined' AS quarantined;
SELECT raw.batch_ingest_tracking_events(:'tenant', NULL, '198.51.100.11', 'curl/8.0',
       '[{"event_type": "page_view", "page_url": "https://lifecycle.example/later/1", "event_id": "pending-1"},
         {"event_type": "page_view", "page_url": "https://lifecycle.example/later/2", "event_id": "pending-2"}]') ->> 'accepted' AS pending;
