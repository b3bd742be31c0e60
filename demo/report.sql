-- demo/report.sql: the second half of the demo's report, as postgres: what was sent and stored,
-- the tracking API's answers, the quarantine and its reasons, rate limiting, what the tracking
-- tables keep of client addresses, the business vault (with a replay of the last loads, which
-- must add nothing), audit records and throughput. Creates the views demo.traffic and
-- demo.vault_tables and the replay's tables, which demo/checks.sql reads.
-- psql variables: demo_tenant (business key), burst_ip, rate_limit (per minute), replay_events,
-- vault_batch.
\pset footer off
\pset null '-'
\pset numericlocale on
\echo
\echo 'What was sent and what raw.site_tracking_events_r holds (a repeated event_id is stored once; "refused":'
\echo 'answered with an error code and not stored; events that fail validation are stored, then quarantined)'
WITH api AS (
    SELECT CASE WHEN story = 'browser traffic' THEN 1 WHEN story = 'rate-limit burst' THEN 3 ELSE 2 END AS ord,
           count(*) AS sent,
           count(*) FILTER (WHERE answer ? 'raw_event_id' AND answer ->> 'error_code' IS DISTINCT FROM 'DUPLICATE_EVENT') AS stored,
           count(*) FILTER (WHERE answer ->> 'error_code' = 'DUPLICATE_EVENT') AS duplicates,
           count(*) FILTER (WHERE NOT answer ? 'raw_event_id') AS refused
      FROM demo.api_calls
     GROUP BY 1
), lines AS (
    SELECT ord, (ARRAY['tracking API: browser traffic', 'tracking API: wrong, misused, revoked keys',
                       'tracking API: rate-limit burst'])[ord] AS channel,
           sent, stored, duplicates, refused
      FROM api
    UNION ALL
    SELECT 4, 'raw endpoint: old snippets', (SELECT count(*) FROM demo.events WHERE endpoint = 'raw'),
           count(DISTINCT raw_event_id), count(*) - count(DISTINCT raw_event_id), 0
      FROM demo.raw_sends
    UNION ALL
    SELECT 5, 'raw bulk path: 3 batches', sum((result ->> 'size')::int),
           sum((result ->> 'accepted')::int), sum((result ->> 'duplicates')::int), sum((result ->> 'rejected')::int)
      FROM demo.batch_results
)
SELECT channel, sent, stored, duplicates_avoided, refused
  FROM (SELECT ord, channel, sent, stored, duplicates AS duplicates_avoided, refused
          FROM lines
        UNION ALL
        SELECT 9, 'total', sum(sent), sum(stored), sum(duplicates), sum(refused)
          FROM lines) AS t
 ORDER BY ord;
SELECT 'Rejected batch items (never stored): '
       || string_agg(error_code || ' ' || n, ', ' ORDER BY n DESC, error_code) || '.' AS line
  FROM (SELECT item ->> 'error_code' AS error_code, count(*) AS n
          FROM demo.batch_results AS r, jsonb_array_elements(r.result -> 'results') AS item
         WHERE item ->> 'status' = 'rejected'
         GROUP BY 1) AS x \gset
\echo :line

\echo
\echo 'Tracking API answers ("unexpected": not what the demo expects of the call: a clean event success,'
\echo 'a broken one INVALID_EVENT, a retry DUPLICATE_EVENT, ...)'
SELECT coalesce(answer ->> 'error_code', 'success') AS answer, count(*) AS calls,
       count(*) FILTER (WHERE coalesce(answer ->> 'error_code', 'success') <> expected) AS unexpected,
       coalesce((array_agg(answer ->> 'message' ORDER BY call_no) FILTER (WHERE answer ? 'message'))[1],
                'status ' || string_agg(DISTINCT answer ->> 'status', ', ')
                    || ', loaded_to_vault ' || string_agg(DISTINCT answer ->> 'loaded_to_vault', ', ')) AS message
  FROM demo.api_calls
 GROUP BY 1
 ORDER BY 2 DESC, 1;

