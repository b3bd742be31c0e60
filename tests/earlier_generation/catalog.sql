-- =====================================================================================
-- tests/earlier_generation/catalog.sql
--
-- Prints the catalog of the EARLIER (PL/pgSQL) generation of One Vault site tracking,
-- one tab-separated line per item, sorted:
--
--   table          <schema.table>     <column>   <format_type>   NOT NULL|NULL   (attnum order)
--   view           <schema.view>      <column>   <format_type>                   (attnum order)
--   function       <schema.name>      <pg_get_function_identity_arguments>  <pg_get_function_result>
--   procedure      <schema.name>      (same columns; none are in scope today)
--   event_trigger  <name>             <event>    <schema.function()>
--
-- The scope is written out below as explicit name lists, so the same query lists the
-- same objects on the real platform dump (2025-07-09) and on a database built from
-- fixture.sql; an object absent from a database simply does not appear.
--
-- How the function list was obtained (on the loaded 2025-07-09 dump): every function
-- outside pg_catalog/information_schema that is not an extension member and whose
-- prosrc mentions site_tracking_events_r, site_tracking_events_s, "business.site_" or
-- one of the links event_page_l / event_session_l / session_visitor_l / session_page_l
-- (29 functions), plus api.check_rate_limit, api.log_tracking_attempt,
-- api.get_tracking_status, staging.auto_process_if_needed, staging.get_pipeline_status,
-- staging.trigger_pipeline_now and script_tracking.auto_track_ddl_operations
-- (two of which were already matched): 34 functions.
--
-- Run:  psql -X -At -f catalog.sql   (no psql variables needed; output is deterministic)
-- =====================================================================================

