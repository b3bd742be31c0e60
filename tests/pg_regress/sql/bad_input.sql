-- Bad input through the public API: SQL injection in every text parameter, NUL, control
-- characters, invalid UTF-8, 1 MB strings, deeply nested JSON, malformed and IPv6 addresses,
-- and NULL in every parameter one at a time. Each call gets its documented answer or SQLSTATE,
-- the backend survives (the test goes on), and what is written is exactly what the README
-- promises: a refused call (bad key, wrong domain, over the size limit) writes no event, an
-- INVALID_EVENT is kept in quarantine (one raw row, one INVALID staging row, nothing in the
-- vault), an accepted one is in every layer, an ERROR writes nothing, and every answered
-- attempt has one TRACKING_ATTEMPT audit record, but for a refused key: that is counted in the
-- tenant's refused-ip bucket of the client ("refused +1") and audited within the bound (the
-- first refused attempt of the client in a window, and the one crossing the limit), which the
-- end of the test checks.
-- Everything is counted on this test's own tenant, so it can run after the other tests.
SELECT util.hash_binary('Bad Input Corp') AS bad_tenant \gset
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source)
VALUES (:'bad_tenant', 'Bad Input Corp', 'regress');
SELECT api.register_site(:'bad_tenant', 'badinput.example', 'Bad Input') ->> 'success' AS site_registered;
-- A high limit: this test makes many calls from a few addresses in one minute.
CREATE TEMP TABLE bad_key AS
SELECT api.create_api_key(:'bad_tenant', 'badinput.example', 'bad input', p_rate_limit_per_minute := 1000000) ->> 'api_key' AS k;
SELECT k AS bad_key FROM bad_key \gset
-- If any input were executed as SQL, this table would be gone or changed.
CREATE TABLE public.bad_input_canary (id int PRIMARY KEY, note text);
INSERT INTO public.bad_input_canary VALUES (1, 'still here');

-- What a call wrote on the tenant: raw rows, VALID and INVALID (quarantined) staging rows,
-- vault events, TRACKING_ATTEMPT audit records (but the bounded records of refused keys, which
-- depend on the window a call falls into) and the refused keys counted by the rate limiter.
CREATE FUNCTION pg_temp.layer_counts() RETURNS bigint[] LANGUAGE sql AS $$
    SELECT ARRAY[
        (SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk = t.tenant_hk),
        (SELECT count(*) FROM staging.site_tracking_events_s WHERE tenant_hk = t.tenant_hk AND validation_status = 'VALID'),
        (SELECT count(*) FROM staging.site_tracking_events_s WHERE tenant_hk = t.tenant_hk AND validation_status = 'INVALID'),
        (SELECT count(*) FROM business.tracking_event_l WHERE tenant_hk = t.tenant_hk),
        (SELECT count(*) FROM audit.audit_event_h a JOIN audit.audit_detail_s d USING (audit_event_hk)
          WHERE a.tenant_hk = t.tenant_hk AND d.operation = 'TRACKING_ATTEMPT' AND NOT d.new_data ? 'refused_attempts'),
        (SELECT coalesce(sum(s.request_count), 0) FROM auth.ip_tracking_s s JOIN auth.security_tracking_h h USING (security_tracking_hk)
          WHERE h.tenant_hk = t.tenant_hk AND h.security_tracking_bk LIKE 'refused-ip:%')]
      FROM auth.tenant_h AS t WHERE t.tenant_bk = 'Bad Input Corp'
$$;

-- Runs one statement that answers jsonb (or raises), and describes the answer and the writes:
-- "ok STATUS" (or "ok" and the other keys of the answer), "ERROR_CODE codes-of-errors (kept)"
-- ("kept": the answer names the raw event), or "ERROR sqlstate: message"; then the deltas.
CREATE FUNCTION pg_temp.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before bigint[] := pg_temp.layer_counts();
    after bigint[];
    answer jsonb;
    outcome text;
