-- Report rollups: what the reports read instead of the events (README, "Reports").
--
-- Every report metric is a sum of contributions, and each contribution belongs to one instant:
--   an event contributes its page view and its event at its own time;
--   a visit (a session) contributes visits, bounces and duration at its start (its first event),
--   and it is the whole visit's: its bounce and its duration count every event of the visit;
--   a visitor (a visitor hash: the salt is daily, so one per visitor and UTC day) counts once
--   per bucket in which they have an event.
-- traffic_contributions() computes them from the vault for a set of whole visits; the reports
-- over the vault (onevault_tracking.report_source = vault) sum them directly, and the rollups
-- hold their sums per hour and per UTC day. Sums of events and visits are additive, so a range
-- is answered from the day and hour rows it covers, plus its partial hours read from the vault.
-- Visitors are not additive across buckets: see site_traffic_bucket below.
--
-- Dimensions. Every contribution is counted under the totals (dimension '', value NULL) and
-- under each dimension value it has:
--   page, event_name, property:<key>  the event's own (page views for page, custom events for
--                                     the others); a visit has each value one of its events has
--   entry_page, exit_page             the visit's first and last page view
--   referrer, channel, utm_source, utm_medium, utm_campaign, browser, os, device
--                                     the visit's, taken from its first event (an event without a
--                                     session stands for itself)
-- and under a page filter: the same rows again, restricted to the page views of that page and
-- the visits that viewed it (page_filter = the path; '' is no filter). Bots: a visit is a bot's
-- when its first event is; its events follow it.

CREATE TABLE business.site_traffic_rollup (
    tenant_hk   bytea       NOT NULL,
    site_hk     bytea       NOT NULL,
    granularity "char"      NOT NULL CHECK (granularity IN ('h', 'd')),  -- UTC hour or UTC day
    bucket      timestamptz NOT NULL,                                    -- its first instant
    bots        boolean     NOT NULL,
    page_filter text        NOT NULL,
    dimension   text        NOT NULL,
    value       text,
    pageviews   bigint      NOT NULL,
    events      bigint      NOT NULL,
    visits      bigint      NOT NULL,
    bounces     bigint      NOT NULL,
    duration_us bigint      NOT NULL,  -- the visits' durations, in microseconds
    visitors    bigint,                -- exact once the bucket is closed (site_traffic_bucket)
    -- Page paths and values are up to 2,000 bytes each: the key names them by a hash.
    filter_key  uuid        NOT NULL GENERATED ALWAYS AS (md5(page_filter)::uuid) STORED,
    row_key     uuid        NOT NULL GENERATED ALWAYS AS (
                    md5(page_filter || E'\x1f' || dimension || E'\x1f' || coalesce('v' || value, 'n'))::uuid) STORED
);
CREATE UNIQUE INDEX site_traffic_rollup_key
    ON business.site_traffic_rollup (tenant_hk, site_hk, granularity, bucket, bots, row_key);
-- What a report reads: one filter and one dimension of a site over a run of buckets.
CREATE INDEX site_traffic_rollup_report_idx
    ON business.site_traffic_rollup (tenant_hk, site_hk, filter_key, dimension, granularity, bucket);

-- The buckets that have rollup rows, and whether their visitors are counted. A bucket is closed
-- by onevault_tracking.close_rollup_buckets() (the background workers call it) five minutes
-- after its end: its visitors are then counted exactly from the vault, once, into the rows'
-- visitors. An event loaded into a closed bucket (a late event) opens it again. Reports count
-- the visitors of a bucket that is open from the vault.
CREATE TABLE business.site_traffic_bucket (
    tenant_hk   bytea       NOT NULL,
    site_hk     bytea       NOT NULL,
    granularity "char"      NOT NULL CHECK (granularity IN ('h', 'd')),
    bucket      timestamptz NOT NULL,
    closed_at   timestamptz,
    PRIMARY KEY (tenant_hk, site_hk, granularity, bucket)
);
CREATE INDEX site_traffic_bucket_open_idx
    ON business.site_traffic_bucket (bucket) WHERE closed_at IS NULL;

