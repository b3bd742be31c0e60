\echo Use "CREATE EXTENSION onevault_tracking_proxy" to load this file. \quit

-- The proxy of a scaled-out onevault_tracking deployment (README, "Scaling out"): the API that
-- websites and dashboards call on a single node, routed with PL/Proxy to the shard database that
-- holds the site. Every shard is a full One Vault database with the onevault_tracking extension;
-- this database holds only the placement of tenants, sites, domains and keys.
--
-- The shards are PL/Proxy's SQL/MED cluster onevault_tracking_shards (p0, p1, ... in order;
-- onevault_tracking_proxy.add_shards creates and extends it). Routing reads the placement here,
-- never asks the shards. Domains are normalised by onevault_tracking.site_domain, the extension's
-- own IDNA-aware normaliser, loaded from its library ($libdir/onevault_tracking, installed on
-- this server but not created in this database: its api.* functions would collide with these).

CREATE SCHEMA IF NOT EXISTS api;
CREATE SCHEMA IF NOT EXISTS raw;

-- Placement -----------------------------------------------------------------------------------

-- Tenants the proxy may place sites for (the platform's tenant_hk and tenant_bk; a shard gets
-- its hub row when the first site of the tenant is placed there).
CREATE TABLE onevault_tracking_proxy.tenants (
    tenant_hk     bytea       PRIMARY KEY CHECK (octet_length(tenant_hk) = 32),
    tenant_bk     text        NOT NULL CHECK (length(tenant_bk) BETWEEN 1 AND 255),
    registered_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Where each site lives. moving_to is set while onevault_tracking_proxy.move_site runs.
CREATE TABLE onevault_tracking_proxy.sites (
    tenant_hk     bytea       NOT NULL REFERENCES onevault_tracking_proxy.tenants (tenant_hk),
    site_domain   text        NOT NULL,
    shard         integer     NOT NULL CHECK (shard >= 0),
    moving_to     integer     CHECK (moving_to >= 0 AND moving_to <> shard),
    registered_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_hk, site_domain)
);

-- Every domain a site is tracked on (its own, and its allowed domains), normalised.
CREATE TABLE onevault_tracking_proxy.domains (
    domain      text  NOT NULL,
    tenant_hk   bytea NOT NULL,
    site_domain text  NOT NULL,
    PRIMARY KEY (domain, tenant_hk),
    FOREIGN KEY (tenant_hk, site_domain) REFERENCES onevault_tracking_proxy.sites ON DELETE CASCADE
);

-- Every key created through the proxy, by its public prefix and its hash key.
CREATE TABLE onevault_tracking_proxy.api_keys (
    key_prefix  text  PRIMARY KEY,
    api_key_hk  bytea NOT NULL UNIQUE CHECK (octet_length(api_key_hk) = 32),
    tenant_hk   bytea NOT NULL,
    site_domain text  NOT NULL,
    FOREIGN KEY (tenant_hk, site_domain) REFERENCES onevault_tracking_proxy.sites ON DELETE CASCADE
);
CREATE INDEX api_keys_site_idx ON onevault_tracking_proxy.api_keys (tenant_hk, site_domain);

-- The placement is data: pg_dump writes its rows (a backup of the proxy restores its routing).
-- The cluster's server and user mappings, made by add_shards, are not members and are dumped as
-- they are.
SELECT pg_catalog.pg_extension_config_dump('onevault_tracking_proxy.tenants', '');
SELECT pg_catalog.pg_extension_config_dump('onevault_tracking_proxy.sites', '');
SELECT pg_catalog.pg_extension_config_dump('onevault_tracking_proxy.domains', '');
SELECT pg_catalog.pg_extension_config_dump('onevault_tracking_proxy.api_keys', '');

-- The normaliser of the extension's library: one rule for a domain everywhere.
CREATE FUNCTION onevault_tracking_proxy.site_domain(text)
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS '$libdir/onevault_tracking', 'site_domain_wrapper';

-- The number of shards: the p0, p1, ... options of the cluster's server.
CREATE FUNCTION onevault_tracking_proxy.shard_count()
RETURNS integer
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $shard_count$
DECLARE
    shards integer;
BEGIN
    SELECT count(*) INTO shards
      FROM pg_catalog.pg_foreign_server AS s, unnest(s.srvoptions) AS o (option)
     WHERE s.srvname = 'onevault_tracking_shards' AND o.option ~ '^p[0-9]+=';
    IF shards = 0 THEN
        RAISE EXCEPTION 'no shards are configured'
            USING ERRCODE = '55000',
                  HINT = 'Call onevault_tracking_proxy.add_shards(ARRAY[''host=... dbname=...'', ...]) first.';
    END IF;
    RETURN shards;
END
$shard_count$;

-- The shard a new site is placed on: the first 31 bits of the SHA-256 of its normalised domain,
-- modulo the shard count. A fixed function of the domain (not hashtext, whose values may change
-- between PostgreSQL major versions), so proxies agree; sites already placed stay where the
-- placement tables say, whatever the shard count becomes.
CREATE FUNCTION onevault_tracking_proxy.placement(p_site_domain text)
RETURNS integer
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $placement$
    SELECT (('x' || encode(substr(sha256(convert_to(p_site_domain, 'UTF8')), 1, 4), 'hex'))::bit(32)::integer
            & 2147483647) % onevault_tracking_proxy.shard_count()
$placement$;

-- The shard of a domain: the placed site that has it as its own domain, else one that allows it
-- (the first by site, as the extension picks one), else where a new site of it would be placed
-- (the shard then answers for an unknown site, as a single node does).
CREATE FUNCTION onevault_tracking_proxy.shard_of_domain(p_domain text)
RETURNS integer
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $shard_of_domain$
    SELECT coalesce(
        (SELECT s.shard
           FROM onevault_tracking_proxy.domains AS d
           JOIN onevault_tracking_proxy.sites AS s USING (tenant_hk, site_domain)
          WHERE d.domain = onevault_tracking_proxy.site_domain(p_domain)
          ORDER BY d.domain = d.site_domain DESC, d.site_domain, d.tenant_hk
          LIMIT 1),
        onevault_tracking_proxy.placement(coalesce(onevault_tracking_proxy.site_domain(p_domain), '')))
$shard_of_domain$;

