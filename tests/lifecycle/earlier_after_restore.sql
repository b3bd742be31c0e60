-- After restoring a database that had the earlier generation: the legacy rows and the migrated
-- ones are back; restore_earlier_generation() brings back the stubs and grants.
SELECT 'legacy rows=' || (SELECT count(*) FROM onevault_tracking_legacy.site_tracking_events_r)
       || ' migrated=' || (SELECT count(*) FROM raw.site_tracking_events_r WHERE client_event_id LIKE 'API\_%');
SELECT 'stub before=' || (to_regprocedure('staging.process_site_tracking_events()') IS NOT NULL);
SELECT 'restored ' || (answer ->> 'stubs_created') || ' stubs'
  FROM (SELECT onevault_tracking.restore_earlier_generation() AS answer) AS run;
SELECT 'stub after=' || (to_regprocedure('staging.process_site_tracking_events()') IS NOT NULL);
