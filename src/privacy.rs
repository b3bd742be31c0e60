//! Retention and erasure: `api.purge_expired_data`, `api.erase_visitor`, `api.erase_session`.
//!
//! Retention removes what is only needed for a while: processed raw and staging rows (they hold
//! the anonymised network and the user agent) and rate-limit windows (the only place a full IP
//! lives). The vault keeps its events: they carry no IP, and only a daily-salted visitor hash
//! whose salt is gone after two days.
//!
//! Erasure removes one data subject everywhere: raw, staging and vault rows of every event and
//! session that belongs to a visitor hash or a session id, in foreign-key order, in one
//! transaction, audited with the count per table (never with the identifier that was erased).

use crate::api::ensure_tenant;
use crate::audit::{self, AuditEvent};
use crate::error::{required, TrackingError};
use crate::random::strong_random;
use crate::salts;
use crate::settings;
use crate::spi;
use onevault_tracking_core::hashing::to_hex;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::JsonB;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Processed raw events older than the retention, claimed so a concurrent drain or load skips
/// them; valid events still waiting for the vault load are kept.
const EXPIRED_RAW_EVENTS: &str = "SELECT r.raw_event_id, r.tenant_hk
       FROM raw.site_tracking_events_r AS r
      WHERE r.received_at < clock_timestamp() - make_interval(days => $1)
        AND r.processing_status IN ('PROCESSED', 'FAILED')
        AND NOT EXISTS (SELECT 1 FROM staging.site_tracking_events_s AS s
                         WHERE s.raw_event_id = r.raw_event_id
                           AND s.validation_status = 'VALID' AND NOT s.loaded_to_vault)
      FOR UPDATE OF r SKIP LOCKED";

/// Rate-limit windows of this extension (hub business key `ip:<address>`) whose last request is
/// older than the retention, and then the hubs left without windows: their business key is
/// the full IP too.
const EXPIRED_RATE_LIMIT_WINDOWS: &str = "WITH gone AS (
         DELETE FROM auth.ip_tracking_s AS s
          USING auth.security_tracking_h AS h
          WHERE s.security_tracking_hk = h.security_tracking_hk
            AND h.security_tracking_bk LIKE 'ip:%'
            AND s.last_request_time < clock_timestamp() - make_interval(hours => $1)
         RETURNING s.security_tracking_hk, h.tenant_hk)
     SELECT tenant_hk, count(*), security_tracking_hk FROM gone GROUP BY tenant_hk, security_tracking_hk";
const ORPHANED_RATE_LIMIT_HUBS: &str = "WITH gone AS (
         DELETE FROM auth.security_tracking_h AS h
          WHERE h.security_tracking_hk IN (
                SELECT c.security_tracking_hk FROM auth.security_tracking_h AS c
                 WHERE c.security_tracking_hk = ANY ($1)
                   AND NOT EXISTS (SELECT 1 FROM auth.ip_tracking_s AS s
                                    WHERE s.security_tracking_hk = c.security_tracking_hk)
                   FOR UPDATE SKIP LOCKED)
         RETURNING 1)
     SELECT count(*) FROM gone";

