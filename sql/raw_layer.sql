-- Raw layer: the landing table keeps every accepted payload exactly as it arrived.
--
-- Like every table of the extension, it names nothing of the One Vault platform: no foreign key
-- into auth.tenant_h and no default calling util.*. pg_dump writes CREATE EXTENSION before the
-- platform's tables and functions, so a restore runs this script while they do not exist yet
-- (README, "Lifecycle"). The functions check that a tenant exists before they write, and
-- CURRENT_TIMESTAMP is what util.current_load_date() returns: the transaction's start.

CREATE TABLE raw.site_tracking_events_r (
    raw_event_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_hk           bytea        NOT NULL,
    api_key_hk          bytea        CHECK (octet_length(api_key_hk) = 32),
    received_at         timestamptz  NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    -- Anonymised (IPv4 /24, IPv6 /48) unless onevault_tracking.client_ip_storage says
    -- otherwise; the full address never reaches this table by default.
    client_ip           inet,
    user_agent          text         CHECK (octet_length(user_agent) <= 2048),
    -- Keyed hashes of (site, full IP, user agent) under today's and yesterday's salt, computed
    -- while the full IP is in hand (see core/src/visitor.rs); staging picks the visitor from them.
    visitor_hash        bytea        CHECK (octet_length(visitor_hash) = 32),
    visitor_hash_previous bytea      CHECK (octet_length(visitor_hash_previous) = 32),
    raw_payload         jsonb        NOT NULL CHECK (pg_catalog.jsonb_typeof(raw_payload) = 'object'),
    -- The payload's "event_id" when it is a usable idempotency key (see core/src/payload.rs).
    client_event_id     text         CHECK (octet_length(client_event_id) BETWEEN 1 AND 128),
    batch_id            uuid,
    batch_position      integer      CHECK (batch_position >= 0),
    -- PENDING: waiting; PROCESSED: staged (valid, or quarantined in staging as INVALID);
    -- ERROR: processing failed unexpectedly and will be retried; FAILED: retries exhausted.
    processing_status   text         NOT NULL DEFAULT 'PENDING'
                                     CHECK (processing_status IN ('PENDING', 'PROCESSED', 'ERROR', 'FAILED')),
    error_message       text,
    retry_count         integer      NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    processed_at        timestamptz,
    load_date           timestamptz  NOT NULL DEFAULT CURRENT_TIMESTAMP,
    record_source       varchar(100) NOT NULL,
    -- A retried call with the same client event id is the same event (NULLs stay distinct).
    CONSTRAINT site_tracking_events_r_client_event_id_key UNIQUE (tenant_hk, client_event_id),
    CONSTRAINT site_tracking_events_r_batch_check CHECK ((batch_id IS NULL) = (batch_position IS NULL))
);

COMMENT ON TABLE raw.site_tracking_events_r IS
    'onevault_tracking raw landing zone: one row per accepted tracking event, payload as received.';

-- The processing queue (new and retryable rows): small, because processed rows leave it.
CREATE INDEX site_tracking_events_r_pending_idx
    ON raw.site_tracking_events_r (raw_event_id)
    WHERE processing_status IN ('PENDING', 'ERROR');

-- Per-tenant time ranges: statistics, retention, exports.
CREATE INDEX site_tracking_events_r_tenant_received_idx
    ON raw.site_tracking_events_r (tenant_hk, received_at);

-- The ingestion functions are native (src/ingest.rs); they are declared here because the raw
-- schema is shared with the platform.
CREATE FUNCTION raw.ingest_tracking_event(
    p_tenant_hk bytea, p_api_key_hk bytea, p_client_ip inet, p_user_agent text, p_event_data jsonb)
RETURNS bigint
LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'ingest_tracking_event_wrapper';

CREATE FUNCTION raw.batch_ingest_tracking_events(
    p_tenant_hk bytea, p_api_key_hk bytea, p_client_ip inet, p_user_agent text, p_events jsonb)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'batch_ingest_tracking_events_wrapper';

-- Monitoring: counts per status, error rate and the age of the oldest pending event, per
-- tenant, over the last p_hours_back hours (unprocessed events are counted whatever their age:
-- an old pending event is exactly what monitoring must see). Quarantined = processed into
-- staging as INVALID; error rate = (quarantined + failed) / total.
CREATE FUNCTION raw.get_ingestion_stats(p_tenant_hk bytea DEFAULT NULL, p_hours_back integer DEFAULT 24)
RETURNS TABLE (
    tenant_hk           bytea,
    total_events        bigint,
    pending_events      bigint,
    processed_events    bigint,
    quarantined_events  bigint,
    retrying_events     bigint,
    failed_events       bigint,
    error_rate          numeric,
    oldest_pending_at   timestamptz,
    oldest_pending_age  interval,
    first_received_at   timestamptz,
    last_received_at    timestamptz
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $stats$
BEGIN
    IF p_hours_back IS NULL OR p_hours_back < 1 OR p_hours_back > 87600 THEN
        RAISE EXCEPTION 'p_hours_back must be between 1 and 87600 (ten years), got %', p_hours_back
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the number of hours to look back, e.g. 24.';
    END IF;
    RETURN QUERY
    SELECT e.tenant_hk,
           count(*),
           count(*) FILTER (WHERE e.processing_status = 'PENDING'),
           count(*) FILTER (WHERE e.processing_status = 'PROCESSED'),
           count(*) FILTER (WHERE s.validation_status = 'INVALID'),
           count(*) FILTER (WHERE e.processing_status = 'ERROR'),
           count(*) FILTER (WHERE e.processing_status = 'FAILED'),
           round(count(*) FILTER (WHERE s.validation_status = 'INVALID' OR e.processing_status = 'FAILED')::numeric
                 / count(*), 4),
           min(e.received_at) FILTER (WHERE e.processing_status IN ('PENDING', 'ERROR')),
           clock_timestamp() - min(e.received_at) FILTER (WHERE e.processing_status IN ('PENDING', 'ERROR')),
           min(e.received_at),
           max(e.received_at)
      FROM raw.site_tracking_events_r AS e
      LEFT JOIN staging.site_tracking_events_s AS s ON s.raw_event_id = e.raw_event_id
     WHERE (p_tenant_hk IS NULL OR e.tenant_hk = p_tenant_hk)
       AND (e.received_at >= clock_timestamp() - make_interval(hours => p_hours_back)
            OR e.processing_status IN ('PENDING', 'ERROR'))
     GROUP BY e.tenant_hk
     ORDER BY e.tenant_hk;
END
$stats$;
