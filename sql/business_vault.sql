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

-- One site, one visitor, one session ---------------------------------------------------------------

-- The site an event of the tenant on p_host belongs to, as the pipeline decides it
-- (src/pipeline/sites.rs): the registered site whose domain or allowed domains include the
-- host (without "www."), else the host's own site key; NULL for a host without one. Not SECURITY
-- DEFINER (a caller sees the sites row-level security lets it see), so the lockdown leaves it
-- alone; it queries tables, so its path is pinned here.
CREATE FUNCTION onevault_tracking.site_of_host(p_tenant_hk bytea, p_host text)
RETURNS text
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'site_of_host_wrapper';

-- 0.1.x keyed the vault site of an event by its page's host, so the events on a registered
-- site's allowed domains were stored under a site of their own (with no details: UTC, and
-- missing from the registered site's reports). This moves them to the site that claims their
-- host (onevault_tracking.site_of_host): for each such event the site's page (same path) and
-- session (same id) are added as hubs with their links to the site and a copy of the current
-- details where the site's page or session has none, and the event's link is pointed at them.
-- The event link is the one row updated: its key is the raw event id, not its hubs, so there is
-- no second link to insert, and it is what the reports join; the old site, its pages, sessions,
-- links and satellites stay as they were (the vault keeps what was loaded), without events.
-- Then the rollups of both sites are rebuilt (onevault_tracking.rebuild_rollups). Idempotent: a
-- second call finds no event to move and answers zero counts. A "www." variant of a site cannot
-- be among the moved ones: no version kept "www." in a site key.
-- What cannot be merged: visitor hashes. 0.1.x hashed the page's host, so one browser on www.
-- and the bare domain (or on an allowed domain) has two hashes for the day; they could only be
-- recomputed from the client IP and the day's salt, and raw keeps no full IP while the salts
-- are destroyed after two days. Those visitors stay counted twice in the days before 0.2.0.
CREATE FUNCTION onevault_tracking.merge_allowed_domain_sites()
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
AS $merge$
DECLARE
    pair record;
    source varchar(100);
    page_from bytea[];
    page_to bytea[];
    page_paths text[];
    session_from bytea[];
    session_to bytea[];
    session_ids text[];
    n bigint;
    moved bigint;
    events_moved bigint := 0;
    pages_added bigint := 0;
    sessions_added bigint := 0;
    merged jsonb := '[]';
    rebuilt jsonb := '[]';
    answer jsonb;
