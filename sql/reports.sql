-- Reports for the site owner: Plausible's metrics, answered from the rollups (sql/rollups.sql).
--
--   api.site_stats(domain, from, to, include_bots, filters, compare)          one object of totals
--   api.site_breakdown(domain, dimension, from, to, limit, include_bots, filters) top values
--   api.site_timeseries(domain, from, to, interval, include_bots, filters)    every hour or day
--
-- Common rules
-- - The tenant is the session's: onevault_tracking.current_tenant_hk() (the hex in the setting
--   onevault_tracking.tenant_id). Unset: ERROR 42501. Every table is filtered by it, on top of
--   row-level security (the functions are SECURITY INVOKER, so a reader's policies apply too).
-- - The site is found by its normalised domain (business.site_h.site_bk, through
--   onevault_tracking.site_domain(): IDNA to ASCII, lower case, without the trailing dot and a
--   leading "www.", as registration and tracking normalise it) within that tenant; another
--   tenant's site is as unknown as a site that does not exist (ERROR P0002, same message).
-- - The range is [p_from, p_to): p_from included, p_to excluded, on event_timestamp (the time
--   the client says the event happened). p_from >= p_to: ERROR 22023. NULL arguments: 22004.
-- - Bots (a visit whose first event is a bot's, and its events) are left out unless
--   p_include_bots; an unknown is_bot counts as human.
-- - p_filters, a JSON object, keeps only what matches all of its entries ({} keeps everything):
--   page, event_name, property:<key>  events with that page (page views), name or property
--                                     value (custom events), and the visits with such an event;
--   entry_page, exit_page, referrer, channel, utm_source, utm_medium, utm_campaign, browser,
--   os, device                        the visits with that attribute, and their events.
--   A value is a string, or null for "none" (referrer null: direct). Unknown keys: ERROR 22023.
-- - Where the answer comes from: the rollups, for no filter or a page filter alone (the
--   setting onevault_tracking.report_source = vault reads the vault instead, for checking);
--   any other filter reads the vault (slower: proportional to the events in range).
--
-- Metric definitions (the same whether read from the rollups or the vault)
-- - pageviews:       page_view events in range; events: all events (page views and custom).
-- - visits:          visits (sessions) that start in range (their first event).
-- - visitors:        visitor hashes with an event in range, counted per UTC day: the salt is
--                    daily, so a visitor on two days is two hashes anyway, and every hash is
--                    counted in the day of its events (events sent without a client IP add no
--                    visitor).
-- - views_per_visit: pageviews / visits, 2 decimals (0 without visits).
-- - bounce_rate:     the share of the visits with exactly one page view (in the whole visit), in
--                    percent, rounded to a whole number (0 without visits). Custom events
--                    neither make nor prevent a bounce; a visit of custom events only is not a
--                    bounce (it has no page view) but counts as a visit.
-- - visit_duration:  the average over visits of the seconds between the visit's first and last
--                    event (page views and custom events; a one-event visit lasts 0), rounded
--                    to whole seconds.
-- - custom_events:   event_name -> number of custom events in range.
-- A visit belongs to the range it starts in, with all of its events' page views for bounce and
-- duration; its page views are counted where they happen.

-- Indexes --------------------------------------------------------------------------------------

-- Every report starts with the same range scan: the tenant's current event details between two
-- timestamps. This index is partial on current rows (history rows never count) and covers the
-- columns the totals, time series and page/visit breakdowns read (event_type, event_name, is_bot,
-- visitor_hash, and tracking_event_hk for the join to the link), so they read the index only,
-- never the satellite's heap (Index Only Scan, Heap Fetches: 0). The site is on the link, not
-- the satellite, so the join to business.tracking_event_l (one hash join; the link is read
-- through its existing site_hk index) decides which events are the site's. Measured on 600,000
-- events (300,000 on the reported site over 90 days): a one-week range reads 718 index pages
-- instead of a bitmap heap scan over the satellite. A covering index on the link was measured
-- too and not kept: the planner preferred the existing site_hk index and it cost as much space
-- as the link table itself.
CREATE INDEX tracking_event_details_s_report_idx
    ON business.tracking_event_details_s (tenant_hk, event_timestamp)
    INCLUDE (tracking_event_hk, event_type, event_name, is_bot, visitor_hash)
    WHERE load_end_date IS NULL;

-- Context ----------------------------------------------------------------------------------------

-- The checks every report makes, and what they find: the session's tenant, the site (by domain,
-- within that tenant) and its time zone (the current site_details_s row; UTC when unset).
CREATE FUNCTION onevault_tracking.report_site(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_include_bots boolean,
    OUT tenant bytea, OUT site bytea, OUT domain text, OUT zone text)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $report_site$
BEGIN
    tenant := onevault_tracking.current_tenant_hk();
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant selected for onevault_tracking reports'
            USING ERRCODE = '42501',
                  HINT = 'SET onevault_tracking.tenant_id to the hex of your tenant''s tenant_hk (64 hex digits); a role listed in onevault_tracking.reader_tenants may select only the tenants listed for it.';
    END IF;
    IF p_site_domain IS NULL OR p_from IS NULL OR p_to IS NULL OR p_include_bots IS NULL THEN
        RAISE EXCEPTION 'p_site_domain, p_from, p_to and p_include_bots must not be NULL'
            USING ERRCODE = '22004',
                  HINT = 'p_from and p_to bound the range [p_from, p_to); p_include_bots is true or false.';
    END IF;
    IF p_from >= p_to THEN
        RAISE EXCEPTION 'empty reporting range: p_from must be before p_to'
            USING ERRCODE = '22023',
                  HINT = 'The range is [p_from, p_to): p_from is included, p_to is not.';
    END IF;

    -- The site's business key, by the one normaliser of site domains (core/src/domain.rs); an
    -- input that is no domain at all finds no site and is named as given.
    domain := coalesce(onevault_tracking.site_domain(p_site_domain), btrim(p_site_domain));
    SELECT h.site_hk INTO site
      FROM business.site_h AS h
     WHERE h.tenant_hk = tenant AND h.site_bk = domain;
    IF site IS NULL THEN
        RAISE EXCEPTION 'site "%" not found for the current tenant', domain
            USING ERRCODE = 'P0002',
                  HINT = 'Sites are registered with api.register_site (or appear with their first event); the domain is compared in its ASCII (IDNA) form, in lower case, without "www." and a trailing dot.';
    END IF;

    SELECT nullif(d.timezone, '') INTO zone
      FROM business.site_details_s AS d
     WHERE d.site_hk = site AND d.tenant_hk = tenant AND d.load_end_date IS NULL;
    zone := coalesce(zone, 'UTC');
END
$report_site$;

-- The events every report counts: the tenant's current event details of the site in [p_from,
-- p_to), bots left out unless p_include_bots (the rules above), with their link's keys. The
-- reports call it with report_site's tenant and site, and add their own conditions.
-- It is written to be inlined: LANGUAGE sql, STABLE, one SELECT, not STRICT, not SECURITY
-- DEFINER and without a SET clause, so the planner pastes it into the calling query. The
-- caller's conditions then join the scan, and only the columns the caller reads are read: a
-- caller reading only the index's columns still gets an Index Only Scan on
-- tracking_event_details_s_report_idx. PARALLEL SAFE, as its body is: the planner judges a query
-- by the functions it calls before inlining them, and an unsafe one would rule out parallel
-- plans. Without a SET clause it cannot pin search_path, and its body is parsed with the
-- caller's; so every name in it is qualified, operators included.
CREATE FUNCTION onevault_tracking.report_events(
    p_tenant bytea, p_site bytea, p_from timestamptz, p_to timestamptz, p_include_bots boolean)