-- Whether the report filters p_filters keep a value of dimension p_key: yes when they do not
-- name it; otherwise the value must apply (p_applies) and equal the filter's (a JSON null asks
-- for no value). Inlined into the query that calls it, so written like report_events (every name
-- qualified, no SET clause).
CREATE FUNCTION onevault_tracking.traffic_filter_keeps(
    p_filters jsonb, p_key text, p_value text, p_applies boolean DEFAULT true)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
AS $keeps$
    SELECT NOT (p_filters OPERATOR(pg_catalog.?) p_key)
        OR (p_applies AND CASE WHEN pg_catalog.jsonb_typeof(p_filters OPERATOR(pg_catalog.->) p_key) OPERATOR(pg_catalog.=) 'null'
                               THEN p_value IS NULL
                               ELSE p_value OPERATOR(pg_catalog.=) (p_filters OPERATOR(pg_catalog.->>) p_key) END)
$keeps$;

-- The contributions of whole visits (see the top of this file), one row per contribution and
-- dimension value: kind 'e' (an event: pageviews, events, and the visitor_hash it counts) or
-- 'v' (a visit: visits, bounces, duration_us), at its instant.
-- Two ways to say which visits:
--   a range (p_from, p_to): the visits of p_site with an event in it, and the events without a
--     session in it; only the contributions inside the range are returned;
--   sets (p_from NULL): the visits p_sessions and the session-less events p_loose, every
--     contribution, leaving out the events p_excluded (what the visits were before them).
-- p_page: '' only the unfiltered rows, a path only that page filter's rows, NULL all of them.
-- p_dimension: one dimension ('' the totals), NULL all of them.
-- p_filters (jsonb, {} for none) restricts the visits and events: a visit attribute (entry_page,
-- exit_page, referrer, channel, utm_*, browser, os, device) keeps the visits that have it, an
-- event attribute (page, event_name, property:<key>) keeps the events that have it and the
-- visits with such an event; a JSON null asks for "none" (e.g. referrer null: direct).
CREATE FUNCTION onevault_tracking.traffic_contributions(
    p_tenant bytea, p_site bytea, p_from timestamptz, p_to timestamptz,
    p_sessions bytea[], p_loose bytea[], p_excluded bytea[],
    p_page text, p_dimension text, p_filters jsonb)
