-- Privacy: Do-Not-Track / Global Privacy Control per site, retention purge, erasure of a
-- visitor or a session (README, "Security and privacy").
SELECT util.hash_binary('Privacy Corp_2025-01-01') AS tenant \gset
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source) VALUES (:'tenant', 'Privacy Corp_2025-01-01', 'regress');
SELECT api.register_site(:'tenant', 'ignore.example', 'Ignores signals') ->> 'success' AS ignore_site;
SELECT api.register_site(:'tenant', 'anon.example', 'Anonymises', p_settings := '{"privacy_signals": "anonymize"}') ->> 'success' AS anon_site;
SELECT api.register_site(:'tenant', 'drop.example', 'Drops', p_settings := '{"privacy_signals": "drop"}') ->> 'success' AS drop_site;
SELECT api.create_api_key(:'tenant', 'ignore.example', 'k') ->> 'api_key' AS ignore_key \gset
SELECT api.create_api_key(:'tenant', 'anon.example', 'k') ->> 'api_key' AS anon_key \gset
SELECT api.create_api_key(:'tenant', 'drop.example', 'k') ->> 'api_key' AS drop_key \gset
\set ua '''Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'''

-- Daily salt rotation. This session has not read a salt yet: plant yesterday's and two old
-- ones; the first hash of the day creates today's salt and destroys every salt older than
-- yesterday, after which hashes of those days can never be linked to an IP again.
DELETE FROM onevault_tracking.visitor_salts;
INSERT INTO onevault_tracking.visitor_salts (salt_date, salt)
SELECT (now() AT TIME ZONE 'UTC')::date - age, decode(repeat(to_hex(age * 17), 32), 'hex')
  FROM (VALUES (1), (2), (5)) AS a (age);
\set salt_event '{"event_type": "page_view", "page_url": "https://ignore.example/salt"}'
SELECT raw.ingest_tracking_event(:'tenant', NULL, '192.0.2.77', :ua, :'salt_event') AS salt_1 \gset
SELECT raw.ingest_tracking_event(:'tenant', NULL, '192.0.2.77', :ua, :'salt_event') AS salt_2 \gset
SELECT array_agg((now() AT TIME ZONE 'UTC')::date - salt_date ORDER BY salt_date) AS salt_ages_in_days,
       count(DISTINCT salt) AS distinct_salts
  FROM onevault_tracking.visitor_salts;
SELECT a.visitor_hash = b.visitor_hash AS same_visitor_same_day,
       a.visitor_hash_previous IS NOT NULL AND a.visitor_hash_previous <> a.visitor_hash AS previous_day_hash_kept
  FROM raw.site_tracking_events_r a, raw.site_tracking_events_r b
 WHERE a.raw_event_id = :salt_1 AND b.raw_event_id = :salt_2;
-- The next day (a new session; the salts moved one day back): a new salt, a new hash, and the
-- previous hash is the one of the day before, so a visit across midnight stays one visitor.
UPDATE onevault_tracking.visitor_salts SET salt_date = salt_date - 1;
\c
SELECT raw.ingest_tracking_event(:'tenant', NULL, '192.0.2.77', :ua, :'salt_event') AS salt_3 \gset
SELECT array_agg((now() AT TIME ZONE 'UTC')::date - salt_date ORDER BY salt_date) AS salt_ages_in_days
  FROM onevault_tracking.visitor_salts;
SELECT c.visitor_hash <> a.visitor_hash AS hash_rotated, c.visitor_hash_previous = a.visitor_hash AS linked_to_yesterday
  FROM raw.site_tracking_events_r a, raw.site_tracking_events_r c
 WHERE a.raw_event_id = :salt_1 AND c.raw_event_id = :salt_3;
DELETE FROM staging.site_tracking_events_s WHERE raw_event_id IN (:salt_1, :salt_2, :salt_3);
DELETE FROM raw.site_tracking_events_r WHERE raw_event_id IN (:salt_1, :salt_2, :salt_3);

-- An unknown mode is refused.
\set VERBOSITY terse
SELECT api.register_site(:'tenant', 'bad.example', 'Bad', p_settings := '{"privacy_signals": "sometimes"}');
\set VERBOSITY default

-- ignore: the signal changes nothing.
SELECT answer ->> 'status' AS ignored
  FROM api.track_page_view(:'ignore_key', 'ignore.example', '/', :ua, '203.0.113.7',
                           p_session_id := 'client-session-1', p_do_not_track := true) AS answer;
