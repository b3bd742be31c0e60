//! The tracking calls: `api.track_page_view`, `api.track_custom_event`,
//! `api.log_tracking_attempt`.
//!
//! A tracking call, in one transaction: the key is looked up by its hash and checked (active, not
//! expired, allowed to track, bound to a site that serves the requested domain); the client is
//! counted by the rate limiter; the event lands in raw and, unless a background worker serves the
//! database (the fast path of the default `onevault_tracking.api_processing = auto`: the worker
//! takes it on within moments, woken by the commit), is staged and loaded into the vault in the
//! call; one audit record describes the attempt. Failures answer `success: false` with a stable
//! `error_code`. A refused key is counted too (`refuse_attempt`), and audited within a bound per
//! client and window, as are the calls over a limit; every other attempt is audited. Internal
//! errors raise instead of answering success.

use crate::api::ratelimit;
use crate::pipeline::process::process_landed;
use crate::pipeline::raw::{land_event, Landing, Sender};
use crate::platform::audit::{self, AuditEvent};
use crate::platform::tenant::ensure_tenant;
use crate::postgres::error::{required, OrInternal, TrackingError};
use crate::postgres::json;
use crate::postgres::random::strong_random;
use crate::postgres::settings::{self, ApiProcessing};
use crate::postgres::spi::{self};
use crate::privacy::salts;
use crate::privacy::signals::{self, Honouring};
use crate::worker::wake;
use onevault_tracking_core::domain::site_business_key;
use onevault_tracking_core::hashing::{hash_binary, to_hex};
use onevault_tracking_core::ip::{anonymize, parse_inet};
use onevault_tracking_core::site_settings::{self, PrivacySignals, SiteSettings};
use onevault_tracking_core::validate::{validate, PAGE_PATH_MAX_BYTES};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::AnyElement;
use pgrx::{Inet, JsonB};
use serde_json::{json, Map, Value};
use std::net::IpAddr;
use time::OffsetDateTime;

/// The tracking calls' rate-limit window: limits are per minute.
const RATE_LIMIT_WINDOW_SECONDS: i32 = 60;

/// Longest API key accepted for lookup (a real one is 77 characters).
const API_KEY_MAX_CHARS: usize = 200;

/// What a tracking call brings.
pub struct TrackRequest<'a> {
    pub api_key: Option<&'a str>,
    pub site_domain: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub client_ip: Option<Inet>,
    /// The payload in the vocabulary, without the page (added from the site domain and path).
    pub payload: Map<String, Value>,
    pub page_path: Option<&'a str>,
    /// The privacy signal the browser sent, if any: the reason code a dropped event answers.
    pub opt_out: Option<&'static str>,
}
/// (`api.track_site_event`, which carries no key).
pub struct TrackGrant {
    pub tenant_hk: Vec<u8>,
    pub api_key_hk: Option<Vec<u8>>,
    pub key_prefix: Option<String>,
    pub site_domain: String,
    pub rate_limit: i32,
    pub privacy_signals: PrivacySignals,
}

impl TrackGrant {
    /// The limit is the key's own, else the site's setting, else `onevault_tracking.rate_limit_per_minute`.
    pub fn new(
        tenant_hk: Vec<u8>,
        api_key_hk: Option<Vec<u8>>,
        key_prefix: Option<String>,
        site_domain: String,
        key_limit: Option<i32>,
        site: SiteSettings,
    ) -> Self {
        TrackGrant {
            tenant_hk,
            api_key_hk,
            key_prefix,
            site_domain,
            rate_limit: key_limit
                .or(site.rate_limit_per_minute)
                .unwrap_or_else(settings::rate_limit_per_minute),
            privacy_signals: site.privacy_signals.unwrap_or(PrivacySignals::Ignore),
        }
    }
}

