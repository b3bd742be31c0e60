//! Erasure: `api.erase_visitor` and `api.erase_session` remove one data subject everywhere:
//! raw, staging and vault rows of every event and session that belongs to a visitor hash or a
//! session id, in foreign-key order, in one transaction, audited with the count per table
//! (never with the identifier that was erased).

use crate::platform::audit::{self, AuditEvent};
use crate::platform::tenant::ensure_tenant;
use crate::postgres::error::{required, OrInternal, TrackingError};
use crate::postgres::random::strong_random;
use crate::postgres::spi;
use onevault_tracking_core::hashing::to_hex;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Map, Value};

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
        .or_internal("lock the subject's raw events");
        let (mut session_hks, mut session_ids) = (Vec::<Vec<u8>>::new(), Vec::<String>::new());
        for row in spi::execute(
            client,
            SUBJECT_SESSIONS,
            &[tenant_hk.into(), visitor_hash.into(), session_id.into()],
        )
        .or_internal("subject sessions")
        {
            session_hks.push(spi::column(&row, 1, "session_hk"));
            session_ids.push(spi::column(&row, 2, "session_bk"));
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
        .or_internal("subject raw events")
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
        .or_internal("subject vault events")
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
                .or_internal("erasure delete")
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
