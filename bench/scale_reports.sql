-- bench/scale_reports.sql, "reports at scale": times the report set over the stage's site with
-- onevault_tracking.report_source = rollups and = vault (the same functions computing directly over
-- the vault: the baseline), into bench.report_times (size :size, :events events loaded).
-- The set, each on the last 30 whole UTC days and the last whole UTC day before :day_end (the
-- site's time zone is UTC, so these are a dashboard's "last 30 days" and "yesterday"):
--   site_stats, site_stats filtered by page, site_breakdown by page, referrer, browser and by
--   browser filtered by page, site_timeseries by day and by hour.
-- Each: one untimed call, then the median of up to :runs timed calls (rollups) or :vault_runs
-- (vault, whose calls stop once they took :vault_budget seconds; bench.time_report). Also
-- records whether both sources gave the same answer.
-- psql variables: size, events, site, tenant_hex, day_end, page, runs, vault_runs, vault_budget.
\set ON_ERROR_STOP 1
SELECT set_config('onevault_tracking.tenant_id', :'tenant_hex', false) IS NOT NULL AS ok \gset
SELECT set_config('bench.scale_size', :'size', false), set_config('bench.scale_events', :'events', false),
       set_config('bench.scale_site', :'site', false), set_config('bench.scale_day_end', :'day_end', false),
       set_config('bench.scale_page', :'page', false),
       set_config('bench.scale_runs', format('%s %s %s', :runs, :vault_runs, :vault_budget), false) \g /dev/null
DO $reports$
DECLARE
    v_runs text[] := string_to_array(current_setting('bench.scale_runs'), ' ');
    v_site text := current_setting('bench.scale_site');
    v_day_end timestamptz := current_setting('bench.scale_day_end')::timestamptz;
    v_page text := current_setting('bench.scale_page');
    v_report record;
    v_range record;
    v_call text;
    v_rollups record;
    v_vault record;
BEGIN
    FOR v_range IN SELECT * FROM (VALUES ('30d', v_day_end - interval '30 days', v_day_end),
                                         ('1d', v_day_end - interval '1 day', v_day_end)) AS r (name, from_at, to_at) LOOP
        FOR v_report IN
            SELECT * FROM (VALUES
                (1, 'site_stats', 'api.site_stats(%1$L, %2$L, %3$L)'),
                (2, 'site_stats page', 'api.site_stats(%1$L, %2$L, %3$L, p_filters => jsonb_build_object(''page'', %4$L))'),
                (3, 'breakdown page', 'api.site_breakdown(%1$L, ''page'', %2$L, %3$L)'),
                (4, 'breakdown referrer', 'api.site_breakdown(%1$L, ''referrer'', %2$L, %3$L)'),
                (5, 'breakdown browser', 'api.site_breakdown(%1$L, ''browser'', %2$L, %3$L)'),
                (6, 'breakdown browser page', 'api.site_breakdown(%1$L, ''browser'', %2$L, %3$L, p_filters => jsonb_build_object(''page'', %4$L))'),
                (7, 'timeseries day', 'api.site_timeseries(%1$L, %2$L, %3$L, ''day'')'),
                (8, 'timeseries hour', 'api.site_timeseries(%1$L, %2$L, %3$L, ''hour'')')) AS r (ord, name, template)
             ORDER BY ord
        LOOP
            v_call := format(v_report.template, v_site, v_range.from_at, v_range.to_at, v_page);
            SELECT * INTO v_rollups FROM bench.time_report(v_call, 'rollups', v_runs[1]::int, 3600);
            SELECT * INTO v_vault FROM bench.time_report(v_call, 'vault', v_runs[2]::int, v_runs[3]::numeric);
            INSERT INTO bench.report_times (size, events, report, range, source, median_ms, runs, same_answer)
            VALUES (current_setting('bench.scale_size'), current_setting('bench.scale_events')::bigint, v_report.name,
                    v_range.name, 'rollups', v_rollups.median_ms, v_rollups.runs, NULL),
                   (current_setting('bench.scale_size'), current_setting('bench.scale_events')::bigint, v_report.name,
                    v_range.name, 'vault', v_vault.median_ms, v_vault.runs, v_vault.answer = v_rollups.answer);
        END LOOP;
    END LOOP;
END
$reports$;
\pset footer off
SELECT r.report, r.range, round(r.median_ms, 1) AS rollups_ms, r.runs AS rollup_runs, round(v.median_ms, 1) AS vault_ms,
       v.runs AS vault_runs, round(v.median_ms / nullif(r.median_ms, 0), 1) AS speedup, v.same_answer
  FROM bench.report_times AS r
  JOIN bench.report_times AS v USING (size, report, range)
 WHERE r.size = :'size' AND r.source = 'rollups' AND v.source = 'vault'
 ORDER BY r.ord;