/// A failure answer: `success: false` with a stable code, a message, and extra fields.
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    pub extra: Map<String, Value>,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// `RATE_LIMITED`, with when to retry and the limiter's counts.
    pub fn rate_limited(verdict: &ratelimit::Verdict) -> Self {
        Refusal::new(
            "RATE_LIMITED",
            "too many requests from this client; retry later",
        )
        .with("retry_after", verdict.retry_after.into())
        .with("rate_limit", verdict.to_json())
    }

    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.extra.insert(name.into(), value);
        self
    }

    pub fn to_json(&self) -> Value {
        let mut answer = self.extra.clone();
        answer.insert("success".into(), false.into());
        answer.insert("error_code".into(), self.code.into());
        answer.insert("message".into(), self.message.clone().into());
        Value::Object(answer)
    }
}

fn check_key(
    client: &mut SpiClient<'_>,
    api_key: Option<&str>,
    site_domain: Option<&str>,
) -> Result<TrackGrant, (Refusal, Option<Vec<u8>>)> {
    let api_key = api_key.unwrap_or("");
    if api_key.is_empty() || api_key.chars().count() > API_KEY_MAX_CHARS {
        return Err((
            Refusal::new("INVALID_API_KEY", "no valid API key was presented"),
            None,
        ));
    }
    let found = spi::execute(
        client,
        "SELECT h.tenant_hk, h.api_key_hk, d.key_prefix, d.scopes, d.rate_limit_per_minute,
                d.revoked_at IS NOT NULL, coalesce(d.expires_at <= now(), false),
                s.site_bk, coalesce(sd.allowed_domains, ARRAY[s.site_bk]), coalesce(sd.is_active, true),
                sd.settings
           FROM business.api_key_details_s AS d
           JOIN business.api_key_h AS h USING (api_key_hk)
           JOIN business.site_api_key_l AS l ON l.api_key_hk = h.api_key_hk
           JOIN business.site_h AS s ON s.site_hk = l.site_hk
           LEFT JOIN business.site_details_s AS sd ON sd.site_hk = s.site_hk AND sd.load_end_date IS NULL
          WHERE d.key_hash = $1 AND d.load_end_date IS NULL",
        &[hash_binary(api_key).to_vec().into()],
    )
    .or_internal("key lookup")
    .next()
    .map(|row| {
        (
            spi::column::<Vec<u8>>(&row, 1, "tenant_hk"),
            spi::column::<Vec<u8>>(&row, 2, "api_key_hk"),
            row.get::<String>(3).ok().flatten().unwrap_or_default(),
            row.get::<Vec<Option<String>>>(4).ok().flatten().unwrap_or_default(),
            row.get::<i32>(5).ok().flatten(),
            row.get::<bool>(6).ok().flatten().unwrap_or(false),
            row.get::<bool>(7).ok().flatten().unwrap_or(false),
            row.get::<String>(8).ok().flatten().unwrap_or_default(),
            row.get::<Vec<Option<String>>>(9).ok().flatten().unwrap_or_default(),
            row.get::<bool>(10).ok().flatten().unwrap_or(true),
            stored_settings(row.get::<JsonB>(11)),
        )
    });
    let Some((
        tenant_hk,
        api_key_hk,
        key_prefix,
        scopes,
        key_limit,
        revoked,
        expired,
        site_bk,
        allowed,
        active,
        site_settings,
    )) = found
    else {
        return Err((
            Refusal::new("INVALID_API_KEY", "the API key is not known"),
            None,
        ));
    };
    let tenant = Some(tenant_hk.clone());
    let with_prefix = |r: Refusal| r.with("key_prefix", key_prefix.clone().into());
    if revoked {
        return Err((
            with_prefix(Refusal::new("API_KEY_REVOKED", "the API key was revoked")),
            tenant,
        ));
    }
    if expired {
        return Err((
            with_prefix(Refusal::new("API_KEY_EXPIRED", "the API key has expired")),
            tenant,
        ));
    }
    if !scopes.iter().flatten().any(|s| s == "track") {
        return Err((
            with_prefix(Refusal::new("INVALID_API_KEY", "the API key may not track")),
            tenant,
        ));
    }
    let requested = site_domain.and_then(site_business_key);
    let allowed_here = requested
        .as_ref()
        .is_some_and(|d| allowed.iter().flatten().any(|a| a == d));
    if !active || !allowed_here {
        return Err((
            with_prefix(Refusal::new(
                "DOMAIN_MISMATCH",
                "the API key is not valid for this site domain",
            ))
            .with("site_domain", requested.into()),
            tenant,
        ));
    }
    // A key's own limit comes from create_api_key's checked argument; one outside the range
    // (written by hand) counts as not set, as a bad site setting does.
    let key_limit =
        key_limit.filter(|limit| site_settings::rate_limit_in_range((*limit).into()).is_ok());
    Ok(TrackGrant::new(
        tenant_hk,
        Some(api_key_hk),
        Some(key_prefix),
        site_bk,
        key_limit,
        site_settings,
    ))
}

