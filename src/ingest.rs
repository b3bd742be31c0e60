//! The raw landing layer: `raw.ingest_tracking_event` and `raw.batch_ingest_tracking_events`.
//!
//! Both take the same path: arguments are checked, every payload is screened by the pure
//! rules of `onevault_tracking_core::payload`, and the accepted ones land with one set-based
//! INSERT (a single event is a batch of one). A client event id already stored for the tenant
//! makes the item a duplicate that answers with the stored row's id, so retries are idempotent.

use crate::audit::{self, AuditEvent};
use crate::error::{required, TrackingError};
use crate::json;
use crate::random::strong_random;
use crate::salts;
use crate::settings;
use crate::spi;
use crate::staging::{claim_columns, Claimed};
use onevault_tracking_core::hashing::to_hex;
use onevault_tracking_core::ip::{parse_inet, stored_ip};
use onevault_tracking_core::payload::{
    check_payload, client_event_id, json_type_name, page_url_host, PayloadError,
    USER_AGENT_MAX_BYTES,
};
use onevault_tracking_core::visitor::visitor_hashes;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::AnyElement;
use pgrx::{Inet, JsonB, Uuid};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::IpAddr;

const RAW_TABLE: &str = "raw.site_tracking_events_r";

/// The per-call facts shared by every event of a call.
struct Sender<'a> {
    tenant_hk: &'a [u8],
    api_key_hk: Option<&'a [u8]>,
    /// The full address: used for the visitor hash, never stored here.
    client_ip: Option<IpAddr>,
    /// What `onevault_tracking.client_ip_storage` lets the table keep, as inet text.
    stored_ip: Option<String>,
    user_agent: Option<&'a str>,
}

impl<'a> Sender<'a> {
    fn new(
        tenant_hk: Option<&'a [u8]>,
        api_key_hk: Option<&'a [u8]>,
        client_ip: Option<Inet>,
        user_agent: Option<&'a str>,
    ) -> Self {
        let tenant_hk = required(tenant_hk, "p_tenant_hk");
        if let Some(key) = api_key_hk.filter(|k| k.len() != 32) {
            TrackingError::InvalidHashKey {
                name: "p_api_key_hk",
                bytes: key.len(),
            }
            .raise();
        }
        if let Some(ua) = user_agent.filter(|ua| ua.len() > USER_AGENT_MAX_BYTES) {
            TrackingError::UserAgentTooLong {
                bytes: ua.len(),
                limit: USER_AGENT_MAX_BYTES,
            }
            .raise();
        }
        let client_ip = client_ip.and_then(|Inet(text)| parse_inet(&text));
        let stored_ip = client_ip
            .and_then(|ip| stored_ip(settings::client_ip_storage(), ip))
            .map(|ip| ip.to_string());
        Sender {
            tenant_hk,
            api_key_hk,
            client_ip,
            stored_ip,
            user_agent,
        }
    }

    /// Audit details every record of this sender carries (never the IP or user agent).
    fn audit_details(&self) -> Map<String, Value> {
        let mut details = Map::new();
        details.insert("api_key_hk".into(), self.api_key_hk.map(to_hex).into());
        details
    }
}

/// A payload that passed the raw-layer rules.
struct Screened {
    position: usize,
    json_text: String,
    event_id: Option<String>,
    site_host: String,
}

fn screen(position: usize, payload: &Value) -> Result<Screened, PayloadError> {
    let json_text = payload.to_string();
    check_payload(payload, json_text.len(), settings::max_payload_bytes())?;
    let event_id = client_event_id(payload).map(str::to_owned);
    let site_host = page_url_host(payload);
    Ok(Screened {
        position,
        json_text,
        event_id,
        site_host,
    })
}

/// Where a screened payload ended up.
pub(crate) struct Landed {
    position: usize,
    pub raw_event_id: i64,
    pub duplicate: bool,
    /// The stored row, when it was landed for processing in the same call.
    pub claimed: Option<Claimed>,
}

/// How raw rows land: waiting for the drain, or already taken by the caller, which processes
/// them in the same transaction (so no drain can see them PENDING, and marking them processed
/// later, an update of every raw index, is not needed).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Landing {
    Pending,
    TakenForProcessing,
}

macro_rules! land_sql {
    ($returning:expr) => {
        concat!(
            "INSERT INTO raw.site_tracking_events_r
                 (tenant_hk, api_key_hk, client_ip, user_agent, raw_payload, client_event_id,
                  batch_id, batch_position, visitor_hash, visitor_hash_previous, record_source,
                  processing_status, processed_at)
             SELECT $1, $2, $3::inet, $4, item.json_text::jsonb, item.event_id,
                    $5, CASE WHEN $5 IS NULL THEN NULL ELSE item.position END,
                    item.visitor_hash, item.visitor_hash_previous, $11,
                    CASE WHEN $12 THEN 'PROCESSED' ELSE 'PENDING' END,
                    CASE WHEN $12 THEN clock_timestamp() END
               FROM unnest($6::text[], $7::text[], $8::integer[], $9::bytea[], $10::bytea[])
                    AS item (json_text, event_id, position, visitor_hash, visitor_hash_previous)
             ON CONFLICT (tenant_hk, client_event_id) DO NOTHING
             RETURNING coalesce(batch_position, 0), ",
            $returning
        )
    };
}

