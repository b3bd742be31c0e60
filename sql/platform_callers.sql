-- What the One Vault platform's own API app (onevault_api/main.py) calls, on our tables
-- (README, "The platform's callers"). The earlier generation defined these on its tables;
-- sql/earlier_generation.sql moved or dropped those, and these take their names.

-- POST /api/v1/track: the app passes (client IP, User-Agent, page URL, event type, event data)
-- as untyped literals, so this is the only function of its name and the signature is exactly
-- the earlier one's. Tenant and site come from the page URL's host (src/platform_api.rs).
CREATE FUNCTION api.track_site_event(
    p_ip_address inet, p_user_agent text, p_page_url text,
    p_event_type character varying DEFAULT 'page_view', p_event_data jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'track_site_event_wrapper';

-- One bounded step of processing: at most p_batch_size raw events to staging (and the vault,
-- with onevault_tracking.process_loads_vault), then at most p_batch_size staged events into
-- the vault. Shared by the two functions below, which the app calls without arguments.
CREATE FUNCTION onevault_tracking.process_pipeline_step(p_batch_size integer DEFAULT 1000)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $step$
DECLARE
    staged jsonb;
    loaded jsonb;
BEGIN
    staged := staging.process_pending_events(p_batch_size);
    loaded := business.load_staged_events(p_batch_size);
    RETURN jsonb_build_object(
        'raw_to_staging', coalesce((staged ->> 'claimed')::integer, 0),
        'quarantined', coalesce((staged ->> 'quarantined')::integer, 0),
        'staging_to_business', coalesce((staged ->> 'loaded_to_vault')::integer, 0)
                               + coalesce((loaded ->> 'loaded')::integer, 0),
        'staging', staged,
        'vault', loaded);
END
$step$;

-- After every tracked event (or in a background task) the app calls this and logs the text.
CREATE FUNCTION staging.auto_process_if_needed()
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $auto$
DECLARE
    step jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM raw.site_tracking_events_r WHERE processing_status IN ('PENDING', 'ERROR'))
       AND NOT EXISTS (SELECT 1 FROM staging.site_tracking_events_s
                        WHERE validation_status = 'VALID' AND NOT loaded_to_vault) THEN
        RETURN 'No processing needed - all events up to date';
    END IF;
    step := onevault_tracking.process_pipeline_step();
    RETURN format('Processed: %s total (%s raw→staging, %s staging→business, %s quarantined)',
                  (step ->> 'raw_to_staging')::integer + (step ->> 'staging_to_business')::integer,
                  step ->> 'raw_to_staging', step ->> 'staging_to_business', step ->> 'quarantined');
END
$auto$;

-- POST /api/v1/track/process.
CREATE FUNCTION staging.trigger_pipeline_now()
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $trigger$
BEGIN
    RETURN jsonb_build_object('triggered_at', clock_timestamp(),
                              'results', onevault_tracking.process_pipeline_step());
END
$trigger$;

-- GET /api/v1/track/status reads the first row; the shape (and the four rows, in this order)
-- is the platform's automation script's. Counts only, over every tenant: an operator's view.
CREATE FUNCTION staging.get_pipeline_status()
RETURNS TABLE (status_type character varying, metric_name character varying,
               metric_value numeric, last_updated timestamptz)
LANGUAGE sql
STABLE
SECURITY DEFINER
AS $status$
    SELECT 'RAW_LAYER'::varchar, 'pending_events'::varchar, count(*)::numeric, max(r.received_at)
      FROM raw.site_tracking_events_r AS r
     WHERE r.processing_status IN ('PENDING', 'ERROR')
    UNION ALL
    SELECT 'STAGING_LAYER', 'unprocessed_to_business', count(*)::numeric, max(s.staged_at)
      FROM staging.site_tracking_events_s AS s
     WHERE s.validation_status = 'VALID' AND NOT s.loaded_to_vault
    UNION ALL
    SELECT 'BUSINESS_LAYER', 'events_today', count(*)::numeric, max(e.load_date)
      FROM business.tracking_event_l AS e
     WHERE e.load_date >= date_trunc('day', clock_timestamp())
    UNION ALL
    SELECT 'PERFORMANCE', 'avg_processing_time_minutes',
           round(avg(extract(epoch FROM s.staged_at - r.received_at)) / 60, 2), max(s.staged_at)
      FROM staging.site_tracking_events_s AS s
      JOIN raw.site_tracking_events_r AS r ON r.raw_event_id = s.raw_event_id
     WHERE r.received_at >= clock_timestamp() - interval '24 hours'
$status$;

-- GET /api/v1/track/status and /dashboard: the events of the last 7 days, newest first when
-- ordered by raw_load_date; the app counts staging_status = 'PROCESSED' and
-- business_status = '✅ Complete Pipeline' (the earlier generation's wording, kept). It runs
-- with the caller's rights (security_invoker), so row-level security shows a reader the
-- events of its tenant only.
CREATE VIEW staging.pipeline_dashboard WITH (security_invoker = true) AS
SELECT r.raw_event_id,
       r.tenant_hk,
       r.received_at AS raw_load_date,
       r.processing_status AS staging_status,
       s.validation_status,
       s.event_type,
       s.event_name,
       s.page_url,
       s.quality_score,
       s.validation_errors,
       CASE WHEN s.loaded_to_vault THEN '✅ Complete Pipeline'
            WHEN s.validation_status = 'INVALID' THEN '⛔ Quarantined'
            WHEN r.processing_status = 'FAILED' THEN '❌ Failed'
            ELSE '⏳ Pending' END AS business_status,
       s.staged_at,
       s.loaded_at,
       r.error_message
  FROM raw.site_tracking_events_r AS r
  LEFT JOIN staging.site_tracking_events_s AS s ON s.raw_event_id = r.raw_event_id
 WHERE r.received_at >= pg_catalog.clock_timestamp() - interval '7 days';