/// A site's stored settings as the tracking path reads them: never an error (see
/// `site_settings::read_stored`); a settings value that is not even JSON counts as empty.
pub fn stored_settings(settings: Result<Option<JsonB>, pgrx::spi::SpiError>) -> SiteSettings {
    settings
        .ok()
        .flatten()
        .map(|JsonB(value)| site_settings::read_stored(&value))
        .unwrap_or_default()
}

/// The tenant owning a site domain when exactly one does: attribution for attempts with an
/// unknown key.
fn tenant_of_domain(client: &mut SpiClient<'_>, site_domain: Option<&str>) -> Option<Vec<u8>> {
    let domain = site_domain.and_then(site_business_key)?;
    let tenants: Vec<Vec<u8>> = spi::execute(
        client,
        "SELECT DISTINCT tenant_hk FROM business.site_h WHERE site_bk = $1 LIMIT 2",
        &[domain.into()],
    )
    .or_internal("site tenant lookup")
    .filter_map(|row| row.get::<Vec<u8>>(1).ok().flatten())
    .collect();
    (tenants.len() == 1).then(|| tenants.into_iter().next().or_internal("one"))
}

fn track(client: &mut SpiClient<'_>, request: TrackRequest<'_>) -> Value {
    let client_ip = request
        .client_ip
        .as_ref()
        .and_then(|Inet(text)| parse_inet(text));
    match check_key(client, request.api_key, request.site_domain) {
        Ok(grant) => track_granted(client, grant, request, client_ip),
        Err((refusal, tenant)) => {
            let tenant = tenant.or_else(|| tenant_of_domain(client, request.site_domain));
            refuse_attempt(client, tenant.as_deref(), refusal, client_ip, Map::new())
        }
    }
}

