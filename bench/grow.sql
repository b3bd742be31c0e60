-- bench/grow.sql, before process_1m: grows the event tables to about :target events, set-based
-- and quickly, by copying the bulk events already processed (raw rows of the batch API, their
-- staging rows, vault event links and event satellites) k times, so that F can be measured again
-- on tables of that size. Copy j is history: its times are j days earlier, its raw and staging
-- ids are new (old id + j times the highest id), its client event ids, visitor hashes and event
-- keys are derived anew (so no visitor, idempotency key or event of the next events finds them),
-- and it reuses the pages and sessions of the original (as more traffic on the same site does).
-- Foreign keys are not re-checked (session_replication_role = replica: the copies reference
-- rows that exist by construction); the identities are moved past the copies, and the tables
-- vacuumed and analysed afterwards. Column lists come from the catalogue: every column not
-- named below is copied as it is. psql variable: target.
SET session_replication_role = replica;
SELECT (SELECT count(*) FROM business.tracking_event_l) AS total,
       (SELECT count(*) FROM raw.site_tracking_events_r WHERE batch_id IS NOT NULL) AS bulk \gset
SELECT greatest(0, ceil((:target - :total)::numeric / nullif(:bulk, 0)))::int AS copies \gset
SELECT set_config('bench.copies', :'copies', false) IS NOT NULL AS ok \gset
\echo '  ' :total 'events stored, copying the' :bulk 'bulk events' :copies 'times'
SELECT clock_timestamp() AS t0 \gset
DO $grow$
DECLARE
    v_copies int := current_setting('bench.copies')::int;
    v_raw_step bigint := (SELECT max(raw_event_id) FROM raw.site_tracking_events_r);
    v_staging_step bigint := (SELECT max(staging_event_id) FROM staging.site_tracking_events_s);
    -- Per table: the columns replaced in a copy (j is the copy's number), the others as they are.
    v_tables jsonb := jsonb_build_object(
        'raw.site_tracking_events_r', jsonb_build_object(
            'raw_event_id', 'raw_event_id + j * $1',
            'received_at', 'received_at - j * interval ''1 day''',
            'processed_at', 'processed_at - j * interval ''1 day''',
            'load_date', 'load_date - j * interval ''1 day''',
            'client_event_id', 'client_event_id || ''~'' || j',
            'visitor_hash', 'sha256(visitor_hash || int4send(j))',
            'visitor_hash_previous', 'sha256(visitor_hash_previous || int4send(j))'),
        'staging.site_tracking_events_s', jsonb_build_object(
            'staging_event_id', 'staging_event_id + j * $2',
            'raw_event_id', 'raw_event_id + j * $1',
            'client_event_id', 'client_event_id || ''~'' || j',
            'event_timestamp', 'event_timestamp - j * interval ''1 day''',
            'staged_at', 'staged_at - j * interval ''1 day''',
            'loaded_at', 'loaded_at - j * interval ''1 day''',
            'load_date', 'load_date - j * interval ''1 day''',
            'visitor_hash', 'sha256(visitor_hash || int4send(j))'),
        'business.tracking_event_l', jsonb_build_object(
            'tracking_event_hk', 'sha256(tracking_event_hk || int4send(j))',
            'tracking_event_bk', '(tracking_event_bk::bigint + j * $1)::text',
            'load_date', 'load_date - j * interval ''1 day'''),
        'business.tracking_event_details_s', jsonb_build_object(
            'tracking_event_hk', 'sha256(tracking_event_hk || int4send(j))',
            'load_date', 'load_date - j * interval ''1 day''',
            'load_end_date', 'load_end_date - j * interval ''1 day''',
            'event_timestamp', 'event_timestamp - j * interval ''1 day''',
            'client_event_id', 'client_event_id || ''~'' || j',
            'visitor_hash', 'sha256(visitor_hash || int4send(j))'));
    -- Which rows are the bulk events' (the batch API's raw rows and what they became).
    v_source jsonb := jsonb_build_object(
        'raw.site_tracking_events_r', 'raw.site_tracking_events_r AS t WHERE t.batch_id IS NOT NULL',
        'staging.site_tracking_events_s', 'staging.site_tracking_events_s AS t WHERE EXISTS (SELECT FROM raw.site_tracking_events_r AS r WHERE r.raw_event_id = t.raw_event_id AND r.batch_id IS NOT NULL)',
        'business.tracking_event_l', 'business.tracking_event_l AS t WHERE EXISTS (SELECT FROM raw.site_tracking_events_r AS r WHERE r.raw_event_id = t.tracking_event_bk::bigint AND r.batch_id IS NOT NULL)',
        'business.tracking_event_details_s', 'business.tracking_event_details_s AS t WHERE EXISTS (SELECT FROM business.tracking_event_l AS l JOIN raw.site_tracking_events_r AS r ON r.raw_event_id = l.tracking_event_bk::bigint WHERE l.tracking_event_hk = t.tracking_event_hk AND r.batch_id IS NOT NULL)');
    v_table text;
    v_columns text;
    v_values text;
BEGIN
    -- A temporary copy of the bulk rows of each table first (the source does not grow while
    -- copying), then one INSERT per table and copy.
    FOR v_table IN SELECT * FROM jsonb_object_keys(v_tables) LOOP
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
               string_agg(coalesce(v_tables -> v_table ->> a.attname::text, 't.' || quote_ident(a.attname)), ', ' ORDER BY a.attnum)
          INTO v_columns, v_values
          FROM pg_attribute AS a
         WHERE a.attrelid = v_table::regclass AND a.attnum > 0 AND NOT a.attisdropped;
        EXECUTE format('CREATE TEMPORARY TABLE grow_source AS SELECT t.* FROM %s', v_source ->> v_table);
        FOR j IN 1 .. v_copies LOOP
            EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM grow_source AS t, (SELECT %s AS j) AS c',
                           v_table, v_columns, v_values, j)
              USING v_raw_step, v_staging_step;
        END LOOP;
        DROP TABLE grow_source;
    END LOOP;
    PERFORM setval(pg_get_serial_sequence('raw.site_tracking_events_r', 'raw_event_id'),
                   (SELECT max(raw_event_id) FROM raw.site_tracking_events_r));
    PERFORM setval(pg_get_serial_sequence('staging.site_tracking_events_s', 'staging_event_id'),
                   (SELECT max(staging_event_id) FROM staging.site_tracking_events_s));
END
$grow$;
RESET session_replication_role;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS seconds \gset
SELECT (SELECT count(*) FROM business.tracking_event_l) AS total_after \gset
SELECT bench.assert(:total_after = :total + :copies * :bulk
                    AND (SELECT count(*) FROM raw.site_tracking_events_r) = (SELECT count(*) FROM staging.site_tracking_events_s),
                    'the copies do not add up');
\echo '  ' :total_after 'events stored after' :seconds 's'
VACUUM ANALYZE raw.site_tracking_events_r, staging.site_tracking_events_s, business.tracking_event_l,
               business.tracking_event_details_s;