RETURNS TABLE (
    tracking_event_hk bytea, session_hk bytea, page_hk bytea, event_type text, event_name text,
    event_timestamp timestamptz, visitor_hash bytea, properties jsonb, referrer_host text, channel text,
    utm_source text, utm_medium text, utm_campaign text, browser_name text, os_name text, device_type text)
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY INVOKER
AS $report_events$
    SELECT d.tracking_event_hk, l.session_hk, l.page_hk, d.event_type, d.event_name, d.event_timestamp,
           d.visitor_hash, d.properties, d.referrer_host, d.channel, d.utm_source, d.utm_medium,
           d.utm_campaign, d.browser_name, d.os_name, d.device_type
      FROM business.tracking_event_details_s AS d
      JOIN business.tracking_event_l AS l ON l.tracking_event_hk OPERATOR(pg_catalog.=) d.tracking_event_hk
     WHERE d.tenant_hk OPERATOR(pg_catalog.=) p_tenant AND d.load_end_date IS NULL
       AND d.event_timestamp OPERATOR(pg_catalog.>=) p_from AND d.event_timestamp OPERATOR(pg_catalog.<) p_to
       AND (p_include_bots OR d.is_bot IS NOT TRUE)
       AND l.tenant_hk OPERATOR(pg_catalog.=) p_tenant AND l.site_hk OPERATOR(pg_catalog.=) p_site
$report_events$;


-- Checks p_filters (see the rules above) and answers it; NULL is no filter.
CREATE FUNCTION onevault_tracking.report_filters(p_filters jsonb)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SECURITY INVOKER
AS $report_filters$
DECLARE
    bad text;