/// The rest of a tracking call once it is attributed: rate limit, privacy signal, landing,
/// processing and the audit record of the attempt.
pub fn track_granted(
    client: &mut SpiClient<'_>,
    grant: TrackGrant,
    request: TrackRequest<'_>,
    client_ip: Option<IpAddr>,
) -> Value {
    let key_prefix = grant.key_prefix.as_deref();
    let verdict = ratelimit::check(
        client,
        &grant.tenant_hk,
        client_ip,
        grant.rate_limit,
        RATE_LIMIT_WINDOW_SECONDS,
    );
    if !verdict.allowed {
        // The audit of calls over the limit is bounded as a refused key's is (a site's key is
        // public, so anyone can make them): only the call that crosses the limit is audited,
        // saying that the further calls of the window are counted, not audited.
        let refusal = Refusal::rate_limited(&verdict);
        if verdict.count == verdict.limit.saturating_add(1) {
            let mut details = Map::new();
            details.insert(
                "over_limit".into(),
                json!({
                    "count": verdict.count,
                    "limit": verdict.limit,
                    "window_start": verdict.window_start,
                    "window_seconds": RATE_LIMIT_WINDOW_SECONDS,
                    "counted_in": "auth.ip_tracking_s",
                    "bucket_scope": "ip",
                    "audit": "the limit is crossed: further calls of this client in this window \
                              are counted in auth.ip_tracking_s, not audited",
                }),
            );
            log_attempt(
                client,
                Some(&grant.tenant_hk),
                "rejected",
                Some(refusal.code),
                key_prefix,
                client_ip,
                details,
            );
        }
        return refusal.to_json();
    }

    let honouring = signals::honouring(request.opt_out, grant.privacy_signals);
    if let Honouring::Drop(reason) = honouring {
        log_attempt(
            client,
            Some(&grant.tenant_hk),
            "dropped",
            Some(reason),
            key_prefix,
            None,
            Map::new(),
        );
        return json!({"success": true, "dropped": true, "reason": reason,
                      "message": "the browser asked not to be tracked; nothing was stored"});
    }
    // Anonymised: nothing that identifies the visitor reaches the tables.
    let anonymise = honouring == Honouring::Anonymise;
    let (client_ip, identity) = if anonymise {
        (None, None)
    } else {
        (client_ip, request.client_ip)
    };
    let mut payload = request.payload;
    if anonymise {
        payload.remove("session_id");
    }
    match request.page_path {
        // A path over its limit stays a path, so validation names it (PAGE_PATH_TOO_LONG)
        // instead of the URL the API would have built from it.
        Some(path) if path.starts_with('/') && path.len() <= PAGE_PATH_MAX_BYTES => {
            payload.insert(
                "page_url".into(),
                format!("https://{}{path}", grant.site_domain).into(),
            );
        }
        Some(path) => {
            payload.insert("page_path".into(), path.into());
        }
        None => {}
    }
    let payload = Value::Object(payload);
    let processing = match settings::api_processing() {
        ApiProcessing::Auto if wake::workers_serving(client) => ApiProcessing::Deferred,
        ApiProcessing::Auto => ApiProcessing::Immediate,
        chosen => chosen,
    };
    let landing = match processing {
        ApiProcessing::Deferred => Landing::Pending,
        _ => Landing::TakenForProcessing,
    };
    let sender = Sender::new(
        Some(&grant.tenant_hk),
        grant.api_key_hk.as_deref(),
        identity,
        request.user_agent,
        salts::daily_salts,
    )
    .for_site(&grant.site_domain);
    let landed = land_event(client, &sender, &payload, landing);
    let landed = match landed {
        Ok(landed) => landed,
        Err(problem) => {
            let refusal = Refusal::new("INVALID_EVENT", problem.to_string()).with(
                "errors",
                json!([{"field": "", "code": problem.code(), "message": problem.to_string()}]),
            );
            log_attempt(
                client,
                Some(&grant.tenant_hk),
                "rejected",
                Some(refusal.code),
                key_prefix,
                client_ip,
                Map::new(),
            );
            return refusal.to_json();
        }
    };
    let (raw_event_id, duplicate) = (landed.raw_event_id, landed.duplicate);
    let mut details = Map::new();
    details.insert("raw_event_id".into(), raw_event_id.into());
    if duplicate {
        let refusal = Refusal::new(
            "DUPLICATE_EVENT",
            "an event with this event_id was already received",
        )
        .with("raw_event_id", raw_event_id.into());
        log_attempt(
            client,
            Some(&grant.tenant_hk),
            "duplicate",
            Some(refusal.code),
            key_prefix,
            client_ip,
            details,
        );
        return refusal.to_json();
    }

    let (answer, outcome) = match processing {
        ApiProcessing::Immediate | ApiProcessing::Auto => {
            let taken = landed
                .claimed
                .or_internal("a new event taken for processing");
            let (state, _) = process_landed(client, taken);
            if state["validation_status"] == "INVALID" {
                let refusal = Refusal::new(
                    "INVALID_EVENT",
                    "the event failed validation and was quarantined",
                )
                .with("errors", state["errors"].clone())
                .with("raw_event_id", raw_event_id.into());
                (refusal.to_json(), ("rejected", Some("INVALID_EVENT")))
            } else if state["status"] == "FAILED" {
                // The failure used the last attempt (onevault_tracking.max_processing_attempts):
                // the event is stored, but nothing will process it unless someone re-processes it.
                let refusal = Refusal::new(
                    "PROCESSING_FAILED",
                    "the event was stored but could not be processed, and no attempt is left; \
                     staging.reprocess_quarantined_events gives it a fresh start",
                )
                .with("raw_event_id", raw_event_id.into())
                .with("status", "FAILED".into());
                (refusal.to_json(), ("failed", Some("PROCESSING_FAILED")))
            } else if state["status"] != "PROCESSED" {
                // An unexpected processing failure is recorded on the raw row (ERROR) and the
                // drain retries it: the event is stored and will be processed, as a deferred
                // call's is, so it answers as one does, saying why.
                (
                    json!({"success": true, "raw_event_id": raw_event_id, "status": "PENDING",
                        "retry": true, "message": "stored; processing failed and will be retried by the drain"}),
                    ("accepted", None),
                )
            } else {
                (
                    json!({"success": true, "raw_event_id": raw_event_id, "status": "PROCESSED",
                        "staging_event_id": state["staging_event_id"], "session_id": state["session_id"],
                        "loaded_to_vault": state["loaded_to_vault"]}),
                    ("accepted", None),
                )
            }
        }
        ApiProcessing::Deferred => {
            wake::wake_at_commit(client);
            let validation = validate(&payload, OffsetDateTime::now_utc());
            if validation.is_valid() {
                (
                    json!({"success": true, "raw_event_id": raw_event_id, "status": "PENDING"}),
                    ("accepted", None),
                )
            } else {
                let refusal = Refusal::new(
                    "INVALID_EVENT",
                    "the event failed validation and will be quarantined",
                )
                .with("errors", validation.to_json()["errors"].clone())
                .with("raw_event_id", raw_event_id.into());
                (refusal.to_json(), ("rejected", Some("INVALID_EVENT")))
            }
        }
    };
    log_attempt(
        client,
        Some(&grant.tenant_hk),
        outcome.0,
        outcome.1,
        key_prefix,
        client_ip,
        details,
    );
    answer
}

