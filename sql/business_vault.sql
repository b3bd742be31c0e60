-- The business vault (Data Vault 2.0): hubs hold one row per business key, links one row per
-- relationship, satellites the history of descriptive attributes. Every key is
-- onevault_tracking.hash_key(tenant_hk, ...) (see README, "Hash keys"), so equal business keys of
-- two tenants are different rows, and no business key is unique on its own.
--
-- Satellites: a new row only when hash_diff (over the attribute columns, in the order they are
-- declared here) differs from the current row, which is end-dated by the same load; at most one
-- current row per key (a partial unique index) and loads serialised per key by advisory locks.

-- Hubs ------------------------------------------------------------------------------------------

CREATE TABLE business.site_h (
    site_hk       bytea        PRIMARY KEY CHECK (octet_length(site_hk) = 32),
    site_bk       text         NOT NULL,   -- normalised domain: lower case, no "www.", no trailing dot
    tenant_hk     bytea        NOT NULL,
    load_date     timestamptz  NOT NULL DEFAULT CURRENT_TIMESTAMP,
    record_source varchar(100) NOT NULL
);
CREATE INDEX site_h_tenant_bk_idx ON business.site_h (tenant_hk, site_bk);

CREATE TABLE business.page_h (
    page_hk       bytea        PRIMARY KEY CHECK (octet_length(page_hk) = 32),
    page_bk       text         NOT NULL,   -- site_bk || normalised path
    tenant_hk     bytea        NOT NULL,
    load_date     timestamptz  NOT NULL DEFAULT CURRENT_TIMESTAMP,
    record_source varchar(100) NOT NULL
);
CREATE INDEX page_h_tenant_bk_idx ON business.page_h (tenant_hk, page_bk);

CREATE TABLE business.session_h (
    session_hk    bytea        PRIMARY KEY CHECK (octet_length(session_hk) = 32),
    session_bk    text         NOT NULL,   -- the session id (client-sent or derived)
    tenant_hk     bytea        NOT NULL,
    load_date     timestamptz  NOT NULL DEFAULT CURRENT_TIMESTAMP,
    record_source varchar(100) NOT NULL
);
CREATE INDEX session_h_tenant_load_idx ON business.session_h (tenant_hk, load_date);

CREATE TABLE business.api_key_h (
    api_key_hk    bytea        PRIMARY KEY CHECK (octet_length(api_key_hk) = 32),
    api_key_bk    text         NOT NULL,   -- the key's public prefix, never the secret
    tenant_hk     bytea        NOT NULL,
    load_date     timestamptz  NOT NULL DEFAULT CURRENT_TIMESTAMP,
    record_source varchar(100) NOT NULL
);
CREATE INDEX api_key_h_tenant_bk_idx ON business.api_key_h (tenant_hk, api_key_bk);
-- A key's public prefix names one key in the whole database (revocation and routing use it):
-- a second key with the same prefix could otherwise take over the first one's details.
CREATE UNIQUE INDEX api_key_h_bk_key ON business.api_key_h (api_key_bk);

-- Links -----------------------------------------------------------------------------------------

CREATE TABLE business.site_api_key_l (
    site_api_key_hk bytea        PRIMARY KEY CHECK (octet_length(site_api_key_hk) = 32),
    site_hk         bytea        NOT NULL REFERENCES business.site_h (site_hk),
    api_key_hk      bytea        NOT NULL REFERENCES business.api_key_h (api_key_hk),
    tenant_hk       bytea        NOT NULL,
    load_date       timestamptz  NOT NULL DEFAULT CURRENT_TIMESTAMP,
    record_source   varchar(100) NOT NULL
);
CREATE INDEX site_api_key_l_site_idx ON business.site_api_key_l (site_hk);
CREATE INDEX site_api_key_l_api_key_idx ON business.site_api_key_l (api_key_hk);

