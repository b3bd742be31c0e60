//! The typed rows handed from one pipeline stage to the next: a raw event claimed for
//! processing (raw → staging) and a staged event as the vault loads it (staging → vault). Each
//! type owns the SQL that reads it, so the stages agree on columns without knowing each other.

use crate::pipeline::model::TRACKING_EVENT_DETAILS_S;
use crate::postgres::error::OrInternal;
use crate::postgres::json;
use crate::postgres::spi;
use onevault_tracking_core::visitor::{VisitorHash, VisitorHashes};
use pgrx::spi::SpiHeapTupleData;
use pgrx::JsonB;
use serde_json::Value;
use std::sync::OnceLock;

macro_rules! claim_columns {
    () => {
        "raw_event_id, tenant_hk, (extract(epoch FROM received_at) * 1000000)::bigint, \
         client_ip::text, user_agent, raw_payload::text, visitor_hash, visitor_hash_previous, \
         processing_status, api_key_hk"
    };
}
pub(crate) use claim_columns;

/// A raw row taken for processing, copied out of SPI memory.
pub struct ClaimedEvent {
    pub raw_event_id: i64,
    pub tenant_hk: Vec<u8>,
    pub received_at_micros: i64,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub payload: Value,
    pub visitor: Option<VisitorHashes>,
    pub status: String,
    pub api_key_hk: Option<Vec<u8>>,
    /// The registered site the landing call attributed the event to (not a raw column: only
    /// an event processed in the call that landed it has one; staging looks the others up).
    pub site_domain: Option<String>,
}

impl ClaimedEvent {
    /// Reads `claim_columns!` from a row where they follow `offset` other columns.
    pub fn from_row(row: &SpiHeapTupleData<'_>, offset: usize) -> Self {
        let at = |ordinal: usize| ordinal + offset;
        let hash = |ordinal: usize| -> Option<VisitorHash> {
            row.get::<Vec<u8>>(at(ordinal))
                .ok()
                .flatten()
                .and_then(|bytes| VisitorHash::try_from(bytes.as_slice()).ok())
        };
        let visitor = hash(7).map(|current| VisitorHashes {
            current,
            previous: hash(8),
        });
        ClaimedEvent {
            raw_event_id: spi::column(row, at(1), "raw_event_id"),
            tenant_hk: spi::column(row, at(2), "tenant_hk"),
            received_at_micros: spi::column(row, at(3), "received_at"),
            client_ip: row.get(at(4)).ok().flatten(),
            user_agent: row.get(at(5)).ok().flatten(),
            payload: row
                .get::<String>(at(6))
                .ok()
                .flatten()
                .and_then(|text| json::parse(&text, json::MAX_STORED_DEPTH).ok())
                .unwrap_or(Value::Null),
            visitor,
            status: spi::column(row, at(9), "processing_status"),
            api_key_hk: row.get(at(10)).ok().flatten(),
            site_domain: None,
        }
    }
}

/// A VALID staging row as the vault loader reads it. `details` are the values of
/// `TRACKING_EVENT_DETAILS_S.attributes`, in that order, in the form hash_diff is computed over
/// (timestamps in UTC and bytea as `\x...` whatever `TimeZone` and `bytea_output` say, objects
/// and arrays as JSON), so a load does not depend on session settings.
pub struct StagedEvent {
    pub raw_event_id: i64,
    pub tenant_hk: Vec<u8>,
    pub page_host: Option<String>,
    /// The site the event belongs to (`pipeline::sites`); `None` without a page host.
    pub site_domain: Option<String>,
    pub page_path: Option<String>,
    pub session_id: Option<String>,
    /// The key the raw row was landed with (not a staging column).
    pub api_key_hk: Option<Vec<u8>>,
    /// The event time in UTC (ISO-8601, so it orders as text).
    pub event_timestamp: Option<String>,
    pub details: Vec<Value>,
}

/// How the event time reads in `details` and `event_timestamp`.
const UTC_TEXT: &str = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";

impl StagedEvent {
    /// The columns `from_row` reads, over the staging row `s`, with `api_key_hk` as the
    /// expression of the raw row's key.
    pub fn select_list(api_key_hk: &str) -> String {
        format!("{}, {api_key_hk}", Self::staging_columns())
    }

    fn staging_columns() -> &'static str {
        static SQL: OnceLock<String> = OnceLock::new();
        SQL.get_or_init(|| {
            let details: Vec<String> = TRACKING_EVENT_DETAILS_S
                .attributes
                .iter()
                .map(|name| match *name {
                    "visitor_hash" => format!("'\\x' || encode(s.{name}, 'hex')"),
                    "event_timestamp" => {
                        format!("to_char(s.{name} AT TIME ZONE 'UTC', {UTC_TEXT})")
                    }
                    _ => format!("s.{name}"),
                })
                .collect();
            format!(
                "s.raw_event_id, s.tenant_hk, s.page_host, s.page_path, s.session_id,
                 to_char(s.event_timestamp AT TIME ZONE 'UTC', {UTC_TEXT}),
                 jsonb_build_array({}), s.site_domain",
                details.join(", ")
            )
        })
    }

    /// Reads `select_list` from a row where it follows `offset` other columns.
    pub fn from_row(row: &SpiHeapTupleData<'_>, offset: usize) -> Self {
        let at = |ordinal: usize| ordinal + offset;
        let attributes = TRACKING_EVENT_DETAILS_S.attributes.len();
        let details = row
            .get::<JsonB>(at(7))
            .or_internal("staged event details")
            .and_then(|JsonB(value)| match value {
                Value::Array(values) if values.len() == attributes => Some(values),
                _ => None,
            })
            .or_internal("staged event details");
        StagedEvent {
            site_domain: row.get(at(8)).or_internal("staged site_domain"),
            raw_event_id: spi::column(row, at(1), "staged raw_event_id"),
            tenant_hk: spi::column(row, at(2), "staged tenant_hk"),
            page_host: row.get(at(3)).or_internal("staged page_host"),
            page_path: row.get(at(4)).or_internal("staged page_path"),
            session_id: row.get(at(5)).or_internal("staged session_id"),
            event_timestamp: row.get(at(6)).or_internal("staged event_timestamp"),
            details,
            api_key_hk: row.get(at(9)).or_internal("staged api_key_hk"),
        }
    }
}