WITH scope_relation (kind, nspname, relname) AS (
    VALUES
        ('table', 'raw',             'site_tracking_events_r'),
        ('table', 'staging',         'site_tracking_events_s'),
        ('table', 'business',        'site_event_h'),
        ('table', 'business',        'site_event_details_s'),
        ('table', 'business',        'site_page_h'),
        ('table', 'business',        'site_page_details_s'),
        ('table', 'business',        'site_session_h'),
        ('table', 'business',        'site_session_details_s'),
        ('table', 'business',        'site_visitor_h'),
        ('table', 'business',        'site_visitor_details_s'),
        ('table', 'business',        'event_page_l'),
        ('table', 'business',        'event_session_l'),
        ('table', 'business',        'session_visitor_l'),
        ('table', 'business',        'session_page_l'),
        -- written by the DDL event trigger (through the platform's script-tracking helpers)
        ('table', 'script_tracking', 'script_execution_h'),
        ('table', 'script_tracking', 'script_execution_s'),
        ('view',  'staging',         'pipeline_dashboard')
),
scope_function (nspname, proname, argtypes) AS (
    -- argtypes = oidvectortypes(proargtypes): the input argument types only
    VALUES
        ('api',             'check_rate_limit',                   'inet, character varying, integer, integer'),
        ('api',             'get_tracking_status',                ''),
        ('api',             'log_tracking_attempt',               'inet, character varying, text, jsonb'),
        ('api',             'track_site_event',                   'inet, text, text, character varying, jsonb'),
        ('business',        'analyze_visitor_journey_patterns',   'bytea, integer'),
        ('business',        'create_tracking_event_links',        'bytea, character varying, character varying, timestamp with time zone, character varying, character varying, character varying, character varying'),
        ('business',        'get_hub_statistics',                 'bytea'),
        ('business',        'get_link_statistics',                'bytea, integer'),
        ('business',        'get_or_create_event_page_link',      'bytea, bytea, bytea, character varying'),
        ('business',        'get_or_create_event_session_link',   'bytea, bytea, bytea, character varying'),
        ('business',        'get_or_create_session_page_link',    'bytea, bytea, bytea, character varying'),
        ('business',        'get_or_create_session_visitor_link', 'bytea, bytea, bytea, character varying'),
        ('business',        'get_or_create_site_event_hk',        'character varying, bytea, character varying'),
        ('business',        'get_or_create_site_page_hk',         'character varying, bytea, character varying'),
        ('business',        'get_or_create_site_session_hk',      'character varying, bytea, character varying'),
        ('business',        'get_or_create_site_visitor_hk',      'character varying, bytea, character varying'),
        ('business',        'get_satellite_statistics',           'bytea, integer'),
        ('business',        'insert_event_details',               'bytea, jsonb, character varying'),
        ('business',        'process_staging_to_satellites',      'integer'),
        ('business',        'update_session_details',             'bytea, jsonb, character varying'),
        ('business',        'update_visitor_details',             'bytea, jsonb, character varying'),
        ('raw',             'get_processing_stats',               'bytea, integer'),
        ('raw',             'ingest_tracking_event',              'bytea, bytea, inet, text, jsonb'),
        ('raw',             'ingest_tracking_events_batch',       'bytea, bytea, inet, text, jsonb'),
        ('script_tracking', 'auto_track_ddl_operations',          ''),
        ('staging',         'auto_process_if_needed',             ''),
        ('staging',         'get_pipeline_status',                ''),
        ('staging',         'get_processing_stats',               'bytea, integer'),
        ('staging',         'process_raw_events_batch',           'bytea, integer'),
        ('staging',         'process_site_tracking_events',       ''),
        ('staging',         'process_staging_to_business',        ''),
        ('staging',         'trigger_pipeline_now',               ''),
        ('staging',         'validate_and_enrich_event',          'integer'),
        ('util',            'correct_event_tenant',               'integer, character varying, text, character varying')
),
scope_event_trigger (evtname) AS (
    VALUES ('auto_ddl_tracker')
),
lines (kind, object, ord, line) AS (
    -- tables and views: one line per live column, in attnum order
    SELECT s.kind,
           n.nspname || '.' || c.relname,
           a.attnum,
           concat_ws(E'\t',
                     s.kind,
                     n.nspname || '.' || c.relname,
                     a.attname,
                     pg_catalog.format_type(a.atttypid, a.atttypmod),
                     CASE WHEN s.kind = 'table'
                          THEN CASE WHEN a.attnotnull THEN 'NOT NULL' ELSE 'NULL' END
                     END)
      FROM scope_relation s
      JOIN pg_catalog.pg_namespace n ON n.nspname = s.nspname
      JOIN pg_catalog.pg_class     c ON c.relnamespace = n.oid
                                    AND c.relname = s.relname
                                    AND c.relkind = CASE s.kind WHEN 'table' THEN 'r' ELSE 'v' END
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
                                    AND a.attnum > 0
                                    AND NOT a.attisdropped
    UNION ALL
    -- functions and procedures (extension members excluded)
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
           n.nspname || '.' || p.proname,
           0,
           concat_ws(E'\t',
                     CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
                     n.nspname || '.' || p.proname,
                     pg_catalog.pg_get_function_identity_arguments(p.oid),
                     coalesce(pg_catalog.pg_get_function_result(p.oid), ''))
      FROM scope_function s
      JOIN pg_catalog.pg_namespace n ON n.nspname = s.nspname
      JOIN pg_catalog.pg_proc      p ON p.pronamespace = n.oid
                                    AND p.proname = s.proname
                                    AND pg_catalog.oidvectortypes(p.proargtypes) = s.argtypes
                                    AND p.prokind IN ('f', 'p')
     WHERE NOT EXISTS (SELECT 1
                         FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                          AND d.objid = p.oid
                          AND d.deptype = 'e')
    UNION ALL
    -- event triggers
    SELECT 'event_trigger',
           e.evtname,
           0,
           concat_ws(E'\t',
                     'event_trigger',
                     e.evtname,
                     e.evtevent,
                     fn.nspname || '.' || p.proname || '()')
      FROM scope_event_trigger s
      JOIN pg_catalog.pg_event_trigger e ON e.evtname = s.evtname
      JOIN pg_catalog.pg_proc          p ON p.oid = e.evtfoid
      JOIN pg_catalog.pg_namespace    fn ON fn.oid = p.pronamespace
)
SELECT line
  FROM lines
 ORDER BY kind COLLATE "C", object COLLATE "C", ord, line COLLATE "C";