BEGIN
    IF p_filters IS NULL THEN
        RETURN '{}';
    END IF;
    IF jsonb_typeof(p_filters) <> 'object' THEN
        RAISE EXCEPTION 'p_filters must be a JSON object, not %', jsonb_typeof(p_filters)
            USING ERRCODE = '22023', HINT = 'For example {"page": "/pricing", "channel": "search"}; {} is no filter.';
    END IF;
    SELECT f.key INTO bad
      FROM jsonb_each(p_filters) AS f
     WHERE NOT (f.key IN ('page', 'entry_page', 'exit_page', 'referrer', 'channel', 'utm_source', 'utm_medium',
                          'utm_campaign', 'browser', 'os', 'device', 'event_name')
                OR (starts_with(f.key, 'property:') AND length(f.key) > 9))
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'unknown report filter "%"', bad
            USING ERRCODE = '22023',
                  HINT = 'Filters: page, entry_page, exit_page, referrer, channel, utm_source, utm_medium, utm_campaign, browser, os, device, event_name, property:<key>.';
    END IF;
    SELECT f.key INTO bad FROM jsonb_each(p_filters) AS f WHERE jsonb_typeof(f.value) NOT IN ('string', 'null') LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'report filter "%" must be a string or null', bad
            USING ERRCODE = '22023', HINT = 'null asks for no value, e.g. {"referrer": null} for direct visits.';
    END IF;
    RETURN p_filters;
END
$report_filters$;

