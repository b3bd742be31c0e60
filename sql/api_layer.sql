-- The API layer: what callers use. Native functions (src/api.rs, src/ratelimit.rs).

-- API keys are looked up by the hash of the presented key.
CREATE INDEX api_key_details_s_key_hash_idx
    ON business.api_key_details_s (key_hash) WHERE load_end_date IS NULL;

-- Administration: sites and keys.
CREATE FUNCTION api.register_site(
    p_tenant_hk bytea, p_site_domain text, p_site_name text,
    p_allowed_domains text[] DEFAULT NULL, p_timezone text DEFAULT 'UTC', p_settings jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'register_site_wrapper';

CREATE FUNCTION api.create_api_key(
    p_tenant_hk bytea, p_site_domain text, p_key_name text,
    p_scopes text[] DEFAULT ARRAY['track'], p_expires_at timestamptz DEFAULT NULL,
    p_rate_limit_per_minute integer DEFAULT NULL)
RETURNS jsonb LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'create_api_key_wrapper';

CREATE FUNCTION api.revoke_api_key(p_tenant_hk bytea, p_key_prefix text)
RETURNS jsonb LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'revoke_api_key_wrapper';

-- Tracking. p_do_not_track / p_global_privacy_control carry the browser's DNT and Sec-GPC
-- signals; the site's "privacy_signals" setting decides what they do (README, privacy).
CREATE FUNCTION api.track_page_view(
    p_api_key text, p_site_domain text, p_page_path text, p_user_agent text, p_client_ip inet,
    p_referrer text DEFAULT NULL, p_page_title text DEFAULT NULL, p_session_id text DEFAULT NULL,
    p_event_id text DEFAULT NULL, p_event_timestamp timestamptz DEFAULT NULL,
    p_properties jsonb DEFAULT NULL,
    p_do_not_track boolean DEFAULT NULL, p_global_privacy_control boolean DEFAULT NULL)
RETURNS jsonb LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'track_page_view_wrapper';

CREATE FUNCTION api.track_custom_event(
    p_api_key text, p_site_domain text, p_event_name text, p_event_properties jsonb,
    p_page_path text, p_user_agent text, p_client_ip inet,
    p_referrer text DEFAULT NULL, p_page_title text DEFAULT NULL, p_session_id text DEFAULT NULL,
    p_event_id text DEFAULT NULL, p_event_timestamp timestamptz DEFAULT NULL,
    p_do_not_track boolean DEFAULT NULL, p_global_privacy_control boolean DEFAULT NULL)
RETURNS jsonb LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'track_custom_event_wrapper';

-- Rate limiting, with its state in the platform's auth.ip_tracking_s.
CREATE FUNCTION api.check_rate_limit(
    p_tenant_hk bytea, p_client_ip inet, p_limit integer DEFAULT NULL, p_window_seconds integer DEFAULT 60)
RETURNS jsonb LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'check_rate_limit_wrapper';

-- Audit of a tracking attempt through util.log_audit_event.
CREATE FUNCTION api.log_tracking_attempt(
    p_tenant_hk bytea, p_outcome text, p_error_code text DEFAULT NULL, p_api_key_prefix text DEFAULT NULL,
    p_client_ip inet DEFAULT NULL, p_details jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'log_tracking_attempt_wrapper';

-- Privacy: retention and erasure (src/privacy.rs).
CREATE FUNCTION api.purge_expired_data(
    p_raw_retention_days integer DEFAULT NULL, p_rate_limit_retention_hours integer DEFAULT NULL)
RETURNS jsonb LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'purge_expired_data_wrapper';

CREATE FUNCTION api.erase_visitor(p_tenant_hk bytea, p_visitor_hash bytea)
RETURNS jsonb LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'erase_visitor_wrapper';

CREATE FUNCTION api.erase_session(p_tenant_hk bytea, p_session_id text)
RETURNS jsonb LANGUAGE c VOLATILE
SECURITY DEFINER
AS 'MODULE_PATHNAME', 'erase_session_wrapper';
