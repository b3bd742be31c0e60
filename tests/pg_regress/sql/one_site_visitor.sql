-- One site, one visitor, one session (README, "One site, one visitor"): the visitor hash, the
-- derived session and the vault site of an event are those of the registered site that claims
-- the page's host (core/src/domain.rs site_of_host), so one browser on www., the bare domain
-- and the site's allowed domains is one visitor with one session, counted in the site's
-- reports in its time zone; onevault_tracking.merge_allowed_domain_sites() moves what 0.1.x
-- stored under an allowed domain's own site.
SELECT util.hash_binary('One Site Corp') AS tenant, encode(util.hash_binary('One Site Corp'), 'hex') AS tenant_hex,
       util.hash_binary('One Site Other Corp') AS other \gset
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source)
VALUES (:'tenant', 'One Site Corp', 'regress'), (:'other', 'One Site Other Corp', 'regress');
\set ua '''Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'''
SELECT answer ->> 'site_domain' AS site, answer -> 'allowed_domains' AS allowed
  FROM api.register_site(:'tenant', 'onesite.example', 'One site', ARRAY['onesite-shop.example'],
                         'America/New_York') AS answer;

-- Which site a host belongs to: the site's domain and allowed domains with or without www.; an
-- unclaimed host is its own site; another tenant's site claims nothing here; no host, no site.
SELECT host, onevault_tracking.site_of_host(:'tenant', host) AS tenant_site,
       onevault_tracking.site_of_host(:'other', host) AS other_tenant_site
  FROM unnest(ARRAY['onesite.example', 'WWW.OneSite.Example.', 'onesite-shop.example', 'www.onesite-shop.example',
                    'elsewhere.example', '']) AS host;

-- One browser (one IP and user agent, no session id) on www., the bare domain and the allowed
-- domain (with and without www.), through the keyless call and the raw API.
SELECT url, answer ->> 'status' AS status
  FROM unnest(ARRAY['https://www.onesite.example/', 'https://onesite.example/pricing',
                    'https://www.onesite-shop.example/cart']) WITH ORDINALITY AS u (url, n),
       LATERAL api.track_site_event('198.51.100.70', :ua, url) AS answer
 ORDER BY n;
SELECT raw.ingest_tracking_event(:'tenant', NULL, '198.51.100.70', :ua,
       '{"event_type": "page_view", "page_url": "https://onesite-shop.example/checkout"}') IS NOT NULL AS landed;
SELECT staging.process_pending_events() ->> 'valid' AS processed;
-- One visitor hash and one derived session for the four events, all on the site.
SELECT count(*) AS events, count(DISTINCT visitor_hash) AS visitor_hashes
  FROM raw.site_tracking_events_r WHERE tenant_hk = :'tenant';
SELECT page_host, site_domain, session_source FROM staging.site_tracking_events_s
 WHERE tenant_hk = :'tenant' ORDER BY raw_event_id;
SELECT count(DISTINCT session_id) AS sessions, count(DISTINCT visitor_hash) AS visitors
  FROM staging.site_tracking_events_s WHERE tenant_hk = :'tenant';
SELECT h.site_bk, count(*) AS events, count(DISTINCT l.session_hk) AS sessions
  FROM business.tracking_event_l AS l JOIN business.site_h AS h ON h.site_hk = l.site_hk
 WHERE l.tenant_hk = :'tenant' GROUP BY h.site_bk;
-- No vault site of its own for the allowed domain.
SELECT site_bk FROM business.site_h WHERE tenant_hk = :'tenant' ORDER BY 1;

-- An event on the allowed domain at 02:30 UTC on 10 May is counted on 9 May, the site's day in
-- New York.
SELECT raw.ingest_tracking_event(:'tenant', NULL, '198.51.100.71', :ua,
       '{"event_type": "page_view", "page_url": "https://www.onesite-shop.example/late", "timestamp": "2025-05-10T02:30:00Z"}') IS NOT NULL AS landed;
UPDATE raw.site_tracking_events_r SET received_at = '2025-05-10T02:31:00Z'
 WHERE tenant_hk = :'tenant' AND processing_status = 'PENDING';
SELECT staging.process_pending_events() ->> 'valid' AS processed;

SET onevault_tracking.tenant_id = :'tenant_hex';
SELECT a ->> 'timezone' AS timezone, a ->> 'pageviews' AS pageviews, a ->> 'visitors' AS visitors, a ->> 'visits' AS visits
  FROM api.site_stats('onesite.example', now() - interval '1 day', now() + interval '1 day') AS a;
