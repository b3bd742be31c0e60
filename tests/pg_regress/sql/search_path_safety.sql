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

-- The whole API with the plants first on the path: no planted object is reached.
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
RESET search_path;

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
