-- Reports for the site owner: Plausible's metrics over the business vault.
--
--   api.site_stats(domain, from, to, include_bots)                      one object of totals
--   api.site_breakdown(domain, dimension, from, to, limit, include_bots) top values of a dimension
--   api.site_timeseries(domain, from, to, interval, include_bots)       every hour or day bucket
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
-- - Only current satellite rows (load_end_date IS NULL) count. The vault holds only VALID events
--   (quarantined ones stay in staging), so nothing else needs filtering.
-- - Bots (is_bot true) are left out unless p_include_bots; an unknown is_bot counts as human.
--
-- Metric definitions
-- - visitors:        distinct visitor_hash over the events in range (events without one, i.e.
--                    sent without a client IP, add no visitor).
-- - visits:          distinct sessions (session_hk) with an event in range.
-- - pageviews:       page_view events in range; events: all events (page views and custom).
-- - views_per_visit: pageviews / visits, 2 decimals (0 without visits).
-- - bounce_rate:     Plausible's classic definition: the share of visits with exactly one page
--                    view in range, in percent, rounded to a whole number (0 without visits).
--                    Custom events neither make nor prevent a bounce; a visit of custom events
--                    only is not a bounce (it has no page view) but counts as a visit.
-- - visit_duration:  the average over visits of the seconds between the visit's first and last
--                    event in range (page views and custom events; a one-event visit lasts 0),
--                    rounded to whole seconds.
-- - custom_events:   event_name -> number of custom events in range.
-- Sessions are cut at the range's edges: a visit's pageviews, duration, entry and exit page are
-- those of its events inside the range.

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

-- Totals -----------------------------------------------------------------------------------------

