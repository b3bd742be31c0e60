-- bench/scale_load.sql, "reports at scale": generates :events events of the stage's site set-based
-- into bench.scale_rows (emptied first), as the tracking API would land them (bench/scale_setup.sql),
-- numbered from :first + 1 in arrival (time) order; bench.scale_land() lands them, then the
-- pipeline processes them.
--
-- The traffic: visits starting in [from_at, to_at), by day uniformly and by hour of day
-- triangularly (a peak at midday UTC; in a range under a day, uniformly); each visit by one of
-- :visitors visitors (a skewed draw: some come back often), with the visitor's browser, OS and
-- device (its user agent, about 3% bots), address (anonymised to /24 in the row, as stored);
-- a source (direct, search, social, sites, newsletter and ad campaigns with utm tags in the
-- landing URL); 1 to 15 page views (about 2.3 on average) 20 s to 3 min apart, each page drawn
-- Zipf-like from 46, the first with the source's referrer, the next ones with the previous page
-- as referrer; on pages that have one, a custom event (12%) with properties a few seconds after
-- the page view. 70% of the human visits send a client session id; the others get sessions
-- derived by staging (the visitor hash and 30 minutes of idle time). Visitor hashes stand for
-- the keyed daily hashes the API computes: sha256 of the UTC day of receipt, the site, the
-- address and the user agent (and of the day before for the previous salt). Events arrive 0.05
-- to 1.5 s after they happen (so a month of history passes validation's window, which is
-- relative to the receipt); none arrives after the current time.
-- psql variables: first, events, visitors, from_at, to_at, parts (visit % parts is the row's
-- part), seed (0 to 1), site.

\set ON_ERROR_STOP 1
SELECT setseed(:seed) \g /dev/null
TRUNCATE bench.scale_rows;
INSERT INTO bench.scale_rows (n, part, received_at, client_ip, user_agent, visitor_hash, visitor_hash_previous,
                              raw_payload, client_event_id)
