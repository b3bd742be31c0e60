-- demo/checks.sql: the demo's checks, after demo/report.sql, into demo.checks (SELECT * FROM
-- demo.checks lists them); prints the failed ones. scripts/demo.sh exits 1 unless all pass.
-- psql variables: demo_tenant (business key), tenant_hex (its hash key in hex), site,
-- report_from, report_to, burst_ip, burst_calls, rate_limit (per minute), replay_events,
-- min_api_events, and the plaintext keys api_key, other_key, old_key (no audit record may hold
-- them).
\pset footer off
\pset null '-'

-- Checks of what the demo expects; failures are listed and make the script exit 1. The reports
-- are checked too, for the demo's tenant, and every report from the rollups against the same
-- report over the vault (pg_temp.report_mismatches).
SELECT set_config('onevault_tracking.tenant_id', :'tenant_hex', false) \g /dev/null
\ir ../tests/fixtures/report_check.sql
CREATE TABLE demo.checks AS
WITH sent AS (
    -- Each stored client event once, with what the demo knows about it.
    SELECT DISTINCT ON (e.payload ->> 'event_id') e.*, v.sends_session_id, r.raw_event_id
      FROM demo.events AS e
      JOIN demo.visitors AS v USING (visitor)
      JOIN raw.site_tracking_events_r AS r ON r.client_event_id = e.payload ->> 'event_id'
     ORDER BY e.payload ->> 'event_id', e.n
), derived AS (
    -- Events of visitors whose tracker sends no session_id: one derived session per visit.
    SELECT count(DISTINCT t.visit) AS visits, count(DISTINCT s.session_id) AS sessions,
           count(DISTINCT (t.visit, s.session_id)) AS pairs
      FROM sent AS t
      JOIN staging.site_tracking_events_s AS s USING (raw_event_id)
     WHERE t.channel = 'single' AND NOT t.sends_session_id AND s.validation_status = 'VALID'
), vault AS (
    -- The business vault against the staging rows it was loaded from.
    SELECT (SELECT count(*) FROM staging.site_tracking_events_s WHERE validation_status = 'VALID') AS valid_staged,
           (SELECT count(*) FROM staging.site_tracking_events_s
             WHERE validation_status = 'VALID' AND NOT loaded_to_vault) AS valid_not_loaded,
           (SELECT count(*) FROM staging.site_tracking_events_s
             WHERE validation_status <> 'VALID' AND loaded_to_vault) AS invalid_loaded,
           (SELECT count(*) FROM business.tracking_event_l) AS event_links,
           -- A page is (tenant, site, path); the site is the normalised domain (lower case, no
           -- trailing dot, no leading "www."), as in onevault_tracking_core::vault.
           (SELECT count(DISTINCT (tenant_hk, regexp_replace(lower(rtrim(btrim(page_host), '.')), '^www\.', ''), page_path))
              FROM staging.site_tracking_events_s
             WHERE validation_status = 'VALID' AND rtrim(btrim(page_host), '.') <> '' AND page_path IS NOT NULL) AS staged_pages,
           (SELECT count(*) FROM business.page_h) AS page_hubs,
           (SELECT count(*) FROM (SELECT page_hk FROM business.page_details_s WHERE load_end_date IS NULL
                                   GROUP BY page_hk HAVING count(*) > 1) AS k) AS pages_with_two_current,
           (SELECT count(*) FROM business.page_h AS p
             WHERE NOT EXISTS (SELECT FROM business.page_details_s AS d
                                WHERE d.page_hk = p.page_hk AND d.load_end_date IS NULL)) AS pages_without_current,
           (SELECT (result ->> 'loaded')::int FROM demo.vault_replay) AS replay_loaded,
           (SELECT coalesce(sum(value::int), 0) FROM demo.vault_replay, jsonb_each_text(result -> 'rows_added')) AS replay_rows_added,
           (SELECT sum(a.rows) - sum(b.rows) FROM demo.vault_tables AS a
              JOIN demo.vault_before_replay AS b USING (ord)) AS replay_rows_grown,
           (SELECT count(*)
              FROM (SELECT page_path, count(*) AS page_views
                      FROM staging.site_tracking_events_s
                     WHERE validation_status = 'VALID' AND event_type = 'page_view'
                     GROUP BY page_path) AS staged
              FULL JOIN (SELECT d.page_path, count(*) AS page_views
                           FROM business.tracking_event_l AS l
                           JOIN business.tracking_event_details_s AS e
                             ON e.tracking_event_hk = l.tracking_event_hk AND e.load_end_date IS NULL
                           JOIN business.page_details_s AS d ON d.page_hk = l.page_hk AND d.load_end_date IS NULL
                          WHERE e.event_type = 'page_view'
                          GROUP BY d.page_path) AS vaulted USING (page_path)
             WHERE staged.page_views IS DISTINCT FROM vaulted.page_views) AS page_views_differing,
           (SELECT (SELECT count(*) FROM business.site_h WHERE tenant_hk <> util.hash_binary(:'demo_tenant'))
                 + (SELECT count(*) FROM business.page_h WHERE tenant_hk <> util.hash_binary(:'demo_tenant'))
                 + (SELECT count(*) FROM business.session_h WHERE tenant_hk <> util.hash_binary(:'demo_tenant'))
                 + (SELECT count(*) FROM business.tracking_event_l WHERE tenant_hk <> util.hash_binary(:'demo_tenant'))
           ) AS vault_elsewhere
), answers AS (
    -- Every tracking API call: its answer as outcome and error code (as the audit records them).
    SELECT c.*, coalesce(c.answer ->> 'error_code', 'success') AS code,
           CASE WHEN c.answer ->> 'success' = 'true' THEN 'accepted'
                WHEN c.answer ->> 'error_code' = 'DUPLICATE_EVENT' THEN 'duplicate' ELSE 'rejected' END AS outcome
      FROM demo.api_calls AS c
), api AS (
    SELECT (SELECT count(*) FROM answers) AS api_calls,
           (SELECT count(*) FROM answers WHERE code <> expected) AS api_unexpected,
           (SELECT count(*) FROM answers WHERE code = 'success') AS api_successes,
           -- Successes whose event the call stored and the workers staged VALID and loaded into
           -- the vault (PENDING: the fast path; PROCESSED: in the call, before the workers ran).
           (SELECT count(*) FROM answers AS a
              JOIN raw.site_tracking_events_r AS r ON r.raw_event_id = (a.answer ->> 'raw_event_id')::bigint
              JOIN staging.site_tracking_events_s AS s ON s.raw_event_id = r.raw_event_id
             WHERE a.code = 'success' AND a.answer ->> 'status' IN ('PENDING', 'PROCESSED')
               AND r.batch_id IS NULL AND r.api_key_hk IS NOT NULL
               AND s.validation_status = 'VALID' AND s.loaded_to_vault) AS api_successes_landed,
           -- Events the API stored: each success, and each INVALID_EVENT that names its raw event.
           (SELECT count(DISTINCT (answer ->> 'raw_event_id')) FROM answers
             WHERE code = 'success' OR (code = 'INVALID_EVENT' AND answer ? 'raw_event_id')) AS api_stored_answers,
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE batch_id IS NULL AND api_key_hk IS NOT NULL) AS api_stored,
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE batch_id IS NULL AND api_key_hk IS NULL) AS raw_endpoint_stored,
           (SELECT count(*) FROM answers WHERE story = 'rate-limit burst' AND code = 'RATE_LIMITED') AS burst_limited,
           (SELECT count(*) || ' row, ' || coalesce(sum(request_count), 0) || ' calls, '
                   || CASE WHEN bool_and(is_blocked) THEN 'blocked' ELSE 'not blocked' END
              FROM auth.ip_tracking_s WHERE ip_address = :'burst_ip'::inet) AS burst_windows,
           -- The limiter counts every call: a refused key in its tenant's refused-ip bucket.
           (SELECT count(*) FROM answers) AS api_calls_metered,
           (SELECT coalesce(sum(request_count), 0) FROM auth.ip_tracking_s) AS limiter_requests,
           (SELECT count(*) FROM answers
             WHERE code IN ('INVALID_API_KEY', 'API_KEY_REVOKED', 'API_KEY_EXPIRED', 'DOMAIN_MISMATCH')) AS refused_calls,
           -- Refused keys are audited within a bound: the first refused attempt of a client in a
           -- window, and the one crossing the limit (records with refused_attempts).
           (SELECT count(*) FROM audit.audit_detail_s AS d JOIN audit.audit_event_h AS h USING (audit_event_hk)
             WHERE d.operation = 'TRACKING_ATTEMPT' AND d.new_data ? 'refused_attempts'
               AND h.tenant_hk = util.hash_binary(:'demo_tenant')) AS refused_records,
           (SELECT count(*) + count(*) FILTER (WHERE s.is_blocked)
              FROM auth.ip_tracking_s AS s JOIN auth.security_tracking_h AS h USING (security_tracking_hk)
             WHERE h.security_tracking_bk LIKE 'refused-ip:%') AS refused_windows_bound,
           (SELECT count(*)
              FROM (SELECT outcome, code,
                           -- Calls over a key's limit: one record per client and window crossed.
                           CASE WHEN code = 'RATE_LIMITED'
                                THEN (SELECT count(*) FROM auth.ip_tracking_s AS s
                                        JOIN auth.security_tracking_h AS h USING (security_tracking_hk)
                                       WHERE h.security_tracking_bk LIKE 'ip:%' AND s.is_blocked)
                                ELSE count(*) END AS calls
                      FROM answers
                     WHERE code NOT IN ('INVALID_API_KEY', 'API_KEY_REVOKED', 'API_KEY_EXPIRED', 'DOMAIN_MISMATCH')
                     GROUP BY 1, 2) AS a
              FULL JOIN (SELECT d.new_data ->> 'outcome' AS outcome,
                                coalesce(d.new_data ->> 'error_code', 'success') AS code, count(*) AS records
                           FROM audit.audit_detail_s AS d
                           JOIN audit.audit_event_h AS h USING (audit_event_hk)
                          WHERE d.operation = 'TRACKING_ATTEMPT' AND h.tenant_hk = util.hash_binary(:'demo_tenant')
                            AND NOT d.new_data ? 'refused_attempts'
                          GROUP BY 1, 2) AS r USING (outcome, code)
             WHERE a.calls IS DISTINCT FROM r.records) AS attempts_differing,
           -- Site and key administration audited: sites created or changed, keys created, keys revoked.
           (SELECT count(*) FROM demo.admin_calls
             WHERE (action = 'api.register_site' AND (answer ->> 'created' = 'true' OR answer ->> 'details_changed' = 'true'))
                OR action = 'api.create_api_key'
                OR (action = 'api.revoke_api_key' AND answer ->> 'already_revoked' = 'false')) AS admin_records,
           -- Audit details holding one of the demo's keys, or anything of a key's form (a presented key).
           (SELECT count(*) FROM audit.audit_detail_s
             WHERE new_data::text ~ 'ovt_[0-9a-f]{8}_[0-9a-f]{64}'
                OR strpos(new_data::text, :'api_key') > 0 OR strpos(new_data::text, :'other_key') > 0
                OR strpos(new_data::text, :'old_key') > 0) AS audit_keys,
           -- Audit details holding a full client address: any string value that is one of the
           -- addresses sent, or a TRACKING_ATTEMPT client_network with host bits.
           (SELECT count(DISTINCT d.audit_event_hk)
              FROM audit.audit_detail_s AS d
             CROSS JOIN LATERAL jsonb_path_query(d.new_data, 'strict $.**') AS v
              JOIN (SELECT DISTINCT host(client_ip) AS ip
                      FROM (SELECT client_ip FROM demo.api_calls UNION ALL SELECT client_ip FROM demo.events
                            UNION ALL SELECT client_ip FROM demo.batches) AS c) AS sent
                ON split_part(v #>> '{}', '/', 1) = sent.ip
             WHERE jsonb_typeof(v) = 'string')
         + (SELECT count(*)
              FROM (SELECT (new_data ->> 'client_network')::inet AS network FROM audit.audit_detail_s
                     WHERE operation = 'TRACKING_ATTEMPT' AND new_data ->> 'client_network' IS NOT NULL) AS n
             WHERE host(n.network) <> host(network(set_masklen(n.network,
                       CASE WHEN family(n.network) = 4 THEN 24
                            WHEN host(n.network) LIKE '::ffff:%' THEN 120 ELSE 48 END)))) AS audit_full_ips
), reports AS (
    -- The reports against staging: all time, bots included, every VALID event of example.com.
    SELECT (api.site_stats(:'site', '-infinity', 'infinity', true) ->> 'pageviews')::bigint AS report_pageviews,
           (SELECT count(*) FROM staging.site_tracking_events_s
             WHERE validation_status = 'VALID' AND event_type = 'page_view' AND page_host = :'site') AS staged_pageviews,
           (api.site_stats(:'site', :'report_from', :'report_to') ->> 'visits')::bigint AS report_visits,
           (SELECT sum((b ->> 'visits')::bigint)
              FROM jsonb_array_elements(api.site_timeseries(:'site', :'report_from', :'report_to', 'day')) AS b) AS series_visits,
           (SELECT count(*) FROM demo.api_calls WHERE story = 'browser traffic') AS api_traffic_calls,
           -- The report range, and one aligned to nothing, unfiltered, filtered by the top page
           -- (from the rollups) and by channel (from the vault).
           (SELECT count(*)
              FROM (VALUES (:'report_from'::timestamptz, :'report_to'::timestamptz),
                           (:'report_from'::timestamptz + interval '1 hour 17 minutes 13.5 seconds',
                            :'report_to'::timestamptz - interval '2 hours 44 minutes')) AS r (range_from, range_to)
             CROSS JOIN (VALUES (jsonb '{}'), ('{"channel": "search"}'),
                                (jsonb_build_object('page', api.site_breakdown(:'site', 'page', :'report_from', :'report_to', 1) -> 0 ->> 'value'))
                        ) AS f (filters)
             CROSS JOIN LATERAL pg_temp.report_mismatches(:'site', r.range_from, r.range_to, f.filters)) AS report_mismatches
), facts AS (
    SELECT (SELECT count(*) FROM demo.events WHERE channel = 'single' AND NOT retry) AS single_new,
           (SELECT count(*) FROM raw.site_tracking_events_r
             WHERE batch_id IS NULL
               AND client_event_id IN (SELECT payload ->> 'event_id' FROM demo.events WHERE channel = 'single')) AS single_stored,
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE batch_id IS NOT NULL) AS batch_stored,
           (SELECT count(*) FROM demo.batch_results) AS batches,
           -- The workers' batches: one record per tenant in a batch, with its events' count.
           (SELECT count(*) FROM audit.audit_detail_s AS d JOIN audit.audit_event_h AS h USING (audit_event_hk)
             WHERE d.operation = 'TRACKING_EVENTS_PROCESSED'
               AND h.tenant_hk = util.hash_binary(:'demo_tenant')) AS processing_records,
           (SELECT coalesce(sum((d.new_data ->> 'events')::int), 0)
              FROM audit.audit_detail_s AS d JOIN audit.audit_event_h AS h USING (audit_event_hk)
             WHERE d.operation = 'TRACKING_EVENTS_PROCESSED'
               AND h.tenant_hk = util.hash_binary(:'demo_tenant')) AS processed_in_records,
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk = util.hash_binary(:'demo_tenant')) AS demo_raw,
           (SELECT count(*) FROM demo.api_calls WHERE answer ->> 'status' = 'PROCESSED') AS processed_in_calls,
           (SELECT count(*) FROM auth.ip_tracking_s AS s JOIN auth.security_tracking_h AS h USING (security_tracking_hk)
             WHERE h.security_tracking_bk LIKE 'ip:%' AND s.is_blocked) AS windows_over_limit,
           (SELECT count(*) FROM demo.vault_loads WHERE (result ->> 'loaded')::int > 0)
               + (SELECT count(*) FROM demo.vault_replay WHERE (result ->> 'loaded')::int > 0) AS vault_load_calls,
           (SELECT count(*) FROM audit.audit_event_h WHERE tenant_hk = util.hash_binary(:'demo_tenant')) AS audit_demo,
           (SELECT count(*) FROM audit.audit_event_h WHERE tenant_hk IS DISTINCT FROM util.hash_binary(:'demo_tenant')) AS audit_elsewhere,
           (SELECT count(*) FROM raw.site_tracking_events_r
             WHERE host(client_ip) <> host(network(set_masklen(client_ip,
                       CASE WHEN family(client_ip) = 4 THEN 24
                            WHEN host(client_ip) LIKE '::ffff:%' THEN 120 ELSE 48 END)))) AS full_ips,
           (SELECT count(*) FROM raw.site_tracking_events_r WHERE tenant_hk <> util.hash_binary(:'demo_tenant')) AS raw_elsewhere,
           (SELECT count(*) FROM raw.site_tracking_events_r
             WHERE processing_status IN ('PENDING', 'ERROR', 'FAILED')) AS unprocessed,
           (SELECT count(*) FROM raw.site_tracking_events_r AS r
             WHERE (SELECT count(*) FROM staging.site_tracking_events_s AS s
                     WHERE s.raw_event_id = r.raw_event_id) <> 1) AS not_staged_once,
           (SELECT count(*) FROM staging.site_tracking_events_s
             WHERE validation_status = 'INVALID'
               AND (jsonb_array_length(validation_errors) = 0
                    OR EXISTS (SELECT FROM jsonb_array_elements(validation_errors) AS e
                                WHERE coalesce(e ->> 'code', '') = '' OR coalesce(e ->> 'message', '') = ''))) AS invalid_without_reasons,
           (SELECT count(*) FROM sent JOIN staging.site_tracking_events_s AS s USING (raw_event_id)
             WHERE (sent.broken IS NOT NULL) <> (s.validation_status = 'INVALID')) AS wrong_outcome,
           (SELECT count(*) FILTER (WHERE sender = 'bot') FROM demo.traffic) AS bot_events,
           (SELECT count(*) FILTER (WHERE sender <> 'edge collector') FROM demo.traffic) AS direct_events,
           derived.visits AS derived_visits, derived.sessions AS derived_sessions, derived.pairs AS derived_pairs,
           vault.*, api.*, reports.*
      FROM derived, vault, api, reports
)
SELECT v.ord, v.check_name, v.expected::text AS expected, v.actual::text AS actual, v.expected = v.actual AS ok
  FROM facts CROSS JOIN LATERAL (VALUES
    (1, 'each single event stored once, retries not', single_new, single_stored),
    (2, '1000 + 500 + 240 batch events stored', 1740, batch_stored),
    (3, 'audit records on Demo Corp = API calls (refused keys and calls over the limit: within the bound)'
        || ' + site/key admin + raw endpoint events + batches + processing records + vault load calls',
     api_calls - refused_calls + refused_windows_bound - burst_limited + windows_over_limit + admin_records
         + raw_endpoint_stored + batches + processing_records + vault_load_calls, audit_demo),
    (41, 'events in processing audit records + events processed in the call = Demo Corp''s raw events',
     demo_raw, processed_in_records + processed_in_calls),
    (4, 'audit records on any other tenant', 0, audit_elsewhere),
    (31, 'API answers other than expected (clean event: success, broken: INVALID_EVENT, ...)', 0, api_unexpected),
    (32, 'API successes = events the API stored, staged VALID and loaded in the call',
     api_successes, api_successes_landed),
    (33, 'raw rows stored by the API = successes + INVALID_EVENT answers naming one',
     api_stored_answers, api_stored),
    (34, format('RATE_LIMITED answers in the burst = its calls - the limit (%s - %s)', :burst_calls, :rate_limit),
     greatest(0, :burst_calls - :rate_limit), burst_limited),
    (36, 'calls counted by the rate limiter = API calls, refused keys included', api_calls_metered, limiter_requests),
    (37, 'TRACKING_ATTEMPT records per outcome and error code unlike the API answers (but refused keys)', 0, attempts_differing),
    (40, 'refused-key audit records = refused-ip windows + windows over the limit', refused_windows_bound, refused_records),
    (38, 'audit details with an API key (the plaintext, or anything of a key''s form)', 0, audit_keys),
    (39, 'audit details with a full client address', 0, audit_full_ips),
    (5, 'raw rows on any other tenant', 0, raw_elsewhere),
    (6, 'stored addresses with host bits (not anonymised)', 0, full_ips),
    (7, 'raw events left PENDING, ERROR or FAILED', 0, unprocessed),
    (8, 'raw events without exactly one staging row', 0, not_staged_once),
    (9, 'INVALID rows without their reasons', 0, invalid_without_reasons),
    (10, 'events staged with the wrong outcome (broken VALID, clean INVALID)', 0, wrong_outcome),
    (11, 'derived sessions = visits of visitors sending no session_id', derived_visits, derived_sessions),
    (12, 'visits split or merged by session derivation', 0, 2 * derived_pairs - derived_visits - derived_sessions),
    (14, 'VALID staged events not loaded to the vault', 0, valid_not_loaded),
    (15, 'INVALID staged events loaded to the vault', 0, invalid_loaded),
    (16, 'tracking_event_l rows = VALID staged events', valid_staged, event_links),
    (17, 'page_h rows = distinct (tenant, site, path) of VALID events', staged_pages, page_hubs),
    (18, 'pages with more than one current page_details_s row', 0, pages_with_two_current),
    (19, 'pages without a current page_details_s row', 0, pages_without_current),
    (20, 'events loaded again by the replay', :replay_events, replay_loaded),
    (21, 'rows the replay added (its rows_added, and table growth)', 0, replay_rows_added + replay_rows_grown),
    (22, 'pages whose page views differ between vault and staging', 0, page_views_differing),
    (23, 'vault hub and link rows on any other tenant', 0, vault_elsewhere),
    (24, 'api.site_stats page views (all time, bots included) = VALID page views staged', staged_pageviews, report_pageviews),
    (25, 'api.site_timeseries visits per day add up to api.site_stats visits', report_visits, series_visits),
    (26, 'reports from the rollups that differ from the vault''s (2 ranges x 3 filters, every report)', 0, report_mismatches)
) AS v (ord, check_name, expected, actual)
UNION ALL
SELECT 30, 'tracking API calls of the browser traffic', format('>= %s', :min_api_events), api_traffic_calls::text,
       api_traffic_calls >= :min_api_events
  FROM facts
