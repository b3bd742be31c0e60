//! Audit records through the platform's `util.log_audit_event`.
//!
//! Two traps of that function shape this module (see onevault-core.md):
//! * its key is (event type, resource type, resource id, transaction start time), so every
//!   caller passes a resource id unique to the change (`raw_event:42`, `batch:<uuid>`) or a
//!   second record in the same transaction would be silently lost;
//! * it resolves the tenant from the actor's username first and from `tenant_id` (hex) in the
//!   details second, so the details always carry `tenant_id` and the actor is never a bare
//!   database role name that could match a platform username.
//!
//! It never raises, so its answer is checked: on `success: false` the caller's change is
//! rolled back with an ERROR, and nothing lands unaudited.

use crate::postgres::error::TrackingError;
use crate::postgres::spi;
use onevault_tracking_core::hashing::to_hex;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::JsonB;
use serde_json::{Map, Value};

pub struct AuditEvent {
    pub event_type: &'static str,
    pub resource_type: &'static str,
    pub resource_id: String,
    pub details: Map<String, Value>,
}

/// Writes `event` for `tenant_hk`, or raises.
pub fn log(client: &mut SpiClient<'_>, tenant_hk: &[u8], mut event: AuditEvent) {
    event
        .details
        .insert("tenant_id".into(), Value::String(to_hex(tenant_hk)));
    write(client, event);
}

/// One record per tenant for an operation over many raw events (a drain, a load): each tenant's
/// record carries its events' count and id range, a run id shared by all of them, and what
/// `details_of` adds for its ids.
pub fn log_per_tenant(
    client: &mut SpiClient<'_>,
    event_type: &'static str,
    resource_type: &'static str,
    events: impl IntoIterator<Item = (Vec<u8>, i64)>,
    mut details_of: impl FnMut(&[i64]) -> Map<String, Value>,
) {
    let run_id = to_hex(&crate::postgres::random::strong_random::<8>());
    let mut per_tenant: std::collections::BTreeMap<Vec<u8>, Vec<i64>> = Default::default();
    for (tenant, id) in events {
        per_tenant.entry(tenant).or_default().push(id);
    }
    for (tenant, ids) in per_tenant {
        let mut details = details_of(&ids);
        details.insert("run_id".into(), run_id.clone().into());
        details.insert("events".into(), ids.len().into());
        details.insert(
            "first_raw_event_id".into(),
            ids.iter().min().copied().into(),
        );
        details.insert("last_raw_event_id".into(), ids.iter().max().copied().into());
        let resource_id = format!("run:{run_id}:{}", to_hex(&tenant[..tenant.len().min(8)]));
        log(
            client,
            &tenant,
            AuditEvent {
                event_type,
                resource_type,
                resource_id,
                details,
            },
        );
    }
}

/// Writes `event` when no tenant is known (a call with an unknown API key for an unknown site):
/// the platform's function then files it under its default tenant, which the details say.
pub fn log_unattributed(client: &mut SpiClient<'_>, mut event: AuditEvent) {
    event.details.insert(
        "attribution".into(),
        "none: no tenant could be identified".into(),
    );
    write(client, event);
}

fn write(client: &mut SpiClient<'_>, event: AuditEvent) {
    crate::platform::core::require_core(client);
    let details = event.details;
    let answer = spi::execute(
        client,
        "SELECT onevault_tracking.log_platform_audit_event($1, $2, $3, $4, $5)",
        &[
            event.event_type.into(),
            event.resource_type.into(),
            event.resource_id.into(),
            actor().into(),
            JsonB(Value::Object(details)).into(),
        ],
    )
    .and_then(|rows| rows.first().get_one::<JsonB>())
    .unwrap_or_else(|e| {
        TrackingError::AuditFailed {
            error_code: "SPI".into(),
            message: e.to_string(),
        }
        .raise()
    });
    let answer = answer.map(|JsonB(v)| v).unwrap_or(Value::Null);
    if answer.get("success").and_then(Value::as_bool) != Some(true) {
        let field = |name: &str| {
            answer
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        TrackingError::AuditFailed {
            error_code: field("error_code"),
            message: field("error_message"),
        }
        .raise();
    }
}

/// `onevault_tracking:<session user>`: who made the change, in a form no platform username
/// takes (usernames are e-mail-like), so the audit function attributes by `tenant_id`.
fn actor() -> String {
    // SAFETY: plain catalog lookups of the current session user, which always exists.
    let name = unsafe {
        let ptr = pg_sys::GetUserNameFromId(pg_sys::GetSessionUserId(), false);
        std::ffi::CStr::from_ptr(ptr).to_string_lossy().into_owned()
    };
    format!("onevault_tracking:{name}")
}
