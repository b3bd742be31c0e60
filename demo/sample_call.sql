-- demo/sample_call.sql: the parameters of the tracking API call that sends event n, as the
-- site's tracking endpoint makes it (the key shown by its prefix only). psql variables: n,
-- key_prefix, site.
\pset footer off
\pset null '(null)'
\x on
SELECT 'api.track_page_view' AS "function", :'key_prefix' || '_<secret>' AS p_api_key, :'site' AS p_site_domain,
       demo.api_page_path(payload ->> 'page_url') AS p_page_path, user_agent AS p_user_agent,
       client_ip AS p_client_ip, payload ->> 'referrer' AS p_referrer, payload ->> 'page_title' AS p_page_title,
       payload ->> 'session_id' AS p_session_id, payload ->> 'event_id' AS p_event_id,
       payload ->> 'timestamp' AS p_event_timestamp, payload -> 'properties' AS p_properties
  FROM demo.events
 WHERE n = :n;