SELECT b ->> 'value' AS page, b ->> 'pageviews' AS pageviews
  FROM jsonb_array_elements(api.site_breakdown('onesite.example', 'page', now() - interval '1 day', now() + interval '1 day')) AS b
 ORDER BY 1;
SELECT b ->> 'bucket' AS day, b ->> 'pageviews' AS pageviews
  FROM jsonb_array_elements(api.site_timeseries('onesite.example', '2025-05-09T04:00:00Z', '2025-05-11T04:00:00Z', 'day')) AS b;
RESET onevault_tracking.tenant_id;

-- The migration. 0.1.x keyed the vault site by the page's host, so three events on the allowed
-- domain (in New York: 31 May, 23:00 to 23:02) were stored under a site of their own, with its
-- page and session, and counted in no report of onesite.example. Built here as 0.1.x stored it.
SELECT onevault_tracking.hash_key(:'tenant', 'onesite-shop.example') AS old_site,
       onevault_tracking.hash_key(:'tenant', 'onesite-shop.example', '/legacy') AS old_page,
       onevault_tracking.hash_key(:'tenant', 'onesite-shop.example', 'legacy-session') AS old_session,
       onevault_tracking.hash_key(:'tenant', 'onesite.example') AS site,
       onevault_tracking.hash_key(:'tenant', 'onesite.example', '/legacy') AS new_page,
       onevault_tracking.hash_key(:'tenant', 'onesite.example', 'legacy-session') AS new_session,
       util.hash_binary('legacy visitor') AS legacy_visitor \gset
INSERT INTO business.site_h (site_hk, site_bk, tenant_hk, load_date, record_source)
VALUES (:'old_site', 'onesite-shop.example', :'tenant', '2025-06-01T03:00:00Z', 'regress 0.1');
INSERT INTO business.page_h (page_hk, page_bk, tenant_hk, load_date, record_source)
VALUES (:'old_page', 'onesite-shop.example/legacy', :'tenant', '2025-06-01T03:00:00Z', 'regress 0.1');
INSERT INTO business.session_h (session_hk, session_bk, tenant_hk, load_date, record_source)
VALUES (:'old_session', 'legacy-session', :'tenant', '2025-06-01T03:00:00Z', 'regress 0.1');
INSERT INTO business.page_site_l (page_site_hk, page_hk, site_hk, tenant_hk, record_source)
VALUES (onevault_tracking.hash_key(:'tenant', encode(:'old_page', 'hex'), encode(:'old_site', 'hex')),
        :'old_page', :'old_site', :'tenant', 'regress 0.1');
INSERT INTO business.session_site_l (session_site_hk, session_hk, site_hk, tenant_hk, record_source)
VALUES (onevault_tracking.hash_key(:'tenant', encode(:'old_session', 'hex'), encode(:'old_site', 'hex')),
        :'old_session', :'old_site', :'tenant', 'regress 0.1');
INSERT INTO business.page_details_s (page_hk, load_date, hash_diff, page_title, page_host, page_path, tenant_hk, record_source)
VALUES (:'old_page', '2025-06-01T03:00:00Z', util.hash_binary('legacy page'), 'Legacy', 'onesite-shop.example', '/legacy',
        :'tenant', 'regress 0.1');
INSERT INTO business.session_details_s (session_hk, load_date, hash_diff, visitor_hash, session_source, session_start,
                                        entry_page_path, channel, device_type, browser_name, os_name, is_bot, tenant_hk, record_source)
VALUES (:'old_session', '2025-06-01T03:00:00Z', util.hash_binary('legacy session'), :'legacy_visitor', 'client',
        '2025-06-01T03:00:00Z', '/legacy', 'direct', 'desktop', 'Firefox', 'Linux', false, :'tenant', 'regress 0.1');
INSERT INTO business.tracking_event_l (tracking_event_hk, tracking_event_bk, site_hk, page_hk, session_hk, tenant_hk, record_source)
SELECT onevault_tracking.hash_key(:'tenant', n::text), n::text, :'old_site', :'old_page', :'old_session', :'tenant', 'regress 0.1'
  FROM generate_series(900001, 900003) AS n;
INSERT INTO business.tracking_event_details_s (tracking_event_hk, load_date, hash_diff, event_type, event_timestamp, channel,
                                               device_type, browser_name, os_name, is_bot, visitor_hash, tenant_hk, record_source)
SELECT onevault_tracking.hash_key(:'tenant', n::text), '2025-06-01T03:00:00Z', util.hash_binary('legacy event ' || n), 'page_view',
       '2025-06-01T03:00:00Z'::timestamptz + (n - 900001) * interval '1 minute', 'direct', 'desktop', 'Firefox', 'Linux', false,
       :'legacy_visitor', :'tenant', 'regress 0.1'
  FROM generate_series(900001, 900003) AS n;