-- The shard of a page URL: by its host (scheme://[user@]host[:port]/...).
CREATE FUNCTION onevault_tracking_proxy.shard_of_url(p_url text)
RETURNS integer
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $shard_of_url$
    SELECT onevault_tracking_proxy.shard_of_domain(
        coalesce(substring(p_url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+)'), ''))
$shard_of_url$;

-- The shard of a key: the key's own site when the proxy created the key (a presented key starts
-- with its public prefix, "ovt_<8 hex>_"), else the shard of the domain the call names.
CREATE FUNCTION onevault_tracking_proxy.shard_of_key(p_api_key text, p_site_domain text)
RETURNS integer
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $shard_of_key$
    SELECT coalesce(
        (SELECT s.shard
           FROM onevault_tracking_proxy.api_keys AS k
           JOIN onevault_tracking_proxy.sites AS s USING (tenant_hk, site_domain)
          WHERE k.key_prefix = substring(p_api_key FROM '^(ovt_[0-9a-f]{8})_')),
        onevault_tracking_proxy.shard_of_domain(p_site_domain))
$shard_of_key$;

-- The shard of a key's hash key (raw.batch_ingest_tracking_events), else of the first event's
-- page URL.
CREATE FUNCTION onevault_tracking_proxy.shard_of_key_hk(p_api_key_hk bytea, p_event_data jsonb)
RETURNS integer
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $shard_of_key_hk$
    SELECT coalesce(
        (SELECT s.shard
           FROM onevault_tracking_proxy.api_keys AS k
           JOIN onevault_tracking_proxy.sites AS s USING (tenant_hk, site_domain)
          WHERE k.api_key_hk = p_api_key_hk),
        onevault_tracking_proxy.shard_of_url(
            CASE jsonb_typeof(p_event_data)
                WHEN 'array' THEN coalesce(p_event_data -> 0 ->> 'page_url', p_event_data -> 0 -> 'event_data' ->> 'page_url')
                ELSE coalesce(p_event_data ->> 'page_url', p_event_data -> 'event_data' ->> 'page_url')
            END))
$shard_of_key_hk$;

-- The placed site of a tenant's domain, or NULL.
CREATE FUNCTION onevault_tracking_proxy.placed_site(p_tenant_hk bytea, p_site_domain text)
RETURNS onevault_tracking_proxy.sites
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $placed_site$
    SELECT s.* FROM onevault_tracking_proxy.sites AS s
     WHERE s.tenant_hk = p_tenant_hk
       AND s.site_domain = coalesce(onevault_tracking_proxy.site_domain(p_site_domain), p_site_domain)
$placed_site$;

-- Where everything is, for operators.
CREATE VIEW onevault_tracking_proxy.placement_overview AS
SELECT s.tenant_hk, t.tenant_bk, s.site_domain, s.shard, s.moving_to,
       (SELECT array_agg(d.domain ORDER BY d.domain) FROM onevault_tracking_proxy.domains AS d
         WHERE d.tenant_hk = s.tenant_hk AND d.site_domain = s.site_domain AND d.domain <> s.site_domain) AS allowed_domains,
       (SELECT count(*) FROM onevault_tracking_proxy.api_keys AS k
         WHERE k.tenant_hk = s.tenant_hk AND k.site_domain = s.site_domain) AS api_keys
  FROM onevault_tracking_proxy.sites AS s
  JOIN onevault_tracking_proxy.tenants AS t USING (tenant_hk);

-- Failures of one shard ---------------------------------------------------------------------------

-- Whether an error is PL/Proxy's for a shard it cannot reach (its connection failed or broke, or
-- the shard is shutting down or starting): those make the calls of that shard's sites fail, with
-- SHARD_UNAVAILABLE, and nothing else. PL/Proxy raises them with its own message and, for a
-- failed connection, without a connection SQLSTATE: the message tells.
CREATE FUNCTION onevault_tracking_proxy.is_shard_failure(p_sqlstate text, p_message text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $is_shard_failure$
    SELECT left(p_sqlstate, 2) = '08' OR p_sqlstate IN ('57P01', '57P02', '57P03')
        OR p_message ~ '(PQconnectPoll|PQconsumeInput|PQsendQuery|connection to server|server closed the connection|could not connect|Connection refused|terminating connection|the database system is (starting up|shutting down))'
$is_shard_failure$;

-- The JSON answer of a tracking call whose shard cannot be reached (retryable, like a rate limit).
CREATE FUNCTION onevault_tracking_proxy.shard_unavailable_answer(p_shard integer, p_message text)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $shard_unavailable_answer$
    SELECT jsonb_build_object(
        'success', false, 'error_code', 'SHARD_UNAVAILABLE', 'retryable', true, 'shard', p_shard,
        'message', 'the database that stores this site (shard ' || p_shard || ') cannot be reached; other sites are not affected',
        'detail', left(p_message, 500))
$shard_unavailable_answer$;

-- In the exception handler of an administrative or report call: when the error is a shard that
-- cannot be reached, the ERROR that says so (08006, naming the shard); else nothing, and the
-- handler re-raises the error as it came.
CREATE FUNCTION onevault_tracking_proxy.raise_if_shard_failure(p_shard integer, p_sqlstate text, p_message text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $raise_if_shard_failure$
BEGIN
    IF onevault_tracking_proxy.is_shard_failure(p_sqlstate, p_message) THEN
        RAISE EXCEPTION 'shard % cannot be reached', p_shard
            USING ERRCODE = '08006', DETAIL = left(p_message, 500),
                  HINT = 'Only the sites placed on that shard are affected (onevault_tracking_proxy.placement_overview); retry when it is back.';
    END IF;
END
$raise_if_shard_failure$;

-- Calls on one shard (PL/Proxy) ---------------------------------------------------------------------
-- Each takes the shard number first and runs the same-named function there.

CREATE FUNCTION onevault_tracking_proxy.on_shard_provision_tenant(p_shard integer, p_tenant_hk bytea, p_tenant_bk text)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT onevault_tracking.provision_tenant(p_tenant_hk, p_tenant_bk);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_claim_event_ids(p_shard integer)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT onevault_tracking.claim_shard_event_ids(p_shard);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_register_site(
    p_shard integer, p_tenant_hk bytea, p_site_domain text, p_site_name text, p_allowed_domains text[],
    p_timezone text, p_settings jsonb)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT api.register_site(p_tenant_hk, p_site_domain, p_site_name, p_allowed_domains, p_timezone, p_settings);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_create_api_key(
    p_shard integer, p_tenant_hk bytea, p_site_domain text, p_key_name text, p_scopes text[],
    p_expires_at timestamptz, p_rate_limit_per_minute integer)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT api.create_api_key(p_tenant_hk, p_site_domain, p_key_name, p_scopes, p_expires_at, p_rate_limit_per_minute);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_revoke_api_key(p_shard integer, p_tenant_hk bytea, p_key_prefix text)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT api.revoke_api_key(p_tenant_hk, p_key_prefix);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_track_page_view(
    p_shard integer, p_api_key text, p_site_domain text, p_page_path text, p_user_agent text, p_client_ip inet,
    p_referrer text, p_page_title text, p_session_id text, p_event_id text, p_event_timestamp timestamptz,
    p_properties jsonb, p_do_not_track boolean, p_global_privacy_control boolean)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT api.track_page_view(p_api_key, p_site_domain, p_page_path, p_user_agent, p_client_ip, p_referrer,
                               p_page_title, p_session_id, p_event_id, p_event_timestamp, p_properties,
                               p_do_not_track, p_global_privacy_control);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_track_custom_event(
    p_shard integer, p_api_key text, p_site_domain text, p_event_name text, p_event_properties jsonb,
    p_page_path text, p_user_agent text, p_client_ip inet, p_referrer text, p_page_title text,
    p_session_id text, p_event_id text, p_event_timestamp timestamptz, p_do_not_track boolean,
    p_global_privacy_control boolean)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT api.track_custom_event(p_api_key, p_site_domain, p_event_name, p_event_properties, p_page_path,
                                  p_user_agent, p_client_ip, p_referrer, p_page_title, p_session_id,
                                  p_event_id, p_event_timestamp, p_do_not_track, p_global_privacy_control);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_track_site_event(
    p_shard integer, p_ip_address inet, p_user_agent text, p_page_url text, p_event_type character varying,
    p_event_data jsonb)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT api.track_site_event(p_ip_address, p_user_agent, p_page_url, p_event_type, p_event_data);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_batch_ingest(
    p_shard integer, p_tenant_hk bytea, p_api_key_hk bytea, p_client_ip inet, p_user_agent text, p_events jsonb)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT raw.batch_ingest_tracking_events(p_tenant_hk, p_api_key_hk, p_client_ip, p_user_agent, p_events);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_ingest(
    p_shard integer, p_tenant_hk bytea, p_api_key_hk bytea, p_client_ip inet, p_user_agent text, p_event_data jsonb)
RETURNS bigint LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT raw.ingest_tracking_event(p_tenant_hk, p_api_key_hk, p_client_ip, p_user_agent, p_event_data);
$$;

-- Reports run on the shard as the reader's tenant: the proxy session's onevault_tracking.tenant_id
-- is set for the remote statement (row-level security there scopes it, as on one node).
CREATE FUNCTION onevault_tracking_proxy.on_shard_site_stats(
    p_shard integer, p_tenant_id text, p_site_domain text, p_from timestamptz, p_to timestamptz,
    p_include_bots boolean, p_filters jsonb, p_compare boolean)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT api.site_stats(p_site_domain || left(t.tenant, 0), p_from, p_to, p_include_bots, p_filters, p_compare)
      FROM (SELECT pg_catalog.set_config('onevault_tracking.tenant_id', p_tenant_id, true)) AS t (tenant);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_site_breakdown(
    p_shard integer, p_tenant_id text, p_site_domain text, p_dimension text, p_from timestamptz,
    p_to timestamptz, p_limit integer, p_include_bots boolean, p_filters jsonb)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT api.site_breakdown(p_site_domain || left(t.tenant, 0), p_dimension, p_from, p_to, p_limit,
                              p_include_bots, p_filters)
      FROM (SELECT pg_catalog.set_config('onevault_tracking.tenant_id', p_tenant_id, true)) AS t (tenant);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_site_timeseries(
    p_shard integer, p_tenant_id text, p_site_domain text, p_from timestamptz, p_to timestamptz,
    p_interval text, p_include_bots boolean, p_filters jsonb)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT api.site_timeseries(p_site_domain || left(t.tenant, 0), p_from, p_to, p_interval, p_include_bots, p_filters)
      FROM (SELECT pg_catalog.set_config('onevault_tracking.tenant_id', p_tenant_id, true)) AS t (tenant);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_current_visitors(
    p_shard integer, p_tenant_id text, p_site_domain text, p_include_bots boolean)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT api.current_visitors(p_site_domain || left(t.tenant, 0), p_include_bots)
      FROM (SELECT pg_catalog.set_config('onevault_tracking.tenant_id', p_tenant_id, true)) AS t (tenant);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_export_events(
    p_shard integer, p_tenant_id text, p_site_domain text, p_from timestamptz, p_to timestamptz, p_limit integer)
RETURNS SETOF text LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT e.line AS on_shard_export_events
      FROM (SELECT pg_catalog.set_config('onevault_tracking.tenant_id', p_tenant_id, true)) AS t (tenant),
           LATERAL api.export_events(p_site_domain || left(t.tenant, 0), p_from, p_to, p_limit) AS e (line);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_export_report(
    p_shard integer, p_tenant_id text, p_site_domain text, p_from timestamptz, p_to timestamptz, p_report text,
    p_filters jsonb, p_limit integer, p_include_bots boolean)
RETURNS SETOF text LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT e.line AS on_shard_export_report
      FROM (SELECT pg_catalog.set_config('onevault_tracking.tenant_id', p_tenant_id, true)) AS t (tenant),
           LATERAL api.export_report(p_site_domain || left(t.tenant, 0), p_from, p_to, p_report, p_filters,
                                     p_limit, p_include_bots) AS e (line);
$$;

-- Tenant-wide calls run on every shard at once.
CREATE FUNCTION onevault_tracking_proxy.on_all_shards_ingestion_stats(p_tenant_hk bytea, p_hours_back integer)
RETURNS TABLE (
    tenant_hk bytea, total_events bigint, pending_events bigint, processed_events bigint,
    quarantined_events bigint, retrying_events bigint, failed_events bigint, error_rate numeric,
    oldest_pending_at timestamptz, oldest_pending_age interval, first_received_at timestamptz,
    last_received_at timestamptz)
LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON ALL;
    SELECT * FROM raw.get_ingestion_stats(p_tenant_hk, p_hours_back);
$$;

-- The setting comes first: the function's argument refers to it.
CREATE FUNCTION onevault_tracking_proxy.on_all_shards_tenant_site_stats(
    p_tenant_id text, p_from timestamptz, p_to timestamptz, p_include_bots boolean)
RETURNS TABLE (site_domain text, visitors bigint, visits bigint, pageviews bigint, events bigint,
               bounces bigint, duration_seconds bigint)
LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON ALL;
    SELECT s.*
      FROM (SELECT pg_catalog.set_config('onevault_tracking.tenant_id', p_tenant_id, true)) AS t (tenant),
           LATERAL api.tenant_site_stats(p_from + make_interval(secs => 0 * length(t.tenant)), p_to, p_include_bots) AS s;
$$;

CREATE FUNCTION onevault_tracking_proxy.on_all_shards_erase_visitor(p_tenant_hk bytea, p_visitor_hash bytea)
RETURNS SETOF jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON ALL;
    SELECT api.erase_visitor(p_tenant_hk, p_visitor_hash) AS on_all_shards_erase_visitor;
$$;

CREATE FUNCTION onevault_tracking_proxy.on_all_shards_erase_session(p_tenant_hk bytea, p_session_id text)
RETURNS SETOF jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON ALL;
    SELECT api.erase_session(p_tenant_hk, p_session_id) AS on_all_shards_erase_session;
$$;

CREATE FUNCTION onevault_tracking_proxy.on_all_shards_purge_expired_data(
    p_raw_retention_days integer, p_rate_limit_retention_hours integer)
RETURNS SETOF jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON ALL;
    SELECT api.purge_expired_data(p_raw_retention_days, p_rate_limit_retention_hours) AS on_all_shards_purge_expired_data;
$$;

-- Moving a site (onevault_tracking_proxy.move_site).
CREATE FUNCTION onevault_tracking_proxy.on_shard_site_transfer_batch(
    p_shard integer, p_tenant_hk bytea, p_site_domain text, p_phase text, p_after text, p_limit integer)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT onevault_tracking.site_transfer_batch(p_tenant_hk, p_site_domain, p_phase, p_after, p_limit);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_site_transfer_load(p_shard integer, p_batch jsonb)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT onevault_tracking.site_transfer_load(p_batch);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_site_transfer_counts(
    p_shard integer, p_tenant_hk bytea, p_site_domain text, p_without_shard integer)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT onevault_tracking.site_transfer_counts(p_tenant_hk, p_site_domain, p_without_shard);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_settle_before_move(p_shard integer, p_timeout_seconds integer)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT onevault_tracking.settle_before_move(p_timeout_seconds);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_rebuild_rollups(p_shard integer, p_tenant_hk bytea, p_site_domain text)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT onevault_tracking.rebuild_rollups(p_tenant_hk, p_site_domain);
$$;

CREATE FUNCTION onevault_tracking_proxy.on_shard_delete_site_data(p_shard integer, p_tenant_hk bytea, p_site_domain text)
RETURNS jsonb LANGUAGE plproxy AS $$
    CLUSTER 'onevault_tracking_shards'; RUN ON p_shard;
    SELECT onevault_tracking.delete_site_data(p_tenant_hk, p_site_domain);
$$;

-- Cluster and tenants ------------------------------------------------------------------------------

-- Adds shards (libpq connection strings, in order) to the cluster, creating it the first time
-- (PL/Proxy's SQL/MED server onevault_tracking_shards, modulo mapping so any count works, a
-- query timeout of 15 minutes so that no lost answer holds a caller for ever, and a user mapping
-- for PUBLIC: add per-role mappings for other remote users). Shards are only ever
-- appended: a shard's number is where its events' ids come from and where sites are placed.
-- Each new shard takes its range of event ids (onevault_tracking.claim_shard_event_ids).
CREATE FUNCTION onevault_tracking_proxy.add_shards(p_connection_strings text[])
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $add_shards$
DECLARE
    existing integer := 0;
    partitions text;
    shard integer;
    claimed jsonb := '[]';
BEGIN
    IF p_connection_strings IS NULL OR cardinality(p_connection_strings) = 0
       OR array_position(p_connection_strings, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'p_connection_strings must list at least one connection string'
            USING ERRCODE = '22023', HINT = 'For example ARRAY[''host=/run/shard0 dbname=onevault'', ...].';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server WHERE srvname = 'onevault_tracking_shards') THEN
        existing := onevault_tracking_proxy.shard_count();
    END IF;
    -- PL/Proxy validates the partitions with every change: all of them in one statement.
    SELECT string_agg(format('%s %I %L', CASE WHEN existing > 0 THEN 'ADD' ELSE '' END,
                             'p' || (existing + c.position - 1), c.connection_string), ', ' ORDER BY c.position)
      INTO partitions
      FROM unnest(p_connection_strings) WITH ORDINALITY AS c (connection_string, position);
    IF existing = 0 THEN
        EXECUTE 'CREATE SERVER onevault_tracking_shards FOREIGN DATA WRAPPER plproxy '
                'OPTIONS (modular_mapping ''1'', connection_lifetime ''1800'', query_timeout ''900'', ' || partitions || ')';
        EXECUTE 'CREATE USER MAPPING FOR PUBLIC SERVER onevault_tracking_shards';
        EXECUTE 'GRANT USAGE ON FOREIGN SERVER onevault_tracking_shards '
                'TO onevault_tracking_ingest, onevault_tracking_admin, onevault_tracking_reader';
    ELSE
        EXECUTE 'ALTER SERVER onevault_tracking_shards OPTIONS (' || partitions || ')';
    END IF;
    FOR shard IN existing .. existing + cardinality(p_connection_strings) - 1 LOOP
        claimed := claimed || onevault_tracking_proxy.on_shard_claim_event_ids(shard);
    END LOOP;
    RETURN jsonb_build_object('shards', existing + cardinality(p_connection_strings), 'added', claimed);
END
$add_shards$;

-- Makes a platform tenant known to the proxy; its sites' shards get its hub row when a site is
-- placed there (onevault_tracking.provision_tenant).
CREATE FUNCTION onevault_tracking_proxy.register_tenant(p_tenant_hk bytea, p_tenant_bk text)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $register_tenant$
BEGIN
    IF p_tenant_hk IS NULL OR octet_length(p_tenant_hk) <> 32 OR p_tenant_bk IS NULL
       OR length(p_tenant_bk) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'a tenant is its 32-byte tenant_hk and its tenant_bk (1 to 255 characters)'
            USING ERRCODE = '22023', HINT = 'Pass the platform''s auth.tenant_h row.';
    END IF;
    INSERT INTO onevault_tracking_proxy.tenants (tenant_hk, tenant_bk) VALUES (p_tenant_hk, p_tenant_bk)
    ON CONFLICT (tenant_hk) DO UPDATE SET tenant_bk = EXCLUDED.tenant_bk;
    RETURN jsonb_build_object('success', true, 'tenant_hk', encode(p_tenant_hk, 'hex'));
END
$register_tenant$;

-- Sites and keys (the single node's signatures) ----------------------------------------------------

-- Places a new site (with the other tenants' site of the same domain, else by placement()),
-- provisions the tenant there, registers the site on that shard and records its domains.
CREATE FUNCTION api.register_site(
    p_tenant_hk bytea, p_site_domain text, p_site_name text,
    p_allowed_domains text[] DEFAULT NULL, p_timezone text DEFAULT 'UTC', p_settings jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $register_site$
DECLARE
    tenant onevault_tracking_proxy.tenants;
    domain constant text := onevault_tracking_proxy.site_domain(p_site_domain);
    shard integer;
    answer jsonb;
BEGIN
    SELECT * INTO tenant FROM onevault_tracking_proxy.tenants AS t WHERE t.tenant_hk = p_tenant_hk;
    IF tenant.tenant_hk IS NULL THEN
        RAISE EXCEPTION 'tenant \x% is not registered with the proxy', encode(p_tenant_hk, 'hex')
            USING ERRCODE = '23503', HINT = 'Call onevault_tracking_proxy.register_tenant(tenant_hk, tenant_bk) first.';
    END IF;
    -- A domain the shard would refuse is refused there, with its own error, on its placement.
    shard := coalesce((onevault_tracking_proxy.placed_site(p_tenant_hk, domain)).shard,
                      (SELECT s.shard FROM onevault_tracking_proxy.sites AS s WHERE s.site_domain = domain LIMIT 1),
                      onevault_tracking_proxy.placement(coalesce(domain, '')));
    BEGIN
        PERFORM onevault_tracking_proxy.on_shard_provision_tenant(shard, tenant.tenant_hk, tenant.tenant_bk);
        answer := onevault_tracking_proxy.on_shard_register_site(shard, p_tenant_hk, p_site_domain, p_site_name,
                                                                 p_allowed_domains, p_timezone, p_settings);
    EXCEPTION WHEN OTHERS THEN
        PERFORM onevault_tracking_proxy.raise_if_shard_failure(shard, SQLSTATE, SQLERRM);
        RAISE;
    END;
    INSERT INTO onevault_tracking_proxy.sites (tenant_hk, site_domain, shard)
    VALUES (p_tenant_hk, answer ->> 'site_domain', shard)
    ON CONFLICT (tenant_hk, site_domain) DO NOTHING;
    DELETE FROM onevault_tracking_proxy.domains AS d
     WHERE d.tenant_hk = p_tenant_hk AND d.site_domain = answer ->> 'site_domain';
    INSERT INTO onevault_tracking_proxy.domains (domain, tenant_hk, site_domain)
    SELECT DISTINCT a.domain, p_tenant_hk, answer ->> 'site_domain'
      FROM jsonb_array_elements_text(answer -> 'allowed_domains') AS a (domain);
    RETURN answer || jsonb_build_object('shard', shard);
END
$register_site$;

CREATE FUNCTION api.create_api_key(
    p_tenant_hk bytea, p_site_domain text, p_key_name text,
    p_scopes text[] DEFAULT ARRAY['track'], p_expires_at timestamptz DEFAULT NULL,
    p_rate_limit_per_minute integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $create_api_key$
DECLARE
    site onevault_tracking_proxy.sites := onevault_tracking_proxy.placed_site(p_tenant_hk, p_site_domain);
    answer jsonb;
BEGIN
    IF site.shard IS NULL THEN
        RAISE EXCEPTION 'site "%" of this tenant is not placed on any shard', p_site_domain
            USING ERRCODE = 'P0002', HINT = 'Register it through the proxy with api.register_site first.';
    END IF;
    BEGIN
        answer := onevault_tracking_proxy.on_shard_create_api_key(site.shard, p_tenant_hk, site.site_domain, p_key_name,
                                                                  p_scopes, p_expires_at, p_rate_limit_per_minute);
    EXCEPTION WHEN OTHERS THEN
        PERFORM onevault_tracking_proxy.raise_if_shard_failure(site.shard, SQLSTATE, SQLERRM);
        RAISE;
    END;
    INSERT INTO onevault_tracking_proxy.api_keys (key_prefix, api_key_hk, tenant_hk, site_domain)
    VALUES (answer ->> 'key_prefix', decode(answer ->> 'api_key_hk', 'hex'), p_tenant_hk, site.site_domain);
    RETURN answer;
END
$create_api_key$;

CREATE FUNCTION api.revoke_api_key(p_tenant_hk bytea, p_key_prefix text)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $revoke_api_key$
DECLARE
    shard integer;
BEGIN
    SELECT s.shard INTO shard
      FROM onevault_tracking_proxy.api_keys AS k
      JOIN onevault_tracking_proxy.sites AS s USING (tenant_hk, site_domain)
     WHERE k.key_prefix = p_key_prefix AND k.tenant_hk = p_tenant_hk;
    IF shard IS NULL THEN
        RAISE EXCEPTION 'API key "%" of this tenant was not created through the proxy', p_key_prefix
            USING ERRCODE = 'P0002', HINT = 'onevault_tracking_proxy.api_keys lists the keys the proxy placed.';
    END IF;
    RETURN onevault_tracking_proxy.on_shard_revoke_api_key(shard, p_tenant_hk, p_key_prefix);
EXCEPTION WHEN OTHERS THEN
    PERFORM onevault_tracking_proxy.raise_if_shard_failure(shard, SQLSTATE, SQLERRM);
    RAISE;
END
$revoke_api_key$;

-- Tracking (the single node's signatures; a shard that cannot be reached answers SHARD_UNAVAILABLE) --

CREATE FUNCTION api.track_page_view(
    p_api_key text, p_site_domain text, p_page_path text, p_user_agent text, p_client_ip inet,
    p_referrer text DEFAULT NULL, p_page_title text DEFAULT NULL, p_session_id text DEFAULT NULL,
    p_event_id text DEFAULT NULL, p_event_timestamp timestamptz DEFAULT NULL,
    p_properties jsonb DEFAULT NULL,
    p_do_not_track boolean DEFAULT NULL, p_global_privacy_control boolean DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $track_page_view$
DECLARE
    shard constant integer := onevault_tracking_proxy.shard_of_key(p_api_key, p_site_domain);
BEGIN
    RETURN onevault_tracking_proxy.on_shard_track_page_view(
        shard, p_api_key, p_site_domain, p_page_path, p_user_agent, p_client_ip, p_referrer, p_page_title,
        p_session_id, p_event_id, p_event_timestamp, p_properties, p_do_not_track, p_global_privacy_control);
EXCEPTION WHEN OTHERS THEN
    IF onevault_tracking_proxy.is_shard_failure(SQLSTATE, SQLERRM) THEN
        RETURN onevault_tracking_proxy.shard_unavailable_answer(shard, SQLERRM);
    END IF;
    RAISE;
END
$track_page_view$;

CREATE FUNCTION api.track_custom_event(
    p_api_key text, p_site_domain text, p_event_name text, p_event_properties jsonb,
    p_page_path text, p_user_agent text, p_client_ip inet,
    p_referrer text DEFAULT NULL, p_page_title text DEFAULT NULL, p_session_id text DEFAULT NULL,
    p_event_id text DEFAULT NULL, p_event_timestamp timestamptz DEFAULT NULL,
    p_do_not_track boolean DEFAULT NULL, p_global_privacy_control boolean DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $track_custom_event$
DECLARE
    shard constant integer := onevault_tracking_proxy.shard_of_key(p_api_key, p_site_domain);
BEGIN
    RETURN onevault_tracking_proxy.on_shard_track_custom_event(
        shard, p_api_key, p_site_domain, p_event_name, p_event_properties, p_page_path, p_user_agent, p_client_ip,
        p_referrer, p_page_title, p_session_id, p_event_id, p_event_timestamp, p_do_not_track,
        p_global_privacy_control);
EXCEPTION WHEN OTHERS THEN
    IF onevault_tracking_proxy.is_shard_failure(SQLSTATE, SQLERRM) THEN
        RETURN onevault_tracking_proxy.shard_unavailable_answer(shard, SQLERRM);
    END IF;
    RAISE;
END
$track_custom_event$;

CREATE FUNCTION api.track_site_event(
    p_ip_address inet, p_user_agent text, p_page_url text,
    p_event_type character varying DEFAULT 'page_view', p_event_data jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $track_site_event$
DECLARE
    shard constant integer := onevault_tracking_proxy.shard_of_url(p_page_url);
BEGIN
    RETURN onevault_tracking_proxy.on_shard_track_site_event(shard, p_ip_address, p_user_agent, p_page_url,
                                                             p_event_type, p_event_data);
EXCEPTION WHEN OTHERS THEN
    IF onevault_tracking_proxy.is_shard_failure(SQLSTATE, SQLERRM) THEN
        RETURN onevault_tracking_proxy.shard_unavailable_answer(shard, SQLERRM);
    END IF;
    RAISE;
END
$track_site_event$;

-- A batch goes to one shard: its key's (or its first event's page's).
CREATE FUNCTION raw.batch_ingest_tracking_events(
    p_tenant_hk bytea, p_api_key_hk bytea, p_client_ip inet, p_user_agent text, p_events jsonb)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $batch_ingest$
DECLARE
    shard constant integer := onevault_tracking_proxy.shard_of_key_hk(p_api_key_hk, p_events);
BEGIN
    RETURN onevault_tracking_proxy.on_shard_batch_ingest(shard, p_tenant_hk, p_api_key_hk, p_client_ip,
                                                         p_user_agent, p_events);
EXCEPTION WHEN OTHERS THEN
    IF onevault_tracking_proxy.is_shard_failure(SQLSTATE, SQLERRM) THEN
        RETURN onevault_tracking_proxy.shard_unavailable_answer(shard, SQLERRM);
    END IF;
    RAISE;
END
$batch_ingest$;

CREATE FUNCTION raw.ingest_tracking_event(
    p_tenant_hk bytea, p_api_key_hk bytea, p_client_ip inet, p_user_agent text, p_event_data jsonb)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $ingest$
DECLARE
    shard constant integer := onevault_tracking_proxy.shard_of_key_hk(p_api_key_hk, p_event_data);
BEGIN
    RETURN onevault_tracking_proxy.on_shard_ingest(shard, p_tenant_hk, p_api_key_hk, p_client_ip, p_user_agent,
                                                   p_event_data);
EXCEPTION WHEN OTHERS THEN
    PERFORM onevault_tracking_proxy.raise_if_shard_failure(shard, SQLSTATE, SQLERRM);
    RAISE;
END
$ingest$;

-- Reports of one site (the single node's signatures) -----------------------------------------------

CREATE FUNCTION api.site_stats(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_include_bots boolean DEFAULT false,
    p_filters jsonb DEFAULT '{}', p_compare boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $site_stats$
DECLARE
    shard constant integer := onevault_tracking_proxy.shard_of_domain(p_site_domain);
BEGIN
    RETURN onevault_tracking_proxy.on_shard_site_stats(
        shard, coalesce(current_setting('onevault_tracking.tenant_id', true), ''),
        p_site_domain, p_from, p_to, p_include_bots, p_filters, p_compare);
EXCEPTION WHEN OTHERS THEN
    PERFORM onevault_tracking_proxy.raise_if_shard_failure(shard, SQLSTATE, SQLERRM);
    RAISE;
END
$site_stats$;

CREATE FUNCTION api.site_breakdown(
    p_site_domain text, p_dimension text, p_from timestamptz, p_to timestamptz,
    p_limit integer DEFAULT 10, p_include_bots boolean DEFAULT false, p_filters jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $site_breakdown$
DECLARE
    shard constant integer := onevault_tracking_proxy.shard_of_domain(p_site_domain);
BEGIN
    RETURN onevault_tracking_proxy.on_shard_site_breakdown(
        shard, coalesce(current_setting('onevault_tracking.tenant_id', true), ''),
        p_site_domain, p_dimension, p_from, p_to, p_limit, p_include_bots, p_filters);
EXCEPTION WHEN OTHERS THEN
    PERFORM onevault_tracking_proxy.raise_if_shard_failure(shard, SQLSTATE, SQLERRM);
    RAISE;
END
$site_breakdown$;

CREATE FUNCTION api.site_timeseries(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_interval text DEFAULT 'day',
    p_include_bots boolean DEFAULT false, p_filters jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $site_timeseries$
DECLARE
    shard constant integer := onevault_tracking_proxy.shard_of_domain(p_site_domain);
BEGIN
    RETURN onevault_tracking_proxy.on_shard_site_timeseries(
        shard, coalesce(current_setting('onevault_tracking.tenant_id', true), ''),
        p_site_domain, p_from, p_to, p_interval, p_include_bots, p_filters);
EXCEPTION WHEN OTHERS THEN
    PERFORM onevault_tracking_proxy.raise_if_shard_failure(shard, SQLSTATE, SQLERRM);
    RAISE;
END
$site_timeseries$;

CREATE FUNCTION api.current_visitors(p_site_domain text, p_include_bots boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $current_visitors$
DECLARE
    shard constant integer := onevault_tracking_proxy.shard_of_domain(p_site_domain);
BEGIN
    RETURN onevault_tracking_proxy.on_shard_current_visitors(
        shard, coalesce(current_setting('onevault_tracking.tenant_id', true), ''), p_site_domain, p_include_bots);
EXCEPTION WHEN OTHERS THEN
    PERFORM onevault_tracking_proxy.raise_if_shard_failure(shard, SQLSTATE, SQLERRM);
    RAISE;
END
$current_visitors$;

-- The exports stream from the shard (PL/Proxy passes the rows through; a failure is PL/Proxy's).
CREATE FUNCTION api.export_events(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_limit integer DEFAULT 100000)
RETURNS SETOF text
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $export_events$
    SELECT onevault_tracking_proxy.on_shard_export_events(
        onevault_tracking_proxy.shard_of_domain(p_site_domain),
        coalesce(current_setting('onevault_tracking.tenant_id', true), ''), p_site_domain, p_from, p_to, p_limit)
$export_events$;

CREATE FUNCTION api.export_report(
    p_site_domain text, p_from timestamptz, p_to timestamptz, p_report text, p_filters jsonb DEFAULT '{}',
    p_limit integer DEFAULT 100000, p_include_bots boolean DEFAULT false)
RETURNS SETOF text
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $export_report$
    SELECT onevault_tracking_proxy.on_shard_export_report(
        onevault_tracking_proxy.shard_of_domain(p_site_domain),
        coalesce(current_setting('onevault_tracking.tenant_id', true), ''), p_site_domain, p_from, p_to, p_report,
        p_filters, p_limit, p_include_bots)
$export_report$;

-- Tenant-wide calls (every shard, combined here) ---------------------------------------------------

-- raw.get_ingestion_stats over every shard: counts add up, the oldest pending event is the
-- oldest of all, the error rate is recomputed from the sums (quarantined + failed over total).
CREATE FUNCTION raw.get_ingestion_stats(p_tenant_hk bytea DEFAULT NULL, p_hours_back integer DEFAULT 24)
RETURNS TABLE (
    tenant_hk bytea, total_events bigint, pending_events bigint, processed_events bigint,
    quarantined_events bigint, retrying_events bigint, failed_events bigint, error_rate numeric,
    oldest_pending_at timestamptz, oldest_pending_age interval, first_received_at timestamptz,
    last_received_at timestamptz)
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $get_ingestion_stats$
    SELECT s.tenant_hk, sum(s.total_events)::bigint, sum(s.pending_events)::bigint,
           sum(s.processed_events)::bigint, sum(s.quarantined_events)::bigint,
           sum(s.retrying_events)::bigint, sum(s.failed_events)::bigint,
           round((sum(s.quarantined_events) + sum(s.failed_events)) / sum(s.total_events), 4),
           min(s.oldest_pending_at), clock_timestamp() - min(s.oldest_pending_at),
           min(s.first_received_at), max(s.last_received_at)
      FROM onevault_tracking_proxy.on_all_shards_ingestion_stats(p_tenant_hk, p_hours_back) AS s
     GROUP BY s.tenant_hk
     ORDER BY s.tenant_hk
$get_ingestion_stats$;

-- Every site of the reader's tenant on every shard (api.tenant_site_stats of each): the single
-- node's rows, as a site lives on one shard and a visitor hash is made per site.
CREATE FUNCTION api.tenant_site_stats(p_from timestamptz, p_to timestamptz, p_include_bots boolean DEFAULT false)
RETURNS TABLE (site_domain text, visitors bigint, visits bigint, pageviews bigint, events bigint,
               bounces bigint, duration_seconds bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $tenant_site_stats$
BEGIN
    RETURN QUERY
    SELECT s.* FROM onevault_tracking_proxy.on_all_shards_tenant_site_stats(
                        coalesce(current_setting('onevault_tracking.tenant_id', true), ''), p_from, p_to, p_include_bots) AS s
     ORDER BY s.site_domain;
EXCEPTION WHEN OTHERS THEN
    IF onevault_tracking_proxy.is_shard_failure(SQLSTATE, SQLERRM) THEN
        RAISE EXCEPTION 'a shard cannot be reached: a tenant-wide report needs every shard'
            USING ERRCODE = '08006', DETAIL = left(SQLERRM, 500), HINT = 'Retry when every shard is back.';
    END IF;
    RAISE;
END
$tenant_site_stats$;

-- The answers of every shard as one: numbers added up (top level and one level down), success
-- when every shard succeeded, and each shard's own answer under "shards".
CREATE FUNCTION onevault_tracking_proxy.combined_answer(p_answers jsonb[])
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $combined_answer$
    WITH answers AS (SELECT a.answer FROM unnest(p_answers) AS a (answer)),
    numbers AS (
        SELECT e.key, sum(e.value::text::numeric) AS total
          FROM answers, jsonb_each(answers.answer) AS e
         WHERE jsonb_typeof(e.value) = 'number'
         GROUP BY e.key
        UNION ALL
        SELECT e.key, NULL FROM answers, jsonb_each(answers.answer) AS e
         WHERE jsonb_typeof(e.value) = 'object'
         GROUP BY e.key
    )
    SELECT jsonb_object_agg(n.key, coalesce(to_jsonb(n.total),
               (SELECT coalesce(jsonb_object_agg(i.key, i.total), '{}')
                  FROM (SELECT x.key, sum(x.value::text::numeric) AS total
                          FROM answers, jsonb_each(answers.answer -> n.key) AS x
                         WHERE jsonb_typeof(answers.answer -> n.key) = 'object' AND jsonb_typeof(x.value) = 'number'
                         GROUP BY x.key) AS i)))
           || jsonb_build_object('success', (SELECT bool_and(coalesce((a.answer ->> 'success')::boolean, true)) FROM answers AS a),
                                 'shards', (SELECT jsonb_agg(a.answer) FROM answers AS a))
      FROM numbers AS n
$combined_answer$;

CREATE FUNCTION api.erase_visitor(p_tenant_hk bytea, p_visitor_hash bytea)
RETURNS jsonb
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $erase_visitor$
    SELECT onevault_tracking_proxy.combined_answer(array_agg(a))
      FROM onevault_tracking_proxy.on_all_shards_erase_visitor(p_tenant_hk, p_visitor_hash) AS a
$erase_visitor$;

CREATE FUNCTION api.erase_session(p_tenant_hk bytea, p_session_id text)
RETURNS jsonb
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $erase_session$
    SELECT onevault_tracking_proxy.combined_answer(array_agg(a))
      FROM onevault_tracking_proxy.on_all_shards_erase_session(p_tenant_hk, p_session_id) AS a
$erase_session$;

CREATE FUNCTION api.purge_expired_data(
    p_raw_retention_days integer DEFAULT NULL, p_rate_limit_retention_hours integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $purge_expired_data$
    SELECT onevault_tracking_proxy.combined_answer(array_agg(a))
      FROM onevault_tracking_proxy.on_all_shards_purge_expired_data(p_raw_retention_days, p_rate_limit_retention_hours) AS a
$purge_expired_data$;

-- Moving a site between shards -------------------------------------------------------------------

-- One copy of a site from shard to shard, phase after phase (site, events, staging), batch after
-- batch: answers the rows loaded per table (rows the new shard had already count 0).
CREATE FUNCTION onevault_tracking_proxy.copy_site(
    p_from_shard integer, p_to_shard integer, p_tenant_hk bytea, p_site_domain text, p_batch_size integer)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $copy_site$
DECLARE
    phase text;
    cursor_at text;
    batch jsonb;
    loaded jsonb := '{}';
BEGIN
    FOREACH phase IN ARRAY ARRAY['site', 'events', 'staging'] LOOP
        cursor_at := NULL;
        LOOP
            batch := onevault_tracking_proxy.on_shard_site_transfer_batch(
                p_from_shard, p_tenant_hk, p_site_domain, phase, cursor_at, p_batch_size);
            loaded := onevault_tracking_proxy.combined_answer(
                ARRAY[loaded, onevault_tracking_proxy.on_shard_site_transfer_load(p_to_shard, batch)]) - 'shards' - 'success';
            cursor_at := batch ->> 'next';
            EXIT WHEN cursor_at IS NULL;
        END LOOP;
    END LOOP;
    RETURN loaded;
END
$copy_site$;

-- CALL onevault_tracking_proxy.move_site(tenant_hk, domain, to_shard): moves a site with all
-- its keys, events, sessions and pages, and commits between steps, so a failed move resumes
-- where it stopped when called again:
--   1. copy everything to the new shard while tracking goes on to the old one;
--   2. switch the site to the new shard (committed: every call from then on goes there);
--   3. on the old shard, wait for the calls routed there before the switch, and process them;
--   4. copy again (what arrived meanwhile; what the first copy already brought stays);
--   5. rebuild the site's rollups on the new shard;
--   6. verify: the new shard holds every event, raw and staging row the old one holds (counted
--      without the events it stored itself since the switch), and at least its pages, sessions
--      and keys; the old shard has nothing left to process;
--   7. delete the site from the old shard.
-- p_report answers the counts. No SET clause: a procedure with one cannot commit.
CREATE PROCEDURE onevault_tracking_proxy.move_site(
    p_tenant_hk bytea, p_site_domain text, p_to_shard integer, p_batch_size integer DEFAULT 5000,
    INOUT p_report jsonb DEFAULT NULL)
LANGUAGE plpgsql
AS $move_site$
DECLARE
    site onevault_tracking_proxy.sites := onevault_tracking_proxy.placed_site(p_tenant_hk, p_site_domain);
    from_shard integer;
    tenant_bk text;
    first_copy jsonb;
    second_copy jsonb;
    settled jsonb;
    rebuilt jsonb;
    old_counts jsonb;
    new_counts jsonb;
    deleted jsonb;
BEGIN
    IF site.shard IS NULL THEN
        RAISE EXCEPTION 'site "%" of this tenant is not placed on any shard', p_site_domain
            USING ERRCODE = 'P0002', HINT = 'onevault_tracking_proxy.placement_overview lists the sites.';
    END IF;
    IF p_to_shard IS NULL OR p_to_shard < 0 OR p_to_shard >= onevault_tracking_proxy.shard_count() THEN
        RAISE EXCEPTION 'shard % does not exist', p_to_shard
            USING ERRCODE = '22023', HINT = 'Shards are numbered from 0 in the order onevault_tracking_proxy.add_shards added them.';
    END IF;
    IF p_batch_size IS NULL OR p_batch_size NOT BETWEEN 100 AND 100000 THEN
        RAISE EXCEPTION 'p_batch_size must be 100 to 100000' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM onevault_tracking_proxy.sites AS s
                WHERE s.site_domain = site.site_domain AND s.tenant_hk <> site.tenant_hk) THEN
        RAISE EXCEPTION 'domain "%" is a site of more than one tenant', site.site_domain
            USING ERRCODE = '55000', HINT = 'Sites of one domain stay on one shard (routing by domain finds them there).';
    END IF;
    -- A resumed move after the switch: the site is on the new shard, the old one is moving_to's past.
    IF site.shard = p_to_shard AND site.moving_to IS NULL THEN
        p_report := jsonb_build_object('site', site.site_domain, 'shard', p_to_shard, 'moved', false);
        RETURN;
    END IF;
    IF site.moving_to IS NOT NULL AND site.moving_to <> p_to_shard AND site.shard <> p_to_shard THEN
        RAISE EXCEPTION 'an earlier move of site "%" is unfinished', site.site_domain
            USING ERRCODE = '55000',
                  HINT = 'Finish it first: call move_site with the shard it was moving to (placement_overview: moving_to before the switch, shard after it).';
    END IF;
    SELECT t.tenant_bk INTO tenant_bk FROM onevault_tracking_proxy.tenants AS t WHERE t.tenant_hk = p_tenant_hk;

    IF site.shard <> p_to_shard THEN
        from_shard := site.shard;
        UPDATE onevault_tracking_proxy.sites AS s SET moving_to = p_to_shard
         WHERE s.tenant_hk = site.tenant_hk AND s.site_domain = site.site_domain;
        COMMIT;
        PERFORM onevault_tracking_proxy.on_shard_provision_tenant(p_to_shard, p_tenant_hk, tenant_bk);
        -- 1. The first copy, while the old shard keeps tracking.
        first_copy := onevault_tracking_proxy.copy_site(from_shard, p_to_shard, p_tenant_hk, site.site_domain, p_batch_size);
        -- 2. The switch.
        UPDATE onevault_tracking_proxy.sites AS s SET shard = p_to_shard, moving_to = from_shard
         WHERE s.tenant_hk = site.tenant_hk AND s.site_domain = site.site_domain;
        COMMIT;
    ELSE
        -- Resumed after the switch: moving_to holds the old shard.
        from_shard := site.moving_to;
    END IF;

    -- 3. The old shard settles.
    settled := onevault_tracking_proxy.on_shard_settle_before_move(from_shard, 60);
    -- 4. The second copy.
    second_copy := onevault_tracking_proxy.copy_site(from_shard, p_to_shard, p_tenant_hk, site.site_domain, p_batch_size);
    -- 5. Rollups from the moved events.
    rebuilt := onevault_tracking_proxy.on_shard_rebuild_rollups(p_to_shard, p_tenant_hk, site.site_domain);
    -- 6. Verification.
    old_counts := onevault_tracking_proxy.on_shard_site_transfer_counts(from_shard, p_tenant_hk, site.site_domain, NULL);
    new_counts := onevault_tracking_proxy.on_shard_site_transfer_counts(p_to_shard, p_tenant_hk, site.site_domain, p_to_shard);
    IF (old_counts ->> 'unprocessed')::bigint > 0
       OR EXISTS (SELECT 1 FROM unnest(ARRAY['events', 'event_details', 'staged', 'raw']) AS k (key)
                   WHERE (old_counts ->> k.key)::bigint <> (new_counts ->> k.key)::bigint)
       OR EXISTS (SELECT 1 FROM unnest(ARRAY['pages', 'sessions', 'api_keys']) AS k (key)
                   WHERE (old_counts ->> k.key)::bigint > (new_counts ->> k.key)::bigint) THEN
        RAISE EXCEPTION 'site "%" did not arrive whole on shard %: old shard %, new shard %',
                        site.site_domain, p_to_shard, old_counts, new_counts
            USING ERRCODE = '55000',
                  HINT = 'Nothing was deleted. Tracking goes to the new shard already; call move_site again to copy and verify again.';
    END IF;
    -- 7. Deletion from the old shard.
    deleted := onevault_tracking_proxy.on_shard_delete_site_data(from_shard, p_tenant_hk, site.site_domain);
    UPDATE onevault_tracking_proxy.sites AS s SET moving_to = NULL
     WHERE s.tenant_hk = site.tenant_hk AND s.site_domain = site.site_domain;
    COMMIT;
    p_report := jsonb_build_object('site', site.site_domain, 'from_shard', from_shard, 'to_shard', p_to_shard,
                                   'moved', true, 'first_copy', first_copy, 'settled', settled, 'second_copy', second_copy,
                                   'rollups', rebuilt, 'verified', old_counts, 'deleted', deleted -> 'deleted');
END
$move_site$;

-- Who may call what: the same roles as on a shard (created there by the extension; here when absent).
DO $roles$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['onevault_tracking_ingest', 'onevault_tracking_admin',
                                     'onevault_tracking_reader'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', role_name);
        END IF;
    END LOOP;
END
$roles$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA onevault_tracking_proxy, api, raw FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA onevault_tracking_proxy FROM PUBLIC;
GRANT USAGE ON SCHEMA api, raw, onevault_tracking_proxy
    TO onevault_tracking_ingest, onevault_tracking_admin, onevault_tracking_reader;
GRANT EXECUTE ON FUNCTION
    api.track_page_view(text, text, text, text, inet, text, text, text, text, timestamptz, jsonb, boolean, boolean),
    api.track_custom_event(text, text, text, jsonb, text, text, inet, text, text, text, text, timestamptz, boolean, boolean),
    api.track_site_event(inet, text, text, character varying, jsonb)
TO onevault_tracking_ingest;
GRANT EXECUTE ON FUNCTION
    api.register_site(bytea, text, text, text[], text, jsonb),
    api.create_api_key(bytea, text, text, text[], timestamptz, integer),
    api.revoke_api_key(bytea, text),
    api.erase_visitor(bytea, bytea),
    api.erase_session(bytea, text),
    api.purge_expired_data(integer, integer),
    raw.batch_ingest_tracking_events(bytea, bytea, inet, text, jsonb),
    raw.ingest_tracking_event(bytea, bytea, inet, text, jsonb),
    raw.get_ingestion_stats(bytea, integer)
TO onevault_tracking_admin;
GRANT EXECUTE ON FUNCTION
    api.site_stats(text, timestamptz, timestamptz, boolean, jsonb, boolean),
    api.site_breakdown(text, text, timestamptz, timestamptz, integer, boolean, jsonb),
    api.site_timeseries(text, timestamptz, timestamptz, text, boolean, jsonb),
    api.current_visitors(text, boolean),
    api.export_events(text, timestamptz, timestamptz, integer),
    api.export_report(text, timestamptz, timestamptz, text, jsonb, integer, boolean),
    api.tenant_site_stats(timestamptz, timestamptz, boolean)
TO onevault_tracking_reader;
GRANT onevault_tracking_reader TO onevault_tracking_admin;
-- Routing runs as the caller: every caller reads the placement and calls the shards (the shard
-- calls need USAGE on the server, granted by add_shards), and administrators keep the placement.
-- add_shards, register_tenant, copy_site and move_site stay the owner's (a superuser's: servers).
GRANT SELECT ON ALL TABLES IN SCHEMA onevault_tracking_proxy
    TO onevault_tracking_ingest, onevault_tracking_admin, onevault_tracking_reader;
GRANT INSERT, UPDATE, DELETE ON onevault_tracking_proxy.sites, onevault_tracking_proxy.domains,
    onevault_tracking_proxy.api_keys TO onevault_tracking_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA onevault_tracking_proxy
    TO onevault_tracking_ingest, onevault_tracking_admin, onevault_tracking_reader;
REVOKE EXECUTE ON FUNCTION onevault_tracking_proxy.add_shards(text[]),
    onevault_tracking_proxy.register_tenant(bytea, text),
    onevault_tracking_proxy.copy_site(integer, integer, bytea, text, integer)
    FROM onevault_tracking_ingest, onevault_tracking_admin, onevault_tracking_reader;
REVOKE EXECUTE ON PROCEDURE onevault_tracking_proxy.move_site(bytea, text, integer, integer, jsonb)
    FROM onevault_tracking_ingest, onevault_tracking_admin, onevault_tracking_reader;
