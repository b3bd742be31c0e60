-- After a restore (or an update): the data answers, row-level security holds, and tracking,
-- processing and reports work. Prints one line per check.
SELECT util.hash_binary('Lifecycle Spa_2025-06-21 11:11:44.562053-07') AS tenant \gset
-- (report pageviews: the 20 page views and the one below; the two batch events come from
-- curl, a bot, which reports leave out by default.)
SELECT max(raw_event_id) AS last_id FROM raw.site_tracking_events_r \gset
SELECT api.create_api_key(:'tenant', 'lifecycle.example', 'after', p_rate_limit_per_minute := 1000) ->> 'api_key' AS api_key \gset
SELECT 'track ' || (answer ->> 'status') || ' new_id_after_old=' || ((answer ->> 'raw_event_id')::bigint > :last_id)
  FROM api.track_page_view(:'api_key', 'lifecycle.example', '/after', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0',
                           '198.51.100.20', p_page_title := 'After') AS answer;
SELECT 'drain claimed=' || (staging.process_pending_events() ->> 'claimed');
SELECT 'report pageviews=' || (api.site_stats('lifecycle.example', now() - interval '1 day', now() + interval '1 minute') ->> 'pageviews')
  FROM (SELECT set_config('onevault_tracking.tenant_id', encode(:'tenant'::bytea, 'hex'), false)) AS s;
SELECT 'rls all_enabled=' || bool_and(c.relrowsecurity)
  FROM pg_depend AS d JOIN pg_class AS c ON c.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'onevault_tracking')
   AND d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND c.relkind = 'r'
   AND c.relnamespace::regnamespace::text IN ('raw', 'staging', 'business');
SELECT 'integration not ok: ' || coalesce(string_agg(component, ', '), 'none')
  FROM onevault_tracking.integration_status() WHERE status <> 'ok';
