//! The raw stage: landing screened payloads in `raw.site_tracking_events_r` with the visitor
//! hash (computed here, while the full IP is in hand, so events processed later still get it),
//! and claiming raw rows for processing.

use crate::pipeline::rows::{claim_columns, ClaimedEvent};
use crate::pipeline::sites;
use crate::platform::core::record_source;
use crate::platform::tenant::ensure_tenant;
use crate::postgres::error::{required, OrInternal, TrackingError};
use crate::postgres::settings;
use crate::postgres::spi;
use onevault_tracking_core::hashing::to_hex;
use onevault_tracking_core::ip::{parse_inet, stored_ip};
use onevault_tracking_core::payload::{
    check_payload, client_event_id, page_url_host, PayloadError, USER_AGENT_MAX_BYTES,
};
use onevault_tracking_core::visitor::{visitor_hashes, DailySalts};
use pgrx::spi::SpiClient;
use pgrx::{Inet, Uuid};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::net::IpAddr;

pub const RAW_TABLE: &str = "raw.site_tracking_events_r";

/// Where a landing gets the day's visitor salts (kept by the privacy layer), asked only when
/// a visitor hash is computed.
pub type SaltSource = fn(&mut SpiClient<'_>) -> DailySalts;

/// The per-call facts shared by every event of a call.
pub struct Sender<'a> {
    pub tenant_hk: &'a [u8],
    api_key_hk: Option<&'a [u8]>,
    /// The full address: used for the visitor hash, never stored here.
    client_ip: Option<IpAddr>,
    /// What `onevault_tracking.client_ip_storage` lets the table keep, as inet text.
    stored_ip: Option<String>,
    user_agent: Option<&'a str>,
    salts: SaltSource,
    /// The registered site the caller attributed the events to (a tracking call's key or page
    /// URL), if it did; otherwise each event's site is looked up by its page host.
    site_domain: Option<String>,
}

impl<'a> Sender<'a> {
    pub fn new(
        tenant_hk: Option<&'a [u8]>,
        api_key_hk: Option<&'a [u8]>,
        client_ip: Option<Inet>,
        user_agent: Option<&'a str>,
        salts: SaltSource,
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
            salts,
            site_domain: None,
        }
    }

    /// The sender's events belong to the registered site `site_domain`.
    pub fn for_site(mut self, site_domain: &str) -> Self {
        self.site_domain = Some(site_domain.to_owned());
        self
    }

    /// Audit details every record of this sender carries (never the IP or user agent).
    pub fn audit_details(&self) -> Map<String, Value> {
        let mut details = Map::new();
        details.insert("api_key_hk".into(), self.api_key_hk.map(to_hex).into());
        details
    }
}

/// A payload that passed the raw-layer rules.
pub struct Screened {
    position: usize,
    pub json_text: String,
    pub event_id: Option<String>,
    site_host: String,
}

