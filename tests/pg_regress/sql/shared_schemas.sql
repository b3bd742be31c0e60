-- raw, staging, business and api are shared with other One Vault features: the extension
-- must install next to their objects, and DROP EXTENSION must remove only its own.

-- Another feature's objects, added after the extension created the schemas.
CREATE FOREIGN DATA WRAPPER regress_dummy_fdw;
CREATE SERVER regress_dummy_server FOREIGN DATA WRAPPER regress_dummy_fdw;
CREATE FOREIGN TABLE raw.other_feature_ft (id int) SERVER regress_dummy_server;
CREATE TABLE staging.other_feature_t (id int);
INSERT INTO staging.other_feature_t VALUES (1), (2);
-- The tracked events of the earlier tests go with it, on purpose.
SET onevault_tracking.drop_deletes_data = on;
DROP EXTENSION onevault_tracking;
SELECT to_regclass('raw.other_feature_ft') AS foreign_table, to_regclass('staging.other_feature_t') AS table_kept,
       (SELECT count(*) FROM staging.other_feature_t) AS rows_kept,
       to_regclass('raw.site_tracking_events_r') AS raw_table,
       to_regprocedure('raw.ingest_tracking_event(bytea,bytea,inet,text,jsonb)') AS ingest_function;
SELECT nspname FROM pg_namespace WHERE nspname IN ('raw', 'staging', 'business', 'api') ORDER BY 1;

-- Schemas that already exist with other features' objects: CREATE EXTENSION works, and the
-- DROP again leaves them and their contents.
CREATE FUNCTION api.other_feature_fn() RETURNS int LANGUAGE sql AS 'SELECT 42';
CREATE EXTENSION onevault_tracking;
SELECT to_regclass('raw.site_tracking_events_r') IS NOT NULL AS raw_table_created,
       api.other_feature_fn() AS other_feature_still_works;
DROP EXTENSION onevault_tracking;
SELECT to_regclass('raw.other_feature_ft') AS foreign_table, api.other_feature_fn() AS other_function,
       (SELECT count(*) FROM pg_proc WHERE pronamespace = 'raw'::regnamespace) AS functions_left_in_raw;
-- Nothing of the extension survives; its own (now empty) schema is left as PostgreSQL leaves
-- any schema that CREATE EXTENSION created from the control file.
SELECT count(*) AS objects_left_in_extension_schema
  FROM pg_class WHERE relnamespace = 'onevault_tracking'::regnamespace;
SELECT count(*) AS functions_left_in_extension_schema
  FROM pg_proc WHERE pronamespace = 'onevault_tracking'::regnamespace;

DROP FOREIGN TABLE raw.other_feature_ft;
DROP SERVER regress_dummy_server;
DROP FOREIGN DATA WRAPPER regress_dummy_fdw;
DROP TABLE staging.other_feature_t;
DROP FUNCTION api.other_feature_fn();