UNION ALL
SELECT 13, 'bot events among the events sent directly', '> 0',
       bot_events || ' of ' || direct_events || ' (' || round(100.0 * bot_events / nullif(direct_events, 0), 1) || '%)',
       bot_events > 0
  FROM facts
UNION ALL
SELECT 35, 'the burst in auth.ip_tracking_s (all its calls in one minute window)',
       format('1 row, %s calls, blocked', :burst_calls), burst_windows, burst_windows = format('1 row, %s calls, blocked', :burst_calls)
  FROM facts;

SELECT count(*) AS checks_total, count(*) FILTER (WHERE ok) AS checks_passed,
       count(*) FILTER (WHERE NOT ok) > 0 AS checks_failed
  FROM demo.checks \gset
\echo
\echo 'Checks (SELECT * FROM demo.checks lists them): every event stored once and staged once, broken trackers'
\echo 'and only they quarantined, the vault = the VALID events, sessions, replay, the reports against staging,'
\echo 'the rate limiter''s counts (refused keys included), one audit record per call on the right tenant (refused'
\echo 'keys: within the bound per client and window), no key or full address kept'
\echo
\if :checks_failed
SELECT check_name AS "FAILED check", expected, actual
  FROM demo.checks
 WHERE NOT ok
 ORDER BY ord;
\endif