pub fn screen(position: usize, payload: &Value) -> Result<Screened, PayloadError> {
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
pub struct Landed {
    pub position: usize,
    pub raw_event_id: i64,
    pub duplicate: bool,
    /// The stored row, when it was landed for processing in the same call.
    pub claimed: Option<ClaimedEvent>,
}

/// How raw rows land: waiting for the drain, or already taken by the caller, which processes
/// them in the same transaction (so no drain can see them PENDING, and marking them processed
/// later, an update of every raw index, is not needed).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Landing {
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
pub fn land(
    client: &mut SpiClient<'_>,
    sender: &Sender<'_>,
    batch_id: Option<Uuid>,
    items: &[Screened],
    landing: Landing,
) -> Vec<Landed> {
    ensure_tenant(client, sender.tenant_hk);
    if items.is_empty() {
        return Vec::new();
    }
    let salts = sender.client_ip.map(|_| (sender.salts)(client));
    // A visitor is counted per site, not per page host (core/src/visitor.rs).
    let resolved = match (&salts, &sender.site_domain) {
        (Some(_), None) => sites::resolve(
            client,
            items
                .iter()
                .map(|item| (sender.tenant_hk, item.site_host.as_str())),
        ),
        _ => HashMap::new(),
    };
    let hashes: Vec<_> = items
        .iter()
        .map(|item| {
            let site = sender
                .site_domain
                .as_deref()
                .or_else(|| {
                    resolved
                        .get(&(sender.tenant_hk.to_vec(), item.site_host.clone()))
                        .map(String::as_str)
                })
                .unwrap_or(&item.site_host);
            salts
                .as_ref()
                .and_then(|salts| visitor_hashes(salts, site, sender.client_ip, sender.user_agent))
        })
        .collect();

    let record_source = record_source(client);
    let taken = landing == Landing::TakenForProcessing;
    let sql = if taken {
        land_sql!(claim_columns!())
    } else {
        land_sql!("raw_event_id")
    };
    let mut inserted: HashMap<usize, (i64, Option<ClaimedEvent>)> = spi::execute(
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
    .or_internal("raw insert")
    .map(|row| {
        let position: i32 = row
            .get(1)
            .or_internal("batch_position")
            .or_internal("not null");
        let id: i64 = row
            .get(2)
            .or_internal("raw_event_id")
            .or_internal("not null");
        (
            position as usize,
            (
                id,
                taken.then(|| {
                    let mut claimed = ClaimedEvent::from_row(&row, 1);
                    claimed.site_domain = sender.site_domain.clone();
                    claimed
                }),
            ),
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
        .or_internal("duplicate lookup")
        .map(|row| {
            let event_id: String = row
                .get(1)
                .or_internal("client_event_id")
                .or_internal("not null");
            let id: i64 = row
                .get(2)
                .or_internal("raw_event_id")
                .or_internal("not null");
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
                    .or_internal("only keyed events conflict");
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
pub fn land_event(
    client: &mut SpiClient<'_>,
    sender: &Sender<'_>,
    payload: &Value,
    landing: Landing,
) -> Result<Landed, PayloadError> {
    let item = screen(0, payload)?;
    Ok(
        land(client, sender, None, std::slice::from_ref(&item), landing)
            .pop()
            .or_internal("one item in, one out"),
    )
}

macro_rules! claim {
    ($condition:literal) => {
        concat!(
            "SELECT ",
            claim_columns!(),
            " FROM raw.site_tracking_events_r WHERE ",
            $condition
        )
    };
}

/// Raw rows taken for processing: the one with `raw_event_id` (waiting for a session that
/// holds it), locked until the end of the transaction.
pub fn claim_one(client: &mut SpiClient<'_>, raw_event_id: i64) -> Vec<ClaimedEvent> {
    claim(
        client,
        claim!("raw_event_id = $1 FOR UPDATE"),
        &[raw_event_id.into()],
    )
}

/// Up to `batch_size` pending or retryable raw rows, oldest first; rows locked by another
/// session are skipped (`FOR UPDATE SKIP LOCKED`), so several sessions can drain at once
/// without overlap.
pub fn claim_pending(client: &mut SpiClient<'_>, batch_size: i64) -> Vec<ClaimedEvent> {
    claim(
        client,
        claim!("processing_status IN ('PENDING', 'ERROR') ORDER BY raw_event_id LIMIT $1 FOR UPDATE SKIP LOCKED"),
        &[batch_size.into()],
    )
}

/// The listed raw rows, in id order, locked.
pub fn claim_listed(client: &mut SpiClient<'_>, raw_event_ids: Vec<i64>) -> Vec<ClaimedEvent> {
    claim(
        client,
        claim!("raw_event_id = ANY ($1) ORDER BY raw_event_id FOR UPDATE"),
        &[raw_event_ids.into()],
    )
}

fn claim(
    client: &mut SpiClient<'_>,
    sql: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
) -> Vec<ClaimedEvent> {
    spi::execute(client, sql, args)
        .or_internal("claim raw events")
        .map(|row| ClaimedEvent::from_row(&row, 0))
        .collect()
}

/// Marks processed raw rows PROCESSED.
pub fn mark_processed(client: &mut SpiClient<'_>, raw_event_ids: Vec<i64>) {
    spi::execute(
        client,
        "UPDATE raw.site_tracking_events_r
            SET processing_status = 'PROCESSED', processed_at = clock_timestamp(), error_message = NULL
          WHERE raw_event_id = ANY ($1)",
        &[raw_event_ids.into()],
    )
    .or_internal("mark raw rows processed");
}

/// Marks a raw row ERROR (or FAILED when out of attempts); answers whether it is final.
pub fn record_failure(client: &mut SpiClient<'_>, raw_event_id: i64, message: &str) -> bool {
    spi::execute(
        client,
        "UPDATE raw.site_tracking_events_r
            SET retry_count = retry_count + 1,
                processing_status = CASE WHEN retry_count + 1 >= $3 THEN 'FAILED' ELSE 'ERROR' END,
                error_message = $2
          WHERE raw_event_id = $1
      RETURNING processing_status = 'FAILED'",
        &[
            raw_event_id.into(),
            message.into(),
            settings::max_processing_attempts().into(),
        ],
    )
    .and_then(|rows| rows.first().get_one::<bool>())
    .or_internal("record processing failure")
    .unwrap_or(false)
}
