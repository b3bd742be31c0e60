-- The staging layer's SQL contract. The drains here only stage: the vault load they do by
-- default (onevault_tracking.process_loads_vault) is the business vault's to test, and the
-- events of this file's second tenant must not become sites that later files meet.
SET onevault_tracking.process_loads_vault = off;

-- validate_event_data: a clean page view, then one payload breaking many rules at once.
SELECT staging.validate_event_data(
    '{"event_type": "page_view", "page_url": "https://example.com/pricing", "page_title": "Pricing",
      "timestamp": "2000-01-01T00:00:00Z"}'::jsonb - 'timestamp') AS clean_page_view;
SELECT e ->> 'field' AS field, e ->> 'code' AS code
  FROM jsonb_array_elements(staging.validate_event_data(jsonb_build_object(
         'eventType', 'page_view',
         'page_url', 'ftp://example.com/file',
         'referrer', 'not a url',
         'properties', jsonb_build_object('plan', 'pro', 'nested', '{"a": 1}'::jsonb),
         'timestamp', 'yesterday',
         'session_id', 'has spaces',
         'screen_width', 0)) -> 'errors') AS e
 ORDER BY 1, 2;
SELECT staging.validate_event_data('{"event_type": "custom"}') - 'errors' AS custom_without_name;
SELECT staging.validate_event_data('[]') ->> 'valid' AS array_is_valid;

-- enrich_event_data: browser, OS, device, campaign, channel, the anonymised IP and a visitor hash.
SELECT e - 'visitor_hash' AS enrichment, length(e ->> 'visitor_hash') AS visitor_hash_hex_length
  FROM staging.enrich_event_data(
         '{"event_type": "page_view",
           "page_url": "https://shop.example.com/caf%C3%A9/?utm_source=news+letter&utm_campaign=spring%20sale&utm_term=100%zz&msclkid=m1&ref=x",
           "referrer": "https://www.bing.com/search?q=cafe"}',
         'Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
         '2001:db8:85a3:8d3:1319:8a2e:370:7348') AS e;
SELECT e ->> 'browser_name' AS browser, e ->> 'device_type' AS device, e ->> 'is_bot' AS bot
  FROM unnest(ARRAY[
         'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
         'curl/8.4.0',
         'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36',
         'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36']) AS ua,
       staging.enrich_event_data('{"event_type": "page_view", "page_path": "/"}', ua, NULL) AS e;

-- Processing: valid events are staged, an invalid one is quarantined with its reasons, and
-- nothing is left pending.
SELECT util.hash_binary('Acme Corp_2025-06-21') AS acme \gset
SELECT raw.batch_ingest_tracking_events(:'acme', NULL, '203.0.113.9',
       'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
       '[{"event_type": "page_view", "page_url": "https://example.com/", "page_title": "Home"},
         {"event_type": "custom", "event_name": "signup", "page_url": "https://example.com/join",
          "properties": {"plan": "pro", "seats": 3}},
         {"event_type": "page_view", "page_url": "javascript:alert(1)"}]') ->> 'accepted' AS accepted;
SELECT staging.process_pending_events(100) AS drained;
SELECT s.validation_status, s.event_type, s.event_name, s.page_path, s.channel, s.browser_name,
       s.device_type, s.properties, s.validation_errors -> 0 ->> 'code' AS first_error,
       s.session_id IS NOT NULL AS has_session
  FROM staging.site_tracking_events_s s JOIN raw.site_tracking_events_r r USING (raw_event_id)
 WHERE r.batch_id IS NOT NULL AND r.user_agent LIKE '%Chrome/120%'
 ORDER BY s.raw_event_id;
SELECT processing_status, count(*) FROM raw.site_tracking_events_r GROUP BY 1 ORDER BY 1;
SELECT total_events, pending_events, processed_events, quarantined_events, retrying_events, failed_events, error_rate
  FROM raw.get_ingestion_stats(:'acme');

-- Bad arguments.
\set VERBOSITY default
SELECT staging.process_pending_events(0);
SELECT staging.process_raw_event(NULL);
SELECT staging.reprocess_quarantined_events(NULL);
