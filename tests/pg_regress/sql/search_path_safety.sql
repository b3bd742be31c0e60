-- Objects planted on the caller's search_path are never used by the extension: every function
-- that resolves names runs with search_path = pg_catalog, pg_temp, and tables are qualified.
SELECT util.hash_binary('Planted Corp_2025-01-01') AS tenant \gset
INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, record_source) VALUES (:'tenant', 'Planted Corp_2025-01-01', 'regress');

-- Same-named functions and operators in public (and pg_temp), each of which fails loudly.
CREATE FUNCTION public.planted() RETURNS void LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'a planted object was used'; END $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN PERFORM public.planted(); RETURN NULL; END $$;
CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN PERFORM public.planted(); RETURN NULL; END $$;
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.planted(); RETURN NULL; END $$;
CREATE FUNCTION public.encode(bytea, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.planted(); RETURN NULL; END $$;
CREATE FUNCTION public.decode(text, text) RETURNS bytea LANGUAGE plpgsql AS $$ BEGIN PERFORM public.planted(); RETURN NULL; END $$;
CREATE FUNCTION public.to_char(timestamptz, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.planted(); RETURN NULL; END $$;
CREATE FUNCTION public.current_setting(text, boolean) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.planted(); RETURN NULL; END $$;
CREATE FUNCTION public.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS $$ BEGIN PERFORM public.planted(); END $$;
CREATE FUNCTION public.jsonb_populate_recordset(anyelement, jsonb) RETURNS SETOF anyelement LANGUAGE plpgsql AS $$ BEGIN PERFORM public.planted(); END $$;
CREATE FUNCTION public.planted_eq(bytea, bytea) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM public.planted(); RETURN true; END $$;
CREATE OPERATOR public.= (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = public.planted_eq);
CREATE FUNCTION public.planted_text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM public.planted(); RETURN true; END $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.planted_text_eq);
CREATE FUNCTION public.planted_arrow(jsonb, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM public.planted(); RETURN NULL; END $$;
CREATE OPERATOR public.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = public.planted_arrow);
CREATE FUNCTION pg_temp.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN PERFORM public.planted(); RETURN NULL; END $$;

-- The plants work: code that does not pin its search_path picks them up.
SET search_path = public, pg_catalog, pg_temp;
\set VERBOSITY terse
SELECT now();
SELECT '\x01'::bytea = '\x02'::bytea;
\set VERBOSITY default

-- The whole API with the plants first on the path: no planted object is reached. One
-- transaction with function tracking on, so that the end can show that every function a role
-- may execute was called here.
RESET search_path;
SELECT util.hash_binary('nobody') AS nobody_hash, encode(:'tenant'::bytea, 'hex') AS tenant_hex \gset
BEGIN;
SET LOCAL track_functions = 'all';
SET search_path = public, pg_catalog, pg_temp;
SELECT api.register_site(:'tenant', 'planted.example', 'Planted') AS site \gset
SELECT api.create_api_key(:'tenant', 'planted.example', 'k') AS key_answer \gset
RESET search_path;
SELECT (:'key_answer'::jsonb) ->> 'api_key' AS api_key, (:'key_answer'::jsonb) ->> 'key_prefix' AS key_prefix \gset
SET search_path = public, pg_catalog, pg_temp;
SELECT api.track_page_view(:'api_key', 'planted.example', '/p', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', '192.0.2.1',
                           p_referrer := 'https://news.ycombinator.com/', p_session_id := 's1') AS page_view \gset
SELECT api.track_custom_event(:'api_key', 'planted.example', 'signup', '{"plan": "pro"}', '/p',
                              'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', '192.0.2.1') AS custom \gset
SELECT api.track_page_view('ovt_00000000_wrong', 'planted.example', '/p', 'UA', '192.0.2.1') AS wrong_key \gset
SELECT raw.batch_ingest_tracking_events(:'tenant', NULL, '192.0.2.2', 'curl/8.0',
       '[{"event_type": "page_view", "page_url": "https://planted.example/b", "event_id": "b1"}]') AS batch \gset
SELECT staging.process_pending_events() AS drained \gset
SELECT business.load_staged_events() AS loaded \gset
SELECT api.check_rate_limit(:'tenant', '192.0.2.3') AS rate \gset
SELECT count(*) AS stats_rows FROM raw.get_ingestion_stats(:'tenant') \gset
SELECT api.erase_session(:'tenant', 's1') AS erased \gset
SELECT api.purge_expired_data() AS purged \gset
SELECT api.revoke_api_key(:'tenant', :'key_prefix') AS revoked \gset
SELECT count(*) AS status_rows FROM onevault_tracking.integration_status() \gset
SELECT api.log_tracking_attempt(:'tenant', 'rejected', 'PLANTED_TEST', 'ovt_0000', '192.0.2.9') AS logged \gset
SELECT api.track_site_event('192.0.2.4', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0',
                            'https://planted.example/site-event') AS site_event \gset
SELECT raw.ingest_tracking_event(:'tenant', NULL, '192.0.2.5', 'curl/8.0',
       '{"event_type": "page_view", "page_url": "https://planted.example/one"}') AS one_raw \gset
SELECT staging.process_raw_event(:one_raw) AS one_processed \gset
SELECT business.load_staged_event(:one_raw) AS one_loaded \gset
SELECT onevault_tracking.process_event(:one_raw) AS one_event \gset
SELECT raw.ingest_tracking_event(:'tenant', NULL, '192.0.2.5', 'curl/8.0', '{"event_type": "page_view"}') AS bad_raw \gset
SELECT staging.process_raw_event(:bad_raw) AS bad_processed \gset
SELECT staging.reprocess_quarantined_events(:'tenant', ARRAY[:bad_raw]::bigint[]) AS reprocessed \gset
SELECT staging.validate_event_data('{"event_type": "page_view", "page_path": "/"}') AS validated \gset
SELECT staging.enrich_event_data('{"event_type": "page_view", "page_url": "https://planted.example/e"}',
                                 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', '192.0.2.6') AS enriched \gset
SELECT api.erase_visitor(:'tenant', :'nobody_hash') AS erased_visitor \gset
SELECT staging.auto_process_if_needed() AS auto_processed \gset
SELECT staging.trigger_pipeline_now() AS triggered \gset
SELECT count(*) AS pipeline_rows FROM staging.get_pipeline_status() \gset
SELECT onevault_tracking.process_pipeline_step(10) AS pipeline_step \gset
SELECT onevault_tracking.migrate_earlier_generation() AS migrated \gset
SELECT onevault_tracking.restore_earlier_generation() AS restored \gset
SELECT count(*) AS creators FROM onevault_tracking.pgcrypto_schema_creators() \gset
SELECT onevault_tracking.hash_binary('x') IS NOT NULL AND onevault_tracking.hash_key(:'tenant', 'a') IS NOT NULL
       AND onevault_tracking.business_key(:'tenant', 'a') IS NOT NULL AS hashes \gset
SELECT onevault_tracking.site_domain('WWW.Planted.Example.') AS normalised_domain \gset
SELECT onevault_tracking.site_of_host(:'tenant', 'www.planted.example') AS site_of_host \gset
SELECT onevault_tracking.merge_allowed_domain_sites() AS merged_sites \gset
SET LOCAL onevault_tracking.tenant_id = :'tenant_hex';
SELECT onevault_tracking.current_tenant_hk() IS NOT NULL AS tenant_selected \gset
SELECT api.site_stats('planted.example', (current_date - 1)::timestamptz, (current_date + 2)::timestamptz) AS stats \gset
SELECT api.site_breakdown('planted.example', 'page', (current_date - 1)::timestamptz, (current_date + 2)::timestamptz) AS breakdown \gset
SELECT api.site_timeseries('planted.example', (current_date - 1)::timestamptz, (current_date + 2)::timestamptz) AS series \gset
SELECT onevault_tracking.rebuild_rollups(onevault_tracking.current_tenant_hk(), 'planted.example') AS rebuilt \gset
SELECT api.current_visitors('planted.example') AS current_visitors \gset
SELECT count(*) AS tenant_sites FROM api.tenant_site_stats((current_date - 1)::timestamptz, (current_date + 2)::timestamptz) \gset
SELECT count(*) AS exported_events FROM api.export_events('planted.example', (current_date - 1)::timestamptz, (current_date + 2)::timestamptz) \gset
SELECT count(*) AS exported_report FROM api.export_report('planted.example', (current_date - 1)::timestamptz, (current_date + 2)::timestamptz, 'stats') \gset
-- The shard functions (sql/shard.sql), on a site of its own that is read out, loaded back,
-- counted and deleted.
SELECT onevault_tracking.provision_tenant(onevault_tracking.hash_binary('Planted Shard'), 'Planted Shard') AS provisioned \gset
SELECT onevault_tracking.claim_shard_event_ids(0) AS claimed \gset
SELECT api.register_site(:'tenant', 'planted-gone.example', 'Gone') AS gone_site \gset
SELECT onevault_tracking.settle_before_move(5) AS settled \gset
SELECT onevault_tracking.site_transfer_load(onevault_tracking.site_transfer_batch(:'tenant', 'planted-gone.example', 'site'))
       || onevault_tracking.site_transfer_load(onevault_tracking.site_transfer_batch(:'tenant', 'planted.example', 'events'))
       || onevault_tracking.site_transfer_load(onevault_tracking.site_transfer_batch(:'tenant', 'planted.example', 'staging')) AS transferred \gset
SELECT onevault_tracking.site_transfer_counts(:'tenant', 'planted.example') AS transfer_counts \gset
SELECT onevault_tracking.delete_site_data(:'tenant', 'planted-gone.example') AS gone \gset
-- A worker started and stopped; the pending events of the other tests are locked by this
-- transaction, so the worker (SKIP LOCKED) processes none of them while it runs.
SELECT count(*) AS locked_pending FROM (SELECT 1 FROM raw.site_tracking_events_r
  WHERE processing_status OPERATOR(pg_catalog.<>) 'PROCESSED' FOR UPDATE) AS l \gset
SELECT string_agg(status, ' ') AS workers FROM onevault_tracking.start_workers(1) \gset
SELECT onevault_tracking.stop_workers() AS workers_stopped \gset
RESET search_path;
-- Every function a role may execute ran in this transaction (the reports' event set and the
-- rollups' filter test are SQL functions inlined into their queries, which function tracking
-- cannot see).
SELECT p.oid::regprocedure AS never_called
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'onevault_tracking')
   AND d.classid = 'pg_proc'::regclass
   AND (has_function_privilege('onevault_tracking_ingest', p.oid, 'EXECUTE')
        OR has_function_privilege('onevault_tracking_reader', p.oid, 'EXECUTE')
        OR has_function_privilege('onevault_tracking_admin', p.oid, 'EXECUTE'))
   AND p.oid NOT IN ('onevault_tracking.report_events(bytea, bytea, timestamptz, timestamptz, boolean)'::regprocedure,
                     'onevault_tracking.traffic_filter_keeps(jsonb, text, text, boolean)'::regprocedure)
   AND NOT EXISTS (SELECT 1 FROM pg_stat_xact_user_functions AS f WHERE f.funcid = p.oid)
 ORDER BY 1;
SELECT (:'logged'::jsonb) ->> 'success' AS logged, (:'site_event'::jsonb) ->> 'success' AS site_event,
       (:'one_processed'::jsonb) ->> 'status' AS one_processed, (:'bad_processed'::jsonb) ->> 'validation_status' AS bad_processed,
       (:'reprocessed'::jsonb) -> 'reprocessed_raw_event_ids' = jsonb_build_array(:bad_raw) AS reprocessed, (:'validated'::jsonb) ->> 'valid' AS validated,
       (:'enriched'::jsonb) ->> 'page_host' AS enriched_host, (:'erased_visitor'::jsonb) ->> 'total' AS erased_visitor,
       :'normalised_domain' AS normalised_domain, (:'stats'::jsonb) ? 'pageviews' AS stats,
       (:'breakdown'::jsonb) IS NOT NULL AS breakdown, (:'series'::jsonb) IS NOT NULL AS series,
       (:'rebuilt'::jsonb) ->> 'sites' AS rebuilt_sites, (:'current_visitors'::jsonb) ? 'visitors' AS current_visitors,
       :exported_events > 1 AS exported_events, :exported_report > 1 AS exported_report,
       :'workers' AS workers, :workers_stopped AS workers_stopped,
       (:'provisioned'::jsonb) ->> 'created' AS provisioned, (:'claimed'::jsonb) ->> 'first_id' AS claimed_first_id,
       (:'transferred'::jsonb) IS NOT NULL AS transferred, (:'transfer_counts'::jsonb) ->> 'sites' AS transfer_sites,
       (:'gone'::jsonb) -> 'deleted' ->> 'api_keys' AS gone_keys, (:'settled'::jsonb) ? 'processed' AS settled,
       :tenant_sites > 0 AS tenant_sites;
COMMIT;

SELECT (:'site'::jsonb) ->> 'success' AS site, (:'page_view'::jsonb) ->> 'status' AS page_view,
       (:'custom'::jsonb) ->> 'status' AS custom, (:'wrong_key'::jsonb) ->> 'error_code' AS wrong_key,
       (:'batch'::jsonb) ->> 'accepted' AS batch_accepted, (:'rate'::jsonb) ->> 'allowed' AS rate_allowed,
       :'stats_rows' AS stats_rows, (:'erased'::jsonb) ->> 'total' AS erased,
       (:'purged'::jsonb) ->> 'success' AS purged, (:'revoked'::jsonb) ->> 'success' AS revoked,
       :'status_rows'::int > 0 AS integration_status;

DROP FUNCTION public.now(), public.clock_timestamp(), public.lower(text), public.encode(bytea, text),
              public.decode(text, text), public.to_char(timestamptz, text), public.current_setting(text, boolean),
              public.unnest(anyarray), public.jsonb_populate_recordset(anyelement, jsonb),
              public.planted_eq(bytea, bytea), public.planted_text_eq(text, text),
              public.planted_arrow(jsonb, text), public.planted() CASCADE;
