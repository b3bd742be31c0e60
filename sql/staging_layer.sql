-- Staging layer: one row per processed raw event, valid or not. An invalid event is kept here
-- with its reasons (quarantine, like Snowplow's failed events) and never reaches the vault.

CREATE TABLE staging.site_tracking_events_s (
    staging_event_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- One staging row per raw event: processing twice cannot create a second one.
    raw_event_id          bigint       NOT NULL UNIQUE REFERENCES raw.site_tracking_events_r (raw_event_id),
    tenant_hk             bytea        NOT NULL,
    validation_status     text         NOT NULL CHECK (validation_status IN ('VALID', 'INVALID')),
    validation_errors     jsonb        NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(validation_errors) = 'array'),
    validation_warnings   jsonb        NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(validation_warnings) = 'array'),
    quality_score         numeric(3,2) NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    -- The event, as validated.
    event_type            text         CHECK (event_type IN ('page_view', 'custom')),
    event_name            text,
    client_event_id       text,
    event_timestamp       timestamptz  NOT NULL,
    timestamp_from_client boolean      NOT NULL,
    page_url              text,
    page_host             text,
    page_path             text,
    page_query            text,
    page_title            text,
    referrer_url          text,
    properties            jsonb        NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(properties) = 'object'),
    screen_width          integer,
    language              text,
    timezone              text,
    -- Enrichment.
    referrer_host         text,
    channel               text         CHECK (channel IN ('direct', 'search', 'social', 'email', 'paid', 'internal', 'referral')),
    utm_source            text,
    utm_medium            text,
    utm_campaign          text,
    utm_term              text,
    utm_content           text,
    gclid                 text,
    msclkid               text,
    fbclid                text,
    click_ids             jsonb        NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(click_ids) = 'object'),
    browser_name          text,
    browser_version       text,
    os_name               text,
    os_version            text,
    device_type           text         CHECK (device_type IN ('desktop', 'mobile', 'tablet', 'bot', 'other')),
    is_bot                boolean      NOT NULL DEFAULT false,
    client_ip_anonymized  inet,
    visitor_hash          bytea        CHECK (octet_length(visitor_hash) = 32),
    session_id            text,
    session_source        text         CHECK (session_source IN ('client', 'derived')),
    -- Bookkeeping for the vault loader.
    staged_at             timestamptz  NOT NULL DEFAULT clock_timestamp(),
    loaded_to_vault       boolean      NOT NULL DEFAULT false,
    loaded_at             timestamptz,
    load_date             timestamptz  NOT NULL DEFAULT CURRENT_TIMESTAMP,
    record_source         varchar(100) NOT NULL,
    -- The site the event belongs to (src/pipeline/sites.rs): the registered site whose domain
    -- or allowed domains include the page's host (without "www."), else the host's own site
    -- key; NULL without a page host. Sessions are derived per site, and the vault keys the
    -- event, page and session by it. (Last, as the upgrade from 0.1.0 adds it.)
    site_domain           text,
    CONSTRAINT site_tracking_events_s_reasons_check
        CHECK ((validation_status = 'VALID') = (validation_errors = '[]'::jsonb)),
    CONSTRAINT site_tracking_events_s_invalid_never_loaded_check
        CHECK (validation_status = 'VALID' OR NOT loaded_to_vault),
    CONSTRAINT site_tracking_events_s_loaded_at_check
        CHECK (loaded_to_vault = (loaded_at IS NOT NULL))
);

COMMENT ON TABLE staging.site_tracking_events_s IS
    'onevault_tracking staging: validated and enriched events; INVALID rows are the quarantine.';

-- Per-tenant time ranges.
CREATE INDEX site_tracking_events_s_tenant_time_idx
    ON staging.site_tracking_events_s (tenant_hk, event_timestamp);
-- The vault loader's queue.
CREATE INDEX site_tracking_events_s_unloaded_idx
    ON staging.site_tracking_events_s (staging_event_id)
    WHERE validation_status = 'VALID' AND NOT loaded_to_vault;
-- Session derivation: the visitor's latest event on a site (any of its domains).
CREATE INDEX site_tracking_events_s_visitor_idx
    ON staging.site_tracking_events_s (tenant_hk, site_domain, visitor_hash, event_timestamp DESC)
    WHERE visitor_hash IS NOT NULL;
-- The vault's page and session details: a page's latest event, a session's first.
CREATE INDEX site_tracking_events_s_page_idx
    ON staging.site_tracking_events_s (tenant_hk, page_host, page_path, event_timestamp DESC)
    WHERE validation_status = 'VALID';
CREATE INDEX site_tracking_events_s_session_idx
    ON staging.site_tracking_events_s (tenant_hk, site_domain, session_id, event_timestamp)
    WHERE validation_status = 'VALID';
-- The quarantine.
CREATE INDEX site_tracking_events_s_invalid_idx
    ON staging.site_tracking_events_s (tenant_hk, staged_at)
    WHERE validation_status = 'INVALID';

-- The daily visitor salts. Secret: no role but the extension's owner can read them, and a
-- salt is deleted once it is two days old, after which its hashes cannot be linked to an IP.
CREATE TABLE onevault_tracking.visitor_salts (
    salt_date  date        PRIMARY KEY,
    salt       bytea       NOT NULL CHECK (octet_length(salt) = 32),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
REVOKE ALL ON onevault_tracking.visitor_salts FROM PUBLIC;

-- The staging functions are native (src/staging.rs, src/enrich.rs).
CREATE FUNCTION staging.validate_event_data(p_event_data jsonb)
RETURNS jsonb
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'validate_event_data_wrapper';

CREATE FUNCTION staging.enrich_event_data(p_event_data jsonb, p_user_agent text, p_client_ip inet)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'enrich_event_data_wrapper';

CREATE FUNCTION staging.process_raw_event(p_raw_event_id bigint)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'process_raw_event_wrapper';

CREATE FUNCTION staging.process_pending_events(p_batch_size integer DEFAULT 1000)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'process_pending_events_wrapper';

CREATE FUNCTION staging.reprocess_quarantined_events(p_tenant_hk bytea, p_raw_event_ids bigint[] DEFAULT NULL)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'reprocess_quarantined_events_wrapper';
