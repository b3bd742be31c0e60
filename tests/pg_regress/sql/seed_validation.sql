-- The seed's DEPLOYMENT VALIDATION and "After Deployment" checks, on a database with a
-- registered site and key (tests/pg_regress runs this after the raw and staging tests).
SELECT util.hash_binary('Seed Corp_2025-06-21 11:11:44.562053-07') AS seed_tenant \gset
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source)
VALUES (:'seed_tenant', 'Seed Corp_2025-06-21 11:11:44.562053-07', 'regress');
SELECT api.register_site(:'seed_tenant', 'example.com', 'Example') ->> 'success' AS site_registered;
SELECT api.create_api_key(:'seed_tenant', 'example.com', 'seed validation') ->> 'api_key' AS seed_key \gset

-- Check all tables exist (the seed's query, as written).
SELECT schemaname, tablename
FROM pg_tables
WHERE tablename LIKE '%tracking%'
   OR tablename LIKE '%site%'
ORDER BY schemaname, tablename;

-- Test the API functions: the seed's call with its placeholder key is refused cleanly ...
SELECT api.track_page_view(
    p_api_key := 'test-key',
    p_site_domain := 'example.com',
    p_page_path := '/dashboard',
    p_user_agent := 'Test Browser',
    p_client_ip := '192.168.1.100'
) - 'message' AS placeholder_key;

-- ... and with the registered key tracks the page view end to end.
SELECT answer ->> 'success' AS success, answer ->> 'status' AS status, answer ->> 'loaded_to_vault' AS loaded_to_vault
  FROM api.track_page_view(
    p_api_key := :'seed_key',
    p_site_domain := 'example.com',
    p_page_path := '/dashboard',
    p_user_agent := 'Test Browser',
    p_client_ip := '192.168.1.100'
  ) AS answer;

-- Verify audit logging works (the seed's query, reduced to what does not change per run).
SELECT count(*) > 0 AS recent_audit_events,
       bool_and(tenant_hk = :'seed_tenant') FILTER (WHERE audit_event_bk LIKE 'TRACKING_ATTEMPT%') AS attempts_on_the_tenant
  FROM (SELECT * FROM audit.audit_event_h
         WHERE load_date >= CURRENT_TIMESTAMP - INTERVAL '1 hour'
         ORDER BY load_date DESC LIMIT 5) AS recent;

-- After deployment: every API function is callable, a sample event went through every layer,
-- audit events are in audit.audit_event_h, and rate limiting uses auth.ip_tracking_s.
SELECT count(*) AS api_functions
  FROM pg_proc WHERE pronamespace = 'api'::regnamespace
   AND proname IN ('track_page_view', 'track_custom_event', 'check_rate_limit', 'log_tracking_attempt',
                   'register_site', 'create_api_key', 'revoke_api_key');
SELECT (SELECT count(*) FROM raw.site_tracking_events_r r JOIN staging.site_tracking_events_s s USING (raw_event_id)
          WHERE r.tenant_hk = :'seed_tenant' AND s.loaded_to_vault) AS events_through_every_layer,
       (SELECT count(*) FROM business.page_h WHERE tenant_hk = :'seed_tenant') AS page_hubs;
-- The placeholder key's refused attempt is counted too, in a bucket of its own (refused-ip).
SELECT split_part(h.security_tracking_bk, ':', 1) AS bucket, host(s.ip_address) AS rate_limited_ip,
       s.request_count, s.is_blocked
  FROM auth.ip_tracking_s s JOIN auth.security_tracking_h h USING (security_tracking_hk)
 WHERE h.tenant_hk = :'seed_tenant'
 ORDER BY bucket;
SELECT api.log_tracking_attempt(:'seed_tenant', 'manual', NULL, NULL, '192.168.1.100', '{"api_key": "secret", "note": "x"}') AS logged;
SELECT new_data ? 'api_key' AS has_key, new_data ->> 'client_network' AS client_network, new_data ->> 'note' AS note
  FROM audit.audit_detail_s WHERE new_data ->> 'outcome' = 'manual';