BEGIN
    source := util.get_record_source()::text;
    FOR pair IN
        SELECT h.tenant_hk, h.site_hk AS from_hk, h.site_bk AS from_bk, t.site_bk AS to_bk,
               onevault_tracking.hash_key(h.tenant_hk, t.site_bk) AS to_hk
          FROM business.site_h AS h
         CROSS JOIN LATERAL (SELECT onevault_tracking.site_of_host(h.tenant_hk, h.site_bk) AS site_bk) AS t
         WHERE EXISTS (SELECT 1 FROM business.tracking_event_l AS e WHERE e.site_hk = h.site_hk)
           AND t.site_bk <> h.site_bk
         ORDER BY h.tenant_hk, h.site_bk
    LOOP
        -- The site's pages for the moved events' pages (a page key is the site key and the path).
        SELECT coalesce(array_agg(m.from_hk), '{}'),
               coalesce(array_agg(onevault_tracking.hash_key(pair.tenant_hk, pair.to_bk, m.page_path)), '{}'),
               coalesce(array_agg(m.page_path), '{}')
          INTO page_from, page_to, page_paths
          FROM (SELECT DISTINCT p.page_hk AS from_hk, substr(p.page_bk, length(pair.from_bk) + 1) AS page_path
                  FROM business.tracking_event_l AS e
                  JOIN business.page_h AS p ON p.page_hk = e.page_hk
                 WHERE e.tenant_hk = pair.tenant_hk AND e.site_hk = pair.from_hk) AS m;
        INSERT INTO business.page_h (page_hk, page_bk, tenant_hk, record_source)
        SELECT m.to_hk, pair.to_bk || m.page_path, pair.tenant_hk, source
          FROM unnest(page_to, page_paths) AS m (to_hk, page_path)
        ON CONFLICT (page_hk) DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        pages_added := pages_added + n;
        INSERT INTO business.page_site_l (page_site_hk, page_hk, site_hk, tenant_hk, record_source)
        SELECT onevault_tracking.hash_key(pair.tenant_hk, encode(m.to_hk, 'hex'), encode(pair.to_hk, 'hex')),
               m.to_hk, pair.to_hk, pair.tenant_hk, source
          FROM unnest(page_to) AS m (to_hk)
        ON CONFLICT (page_site_hk) DO NOTHING;
        INSERT INTO business.page_details_s (page_hk, load_date, hash_diff, page_title, page_host, page_path,
                                             tenant_hk, record_source)
        SELECT m.to_hk, clock_timestamp(), d.hash_diff, d.page_title, d.page_host, d.page_path, d.tenant_hk, source
          FROM unnest(page_from, page_to) AS m (from_hk, to_hk)
          JOIN business.page_details_s AS d ON d.page_hk = m.from_hk AND d.load_end_date IS NULL
         WHERE NOT EXISTS (SELECT 1 FROM business.page_details_s AS c
                            WHERE c.page_hk = m.to_hk AND c.load_end_date IS NULL);

        -- The site's sessions for the moved events' sessions (a session key is the site key and
        -- the session id).
        SELECT coalesce(array_agg(m.from_hk), '{}'),
               coalesce(array_agg(onevault_tracking.hash_key(pair.tenant_hk, pair.to_bk, m.session_id)), '{}'),
               coalesce(array_agg(m.session_id), '{}')
          INTO session_from, session_to, session_ids
          FROM (SELECT DISTINCT s.session_hk AS from_hk, s.session_bk AS session_id
                  FROM business.tracking_event_l AS e
                  JOIN business.session_h AS s ON s.session_hk = e.session_hk
                 WHERE e.tenant_hk = pair.tenant_hk AND e.site_hk = pair.from_hk) AS m;
        INSERT INTO business.session_h (session_hk, session_bk, tenant_hk, record_source)
        SELECT m.to_hk, m.session_id, pair.tenant_hk, source
          FROM unnest(session_to, session_ids) AS m (to_hk, session_id)
        ON CONFLICT (session_hk) DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        sessions_added := sessions_added + n;
        INSERT INTO business.session_site_l (session_site_hk, session_hk, site_hk, tenant_hk, record_source)
        SELECT onevault_tracking.hash_key(pair.tenant_hk, encode(m.to_hk, 'hex'), encode(pair.to_hk, 'hex')),
               m.to_hk, pair.to_hk, pair.tenant_hk, source
          FROM unnest(session_to) AS m (to_hk)
        ON CONFLICT (session_site_hk) DO NOTHING;
        INSERT INTO business.session_details_s
               (session_hk, load_date, hash_diff, visitor_hash, session_source, session_start, entry_page_path,
                referrer_host, channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
                device_type, browser_name, os_name, is_bot, tenant_hk, record_source)
        SELECT m.to_hk, clock_timestamp(), d.hash_diff, d.visitor_hash, d.session_source, d.session_start,
               d.entry_page_path, d.referrer_host, d.channel, d.utm_source, d.utm_medium, d.utm_campaign,
               d.utm_term, d.utm_content, d.device_type, d.browser_name, d.os_name, d.is_bot, d.tenant_hk, source
          FROM unnest(session_from, session_to) AS m (from_hk, to_hk)
          JOIN business.session_details_s AS d ON d.session_hk = m.from_hk AND d.load_end_date IS NULL
         WHERE NOT EXISTS (SELECT 1 FROM business.session_details_s AS c
                            WHERE c.session_hk = m.to_hk AND c.load_end_date IS NULL);

        -- The events, pointed at the site and its page and session.
        UPDATE business.tracking_event_l AS e
           SET site_hk = pair.to_hk, page_hk = x.page_to, session_hk = x.session_to
          FROM (SELECT l.tracking_event_hk, p.to_hk AS page_to, s.to_hk AS session_to
                  FROM business.tracking_event_l AS l
                  LEFT JOIN unnest(page_from, page_to) AS p (from_hk, to_hk) ON p.from_hk = l.page_hk
                  LEFT JOIN unnest(session_from, session_to) AS s (from_hk, to_hk) ON s.from_hk = l.session_hk
                 WHERE l.tenant_hk = pair.tenant_hk AND l.site_hk = pair.from_hk) AS x
         WHERE e.tracking_event_hk = x.tracking_event_hk;
        GET DIAGNOSTICS moved = ROW_COUNT;
        events_moved := events_moved + moved;

        -- The moved site's rollups are emptied, the site's rebuilt with its new events.
        PERFORM onevault_tracking.rebuild_rollups(pair.tenant_hk, pair.from_bk);
        IF NOT rebuilt @> jsonb_build_array(jsonb_build_object('tenant_id', encode(pair.tenant_hk, 'hex'), 'site_domain', pair.to_bk)) THEN
            PERFORM onevault_tracking.rebuild_rollups(pair.tenant_hk, pair.to_bk);
            rebuilt := rebuilt || jsonb_build_array(jsonb_build_object('tenant_id', encode(pair.tenant_hk, 'hex'), 'site_domain', pair.to_bk));
        END IF;

        merged := merged || jsonb_build_array(jsonb_build_object(
            'tenant_id', encode(pair.tenant_hk, 'hex'), 'from_site', pair.from_bk, 'to_site', pair.to_bk,
            'events', moved));
        answer := onevault_tracking.log_platform_audit_event(
            'SITE_EVENTS_MERGED', 'business.tracking_event_l', 'site:' || pair.to_bk, 'onevault_tracking:' || session_user,
            jsonb_build_object('tenant_id', encode(pair.tenant_hk, 'hex'), 'from_site', pair.from_bk,
                               'to_site', pair.to_bk, 'events', moved,
                               'pages', cardinality(page_to), 'sessions', cardinality(session_to)));
        IF (answer ->> 'success')::boolean IS NOT TRUE THEN
            RAISE EXCEPTION 'the audit record of merging site % into % failed: %', pair.from_bk, pair.to_bk, answer
                USING ERRCODE = 'external_routine_exception',
                      HINT = 'SELECT onevault_tracking.integration_status() tells what the audit path lacks.';
        END IF;
    END LOOP;
    RETURN jsonb_build_object('success', true, 'sites_merged', jsonb_array_length(merged),
                              'events_moved', events_moved, 'pages_added', pages_added,
                              'sessions_added', sessions_added, 'merged', merged, 'rollups_rebuilt', rebuilt);
END
$merge$;