-- The staged events: VALID rows only, with who sent them. The batch API takes one client address
-- and user agent per call, so the events the edge collector relays carry the collector's, not
-- the visitor's: browser, OS, device and visitor hash are the collector's (its user agent is a
-- server's, so they count as a bot), while everything from the payload (pages, referrers,
-- campaigns, the session_id it adds) is the visitor's. The checks use it.
CREATE VIEW demo.traffic AS
SELECT s.*,
       CASE WHEN r.batch_id IS NOT NULL THEN 'edge collector'
            WHEN s.is_bot THEN 'bot'
            ELSE 'browser' END AS sender
  FROM staging.site_tracking_events_s AS s
  JOIN raw.site_tracking_events_r AS r USING (raw_event_id)
 WHERE s.validation_status = 'VALID';

\echo
SELECT format('Quarantine: %s of the %s stored events (%s%%) failed validation: staged INVALID with their reasons',
              to_char(count(*) FILTER (WHERE s.validation_status = 'INVALID'), 'FM999,999,990'),
              to_char(count(*), 'FM999,999,990'),
              round(100.0 * count(*) FILTER (WHERE s.validation_status = 'INVALID') / count(*), 1)) AS line1,
       format('and kept out of the vault. %s came through the tracking API (which answered INVALID_EVENT, with the',
              count(*) FILTER (WHERE s.validation_status = 'INVALID' AND r.batch_id IS NULL AND r.api_key_hk IS NOT NULL)) AS line2,
       format('reasons), %s through the raw endpoint and %s in batches. By broken tracker:',
              count(*) FILTER (WHERE s.validation_status = 'INVALID' AND r.batch_id IS NULL AND r.api_key_hk IS NULL),
              count(*) FILTER (WHERE s.validation_status = 'INVALID' AND r.batch_id IS NOT NULL)) AS line3
  FROM staging.site_tracking_events_s AS s
  JOIN raw.site_tracking_events_r AS r USING (raw_event_id) \gset q_
\echo :q_line1
\echo :q_line2
\echo :q_line3
SELECT b.what AS tracker_bug, string_agg(DISTINCT e.endpoint, ', ') AS sent_via, count(s.*) AS events,
       count(*) FILTER (WHERE s.validation_status = 'INVALID') AS quarantined,
       (SELECT string_agg(DISTINCT c ->> 'code', ', ')
          FROM jsonb_array_elements(jsonb_agg(s.validation_errors)) AS l, jsonb_array_elements(l) AS c) AS reasons
  FROM demo.breakages AS b
  JOIN (SELECT DISTINCT ON (payload ->> 'event_id') * FROM demo.events ORDER BY payload ->> 'event_id', n) AS e
    ON e.broken = b.broken
  JOIN raw.site_tracking_events_r AS r ON r.client_event_id = e.payload ->> 'event_id'
  JOIN staging.site_tracking_events_s AS s USING (raw_event_id)
 GROUP BY b.broken, b.what
 ORDER BY 3 DESC, 1;
\echo 'The reasons (one event may have several), with one message each as validation wrote it:'
SELECT e ->> 'code' AS code, e ->> 'field' AS field, count(*) AS events,
       CASE WHEN length(min(e ->> 'message')) > 100 THEN left(min(e ->> 'message'), 97) || '...'
            ELSE min(e ->> 'message') END AS example_message
  FROM staging.site_tracking_events_s AS s, jsonb_array_elements(s.validation_errors) AS e
 WHERE s.validation_status = 'INVALID'
 GROUP BY 1, 2
 ORDER BY 3 DESC, 1, 2;

\echo
\echo 'Rate limiting (auth.ip_tracking_s: calls per tenant, client address and minute window)'
SELECT format('The burst: %s page views from %s in %s s; %s accepted, %s answered RATE_LIMITED (from call %s on, retry_after %s s).',
              count(*), :'burst_ip',
              round(extract(epoch FROM max(called_at) - min(called_at))::numeric, 1),
              count(*) FILTER (WHERE answer ->> 'success' = 'true'),
              count(*) FILTER (WHERE answer ->> 'error_code' = 'RATE_LIMITED'),
              coalesce(min(seq) FILTER (WHERE answer ->> 'error_code' = 'RATE_LIMITED')::text, '-'),
              coalesce(max((answer ->> 'retry_after')::int)::text, '-')) AS line
  FROM demo.api_calls
 WHERE story = 'rate-limit burst' \gset
