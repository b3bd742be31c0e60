-- Tracking through the proxy, in every form the API has: page views and custom events with a
-- key, the platform app's track_site_event on www. and allowed domains, and a raw batch. The
-- sites come from register.sql's answer (psql variable sites: a CSV file). Answers per site
-- the events it should now hold, and the calls that were not accepted.
CREATE TEMPORARY TABLE site_keys (site_domain text, shard integer, api_key text, tenant_hex text);
COPY site_keys FROM :'sites' WITH (FORMAT csv);
CREATE TEMPORARY TABLE answers (site_domain text, kind text, answer jsonb);
WITH numbered AS (SELECT k.*, row_number() OVER (ORDER BY k.site_domain) AS position FROM site_keys AS k)
INSERT INTO answers
SELECT n.site_domain, 'page_view',
       api.track_page_view(n.api_key, 'www.' || n.site_domain, '/page/' || (i % 4), 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0',
                           ('198.51.100.' || (i % 7 + 1))::inet, 'https://www.google.com/', 'Page ' || i)
  FROM numbered AS n, generate_series(1, 10 + 2 * n.position::integer) AS i
UNION ALL
SELECT n.site_domain, 'custom',
       api.track_custom_event(n.api_key, n.site_domain, 'signup', jsonb_build_object('plan', 'pro'), '/pricing',
                              'Mozilla/5.0 (Macintosh) Safari/605.1.15', ('203.0.113.' || i)::inet)
  FROM numbered AS n, generate_series(1, 2) AS i
UNION ALL
SELECT n.site_domain, 'site_event',
       api.track_site_event('192.0.2.44', 'Mozilla/5.0 (Windows NT 10.0) Chrome/138.0', 'https://WWW.' || n.site_domain || ':443/landing?utm_source=news')
  FROM numbered AS n
UNION ALL
SELECT 'alpha.example', 'allowed_domain', api.track_site_event('192.0.2.45', 'Mozilla/5.0 Chrome/138.0', 'https://alpha-shop.example/cart')
UNION ALL
SELECT 'charlie.example', 'allowed_domain', api.track_site_event('192.0.2.46', 'Mozilla/5.0 Chrome/138.0', 'https://charlie-blog.example/post')
UNION ALL
SELECT k.site_domain, 'batch',
       raw.batch_ingest_tracking_events(decode(k.tenant_hex, 'hex'), p.api_key_hk, '192.0.2.47', 'Mozilla/5.0 Chrome/138.0',
                                        (SELECT jsonb_agg(jsonb_build_object('event_type', 'page_view',
                                                                             'page_url', 'https://' || k.site_domain || '/batch/' || b))
                                           FROM generate_series(1, 4) AS b))
  FROM site_keys AS k JOIN onevault_tracking_proxy.api_keys AS p USING (site_domain)
 WHERE k.site_domain = 'bravo.example';
\copy (SELECT a.site_domain, sum(CASE WHEN a.kind = 'batch' THEN (a.answer ->> 'accepted')::integer ELSE 1 END), count(*) FILTER (WHERE (a.answer ->> 'success')::boolean IS NOT TRUE) FROM answers AS a GROUP BY 1 ORDER BY 1) TO STDOUT WITH (FORMAT csv)
