-- bench/reports.sql: the reports over the events loaded by F and the realistic traffic of
-- bench/traffic.sql (n in all), as extra measurements when the build has them (report_*):
-- api.site_stats, api.site_breakdown by referrer and api.site_timeseries by hour over the last
-- two days, each the best of three calls
-- (bench/report_timing.sql). psql variables: n, site, tenant_hex (the tenant's hash key in hex).
SELECT to_regprocedure('api.site_stats(text,timestamptz,timestamptz,boolean,jsonb,boolean)') IS NOT NULL AS has_stats,
       to_regprocedure('api.site_breakdown(text,text,timestamptz,timestamptz,integer,boolean,jsonb)') IS NOT NULL AS has_breakdown,
       to_regprocedure('api.site_timeseries(text,timestamptz,timestamptz,text,boolean,jsonb)') IS NOT NULL AS has_timeseries \gset
\if :has_stats
  SELECT set_config('onevault_tracking.tenant_id', :'tenant_hex', false) IS NOT NULL AS ok \gset
  ANALYZE;
  SELECT now() - interval '2 days' AS r_from, now() + interval '1 day' AS r_to \gset
  SELECT 'report_site_stats' AS metric, 'extra: api.site_stats over the N loaded events and the realistic traffic (best of 3 calls)' AS what,
         format('api.site_stats(%L, %L, %L) ->> ''pageviews''', :'site', :'r_from', :'r_to') AS call,
         '%s ms per call, %s page views counted' AS notes \gset
  \ir report_timing.sql
  \if :has_breakdown
    SELECT 'report_site_breakdown' AS metric,
           'extra: api.site_breakdown by referrer over the N loaded events and the realistic traffic (best of 3 calls)' AS what,
           format('api.site_breakdown(%L, ''referrer'', %L, %L) IS NOT NULL', :'site', :'r_from', :'r_to') AS call,
           '%s ms per call' AS notes \gset
    \ir report_timing.sql
  \endif
  \if :has_timeseries
    SELECT 'report_site_timeseries' AS metric,
           'extra: api.site_timeseries by hour over the N loaded events and the realistic traffic (best of 3 calls)' AS what,
           format('api.site_timeseries(%L, %L, %L, ''hour'') IS NOT NULL', :'site', :'r_from', :'r_to') AS call,
           '%s ms per call' AS notes \gset
    \ir report_timing.sql
  \endif
\endif