\echo :line
SELECT format('Its window counted %s calls and is blocked (%s).', i.request_count, coalesce(i.block_reason, 'no reason'))
           AS line
  FROM auth.ip_tracking_s AS i
 WHERE i.ip_address = :'burst_ip'::inet
 ORDER BY i.load_date DESC
 LIMIT 1 \gset
\echo :line
SELECT format(E'Everyone else stayed under the limit of %s a minute: %s addresses, at most %s calls from one in a\n'
              'minute window; no other call was answered RATE_LIMITED.',
              :rate_limit, to_char(count(DISTINCT i.ip_address), 'FM999,999,990'), max(i.request_count)) AS line
  FROM auth.ip_tracking_s AS i
 WHERE i.ip_address <> :'burst_ip'::inet \gset
\echo :line

\echo
\echo 'Client addresses: what was sent and what the tracking tables keep (IPv4 its /24, IPv6 its /48)'
SELECT DISTINCT ON (family(e.client_ip), host(e.client_ip) LIKE '::ffff:%', e.visitor <= 3)
       CASE WHEN host(e.client_ip) LIKE '::ffff:%' THEN 'IPv4-mapped IPv6'
            ELSE 'IPv' || family(e.client_ip) END AS kind,
       host(e.client_ip) AS sent, host(r.client_ip) AS stored
  FROM demo.events AS e
  JOIN raw.site_tracking_events_r AS r ON r.client_event_id = e.payload ->> 'event_id'
 WHERE e.channel = 'single' AND NOT e.retry
 ORDER BY family(e.client_ip), host(e.client_ip) LIKE '::ffff:%', e.visitor <= 3 DESC, e.n;

-- The business vault: every hub, link and satellite with its row count (satellites: all rows
-- of their history and the current ones).
CREATE VIEW demo.vault_tables AS
SELECT v.ord, v.kind, v.table_name, v.rows, v.current_rows, v.holds
  FROM (VALUES
    (1, 'hub', 'business.site_h', (SELECT count(*) FROM business.site_h), NULL::bigint,
     'one row per site (normalised domain)'),
    (2, 'hub', 'business.page_h', (SELECT count(*) FROM business.page_h), NULL,
     'one row per page (site + path)'),
    (3, 'hub', 'business.session_h', (SELECT count(*) FROM business.session_h), NULL,
     'one row per session (client-sent or derived id)'),
    (4, 'link', 'business.page_site_l', (SELECT count(*) FROM business.page_site_l), NULL,
     'page -> its site'),
    (5, 'link', 'business.session_site_l', (SELECT count(*) FROM business.session_site_l), NULL,
     'session -> its site'),
    (6, 'link', 'business.tracking_event_l', (SELECT count(*) FROM business.tracking_event_l), NULL,
     'one row per event: site, page, session, API key'),
    (7, 'satellite', 'business.page_details_s', (SELECT count(*) FROM business.page_details_s),
     (SELECT count(*) FROM business.page_details_s WHERE load_end_date IS NULL),
     'title, host, path (a new row when they change)'),
    (8, 'satellite', 'business.session_details_s', (SELECT count(*) FROM business.session_details_s),
     (SELECT count(*) FROM business.session_details_s WHERE load_end_date IS NULL),
     'entry page, source, campaign, device (first event)'),
    (9, 'satellite', 'business.tracking_event_details_s', (SELECT count(*) FROM business.tracking_event_details_s),
     (SELECT count(*) FROM business.tracking_event_details_s WHERE load_end_date IS NULL),
     'event type and name, time, enrichment'))
  AS v (ord, kind, table_name, rows, current_rows, holds);

-- Replay: the most recent VALID staged events are marked not loaded again (as after a crash
-- between load and commit bookkeeping, or an operator re-running a load) and loaded once more.
CREATE TABLE demo.vault_before_replay AS SELECT * FROM demo.vault_tables;
UPDATE staging.site_tracking_events_s SET loaded_to_vault = false, loaded_at = NULL
 WHERE staging_event_id IN (SELECT staging_event_id FROM staging.site_tracking_events_s
                             WHERE validation_status = 'VALID'
                             ORDER BY staging_event_id DESC
                             LIMIT :replay_events);
