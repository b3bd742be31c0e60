//! The API layer: sites and keys (administration) and tracking calls.
//!
//! A tracking call, in one transaction: the key is looked up by its hash and checked (active, not
//! expired, allowed to track, bound to a site that serves the requested domain); the client is
//! counted by the rate limiter; the event lands in raw, and (with the default
//! `onevault_tracking.api_processing = immediate`) is staged and loaded into the vault; one audit
//! record describes the attempt. Failures answer `success: false` with a stable `error_code`;
//! every rejected attempt is audited too. Internal errors raise instead of answering success.

use crate::audit::{self, AuditEvent};
use crate::error::{required, TrackingError};
use crate::ingest::{land_event, Landing};
use crate::json;
use crate::random::strong_random;
use crate::ratelimit;
use crate::settings::{self, ApiProcessing};
use crate::spi::{self, bytea_literal};
use crate::staging::process_landed;
use crate::vault::{
    self, HubRow, LinkRow, LoadContext, SatelliteRow, API_KEY_DETAILS_S, API_KEY_H, SITE_API_KEY_L,
    SITE_DETAILS_S, SITE_H,
};
use onevault_tracking_core::attribution;
use onevault_tracking_core::domain::{display_form, site_business_key, site_domain};
use onevault_tracking_core::hashing::{hash_binary, to_hex, HashKey};
use onevault_tracking_core::ip::{anonymize, parse_inet};
use onevault_tracking_core::site_settings::{self, PrivacySignals, SiteSettings};
use onevault_tracking_core::validate::{validate, PAGE_PATH_MAX_BYTES, PAGE_URL_MAX_BYTES};
use onevault_tracking_core::vault::{api_key_key, site_key};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::AnyElement;
use pgrx::{Inet, JsonB};
use serde_json::{json, Map, Value};
use std::net::IpAddr;
use time::OffsetDateTime;

/// Longest API key accepted for lookup (a real one is 77 characters).
const API_KEY_MAX_CHARS: usize = 200;
/// The scopes a key can carry.
const KNOWN_SCOPES: [&str; 1] = ["track"];
const UTC_FORMAT: &str = "YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"";

pub(crate) fn ensure_tenant(client: &mut SpiClient<'_>, tenant_hk: &[u8]) {
    crate::platform::require_core(client);
    let known = spi::execute(
        client,
        "SELECT EXISTS (SELECT 1 FROM auth.tenant_h WHERE tenant_hk = $1)",
        &[tenant_hk.into()],
    )
    .and_then(|rows| rows.first().get_one::<bool>())
    .expect("tenant lookup");
    if known != Some(true) {
        TrackingError::UnknownTenant {
            tenant_hex: to_hex(tenant_hk),
        }
        .raise();
    }
}

fn normalised_domain(name: &'static str, domain: &str) -> String {
    site_domain(domain).unwrap_or_else(|| {
        TrackingError::InvalidArgument {
            name,
            reason: format!(
                "\"{}\" is not a domain name",
                domain.chars().take(100).collect::<String>()
            ),
        }
        .raise()
    })
}

fn audit_admin(
    client: &mut SpiClient<'_>,
    tenant_hk: &[u8],
    event_type: &'static str,
    resource_type: &'static str,
    name: &str,
    details: Map<String, Value>,
) {
    audit::log(
        client,
        tenant_hk,
        AuditEvent {
            event_type,
            resource_type,
            resource_id: format!("{name}:{}", to_hex(&strong_random::<8>())),
            details,
        },
    );
}

// Sites and keys -----------------------------------------------------------------------------------