/// Records a tracking attempt: on its tenant (`tenant_id` in the details), with the key's public
/// prefix and the anonymised client network, never the key or the full IP.
pub fn log_attempt(
    client: &mut SpiClient<'_>,
    tenant_hk: Option<&[u8]>,
    outcome: &str,
    error_code: Option<&str>,
    key_prefix: Option<&str>,
    client_ip: Option<IpAddr>,
    extra: Map<String, Value>,
) {
    let mut details: Map<String, Value> = extra
        .into_iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "api_key" | "p_api_key" | "client_ip" | "ip" | "tenant_id"
            )
        })
        .collect();
    details.insert("outcome".into(), outcome.into());
    details.insert("error_code".into(), error_code.into());
    details.insert("api_key_prefix".into(), key_prefix.into());
    details.insert(
        "client_network".into(),
        client_ip.map(|ip| anonymize(ip).to_string()).into(),
    );
    let event = AuditEvent {
        event_type: "TRACKING_ATTEMPT",
        resource_type: "api.tracking",
        resource_id: format!("attempt:{}", to_hex(&strong_random::<8>())),
        details,
    };
    match tenant_hk {
        Some(tenant) => audit::log(client, tenant, event),
        None => audit::log_unattributed(client, event),
    }
}

/// A refused attempt (a key that may not track here, a page no site claims): counted per client
/// in the limiter's bucket of refused attempts (`ratelimit::check_refused`: the tenant's
/// `refused-ip:<client>`, else `unattributed-ip:<client>` under the platform's default tenant),
/// at the default limit per minute; over it the answer is `RATE_LIMITED`. The audit is bounded:
/// the first refused attempt of a client in a window is audited, and the one that crosses the
/// limit, which says that the further attempts of the window are counted, not audited; both
/// carry the count and name the bucket and window of the `auth.ip_tracking_s` row that keeps
/// the exact count. Never the full IP: the bucket's business key holds it, so the record names
/// the scope, the anonymised client network and the window, which find that row.
pub fn refuse_attempt(
    client: &mut SpiClient<'_>,
    tenant_hk: Option<&[u8]>,
    refusal: Refusal,
    client_ip: Option<IpAddr>,
    mut details: Map<String, Value>,
) -> Value {
    let key_prefix = refusal
        .extra
        .get("key_prefix")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(counted) = ratelimit::check_refused(client, tenant_hk, client_ip) else {
        // No tenant at all to count under: nothing to bound by, every attempt is audited.
        log_attempt(
            client,
            tenant_hk,
            "rejected",
            Some(refusal.code),
            key_prefix.as_deref(),
            client_ip,
            details,
        );
        return refusal.to_json();
    };
    let verdict = &counted.verdict;
    let first = verdict.count == 1;
    let crossing = verdict.count == verdict.limit.saturating_add(1);
    let refused_as = refusal.code;
    let answer = if verdict.allowed {
        refusal
    } else {
        Refusal::rate_limited(verdict)
    };
    if first || crossing {
        let audit = if crossing {
            "the limit is crossed: further refused attempts of this client in this window are \
             counted in auth.ip_tracking_s, not audited"
        } else {
            "the first refused attempt of this client in this window: the others are counted in \
             auth.ip_tracking_s, and audited again only when the limit is crossed"
        };
        details.insert(
            "refused_attempts".into(),
            json!({
                "count": verdict.count,
                "limit": verdict.limit,
                "window_start": verdict.window_start,
                "window_seconds": ratelimit::REFUSED_WINDOW_SECONDS,
                "counted_in": "auth.ip_tracking_s",
                "bucket_scope": counted.scope,
                "bucket_tenant_id": to_hex(&counted.tenant_hk),
                "audit": audit,
            }),
        );
        if crossing {
            details.insert("refused_as".into(), refused_as.into());
        }
        log_attempt(
            client,
            tenant_hk,
            "rejected",
            Some(answer.code),
            key_prefix.as_deref(),
            client_ip,
            details,
        );
    }
    answer.to_json()
}