/// `api.purge_expired_data(p_raw_retention_days, p_rate_limit_retention_hours) RETURNS jsonb`:
/// NULL arguments take `onevault_tracking.raw_retention_days` and
/// `onevault_tracking.rate_limit_retention_hours`. It also destroys visitor salts older than
/// yesterday, which the first hash of a day does too, but a quiet site may not see one for days.
/// Meant to run regularly (pg_cron).
#[pg_extern(sql = false)]
fn purge_expired_data(
    p_raw_retention_days: Option<i32>,
    p_rate_limit_retention_hours: Option<i32>,
) -> JsonB {
    let days = p_raw_retention_days.unwrap_or_else(settings::raw_retention_days);
    let hours = p_rate_limit_retention_hours.unwrap_or_else(settings::rate_limit_retention_hours);
    for (name, value, limit) in [
        ("p_raw_retention_days", days, 36_500),
        ("p_rate_limit_retention_hours", hours, 8_760),
    ] {
        if !(1..=limit).contains(&value) {
            TrackingError::InvalidArgument {
                name,
                reason: format!("must be between 1 and {limit}, got {value}"),
            }
            .raise();
        }
    }
    Spi::connect_mut(|client| {
        let mut per_tenant: BTreeMap<Vec<u8>, [i64; 3]> = BTreeMap::new();
        let expired: Vec<(i64, Vec<u8>)> = spi::execute(client, EXPIRED_RAW_EVENTS, &[days.into()])
            .expect("expired raw events")
            .map(|row| {
                (
                    row.get::<i64>(1).ok().flatten().expect("raw_event_id"),
                    row.get::<Vec<u8>>(2).ok().flatten().expect("tenant_hk"),
                )
            })
            .collect();
        let ids: Vec<i64> = expired.iter().map(|(id, _)| *id).collect();
        let staged = delete_counted(
            client,
            "DELETE FROM staging.site_tracking_events_s WHERE raw_event_id = ANY ($1) RETURNING tenant_hk",
            &ids,
        );
        for tenant in staged {
            per_tenant.entry(tenant).or_default()[1] += 1;
        }
        let raw = delete_counted(
            client,
            "DELETE FROM raw.site_tracking_events_r WHERE raw_event_id = ANY ($1) RETURNING tenant_hk",
            &ids,
        );
        for tenant in raw {
            per_tenant.entry(tenant).or_default()[0] += 1;
        }

        let mut hubs: Vec<Vec<u8>> = Vec::new();
        let windows: Vec<(Vec<u8>, i64)> =
            spi::execute(client, EXPIRED_RATE_LIMIT_WINDOWS, &[hours.into()])
                .expect("expired rate-limit windows")
                .map(|row| {
                    hubs.extend(row.get::<Vec<u8>>(3).ok().flatten());
                    (
                        row.get::<Vec<u8>>(1).ok().flatten().expect("tenant_hk"),
                        row.get::<i64>(2).ok().flatten().unwrap_or(0),
                    )
                })
                .collect();
        for (tenant, count) in &windows {
            per_tenant.entry(tenant.clone()).or_default()[2] += count;
        }
        let hubs_removed = spi::execute(client, ORPHANED_RATE_LIMIT_HUBS, &[hubs.into()])
            .and_then(|rows| rows.first().get_one::<i64>())
            .expect("orphaned rate-limit hubs")
            .unwrap_or(0);
        let salts_destroyed = salts::retire_expired(client);

        let run_id = to_hex(&strong_random::<8>());
        let mut totals = [0i64; 3];
        for (tenant, counts) in &per_tenant {
            for (total, count) in totals.iter_mut().zip(counts) {
                *total += count;
            }
            let mut details = purge_counts(counts);
            details.insert("run_id".into(), run_id.clone().into());
            details.insert("raw_retention_days".into(), days.into());
            details.insert("rate_limit_retention_hours".into(), hours.into());
            audit::log(
                client,
                tenant,
                AuditEvent {
                    event_type: "DATA_PURGED",
                    resource_type: "onevault_tracking.retention",
                    resource_id: format!(
                        "purge:{run_id}:{}",
                        to_hex(&tenant[..tenant.len().min(8)])
                    ),
                    details,
                },
            );
        }
        let mut answer = purge_counts(&totals);
        answer.insert("success".into(), true.into());
        answer.insert("rate_limit_hubs".into(), hubs_removed.into());
        answer.insert("visitor_salts".into(), salts_destroyed.into());
        answer.insert("tenants".into(), per_tenant.len().into());
        answer.insert("raw_retention_days".into(), days.into());
        answer.insert("rate_limit_retention_hours".into(), hours.into());
        JsonB(Value::Object(answer))
    })
}

fn purge_counts(counts: &[i64; 3]) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("raw_events".into(), counts[0].into());
    map.insert("staging_events".into(), counts[1].into());
    map.insert("rate_limit_windows".into(), counts[2].into());
    map
}

/// Runs a `DELETE ... WHERE raw_event_id = ANY ($1) RETURNING tenant_hk`.
fn delete_counted(client: &mut SpiClient<'_>, sql: &str, ids: &[i64]) -> Vec<Vec<u8>> {
    if ids.is_empty() {
        return Vec::new();
    }
    spi::execute(client, sql, &[ids.to_vec().into()])
        .expect("retention delete")
        .filter_map(|row| row.get::<Vec<u8>>(1).ok().flatten())
        .collect()
}

