-- bench/pgbench/insert_raw.sql: A, a bare single-row INSERT of a raw-shaped row with the payload
-- of a tracking call of B (after bench/pgbench/variables.sql). run.sh fills in the placeholders
-- @...@: the workload's lists (SQL array literals, constants of the prepared statement) and the
-- expression of the call's client address (the same as B's and C's).
INSERT INTO bench.raw_like (tenant_hk, api_key_hk, client_ip, user_agent, visitor_hash, raw_payload,
                            client_event_id, record_source)
VALUES (:tenant_hk, :api_key_hk, set_masklen(network(set_masklen(@CLIENT_IP@, 24)), 32), (@USER_AGENTS@)[:ua],
        :visitor_hash,
        jsonb_strip_nulls(jsonb_build_object(
            'event_type', 'page_view', 'page_url', 'https://' || :site || '/p/' || :page || (@CAMPAIGNS@)[:campaign],
            'referrer', nullif((@REFERRERS@)[:ref], ''), 'page_title', 'Page ' || :page,
            'session_id', CASE WHEN :with_session = 1 THEN 'sess-' || :run || '-' || :sess END,
            'event_id', 'ev-' || :client_id || '-' || :ev, 'timestamp', to_jsonb(now()),
            'properties', CASE WHEN :page % 5 = 0 THEN '{"plan": "pro", "experiment": "b"}'::jsonb END)),
        'ev-' || :client_id || '-' || :ev, 'web_application');