RETURNS TABLE (kind "char", at timestamptz, tenant_hk bytea, site_hk bytea, visitor_hash bytea,
               bots boolean, page_filter text, dimension text, value text,
               pageviews integer, events integer, visits integer, bounces integer, duration_us bigint)
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY INVOKER
AS $contributions$
WITH in_range AS MATERIALIZED (
    SELECT l.tracking_event_hk, l.session_hk
      FROM business.tracking_event_details_s AS d
      JOIN business.tracking_event_l AS l ON l.tracking_event_hk = d.tracking_event_hk
     WHERE p_from IS NOT NULL
       AND d.tenant_hk = p_tenant AND d.load_end_date IS NULL
       AND d.event_timestamp >= p_from AND d.event_timestamp < p_to
       AND l.tenant_hk = p_tenant AND l.site_hk = p_site
),
picked AS (
    SELECT l.tracking_event_hk
      FROM business.tracking_event_l AS l
     WHERE l.session_hk IN (SELECT DISTINCT r.session_hk FROM in_range AS r WHERE r.session_hk IS NOT NULL)
    UNION ALL
    SELECT r.tracking_event_hk FROM in_range AS r WHERE r.session_hk IS NULL
    UNION ALL
    SELECT l.tracking_event_hk FROM business.tracking_event_l AS l
     WHERE p_from IS NULL AND l.session_hk = ANY (p_sessions)
    UNION ALL
    SELECT k.hk FROM unnest(p_loose) AS k (hk) WHERE p_from IS NULL
),
ev AS MATERIALIZED (
    SELECT l.tracking_event_hk AS hk, l.tenant_hk, l.site_hk, l.session_hk, d.event_type, d.event_name,
           d.event_timestamp AS at, d.visitor_hash, d.properties, d.referrer_host, d.channel,
           d.utm_source, d.utm_medium, d.utm_campaign, d.browser_name, d.os_name, d.device_type,
           coalesce(d.is_bot, false) AS bot, d.event_type = 'page_view' AS pv, p.page_path
      FROM picked AS k
      JOIN business.tracking_event_l AS l ON l.tracking_event_hk = k.tracking_event_hk
      JOIN business.tracking_event_details_s AS d
        ON d.tracking_event_hk = l.tracking_event_hk AND d.load_end_date IS NULL
      LEFT JOIN business.page_details_s AS p ON p.page_hk = l.page_hk AND p.load_end_date IS NULL
     WHERE l.site_hk IS NOT NULL AND d.event_timestamp IS NOT NULL
       AND NOT EXISTS (SELECT FROM unnest(p_excluded) AS x (hk) WHERE x.hk = l.tracking_event_hk)
),
-- Each visit: its first event's attributes, and its page views (entry: the first, exit: the
-- last; equal times are ordered by event key, so the choice is stable).
visit AS (
    SELECT DISTINCT ON (e.session_hk) e.session_hk, e.tenant_hk, e.site_hk, e.at AS first_at, e.bot,
           e.referrer_host, e.channel,
           e.utm_source, e.utm_medium, e.utm_campaign, e.browser_name, e.os_name, e.device_type
      FROM ev AS e
     WHERE e.session_hk IS NOT NULL
     ORDER BY e.session_hk, e.at, e.hk
),
visit_pages AS (
    SELECT e.session_hk, count(*) FILTER (WHERE e.pv) AS pageviews, max(e.at) AS last_at,
           (array_agg(e.page_path ORDER BY e.at, e.hk) FILTER (WHERE e.pv))[1] AS entry_page,
           (array_agg(e.page_path ORDER BY e.at DESC, e.hk) FILTER (WHERE e.pv))[1] AS exit_page
      FROM ev AS e
     WHERE e.session_hk IS NOT NULL
     GROUP BY e.session_hk
),
-- Every event with its visit's attributes, and whether the filters keep it.
ev_visit AS (
    SELECT x.*,
           (p_filters IS NULL OR p_filters = '{}' OR (
                onevault_tracking.traffic_filter_keeps(p_filters, 'entry_page', x.entry_page)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'exit_page', x.exit_page)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'referrer', x.referrer_host)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'channel', x.channel)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'utm_source', x.utm_source)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'utm_medium', x.utm_medium)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'utm_campaign', x.utm_campaign)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'browser', x.browser_name)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'os', x.os_name)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'device', x.device_type))) AS visit_kept
      FROM (SELECT e.hk, e.tenant_hk, e.site_hk, e.session_hk, e.at, e.visitor_hash, e.pv, e.event_type,
                   e.event_name, e.properties, e.page_path,
                   coalesce(v.bot, e.bot) AS bots,
                   CASE WHEN v.session_hk IS NULL THEN e.referrer_host ELSE v.referrer_host END AS referrer_host,
                   CASE WHEN v.session_hk IS NULL THEN e.channel ELSE v.channel END AS channel,
                   CASE WHEN v.session_hk IS NULL THEN e.utm_source ELSE v.utm_source END AS utm_source,
                   CASE WHEN v.session_hk IS NULL THEN e.utm_medium ELSE v.utm_medium END AS utm_medium,
                   CASE WHEN v.session_hk IS NULL THEN e.utm_campaign ELSE v.utm_campaign END AS utm_campaign,
                   CASE WHEN v.session_hk IS NULL THEN e.browser_name ELSE v.browser_name END AS browser_name,
                   CASE WHEN v.session_hk IS NULL THEN e.os_name ELSE v.os_name END AS os_name,
                   CASE WHEN v.session_hk IS NULL THEN e.device_type ELSE v.device_type END AS device_type,
                   s.entry_page, s.exit_page
              FROM ev AS e
              LEFT JOIN visit AS v ON v.session_hk = e.session_hk
              LEFT JOIN visit_pages AS s ON s.session_hk = e.session_hk) AS x
),
kept AS MATERIALIZED (
    SELECT e.*,
           e.visit_kept AND (p_filters IS NULL OR p_filters = '{}' OR (
                onevault_tracking.traffic_filter_keeps(p_filters, 'page', CASE WHEN e.pv THEN e.page_path END, e.pv)
            AND onevault_tracking.traffic_filter_keeps(p_filters, 'event_name', e.event_name, e.event_type = 'custom')
            AND NOT EXISTS (SELECT FROM jsonb_each(p_filters) AS f
                             WHERE starts_with(f.key, 'property:')
                               AND NOT onevault_tracking.traffic_filter_keeps(
                                       p_filters, f.key, e.properties ->> substr(f.key, 10),
                                       e.event_type = 'custom' AND coalesce(e.properties ? substr(f.key, 10), false)))))
               AS event_kept
      FROM ev_visit AS e
),
ev_dims AS (
    SELECT e.hk, x.dimension, x.value
      FROM kept AS e
      CROSS JOIN LATERAL (
          SELECT d.dimension, d.value
            FROM (VALUES ('', NULL::text, true),
                         ('page', e.page_path, e.pv),
                         ('entry_page', e.entry_page, e.entry_page IS NOT NULL),
                         ('exit_page', e.exit_page, e.exit_page IS NOT NULL),
                         ('referrer', e.referrer_host, true),
                         ('channel', e.channel, true),
                         ('utm_source', e.utm_source, true),
                         ('utm_medium', e.utm_medium, true),
                         ('utm_campaign', e.utm_campaign, true),
                         ('browser', e.browser_name, true),
                         ('os', e.os_name, true),
                         ('device', e.device_type, true),
                         ('event_name', e.event_name, e.event_type = 'custom')) AS d (dimension, value, applies)
           WHERE d.applies
          UNION ALL
          SELECT 'property:' || p.key, p.value
            FROM jsonb_each_text(CASE WHEN e.event_type = 'custom' AND jsonb_typeof(e.properties) = 'object'
                                      THEN e.properties END) AS p) AS x
     WHERE p_dimension IS NULL OR x.dimension = p_dimension
),
event_rows AS (
    SELECT 'e'::"char" AS kind, e.at, e.tenant_hk, e.site_hk, e.visitor_hash, e.bots, f.page_filter,
           x.dimension, x.value, e.pv::integer AS pageviews, 1 AS events, 0 AS visits, 0 AS bounces,
           0::bigint AS duration_us
      FROM kept AS e
      JOIN ev_dims AS x ON x.hk = e.hk
      CROSS JOIN LATERAL (SELECT ''::text AS page_filter
                          UNION ALL
                          SELECT e.page_path WHERE e.pv AND e.page_path IS NOT NULL) AS f
     WHERE e.event_kept
       AND (p_page IS NULL OR f.page_filter = p_page)
       AND (p_from IS NULL OR (e.at >= p_from AND e.at < p_to))
),
-- A visit counts when the filters keep one of its events, under each value its events have
-- (once) and under each page it viewed.
kept_visits AS (
    SELECT DISTINCT e.session_hk
      FROM kept AS e
     WHERE e.session_hk IS NOT NULL AND e.event_kept
),
visit_keys AS (
    SELECT DISTINCT e.session_hk, x.dimension, x.value
      FROM kept AS e
      JOIN ev_dims AS x ON x.hk = e.hk
     WHERE e.session_hk IS NOT NULL AND e.visit_kept
),
visit_filters AS (
    SELECT v.session_hk, ''::text AS page_filter
      FROM visit AS v
    UNION
    SELECT e.session_hk, e.page_path
      FROM kept AS e
     WHERE e.session_hk IS NOT NULL AND e.pv AND e.page_path IS NOT NULL AND p_page IS DISTINCT FROM ''
),
visit_rows AS (
    SELECT 'v'::"char" AS kind, v.first_at AS at, v.tenant_hk, v.site_hk, NULL::bytea AS visitor_hash,
           v.bot AS bots, f.page_filter, k.dimension, k.value, 0 AS pageviews, 0 AS events, 1 AS visits,
           (s.pageviews = 1)::integer AS bounces,
           (extract(epoch FROM s.last_at - v.first_at) * 1000000)::bigint AS duration_us
      FROM visit AS v
      JOIN kept_visits AS c ON c.session_hk = v.session_hk
      JOIN visit_pages AS s ON s.session_hk = v.session_hk
      JOIN visit_filters AS f ON f.session_hk = v.session_hk
      JOIN visit_keys AS k ON k.session_hk = v.session_hk
     WHERE (p_page IS NULL OR f.page_filter = p_page)
       AND (p_from IS NULL OR (v.first_at >= p_from AND v.first_at < p_to))
)
SELECT * FROM event_rows
UNION ALL
SELECT * FROM visit_rows
$contributions$;