CREATE FUNCTION api.site_stats(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_include_bots boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $site_stats$
DECLARE
    ctx record;
    answer jsonb;
BEGIN
    SELECT * INTO STRICT ctx FROM onevault_tracking.report_site(p_site_domain, p_from, p_to, p_include_bots);

    WITH events AS MATERIALIZED (
        SELECT e.session_hk, e.event_type, e.event_name, e.event_timestamp, e.visitor_hash
          FROM onevault_tracking.report_events(ctx.tenant, ctx.site, p_from, p_to, p_include_bots) AS e
    ),
    totals AS (
        SELECT count(DISTINCT e.visitor_hash) AS visitors,
               count(*) FILTER (WHERE e.event_type = 'page_view') AS pageviews,
               count(*) AS events
          FROM events AS e
    ),
    visits AS (
        SELECT count(*) AS visits,
               count(*) FILTER (WHERE v.pageviews = 1) AS bounces,
               coalesce(sum(v.seconds), 0) AS seconds
          FROM (SELECT count(*) FILTER (WHERE e.event_type = 'page_view') AS pageviews,
                       extract(epoch FROM max(e.event_timestamp) - min(e.event_timestamp)) AS seconds
                  FROM events AS e
                 WHERE e.session_hk IS NOT NULL
                 GROUP BY e.session_hk) AS v
    ),
    custom AS (
        SELECT coalesce(jsonb_object_agg(c.event_name, c.events), '{}') AS events
          FROM (SELECT e.event_name, count(*) AS events
                  FROM events AS e
                 WHERE e.event_type = 'custom' AND e.event_name IS NOT NULL
                 GROUP BY e.event_name) AS c
    )
    SELECT jsonb_build_object(
               'site', ctx.domain,
               'timezone', ctx.zone,
               'from', to_char(p_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'to', to_char(p_to AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'include_bots', p_include_bots,
               'visitors', t.visitors,
               'visits', v.visits,
               'pageviews', t.pageviews,
               'events', t.events,
               'views_per_visit', CASE WHEN v.visits = 0 THEN 0
                                       ELSE round(t.pageviews::numeric / v.visits, 2) END,
               'bounce_rate', CASE WHEN v.visits = 0 THEN 0
                                   ELSE round(100 * v.bounces::numeric / v.visits)::bigint END,
               'visit_duration', CASE WHEN v.visits = 0 THEN 0
                                      ELSE round(v.seconds / v.visits)::bigint END,
               'custom_events', c.events)
      INTO answer
      FROM totals AS t, visits AS v, custom AS c;
    RETURN answer;
END
$site_stats$;

-- Breakdowns -------------------------------------------------------------------------------------

-- Top values of one dimension, as a JSON array of {value, visitors, visits, pageviews} (events
-- instead of pageviews for event_name and property:<key>), ordered by visitors, visits, then
-- pageviews/events (all descending), then value (byte order, NULL last), at most p_limit rows.
-- A NULL value means none or unknown (e.g. referrer null = direct, utm_source null = no campaign).
--
--   page          page views by page path (custom events are not page views)
--   entry_page    visits by the page of their first page view in range; pageviews = all page
--   exit_page     views of those visits (last page view for exit_page)
--   referrer, channel, utm_source, utm_medium, utm_campaign, browser, os, device
--                 visits by where the visit came from and what it ran on: the session's
--                 attributes (business.session_details_s, taken from its first event, as
--                 Plausible attributes a visit to its source); an event without a session (or
--                 without session details) stands for itself with its own attributes
--   event_name    custom events by name
--   property:<key> custom events by the value of properties-><key> (as text; null when absent)
CREATE FUNCTION api.site_breakdown(
    p_site_domain text, p_dimension text, p_from timestamptz, p_to timestamptz,
    p_limit integer DEFAULT 10, p_include_bots boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $site_breakdown$
DECLARE
    ctx record;
    answer jsonb;
    property text;
BEGIN
    SELECT * INTO STRICT ctx FROM onevault_tracking.report_site(p_site_domain, p_from, p_to, p_include_bots);
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
    IF starts_with(p_dimension, 'property:') THEN
        property := substr(p_dimension, 10);
    END IF;
    IF NOT (p_dimension IN ('page', 'entry_page', 'exit_page', 'referrer', 'channel', 'utm_source',
                            'utm_medium', 'utm_campaign', 'browser', 'os', 'device', 'event_name')
            OR coalesce(property <> '', false)) THEN
        RAISE EXCEPTION 'unknown breakdown dimension "%"', p_dimension
            USING ERRCODE = '22023',
                  HINT = 'Valid dimensions: page, entry_page, exit_page, referrer, channel, utm_source, utm_medium, utm_campaign, browser, os, device, event_name, property:<key> (a custom event property).';
    END IF;

    IF p_dimension = 'page' THEN
        WITH pages AS (
            SELECT e.page_hk,
                   count(DISTINCT e.visitor_hash) AS visitors,
                   count(DISTINCT e.session_hk) AS visits,
                   count(*) AS pageviews
              FROM onevault_tracking.report_events(ctx.tenant, ctx.site, p_from, p_to, p_include_bots) AS e
             WHERE e.event_type = 'page_view'
             GROUP BY e.page_hk
        ),
        top AS (
            SELECT p.page_path AS value, g.visitors, g.visits, g.pageviews
              FROM pages AS g
              LEFT JOIN business.page_details_s AS p
                ON p.page_hk = g.page_hk AND p.tenant_hk = ctx.tenant AND p.load_end_date IS NULL
             ORDER BY g.visitors DESC, g.visits DESC, g.pageviews DESC, p.page_path COLLATE "C" NULLS LAST
             LIMIT p_limit
        )
        SELECT jsonb_agg(jsonb_build_object('value', t.value, 'visitors', t.visitors, 'visits', t.visits,
                                            'pageviews', t.pageviews)
                         ORDER BY t.visitors DESC, t.visits DESC, t.pageviews DESC, t.value COLLATE "C" NULLS LAST)
          INTO answer
          FROM top AS t;

    ELSIF p_dimension IN ('entry_page', 'exit_page') THEN
        WITH events AS MATERIALIZED (
            SELECT e.tracking_event_hk, e.page_hk, e.session_hk, e.event_type, e.event_timestamp, e.visitor_hash
              FROM onevault_tracking.report_events(ctx.tenant, ctx.site, p_from, p_to, p_include_bots) AS e
             WHERE e.session_hk IS NOT NULL
        ),
        -- Each visit's first (entry) or last (exit) page view: the sign turns "latest" into
        -- "smallest"; equal timestamps are ordered by event key, so the choice is stable.
        ends AS (
            SELECT DISTINCT ON (e.session_hk) e.session_hk, e.page_hk
              FROM events AS e
             WHERE e.event_type = 'page_view'
             ORDER BY e.session_hk,
                      CASE WHEN p_dimension = 'exit_page' THEN -1 ELSE 1 END
                          * extract(epoch FROM e.event_timestamp),
                      e.tracking_event_hk
        ),
        pages AS (
            SELECT x.page_hk,
                   count(DISTINCT e.visitor_hash) AS visitors,
                   count(DISTINCT e.session_hk) AS visits,
                   count(*) FILTER (WHERE e.event_type = 'page_view') AS pageviews
              FROM ends AS x
              JOIN events AS e ON e.session_hk = x.session_hk
             GROUP BY x.page_hk
        ),
        top AS (
            SELECT p.page_path AS value, g.visitors, g.visits, g.pageviews
              FROM pages AS g
              LEFT JOIN business.page_details_s AS p
                ON p.page_hk = g.page_hk AND p.tenant_hk = ctx.tenant AND p.load_end_date IS NULL
             ORDER BY g.visitors DESC, g.visits DESC, g.pageviews DESC, p.page_path COLLATE "C" NULLS LAST
             LIMIT p_limit
        )
        SELECT jsonb_agg(jsonb_build_object('value', t.value, 'visitors', t.visitors, 'visits', t.visits,
                                            'pageviews', t.pageviews)
                         ORDER BY t.visitors DESC, t.visits DESC, t.pageviews DESC, t.value COLLATE "C" NULLS LAST)
          INTO answer
          FROM top AS t;

    ELSIF p_dimension IN ('event_name') OR property IS NOT NULL THEN
        WITH events AS (
            SELECT e.session_hk, e.visitor_hash,
                   CASE WHEN property IS NULL THEN e.event_name ELSE e.properties ->> property END AS value
              FROM onevault_tracking.report_events(ctx.tenant, ctx.site, p_from, p_to, p_include_bots) AS e
             WHERE e.event_type = 'custom'
        ),
        top AS (
            SELECT e.value,
                   count(DISTINCT e.visitor_hash) AS visitors,
                   count(DISTINCT e.session_hk) AS visits,
                   count(*) AS events
              FROM events AS e
             GROUP BY e.value
             ORDER BY visitors DESC, visits DESC, events DESC, e.value COLLATE "C" NULLS LAST
             LIMIT p_limit
        )
        SELECT jsonb_agg(jsonb_build_object('value', t.value, 'visitors', t.visitors, 'visits', t.visits,
                                            'events', t.events)
                         ORDER BY t.visitors DESC, t.visits DESC, t.events DESC, t.value COLLATE "C" NULLS LAST)
          INTO answer
          FROM top AS t;

    ELSE
        -- Visit attributes.
        WITH events AS (
            SELECT e.session_hk, e.event_type, e.visitor_hash,
                   CASE WHEN s.session_hk IS NOT NULL THEN
                            CASE p_dimension
                                WHEN 'referrer' THEN s.referrer_host WHEN 'channel' THEN s.channel
                                WHEN 'utm_source' THEN s.utm_source WHEN 'utm_medium' THEN s.utm_medium
                                WHEN 'utm_campaign' THEN s.utm_campaign WHEN 'browser' THEN s.browser_name
                                WHEN 'os' THEN s.os_name WHEN 'device' THEN s.device_type END
                        ELSE
                            CASE p_dimension
                                WHEN 'referrer' THEN e.referrer_host WHEN 'channel' THEN e.channel
                                WHEN 'utm_source' THEN e.utm_source WHEN 'utm_medium' THEN e.utm_medium
                                WHEN 'utm_campaign' THEN e.utm_campaign WHEN 'browser' THEN e.browser_name
                                WHEN 'os' THEN e.os_name WHEN 'device' THEN e.device_type END
                   END AS value
              FROM onevault_tracking.report_events(ctx.tenant, ctx.site, p_from, p_to, p_include_bots) AS e
              LEFT JOIN business.session_details_s AS s
                ON s.session_hk = e.session_hk AND s.tenant_hk = ctx.tenant AND s.load_end_date IS NULL
        ),
        top AS (
            SELECT e.value,
                   count(DISTINCT e.visitor_hash) AS visitors,
                   count(DISTINCT e.session_hk) AS visits,
                   count(*) FILTER (WHERE e.event_type = 'page_view') AS pageviews
              FROM events AS e
             GROUP BY e.value
             ORDER BY visitors DESC, visits DESC, pageviews DESC, e.value COLLATE "C" NULLS LAST
             LIMIT p_limit
        )
        SELECT jsonb_agg(jsonb_build_object('value', t.value, 'visitors', t.visitors, 'visits', t.visits,
                                            'pageviews', t.pageviews)
                         ORDER BY t.visitors DESC, t.visits DESC, t.pageviews DESC, t.value COLLATE "C" NULLS LAST)
          INTO answer
          FROM top AS t;
    END IF;
    RETURN coalesce(answer, '[]');
END
$site_breakdown$;

-- Time series ------------------------------------------------------------------------------------

-- Every hour or day bucket of the range in the site's time zone, oldest first, zero-filled:
-- {bucket, start, visitors, visits, pageviews}. bucket is the local label ("2025-03-30" for a
-- day, "2025-03-30T03:00:00+02:00" for an hour: the offset tells the two 01:00 hours of a
-- autumn night apart), start the bucket's first instant in UTC. Buckets follow the zone's
-- clock: a spring day has 23 hours and no 02:00 bucket, an autumn day 25. The first and last
-- buckets count only what lies inside [p_from, p_to).
-- - visitors:  distinct visitors with an event in the bucket;
-- - visits:    visits that start in the bucket (their first event in range), so the buckets'
--              visits add up to site_stats' visits;
-- - pageviews: page views in the bucket.
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
    p_include_bots boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $site_timeseries$
DECLARE
    ctx record;
    hourly boolean;
    max_buckets constant integer := 10000;
    answer jsonb;
BEGIN
    SELECT * INTO STRICT ctx FROM onevault_tracking.report_site(p_site_domain, p_from, p_to, p_include_bots);
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

    WITH events AS MATERIALIZED (
        SELECT e.session_hk, e.event_type, e.event_timestamp, e.visitor_hash,
               CASE WHEN hourly
                    THEN e.event_timestamp - ((e.event_timestamp AT TIME ZONE ctx.zone)
                                              - date_trunc('hour', e.event_timestamp AT TIME ZONE ctx.zone))
                    ELSE date_trunc('day', e.event_timestamp AT TIME ZONE ctx.zone) AT TIME ZONE ctx.zone
               END AS bucket
          FROM onevault_tracking.report_events(ctx.tenant, ctx.site, p_from, p_to, p_include_bots) AS e
    ),
    first_bucket AS (
        SELECT CASE WHEN hourly
                    THEN p_from - ((p_from AT TIME ZONE ctx.zone) - date_trunc('hour', p_from AT TIME ZONE ctx.zone))
                    ELSE date_trunc('day', p_from AT TIME ZONE ctx.zone) AT TIME ZONE ctx.zone
               END AS start
    ),
    buckets AS (
        SELECT DISTINCT
               CASE WHEN hourly
                    THEN s.at - ((s.at AT TIME ZONE ctx.zone) - date_trunc('hour', s.at AT TIME ZONE ctx.zone))
                    ELSE date_trunc('day', s.at AT TIME ZONE ctx.zone) AT TIME ZONE ctx.zone
               END AS bucket
          FROM first_bucket AS f,
               generate_series(f.start, p_to - interval '1 microsecond',
                               CASE WHEN hourly THEN interval '15 minutes' ELSE interval '6 hours' END) AS s (at)
    ),
    activity AS (
        SELECT e.bucket,
               count(DISTINCT e.visitor_hash) AS visitors,
               count(*) FILTER (WHERE e.event_type = 'page_view') AS pageviews
          FROM events AS e
         GROUP BY e.bucket
    ),
    starts AS (
        SELECT f.bucket, count(*) AS visits
          FROM (SELECT DISTINCT ON (e.session_hk) e.session_hk, e.bucket
                  FROM events AS e
                 WHERE e.session_hk IS NOT NULL
                 ORDER BY e.session_hk, e.event_timestamp) AS f
         GROUP BY f.bucket
    ),
    labelled AS (
        SELECT b.bucket,
               b.bucket AT TIME ZONE ctx.zone AS local_start,
               extract(epoch FROM (b.bucket AT TIME ZONE ctx.zone) - (b.bucket AT TIME ZONE 'UTC'))::integer / 60
                   AS offset_minutes,
               coalesce(a.visitors, 0) AS visitors,
               coalesce(v.visits, 0) AS visits,
               coalesce(a.pageviews, 0) AS pageviews
          FROM buckets AS b
          LEFT JOIN activity AS a ON a.bucket = b.bucket
          LEFT JOIN starts AS v ON v.bucket = b.bucket
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