/// `api.log_tracking_attempt(p_tenant_hk, p_outcome, p_error_code, p_api_key_prefix,
/// p_client_ip, p_details) RETURNS jsonb` (seed name).
#[pg_extern(sql = false)]
fn log_tracking_attempt(
    p_tenant_hk: Option<&[u8]>,
    p_outcome: Option<&str>,
    p_error_code: Option<&str>,
    p_api_key_prefix: Option<&str>,
    p_client_ip: Option<Inet>,
    p_details: Option<AnyElement>,
) -> JsonB {
    let outcome = required(p_outcome, "p_outcome");
    let extra = match json::argument(p_details, "p_details") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => TrackingError::InvalidArgument {
            name: "p_details",
            reason: "must be a JSON object".into(),
        }
        .raise(),
    };
    let ip = p_client_ip.and_then(|Inet(text)| parse_inet(&text));
    Spi::connect_mut(|client| {
        if let Some(tenant) = p_tenant_hk {
            ensure_tenant(client, tenant);
        }
        log_attempt(
            client,
            p_tenant_hk,
            outcome,
            p_error_code,
            p_api_key_prefix,
            ip,
            extra,
        );
        JsonB(json!({"success": true}))
    })
}

/// The optional vocabulary fields of a tracking call.
fn common_payload(
    referrer: Option<&str>,
    page_title: Option<&str>,
    session_id: Option<&str>,
    event_id: Option<&str>,
    timestamp: Option<pgrx::datum::TimestampWithTimeZone>,
) -> Map<String, Value> {
    let mut payload = Map::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            payload.insert(name.into(), value.into());
        }
    };
    put(
        "referrer",
        referrer.filter(|r| !r.is_empty()).map(str::to_owned),
    );
    put("page_title", page_title.map(str::to_owned));
    put("session_id", session_id.map(str::to_owned));
    put("event_id", event_id.map(str::to_owned));
    put("timestamp", timestamp.map(|t| t.to_iso_string()));
    payload
}

