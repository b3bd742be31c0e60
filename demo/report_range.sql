-- demo/report_range.sql: the range the report covers, from the start of the site's day with the
-- oldest visit to the end of its current day (so the time series has whole days). Prints the
-- site's time zone, the start and the end. psql variables: site, history_hours.
SELECT d.timezone, to_char(f.report_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       to_char(f.report_to AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
  FROM business.site_h AS h
  JOIN business.site_details_s AS d ON d.site_hk = h.site_hk AND d.load_end_date IS NULL
 CROSS JOIN LATERAL (
       SELECT date_trunc('day', (now() - :history_hours * interval '1 hour') AT TIME ZONE d.timezone)
                  AT TIME ZONE d.timezone AS report_from,
              (date_trunc('day', now() AT TIME ZONE d.timezone) + interval '1 day') AT TIME ZONE d.timezone AS report_to) AS f
 WHERE h.site_bk = :'site';