// Erasure ------------------------------------------------------------------------------------------
// Every statement takes $1 tenant, $2 visitor hash (NULL when erasing a session) and
// $3 session id (NULL when erasing a visitor); `= NULL` matches nothing, so one set of
// statements serves both subjects.

/// The subject's sessions: the named one, or every session a visitor's events or details are in.
const SUBJECT_SESSIONS: &str = "SELECT h.session_hk, h.session_bk FROM business.session_h AS h
      WHERE h.tenant_hk = $1 AND h.session_bk = $3
     UNION
     SELECT h.session_hk, h.session_bk FROM business.session_h AS h
       JOIN (SELECT d.session_hk FROM business.session_details_s AS d
              WHERE d.tenant_hk = $1 AND d.visitor_hash = $2
             UNION
             SELECT l.session_hk FROM business.tracking_event_details_s AS e
               JOIN business.tracking_event_l AS l USING (tracking_event_hk)
              WHERE e.tenant_hk = $1 AND e.visitor_hash = $2) AS v USING (session_hk)";

/// Locks the subject's raw events before anything is read, so that a drain processing them
/// right now finishes first (its staging and vault rows are then visible to the statements
/// below, and erased with the rest) and a drain that starts later skips them (it claims with
/// SKIP LOCKED). Without it, what a concurrent drain staged and loaded would survive erasure.
const LOCK_SUBJECT_RAW_EVENTS: &str = "SELECT count(*) FROM (
         SELECT 1 FROM raw.site_tracking_events_r AS r
          WHERE r.tenant_hk = $1
            AND (r.visitor_hash = $2 OR r.visitor_hash_previous = $2 OR r.raw_payload ->> 'session_id' = $3)
            FOR UPDATE) AS locked";

/// The subject's raw events: by visitor hash (either salt), by session (also while pending),
/// and those staged with it. $4 = the subject's session ids.
const SUBJECT_RAW_EVENTS: &str = "SELECT r.raw_event_id FROM raw.site_tracking_events_r AS r
      WHERE r.tenant_hk = $1
        AND (r.visitor_hash = $2 OR r.visitor_hash_previous = $2
             OR r.raw_payload ->> 'session_id' = $3 OR r.raw_payload ->> 'session_id' = ANY ($4))
     UNION
     SELECT s.raw_event_id FROM staging.site_tracking_events_s AS s
      WHERE s.tenant_hk = $1 AND (s.visitor_hash = $2 OR s.session_id = $3 OR s.session_id = ANY ($4))";

/// The subject's vault events: in its sessions, from its raw events, or with its visitor hash.
/// $4 = session hash keys, $5 = raw event ids.
const SUBJECT_VAULT_EVENTS: &str = "SELECT l.tracking_event_hk FROM business.tracking_event_l AS l
      WHERE l.tenant_hk = $1
        AND (l.session_hk = ANY ($4) OR l.tracking_event_bk = ANY ($5::text[]))
     UNION
     SELECT e.tracking_event_hk FROM business.tracking_event_details_s AS e
      WHERE e.tenant_hk = $1 AND e.visitor_hash = $2";

/// (table, key column, which keys): what erasure deletes, children before parents.
const ERASURES: [(&str, &str, Keys); 7] = [
    (
        "business.tracking_event_details_s",
        "tracking_event_hk",
        Keys::VaultEvents,
    ),
    (
        "business.tracking_event_l",
        "tracking_event_hk",
        Keys::VaultEvents,
    ),
    ("business.session_details_s", "session_hk", Keys::Sessions),
    ("business.session_site_l", "session_hk", Keys::Sessions),
    ("business.session_h", "session_hk", Keys::Sessions),
    (
        "staging.site_tracking_events_s",
        "raw_event_id",
        Keys::RawEvents,
    ),
    (
        "raw.site_tracking_events_r",
        "raw_event_id",
        Keys::RawEvents,
    ),
];

#[derive(Clone, Copy)]
enum Keys {
    VaultEvents,
    Sessions,
    RawEvents,
}