/// `api.track_page_view(p_api_key, p_site_domain, p_page_path, p_user_agent, p_client_ip,
/// p_referrer, p_page_title, p_session_id, p_event_id, p_event_timestamp, p_properties,
/// p_do_not_track, p_global_privacy_control)`.
#[pg_extern(sql = false)]
#[allow(clippy::too_many_arguments)]
fn track_page_view(
    p_api_key: Option<&str>,
    p_site_domain: Option<&str>,
    p_page_path: Option<&str>,
    p_user_agent: Option<&str>,
    p_client_ip: Option<Inet>,
    p_referrer: Option<&str>,
    p_page_title: Option<&str>,
    p_session_id: Option<&str>,
    p_event_id: Option<&str>,
    p_event_timestamp: Option<pgrx::datum::TimestampWithTimeZone>,
    p_properties: Option<AnyElement>,
    p_do_not_track: Option<bool>,
    p_global_privacy_control: Option<bool>,
) -> JsonB {
    let mut payload = common_payload(
        p_referrer,
        p_page_title,
        p_session_id,
        p_event_id,
        p_event_timestamp,
    );
    payload.insert("event_type".into(), "page_view".into());
    if let Some(properties) = json::argument(p_properties, "p_properties") {
        payload.insert("properties".into(), properties);
    }
    let request = TrackRequest {
        api_key: p_api_key,
        site_domain: p_site_domain,
        user_agent: p_user_agent,
        client_ip: p_client_ip,
        payload,
        page_path: p_page_path,
        opt_out: signals::opt_out(p_do_not_track, p_global_privacy_control),
    };
    Spi::connect_mut(|client| JsonB(track(client, request)))
}

/// `api.track_custom_event(p_api_key, p_site_domain, p_event_name, p_event_properties,
/// p_page_path, p_user_agent, p_client_ip, p_referrer, p_page_title, p_session_id, p_event_id,
/// p_event_timestamp, p_do_not_track, p_global_privacy_control)`.
#[pg_extern(sql = false)]
#[allow(clippy::too_many_arguments)]
fn track_custom_event(
    p_api_key: Option<&str>,
    p_site_domain: Option<&str>,
    p_event_name: Option<&str>,
    p_event_properties: Option<AnyElement>,
    p_page_path: Option<&str>,
    p_user_agent: Option<&str>,
    p_client_ip: Option<Inet>,
    p_referrer: Option<&str>,
    p_page_title: Option<&str>,
    p_session_id: Option<&str>,
    p_event_id: Option<&str>,
    p_event_timestamp: Option<pgrx::datum::TimestampWithTimeZone>,
    p_do_not_track: Option<bool>,
    p_global_privacy_control: Option<bool>,
) -> JsonB {
    let mut payload = common_payload(
        p_referrer,
        p_page_title,
        p_session_id,
        p_event_id,
        p_event_timestamp,
    );
    payload.insert("event_type".into(), "custom".into());
    if let Some(name) = p_event_name {
        payload.insert("event_name".into(), name.into());
    }
    if let Some(properties) = json::argument(p_event_properties, "p_event_properties") {
        payload.insert("properties".into(), properties);
    }
    let request = TrackRequest {
        api_key: p_api_key,
        site_domain: p_site_domain,
        user_agent: p_user_agent,
        client_ip: p_client_ip,
        payload,
        page_path: p_page_path,
        opt_out: signals::opt_out(p_do_not_track, p_global_privacy_control),
    };
    Spi::connect_mut(|client| JsonB(track(client, request)))
}
