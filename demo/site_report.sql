-- demo/site_report.sql: the site statistics, as the site owner's analyst reads them: run as the
-- reader role (not postgres), so every row it reads passes row-level security. Shows what the
-- reader sees by tenant setting, then api.site_stats, api.site_breakdown and api.site_timeseries
-- over the report's range (people only, bots excluded by default).
-- psql variables: site, zone (its time zone), report_from, report_to, tenant_hex and other_hex
-- (the tenants' hash keys in hex), vault_events (all of the vault's events).
\pset footer off
\pset null ''
\pset numericlocale on
-- Row-level security at work: what this reader sees of the vault's events, by tenant setting.
SELECT set_config('onevault_tracking.tenant_id', '', false) \g /dev/null
SELECT count(*) AS rows_unset FROM business.tracking_event_l \gset
SELECT set_config('onevault_tracking.tenant_id', :'other_hex', false) \g /dev/null
SELECT count(*) AS rows_other FROM business.tracking_event_l \gset
SELECT set_config('onevault_tracking.tenant_id', :'tenant_hex', false) \g /dev/null
SELECT count(*) AS rows_demo FROM business.tracking_event_l \gset
SELECT format(E'Read as %s (a LOGIN role in onevault_tracking_reader, bound to Demo Corp): row-level security\n'
              'shows it %s of the vault''s %s events with Demo Corp''s tenant_id set, %s with none set, %s with Other Corp''s.',
              current_user, to_char(:rows_demo, 'FM999,999,990'), to_char(:vault_events, 'FM999,999,990'),
              :rows_unset, :rows_other) AS line \gset
\echo :line
\echo

-- The report functions read the range and site from these settings.
SELECT set_config('demo.site', :'site', false), set_config('demo.report_from', :'report_from', false),
       set_config('demo.report_to', :'report_to', false) \g /dev/null
-- One breakdown as rows: rank, value, visitors, visits, and pageviews (events for event names and
-- properties).
CREATE FUNCTION pg_temp.top(p_dimension text, p_limit integer DEFAULT 10, p_bots boolean DEFAULT false)
RETURNS TABLE (rank bigint, value text, visitors bigint, visits bigint, n bigint)
LANGUAGE sql STABLE AS $$
    SELECT e.rank, e.r ->> 'value', (e.r ->> 'visitors')::bigint, (e.r ->> 'visits')::bigint,
           coalesce(e.r ->> 'pageviews', e.r ->> 'events')::bigint
      FROM jsonb_array_elements(api.site_breakdown(current_setting('demo.site'), p_dimension,
               current_setting('demo.report_from')::timestamptz, current_setting('demo.report_to')::timestamptz,
               p_limit, p_bots)) WITH ORDINALITY AS e (r, rank)