-- Upkeep: what the events p_events, just loaded into the vault (each one once: a replay loads
-- nothing), change in the rollups. Their visits are summed as they are now minus as they were
-- without these events: a late event that becomes its visit's first moves the whole visit (its
-- start bucket, entry page, attributes), and a visit spanning buckets stays counted once, at its
-- start. The buckets that change are opened, so their visitors are counted again when they
-- close. Answers the number of rollup rows written.
CREATE FUNCTION onevault_tracking.rollup_loaded_events(p_events bytea[])
RETURNS bigint
LANGUAGE plpgsql
SECURITY INVOKER
AS $rollup_loaded_events$
DECLARE
    sessions bytea[];
    loose bytea[];
    written bigint;
BEGIN
    SELECT array_agg(DISTINCT l.session_hk) FILTER (WHERE l.session_hk IS NOT NULL),
           array_agg(l.tracking_event_hk) FILTER (WHERE l.session_hk IS NULL)
      INTO sessions, loose
      FROM business.tracking_event_l AS l
     WHERE l.tracking_event_hk = ANY (p_events) AND l.site_hk IS NOT NULL;
    IF sessions IS NULL AND loose IS NULL THEN
        RETURN 0;
    END IF;
    -- Loads of one site's events take turns from here to their commit (a transaction advisory
    -- lock per site, its key's first 8 bytes XOR a constant of its own, apart from the visitor
    -- and vault locks; taken in key order, so two loads never wait for each other in a circle).
    -- The delta below then reads a snapshot taken after the lock, which holds every event an
    -- earlier load of the site committed: two loads adding events to one visit at once would
    -- otherwise both subtract the visit as it was before either (measured: a bounce counted -1).
    PERFORM pg_catalog.pg_advisory_xact_lock(k.lock_key)
       FROM (SELECT DISTINCT ('x' || encode(substr(l.site_hk, 1, 8), 'hex'))::bit(64)::bigint # 7016996765293437281 AS lock_key
               FROM business.tracking_event_l AS l
              WHERE l.tracking_event_hk = ANY (p_events) AND l.site_hk IS NOT NULL
              ORDER BY 1) AS k;

    WITH delta AS (
        SELECT c.*, 1 AS sign
          FROM onevault_tracking.traffic_contributions(NULL, NULL, NULL, NULL, sessions, loose, NULL,
                                                       NULL, NULL, NULL) AS c
        UNION ALL
        SELECT c.*, -1
          FROM onevault_tracking.traffic_contributions(NULL, NULL, NULL, NULL, sessions, NULL, p_events,
                                                       NULL, NULL, NULL) AS c
    ),
    sums AS (
        SELECT d.tenant_hk, d.site_hk, g.granularity,
               date_trunc(CASE g.granularity WHEN 'h' THEN 'hour' ELSE 'day' END, d.at, 'UTC') AS bucket,
               d.bots, d.page_filter, d.dimension, d.value,
               sum(d.sign * d.pageviews) AS pageviews, sum(d.sign * d.events) AS events,
               sum(d.sign * d.visits) AS visits, sum(d.sign * d.bounces) AS bounces,
               sum(d.sign * d.duration_us) AS duration_us
          FROM delta AS d
         CROSS JOIN (VALUES ('h'::"char"), ('d'::"char")) AS g (granularity)
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        HAVING sum(d.sign * d.pageviews) <> 0 OR sum(d.sign * d.events) <> 0 OR sum(d.sign * d.visits) <> 0
            OR sum(d.sign * d.bounces) <> 0 OR sum(d.sign * d.duration_us) <> 0
    ),
    opened AS (
        INSERT INTO business.site_traffic_bucket AS b (tenant_hk, site_hk, granularity, bucket)
        SELECT DISTINCT s.tenant_hk, s.site_hk, s.granularity, s.bucket FROM sums AS s
            ON CONFLICT (tenant_hk, site_hk, granularity, bucket) DO UPDATE SET closed_at = NULL
         WHERE b.closed_at IS NOT NULL
    ),
    rows_written AS (
        INSERT INTO business.site_traffic_rollup AS r
               (tenant_hk, site_hk, granularity, bucket, bots, page_filter, dimension, value,
                pageviews, events, visits, bounces, duration_us)
        SELECT s.tenant_hk, s.site_hk, s.granularity, s.bucket, s.bots, s.page_filter, s.dimension, s.value,
               s.pageviews, s.events, s.visits, s.bounces, s.duration_us
          FROM sums AS s
            ON CONFLICT (tenant_hk, site_hk, granularity, bucket, bots, row_key) DO UPDATE
           SET pageviews = r.pageviews + excluded.pageviews, events = r.events + excluded.events,
               visits = r.visits + excluded.visits, bounces = r.bounces + excluded.bounces,
               duration_us = r.duration_us + excluded.duration_us
        RETURNING 1
    )
    SELECT count(*) INTO written FROM rows_written;
    RETURN written;
