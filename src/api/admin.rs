//! Sites and keys: `api.register_site`, `api.create_api_key`, `api.revoke_api_key`.

use crate::pipeline::model::{
    API_KEY_DETAILS_S, API_KEY_H, SITE_API_KEY_L, SITE_DETAILS_S, SITE_H,
};
use crate::pipeline::vault::{self, HubRow, LinkRow, LoadContext, SatelliteRow};
use crate::platform::audit::{self, AuditEvent};
use crate::platform::tenant::ensure_tenant;
use crate::postgres::error::{required, OrInternal, TrackingError};
use crate::postgres::json;
use crate::postgres::random::strong_random;
use crate::postgres::spi::{self, bytea_literal};
use onevault_tracking_core::domain::{display_form, site_domain};
use onevault_tracking_core::hashing::{hash_binary, to_hex, HashKey};
use onevault_tracking_core::site_settings::{self};
use onevault_tracking_core::vault::{api_key_key, site_key};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::AnyElement;
use pgrx::JsonB;
use serde_json::{json, Map, Value};

/// The scopes a key can carry.
const KNOWN_SCOPES: [&str; 1] = ["track"];
const UTC_FORMAT: &str = "YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"";

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
        .or_internal("time zone lookup");
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
    .or_internal("site lookup");
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
                .or_internal("expiry");
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
        .or_internal("key prefix lookup");
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
        .or_internal("key lookup");
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
