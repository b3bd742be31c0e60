-- =====================================================================================
-- onevault_core_replica.sql
--
-- A REPLICA of the subset of the One Vault platform core that onevault_tracking plugs
-- into (schemas util, auth, audit, metadata; see docs/onevault-core.md, which is
-- authoritative for every name, signature, column and behaviour reproduced here).
--
-- Purpose: standalone installs, tests and the demo, so the extension can be developed
-- without the real platform. It is NOT part of the extension and the extension must
-- never create or redefine these objects itself.
--
-- Load (as a superuser), before CREATE EXTENSION onevault_tracking:
--     psql -1 -v ON_ERROR_STOP=1 -f sql/onevault_core_replica.sql
--
-- Properties:
--   * Re-running it on a database that already has it succeeds and changes nothing
--     (IF NOT EXISTS / CREATE OR REPLACE everywhere; seed rows only when missing).
--   * No transaction control and no psql meta-commands, so test builds of the extension can
--     embed it (see src/lib.rs); -1 makes the psql load atomic.
--   * Creates NO tenant rows: tests and the demo create their own.
--   * Faithful, not better: the bodies behave as the platform's do (checked against its
--     2025-07-09 dump), traps included. util.hash_binary calls DIGEST unqualified and no
--     util function pins its search_path, so they work only when the CALLER's search_path
--     reaches pgcrypto's schema; pgcrypto is created in public, as on the platform.
-- =====================================================================================

CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA public;

CREATE SCHEMA IF NOT EXISTS util;
CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS audit;
CREATE SCHEMA IF NOT EXISTS metadata;

-- -------------------------------------------------------------------------------------
-- util.hash_binary(input text) -> SHA-256 of the UTF-8 bytes (32 raw bytes).
-- As on the platform: DIGEST unqualified, no SET search_path (the caller's path decides
-- whether pgcrypto is found; a pinned pg_catalog-only path gets 42883), and a hex round trip.
-- -------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION util.hash_binary(input text)
RETURNS bytea
LANGUAGE sql
IMMUTABLE
AS $fn$
    SELECT DECODE(ENCODE(DIGEST(input, 'sha256'), 'hex'), 'hex');
$fn$;

-- util.hash_concat(VARIADIC text[]) = hash_binary(array_to_string(args, ' | '))
-- (array_to_string silently skips NULL elements).
CREATE OR REPLACE FUNCTION util.hash_concat(VARIADIC args text[])
RETURNS bytea
LANGUAGE sql
IMMUTABLE
AS $fn$
    SELECT util.hash_binary(array_to_string(args, ' | '));
$fn$;

-- util.current_load_date(): the transaction start time (same value within a transaction).
CREATE OR REPLACE FUNCTION util.current_load_date()
RETURNS timestamptz
LANGUAGE sql
STABLE
AS $fn$
    SELECT CURRENT_TIMESTAMP
$fn$;

-- -------------------------------------------------------------------------------------
-- metadata.record_source (needed before util.get_record_source, whose body reads it)
-- -------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS metadata.record_source (
    record_source_hk    bytea        PRIMARY KEY,
    record_source_code  varchar(50)  NOT NULL UNIQUE
                                     CHECK (record_source_code ~ '^[a-z_]+$'),
    record_source_name  varchar(100),
    description         text,
    is_active           boolean      DEFAULT true,
    load_date           timestamptz  DEFAULT util.current_load_date(),
    record_source       varchar(100) DEFAULT 'system'
);

-- util.get_record_source(): 'web_application' when an active row with that code exists,
-- else 'system'.
CREATE OR REPLACE FUNCTION util.get_record_source()
RETURNS varchar
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_code varchar(100);
BEGIN
    SELECT rs.record_source_code INTO v_code
      FROM metadata.record_source rs
     WHERE rs.record_source_code = 'web_application' AND rs.is_active = true
     LIMIT 1;
    RETURN coalesce(v_code, 'system');
END
$fn$;