/// `api.register_site(p_tenant_hk, p_site_domain, p_site_name, p_allowed_domains, p_timezone,
/// p_settings) RETURNS jsonb`: the site hub and its details; idempotent for a tenant and domain
/// (a changed name, domain list, time zone or settings adds a new details row).
#[pg_extern(sql = false)]
fn register_site(
    p_tenant_hk: Option<&[u8]>,
    p_site_domain: Option<&str>,
    p_site_name: Option<&str>,
    p_allowed_domains: Option<Vec<Option<String>>>,
    p_timezone: Option<&str>,
    p_settings: Option<AnyElement>,
) -> JsonB {
    let tenant_hk = required(p_tenant_hk, "p_tenant_hk");
    let domain = normalised_domain("p_site_domain", required(p_site_domain, "p_site_domain"));
    let name = required(p_site_name, "p_site_name");
    if name.trim().is_empty() || name.chars().count() > 200 {
        TrackingError::InvalidArgument {
            name: "p_site_name",
            reason: "must be 1 to 200 characters".into(),
        }
        .raise();
    }
    let mut allowed = vec![domain.clone()];
    for extra in p_allowed_domains.unwrap_or_default().into_iter().flatten() {
        let extra = normalised_domain("p_allowed_domains", &extra);
        if !allowed.contains(&extra) {
            allowed.push(extra);
        }
    }
    let timezone = p_timezone.unwrap_or("UTC");
    let settings = json::argument(p_settings, "p_settings").unwrap_or_else(|| json!({}));
    if let Err(problem) = site_settings::parse(&settings) {
        TrackingError::InvalidArgument {
            name: "p_settings",
            reason: problem.to_string(),
        }
        .raise();
    }
    Spi::connect_mut(|client| {
        ensure_tenant(client, tenant_hk);
        let known_zone = spi::execute(
            client,
            "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)",
            &[timezone.into()],
        )
        .and_then(|rows| rows.first().get_one::<bool>())
        .expect("time zone lookup");
        if known_zone != Some(true) {
            TrackingError::InvalidArgument {
                name: "p_timezone",
                reason: format!("unknown time zone \"{timezone}\""),
            }
            .raise();
        }
        let context = LoadContext::new(client);
        let site_hk = site_key(tenant_hk, &domain);
        let new_sites = vault::load_hub(
            client,
            &context,
            &SITE_H,
            vec![HubRow {
                key: site_hk,
                business_key: domain.clone(),
                tenant_hk: tenant_hk.to_vec(),
            }],
        );
        let created = !new_sites.is_empty();
        let changed = vault::load_satellite(
            client,
            &context,
            &SITE_DETAILS_S,
            vec![SatelliteRow {
                parent: site_hk,
                tenant_hk: tenant_hk.to_vec(),
                attributes: vec![
                    name.into(),
                    json!(allowed),
                    timezone.into(),
                    true.into(),
                    settings,
                ],
            }],
            &new_sites,
        ) == 1;
        let answer = json!({"success": true, "site_hk": to_hex(&site_hk), "site_domain": domain,
                            "site_domain_display": display_form(&domain),
                            "allowed_domains": allowed, "created": created, "details_changed": changed});
        if created || changed {
            audit_admin(
                client,
                tenant_hk,
                "SITE_REGISTERED",
                "business.site_h",
                "site",
                answer.as_object().cloned().unwrap_or_default(),
            );
        }
        JsonB(answer)
    })
}

/// The current details of a tenant's site, or NotFound.
fn site_of(client: &mut SpiClient<'_>, tenant_hk: &[u8], domain: &str) -> HashKey {
    let site_hk = site_key(tenant_hk, domain);
    let exists = spi::execute(
        client,
        "SELECT EXISTS (SELECT 1 FROM business.site_h WHERE site_hk = $1)",
        &[site_hk.to_vec().into()],
    )
    .and_then(|rows| rows.first().get_one::<bool>())
    .expect("site lookup");
    if exists != Some(true) {
        TrackingError::NotFound {
            what: format!("site \"{domain}\" of this tenant"),
        }
        .raise();
    }
    site_hk
}