END
$rollup_loaded_events$;

-- Closes up to p_limit open buckets that ended over five minutes ago (clients may be up to five
-- minutes ahead): counts each one's visitors exactly from the vault into its rows. A late event
-- opens its bucket again (rollup_loaded_events). Answers the number closed. A closer takes the
-- site's turn (the lock rollup_loaded_events takes) before the bucket's row, in the same key
-- order, so closers and loads of one site never deadlock (a bucket row locked first and the
-- site's turn second did, measured with two workers); a bucket another closer holds is skipped.
CREATE FUNCTION onevault_tracking.close_rollup_buckets(p_limit integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql
SECURITY INVOKER
AS $close_rollup_buckets$
DECLARE
    b record;
    closed integer := 0;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'p_limit must be a positive number of buckets, not %', coalesce(p_limit::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'Close up to p_limit buckets per call, e.g. 100.';
    END IF;
    FOR b IN
        SELECT c.* FROM (
            SELECT t.tenant_hk, t.site_hk, t.granularity, t.bucket,
                   t.bucket + CASE t.granularity WHEN 'h' THEN interval '1 hour' ELSE interval '24 hours' END AS bucket_end,
                   ('x' || encode(substr(t.site_hk, 1, 8), 'hex'))::bit(64)::bigint # 7016996765293437281 AS lock_key
              FROM business.site_traffic_bucket AS t
             WHERE t.closed_at IS NULL
               AND t.bucket + CASE t.granularity WHEN 'h' THEN interval '1 hour' ELSE interval '24 hours' END
                   + interval '5 minutes' <= now()
             ORDER BY t.bucket, t.granularity DESC
             LIMIT p_limit) AS c
         ORDER BY c.lock_key, c.bucket, c.granularity DESC
    LOOP
        PERFORM pg_catalog.pg_advisory_xact_lock(b.lock_key);
        -- Still open, and not another closer's (it holds the row until its commit).
        PERFORM FROM business.site_traffic_bucket AS t
          WHERE t.tenant_hk = b.tenant_hk AND t.site_hk = b.site_hk
            AND t.granularity = b.granularity AND t.bucket = b.bucket AND t.closed_at IS NULL
            FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        WITH counted AS (
            SELECT c.bots, c.page_filter, c.dimension, coalesce('v' || c.value, 'n') AS value_key,
                   count(DISTINCT c.visitor_hash) AS visitors
              FROM onevault_tracking.traffic_contributions(b.tenant_hk, b.site_hk, b.bucket, b.bucket_end,
                                                           NULL, NULL, NULL, NULL, NULL, NULL) AS c
             WHERE c.kind = 'e' AND c.visitor_hash IS NOT NULL
             GROUP BY 1, 2, 3, 4
        ),
        target AS (
            SELECT r.ctid AS row_id, coalesce(c.visitors, 0) AS visitors
              FROM business.site_traffic_rollup AS r
              LEFT JOIN counted AS c
                ON c.bots = r.bots AND c.page_filter = r.page_filter AND c.dimension = r.dimension
               AND c.value_key = coalesce('v' || r.value, 'n')
             WHERE r.tenant_hk = b.tenant_hk AND r.site_hk = b.site_hk
               AND r.granularity = b.granularity AND r.bucket = b.bucket
        )
        UPDATE business.site_traffic_rollup AS r
           SET visitors = t.visitors
          FROM target AS t
         WHERE r.ctid = t.row_id AND r.visitors IS DISTINCT FROM t.visitors;
        UPDATE business.site_traffic_bucket AS t
           SET closed_at = now()
         WHERE t.tenant_hk = b.tenant_hk AND t.site_hk = b.site_hk
           AND t.granularity = b.granularity AND t.bucket = b.bucket;
        closed := closed + 1;
    END LOOP;
    RETURN closed;
END
$close_rollup_buckets$;

-- Computes the rollups of a tenant's sites again from the vault (all of them when p_tenant_hk
-- is NULL; one site when p_site_domain names it), and closes their finished buckets. For a
-- database upgraded from a release without rollups, after onevault_tracking.rollup_upkeep was
-- off, or after events were moved between sites. Events removed by retention or erasure are no
-- longer in the vault, so a rebuild leaves them out of the rollups too. Answers the sites and
-- rows rebuilt.
CREATE FUNCTION onevault_tracking.rebuild_rollups(p_tenant_hk bytea DEFAULT NULL, p_site_domain text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
AS $rebuild_rollups$
DECLARE
    target record;
    sites integer := 0;
    written bigint := 0;
    n bigint;
    closed integer := 0;
    batch integer;
    audited jsonb;
    run_id text := replace(gen_random_uuid()::text, '-', '');
BEGIN
    IF p_site_domain IS NOT NULL AND p_tenant_hk IS NULL THEN
        RAISE EXCEPTION 'a site is named within its tenant'
            USING ERRCODE = '22004', HINT = 'Give p_tenant_hk with p_site_domain, or neither to rebuild every site.';
    END IF;
    FOR target IN
        SELECT h.tenant_hk, h.site_hk, h.site_bk
          FROM business.site_h AS h
         WHERE (p_tenant_hk IS NULL OR h.tenant_hk = p_tenant_hk)
           AND (p_site_domain IS NULL
                OR h.site_bk = coalesce(onevault_tracking.site_domain(p_site_domain), btrim(p_site_domain)))
         ORDER BY h.tenant_hk, h.site_hk
    LOOP
        -- The site's loads and bucket closings wait for the rebuild (their turn, rollup_loaded_events).
        PERFORM pg_catalog.pg_advisory_xact_lock(('x' || encode(substr(target.site_hk, 1, 8), 'hex'))::bit(64)::bigint # 7016996765293437281);
        DELETE FROM business.site_traffic_rollup AS r WHERE r.tenant_hk = target.tenant_hk AND r.site_hk = target.site_hk;
        DELETE FROM business.site_traffic_bucket AS t WHERE t.tenant_hk = target.tenant_hk AND t.site_hk = target.site_hk;
        WITH sums AS (
            SELECT c.tenant_hk, c.site_hk, g.granularity,
                   date_trunc(CASE g.granularity WHEN 'h' THEN 'hour' ELSE 'day' END, c.at, 'UTC') AS bucket,
                   c.bots, c.page_filter, c.dimension, c.value,
                   sum(c.pageviews) AS pageviews, sum(c.events) AS events, sum(c.visits) AS visits,
                   sum(c.bounces) AS bounces, sum(c.duration_us) AS duration_us
              FROM onevault_tracking.traffic_contributions(target.tenant_hk, target.site_hk, '-infinity', 'infinity',
                                                           NULL, NULL, NULL, NULL, NULL, NULL) AS c
             CROSS JOIN (VALUES ('h'::"char"), ('d'::"char")) AS g (granularity)
             GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        ),
        opened AS (
            INSERT INTO business.site_traffic_bucket (tenant_hk, site_hk, granularity, bucket)
            SELECT DISTINCT s.tenant_hk, s.site_hk, s.granularity, s.bucket FROM sums AS s
        ),
        rows_written AS (
            INSERT INTO business.site_traffic_rollup
                   (tenant_hk, site_hk, granularity, bucket, bots, page_filter, dimension, value,
                    pageviews, events, visits, bounces, duration_us)
            SELECT s.tenant_hk, s.site_hk, s.granularity, s.bucket, s.bots, s.page_filter, s.dimension, s.value,
                   s.pageviews, s.events, s.visits, s.bounces, s.duration_us
              FROM sums AS s
            RETURNING 1
        )
        SELECT count(*) INTO n FROM rows_written;
        sites := sites + 1;
        written := written + n;
        -- One record per site, keyed by the run (the platform's function keeps one record per
        -- event type, resource and transaction start); the tenant comes from tenant_id.
        audited := onevault_tracking.log_platform_audit_event(
            'ROLLUPS_REBUILT', 'onevault_tracking.rollups',
            'rebuild:' || run_id || ':' || encode(target.site_hk, 'hex'),
            'onevault_tracking:' || session_user,
            jsonb_build_object('tenant_id', encode(target.tenant_hk, 'hex'), 'site', target.site_bk,
                               'run_id', run_id, 'rollup_rows', n));
        IF (audited ->> 'success') IS DISTINCT FROM 'true' THEN
            RAISE EXCEPTION 'util.log_audit_event failed (%): %', audited ->> 'error_code', audited ->> 'error_message'
                USING ERRCODE = '39000', HINT = 'Nothing was rebuilt: the rebuild is audited or not done.';
        END IF;
    END LOOP;
    LOOP
        batch := onevault_tracking.close_rollup_buckets(1000);
        closed := closed + batch;
        EXIT WHEN batch = 0;
    END LOOP;
    RETURN jsonb_build_object('sites', sites, 'rollup_rows', written, 'buckets_closed', closed);
END
$rebuild_rollups$;