BEGIN
    BEGIN
        EXECUTE statement INTO answer;
        outcome := CASE
            WHEN (answer ->> 'success')::boolean
                THEN 'ok' || coalesce(' ' || (answer ->> 'status'), '')
                     || CASE WHEN answer ? 'status' OR answer - 'success' = '{}' THEN ''
                             ELSE ' ' || (answer - 'success')::text END
            ELSE (answer ->> 'error_code')
                 || coalesce(' ' || (SELECT string_agg(e ->> 'code', ',' ORDER BY e ->> 'code')
                                       FROM jsonb_array_elements(answer -> 'errors') AS e), '')
                 || CASE WHEN answer ? 'raw_event_id' THEN ' (kept)' ELSE '' END
        END;
    EXCEPTION WHEN OTHERS THEN
        outcome := 'ERROR ' || SQLSTATE || ': ' || left(SQLERRM, 120);
    END;
    after := pg_temp.layer_counts();
    RETURN outcome || format(' | raw +%s valid +%s quarantined +%s vault +%s audited +%s',
                             after[1] - before[1], after[2] - before[2], after[3] - before[3],
                             after[4] - before[4], after[5] - before[5])
           || CASE WHEN after[6] <> before[6] THEN format(' refused +%s', after[6] - before[6]) ELSE '' END;
END $$;