/// Stores `items` for `sender` in one INSERT; answers in the order of `items`.
fn land(
    client: &mut SpiClient<'_>,
    sender: &Sender<'_>,
    batch_id: Option<Uuid>,
    items: &[Screened],
    landing: Landing,
) -> Vec<Landed> {
    crate::platform::require_core(client);
    let tenant_known = spi::execute(
        client,
        "SELECT EXISTS (SELECT 1 FROM auth.tenant_h WHERE tenant_hk = $1)",
        &[sender.tenant_hk.into()],
    )
    .and_then(|rows| rows.first().get_one::<bool>())
    .expect("tenant lookup");
    if tenant_known != Some(true) {
        TrackingError::UnknownTenant {
            tenant_hex: to_hex(sender.tenant_hk),
        }
        .raise();
    }
    if items.is_empty() {
        return Vec::new();
    }
    let salts = sender.client_ip.map(|_| salts::daily_salts(client));
    let hashes: Vec<_> = items
        .iter()
        .map(|item| {
            salts.as_ref().and_then(|salts| {
                visitor_hashes(salts, &item.site_host, sender.client_ip, sender.user_agent)
            })
        })
        .collect();

    let record_source = crate::platform::record_source(client);
    let taken = landing == Landing::TakenForProcessing;
    let sql = if taken {
        land_sql!(claim_columns!())
    } else {
        land_sql!("raw_event_id")
    };
    let mut inserted: HashMap<usize, (i64, Option<Claimed>)> = spi::execute(
        client,
        sql,
        &[
            sender.tenant_hk.into(),
            sender.api_key_hk.into(),
            sender.stored_ip.clone().into(),
            sender.user_agent.into(),
            batch_id.into(),
            items
                .iter()
                .map(|i| i.json_text.as_str())
                .collect::<Vec<_>>()
                .into(),
            items
                .iter()
                .map(|i| i.event_id.as_deref())
                .collect::<Vec<_>>()
                .into(),
            items
                .iter()
                .map(|i| i.position as i32)
                .collect::<Vec<_>>()
                .into(),
            hashes
                .iter()
                .map(|h| h.map(|h| h.current.to_vec()))
                .collect::<Vec<_>>()
                .into(),
            hashes
                .iter()
                .map(|h| h.and_then(|h| h.previous).map(|p| p.to_vec()))
                .collect::<Vec<_>>()
                .into(),
            record_source.into(),
            taken.into(),
        ],
    )
    .expect("raw insert")
    .map(|row| {
        let position: i32 = row.get(1).expect("batch_position").expect("not null");
        let id: i64 = row.get(2).expect("raw_event_id").expect("not null");
        (
            position as usize,
            (id, taken.then(|| Claimed::from_row(&row, 1))),
        )
    })
    .collect();

    // Whatever was not inserted hit the (tenant, client event id) key: a retry of a stored
    // event, or a repeat inside this batch. Both answer with the stored row.
    let repeated: Vec<&str> = items
        .iter()
        .filter(|i| !inserted.contains_key(&i.position))
        .filter_map(|i| i.event_id.as_deref())
        .collect();
    let stored: HashMap<String, i64> = if repeated.is_empty() {
        HashMap::new()
    } else {
        spi::execute(
            client,
            "SELECT client_event_id, raw_event_id FROM raw.site_tracking_events_r
              WHERE tenant_hk = $1 AND client_event_id = ANY ($2)",
            &[sender.tenant_hk.into(), repeated.into()],
        )
        .expect("duplicate lookup")
        .map(|row| {
            let event_id: String = row.get(1).expect("client_event_id").expect("not null");
            let id: i64 = row.get(2).expect("raw_event_id").expect("not null");
            (event_id, id)
        })
        .collect()
    };

    items
        .iter()
        .map(|item| match inserted.remove(&item.position) {
            Some((raw_event_id, claimed)) => Landed {
                position: item.position,
                raw_event_id,
                duplicate: false,
                claimed,
            },
            None => {
                let event_id = item
                    .event_id
                    .as_deref()
                    .expect("only keyed events conflict");
                Landed {
                    position: item.position,
                    raw_event_id: stored[event_id],
                    duplicate: true,
                    claimed: None,
                }
            }
        })
        .collect()
}

/// Lands one event for the API layer, which audits the whole call itself: the raw event id,
/// whether a stored event with the same client event id answered instead, and the stored row
/// when it was taken for processing.
pub(crate) fn land_event(
    client: &mut SpiClient<'_>,
    tenant_hk: &[u8],
    api_key_hk: Option<&[u8]>,
    client_ip: Option<Inet>,
    user_agent: Option<&str>,
    payload: &Value,
    landing: Landing,
) -> Result<Landed, PayloadError> {
    let sender = Sender::new(Some(tenant_hk), api_key_hk, client_ip, user_agent);
    let item = screen(0, payload)?;
    Ok(
        land(client, &sender, None, std::slice::from_ref(&item), landing)
            .pop()
            .expect("one item in, one out"),
    )
}

/// `raw.ingest_tracking_event` (declared in sql/raw_layer.sql: the raw schema is shared with
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
    let sender = Sender::new(p_tenant_hk, p_api_key_hk, p_client_ip, p_user_agent);
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
        .expect("one item in, one out");
        if !landed.duplicate {
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
    let sender = Sender::new(p_tenant_hk, p_api_key_hk, p_client_ip, p_user_agent);
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