-- anonymize: counted, without IP, visitor hash or client session.
SELECT answer ->> 'status' AS anonymized, answer ->> 'session_id' AS session_in_answer
  FROM api.track_page_view(:'anon_key', 'anon.example', '/private', :ua, '203.0.113.7',
                           p_session_id := 'client-session-2', p_do_not_track := true) AS answer;
SELECT r.client_ip, r.visitor_hash IS NULL AS no_visitor, s.session_id, s.browser_name,
       d.visitor_hash IS NULL AS vault_no_visitor, l.session_hk IS NULL AS vault_no_session
  FROM raw.site_tracking_events_r r
  JOIN staging.site_tracking_events_s s USING (raw_event_id)
  JOIN business.tracking_event_l l ON l.tracking_event_bk = r.raw_event_id::text
  JOIN business.tracking_event_details_s d USING (tracking_event_hk)
 WHERE r.raw_payload ->> 'page_url' = 'https://anon.example/private';
-- Without a signal the same site tracks normally.
SELECT answer ->> 'status' AS anon_site_without_signal
  FROM api.track_page_view(:'anon_key', 'anon.example', '/open', :ua, '203.0.113.7') AS answer;
SELECT visitor_hash IS NOT NULL AS has_visitor, client_ip
  FROM raw.site_tracking_events_r WHERE raw_payload ->> 'page_url' = 'https://anon.example/open';
-- drop: success, nothing stored, the reason in the answer; GPC wins over DNT as the reason.
SELECT api.track_page_view(:'drop_key', 'drop.example', '/', :ua, '203.0.113.7', p_do_not_track := true) AS dropped_dnt;
SELECT api.track_custom_event(:'drop_key', 'drop.example', 'signup', '{}', '/', :ua, '203.0.113.7',
                              p_do_not_track := true, p_global_privacy_control := true) - 'message' AS dropped_gpc;
SELECT count(*) AS drop_site_raw_rows FROM raw.site_tracking_events_r WHERE raw_payload ->> 'page_url' LIKE 'https://drop.example%';
SELECT d.new_data ->> 'outcome' AS outcome, d.new_data ->> 'error_code' AS reason,
       d.new_data ->> 'client_network' AS client_network, h.tenant_hk = :'tenant' AS on_tenant
  FROM audit.audit_detail_s d JOIN audit.audit_event_h h USING (audit_event_hk)
 WHERE d.new_data ->> 'outcome' = 'dropped' ORDER BY 2;

-- Retention. Age some processed events and a pending one past 30 days, and a rate-limit window
-- past 24 hours.
SELECT api.track_page_view(:'ignore_key', 'ignore.example', '/old-' || i, :ua, ('198.51.100.' || i)::inet) ->> 'status' AS old_events
  FROM generate_series(1, 3) AS i;
SELECT raw.ingest_tracking_event(:'tenant', NULL, NULL, NULL,
       '{"event_type": "page_view", "page_url": "https://ignore.example/pending"}') > 0 AS pending_landed;
UPDATE raw.site_tracking_events_r SET received_at = received_at - interval '40 days'
 WHERE raw_payload ->> 'page_url' ~ '/(old-|pending)';
UPDATE auth.ip_tracking_s SET first_request_time = first_request_time - interval '2 days',
                              last_request_time = last_request_time - interval '2 days'
 WHERE ip_address = '198.51.100.1';
SELECT (SELECT count(*) FROM business.tracking_event_l WHERE tenant_hk = :'tenant') AS vault_events_before;
SELECT api.purge_expired_data() - 'tenants' AS purged;
SELECT (SELECT count(*) FROM raw.site_tracking_events_r WHERE raw_payload ->> 'page_url' ~ '/old-') AS old_raw_left,
       (SELECT processing_status FROM raw.site_tracking_events_r WHERE raw_payload ->> 'page_url' ~ '/pending') AS pending_kept,
       (SELECT count(*) FROM auth.ip_tracking_s WHERE ip_address = '198.51.100.1') AS old_windows_left,
       (SELECT count(*) FROM auth.security_tracking_h WHERE security_tracking_bk = 'ip:198.51.100.1') AS old_hubs_left,
       (SELECT count(*) FROM auth.ip_tracking_s WHERE ip_address = '198.51.100.2') AS recent_windows_left,
       (SELECT count(*) FROM business.tracking_event_l WHERE tenant_hk = :'tenant') AS vault_events_after;
SELECT d.new_data ->> 'raw_events' AS raw_events, d.new_data ->> 'rate_limit_windows' AS windows, h.tenant_hk = :'tenant' AS on_tenant
  FROM audit.audit_detail_s d JOIN audit.audit_event_h h USING (audit_event_hk) WHERE d.operation = 'DATA_PURGED';