/// `api.create_api_key(p_tenant_hk, p_site_domain, p_key_name, p_scopes, p_expires_at,
/// p_rate_limit_per_minute) RETURNS jsonb`: a new key for a registered site. The plaintext is in
/// the answer under `api_key` and nowhere else: only its SHA-256 is stored.
#[pg_extern(sql = false)]
fn create_api_key(
    p_tenant_hk: Option<&[u8]>,
    p_site_domain: Option<&str>,
    p_key_name: Option<&str>,
    p_scopes: Option<Vec<Option<String>>>,
    p_expires_at: Option<pgrx::datum::TimestampWithTimeZone>,
    p_rate_limit_per_minute: Option<i32>,
) -> JsonB {
    let tenant_hk = required(p_tenant_hk, "p_tenant_hk");
    let domain = normalised_domain("p_site_domain", required(p_site_domain, "p_site_domain"));
    let label = required(p_key_name, "p_key_name");
    if label.trim().is_empty() || label.chars().count() > 100 {
        TrackingError::InvalidArgument {
            name: "p_key_name",
            reason: "must be 1 to 100 characters".into(),
        }
        .raise();
    }
    let scopes: Vec<String> = p_scopes
        .unwrap_or_else(|| vec![Some("track".into())])
        .into_iter()
        .flatten()
        .collect();
    if scopes.is_empty() || scopes.iter().any(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
        TrackingError::InvalidArgument {
            name: "p_scopes",
            reason: format!("known scopes are {KNOWN_SCOPES:?}"),
        }
        .raise();
    }
    if let Some(Err(reason)) =
        p_rate_limit_per_minute.map(|limit| site_settings::rate_limit_in_range(limit.into()))
    {
        TrackingError::InvalidArgument {
            name: "p_rate_limit_per_minute",
            reason,
        }
        .raise();
    }
    Spi::connect_mut(|client| {
        ensure_tenant(client, tenant_hk);
        let site_hk = site_of(client, tenant_hk, &domain);
        let expires_at = match p_expires_at {
            None => None,
            Some(at) => {
                let (text, future) = spi::execute(
                    client,
                    &format!("SELECT to_char($1 AT TIME ZONE 'UTC', '{UTC_FORMAT}'), $1 > now()"),
                    &[at.into()],
                )
                .and_then(|rows| rows.first().get_two::<String, bool>())
                .expect("expiry");
                if future != Some(true) {
                    TrackingError::InvalidArgument {
                        name: "p_expires_at",
                        reason: "must be in the future".into(),
                    }
                    .raise();
                }
                text
            }
        };
        let key_prefix = unused_key_prefix(client, random_key_prefixes());
        let api_key = format!("{key_prefix}_{}", to_hex(&strong_random::<32>()));
        let api_key_hk = api_key_key(tenant_hk, &key_prefix);
        let context = LoadContext::new(client);
        let new_keys = vault::load_hub(
            client,
            &context,
            &API_KEY_H,
            vec![HubRow {
                key: api_key_hk,
                business_key: key_prefix.clone(),
                tenant_hk: tenant_hk.to_vec(),
            }],
        );
        vault::load_link(
            client,
            &context,
            &SITE_API_KEY_L,
            vec![LinkRow {
                business_key: None,
                hubs: vec![Some(site_hk), Some(api_key_hk)],
                tenant_hk: tenant_hk.to_vec(),
                key: None,
            }],
        );
        vault::load_satellite(
            client,
            &context,
            &API_KEY_DETAILS_S,
            vec![SatelliteRow {
                parent: api_key_hk,
                tenant_hk: tenant_hk.to_vec(),
                attributes: vec![
                    bytea_literal(&hash_binary(&api_key)).into(),
                    key_prefix.clone().into(),
                    label.into(),
                    json!(scopes),
                    p_rate_limit_per_minute.into(),
                    expires_at.clone().into(),
                    Value::Null,
                ],
            }],
            &new_keys,
        );
        let mut details = Map::new();
        details.insert("key_prefix".into(), key_prefix.clone().into());
        details.insert("site_domain".into(), domain.clone().into());
        details.insert("scopes".into(), json!(scopes));
        details.insert("expires_at".into(), expires_at.clone().into());
        details.insert(
            "rate_limit_per_minute".into(),
            p_rate_limit_per_minute.into(),
        );
        audit_admin(
            client,
            tenant_hk,
            "API_KEY_CREATED",
            "business.api_key_h",
            "api_key",
            details,
        );
        JsonB(json!({
            "success": true, "api_key": api_key, "key_prefix": key_prefix, "api_key_hk": to_hex(&api_key_hk),
            "site_domain": domain, "scopes": scopes, "expires_at": expires_at,
            "rate_limit_per_minute": p_rate_limit_per_minute,
            "notice": "the key is shown only this once; store it now",
        }))
    })
}

