-- What one shard of a scaled-out deployment needs (sql/shard.sql), on one database: a tenant
-- provisioned, the event id range of a shard claimed, and a site read out in batches, loaded
-- (into the same database: nothing doubles), counted, and deleted with everything of it.
-- tests/scaleout/run.sh moves sites between real shards.
CREATE FUNCTION pg_temp.attempt(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    hint text;
BEGIN
    EXECUTE statement;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ' ' || SQLERRM || E'\n      hint: ' || hint;
END $$;
SELECT util.hash_binary('Shard Corp_2026') AS tenant \gset

-- A tenant arrives once, audited once; bad arguments are refused.
SELECT onevault_tracking.provision_tenant(:'tenant', 'Shard Corp_2026') ->> 'created' AS first_time;
SELECT onevault_tracking.provision_tenant(:'tenant', 'Shard Corp_2026') ->> 'created' AS second_time;
SELECT count(*) AS tenant_rows FROM auth.tenant_h WHERE tenant_hk = :'tenant';
SELECT count(*) AS audit_records FROM audit.audit_detail_s AS d
 WHERE d.operation = 'TENANT_PROVISIONED' AND d.new_data ->> 'tenant_bk' = 'Shard Corp_2026';
SELECT pg_temp.attempt($$SELECT onevault_tracking.provision_tenant('\x01', 'Short Key')$$) AS short_key;
SELECT pg_temp.attempt(format('SELECT onevault_tracking.provision_tenant(%L, %L)', :'tenant', '')) AS empty_name;

-- Event ids: shard 0 keeps the numbering a single node has (its range starts at 1); shard
-- numbers outside 0 to 32766 are refused.
SELECT (onevault_tracking.claim_shard_event_ids(0) - 'next_id') AS shard_0;
SELECT pg_temp.attempt('SELECT onevault_tracking.claim_shard_event_ids(-1)') AS negative;
SELECT pg_temp.attempt('SELECT onevault_tracking.claim_shard_event_ids(40000)') AS too_large;

-- A site with events, sessions, pages and a key.
SELECT api.register_site(:'tenant', 'moving.example', 'Moving', ARRAY['moving-shop.example']) ->> 'success' AS site;
SELECT api.create_api_key(:'tenant', 'moving.example', 'web') ->> 'api_key' AS api_key \gset
SELECT count(*) FILTER (WHERE (api.track_page_view(:'api_key', 'moving.example', '/p/' || i, 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0',
                                                   ('198.51.100.' || i % 5)::inet, p_session_id := 'visit-' || i % 3) ->> 'success')::boolean) AS tracked
  FROM generate_series(1, 12) AS i;
SELECT onevault_tracking.settle_before_move(10) ->> 'processed' IS NOT NULL AS settled;
SELECT onevault_tracking.site_transfer_counts(:'tenant', 'moving.example') AS counts \gset
SELECT :'counts'::jsonb - 'unprocessed' AS counts;

-- Read out in batches of 5: the cursors walk every event once (a session or page of events in
-- two batches comes with both).
CREATE TEMPORARY TABLE batches (phase text, batch jsonb);
SELECT set_config('regress.tenant', :'tenant', false) IS NOT NULL AS tenant_set;
DO $read$
DECLARE
    phase text;
    after text;
    batch jsonb;
BEGIN
    FOREACH phase IN ARRAY ARRAY['site', 'events', 'staging'] LOOP
        after := NULL;
        LOOP
            batch := onevault_tracking.site_transfer_batch(pg_catalog.current_setting('regress.tenant')::bytea, 'WWW.Moving.Example', phase, after, 5);
            INSERT INTO batches VALUES (phase, batch);
            after := batch ->> 'next';
            EXIT WHEN after IS NULL;
        END LOOP;
    END LOOP;
END
$read$;
SELECT b.phase, count(DISTINCT b.batch) AS batches, t.key AS table_name, count(DISTINCT r.value) AS distinct_rows
  FROM batches AS b, jsonb_each(b.batch -> 'rows') AS t, jsonb_array_elements(t.value) AS r
 GROUP BY 1, 3 ORDER BY 1, 3;
SELECT count(*) AS events_in_two_batches FROM (
    SELECT r.value FROM batches AS b, jsonb_array_elements(b.batch -> 'rows' -> 'business.tracking_event_l') AS r
     GROUP BY 1 HAVING count(*) > 1) AS twice;
-- Loaded into the database they came from: every row is there already, nothing is added, and
-- the satellites' histories stay as they were (one current row per key).
SELECT string_agg(DISTINCT l.key || '=' || l.value, ', ') AS loaded
  FROM batches AS b, jsonb_each_text(onevault_tracking.site_transfer_load(b.batch)) AS l;
SELECT onevault_tracking.site_transfer_counts(:'tenant', 'moving.example') = :'counts'::jsonb AS counts_unchanged;
SELECT count(*) AS sessions_with_two_current_rows FROM (
    SELECT s.session_hk FROM business.session_details_s AS s WHERE s.load_end_date IS NULL
     GROUP BY 1 HAVING count(*) > 1) AS twice;
SELECT pg_temp.attempt(format('SELECT onevault_tracking.site_transfer_batch(%L, %L, %L)', :'tenant', 'moving.example', 'rollups')) AS unknown_phase;
SELECT pg_temp.attempt(format('SELECT onevault_tracking.site_transfer_batch(%L, %L, %L)', :'tenant', 'elsewhere.example', 'site')) AS unknown_site;
SELECT pg_temp.attempt(format('SELECT onevault_tracking.site_transfer_batch(%L, %L, %L, NULL, 0)', :'tenant', 'moving.example', 'site')) AS no_rows;

-- The tenant-wide report: one row per site of the reader's tenant, with site_stats' counts.
SELECT pg_temp.attempt($$SELECT * FROM api.tenant_site_stats(now() - interval '1 day', now())$$) AS without_tenant;
SELECT set_config('onevault_tracking.tenant_id', encode(:'tenant', 'hex'), false) IS NOT NULL AS reader_tenant_set;
SELECT t.site_domain, t.pageviews, t.visits, t.bounces,
       jsonb_build_object('visitors', t.visitors, 'visits', t.visits, 'pageviews', t.pageviews, 'events', t.events)
       = jsonb_build_object('visitors', s -> 'visitors', 'visits', s -> 'visits', 'pageviews', s -> 'pageviews',
                            'events', s -> 'events') AS same_as_site_stats
  FROM api.tenant_site_stats(now() - interval '1 day', now() + interval '1 hour') AS t,
       LATERAL (SELECT api.site_stats(t.site_domain, now() - interval '1 day', now() + interval '1 hour') AS s) AS x;
SELECT pg_temp.attempt($$SELECT * FROM api.tenant_site_stats(now(), now() - interval '1 day')$$) AS empty_range;
RESET onevault_tracking.tenant_id;

-- Counting without a shard's range leaves out the events numbered in it (here: shard 0's, all).
SELECT onevault_tracking.site_transfer_counts(:'tenant', 'moving.example', 0) ->> 'events' AS events_outside_shard_0;

