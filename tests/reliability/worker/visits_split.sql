-- tests/reliability/worker.sh: the visitors of visits.sql whose events were given more than one
-- session (0 when every visit stayed whole), and how many visitors there are (20).
SELECT count(*) FILTER (WHERE sessions > 1) || ' ' || count(*)
  FROM (SELECT s.visitor_hash, count(DISTINCT s.session_id) AS sessions
          FROM staging.site_tracking_events_s AS s
          JOIN raw.site_tracking_events_r AS r USING (raw_event_id)
         WHERE r.client_event_id LIKE 'visit-%' AND s.session_source = 'derived'
         GROUP BY 1) AS v;