/// How many random prefixes `api.create_api_key` tries. At 32 random bits a second attempt is
/// needed once in four billion keys, so running out means a broken random source or table.
const KEY_PREFIX_ATTEMPTS: usize = 8;

/// Public key prefixes, `ovt_` and 32 random bits in hex.
fn random_key_prefixes() -> impl Iterator<Item = String> {
    std::iter::repeat_with(|| format!("ovt_{}", to_hex(&strong_random::<4>())))
}

/// The first candidate prefix that no stored key of any tenant has. The prefix is a key's
/// business key and the way it is revoked and routed, so a second key with it would take over
/// the first one's details. The unique index `api_key_h_bk_key` makes that impossible to store
/// even when two creations race to the same prefix (the later one fails with 23505).
pub(crate) fn unused_key_prefix(
    client: &mut SpiClient<'_>,
    candidates: impl IntoIterator<Item = String>,
) -> String {
    for candidate in candidates.into_iter().take(KEY_PREFIX_ATTEMPTS) {
        let taken = spi::execute(
            client,
            "SELECT EXISTS (SELECT 1 FROM business.api_key_h WHERE api_key_bk = $1)",
            &[candidate.as_str().into()],
        )
        .and_then(|rows| rows.first().get_one::<bool>())
        .unwrap_or_else(|e| {
            TrackingError::Internal {
                what: "key prefix lookup",
                message: e.to_string(),
            }
            .raise()
        });
        if taken == Some(false) {
            return candidate;
        }
    }
    TrackingError::Internal {
        what: "choosing an API key prefix",
        message: format!("{KEY_PREFIX_ATTEMPTS} candidate prefixes were all taken"),
    }
    .raise()
}

/// `api.revoke_api_key(p_tenant_hk bytea, p_key_prefix text) RETURNS jsonb`: the key stops
/// working for the very next call. Revoking a revoked key changes nothing.
#[pg_extern(sql = false)]
fn revoke_api_key(p_tenant_hk: Option<&[u8]>, p_key_prefix: Option<&str>) -> JsonB {
    let tenant_hk = required(p_tenant_hk, "p_tenant_hk");
    let key_prefix = required(p_key_prefix, "p_key_prefix");
    let api_key_hk = api_key_key(tenant_hk, key_prefix);
    Spi::connect_mut(|client| {
        let current = spi::execute(
            client,
            &format!(
                "SELECT jsonb_build_array('\\x' || encode(key_hash, 'hex'), key_prefix, label, to_jsonb(scopes),
                        rate_limit_per_minute, to_char(expires_at AT TIME ZONE 'UTC', '{UTC_FORMAT}'),
                        coalesce(to_char(revoked_at AT TIME ZONE 'UTC', '{UTC_FORMAT}'),
                                 to_char(clock_timestamp() AT TIME ZONE 'UTC', '{UTC_FORMAT}'))),
                        revoked_at IS NOT NULL
                   FROM business.api_key_details_s WHERE api_key_hk = $1 AND load_end_date IS NULL"
            ),
            &[api_key_hk.to_vec().into()],
        )
        .and_then(|rows| rows.first().get_two::<JsonB, bool>())
        .expect("key lookup");
        let (Some(JsonB(Value::Array(attributes))), Some(already)) = current else {
            TrackingError::NotFound {
                what: format!("API key \"{key_prefix}\" of this tenant"),
            }
            .raise()
        };
        let revoked_at = attributes.get(6).cloned().unwrap_or(Value::Null);
        if !already {
            let context = LoadContext::new(client);
            vault::load_satellite(
                client,
                &context,
                &API_KEY_DETAILS_S,
                vec![SatelliteRow {
                    parent: api_key_hk,
                    tenant_hk: tenant_hk.to_vec(),
                    attributes,
                }],
                &vault::NewKeys::new(),
            );
            let mut details = Map::new();
            details.insert("key_prefix".into(), key_prefix.into());
            audit_admin(
                client,
                tenant_hk,
                "API_KEY_REVOKED",
                "business.api_key_h",
                "api_key",
                details,
            );
        }
        JsonB(
            json!({"success": true, "key_prefix": key_prefix, "revoked_at": revoked_at, "already_revoked": already}),
        )
    })
}