-- Deleted: nothing of the site is left, its rollups included; the other sites keep theirs;
-- audited with the counts. A second deletion finds nothing.
SELECT count(*) > 0 AS rollups_before FROM business.site_traffic_rollup AS r
 WHERE r.site_hk = onevault_tracking.hash_key(:'tenant', 'moving.example');
SELECT count(*) AS other_events_before FROM business.tracking_event_l AS l
  JOIN business.site_h AS h USING (site_hk) WHERE h.site_bk <> 'moving.example' \gset
SELECT onevault_tracking.delete_site_data(:'tenant', 'moving.example') -> 'deleted' AS deleted;
SELECT onevault_tracking.site_transfer_counts(:'tenant', 'moving.example') - 'unprocessed' AS counts_after;
SELECT count(*) AS rollup_rows FROM business.site_traffic_rollup AS r
 WHERE r.site_hk = onevault_tracking.hash_key(:'tenant', 'moving.example');
SELECT count(*) = :other_events_before AS other_sites_untouched FROM business.tracking_event_l AS l
  JOIN business.site_h AS h USING (site_hk) WHERE h.site_bk <> 'moving.example';
SELECT d.new_data -> 'deleted' AS audited FROM audit.audit_detail_s AS d
 WHERE d.operation = 'SITE_DATA_DELETED' AND d.new_data ->> 'site' = 'moving.example';
SELECT onevault_tracking.delete_site_data(:'tenant', 'moving.example') AS deleted_again;