/// `api.erase_visitor(p_tenant_hk, p_visitor_hash) RETURNS jsonb`.
#[pg_extern(sql = false)]
fn erase_visitor(p_tenant_hk: Option<&[u8]>, p_visitor_hash: Option<&[u8]>) -> JsonB {
    let visitor_hash = required(p_visitor_hash, "p_visitor_hash");
    if visitor_hash.len() != 32 {
        TrackingError::InvalidHashKey {
            name: "p_visitor_hash",
            bytes: visitor_hash.len(),
        }
        .raise();
    }
    erase(
        required(p_tenant_hk, "p_tenant_hk"),
        "visitor",
        Some(visitor_hash),
        None,
    )
}

/// `api.erase_session(p_tenant_hk, p_session_id) RETURNS jsonb`.
#[pg_extern(sql = false)]
fn erase_session(p_tenant_hk: Option<&[u8]>, p_session_id: Option<&str>) -> JsonB {
    let session_id = required(p_session_id, "p_session_id");
    if session_id.is_empty() || session_id.len() > 256 {
        TrackingError::InvalidArgument {
            name: "p_session_id",
            reason: "must be 1 to 256 bytes".into(),
        }
        .raise();
    }
    erase(
        required(p_tenant_hk, "p_tenant_hk"),
        "session",
        None,
        Some(session_id),
    )
}

fn erase(
    tenant_hk: &[u8],
    subject: &'static str,
    visitor_hash: Option<&[u8]>,
    session_id: Option<&str>,
) -> JsonB {
    Spi::connect_mut(|client| {
        ensure_tenant(client, tenant_hk);
        spi::execute(
            client,
            LOCK_SUBJECT_RAW_EVENTS,
            &[tenant_hk.into(), visitor_hash.into(), session_id.into()],
        )
        .expect("lock the subject's raw events");
        let (mut session_hks, mut session_ids) = (Vec::<Vec<u8>>::new(), Vec::<String>::new());
        for row in spi::execute(
            client,
            SUBJECT_SESSIONS,
            &[tenant_hk.into(), visitor_hash.into(), session_id.into()],
        )
        .expect("subject sessions")
        {
            session_hks.push(row.get(1).ok().flatten().expect("session_hk"));
            session_ids.push(row.get(2).ok().flatten().expect("session_bk"));
        }
        let raw_ids: Vec<i64> = spi::execute(
            client,
            SUBJECT_RAW_EVENTS,
            &[
                tenant_hk.into(),
                visitor_hash.into(),
                session_id.into(),
                session_ids.into(),
            ],
        )
        .expect("subject raw events")
        .filter_map(|row| row.get::<i64>(1).ok().flatten())
        .collect();
        let raw_id_texts: Vec<String> = raw_ids.iter().map(i64::to_string).collect();
        let vault_events: Vec<Vec<u8>> = spi::execute(
            client,
            SUBJECT_VAULT_EVENTS,
            &[
                tenant_hk.into(),
                visitor_hash.into(),
                session_id.into(),
                session_hks.clone().into(),
                raw_id_texts.into(),
            ],
        )
        .expect("subject vault events")
        .filter_map(|row| row.get::<Vec<u8>>(1).ok().flatten())
        .collect();

        let mut erased = Map::new();
        let mut total = 0i64;
        for (table, column, keys) in ERASURES {
            let sql = format!(
                "WITH gone AS (DELETE FROM {table} WHERE {column} = ANY ($1) RETURNING 1) SELECT count(*) FROM gone"
            );
            let argument = match keys {
                Keys::VaultEvents => vault_events.clone().into(),
                Keys::Sessions => session_hks.clone().into(),
                Keys::RawEvents => raw_ids.clone().into(),
            };
            let count = spi::execute(client, &sql, &[argument])
                .and_then(|rows| rows.first().get_one::<i64>())
                .expect("erasure delete")
                .unwrap_or(0);
            total += count;
            erased.insert(table.into(), count.into());
        }
        let request_id = to_hex(&strong_random::<8>());
        let details = json!({"subject": subject, "erased": erased, "total": total,
                             "request_id": request_id});
        audit::log(
            client,
            tenant_hk,
            AuditEvent {
                event_type: "DATA_ERASED",
                resource_type: "onevault_tracking.erasure",
                resource_id: format!("erasure:{request_id}"),
                details: details.as_object().cloned().unwrap_or_default(),
            },
        );
        let mut answer = details.as_object().cloned().unwrap_or_default();
        answer.insert("success".into(), true.into());
        JsonB(Value::Object(answer))
    })
}