$$;
-- A share in percent, right-aligned.
CREATE FUNCTION pg_temp.pct(part bigint, whole bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT lpad(round(100.0 * part / nullif(whole, 0)) || '%', 4) $$;

SELECT format('%s, %s to %s (%s, the site''s time zone)', :'site',
              to_char(:'report_from'::timestamptz AT TIME ZONE :'zone', 'Dy DD Mon'),
              to_char((:'report_to'::timestamptz AT TIME ZONE :'zone') - interval '1 day', 'Dy DD Mon YYYY'),
              :'zone') AS title \gset
\echo :title
SELECT s.visitors, s.visits, s.pageviews, s.views_per_visit AS "views per visit",
       s.bounce_rate || '%' AS "bounce rate",
       s.visit_duration / 60 || 'm ' || lpad((s.visit_duration % 60)::text, 2, '0') || 's' AS "visit duration",
       s.events - s.pageviews AS "custom events"
  FROM jsonb_to_record(api.site_stats(:'site', :'report_from', :'report_to'))
       AS s (visitors bigint, visits bigint, pageviews bigint, events bigint, views_per_visit numeric,
             bounce_rate integer, visit_duration integer);
SELECT (s ->> 'visitors')::bigint AS total_visitors, (s ->> 'visits')::bigint AS total_visits,
       (s ->> 'pageviews')::bigint AS total_pageviews
  FROM api.site_stats(:'site', :'report_from', :'report_to') AS s \gset
-- Bots: the difference with p_include_bots, and who they are (browsers only seen with bots).
SELECT format(E'Bots are excluded by default; with bots: %s more pageviews and %s more visitors\n(%s).\n'
              '* relays its visitors'' events in batches with its own user agent, a server''s: they count as a bot''s.',
              to_char((b ->> 'pageviews')::bigint - :total_pageviews, 'FM999,999,990'),
              to_char((b ->> 'visitors')::bigint - :total_visitors, 'FM999,999,990'),
              (SELECT string_agg(coalesce(x.value, 'edge collector*') || ' ' || to_char(x.n - coalesce(y.n, 0), 'FM999,999,990'),
                                 ', ' ORDER BY x.n - coalesce(y.n, 0) DESC, x.value)
                 FROM pg_temp.top('browser', 100, true) AS x
                 LEFT JOIN pg_temp.top('browser', 100) AS y ON y.value IS NOT DISTINCT FROM x.value
                WHERE x.n > coalesce(y.n, 0))) AS line
  FROM api.site_stats(:'site', :'report_from', :'report_to', true) AS b \gset
\echo :line

\echo
\echo 'By day (visits: the visits that started that day)'
SELECT t.bucket AS day, to_char(t.bucket::date, 'Dy') AS " ", t.visitors, t.visits, t.pageviews,
       repeat('#', round(40.0 * t.pageviews / nullif(max(t.pageviews) OVER (), 0))::integer) AS " "
  FROM jsonb_to_recordset(api.site_timeseries(:'site', :'report_from', :'report_to', 'day'))
       AS t (bucket text, visitors bigint, visits bigint, pageviews bigint)
 ORDER BY t.bucket;

\echo
\echo 'Pages (entries and exits: visits that started or ended on the page)'
SELECT p.value AS page, p.visitors, p.n AS pageviews, coalesce(en.visits, 0) AS entries,
       coalesce(ex.visits, 0) AS exits
  FROM pg_temp.top('page', 12) AS p
  LEFT JOIN pg_temp.top('entry_page', 100) AS en USING (value)
  LEFT JOIN pg_temp.top('exit_page', 100) AS ex USING (value)
 ORDER BY p.rank;

\echo
\echo 'Sources: visits by channel and by referrer (of their first event)'
SELECT c.value AS channel, c.visits, pg_temp.pct(c.visits, :total_visits) AS share,
       coalesce(r.value, CASE WHEN r.rank IS NOT NULL THEN '(none: direct)' END) AS referrer, r.visits
  FROM pg_temp.top('channel', 8) AS c
  FULL JOIN pg_temp.top('referrer', 8) AS r USING (rank)
 ORDER BY rank;

\echo
\echo 'Campaigns: visits by UTM tag (visits without tags left out)'
WITH s AS (SELECT row_number() OVER (ORDER BY rank) AS rank, value, visits FROM pg_temp.top('utm_source', 50) WHERE value IS NOT NULL),
     m AS (SELECT row_number() OVER (ORDER BY rank) AS rank, value, visits FROM pg_temp.top('utm_medium', 50) WHERE value IS NOT NULL),
     c AS (SELECT row_number() OVER (ORDER BY rank) AS rank, value, visits FROM pg_temp.top('utm_campaign', 50) WHERE value IS NOT NULL)
SELECT s.value AS utm_source, s.visits, m.value AS utm_medium, m.visits, c.value AS utm_campaign, c.visits
  FROM s FULL JOIN m USING (rank) FULL JOIN c USING (rank)
 ORDER BY rank;

\echo
\echo 'Browsers, operating systems and devices: visitors'
SELECT b.value AS browser, b.visitors, pg_temp.pct(b.visitors, :total_visitors) AS share,
       o.value AS os, o.visitors, pg_temp.pct(o.visitors, :total_visitors) AS share,
       d.value AS device, d.visitors, pg_temp.pct(d.visitors, :total_visitors) AS share
  FROM pg_temp.top('browser', 8) AS b
  FULL JOIN pg_temp.top('os', 8) AS o USING (rank)
  FULL JOIN pg_temp.top('device', 8) AS d USING (rank)
 ORDER BY rank;

\echo
\echo 'Custom events, and two of their properties (signup_click: plan; file_download: file)'
WITH p AS (SELECT row_number() OVER (ORDER BY rank) AS rank, value, n FROM pg_temp.top('property:plan', 20) WHERE value IS NOT NULL),
     f AS (SELECT row_number() OVER (ORDER BY rank) AS rank, value, n FROM pg_temp.top('property:file', 20) WHERE value IS NOT NULL)
SELECT e.value AS event, e.visitors, e.n AS events, p.value AS plan, p.n AS events, f.value AS file, f.n AS events
  FROM pg_temp.top('event_name', 10) AS e
  FULL JOIN p USING (rank) FULL JOIN f USING (rank)
 ORDER BY rank;