-- A track_page_view / track_custom_event call: valid arguments, with some replaced. A JSON
-- null in the overrides passes SQL NULL; other values are passed as quoted literals.
CREATE FUNCTION pg_temp.call(fn text, overrides jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT format('SELECT api.%I(%s)', fn,
                  string_agg(format('%I := %s', key,
                                    CASE WHEN jsonb_typeof(value) = 'null' THEN 'NULL'
                                         ELSE quote_literal(value #>> '{}') END), ', '))
      FROM jsonb_each(CASE fn
               WHEN 'track_page_view' THEN jsonb_build_object(
                   'p_api_key', (SELECT k FROM bad_key), 'p_site_domain', 'badinput.example',
                   'p_page_path', '/ok', 'p_user_agent', 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
                   'p_client_ip', '198.51.100.7', 'p_page_title', 'OK')
               ELSE jsonb_build_object(
                   'p_api_key', (SELECT k FROM bad_key), 'p_site_domain', 'badinput.example',
                   'p_event_name', 'signup', 'p_event_properties', '{"plan": "pro"}',
                   'p_page_path', '/ok', 'p_user_agent', 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
                   'p_client_ip', '198.51.100.7')
           END || overrides)
$$;

-- Baseline: both calls work with the default arguments.
SELECT fn, pg_temp.try(pg_temp.call(fn, '{}')) AS answer
  FROM (VALUES ('track_page_view'), ('track_custom_event')) AS f (fn);

------------------------------------------------------------------------------------------------
-- SQL injection in every text parameter: stored verbatim or refused, never executed.
------------------------------------------------------------------------------------------------
CREATE TEMP TABLE injection (n int, s text);
INSERT INTO injection VALUES
    (1, $s$'; DROP TABLE public.bad_input_canary; --$s$),
    (2, $s$' OR '1'='1$s$),
    (3, $s$$$; DELETE FROM public.bad_input_canary; $$$s$),
    (4, $s$"}, "event_type": "custom", "x": {"$s$),
    (5, $s$\'); UPDATE public.bad_input_canary SET note = 'pwned' --%s%L%I\N$s$);

-- Each string in each text parameter of both calls (5 calls per line, one answer for all five).
WITH answers AS MATERIALIZED (
    SELECT fn, position, param, n, pg_temp.try(pg_temp.call(fn, jsonb_build_object(param, s))) AS answer
      FROM (VALUES ('track_page_view', 1, 'p_api_key'), ('track_page_view', 2, 'p_site_domain'),
                   ('track_page_view', 3, 'p_page_path'), ('track_page_view', 4, 'p_user_agent'),
                   ('track_page_view', 6, 'p_referrer'), ('track_page_view', 7, 'p_page_title'),
                   ('track_page_view', 8, 'p_session_id'), ('track_page_view', 9, 'p_event_id'),
                   ('track_custom_event', 1, 'p_api_key'), ('track_custom_event', 2, 'p_site_domain'),
                   ('track_custom_event', 3, 'p_event_name'), ('track_custom_event', 5, 'p_page_path'),
                   ('track_custom_event', 6, 'p_user_agent'), ('track_custom_event', 8, 'p_referrer'),
                   ('track_custom_event', 9, 'p_page_title'), ('track_custom_event', 10, 'p_session_id'),
                   ('track_custom_event', 11, 'p_event_id')) AS p (fn, position, param)
     CROSS JOIN injection
     ORDER BY fn DESC, position, n)
SELECT fn, param, count(*) AS calls, answer
  FROM answers GROUP BY fn, position, param, answer
 ORDER BY fn DESC, position, answer;
-- In a path: '/' + the string is a path on the site (valid), without '/' it is not.
SELECT n, pg_temp.try(pg_temp.call('track_page_view', jsonb_build_object('p_page_path', '/' || s))) AS answer
  FROM injection ORDER BY n;
-- In property keys and values (JSON built safely from the strings).
SELECT n, pg_temp.try(pg_temp.call('track_custom_event',
                                   jsonb_build_object('p_event_properties', jsonb_build_object('k' || n, s)))) AS in_value,
          pg_temp.try(pg_temp.call('track_custom_event',
                                   jsonb_build_object('p_event_properties', jsonb_build_object(left(s, 64), n)))) AS in_key
  FROM injection ORDER BY n;

-- The canary is intact and the strings were stored as sent.
SELECT id, note FROM public.bad_input_canary;
SELECT count(*) AS canary_tables FROM pg_class WHERE relname = 'bad_input_canary';
SELECT i.n,
       (SELECT count(*) FROM raw.site_tracking_events_r r
         WHERE r.tenant_hk = :'bad_tenant' AND r.raw_payload ->> 'page_title' = i.s) AS raw_titles,
       (SELECT count(*) FROM staging.site_tracking_events_s st
         WHERE st.tenant_hk = :'bad_tenant' AND st.page_title = i.s) AS staged_titles,
       (SELECT count(*) FROM raw.site_tracking_events_r r
         WHERE r.tenant_hk = :'bad_tenant' AND r.user_agent = i.s) AS raw_user_agents,
       (SELECT count(*) FROM staging.site_tracking_events_s st
         WHERE st.tenant_hk = :'bad_tenant' AND st.event_name = i.s) AS staged_event_names,
       (SELECT count(*) FROM staging.site_tracking_events_s st
         WHERE st.tenant_hk = :'bad_tenant' AND st.properties ->> ('k' || i.n) = i.s) AS staged_property_values,
       (SELECT count(*) FROM staging.site_tracking_events_s st
         WHERE st.tenant_hk = :'bad_tenant' AND st.properties ? left(i.s, 64)) AS staged_property_keys,
       (SELECT count(*) FROM raw.site_tracking_events_r r
         WHERE r.tenant_hk = :'bad_tenant' AND r.raw_payload ->> 'session_id' = i.s) AS raw_session_ids
  FROM injection AS i ORDER BY i.n;
-- The invalid event ids were not used as idempotency keys (the column only holds valid ones).
SELECT count(*) AS injected_event_ids_as_keys
  FROM raw.site_tracking_events_r r JOIN injection i ON r.client_event_id = i.s;

------------------------------------------------------------------------------------------------
-- NUL: PostgreSQL text and jsonb cannot hold U+0000, so every way of producing one fails
-- before the API is called; the text '\u0000' or '\x00' (backslash and letters) is just text.
------------------------------------------------------------------------------------------------
\set VERBOSITY terse
SELECT api.track_page_view(:'bad_key', 'badinput.example', '/nul', 'UA', '198.51.100.7',
                           p_page_title := convert_from('\x41004200'::bytea, 'UTF8'));
SELECT api.track_page_view(:'bad_key', 'badinput.example', '/nul', 'UA', '198.51.100.7',
                           p_page_title := 'A' || chr(0) || 'B');
SELECT api.track_page_view(:'bad_key', 'badinput.example', '/nul', 'UA', '198.51.100.7',
                           p_page_title := E'A\x00B');
SELECT api.track_page_view(:'bad_key', 'badinput.example', '/nul', 'UA', '198.51.100.7',
                           p_page_title := U&'A\0000B');
SELECT api.track_custom_event(:'bad_key', 'badinput.example', 'nul', '{"k": "A\u0000B"}', '/nul', 'UA', '198.51.100.7');
SELECT raw.ingest_tracking_event(:'bad_tenant', NULL, NULL, NULL, '{"event_type": "page_view", "page_title": "\u0000"}');
\set VERBOSITY default
SELECT pg_temp.try(pg_temp.call('track_page_view', jsonb_build_object('p_page_title', E'A\\x00B'))) AS backslash_x00_title,
       pg_temp.try(pg_temp.call('track_page_view', jsonb_build_object('p_page_title', E'A\\u0000B'))) AS backslash_u0000_title,
       pg_temp.try(pg_temp.call('track_custom_event', jsonb_build_object('p_event_properties', '{"k": "A\\u0000B"}'::jsonb))) AS escaped_u0000_property;
SELECT page_title FROM staging.site_tracking_events_s
 WHERE tenant_hk = :'bad_tenant' AND page_title LIKE 'A\\%B' ORDER BY page_title;

------------------------------------------------------------------------------------------------
-- Control characters: refused by validation in free-text fields (CONTROL_CHARACTERS, kept in
-- quarantine), an invalid id in ids; a user agent is kept as sent.
------------------------------------------------------------------------------------------------
SELECT fn, param, c, pg_temp.try(pg_temp.call(fn, jsonb_build_object(param, value))) AS answer
  FROM (VALUES ('track_page_view', 'p_page_title', 'U+0001', E'A\x01B'),
               ('track_page_view', 'p_page_title', 'tab', E'A\tB'),
               ('track_page_view', 'p_page_title', 'newline', E'A\nB'),
               ('track_page_view', 'p_page_title', 'U+007F', E'A\x7fB'),
               ('track_page_view', 'p_page_title', 'U+0085', U&'A\0085B'),
               ('track_page_view', 'p_page_title', 'U+2028', U&'A\2028B'),
               ('track_page_view', 'p_page_path', 'U+001B', E'/a\x1bb'),
               ('track_page_view', 'p_page_path', 'CR LF', E'/a\r\nSet-Cookie: x=1'),
               ('track_page_view', 'p_referrer', 'newline', E'https://ref.example/\n'),
               ('track_page_view', 'p_session_id', 'tab', E's\t1'),
               ('track_page_view', 'p_event_id', 'newline', E'e\n1'),
               ('track_page_view', 'p_user_agent', 'U+0001', E'Mozilla/5.0\x01'),
               ('track_page_view', 'p_site_domain', 'newline', E'badinput.example\n'),
               ('track_page_view', 'p_api_key', 'newline', E'ovt_x\n'),
               ('track_custom_event', 'p_event_name', 'U+0007', E'sign\x07up')
       ) AS p (fn, param, c, value)
 ORDER BY fn DESC, param, c;
SELECT pg_temp.try(pg_temp.call('track_custom_event',
                                jsonb_build_object('p_event_properties', jsonb_build_object('k', E'v\x01')))) AS control_in_property_value,
       pg_temp.try(pg_temp.call('track_custom_event',
                                jsonb_build_object('p_event_properties', jsonb_build_object(E'k\x01', 'v')))) AS control_in_property_key;
SELECT user_agent = E'Mozilla/5.0\x01' AS user_agent_kept_as_sent
  FROM raw.site_tracking_events_r WHERE tenant_hk = :'bad_tenant' AND user_agent LIKE 'Mozilla/5.0_';

------------------------------------------------------------------------------------------------
-- Invalid UTF-8 cannot become text: the conversion fails before the call. Valid bytes of
-- another encoding are converted and stored as the characters they are.
------------------------------------------------------------------------------------------------
\set VERBOSITY terse
SELECT api.track_page_view(:'bad_key', 'badinput.example', '/utf8', 'UA', '198.51.100.7',
                           p_page_title := convert_from('\xc328'::bytea, 'UTF8'));
SELECT api.track_page_view(:'bad_key', 'badinput.example', convert_from('\x2fc0af'::bytea, 'UTF8'), 'UA', '198.51.100.7');
SELECT api.track_page_view(:'bad_key', 'badinput.example', '/utf8', convert_from('\xeda080'::bytea, 'UTF8'), '198.51.100.7');
SELECT api.track_custom_event(:'bad_key', 'badinput.example', convert_from('\xff'::bytea, 'UTF8'), NULL, '/utf8', 'UA', '198.51.100.7');
\set VERBOSITY default
SELECT api.track_page_view(:'bad_key', 'badinput.example', '/utf8', 'UA', '198.51.100.7',
                           p_page_title := convert_from('\x436166e9'::bytea, 'LATIN1')) ->> 'status' AS latin1_title;
SELECT page_title FROM staging.site_tracking_events_s
 WHERE tenant_hk = :'bad_tenant' AND page_title LIKE 'Caf%' ORDER BY 1;

------------------------------------------------------------------------------------------------
-- 1 MB strings: a key or domain that long is refused as unknown; a payload over
-- onevault_tracking.max_payload_bytes (64 KiB) is PAYLOAD_TOO_LARGE and not stored; a user
-- agent over 2,048 bytes is an ERROR (54000). Over the field limits but under the payload limit,
-- the event is kept in quarantine with the field's code.
------------------------------------------------------------------------------------------------
SELECT fn, param, pg_temp.try(pg_temp.call(fn, jsonb_build_object(param, value))) AS answer
  FROM (VALUES ('track_page_view', 'p_api_key', repeat('k', 1048576)),
               ('track_page_view', 'p_site_domain', repeat('d', 1048576)),
               ('track_page_view', 'p_page_path', '/' || repeat('p', 1048576)),
               ('track_page_view', 'p_user_agent', repeat('u', 1048576)),
               ('track_page_view', 'p_referrer', 'https://ref.example/' || repeat('r', 1048576)),
               ('track_page_view', 'p_page_title', repeat('t', 1048576)),
               ('track_page_view', 'p_session_id', repeat('s', 1048576)),
               ('track_page_view', 'p_event_id', repeat('e', 1048576)),
               ('track_page_view', 'p_properties', jsonb_build_object('k', repeat('v', 1048576))::text),
               ('track_custom_event', 'p_event_name', repeat('n', 1048576)),
               ('track_custom_event', 'p_event_properties', jsonb_build_object('k', repeat('v', 1048576))::text)
       ) AS p (fn, param, value)
 ORDER BY fn DESC, param;
SELECT fn, param, pg_temp.try(pg_temp.call(fn, jsonb_build_object(param, value))) AS under_payload_limit
  FROM (VALUES ('track_page_view', 'p_page_path', '/' || repeat('p', 10000)),
               ('track_page_view', 'p_page_title', repeat('t', 10000)),
               ('track_page_view', 'p_referrer', 'https://ref.example/' || repeat('r', 10000)),
               ('track_page_view', 'p_session_id', repeat('s', 10000)),
               ('track_page_view', 'p_event_id', repeat('e', 10000)),
               ('track_page_view', 'p_user_agent', repeat('u', 2049)),
               ('track_custom_event', 'p_event_name', repeat('n', 10000)),
               ('track_custom_event', 'p_event_properties', jsonb_build_object('k', repeat('v', 10000))::text)
       ) AS p (fn, param, value)
 ORDER BY fn DESC, param;
-- The raw functions: one event over the limit is an ERROR, a batch item over it is rejected alone.
SELECT pg_temp.try(format('SELECT jsonb_build_object(''success'', raw.ingest_tracking_event(%L, NULL, NULL, NULL, %L) > 0)',
                          :'bad_tenant', jsonb_build_object('event_type', 'page_view', 'page_title', repeat('x', 1048576)))) AS raw_single;
SELECT answer ->> 'accepted' AS accepted, answer ->> 'rejected' AS rejected,
       (SELECT jsonb_agg(r ->> 'status' || coalesce(' ' || (r ->> 'error_code'), '') ORDER BY (r ->> 'index')::int)
          FROM jsonb_array_elements(answer -> 'results') AS r) AS results
  FROM raw.batch_ingest_tracking_events(:'bad_tenant', NULL, NULL, NULL,
       jsonb_build_array(jsonb_build_object('event_type', 'page_view', 'page_url', 'https://badinput.example/batch-ok', 'page_title', 'ok'),
                         jsonb_build_object('event_type', 'page_view', 'page_title', repeat('x', 1048576)))) AS answer;
-- The accepted item goes through staging and into the vault.
SELECT pg_temp.try('SELECT jsonb_build_object(''success'', staging.process_pending_events(1000) IS NOT NULL)') AS drain;
SELECT pg_temp.try('SELECT jsonb_build_object(''success'', business.load_staged_events(1000) IS NOT NULL)') AS vault_load;

------------------------------------------------------------------------------------------------
-- Deeply nested JSON in properties. Up to 64 levels a nested value is just not a scalar
-- (PROPERTY_VALUE_NOT_SCALAR) and the event is kept in quarantine; deeper jsonb arguments
-- (PostgreSQL accepts 10,000 levels) are refused with ERROR 54000 before anything is written,
-- because walking such a value in Rust would overflow the stack (src/json.rs).
------------------------------------------------------------------------------------------------
SELECT depth, pg_temp.try(pg_temp.call(fn, jsonb_build_object(param,
           (repeat('{"a": ', depth) || '1' || repeat('}', depth))::jsonb))) AS answer
  FROM (VALUES ('track_page_view', 'p_properties'), ('track_custom_event', 'p_event_properties')) AS p (fn, param)
 CROSS JOIN (VALUES (10), (63), (64), (65), (128), (10000)) AS d (depth)
 ORDER BY fn DESC, depth;
SELECT depth, pg_temp.try(pg_temp.call('track_page_view', jsonb_build_object('p_properties',
           jsonb_build_object('k', (repeat('[', depth) || repeat(']', depth))::jsonb)))) AS nested_arrays
  FROM (VALUES (10), (10000)) AS d (depth) ORDER BY depth;
-- Through the raw layer: within the limit stored, then quarantined; beyond it refused.
SELECT depth, pg_temp.try(format('SELECT jsonb_build_object(''success'', raw.ingest_tracking_event(%L, NULL, NULL, NULL, %L::jsonb) > 0)', :'bad_tenant',
                          '{"event_type": "page_view", "page_url": "https://badinput.example/deep", "properties": {"k": '
                          || repeat('[', depth) || repeat(']', depth) || '}}')) AS raw_single_deep
  FROM (VALUES (62), (10000)) AS d (depth) ORDER BY depth;
SELECT depth, pg_temp.try(format('SELECT jsonb_build_object(''success'', true, ''accepted'', a -> ''accepted'', ''rejected'', a -> ''rejected'') FROM raw.batch_ingest_tracking_events(%L, NULL, NULL, NULL, %L::jsonb) AS a',
                          :'bad_tenant', '[{"event_type": "page_view", "page_url": "https://badinput.example/deep", "properties": {"k": '
                          || repeat('[', depth) || repeat(']', depth) || '}}]')) AS raw_batch_deep
  FROM (VALUES (61), (10000)) AS d (depth) ORDER BY depth;
-- Deferred mode lands first and validates later: the drain must quarantine a deep event, not
-- fail on it (a drain that fails holds back every other pending event). Pending now: the two
-- deep events of the raw functions above, and the two below (one deep, one valid).
SET onevault_tracking.api_processing = deferred;
SELECT pg_temp.try(pg_temp.call('track_page_view', jsonb_build_object('p_properties',
           (repeat('{"a": ', 64) || '1' || repeat('}', 64))::jsonb))) AS deferred_deep,
       pg_temp.try(pg_temp.call('track_page_view', '{"p_page_path": "/after-deep"}')) AS deferred_next;
RESET onevault_tracking.api_processing;
SELECT pg_temp.try('SELECT jsonb_build_object(''success'', staging.process_pending_events(1000) IS NOT NULL)') AS drain;
SELECT pg_temp.try('SELECT jsonb_build_object(''success'', business.load_staged_events(1000) IS NOT NULL)') AS vault_load;

------------------------------------------------------------------------------------------------
-- Client IPs: malformed addresses are not inet values, so the call fails before it is made;
-- IPv4-mapped and IPv6 addresses are accepted and stored anonymised (/24, /48).
------------------------------------------------------------------------------------------------
\set VERBOSITY terse
SELECT api.track_page_view(:'bad_key', 'badinput.example', '/ip', 'UA', '999.1.1.1');
SELECT api.track_page_view(:'bad_key', 'badinput.example', '/ip', 'UA', 'abc');
SELECT api.track_page_view(:'bad_key', 'badinput.example', '/ip', 'UA', '');
SELECT api.track_page_view(:'bad_key', 'badinput.example', '/ip', 'UA', '1.2.3.4; DROP TABLE public.bad_input_canary');
SELECT api.track_page_view(:'bad_key', 'badinput.example', '/ip', 'UA', '2001:db8::1::2');
SELECT api.track_page_view(:'bad_key', 'badinput.example', '/ip', 'UA', 'fe80::1%eth0');
\set VERBOSITY default
CREATE TEMP TABLE ip_answer AS
SELECT n, ip, api.track_page_view(:'bad_key', 'badinput.example', '/ip', 'UA', ip::inet, p_page_title := 'IP') AS answer
  FROM (VALUES (1, '::ffff:1.2.3.4'), (2, '2001:db8::1'), (3, '2001:db8:85a3:8d3:1319:8a2e:370:7348'), (4, '10.1.2.3/8'),
               (5, '::1'), (6, '0.0.0.0'), (7, '255.255.255.255')) AS v (n, ip);
SELECT a.ip, a.answer ->> 'status' AS status, host(r.client_ip) AS raw_ip, host(s.client_ip_anonymized) AS staged_ip,
       r.visitor_hash IS NOT NULL AS has_visitor
  FROM ip_answer a
  LEFT JOIN raw.site_tracking_events_r r ON r.raw_event_id = (a.answer ->> 'raw_event_id')::bigint
  LEFT JOIN staging.site_tracking_events_s s ON s.raw_event_id = r.raw_event_id
 ORDER BY a.n;
-- The rate limiter keeps the full address (abuse handling), nowhere else.
SELECT host(s.ip_address) AS counted_ip
  FROM auth.ip_tracking_s s JOIN auth.security_tracking_h h USING (security_tracking_hk)
 WHERE h.tenant_hk = :'bad_tenant' AND family(s.ip_address) = 6 ORDER BY 1;

------------------------------------------------------------------------------------------------
-- NULL in every parameter, one at a time.
------------------------------------------------------------------------------------------------
SELECT fn, param, pg_temp.try(pg_temp.call(fn, jsonb_build_object(param, NULL))) AS answer
  FROM (VALUES ('track_page_view', 1, 'p_api_key'), ('track_page_view', 2, 'p_site_domain'),
               ('track_page_view', 3, 'p_page_path'), ('track_page_view', 4, 'p_user_agent'),
               ('track_page_view', 5, 'p_client_ip'), ('track_page_view', 6, 'p_referrer'),
               ('track_page_view', 7, 'p_page_title'), ('track_page_view', 8, 'p_session_id'),
               ('track_page_view', 9, 'p_event_id'), ('track_page_view', 10, 'p_event_timestamp'),
               ('track_page_view', 11, 'p_properties'), ('track_page_view', 12, 'p_do_not_track'),
               ('track_page_view', 13, 'p_global_privacy_control'),
               ('track_custom_event', 1, 'p_api_key'), ('track_custom_event', 2, 'p_site_domain'),
               ('track_custom_event', 3, 'p_event_name'), ('track_custom_event', 4, 'p_event_properties'),
               ('track_custom_event', 5, 'p_page_path'), ('track_custom_event', 6, 'p_user_agent'),
               ('track_custom_event', 7, 'p_client_ip'), ('track_custom_event', 8, 'p_referrer'),
               ('track_custom_event', 9, 'p_page_title'), ('track_custom_event', 10, 'p_session_id'),
               ('track_custom_event', 11, 'p_event_id'), ('track_custom_event', 12, 'p_event_timestamp'),
               ('track_custom_event', 13, 'p_do_not_track'), ('track_custom_event', 14, 'p_global_privacy_control')
       ) AS p (fn, position, param)
 ORDER BY fn DESC, position;
-- Every parameter of the signatures was covered (the lists above name them all).
SELECT p.proname, p.pronargs FROM pg_proc p
 WHERE p.pronamespace = 'api'::regnamespace AND p.proname IN ('track_page_view', 'track_custom_event')
 ORDER BY 1;
-- The raw functions: tenant and payload are required (22004); key, IP and user agent are optional.
SELECT param, pg_temp.try(format('SELECT jsonb_build_object(''success'', raw.ingest_tracking_event(%s, %s, %s, %s, %s) > 0)',
           CASE WHEN param = 'p_tenant_hk' THEN 'NULL' ELSE quote_literal(:'bad_tenant') || '::bytea' END,
           'NULL',
           CASE WHEN param = 'p_client_ip' THEN 'NULL' ELSE '''198.51.100.9''' END,
           CASE WHEN param = 'p_user_agent' THEN 'NULL' ELSE '''UA''' END,
           CASE WHEN param = 'p_event_data' THEN 'NULL'
                ELSE '''{"event_type": "page_view", "page_url": "https://badinput.example/raw-null"}''' END)) AS single
  FROM (VALUES (1, 'p_tenant_hk'), (2, 'p_api_key_hk'), (3, 'p_client_ip'), (4, 'p_user_agent'), (5, 'p_event_data')) AS p (n, param)
 ORDER BY n;
SELECT param, pg_temp.try(format('SELECT jsonb_build_object(''success'', true, ''accepted'', a -> ''accepted'', ''rejected'', a -> ''rejected'') FROM raw.batch_ingest_tracking_events(%s, NULL, %s, %s, %s) AS a',
           CASE WHEN param = 'p_tenant_hk' THEN 'NULL' ELSE quote_literal(:'bad_tenant') || '::bytea' END,
           CASE WHEN param = 'p_client_ip' THEN 'NULL' ELSE '''198.51.100.9''' END,
           CASE WHEN param = 'p_user_agent' THEN 'NULL' ELSE '''UA''' END,
           CASE WHEN param = 'p_events' THEN 'NULL'
                ELSE '''[{"event_type": "page_view", "page_url": "https://badinput.example/batch-null"}, null]''' END)) AS batch
  FROM (VALUES (1, 'p_tenant_hk'), (2, 'p_api_key_hk'), (3, 'p_client_ip'), (4, 'p_user_agent'), (5, 'p_events')) AS p (n, param)
 ORDER BY n;

------------------------------------------------------------------------------------------------
-- Nothing half-written: process what the raw functions landed, then every layer agrees.
------------------------------------------------------------------------------------------------
SELECT pg_temp.try('SELECT jsonb_build_object(''success'', staging.process_pending_events(1000) IS NOT NULL)') AS drain;
SELECT pg_temp.try('SELECT jsonb_build_object(''success'', business.load_staged_events(1000) IS NOT NULL)') AS vault_load;
SELECT count(*) FILTER (WHERE r.processing_status <> 'PROCESSED') AS raw_not_processed,
       count(*) FILTER (WHERE r.processing_status = 'PROCESSED' AND s.raw_event_id IS NULL) AS processed_without_staging,
       count(*) FILTER (WHERE s.validation_status = 'VALID' AND NOT s.loaded_to_vault) AS valid_not_loaded,
       count(*) FILTER (WHERE s.loaded_to_vault <> (l.tracking_event_hk IS NOT NULL)) AS vault_mismatch,
       count(*) FILTER (WHERE s.validation_status = 'INVALID' AND l.tracking_event_hk IS NOT NULL) AS invalid_in_vault,
       count(*) = count(s.raw_event_id) AS every_raw_row_staged
  FROM raw.site_tracking_events_r r
  LEFT JOIN staging.site_tracking_events_s s USING (raw_event_id)
  LEFT JOIN business.tracking_event_l l ON l.tenant_hk = r.tenant_hk AND l.tracking_event_bk = r.raw_event_id::text
 WHERE r.tenant_hk = :'bad_tenant';
SELECT (SELECT count(*) FROM staging.site_tracking_events_s s
         WHERE s.tenant_hk = :'bad_tenant'
           AND NOT EXISTS (SELECT 1 FROM raw.site_tracking_events_r r WHERE r.raw_event_id = s.raw_event_id)) AS staging_without_raw,
       (SELECT count(*) FROM business.tracking_event_l l
         WHERE l.tenant_hk = :'bad_tenant'
           AND NOT EXISTS (SELECT 1 FROM staging.site_tracking_events_s s
                            WHERE s.raw_event_id::text = l.tracking_event_bk AND s.validation_status = 'VALID')) AS vault_without_valid_staging,
       (SELECT count(*) FROM business.tracking_event_l l
         WHERE l.tenant_hk = :'bad_tenant'
           AND NOT EXISTS (SELECT 1 FROM business.tracking_event_details_s d
                            WHERE d.tracking_event_hk = l.tracking_event_hk AND d.load_end_date IS NULL)) AS vault_event_without_details;
-- The refused keys' audit bound: one record for the first refused attempt of each client and
-- window, one more for each window over the limit (none here), never a full address.
SELECT (SELECT count(*) FROM audit.audit_event_h a JOIN audit.audit_detail_s d USING (audit_event_hk)
         WHERE a.tenant_hk = :'bad_tenant' AND d.operation = 'TRACKING_ATTEMPT' AND d.new_data ? 'refused_attempts')
     = (SELECT count(*) + count(*) FILTER (WHERE s.request_count > 120)
          FROM auth.ip_tracking_s s JOIN auth.security_tracking_h h USING (security_tracking_hk)
         WHERE h.tenant_hk = :'bad_tenant' AND h.security_tracking_bk LIKE 'refused-ip:%') AS refused_records_bounded,
       (SELECT count(*) FROM auth.ip_tracking_s s JOIN auth.security_tracking_h h USING (security_tracking_hk)
         WHERE h.tenant_hk = :'bad_tenant' AND h.security_tracking_bk LIKE 'refused-ip:%' AND s.is_blocked) AS refused_windows_over_the_limit,
       (SELECT count(*) FROM audit.audit_detail_s
         WHERE new_data::text LIKE '%198.51.100.7%' OR new_data::text LIKE '%198.51.100.9%') AS records_with_a_full_address;
SELECT id, note FROM public.bad_input_canary;
DROP TABLE public.bad_input_canary;
-- Leave no pending event behind for the tests that follow (none is left when every drain above worked).
WITH deleted AS (
    DELETE FROM raw.site_tracking_events_r WHERE tenant_hk = :'bad_tenant' AND processing_status IN ('PENDING', 'ERROR')
    RETURNING 1)
SELECT count(*) AS pending_left FROM deleted;