-- How the rollups cover [p_from, p_to): its whole UTC days ('d'), its other whole UTC hours
-- ('h'), and the partial hours at its ends, read from the vault ('v').
CREATE FUNCTION onevault_tracking.report_pieces(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (source "char", piece_from timestamptz, piece_to timestamptz)
LANGUAGE sql
STABLE
SECURITY INVOKER
AS $report_pieces$
    WITH b AS (
        SELECT CASE WHEN date_trunc('hour', p_from, 'UTC') = p_from THEN p_from
                    ELSE date_trunc('hour', p_from, 'UTC') + interval '1 hour' END AS hour_from,
               date_trunc('hour', p_to, 'UTC') AS hour_to,
               CASE WHEN date_trunc('day', p_from, 'UTC') = p_from THEN p_from
                    ELSE date_trunc('day', p_from, 'UTC') + interval '24 hours' END AS day_from,
               date_trunc('day', p_to, 'UTC') AS day_to
    )
    SELECT 'v'::"char", p_from, p_to FROM b WHERE b.hour_from >= b.hour_to
    UNION ALL SELECT 'v', p_from, b.hour_from FROM b WHERE b.hour_from < b.hour_to AND p_from < b.hour_from
    UNION ALL SELECT 'v', b.hour_to, p_to FROM b WHERE b.hour_from < b.hour_to AND b.hour_to < p_to
    UNION ALL SELECT 'd', b.day_from, b.day_to FROM b WHERE b.day_from < b.day_to
    UNION ALL SELECT 'h', b.hour_from, b.day_from FROM b WHERE b.day_from < b.day_to AND b.hour_from < b.day_from
    UNION ALL SELECT 'h', b.day_to, b.hour_to FROM b WHERE b.day_from < b.day_to AND b.day_to < b.hour_to
    UNION ALL SELECT 'h', b.hour_from, b.hour_to FROM b WHERE b.hour_from < b.hour_to AND b.day_from >= b.day_to
$report_pieces$;

-- Every report's numbers: for each range of p_ranges ([lower, upper), by its position) and each
-- value of p_dimension ('' the totals, with value NULL), the sums and the visitors (see the
-- definitions above), for the checked p_filters.
--   From the rollups: sums from the day and hour rows the range covers plus its partial hours
--   from the vault; visitors per UTC day piece of the range: a whole day or a single hour that is
--   closed from its rows (exact), any other piece counted from the vault (exact, slower).
--   From the vault (onevault_tracking.report_source = vault, a filter other than page, or an
--   infinite range): everything from onevault_tracking.traffic_contributions().
CREATE FUNCTION onevault_tracking.report_metrics(
    p_tenant bytea, p_site bytea, p_ranges tstzrange[], p_include_bots boolean, p_dimension text,
    p_filters jsonb)
RETURNS TABLE (range_index integer, value text, pageviews bigint, events bigint, visits bigint,
               bounces bigint, duration_us bigint, visitors bigint)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
-- A plan for the call's own ranges: a generic plan cached after a long hourly series reads every
-- bucket of the dimension for a one-day range (30x slower). Without JIT: the set-returning
-- functions' default estimates put these queries above jit_above_cost, and compiling them cost
-- 40 ms of a 1-day hourly series' 88 and most of a 30-day one's 660 (bench/README.md, "Reports
-- at scale"); the reports over the vault run without it too.
SET plan_cache_mode = force_custom_plan
SET jit = off
AS $report_metrics$
DECLARE
    page text := coalesce(p_filters ->> 'page', '');
    from_rollups boolean :=
        coalesce(current_setting('onevault_tracking.report_source', true), '') IS DISTINCT FROM 'vault'
        AND (p_filters = '{}' OR (p_filters ?& ARRAY['page'] AND (SELECT count(*) FROM jsonb_object_keys(p_filters)) = 1
                                 AND jsonb_typeof(p_filters -> 'page') = 'string'))
        AND NOT EXISTS (SELECT FROM unnest(p_ranges) AS r WHERE NOT (isfinite(lower(r)) AND isfinite(upper(r))));
BEGIN
    IF NOT from_rollups THEN
        RETURN QUERY
        WITH ranges AS (
            SELECT u.i::integer AS i, lower(u.r) AS range_from, upper(u.r) AS range_to
              FROM unnest(p_ranges) WITH ORDINALITY AS u (r, i)
        ),
        contributions AS MATERIALIZED (
            SELECT r.i, c.*
              FROM ranges AS r
             CROSS JOIN LATERAL onevault_tracking.traffic_contributions(
                       p_tenant, p_site, r.range_from, r.range_to, NULL, NULL, NULL, '', p_dimension, p_filters) AS c
             WHERE p_include_bots OR NOT c.bots
        ),
        sums AS (
            SELECT c.i, c.value, coalesce('v' || c.value, 'n') AS value_key,
                   sum(c.pageviews)::bigint AS pageviews, sum(c.events)::bigint AS events,
                   sum(c.visits)::bigint AS visits, sum(c.bounces)::bigint AS bounces,
                   sum(c.duration_us)::bigint AS duration_us
              FROM contributions AS c
             GROUP BY c.i, c.value
        ),
        visitors AS (
            SELECT v.i, v.value_key, sum(v.visitors)::bigint AS visitors
              FROM (SELECT c.i, coalesce('v' || c.value, 'n') AS value_key, count(DISTINCT c.visitor_hash) AS visitors
                      FROM contributions AS c
                     WHERE c.kind = 'e' AND c.visitor_hash IS NOT NULL
                     GROUP BY c.i, c.value, c.bots, date_trunc('day', c.at, 'UTC')) AS v
             GROUP BY v.i, v.value_key
        )
        SELECT s.i, s.value, s.pageviews, s.events, s.visits, s.bounces, s.duration_us, coalesce(v.visitors, 0)
          FROM sums AS s
          LEFT JOIN visitors AS v ON v.i = s.i AND v.value_key = s.value_key;
        RETURN;
    END IF;

    RETURN QUERY
    WITH ranges AS (
        SELECT u.i::integer AS i, lower(u.r) AS range_from, upper(u.r) AS range_to
          FROM unnest(p_ranges) WITH ORDINALITY AS u (r, i)
    ),
    pieces AS (
        SELECT r.i, p.source, p.piece_from, p.piece_to
          FROM ranges AS r
         CROSS JOIN LATERAL onevault_tracking.report_pieces(r.range_from, r.range_to) AS p
    ),
    parts AS (
        SELECT p.i, x.value, x.pageviews, x.events, x.visits, x.bounces, x.duration_us
          FROM pieces AS p
          JOIN business.site_traffic_rollup AS x
            ON x.tenant_hk = p_tenant AND x.site_hk = p_site AND x.filter_key = md5(page)::uuid
           AND x.page_filter = page AND x.dimension = p_dimension
           AND x.granularity = p.source AND x.bucket >= p.piece_from AND x.bucket < p.piece_to
           AND (p_include_bots OR NOT x.bots)
         WHERE p.source IN ('h', 'd')
        UNION ALL
        SELECT p.i, c.value, c.pageviews, c.events, c.visits, c.bounces, c.duration_us
          FROM pieces AS p
         CROSS JOIN LATERAL onevault_tracking.traffic_contributions(
                   p_tenant, p_site, p.piece_from, p.piece_to, NULL, NULL, NULL, page, p_dimension, NULL) AS c
         WHERE p.source = 'v' AND (p_include_bots OR NOT c.bots)
    ),
    sums AS (
        SELECT x.i, x.value, coalesce('v' || x.value, 'n') AS value_key,
               sum(x.pageviews)::bigint AS pageviews, sum(x.events)::bigint AS events,
               sum(x.visits)::bigint AS visits, sum(x.bounces)::bigint AS bounces,
               sum(x.duration_us)::bigint AS duration_us
          FROM parts AS x
         GROUP BY x.i, x.value
    ),
    -- Each range cut at UTC midnights: visitors add up across these pieces.
    day_pieces AS (
        SELECT f.i, f.piece_from, f.piece_to,
               CASE WHEN f.piece_to - f.piece_from = interval '24 hours'
                         AND f.piece_from = date_trunc('day', f.piece_from, 'UTC') THEN 'd'
                    WHEN f.piece_to - f.piece_from = interval '1 hour'
                         AND f.piece_from = date_trunc('hour', f.piece_from, 'UTC') THEN 'h'
               END::"char" AS granularity
          FROM (SELECT r.i, greatest(r.range_from, d.day) AS piece_from,
                       least(r.range_to, d.day + interval '24 hours') AS piece_to
                  FROM ranges AS r
                 CROSS JOIN LATERAL generate_series(date_trunc('day', r.range_from, 'UTC'),
                                                    r.range_to - interval '1 microsecond',
                                                    interval '24 hours') AS d (day)) AS f
    ),
    -- A whole hour or day is read from the rollups unless its bucket is open; a bucket without
    -- a row had no event loaded (every load opens the buckets of its events), so it counts no
    -- visitor and needs no look at the vault (a month by the hour has many such hours).
    counted AS (
        SELECT d.*, d.granularity IS NOT NULL
                    AND NOT EXISTS (SELECT FROM business.site_traffic_bucket AS t
                                     WHERE t.tenant_hk = p_tenant AND t.site_hk = p_site AND t.granularity = d.granularity
                                       AND t.bucket = d.piece_from AND t.closed_at IS NULL) AS closed
          FROM day_pieces AS d
    ),
    visitor_parts AS (
        SELECT c.i, coalesce('v' || x.value, 'n') AS value_key, x.visitors
          FROM counted AS c
          JOIN business.site_traffic_rollup AS x
            ON x.tenant_hk = p_tenant AND x.site_hk = p_site AND x.filter_key = md5(page)::uuid
           AND x.page_filter = page AND x.dimension = p_dimension
           AND x.granularity = c.granularity AND x.bucket = c.piece_from
           AND (p_include_bots OR NOT x.bots)
         WHERE c.closed
        UNION ALL
        SELECT c.i, coalesce('v' || v.value, 'n'), count(DISTINCT v.visitor_hash)
          FROM counted AS c
         CROSS JOIN LATERAL onevault_tracking.traffic_contributions(
                   p_tenant, p_site, c.piece_from, c.piece_to, NULL, NULL, NULL, page, p_dimension, NULL) AS v
         WHERE NOT c.closed AND v.kind = 'e' AND v.visitor_hash IS NOT NULL AND (p_include_bots OR NOT v.bots)
         GROUP BY c.i, c.piece_from, v.value, v.bots
    ),
    visitors AS (
        SELECT v.i, v.value_key, sum(v.visitors)::bigint AS visitors
          FROM visitor_parts AS v
         GROUP BY v.i, v.value_key
    )
    SELECT s.i, s.value, s.pageviews, s.events, s.visits, s.bounces, s.duration_us, coalesce(v.visitors, 0)
      FROM sums AS s
      LEFT JOIN visitors AS v ON v.i = s.i AND v.value_key = s.value_key;
END
$report_metrics$;

-- The totals of a report_metrics row as the reports show them.
CREATE FUNCTION onevault_tracking.report_totals(
    p_visitors bigint, p_visits bigint, p_pageviews bigint, p_events bigint, p_bounces bigint, p_duration_us bigint)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SECURITY INVOKER
AS $report_totals$
    SELECT jsonb_build_object(
               'visitors', coalesce(p_visitors, 0),
               'visits', coalesce(p_visits, 0),
               'pageviews', coalesce(p_pageviews, 0),
               'events', coalesce(p_events, 0),
               'views_per_visit', CASE WHEN coalesce(p_visits, 0) = 0 THEN 0
                                       ELSE round(p_pageviews::numeric / p_visits, 2) END,
               'bounce_rate', CASE WHEN coalesce(p_visits, 0) = 0 THEN 0
                                   ELSE round(100 * p_bounces::numeric / p_visits)::bigint END,
               'visit_duration', CASE WHEN coalesce(p_visits, 0) = 0 THEN 0
                                      ELSE round(p_duration_us::numeric / 1000000 / p_visits)::bigint END)
$report_totals$;

-- Totals -----------------------------------------------------------------------------------------

-- With p_compare, the answer adds "previous" (the same totals over the period of the same length
-- just before: [p_from - (p_to - p_from), p_from)) and "change": per metric the change in percent,
-- rounded to a whole number (null when the previous value is 0), except bounce_rate, whose change
-- is the difference in percentage points.
CREATE FUNCTION api.site_stats(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_include_bots boolean DEFAULT false,
    p_filters jsonb DEFAULT '{}', p_compare boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $site_stats$
DECLARE
    ctx record;
    filters jsonb;
    ranges tstzrange[];
    current_totals jsonb;
    previous_totals jsonb;
    custom jsonb;
    answer jsonb;
BEGIN
    SELECT * INTO STRICT ctx FROM onevault_tracking.report_site(p_site_domain, p_from, p_to, p_include_bots);
    filters := onevault_tracking.report_filters(p_filters);
    IF p_compare IS NULL THEN
        RAISE EXCEPTION 'p_compare must not be NULL' USING ERRCODE = '22004', HINT = 'true or false.';
    END IF;
    ranges := ARRAY[tstzrange(p_from, p_to, '[)')];
    IF p_compare THEN
        ranges := ranges || tstzrange(p_from - (p_to - p_from), p_from, '[)');
    END IF;

    WITH totals AS (
        SELECT r.i, m.visitors, m.visits, m.pageviews, m.events, m.bounces, m.duration_us
          FROM generate_series(1, cardinality(ranges)) AS r (i)
          LEFT JOIN onevault_tracking.report_metrics(ctx.tenant, ctx.site, ranges, p_include_bots, '', filters) AS m
            ON m.range_index = r.i
    )
    SELECT max(onevault_tracking.report_totals(t.visitors, t.visits, t.pageviews, t.events, t.bounces, t.duration_us)::text)
               FILTER (WHERE t.i = 1)::jsonb,
           max(onevault_tracking.report_totals(t.visitors, t.visits, t.pageviews, t.events, t.bounces, t.duration_us)::text)
               FILTER (WHERE t.i = 2)::jsonb
      INTO current_totals, previous_totals
      FROM totals AS t;

    SELECT coalesce(jsonb_object_agg(m.value, m.events), '{}')
      INTO custom
      FROM onevault_tracking.report_metrics(ctx.tenant, ctx.site, ranges[1:1], p_include_bots, 'event_name', filters) AS m
     WHERE m.value IS NOT NULL;

    answer := jsonb_build_object(
                  'site', ctx.domain,
                  'timezone', ctx.zone,
                  'from', to_char(p_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                  'to', to_char(p_to AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                  'include_bots', p_include_bots)
              || current_totals
              || jsonb_build_object('custom_events', custom);
    IF filters <> '{}' THEN
        answer := answer || jsonb_build_object('filters', filters);
    END IF;
    IF p_compare THEN
        answer := answer || jsonb_build_object(
            'previous', previous_totals || jsonb_build_object(
                'from', to_char((p_from - (p_to - p_from)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                'to', to_char(p_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
            'change', (SELECT jsonb_object_agg(
                                  k.metric,
                                  CASE WHEN k.metric = 'bounce_rate'
                                       THEN to_jsonb((current_totals ->> k.metric)::numeric - (previous_totals ->> k.metric)::numeric)
                                       WHEN (previous_totals ->> k.metric)::numeric = 0 THEN 'null'::jsonb
                                       ELSE to_jsonb(round(100 * ((current_totals ->> k.metric)::numeric
                                                                  - (previous_totals ->> k.metric)::numeric)
                                                           / (previous_totals ->> k.metric)::numeric)) END)
                         FROM unnest(ARRAY['visitors', 'visits', 'pageviews', 'events', 'views_per_visit',
                                           'bounce_rate', 'visit_duration']) AS k (metric)));
    END IF;
    RETURN answer;
END
$site_stats$;

-- Every site of the reader's tenant with its totals over [p_from, p_to): api.site_stats' counts
-- (bounces and the total visit duration instead of the rates, which do not add up), one row per
-- site by domain. A visitor hash is made per site, so the rows add up to the tenant's totals
-- exactly; the proxy of a scaled-out deployment answers with every shard's rows (README,
-- "Scaling out").
CREATE FUNCTION api.tenant_site_stats(p_from timestamptz, p_to timestamptz, p_include_bots boolean DEFAULT false)
RETURNS TABLE (site_domain text, visitors bigint, visits bigint, pageviews bigint, events bigint,
               bounces bigint, duration_seconds bigint)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $tenant_site_stats$
#variable_conflict use_column
DECLARE
    tenant constant bytea := onevault_tracking.current_tenant_hk();
BEGIN
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant selected for onevault_tracking reports'
            USING ERRCODE = '42501',
                  HINT = 'SET onevault_tracking.tenant_id to the hex of your tenant''s tenant_hk (64 hex digits); a role listed in onevault_tracking.reader_tenants may select only the tenants listed for it.';
    END IF;
    IF p_from IS NULL OR p_to IS NULL OR p_include_bots IS NULL OR p_from >= p_to THEN
        RAISE EXCEPTION 'the range [p_from, p_to) must be given and not empty, and p_include_bots true or false'
            USING ERRCODE = '22023', HINT = 'p_from is included, p_to is not.';
    END IF;
    RETURN QUERY
    SELECT h.site_bk::text, coalesce(m.visitors, 0), coalesce(m.visits, 0), coalesce(m.pageviews, 0),
           coalesce(m.events, 0), coalesce(m.bounces, 0), coalesce(round(m.duration_us / 1000000.0), 0)::bigint
      FROM business.site_h AS h
      LEFT JOIN LATERAL onevault_tracking.report_metrics(h.tenant_hk, h.site_hk, ARRAY[tstzrange(p_from, p_to, '[)')],
                                                         p_include_bots, '', '{}') AS m ON true
     WHERE h.tenant_hk = tenant
     ORDER BY h.site_bk;
END
$tenant_site_stats$;

-- Breakdowns -------------------------------------------------------------------------------------

-- Top values of one dimension, as a JSON array of {value, visitors, visits, pageviews} (events
-- instead of pageviews for event_name and property:<key>), ordered by visitors, visits, then
-- pageviews/events (all descending), then value (byte order, NULL last), at most p_limit rows.
-- A NULL value means none or unknown (e.g. referrer null = direct, utm_source null = no campaign).
--
--   page          page views by page path; visits: the visits (starting in range) that viewed it
--   entry_page    visits by the page of their first page view; pageviews: all page views of
--   exit_page     those visits in range (the last page view for exit_page)
--   referrer, channel, utm_source, utm_medium, utm_campaign, browser, os, device
--                 visits by where the visit came from and what it ran on, from its first event
--                 (as Plausible attributes a visit to its source); an event without a session
--                 stands for itself with its own attributes
--   event_name    custom events by name
--   property:<key> custom events that have the property, by its value (as text)
CREATE FUNCTION api.site_breakdown(
    p_site_domain text, p_dimension text, p_from timestamptz, p_to timestamptz,
    p_limit integer DEFAULT 10, p_include_bots boolean DEFAULT false, p_filters jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $site_breakdown$
DECLARE
    ctx record;
    filters jsonb;
    measure text;
    answer jsonb;
BEGIN
    SELECT * INTO STRICT ctx FROM onevault_tracking.report_site(p_site_domain, p_from, p_to, p_include_bots);
    filters := onevault_tracking.report_filters(p_filters);
    IF p_dimension IS NULL OR p_limit IS NULL THEN
        RAISE EXCEPTION 'p_dimension and p_limit must not be NULL'
            USING ERRCODE = '22004',
                  HINT = 'p_limit is the number of values to return, 1 to 1000.';
    END IF;
    IF p_limit NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'p_limit must be between 1 and 1000, not %', p_limit
            USING ERRCODE = '22023',
                  HINT = 'Ask for the top 1 to 1000 values.';
    END IF;
    IF NOT (p_dimension IN ('page', 'entry_page', 'exit_page', 'referrer', 'channel', 'utm_source',
                            'utm_medium', 'utm_campaign', 'browser', 'os', 'device', 'event_name')
            OR (starts_with(p_dimension, 'property:') AND length(p_dimension) > 9)) THEN
        RAISE EXCEPTION 'unknown breakdown dimension "%"', p_dimension
            USING ERRCODE = '22023',
                  HINT = 'Valid dimensions: page, entry_page, exit_page, referrer, channel, utm_source, utm_medium, utm_campaign, browser, os, device, event_name, property:<key> (a custom event property).';
    END IF;
    measure := CASE WHEN p_dimension = 'event_name' OR starts_with(p_dimension, 'property:') THEN 'events'
                    ELSE 'pageviews' END;

    WITH top AS (
        SELECT m.value, m.visitors, m.visits,
               CASE measure WHEN 'events' THEN m.events ELSE m.pageviews END AS amount
          FROM onevault_tracking.report_metrics(ctx.tenant, ctx.site, ARRAY[tstzrange(p_from, p_to, '[)')],
                                                p_include_bots, p_dimension, filters) AS m
         ORDER BY m.visitors DESC, m.visits DESC, amount DESC, m.value COLLATE "C" NULLS LAST
         LIMIT p_limit
    )
    SELECT jsonb_agg(jsonb_build_object('value', t.value, 'visitors', t.visitors, 'visits', t.visits,
                                        measure, t.amount)
                     ORDER BY t.visitors DESC, t.visits DESC, t.amount DESC, t.value COLLATE "C" NULLS LAST)
      INTO answer
      FROM top AS t;
    RETURN coalesce(answer, '[]');
END
$site_breakdown$;

-- Time series ------------------------------------------------------------------------------------

-- Every hour or day bucket of the range in the site's time zone, oldest first, zero-filled:
-- {bucket, start, visitors, visits, pageviews}. bucket is the local label ("2025-03-30" for a
-- day, "2025-03-30T03:00:00+02:00" for an hour: the offset tells the two 01:00 hours of a
-- autumn night apart), start the bucket's first instant in UTC. Buckets follow the zone's
-- clock: a spring day has 23 hours and no 02:00 bucket, an autumn day 25. The first and last
-- buckets count only what lies inside [p_from, p_to). Each bucket is a range of its own (the
-- definitions above): visits that start in it, visitors with an event in it.
--
-- A bucket is named by its start, computed from an instant t as
--   hour: t minus the part of its local time past the hour (exact across DST changes and for
--         zones offset by 30 or 45 minutes);
--   day:  local midnight of t's local date.
-- The series samples the range every 15 minutes (hours) or 6 hours (days) from the first
-- bucket's start and keeps the distinct buckets of the samples: bucket starts are whole quarter
-- hours in UTC and no bucket is shorter than its sampling step, so every bucket an event can
-- fall in is present (unlike local timestamps stepped with generate_series, which would invent
-- a spring 02:00 and merge the two autumn 01:00 hours).
CREATE FUNCTION api.site_timeseries(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_interval text DEFAULT 'day',
    p_include_bots boolean DEFAULT false, p_filters jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $site_timeseries$
DECLARE
    ctx record;
    filters jsonb;
    hourly boolean;
    max_buckets constant integer := 10000;
    starts timestamptz[];
    ranges tstzrange[];
    answer jsonb;
BEGIN
    SELECT * INTO STRICT ctx FROM onevault_tracking.report_site(p_site_domain, p_from, p_to, p_include_bots);
    filters := onevault_tracking.report_filters(p_filters);
    IF p_interval IS NULL THEN
        RAISE EXCEPTION 'p_interval must not be NULL'
            USING ERRCODE = '22004', HINT = 'Use ''hour'' or ''day''.';
    ELSIF p_interval NOT IN ('hour', 'day') THEN
        RAISE EXCEPTION 'unknown time series interval "%"', p_interval
            USING ERRCODE = '22023', HINT = 'Use ''hour'' or ''day''.';
    END IF;
    hourly := p_interval = 'hour';
    IF NOT (isfinite(p_from) AND isfinite(p_to)) THEN
        RAISE EXCEPTION 'a time series needs a finite range'
            USING ERRCODE = '22023', HINT = 'Give p_from and p_to as timestamps, not infinity.';
    END IF;
    IF extract(epoch FROM p_to - p_from) / (CASE WHEN hourly THEN 3600 ELSE 86400 END) > max_buckets THEN
        RAISE EXCEPTION 'the range has more than % % buckets', max_buckets, p_interval
            USING ERRCODE = '54000',
                  HINT = CASE WHEN hourly THEN 'Ask for days, or for a shorter range.'
                              ELSE 'Ask for a shorter range.' END;
    END IF;

    -- The buckets' starts, then each bucket's part of the range.
    SELECT array_agg(b.bucket ORDER BY b.bucket)
      INTO starts
      FROM (SELECT DISTINCT
                   CASE WHEN hourly
                        THEN s.at - ((s.at AT TIME ZONE ctx.zone) - date_trunc('hour', s.at AT TIME ZONE ctx.zone))
                        ELSE date_trunc('day', s.at AT TIME ZONE ctx.zone) AT TIME ZONE ctx.zone
                   END AS bucket
              FROM generate_series(CASE WHEN hourly
                                        THEN p_from - ((p_from AT TIME ZONE ctx.zone)
                                                       - date_trunc('hour', p_from AT TIME ZONE ctx.zone))
                                        ELSE date_trunc('day', p_from AT TIME ZONE ctx.zone) AT TIME ZONE ctx.zone
                                   END,
                                   p_to - interval '1 microsecond',
                                   CASE WHEN hourly THEN interval '15 minutes' ELSE interval '6 hours' END) AS s (at)) AS b;
    SELECT array_agg(tstzrange(greatest(starts[i], p_from), least(coalesce(starts[i + 1], p_to), p_to), '[)') ORDER BY i)
      INTO ranges
      FROM generate_subscripts(starts, 1) AS i;

    WITH labelled AS (
        SELECT i, starts[i] AS bucket,
               starts[i] AT TIME ZONE ctx.zone AS local_start,
               extract(epoch FROM (starts[i] AT TIME ZONE ctx.zone) - (starts[i] AT TIME ZONE 'UTC'))::integer / 60
                   AS offset_minutes,
               coalesce(m.visitors, 0) AS visitors,
               coalesce(m.visits, 0) AS visits,
               coalesce(m.pageviews, 0) AS pageviews
          FROM generate_subscripts(starts, 1) AS i
          LEFT JOIN onevault_tracking.report_metrics(ctx.tenant, ctx.site, ranges, p_include_bots, '', filters) AS m
            ON m.range_index = i
    )
    SELECT jsonb_agg(jsonb_build_object(
               'bucket', CASE WHEN hourly
                              THEN to_char(x.local_start, 'YYYY-MM-DD"T"HH24:MI:SS')
                                   || CASE WHEN x.offset_minutes < 0 THEN '-' ELSE '+' END
                                   || lpad((abs(x.offset_minutes) / 60)::text, 2, '0') || ':'
                                   || lpad((abs(x.offset_minutes) % 60)::text, 2, '0')
                              ELSE to_char(x.local_start, 'YYYY-MM-DD') END,
               'start', to_char(x.bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'visitors', x.visitors,
               'visits', x.visits,
               'pageviews', x.pageviews)
             ORDER BY x.bucket)
      INTO answer
      FROM labelled AS x;
    RETURN coalesce(answer, '[]');
END
$site_timeseries$;