CREATE TABLE business.session_site_l (
    session_site_hk bytea        PRIMARY KEY CHECK (octet_length(session_site_hk) = 32),
    session_hk      bytea        NOT NULL REFERENCES business.session_h (session_hk),
    site_hk         bytea        NOT NULL REFERENCES business.site_h (site_hk),
    tenant_hk       bytea        NOT NULL,
    load_date       timestamptz  NOT NULL DEFAULT CURRENT_TIMESTAMP,
    record_source   varchar(100) NOT NULL
);
CREATE INDEX session_site_l_site_idx ON business.session_site_l (site_hk);
CREATE INDEX session_site_l_session_idx ON business.session_site_l (session_hk);

CREATE TABLE business.page_site_l (
    page_site_hk  bytea        PRIMARY KEY CHECK (octet_length(page_site_hk) = 32),
    page_hk       bytea        NOT NULL REFERENCES business.page_h (page_hk),
    site_hk       bytea        NOT NULL REFERENCES business.site_h (site_hk),
    tenant_hk     bytea        NOT NULL,
    load_date     timestamptz  NOT NULL DEFAULT CURRENT_TIMESTAMP,
    record_source varchar(100) NOT NULL
);
CREATE INDEX page_site_l_site_idx ON business.page_site_l (site_hk);
CREATE INDEX page_site_l_page_idx ON business.page_site_l (page_hk);

-- The event as a unit of work. A path-only event has no site, page or session; an event sent
-- without an API key has none either.
CREATE TABLE business.tracking_event_l (
    tracking_event_hk bytea        PRIMARY KEY CHECK (octet_length(tracking_event_hk) = 32),
    tracking_event_bk text         NOT NULL,   -- the raw event id
    site_hk           bytea        REFERENCES business.site_h (site_hk),
    page_hk           bytea        REFERENCES business.page_h (page_hk),
    session_hk        bytea        REFERENCES business.session_h (session_hk),
    api_key_hk        bytea        CHECK (octet_length(api_key_hk) = 32),
    tenant_hk         bytea        NOT NULL,
    load_date         timestamptz  NOT NULL DEFAULT CURRENT_TIMESTAMP,
    record_source     varchar(100) NOT NULL
);
CREATE INDEX tracking_event_l_tenant_load_idx ON business.tracking_event_l (tenant_hk, load_date);
CREATE INDEX tracking_event_l_site_idx ON business.tracking_event_l (site_hk);
CREATE INDEX tracking_event_l_page_idx ON business.tracking_event_l (page_hk);
CREATE INDEX tracking_event_l_session_idx ON business.tracking_event_l (session_hk);

-- Satellites ------------------------------------------------------------------------------------

CREATE TABLE business.site_details_s (
    site_hk         bytea        NOT NULL REFERENCES business.site_h (site_hk),
    load_date       timestamptz  NOT NULL,
    load_end_date   timestamptz  CHECK (load_end_date > load_date),
    hash_diff       bytea        NOT NULL CHECK (octet_length(hash_diff) = 32),
    site_name       text,
    allowed_domains text[],
    timezone        text,
    is_active       boolean,
    settings        jsonb,
    tenant_hk       bytea        NOT NULL,
    record_source   varchar(100) NOT NULL,
    PRIMARY KEY (site_hk, load_date)
);

CREATE TABLE business.page_details_s (
    page_hk       bytea        NOT NULL REFERENCES business.page_h (page_hk),
    load_date     timestamptz  NOT NULL,
    load_end_date timestamptz  CHECK (load_end_date > load_date),
    hash_diff     bytea        NOT NULL CHECK (octet_length(hash_diff) = 32),
    page_title    text,
    page_host     text,
    page_path     text,
    tenant_hk     bytea        NOT NULL,
    record_source varchar(100) NOT NULL,
    PRIMARY KEY (page_hk, load_date)
);