-- The site's stats over those days, from the rollups and from the vault, and the old site's.
CREATE FUNCTION pg_temp.stats(site text, source text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    a jsonb;
BEGIN
    PERFORM set_config('onevault_tracking.report_source', source, true);
    a := api.site_stats(site, '2025-05-31T04:00:00Z', '2025-06-02T04:00:00Z');
    RETURN format('%s %s: pageviews=%s visitors=%s visits=%s bounce_rate=%s duration=%s', a ->> 'site', a ->> 'timezone',
                  a ->> 'pageviews', a ->> 'visitors', a ->> 'visits', a ->> 'bounce_rate', a ->> 'visit_duration');
END
$$;
SET onevault_tracking.tenant_id = :'tenant_hex';
SELECT pg_temp.stats('onesite.example', 'rollups') AS before_merge
UNION ALL SELECT pg_temp.stats('onesite-shop.example', 'vault');
RESET onevault_tracking.tenant_id;

-- Not for readers: an admin's (or the upgrade's) call.
SELECT has_function_privilege('onevault_tracking_reader', 'onevault_tracking.merge_allowed_domain_sites()', 'EXECUTE') AS reader_may,
       has_function_privilege('onevault_tracking_admin', 'onevault_tracking.merge_allowed_domain_sites()', 'EXECUTE') AS admin_may;
SELECT answer - 'merged' - 'rollups_rebuilt' AS counts, (answer -> 'merged' -> 0) - 'tenant_id' AS merged,
       answer -> 'rollups_rebuilt' -> 0 ->> 'site_domain' AS rebuilt
  FROM onevault_tracking.merge_allowed_domain_sites() AS answer;
-- The events now point at the site, its page /legacy and its session legacy-session, which have
-- their links and a copy of the details; the old site's hub, links and satellites stay.
SELECT count(*) AS events, bool_and(site_hk = :'site') AS on_site, bool_and(page_hk = :'new_page') AS on_page,
       bool_and(session_hk = :'new_session') AS in_session
  FROM business.tracking_event_l WHERE tenant_hk = :'tenant' AND tracking_event_bk::bigint BETWEEN 900001 AND 900003;
SELECT p.page_bk, d.page_title, d.page_host,
       EXISTS (SELECT 1 FROM business.page_site_l AS l WHERE l.page_hk = p.page_hk AND l.site_hk = :'site') AS linked
  FROM business.page_h AS p JOIN business.page_details_s AS d ON d.page_hk = p.page_hk AND d.load_end_date IS NULL
 WHERE p.page_hk = :'new_page';
SELECT s.session_bk, d.entry_page_path, d.visitor_hash = :'legacy_visitor' AS same_visitor,
       EXISTS (SELECT 1 FROM business.session_site_l AS l WHERE l.session_hk = s.session_hk AND l.site_hk = :'site') AS linked
  FROM business.session_h AS s JOIN business.session_details_s AS d ON d.session_hk = s.session_hk AND d.load_end_date IS NULL
 WHERE s.session_hk = :'new_session';
SELECT (SELECT count(*) FROM business.site_h WHERE site_hk = :'old_site') AS old_site_kept,
       (SELECT count(*) FROM business.page_details_s WHERE page_hk = :'old_page') AS old_page_details_kept;

-- The reports count them now, in the site's time zone, and the rollups agree with the vault.
SET onevault_tracking.tenant_id = :'tenant_hex';
SELECT pg_temp.stats('onesite.example', 'rollups') AS after_merge
UNION ALL SELECT pg_temp.stats('onesite.example', 'vault')
UNION ALL SELECT pg_temp.stats('onesite-shop.example', 'rollups');
SELECT b ->> 'bucket' AS day, b ->> 'pageviews' AS pageviews
  FROM jsonb_array_elements(api.site_timeseries('onesite.example', '2025-05-31T04:00:00Z', '2025-06-02T04:00:00Z', 'day')) AS b;
RESET onevault_tracking.tenant_id;

-- Again: nothing left to move, nothing changes.
SELECT answer - 'merged' - 'rollups_rebuilt' AS counts FROM onevault_tracking.merge_allowed_domain_sites() AS answer;
SET onevault_tracking.tenant_id = :'tenant_hex';
SELECT pg_temp.stats('onesite.example', 'rollups') AS after_second_merge;
RESET onevault_tracking.tenant_id;
