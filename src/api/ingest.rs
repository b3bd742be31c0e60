//! The raw layer's SQL API: `raw.ingest_tracking_event` and `raw.batch_ingest_tracking_events`.
//!
//! Both take the same path: arguments are checked, every payload is screened by the pure
//! rules of `onevault_tracking_core::payload`, and the accepted ones land with one set-based
//! INSERT (a single event is a batch of one). A client event id already stored for the tenant
//! makes the item a duplicate that answers with the stored row's id, so retries are idempotent.

use crate::pipeline::raw::{land, screen, Landing, Screened, Sender, RAW_TABLE};
use crate::platform::audit::{self, AuditEvent};
use crate::postgres::error::{required, OrInternal, TrackingError};
use crate::postgres::json;
use crate::postgres::random::strong_random;
use crate::postgres::settings;
use crate::privacy::salts;
use crate::worker::wake;
use onevault_tracking_core::payload::{json_type_name, PayloadError};
use pgrx::prelude::*;
use pgrx::AnyElement;
use pgrx::{Inet, JsonB, Uuid};
use serde_json::{json, Map, Value};

/// the platform, so the extension must not emit `CREATE SCHEMA raw` for it).
///
/// Lands one event and returns its raw event id (the stored one for a repeated client event id).
#[pg_extern(sql = false)]
fn ingest_tracking_event(
    p_tenant_hk: Option<&[u8]>,
    p_api_key_hk: Option<&[u8]>,
    p_client_ip: Option<Inet>,
    p_user_agent: Option<&str>,
    p_event_data: Option<AnyElement>,
) -> i64 {
    let sender = Sender::new(
        p_tenant_hk,
        p_api_key_hk,
        p_client_ip,
        p_user_agent,
        salts::daily_salts,
    );
    let payload = required(json::argument(p_event_data, "p_event_data"), "p_event_data");
    let item = screen(0, &payload).unwrap_or_else(|e| TrackingError::from(e).raise());
    Spi::connect_mut(|client| {
        let landed = land(
            client,
            &sender,
            None,
            std::slice::from_ref(&item),
            Landing::Pending,
        )
        .pop()
        .or_internal("one item in, one out");
        if !landed.duplicate {
            wake::wake_at_commit(client);
            let mut details = sender.audit_details();
            details.insert("raw_event_id".into(), landed.raw_event_id.into());
            details.insert("client_event_id".into(), item.event_id.clone().into());
            details.insert("payload_bytes".into(), item.json_text.len().into());
            audit::log(
                client,
                sender.tenant_hk,
                AuditEvent {
                    event_type: "TRACKING_EVENT_RECEIVED",
                    resource_type: RAW_TABLE,
                    resource_id: format!("raw_event:{}", landed.raw_event_id),
                    details,
                },
            );
        }
        landed.raw_event_id
    })
}

/// `raw.batch_ingest_tracking_events` (declared in sql/raw_layer.sql).
///
/// Lands a JSON array of events; answers per item (accepted, duplicate or rejected with its
/// error code) with a summary. Valid items land even when others are rejected.
#[pg_extern(sql = false)]
fn batch_ingest_tracking_events(
    p_tenant_hk: Option<&[u8]>,
    p_api_key_hk: Option<&[u8]>,
    p_client_ip: Option<Inet>,
    p_user_agent: Option<&str>,
    p_events: Option<AnyElement>,
) -> JsonB {
    let sender = Sender::new(
        p_tenant_hk,
        p_api_key_hk,
        p_client_ip,
        p_user_agent,
        salts::daily_salts,
    );
    let events = required(json::argument(p_events, "p_events"), "p_events");
    let Value::Array(events) = events else {
        TrackingError::BatchNotArray {
            found: json_type_name(&events),
        }
        .raise()
    };
    let limit = settings::max_batch_size();
    if events.len() > limit {
        TrackingError::BatchTooLarge {
            size: events.len(),
            limit,
        }
        .raise();
    }

    let (accepted, rejected): (Vec<_>, Vec<_>) = events
        .iter()
        .enumerate()
        .map(|(position, payload)| screen(position, payload).map_err(|e| (position, e)))
        .partition(Result::is_ok);
    let accepted: Vec<Screened> = accepted.into_iter().filter_map(Result::ok).collect();
    let rejected: Vec<(usize, PayloadError)> =
        rejected.into_iter().filter_map(Result::err).collect();
    let batch_id = new_batch_id();

    Spi::connect_mut(|client| {
        let landed = land(client, &sender, Some(batch_id), &accepted, Landing::Pending);
        let new_ids: Vec<i64> = landed
            .iter()
            .filter(|l| !l.duplicate)
            .map(|l| l.raw_event_id)
            .collect();
        let duplicates = landed.len() - new_ids.len();
        if !new_ids.is_empty() {
            wake::wake_at_commit(client);
        }

        let mut results: Vec<(usize, Value)> = landed
            .iter()
            .map(|l| {
                let status = if l.duplicate { "duplicate" } else { "accepted" };
                (
                    l.position,
                    json!({"index": l.position, "status": status, "raw_event_id": l.raw_event_id}),
                )
            })
            .chain(rejected.iter().map(|(position, e)| {
                let answer = json!({"index": position, "status": "rejected",
                                    "error_code": e.code(), "error": e.to_string()});
                (*position, answer)
            }))
            .collect();
        results.sort_by_key(|(position, _)| *position);

        let mut summary = Map::new();
        summary.insert("batch_id".into(), batch_id.to_string().into());
        summary.insert("size".into(), events.len().into());
        summary.insert("accepted".into(), new_ids.len().into());
        summary.insert("duplicates".into(), duplicates.into());
        summary.insert("rejected".into(), rejected.len().into());
        summary.insert(
            "first_raw_event_id".into(),
            new_ids.iter().min().copied().into(),
        );
        summary.insert(
            "last_raw_event_id".into(),
            new_ids.iter().max().copied().into(),
        );

        if !events.is_empty() {
            let mut details = sender.audit_details();
            details.extend(summary.clone());
            audit::log(
                client,
                sender.tenant_hk,
                AuditEvent {
                    event_type: "TRACKING_BATCH_RECEIVED",
                    resource_type: RAW_TABLE,
                    resource_id: format!("batch:{batch_id}"),
                    details,
                },
            );
        }

        summary.insert("success".into(), true.into());
        summary.insert(
            "results".into(),
            results.into_iter().map(|(_, r)| r).collect(),
        );
        JsonB(Value::Object(summary))
    })
}

/// A random (version 4) UUID.
fn new_batch_id() -> Uuid {
    let mut bytes = strong_random::<16>();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}