CREATE TABLE demo.vault_replay AS SELECT business.load_staged_events(:vault_batch) AS result;

\echo
\echo 'The business vault (only VALID events; satellites keep history: "current" rows are not end-dated)'
SELECT kind, table_name AS "table", rows, current_rows AS current, holds
  FROM demo.vault_tables
 ORDER BY ord;
SELECT format('Replay is idempotent: the %s most recent VALID staged events were marked not loaded and loaded again; business.load_staged_events added %s.',
              :replay_events,
              CASE WHEN (SELECT coalesce(sum(value::int), 0) FROM jsonb_each_text(result -> 'rows_added')) = 0
                   THEN 'nothing' ELSE 'rows (NOT idempotent)' END) AS line
  FROM demo.vault_replay \gset
\echo :line

\echo
\echo 'Audit records (util.log_audit_event) per operation and tenant'
SELECT coalesce(d.operation, 'total') AS operation, count(*) FILTER (WHERE t.tenant_bk = :'demo_tenant') AS "Demo Corp",
       count(*) FILTER (WHERE t.tenant_bk IS DISTINCT FROM :'demo_tenant') AS "any other tenant",
       coalesce(w.what, '') AS "one per"
  FROM audit.audit_detail_s AS d
  JOIN audit.audit_event_h AS a USING (audit_event_hk)
  LEFT JOIN auth.tenant_h AS t ON t.tenant_hk = a.tenant_hk
  LEFT JOIN (VALUES ('TRACKING_ATTEMPT', 'tracking API call, whatever its answer (refused keys: the first per client and minute, and the one over the limit)'),
                    ('SITE_REGISTERED', 'site registered'),
                    ('API_KEY_CREATED', 'API key created'),
                    ('API_KEY_REVOKED', 'API key revoked'),
                    ('TRACKING_EVENT_RECEIVED', 'event stored by the raw endpoint'),
                    ('TRACKING_BATCH_RECEIVED', 'batch'),
                    ('TRACKING_EVENTS_PROCESSED', 'processing call that claimed events'),
                    ('TRACKING_EVENTS_LOADED', 'vault load call that loaded events (the replay''s too)'))
       AS w (operation, what) ON w.operation = d.operation
 GROUP BY ROLLUP ((d.operation, w.what))
 ORDER BY d.operation IS NULL, 2 DESC, 1;
\echo 'TRACKING_ATTEMPT records by outcome (details carry the key''s public prefix and the anonymised'
\echo 'network, never the key or the full address)'
SELECT d.new_data ->> 'outcome' AS outcome, coalesce(d.new_data ->> 'error_code', '-') AS error_code,
       count(*) AS records, coalesce(string_agg(DISTINCT d.new_data ->> 'api_key_prefix', ', '), '-') AS api_key_prefixes,
       count(DISTINCT d.new_data ->> 'client_network') AS client_networks
  FROM audit.audit_detail_s AS d
 WHERE d.operation = 'TRACKING_ATTEMPT'
 GROUP BY 1, 2
 ORDER BY 3 DESC, 1, 2;

\echo
\echo 'Throughput (wall clock on this machine, including psql)'
SELECT CASE step WHEN 'single' THEN 'tracking API + raw endpoint: one call and transaction per event'
                 WHEN 'rate-limit burst' THEN 'tracking API: the rate-limit burst'
                 WHEN 'batch' THEN 'raw bulk path: 3 batch calls'
                 WHEN 'processing' THEN 'processing raw -> staging -> business vault'
                 WHEN 'vault load' THEN 'loading what processing left (none)' END AS step,
       events, round(milliseconds / 1000.0, 1) AS seconds,
       CASE WHEN milliseconds > 0 THEN round(events * 1000.0 / milliseconds) END AS per_second,
       CASE WHEN step IN ('single', 'rate-limit burst') THEN 'calls/s (each staged and loaded at once)'
            ELSE 'events/s' END AS unit
  FROM demo.timings
 ORDER BY array_position(ARRAY['single', 'rate-limit burst', 'batch', 'processing', 'vault load'], step);
