-- DROP EXTENSION cannot silently delete tracked events (README, "Lifecycle"): with events
-- stored, DROP EXTENSION, DROP EXTENSION ... CASCADE and DROP SCHEMA onevault_tracking CASCADE
-- are refused with a HINT naming the explicit way; nothing is lost by the attempt.
SELECT count(*) > 0 AS events_stored FROM raw.site_tracking_events_r;
CREATE TEMP TABLE events_before AS SELECT count(*) AS n FROM raw.site_tracking_events_r;
DROP EXTENSION onevault_tracking;
DROP EXTENSION onevault_tracking CASCADE;
DROP EXTENSION IF EXISTS pg_temp_nothing, onevault_tracking CASCADE;
DROP SCHEMA onevault_tracking CASCADE;
-- The guard runs as whoever drops (a superuser, often) with that session's search_path: a
-- look-alike planted in public is never called by it.
CREATE FUNCTION public.to_regclass(text) RETURNS regclass LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'a planted to_regclass was called by the DROP guard'; END $$;
SET search_path = public, pg_catalog;
DROP EXTENSION onevault_tracking;
RESET search_path;
DROP FUNCTION public.to_regclass(text);
SELECT (SELECT count(*) FROM raw.site_tracking_events_r) = n AS nothing_lost,
       (SELECT count(*) FROM pg_extension WHERE extname = 'onevault_tracking') AS extension_still_there
  FROM events_before;
-- Other drops are not concerned.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
DROP EXTENSION pg_trgm;
CREATE SCHEMA regress_unrelated;
DROP SCHEMA regress_unrelated;
-- The setting is superuser-only, so a role that may drop cannot opt in by itself ...
CREATE ROLE regress_dropper;
SET ROLE regress_dropper;
SET onevault_tracking.drop_deletes_data = on;
RESET ROLE;
DROP ROLE regress_dropper;
-- ... and a superuser who sets it deletes the events with the extension (shared_schemas, next).
SHOW onevault_tracking.drop_deletes_data;
