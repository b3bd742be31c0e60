-- Current visitors and exports, beside the reports (sql/reports.sql), whose rules they follow:
-- the session's tenant (42501 without one), the site by its normalised domain within that
-- tenant (P0002 otherwise, another tenant's site included), ranges [p_from, p_to) on the
-- event's own timestamp, 22004 for NULL arguments and 22023 for bad ones, with a hint.
--
--   api.current_visitors(domain, include_bots)                      the last 5 minutes, as JSON
--   api.export_events(domain, from, to, limit)                      the events, as CSV lines
--   api.export_report(domain, from, to, report, filters, limit, include_bots)  a report, as CSV
--
-- The exports return one CSV record (RFC 4180) per row, the header first, with no line
-- terminator: a client writes each row followed by a line break (psql -XAt does). A field is
-- quoted when it holds a comma, a double quote or a line break, or is empty (so that an empty
-- string and a NULL, written as nothing, stay apart, as PostgreSQL's own CSV does); double
-- quotes inside are doubled. A quoted field keeps its line breaks, so one record can span lines.
-- COPY (SELECT * FROM api.export_events(...)) TO STDOUT streams the rows to the client. In
-- COPY's text format it doubles backslashes (and would escape tabs and line breaks); in CSV
-- format with a delimiter and a quote character that no row holds, e.g.
-- WITH (FORMAT csv, DELIMITER E'\x1f', QUOTE E'\x1e'), it writes every row as it is: the vault
-- keeps no control characters (tracking refuses them), so COPY finds nothing to quote
-- (README, "Current visitors and exports").
--
-- Row limit: p_limit data rows (the header not counted), 100,000 by default, at most 1,000,000.
-- When the range holds more, the first p_limit rows are returned and a WARNING says so, naming
-- the time of the first event left out (the audit record says it was cut short). A warning
-- rather than a marker row: the file stays valid CSV for every reader, and a client that drops
-- notices still finds the truncation in the audit record.
--
-- Every export is audited once per call (event DATA_EXPORTED through
-- onevault_tracking.log_platform_audit_event): who, which tenant and site, the range, the rows,
-- whether it was cut short. The rows are computed before the record is written and a call
-- returns nothing until it ends, so an export whose audit fails returns no row at all.

-- Helpers ----------------------------------------------------------------------------------------

-- One CSV record of p_fields, in order (see the quoting rules above).
CREATE FUNCTION onevault_tracking.csv_line(p_fields text[])
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $csv_line$
    SELECT string_agg(CASE WHEN u.field IS NULL THEN ''
                           WHEN u.field = '' OR u.field ~ '[",\r\n]' THEN '"' || replace(u.field, '"', '""') || '"'
                           ELSE u.field END,
                      ',' ORDER BY u.i)
      FROM unnest(p_fields) WITH ORDINALITY AS u (field, i)
$csv_line$;

-- The row limit of an export (see above).
CREATE FUNCTION onevault_tracking.export_limit(p_limit integer)
RETURNS integer
LANGUAGE plpgsql
IMMUTABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $export_limit$
BEGIN
    IF p_limit IS NULL THEN
        RAISE EXCEPTION 'p_limit must not be NULL'
            USING ERRCODE = '22004', HINT = 'p_limit is the most data rows to export, 1 to 1000000 (100000 by default).';
    END IF;
    IF p_limit NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION 'p_limit must be between 1 and 1000000, not %', p_limit
            USING ERRCODE = '22023',
                  HINT = 'Export at most 1000000 rows per call; split a larger range into several calls.';
    END IF;
    RETURN p_limit;
END
$export_limit$;

-- What every export ends with: the warning when it was cut short, and its audit record.
-- SECURITY DEFINER: a reader may not call the audit path itself (it would write any record it
-- likes). Here the actor is the session user and the tenant the session's, which the caller
-- cannot choose; the details are the caller's, so a reader calling this directly can only file
-- a record of an export under its own name.
CREATE FUNCTION onevault_tracking.finish_export(
    p_site text, p_from timestamptz, p_to timestamptz, p_limit integer, p_rows bigint,
    p_first_left_out timestamptz, p_details jsonb)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $finish_export$
DECLARE
    tenant bytea := onevault_tracking.current_tenant_hk();
    answer jsonb;
BEGIN
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant selected for onevault_tracking exports'
            USING ERRCODE = '42501', HINT = 'SET onevault_tracking.tenant_id to the hex of your tenant''s tenant_hk (64 hex digits).';
    END IF;
    IF p_rows > p_limit AND p_first_left_out IS NOT NULL THEN
        RAISE WARNING 'export stopped after % rows (p_limit): the range holds more', p_limit
            USING DETAIL = 'The first event left out happened at '
                           || to_char(p_first_left_out AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '.',
                  HINT = 'Export the rest with p_from at that time (events of that very instant already exported come again), or raise p_limit (at most 1000000).';
    ELSIF p_rows > p_limit THEN
        RAISE WARNING 'export stopped after % rows (p_limit): the report has more', p_limit
            USING HINT = 'Raise p_limit (at most 1000000).';
    END IF;
    -- The platform's audit key is (event type, resource type, resource id, transaction start):
    -- a random resource id keeps two exports in one transaction two records.
    answer := onevault_tracking.log_platform_audit_event(
        'DATA_EXPORTED', 'onevault_tracking.export', 'export:' || gen_random_uuid(),
        'onevault_tracking:' || session_user,
        jsonb_build_object(
            'tenant_id', encode(tenant, 'hex'),
            'site', p_site,
            'from', to_char(p_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'to', to_char(p_to AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'limit', p_limit,
            'rows', least(p_rows, p_limit),
            'truncated', p_rows > p_limit) || p_details);
    IF answer ->> 'success' IS DISTINCT FROM 'true' THEN
        RAISE EXCEPTION 'util.log_audit_event failed (%): %', answer ->> 'error_code', answer ->> 'error_message'
            USING ERRCODE = '38000', HINT = 'Check util.log_audit_event and the audit tables; nothing was exported.';
    END IF;
END
$finish_export$;

-- Current visitors -------------------------------------------------------------------------------

-- Who is on the site now: the events of the last 5 minutes, read from the vault (the rollups
-- are per hour; the vault holds an event as soon as it is processed, so the answer is as fresh
-- as the pipeline). The window is [now() - 5 minutes, ...) with no upper end: tracking accepts
-- client times up to 5 minutes ahead of the server, and such an event is happening now too.
--   visitors   distinct visitor hashes (the salt is daily: a visitor active across UTC midnight
--              is two hashes for those minutes; events without a client IP add no visitor)
--   pageviews  page views; events: all events (page views and custom)
--   top_pages  the 10 pages with the most visitors (then page views, then path), page views only
-- Bots are left out unless p_include_bots, as in the reports.
CREATE FUNCTION api.current_visitors(p_site_domain text, p_include_bots boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $current_visitors$
DECLARE
    window_from constant timestamptz := now() - interval '5 minutes';
    ctx record;
    totals record;
    pages jsonb;
BEGIN
    IF p_site_domain IS NULL OR p_include_bots IS NULL THEN
        RAISE EXCEPTION 'p_site_domain and p_include_bots must not be NULL'
            USING ERRCODE = '22004', HINT = 'p_include_bots is true or false (false by default).';
    END IF;
    SELECT * INTO STRICT ctx
      FROM onevault_tracking.report_site(p_site_domain, window_from, 'infinity', p_include_bots);

    SELECT count(DISTINCT e.visitor_hash) AS visitors,
           count(*) FILTER (WHERE e.event_type = 'page_view') AS pageviews,
           count(*) AS events
      INTO totals
      FROM onevault_tracking.report_events(ctx.tenant, ctx.site, window_from, 'infinity', p_include_bots) AS e;

    WITH top AS (
        SELECT p.page_path AS page, count(DISTINCT e.visitor_hash) AS visitors, count(*) AS pageviews
          FROM onevault_tracking.report_events(ctx.tenant, ctx.site, window_from, 'infinity', p_include_bots) AS e
          LEFT JOIN business.page_details_s AS p ON p.page_hk = e.page_hk AND p.load_end_date IS NULL
         WHERE e.event_type = 'page_view'
         GROUP BY p.page_path
         ORDER BY visitors DESC, pageviews DESC, p.page_path COLLATE "C" NULLS LAST
         LIMIT 10
    )
    SELECT jsonb_agg(jsonb_build_object('page', t.page, 'visitors', t.visitors, 'pageviews', t.pageviews)
                     ORDER BY t.visitors DESC, t.pageviews DESC, t.page COLLATE "C" NULLS LAST)
      INTO pages
      FROM top AS t;

    RETURN jsonb_build_object(
        'site', ctx.domain,
        'from', to_char(window_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'to', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'include_bots', p_include_bots,
        'visitors', totals.visitors,
        'pageviews', totals.pageviews,
        'events', totals.events,
        'top_pages', coalesce(pages, '[]'));
END
$current_visitors$;

-- Events -----------------------------------------------------------------------------------------

-- A site's events in [p_from, p_to) as CSV, oldest first (equal times in event key order), bots
-- included (the column bot says which; empty when unknown). Columns:
--   time          the event's time, UTC, ISO 8601 with microseconds
--   event_type    page_view or custom; event_name: a custom event's name
--   page, page_title   the page's path and its current title
--   referrer, channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content
--   browser, os, device, bot
--   visit         the number of the event's visit within this export (1 for the visit of the
--                 first event, 2 for the next visit to appear, ...; empty for an event without
--                 a visit)
--   properties    a custom event's properties, as JSON
-- No visitor hash, session id, IP or query string. The visitor hash is pseudonymous personal
-- data: retention and api.erase_visitor reach it in the vault, never in a file, and exported it
-- would link one person's events across exports and back to the vault. Session ids may be the
-- client's own identifiers. The visit number still groups a visit's events (funnels, paths),
-- but it means nothing outside the file: the same visit has another number in another export.
CREATE FUNCTION api.export_events(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_limit integer DEFAULT 100000)
RETURNS SETOF text
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $export_events$
DECLARE
    ctx record;
    max_rows constant integer := onevault_tracking.export_limit(p_limit);
    ev record;
    exported bigint := 0;
    first_left_out timestamptz;
BEGIN
    SELECT * INTO STRICT ctx FROM onevault_tracking.report_site(p_site_domain, p_from, p_to, true);

    RETURN NEXT onevault_tracking.csv_line(ARRAY[
        'time', 'event_type', 'event_name', 'page', 'page_title', 'referrer', 'channel', 'utm_source',
        'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'browser', 'os', 'device', 'bot', 'visit',
        'properties']);
    -- One row more than the limit tells whether the range holds more. The scan follows
    -- tracking_event_details_s_report_idx (tenant, time) and stops there.
    FOR ev IN
        WITH picked AS (
            SELECT d.tracking_event_hk, d.event_timestamp, d.event_type, d.event_name, l.page_hk, l.session_hk,
                   d.referrer_host, d.channel, d.utm_source, d.utm_medium, d.utm_campaign, d.utm_term,
                   d.utm_content, d.browser_name, d.os_name, d.device_type, d.is_bot, d.properties,
                   row_number() OVER (ORDER BY d.event_timestamp, d.tracking_event_hk) AS n
              FROM business.tracking_event_details_s AS d
              JOIN business.tracking_event_l AS l ON l.tracking_event_hk = d.tracking_event_hk
             WHERE d.tenant_hk = ctx.tenant AND d.load_end_date IS NULL
               AND d.event_timestamp >= p_from AND d.event_timestamp < p_to
               AND l.tenant_hk = ctx.tenant AND l.site_hk = ctx.site
             ORDER BY d.event_timestamp, d.tracking_event_hk
             LIMIT max_rows + 1
        ),
        visits AS (
            SELECT p.*, CASE WHEN p.session_hk IS NOT NULL THEN min(p.n) OVER (PARTITION BY p.session_hk) END AS visit_first
              FROM picked AS p
        )
        SELECT v.n, v.event_timestamp,
               onevault_tracking.csv_line(ARRAY[
                   to_char(v.event_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   v.event_type, v.event_name, pg.page_path, pg.page_title, v.referrer_host, v.channel,
                   v.utm_source, v.utm_medium, v.utm_campaign, v.utm_term, v.utm_content, v.browser_name,
                   v.os_name, v.device_type, v.is_bot::text,
                   CASE WHEN v.visit_first IS NOT NULL
                        THEN (dense_rank() OVER (ORDER BY v.visit_first NULLS LAST))::text END,
                   v.properties::text]) AS line
          FROM visits AS v
          LEFT JOIN business.page_details_s AS pg ON pg.page_hk = v.page_hk AND pg.load_end_date IS NULL
         ORDER BY v.n
    LOOP
        IF ev.n > max_rows THEN
            first_left_out := ev.event_timestamp;
            EXIT;
        END IF;
        RETURN NEXT ev.line;
        exported := ev.n;
    END LOOP;

    PERFORM onevault_tracking.finish_export(
        ctx.domain, p_from, p_to, max_rows, exported + (first_left_out IS NOT NULL)::integer, first_left_out,
        jsonb_build_object('export', 'events'));
END
$export_events$;

-- Reports ----------------------------------------------------------------------------------------

-- A report's rows as CSV, from the report functions themselves (same numbers, same rules, same
-- errors), for the same p_filters and p_include_bots:
--   'stats'                  one row: from, to, visitors, visits, pageviews, events,
--                            views_per_visit, bounce_rate, visit_duration (api.site_stats; its
--                            custom_events are the rows of 'breakdown:event_name')
--   'breakdown:<dimension>'  value, visitors, visits, pageviews (events for event_name and
--                            property:<key>), top values first (api.site_breakdown, which
--                            answers at most its top 1000 values)
--   'timeseries:hour|day'    bucket, start, visitors, visits, pageviews (api.site_timeseries,
--                            at most 10000 buckets)
-- p_limit bounds the data rows as in export_events.
CREATE FUNCTION api.export_report(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_report text, p_filters jsonb DEFAULT '{}',
    p_limit integer DEFAULT 100000, p_include_bots boolean DEFAULT false)
RETURNS SETOF text
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $export_report$
DECLARE
    max_rows constant integer := onevault_tracking.export_limit(p_limit);
    ctx record;
    dimension text;
    columns text[];
    answer jsonb;
BEGIN
    SELECT * INTO STRICT ctx FROM onevault_tracking.report_site(p_site_domain, p_from, p_to, p_include_bots);
    IF p_report IS NULL THEN
        RAISE EXCEPTION 'p_report must not be NULL'
            USING ERRCODE = '22004', HINT = 'Reports: stats, breakdown:<dimension>, timeseries:hour, timeseries:day.';
    END IF;
    IF p_report = 'stats' THEN
        columns := ARRAY['from', 'to', 'visitors', 'visits', 'pageviews', 'events', 'views_per_visit',
                         'bounce_rate', 'visit_duration'];
        answer := jsonb_build_array(api.site_stats(p_site_domain, p_from, p_to, p_include_bots, p_filters));
    ELSIF starts_with(p_report, 'breakdown:') THEN
        dimension := substr(p_report, length('breakdown:') + 1);
        -- The measure's name as site_breakdown gives it.
        columns := ARRAY['value', 'visitors', 'visits',
                         CASE WHEN dimension = 'event_name' OR starts_with(dimension, 'property:') THEN 'events'
                              ELSE 'pageviews' END];
        -- One value more than the limit, to tell whether there are more.
        answer := api.site_breakdown(p_site_domain, dimension, p_from, p_to, least(max_rows + 1, 1000),
                                     p_include_bots, p_filters);
    ELSIF starts_with(p_report, 'timeseries:') THEN
        columns := ARRAY['bucket', 'start', 'visitors', 'visits', 'pageviews'];
        answer := api.site_timeseries(p_site_domain, p_from, p_to, substr(p_report, length('timeseries:') + 1),
                                      p_include_bots, p_filters);
    ELSE
        RAISE EXCEPTION 'unknown report "%"', p_report
            USING ERRCODE = '22023',
                  HINT = 'Reports: stats, breakdown:<dimension> (e.g. breakdown:page), timeseries:hour, timeseries:day.';
    END IF;

    RETURN NEXT onevault_tracking.csv_line(columns);
    RETURN QUERY
        SELECT onevault_tracking.csv_line(ARRAY(SELECT r.item ->> c.name
                                                   FROM unnest(columns) WITH ORDINALITY AS c (name, i)
                                                  ORDER BY c.i))
          FROM jsonb_array_elements(answer) WITH ORDINALITY AS r (item, i)
         WHERE r.i <= max_rows
         ORDER BY r.i;

    PERFORM onevault_tracking.finish_export(
        ctx.domain, p_from, p_to, max_rows, jsonb_array_length(answer), NULL,
        jsonb_build_object('export', 'report', 'report', p_report,
                           'filters', onevault_tracking.report_filters(p_filters), 'include_bots', p_include_bots));
END
$export_report$;