CREATE TABLE business.session_details_s (
    session_hk      bytea        NOT NULL REFERENCES business.session_h (session_hk),
    load_date       timestamptz  NOT NULL,
    load_end_date   timestamptz  CHECK (load_end_date > load_date),
    hash_diff       bytea        NOT NULL CHECK (octet_length(hash_diff) = 32),
    visitor_hash    bytea,
    session_source  text,
    session_start   timestamptz,
    entry_page_path text,
    referrer_host   text,
    channel         text,
    utm_source      text,
    utm_medium      text,
    utm_campaign    text,
    utm_term        text,
    utm_content     text,
    device_type     text,
    browser_name    text,
    os_name         text,
    is_bot          boolean,
    tenant_hk       bytea        NOT NULL,
    record_source   varchar(100) NOT NULL,
    PRIMARY KEY (session_hk, load_date)
);

CREATE TABLE business.api_key_details_s (
    api_key_hk            bytea        NOT NULL REFERENCES business.api_key_h (api_key_hk),
    load_date             timestamptz  NOT NULL,
    load_end_date         timestamptz  CHECK (load_end_date > load_date),
    hash_diff             bytea        NOT NULL CHECK (octet_length(hash_diff) = 32),
    key_hash              bytea,
    key_prefix            text,
    label                 text,
    scopes                text[],
    rate_limit_per_minute integer,
    expires_at            timestamptz,
    revoked_at            timestamptz,
    tenant_hk             bytea        NOT NULL,
    record_source         varchar(100) NOT NULL,
    PRIMARY KEY (api_key_hk, load_date)
);

CREATE TABLE business.tracking_event_details_s (
    tracking_event_hk bytea        NOT NULL REFERENCES business.tracking_event_l (tracking_event_hk),
    load_date         timestamptz  NOT NULL,
    load_end_date     timestamptz  CHECK (load_end_date > load_date),
    hash_diff         bytea        NOT NULL CHECK (octet_length(hash_diff) = 32),
    event_type        text,
    event_name        text,
    event_timestamp   timestamptz,
    client_event_id   text,
    properties        jsonb,
    page_query        text,
    referrer_host     text,
    channel           text,
    utm_source        text,
    utm_medium        text,
    utm_campaign      text,
    utm_term          text,
    utm_content       text,
    click_ids         jsonb,
    device_type       text,
    browser_name      text,
    browser_version   text,
    os_name           text,
    os_version        text,
    is_bot            boolean,
    visitor_hash      bytea,
    screen_width      integer,
    language          text,
    timezone          text,
    tenant_hk         bytea        NOT NULL,
    record_source     varchar(100) NOT NULL,
    PRIMARY KEY (tracking_event_hk, load_date)
);

DO $current$
DECLARE
    satellite record;
BEGIN
    FOR satellite IN
        SELECT * FROM (VALUES ('site_details_s', 'site_hk'), ('page_details_s', 'page_hk'),
                              ('session_details_s', 'session_hk'), ('api_key_details_s', 'api_key_hk'),
                              ('tracking_event_details_s', 'tracking_event_hk')) AS s (table_name, key_column)
    LOOP
        -- At most one current row per key.
        EXECUTE format('CREATE UNIQUE INDEX %I ON business.%I (%I) WHERE load_end_date IS NULL',
                       satellite.table_name || '_current_idx', satellite.table_name, satellite.key_column);
        EXECUTE format('CREATE INDEX %I ON business.%I (tenant_hk, load_date)',
                       satellite.table_name || '_tenant_load_idx', satellite.table_name);
    END LOOP;
END
$current$;
-- Events by tenant and time: sql/reports.sql creates the covering index the reports use.

-- The loaders are native (src/vault.rs).
CREATE FUNCTION business.load_staged_events(p_batch_size integer DEFAULT 1000)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'load_staged_events_wrapper';

CREATE FUNCTION business.load_staged_event(p_raw_event_id bigint)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'load_staged_event_wrapper';

CREATE FUNCTION onevault_tracking.process_event(p_raw_event_id bigint)
RETURNS jsonb
LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'process_event_wrapper';