// Tracking -------------------------------------------------------------------------------------------

/// What a tracking call brings.
struct TrackRequest<'a> {
    api_key: Option<&'a str>,
    site_domain: Option<&'a str>,
    user_agent: Option<&'a str>,
    client_ip: Option<Inet>,
    /// The payload in the vocabulary, without the page (added from the site domain and path).
    payload: Map<String, Value>,
    page_path: Option<&'a str>,
    /// The privacy signal the browser sent, if any: the reason code a dropped event answers.
    opt_out: Option<&'static str>,
}

/// The reason code of the privacy signal a browser sent, if any (GPC names the reason when both
/// are sent).
fn opt_out(
    do_not_track: Option<bool>,
    global_privacy_control: Option<bool>,
) -> Option<&'static str> {
    if global_privacy_control == Some(true) {
        Some("GLOBAL_PRIVACY_CONTROL")
    } else if do_not_track == Some(true) {
        Some("DO_NOT_TRACK")
    } else {
        None
    }
}

/// What a tracking call may do once it is attributed: by the key it presented
/// (`api.track_page_view`, `api.track_custom_event`) or by its page's registered site
/// (`api.track_site_event`, which carries no key).
struct TrackGrant {
    tenant_hk: Vec<u8>,
    api_key_hk: Option<Vec<u8>>,
    key_prefix: Option<String>,
    site_domain: String,
    rate_limit: i32,
    privacy_signals: PrivacySignals,
}