-- A quiet site: nobody computes a hash after the salts below are planted, so no first hash of a
-- day retires them; the purge destroys every salt older than yesterday by itself and keeps
-- today's and yesterday's.
DELETE FROM onevault_tracking.visitor_salts WHERE salt_date < (now() AT TIME ZONE 'UTC')::date;
INSERT INTO onevault_tracking.visitor_salts (salt_date, salt)
SELECT (now() AT TIME ZONE 'UTC')::date - age, decode(repeat(to_hex(age * 19), 32), 'hex')
  FROM (VALUES (1), (2), (3), (9)) AS a (age);
SELECT api.purge_expired_data() ->> 'visitor_salts' AS salts_destroyed;
SELECT array_agg((now() AT TIME ZONE 'UTC')::date - salt_date ORDER BY salt_date DESC) AS salt_ages_left
  FROM onevault_tracking.visitor_salts;
-- Out-of-range retention is refused.
\set VERBOSITY terse
SELECT api.purge_expired_data(0);
SELECT api.purge_expired_data(30, 100000);
\set VERBOSITY default

-- Erasure of a visitor: three page views from one browser (one derived session), one from
-- another browser.
SELECT api.track_page_view(:'ignore_key', 'ignore.example', '/erase-' || i, :ua, '192.0.2.10') ->> 'status' AS subject_events
  FROM generate_series(1, 3) AS i;
SELECT api.track_page_view(:'ignore_key', 'ignore.example', '/keep', :ua, '192.0.2.99') ->> 'status' AS other_visitor;
SELECT visitor_hash AS subject FROM raw.site_tracking_events_r WHERE raw_payload ->> 'page_url' = 'https://ignore.example/erase-1' \gset
SELECT session_id AS subject_session FROM staging.site_tracking_events_s WHERE visitor_hash = :'subject' LIMIT 1 \gset
SELECT api.erase_visitor(:'tenant', :'subject') - 'request_id' AS erased_visitor;
SELECT (SELECT count(*) FROM raw.site_tracking_events_r WHERE visitor_hash = :'subject' OR visitor_hash_previous = :'subject') AS raw_left,
       (SELECT count(*) FROM staging.site_tracking_events_s WHERE visitor_hash = :'subject') AS staging_left,
       (SELECT count(*) FROM business.tracking_event_details_s WHERE visitor_hash = :'subject') AS vault_left,
       (SELECT count(*) FROM business.session_h WHERE session_bk = :'subject_session') AS sessions_left,
       (SELECT count(*) FROM raw.site_tracking_events_r WHERE raw_payload ->> 'page_url' = 'https://ignore.example/keep') AS other_visitor_kept;
-- The audit record counts what went, and does not name the visitor.
SELECT d.new_data -> 'total' AS total, d.new_data ->> 'subject' AS subject,
       position(encode(:'subject', 'hex') IN d.new_data::text) = 0 AS hash_not_audited
  FROM audit.audit_detail_s d WHERE d.operation = 'DATA_ERASED';
-- Erasing again finds nothing.
SELECT api.erase_visitor(:'tenant', :'subject') -> 'total' AS second_erasure;

-- Erasure of a session: a client session id, including an event still pending in raw.
SELECT api.track_page_view(:'ignore_key', 'ignore.example', '/s' || i, :ua, '192.0.2.20', p_session_id := 'erase-me') ->> 'status' AS session_events
  FROM generate_series(1, 2) AS i;
SELECT raw.ingest_tracking_event(:'tenant', NULL, NULL, NULL,
       '{"event_type": "page_view", "page_url": "https://ignore.example/s3", "session_id": "erase-me"}') > 0 AS pending_in_session;
SELECT api.erase_session(:'tenant', 'erase-me') - 'request_id' AS erased_session;
SELECT (SELECT count(*) FROM raw.site_tracking_events_r WHERE raw_payload ->> 'session_id' = 'erase-me') AS raw_left,
       (SELECT count(*) FROM staging.site_tracking_events_s WHERE session_id = 'erase-me') AS staging_left,
       (SELECT count(*) FROM business.session_h WHERE session_bk = 'erase-me') AS session_left;

-- Bad arguments are errors, and erase nothing.
\set VERBOSITY terse
SELECT api.erase_visitor(NULL, :'subject');
SELECT api.erase_visitor(:'tenant', '\x0102');
SELECT api.erase_visitor(util.hash_binary('no such tenant'), :'subject');
SELECT api.erase_session(:'tenant', '');
\set VERBOSITY default
SELECT count(*) AS kept_after_bad_calls FROM raw.site_tracking_events_r WHERE raw_payload ->> 'page_url' = 'https://ignore.example/keep';