WITH visits AS MATERIALIZED (
    -- More visits than needed (about 2.6 events each); the events are cut at :events below.
    SELECT v AS visit,
           1 + floor(:visitors * power(random(), 1.5))::int AS visitor,
           CASE WHEN :'to_at'::timestamptz - :'from_at'::timestamptz >= interval '1 day'
                THEN :'from_at'::timestamptz
                     + floor(random() * extract(epoch FROM :'to_at'::timestamptz - :'from_at'::timestamptz) / 86400) * interval '1 day'
                     + (random() + random()) * interval '12 hours'
                ELSE :'from_at'::timestamptz + random() * (:'to_at'::timestamptz - :'from_at'::timestamptz) END AS started_at,
           least(15, 1 + floor(-ln(1 - random()) * 1.8))::int AS pages,
           random() AS r_source, random() < 0.7 AS client_session
      FROM generate_series(1, ceil(:events / 2.0)::int + 100) AS v
),
visitors AS (
    SELECT u.visitor, a.agent, a.user_agent,
           '10.0.0.0'::inet + (u.visitor::bigint * 2654435761 % 16777216) AS ip
      FROM (SELECT DISTINCT v.visitor FROM visits AS v) AS u
     CROSS JOIN LATERAL (SELECT * FROM bench.scale_agents AS x WHERE x.upto > bench.unit(u.visitor || ':agent')
                          ORDER BY x.agent LIMIT 1) AS a
),
steps AS (
    SELECT v.visit, v.visitor, v.started_at, v.client_session, i, random() AS r_page, random() AS r_gap,
           random() AS r_custom, random() AS r_prop, v.r_source
      FROM visits AS v, generate_series(1, v.pages) AS i
),
page_views AS (
    SELECT s.*, p.path, p.title, p.event,
           s.started_at + sum(CASE WHEN s.i = 1 THEN interval '0' ELSE (20 + s.r_gap * 160) * interval '1 second' END)
                              OVER w AS at,
           lag(p.path) OVER w AS previous_path
      FROM steps AS s
     CROSS JOIN LATERAL (SELECT * FROM bench.scale_pages AS x WHERE x.upto > s.r_page ORDER BY x.page LIMIT 1) AS p
    WINDOW w AS (PARTITION BY s.visit ORDER BY s.i)
),
events AS (
    SELECT pv.visit, pv.visitor, pv.client_session, pv.i * 2 AS step, pv.at, 'page_view' AS event_type,
           NULL::text AS event_name, pv.path, pv.title, pv.previous_path, pv.r_source,
           CASE WHEN pv.r_prop < 0.15 THEN jsonb_build_object('logged_in', true) END AS properties
      FROM page_views AS pv
    UNION ALL
    SELECT pv.visit, pv.visitor, pv.client_session, pv.i * 2 + 1, pv.at + (3 + pv.r_gap * 12) * interval '1 second',
           'custom', pv.event, pv.path, pv.title, pv.previous_path, pv.r_source,
           CASE pv.event
               WHEN 'signup_click' THEN jsonb_build_object('button', 'pricing_table',
                                                           'plan', (ARRAY['free', 'pro', 'business'])[1 + floor(pv.r_prop * 3)::int])
               WHEN 'form_submit' THEN jsonb_build_object('form', btrim(pv.path, '/'), 'valid', pv.r_prop < 0.9)
               WHEN 'video_play' THEN jsonb_build_object('video_id', 'product-tour', 'muted', pv.r_prop < 0.5)
               WHEN 'file_download' THEN jsonb_build_object('file', btrim(pv.path, '/') || '.pdf')
               WHEN 'newsletter_subscribe' THEN jsonb_build_object('form', 'blog_footer')
               WHEN 'outbound_click' THEN jsonb_build_object('url', 'https://github.com/shop/shop')
           END
      FROM page_views AS pv
     WHERE pv.event IS NOT NULL AND pv.r_custom < 0.12
),
cut AS (
    SELECT e.*, row_number() OVER (ORDER BY e.visit, e.step) AS k
      FROM events AS e
     WHERE e.at < now() - interval '1 minute'
),
shaped AS (
    SELECT c.*, vi.agent, vi.user_agent, vi.ip, src.referrer, src.tags,
           c.at + (0.05 + random() * 1.45) * interval '1 second' AS received_at
      FROM cut AS c
      JOIN visitors AS vi USING (visitor)
     CROSS JOIN LATERAL (SELECT * FROM bench.scale_sources AS x WHERE x.upto > c.r_source ORDER BY x.source LIMIT 1) AS src
     WHERE c.k <= :events
)
SELECT :first + row_number() OVER (ORDER BY s.at, s.visit, s.step) AS n,
       s.visit % :parts AS part,
       s.received_at,
       set_masklen(network(set_masklen(s.ip, 24)), 32),
       s.user_agent,
       sha256(convert_to(to_char(s.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') || '|' || :'site' || '|' || host(s.ip) || '|' || s.user_agent, 'UTF8')),
       sha256(convert_to(to_char((s.received_at AT TIME ZONE 'UTC') - interval '1 day', 'YYYY-MM-DD') || '|' || :'site' || '|' || host(s.ip) || '|' || s.user_agent, 'UTF8')),
       jsonb_strip_nulls(jsonb_build_object(
           'event_type', s.event_type,
           'event_name', s.event_name,
           'page_url', 'https://' || :'site' || s.path
                       || CASE WHEN s.step <= 3 AND s.tags IS NOT NULL THEN '?' || s.tags ELSE '' END,
           'page_title', s.title,
           -- The first page view (and its custom event) carries the visit's source, later ones the
           -- previous page; bots send none.
           'referrer', CASE WHEN s.agent >= 13 THEN NULL
                            WHEN s.step <= 3 THEN s.referrer
                            ELSE 'https://' || :'site' || s.previous_path END,
           'session_id', CASE WHEN s.client_session AND s.agent < 13 THEN 's-' || :'seed' || '-' || s.visit END,
           'event_id', 'scale-' || (:first + row_number() OVER (ORDER BY s.at, s.visit, s.step)),
           'timestamp', to_char(s.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'properties', s.properties)),
       'scale-' || (:first + row_number() OVER (ORDER BY s.at, s.visit, s.step))
  FROM shaped AS s;
SELECT bench.assert((SELECT count(*) FROM bench.scale_rows) = :events,
                    format('the generator made %s events, not %s (too many cut at the current time?)',
                           (SELECT count(*) FROM bench.scale_rows), :events));
ANALYZE bench.scale_rows;