impl TrackGrant {
    /// The limit is the key's own, else the site's setting, else `onevault_tracking.rate_limit_per_minute`.
    fn new(
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
struct Refusal {
    code: &'static str,
    message: String,
    extra: Map<String, Value>,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// `RATE_LIMITED`, with when to retry and the limiter's counts.
    fn rate_limited(verdict: &ratelimit::Verdict) -> Self {
        Refusal::new(
            "RATE_LIMITED",
            "too many requests from this client; retry later",
        )
        .with("retry_after", verdict.retry_after.into())
        .with("rate_limit", verdict.to_json())
    }

    fn with(mut self, name: &str, value: Value) -> Self {
        self.extra.insert(name.into(), value);
        self
    }

    fn to_json(&self) -> Value {
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
    .expect("key lookup")
    .next()
    .map(|row| {
        (
            row.get::<Vec<u8>>(1).ok().flatten().expect("tenant_hk"),
            row.get::<Vec<u8>>(2).ok().flatten().expect("api_key_hk"),
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
fn stored_settings(settings: Result<Option<JsonB>, pgrx::spi::SpiError>) -> SiteSettings {
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
    .expect("site tenant lookup")
    .filter_map(|row| row.get::<Vec<u8>>(1).ok().flatten())
    .collect();
    (tenants.len() == 1).then(|| tenants.into_iter().next().expect("one"))
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
            log_attempt(
                client,
                tenant.as_deref(),
                "rejected",
                Some(refusal.code),
                refusal.extra.get("key_prefix").and_then(Value::as_str),
                client_ip,
                Map::new(),
            );
            refusal.to_json()
        }
    }
}

/// The rest of a tracking call once it is attributed: rate limit, privacy signal, landing,
/// processing and the audit record of the attempt.
fn track_granted(
    client: &mut SpiClient<'_>,
    grant: TrackGrant,
    request: TrackRequest<'_>,
    client_ip: Option<IpAddr>,
) -> Value {
    let key_prefix = grant.key_prefix.as_deref();
    let verdict = ratelimit::check(client, &grant.tenant_hk, client_ip, grant.rate_limit, 60);
    if !verdict.allowed {
        let refusal = Refusal::rate_limited(&verdict);
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

    let opt_out = request
        .opt_out
        .filter(|_| grant.privacy_signals != PrivacySignals::Ignore);
    if let (Some(reason), PrivacySignals::Drop) = (opt_out, grant.privacy_signals) {
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
    let (client_ip, identity) = match opt_out {
        Some(_) => (None, None),
        None => (client_ip, request.client_ip),
    };
    let mut payload = request.payload;
    if opt_out.is_some() {
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
    let processing = settings::api_processing();
    let landing = match processing {
        ApiProcessing::Immediate => Landing::TakenForProcessing,
        ApiProcessing::Deferred => Landing::Pending,
    };
    let landed = land_event(
        client,
        &grant.tenant_hk,
        grant.api_key_hk.as_deref(),
        identity,
        request.user_agent,
        &payload,
        landing,
    );
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
        ApiProcessing::Immediate => {
            let taken = landed.claimed.expect("a new event taken for processing");
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
fn log_attempt(
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
        opt_out: opt_out(p_do_not_track, p_global_privacy_control),
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
        opt_out: opt_out(p_do_not_track, p_global_privacy_control),
    };
    Spi::connect_mut(|client| JsonB(track(client, request)))
}

/// The site a page belongs to, found by the page URL's host among the registered sites and
/// their allowed domains (with or without `www.`): the attribution of `api.track_site_event`,
/// which carries no key. Exactly one active site must claim the host.
fn site_of_page(
    client: &mut SpiClient<'_>,
    page_url: &str,
) -> Result<TrackGrant, (Refusal, Option<String>)> {
    let invalid = |code: &'static str, message: String| {
        page_url_refusal("PAGE_URL_INVALID", code, message.clone(), &message)
    };
    if page_url.len() > PAGE_URL_MAX_BYTES {
        return Err((
            invalid(
                "PAGE_URL_TOO_LONG",
                format!(
                    "p_page_url is {} bytes; at most {PAGE_URL_MAX_BYTES} are accepted",
                    page_url.len()
                ),
            ),
            None,
        ));
    }
    let host = match attribution::parse_page_url(page_url) {
        Ok((location, _)) => location.host,
        Err(reason) => {
            return Err((
                invalid(
                    "PAGE_URL_INVALID",
                    format!("p_page_url is not an absolute http(s) URL with a host: {reason}"),
                ),
                None,
            ))
        }
    };
    let Some(domain) = site_business_key(&host) else {
        return Err((
            invalid("PAGE_URL_INVALID", "p_page_url has no host".into()),
            None,
        ));
    };
    let sites: Vec<TrackGrant> = spi::execute(
        client,
        "SELECT s.tenant_hk, s.site_bk, sd.settings
           FROM business.site_details_s AS sd
           JOIN business.site_h AS s ON s.site_hk = sd.site_hk
          WHERE sd.load_end_date IS NULL AND coalesce(sd.is_active, true)
            AND $1 = ANY (coalesce(sd.allowed_domains, ARRAY[s.site_bk]))
          ORDER BY s.tenant_hk, s.site_bk
          LIMIT 2",
        &[domain.clone().into()],
    )
    .unwrap_or_else(|e| {
        TrackingError::Internal {
            what: "site lookup",
            message: e.to_string(),
        }
        .raise()
    })
    .map(|row| {
        TrackGrant::new(
            row.get::<Vec<u8>>(1).ok().flatten().unwrap_or_default(),
            None,
            None,
            row.get::<String>(2).ok().flatten().unwrap_or_default(),
            None,
            stored_settings(row.get::<JsonB>(3)),
        )
    })
    .collect();
    let mut sites = sites.into_iter();
    match (sites.next(), sites.next()) {
        (Some(grant), None) => Ok(grant),
        (None, _) => Err((
            page_url_refusal(
                "SITE_NOT_REGISTERED",
                "SITE_NOT_REGISTERED",
                format!("no registered site serves the host {domain}"),
                "register the site, or add the host to its allowed domains (api.register_site)",
            )
            .with("site_domain", domain.clone().into()),
            Some(domain),
        )),
        (Some(_), Some(_)) => Err((
            page_url_refusal(
                "SITE_AMBIGUOUS",
                "SITE_AMBIGUOUS",
                format!("more than one registered site claims the host {domain}"),
                "a host may belong to one site only; remove it from the others' allowed domains",
            )
            .with("site_domain", domain.clone().into()),
            Some(domain),
        )),
    }
}

/// A refusal of `api.track_site_event` because of its page URL: `error_code` and `message`,
/// and the one `errors` entry (`field` `p_page_url`, a specific `code`, what to do).
fn page_url_refusal(
    code: &'static str,
    detail_code: &'static str,
    message: String,
    advice: &str,
) -> Refusal {
    Refusal::new(code, message).with(
        "errors",
        json!([{"field": "p_page_url", "code": detail_code, "message": advice}]),
    )
}

/// The answer as the platform's API app reads it: `success`, `message` and `event_id` (the raw
/// event id), beside our `error_code` and `errors` on failures.
fn platform_answer(mut answer: Value) -> Value {
    let Some(fields) = answer.as_object_mut() else {
        return answer;
    };
    let success = fields.get("success").and_then(Value::as_bool) == Some(true);
    if success {
        let event_id = fields.get("raw_event_id").cloned().unwrap_or(Value::Null);
        fields.insert("event_id".into(), event_id);
        if !fields.contains_key("message") {
            fields.insert("message".into(), "Event tracked".into());
        }
    } else if !fields.contains_key("errors") {
        let error = json!({"field": "", "code": fields.get("error_code"), "message": fields.get("message")});
        fields.insert("errors".into(), json!([error]));
    }
    answer
}

/// `api.track_site_event(p_ip_address inet, p_user_agent text, p_page_url text, p_event_type
/// varchar DEFAULT 'page_view', p_event_data jsonb DEFAULT '{}') RETURNS jsonb`: the platform's
/// own tracking call (its API app and browser code), with the signature of the earlier
/// generation. The raw payload is what the platform's trackers send, `{"event_type",
/// "page_url", "event_data"}`, which staging reads as the platform dialect (core/src/dialect.rs).
/// Without a key, the page's host attributes the call: an unknown host stores nothing, and is
/// audited and rate limited as unattributed.
#[pg_extern(sql = false)]
fn track_site_event(
    p_ip_address: Option<Inet>,
    p_user_agent: Option<&str>,
    p_page_url: Option<&str>,
    p_event_type: Option<&str>,
    p_event_data: Option<AnyElement>,
) -> JsonB {
    let event_data = json::argument(p_event_data, "p_event_data").unwrap_or_else(|| json!({}));
    let mut payload = Map::new();
    payload.insert(
        "event_type".into(),
        p_event_type.unwrap_or("page_view").into(),
    );
    payload.insert("page_url".into(), p_page_url.into());
    payload.insert("event_data".into(), event_data);
    let client_ip = p_ip_address
        .as_ref()
        .and_then(|Inet(text)| parse_inet(text));
    Spi::connect_mut(|client| {
        let attributed = match p_page_url.filter(|url| !url.trim().is_empty()) {
            Some(url) => site_of_page(client, url),
            None => Err((
                page_url_refusal(
                    "PAGE_URL_MISSING",
                    "PAGE_URL_MISSING",
                    "p_page_url is required".into(),
                    "the absolute URL of the tracked page is required",
                ),
                None,
            )),
        };
        let answer = match attributed {
            Ok(grant) => {
                let request = TrackRequest {
                    api_key: None,
                    site_domain: None,
                    user_agent: p_user_agent,
                    client_ip: p_ip_address,
                    payload,
                    page_path: None,
                    opt_out: None,
                };
                track_granted(client, grant, request, client_ip)
            }
            Err((refusal, host)) => {
                // Counted like any call, in the bucket of calls no site claims.
                let verdict = ratelimit::check_unattributed(client, client_ip);
                let refusal = match verdict.filter(|v| !v.allowed) {
                    Some(verdict) => Refusal::rate_limited(&verdict),
                    None => refusal,
                };
                let mut details = Map::new();
                details.insert("page_host".into(), host.into());
                log_attempt(
                    client,
                    None,
                    "rejected",
                    Some(refusal.code),
                    None,
                    client_ip,
                    details,
                );
                refusal.to_json()
            }
        };
        JsonB(platform_answer(answer))
    })
}
