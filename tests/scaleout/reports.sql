-- One site's reports (psql variables tenant, domain, from, to), one line each: run on the proxy
-- and on the site's shard, the lines must be equal. The reader's tenant is a session setting;
-- the proxy passes it on to the shard.
SET onevault_tracking.tenant_id = :'tenant';
SELECT api.site_stats(:'domain', :'from', :'to');
SELECT api.site_breakdown(:'domain', 'page', :'from', :'to');
SELECT api.site_breakdown(:'domain', 'browser', :'from', :'to', 10, false, '{"page": "/page/1"}');
SELECT api.site_timeseries(:'domain', :'from', :'to', 'hour');
SELECT string_agg(line, E'\n') FROM api.export_report(:'domain', :'from', :'to', 'breakdown:referrer') AS line;