-- -------------------------------------------------------------------------------------
-- auth
-- -------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS auth.tenant_h (
    tenant_hk      bytea         PRIMARY KEY,
    tenant_bk      varchar(255)  NOT NULL,          -- deliberately NOT unique
    load_date      timestamptz   DEFAULT util.current_load_date(),
    record_source  varchar(100)  NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_tenant_h_tenant_isolation ON auth.tenant_h (tenant_hk);

CREATE TABLE IF NOT EXISTS auth.user_h (
    user_hk        bytea         PRIMARY KEY,
    user_bk        varchar(255)  NOT NULL,
    tenant_hk      bytea         NOT NULL REFERENCES auth.tenant_h (tenant_hk),
    load_date      timestamptz   DEFAULT util.current_load_date(),
    record_source  varchar(100)  NOT NULL
);

CREATE TABLE IF NOT EXISTS auth.user_auth_s (
    user_hk                bytea         NOT NULL REFERENCES auth.user_h (user_hk),
    load_date              timestamptz   NOT NULL DEFAULT util.current_load_date(),
    load_end_date          timestamptz,
    hash_diff              bytea         NOT NULL,
    username               varchar(100)  NOT NULL,
    password_hash          bytea         NOT NULL,
    password_salt          bytea         NOT NULL,
    last_login_date        timestamptz,
    password_last_changed  timestamptz,
    failed_login_attempts  integer       DEFAULT 0,
    account_locked         boolean       DEFAULT false,
    account_locked_until   timestamptz,
    must_change_password   boolean       DEFAULT false,
    password_reset_token   varchar(255),
    password_reset_expiry  timestamptz,
    record_source          varchar(100)  NOT NULL,
    PRIMARY KEY (user_hk, load_date)
);

CREATE TABLE IF NOT EXISTS auth.security_tracking_h (
    security_tracking_hk  bytea         PRIMARY KEY,
    security_tracking_bk  varchar(255)  NOT NULL,
    tenant_hk             bytea         NOT NULL REFERENCES auth.tenant_h (tenant_hk),
    load_date             timestamptz   DEFAULT util.current_load_date(),
    record_source         varchar(100)  NOT NULL DEFAULT util.get_record_source(),
    CONSTRAINT uk_security_tracking_h_bk_tenant UNIQUE (security_tracking_bk, tenant_hk)
);
CREATE INDEX IF NOT EXISTS idx_security_tracking_h_tenant_isolation ON auth.security_tracking_h (tenant_hk);

-- The rate-limit state lives here. There are NO columns user_agent or
-- suspicious_activity_score (the upstream attempt wrote to those and failed every call).
CREATE TABLE IF NOT EXISTS auth.ip_tracking_s (
    security_tracking_hk         bytea         NOT NULL
                                               REFERENCES auth.security_tracking_h (security_tracking_hk),
    load_date                    timestamptz   NOT NULL DEFAULT util.current_load_date(),
    load_end_date                timestamptz,
    hash_diff                    bytea         NOT NULL,
    ip_address                   inet          NOT NULL,
    request_count                integer       NOT NULL DEFAULT 1,
    first_request_time           timestamptz   NOT NULL,
    last_request_time            timestamptz   NOT NULL,
    is_blocked                   boolean       NOT NULL DEFAULT false,
    block_reason                 text,
    suspicious_activity_flag     boolean       NOT NULL DEFAULT false,
    suspicious_activity_details  jsonb,
    geographic_location          varchar(100),
    record_source                varchar(100)  NOT NULL DEFAULT util.get_record_source(),
    PRIMARY KEY (security_tracking_hk, load_date),
    CONSTRAINT ip_tracking_s_block_reason_check
        CHECK ((is_blocked = false AND block_reason IS NULL) OR (is_blocked = true AND block_reason IS NOT NULL)),
    CONSTRAINT ip_tracking_s_request_time_check
        CHECK (last_request_time >= first_request_time),
    CONSTRAINT ip_tracking_s_request_count_check
        CHECK (request_count > 0),
    CONSTRAINT ip_tracking_s_load_end_date_check
        CHECK (load_end_date IS NULL OR load_end_date > load_date)
);

CREATE INDEX IF NOT EXISTS idx_ip_tracking_s_ip_time_active
    ON auth.ip_tracking_s (ip_address, last_request_time DESC)
    WHERE load_end_date IS NULL;

-- -------------------------------------------------------------------------------------
-- audit
-- -------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS audit.audit_event_h (
    audit_event_hk  bytea         PRIMARY KEY,
    audit_event_bk  varchar(255),
    tenant_hk       bytea         REFERENCES auth.tenant_h (tenant_hk),   -- nullable
    load_date       timestamptz   DEFAULT util.current_load_date(),
    record_source   varchar(100)
);
CREATE INDEX IF NOT EXISTS idx_audit_event_h_tenant_isolation ON audit.audit_event_h (tenant_hk);

CREATE TABLE IF NOT EXISTS audit.audit_detail_s (
    audit_event_hk  bytea         NOT NULL,
    load_date       timestamptz   NOT NULL DEFAULT util.current_load_date(),
    load_end_date   timestamptz,
    hash_diff       bytea,
    table_name      varchar(100),
    operation       varchar(100),
    changed_by      varchar(255),
    old_data        jsonb,
    new_data        jsonb,
    PRIMARY KEY (audit_event_hk, load_date)
);

-- -------------------------------------------------------------------------------------
-- util.log_audit_event: reproduces the platform behaviour, including its traps:
--   * no SET search_path, and it calls util.hash_binary (unqualified DIGEST): it works only
--     when the caller's search_path reaches pgcrypto; otherwise success=false, 42883;
--   * the key depends only on (event_type, resource_type, resource_id, transaction
--     start time), so a second call with the same three values in one transaction hits
--     the audit_detail_s primary key and returns success=false / error_code 23505;
--   * tenant attribution: actor's user tenant, else details->>'tenant_id' (hex), else
--     the OLDEST tenant; an error anywhere in that lookup (tenant_id not hex) leaves the
--     tenant NULL;
--   * over-long event/resource type (>100) or actor (>255) make the insert fail;
--   * without the audit tables (as pg_tables lists them) it warns and answers success=false;
--   * it never raises: any error returns success=false and (exception block =
--     subtransaction) leaves no partial rows.
-- -------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION util.log_audit_event(
    p_event_type     text,
    p_resource_type  text,
    p_resource_id    text,
    p_actor          text,
    p_event_details  jsonb DEFAULT '{}'
)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
AS $fn$
DECLARE
    v_audit_event_bk  text;
    v_audit_event_hk  bytea;
    v_tenant_hk       bytea;
    v_load_date       timestamptz;
    v_record_source   varchar(100);
BEGIN
    v_load_date      := util.current_load_date();
    v_record_source  := util.get_record_source();
    v_audit_event_bk := p_event_type || '_' || p_resource_type || '_'
                        || coalesce(p_resource_id, 'UNKNOWN') || '_'
                        || extract(epoch FROM v_load_date)::text;
    v_audit_event_hk := util.hash_binary(v_audit_event_bk);

    BEGIN
        -- (1) tenant of the user whose current credentials carry username = p_actor
        SELECT uh.tenant_hk
          INTO v_tenant_hk
          FROM auth.user_h uh
          JOIN auth.user_auth_s uas ON uas.user_hk = uh.user_hk
         WHERE uas.username = p_actor
           AND uas.load_end_date IS NULL
         ORDER BY uas.load_date DESC
         LIMIT 1;
        -- (2) tenant_id (hex of tenant_hk) passed in the details
        IF v_tenant_hk IS NULL AND p_event_details ? 'tenant_id' THEN
            v_tenant_hk := decode(p_event_details ->> 'tenant_id', 'hex');
        END IF;
        -- (3) fallback: the OLDEST tenant
        IF v_tenant_hk IS NULL THEN
            SELECT th.tenant_hk INTO v_tenant_hk
              FROM auth.tenant_h th
             ORDER BY th.load_date ASC
             LIMIT 1;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        v_tenant_hk := NULL;
    END;

    IF NOT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'audit' AND tablename = 'audit_event_h') THEN
        RAISE WARNING 'Audit tables do not exist. Event: % by % on %:% - Details: %',
            p_event_type, p_actor, p_resource_type, p_resource_id, p_event_details;
        RETURN jsonb_build_object(
            'success', false, 'message', 'Audit tables do not exist',
            'warning', 'Event logged to PostgreSQL log instead',
            'event_type', p_event_type, 'actor', p_actor,
            'resource_type', p_resource_type, 'resource_id', p_resource_id);
    END IF;

    INSERT INTO audit.audit_event_h (
        audit_event_hk, audit_event_bk, tenant_hk, load_date, record_source
    ) VALUES (
        v_audit_event_hk, v_audit_event_bk, v_tenant_hk, v_load_date, v_record_source
    )
    ON CONFLICT (audit_event_hk) DO NOTHING;

    -- Plain INSERT on purpose (platform behaviour): a duplicate key raises 23505.
    IF EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'audit' AND tablename = 'audit_detail_s') THEN
        INSERT INTO audit.audit_detail_s (
            audit_event_hk, load_date, hash_diff,
            table_name, operation, changed_by, old_data, new_data
        ) VALUES (
            v_audit_event_hk, v_load_date,
            util.hash_binary(v_audit_event_bk || p_event_type || v_load_date::text),
            p_resource_type, p_event_type, p_actor, NULL, p_event_details
        );
    END IF;

    RETURN jsonb_build_object(
        'success',        true,
        'message',        'Audit event logged successfully',
        'audit_event_hk', encode(v_audit_event_hk, 'hex'),
        'audit_event_bk', v_audit_event_bk
    );
EXCEPTION WHEN OTHERS THEN
    RETURN jsonb_build_object(
        'success',       false,
        'message',       'Error logging audit event',
        'error_code',    SQLSTATE,
        'error_message', SQLERRM,
        'event_type',    p_event_type,
        'actor',         p_actor
    );
END
$fn$;

-- -------------------------------------------------------------------------------------
-- Seed record sources (only the ones that are missing). Never any tenant rows.
-- -------------------------------------------------------------------------------------
INSERT INTO metadata.record_source (
    record_source_hk, record_source_code, record_source_name, description, is_active
)
SELECT util.hash_binary(v.code), v.code, v.name, v.description, true
  FROM (VALUES
          ('web_application', 'Web Application',
           'Default record source reported by util.get_record_source() while active'),
          ('system', 'System',
           'Fallback record source for system-generated records')
       ) AS v (code, name, description)
ON CONFLICT DO NOTHING;
