//! Processing raw events into staging: `staging.process_raw_event`,
//! `staging.process_pending_events` and `staging.reprocess_quarantined_events`.
//!
//! A claimed raw row is validated and enriched in Rust, sessions are assigned, and the staging
//! rows are written with one set-based INSERT in a subtransaction. If that fails, every row is
//! retried alone in its own subtransaction, so one poison event cannot hold back the others: its
//! raw row is marked ERROR with the message and `retry_count + 1` (outside the rolled-back work,
//! so the mark survives), and FAILED once `onevault_tracking.max_processing_attempts` is reached.
//! An event that fails validation is not an error: it is staged as INVALID with its reasons.

use crate::audit;
use crate::enrich::parse_user_agent;
use crate::error::{batch_size, required, TrackingError};
use crate::rowset::RowSet;
use crate::settings;
use crate::spi::{self, bytea_literal};
use crate::subtxn;
use crate::vault::{self, staged_json, Counts};
use onevault_tracking_core::enrich::enrich;
use onevault_tracking_core::hashing::to_hex;
use onevault_tracking_core::ip::parse_inet;
use onevault_tracking_core::sessions::{Sessionizer, SESSION_IDLE_MICROS};
use onevault_tracking_core::validate::validate;
use onevault_tracking_core::visitor::{VisitorHash, VisitorHashes};
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiHeapTupleData};
use pgrx::JsonB;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const STAGING_TABLE: &str = "staging.site_tracking_events_s";

/// The columns processing writes; a prepared row (`prepare`) has these keys.
const STAGING_COLUMNS: [&str; 43] = [
    "raw_event_id",
    "tenant_hk",
    "validation_status",
    "validation_errors",
    "validation_warnings",
    "quality_score",
    "event_type",
    "event_name",
    "client_event_id",
    "event_timestamp",
    "timestamp_from_client",
    "page_url",
    "page_host",
    "page_path",
    "page_query",
    "page_title",
    "referrer_url",
    "properties",
    "screen_width",
    "language",
    "timezone",
    "referrer_host",
    "channel",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "msclkid",
    "fbclid",
    "click_ids",
    "browser_name",
    "browser_version",
    "os_name",
    "os_version",
    "device_type",
    "is_bot",
    "client_ip_anonymized",
    "visitor_hash",
    "session_id",
    "session_source",
    "record_source",
];

/// The raw columns a claim reads, in the order `Claimed::from_row` expects.
macro_rules! claim_columns {
    () => {
        "raw_event_id, tenant_hk, (extract(epoch FROM received_at) * 1000000)::bigint, \
         client_ip::text, user_agent, raw_payload::text, visitor_hash, visitor_hash_previous, \
         processing_status, api_key_hk"
    };
}
pub(crate) use claim_columns;

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

/// Writes the staging rows; with `$1` (the vault is loaded in the same transaction) the VALID
/// ones are written as loaded and answered as the vault loader reads them (`staged_json`),
/// which spares the loader an update of each staged row (staging has eight indexes, and
/// `loaded_to_vault` is in one's predicate, so that update is never in place).
fn insert_staging_sql(rows: &RowSet) -> String {
    let columns = STAGING_COLUMNS.join(", ");
    format!(
        "INSERT INTO {STAGING_TABLE} AS s ({columns}, loaded_to_vault, loaded_at)
         SELECT {columns}, $1 AND validation_status = 'VALID',
                CASE WHEN $1 AND validation_status = 'VALID' THEN clock_timestamp() END
           FROM {rows} AS i
         ON CONFLICT (raw_event_id) DO NOTHING
         RETURNING s.raw_event_id, {STAGED_STATE}, CASE WHEN s.loaded_to_vault THEN {staged} END",
        rows = rows.subquery(2),
        staged = staged_json()
    )
}

const MARK_PROCESSED: &str = "UPDATE raw.site_tracking_events_r
        SET processing_status = 'PROCESSED', processed_at = clock_timestamp(), error_message = NULL
      WHERE raw_event_id = ANY ($1)";

/// A raw row taken for processing, copied out of SPI memory.
pub(crate) struct Claimed {
    raw_event_id: i64,
    tenant_hk: Vec<u8>,
    received_at_micros: i64,
    client_ip: Option<String>,
    user_agent: Option<String>,
    payload: Value,
    visitor: Option<VisitorHashes>,
    status: String,
    api_key_hk: Option<Vec<u8>>,
}

impl Claimed {
    /// Reads `claim_columns!` from a row where they follow `offset` other columns.
    pub(crate) fn from_row(row: &SpiHeapTupleData<'_>, offset: usize) -> Self {
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
        Claimed {
            raw_event_id: row.get(at(1)).ok().flatten().expect("raw_event_id"),
            tenant_hk: row.get(at(2)).ok().flatten().expect("tenant_hk"),
            received_at_micros: row.get(at(3)).ok().flatten().expect("received_at"),
            client_ip: row.get(at(4)).ok().flatten(),
            user_agent: row.get(at(5)).ok().flatten(),
            payload: row
                .get::<String>(at(6))
                .ok()
                .flatten()
                .and_then(|text| crate::json::parse(&text, crate::json::MAX_STORED_DEPTH).ok())
                .unwrap_or(Value::Null),
            visitor,
            status: row.get(at(9)).ok().flatten().expect("processing_status"),
            api_key_hk: row.get(at(10)).ok().flatten(),
        }
    }
}

fn claim(
    client: &mut SpiClient<'_>,
    sql: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
) -> Vec<Claimed> {
    spi::execute(client, sql, args)
        .expect("claim raw events")
        .map(|row| Claimed::from_row(&row, 0))
        .collect()
}

/// A staging row ready to write, with what session assignment needs.
struct Prepared {
    raw_event_id: i64,
    tenant_hk: Vec<u8>,
    valid: bool,
    row: Map<String, Value>,
    at_micros: i64,
    site_host: String,
    visitor: Option<VisitorHashes>,
    client_session: bool,
    api_key_hk: Option<Vec<u8>>,
}

fn prepare(event: &Claimed, record_source: &str) -> Prepared {
    let received_at = micros_to_datetime(event.received_at_micros);
    let validation = validate(&event.payload, received_at);
    let fields = &validation.fields;
    let client_ip = event.client_ip.as_deref().and_then(parse_inet);
    let enrichment = enrich(
        fields,
        parse_user_agent(event.user_agent.as_deref()),
        client_ip,
    );
    let event_time = fields.timestamp.unwrap_or(received_at);
    let ua = &enrichment.user_agent;
    let campaign = &enrichment.campaign;
    let click_id = |name: &str| campaign.click_ids.get(name).cloned();
    let valid = validation.is_valid();
    let row = json!({
        "raw_event_id": event.raw_event_id,
        "tenant_hk": bytea_literal(&event.tenant_hk),
        "validation_status": if valid { "VALID" } else { "INVALID" },
        "validation_errors": validation.errors.iter().map(|i| i.to_json()).collect::<Vec<_>>(),
        "validation_warnings": validation.warnings.iter().map(|i| i.to_json()).collect::<Vec<_>>(),
        "quality_score": validation.quality_score,
        "event_type": fields.event_type.map(|t| t.as_str()),
        "event_name": fields.event_name,
        "client_event_id": fields.event_id,
        "event_timestamp": event_time.format(&Rfc3339).ok(),
        "timestamp_from_client": fields.timestamp.is_some(),
        "page_url": fields.page_url,
        "page_host": enrichment.page_host,
        "page_path": enrichment.page_path,
        "page_query": enrichment.page_query,
        "page_title": fields.page_title,
        "referrer_url": fields.referrer,
        "properties": fields.properties,
        "screen_width": fields.screen_width,
        "language": fields.language,
        "timezone": fields.timezone,
        "referrer_host": enrichment.referrer_host,
        "channel": enrichment.channel.as_str(),
        "utm_source": campaign.utm_source,
        "utm_medium": campaign.utm_medium,
        "utm_campaign": campaign.utm_campaign,
        "utm_term": campaign.utm_term,
        "utm_content": campaign.utm_content,
        "gclid": click_id("gclid"),
        "msclkid": click_id("msclkid"),
        "fbclid": click_id("fbclid"),
        "click_ids": campaign.click_ids,
        "browser_name": ua.browser_name,
        "browser_version": ua.browser_version,
        "os_name": ua.os_name,
        "os_version": ua.os_version,
        "device_type": ua.device_type.as_str(),
        "is_bot": ua.is_bot,
        "client_ip_anonymized": enrichment.client_ip_anonymized.map(|ip| ip.to_string()),
        "visitor_hash": event.visitor.map(|v| bytea_literal(&v.current)),
        "session_id": fields.session_id,
        "session_source": fields.session_id.as_ref().map(|_| "client"),
        "record_source": record_source,
    });
    let Value::Object(row) = row else {
        unreachable!("json! of an object")
    };
    Prepared {
        raw_event_id: event.raw_event_id,
        tenant_hk: event.tenant_hk.clone(),
        valid,
        row,
        at_micros: datetime_to_micros(event_time),
        site_host: enrichment.page_host.unwrap_or_default(),
        visitor: event.visitor,
        client_session: fields.session_id.is_some(),
        api_key_hk: event.api_key_hk.clone(),
    }
}

/// Derives sessions for the valid events that bring none, joining sessions already in staging.
fn assign_sessions(client: &mut SpiClient<'_>, prepared: &mut [Prepared]) {
    let mut needing: Vec<usize> = (0..prepared.len())
        .filter(|&i| {
            prepared[i].valid && !prepared[i].client_session && prepared[i].visitor.is_some()
        })
        .collect();
    if needing.is_empty() {
        return;
    }
    let mut sessionizer = Sessionizer::default();
    let (mut tenants, mut hosts, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
    for &i in &needing {
        let p = &prepared[i];
        let visitor = p.visitor.expect("filtered");
        for hash in [Some(visitor.current), visitor.previous]
            .into_iter()
            .flatten()
        {
            tenants.push(p.tenant_hk.clone());
            hosts.push(p.site_host.clone());
            hashes.push(hash.to_vec());
        }
    }
    let earliest = needing
        .iter()
        .map(|&i| prepared[i].at_micros)
        .min()
        .unwrap_or(0);
    let latest = needing
        .iter()
        .map(|&i| prepared[i].at_micros)
        .max()
        .unwrap_or(0);
    // A session is known by the span of its events, so each stored session comes back once with
    // its first and last event in the window, however many events it has.
    let known = spi::execute(
        client,
        "SELECT s.tenant_hk, s.page_host, s.visitor_hash, s.session_id,
                (extract(epoch FROM min(s.event_timestamp)) * 1000000)::bigint,
                (extract(epoch FROM max(s.event_timestamp)) * 1000000)::bigint
           FROM (SELECT DISTINCT * FROM unnest($1::bytea[], $2::text[], $3::bytea[])) AS k (tenant_hk, page_host, visitor_hash)
           JOIN staging.site_tracking_events_s AS s
             ON s.tenant_hk = k.tenant_hk AND s.page_host = k.page_host AND s.visitor_hash = k.visitor_hash
          WHERE s.session_source = 'derived'
            AND s.event_timestamp BETWEEN to_timestamp($4::float8 / 1000000) AND to_timestamp($5::float8 / 1000000)
          GROUP BY 1, 2, 3, 4",
        &[
            tenants.into(),
            hosts.into(),
            hashes.into(),
            earliest.saturating_sub(SESSION_IDLE_MICROS).into(),
            latest.saturating_add(SESSION_IDLE_MICROS).into(),
        ],
    )
    .expect("look up open sessions");
    for row in known {
        let tenant: Vec<u8> = row.get(1).ok().flatten().expect("tenant_hk");
        let host: String = row.get(2).ok().flatten().expect("page_host");
        let hash: Vec<u8> = row.get(3).ok().flatten().expect("visitor_hash");
        let session: String = row.get(4).ok().flatten().expect("session_id");
        let first: i64 = row.get(5).ok().flatten().expect("first event_timestamp");
        let last: i64 = row.get(6).ok().flatten().expect("last event_timestamp");
        if let Ok(hash) = VisitorHash::try_from(hash.as_slice()) {
            let key = (tenant, host, hash);
            sessionizer.remember(key.clone(), session.clone(), first);
            sessionizer.remember(key, session, last);
        }
    }
    needing.sort_by_key(|&i| (prepared[i].at_micros, prepared[i].raw_event_id));
    for i in needing {
        let p = &mut prepared[i];
        let visitor = p.visitor.expect("filtered");
        let assigned = sessionizer.assign(
            &p.tenant_hk,
            &p.site_host,
            visitor,
            p.at_micros,
            p.raw_event_id,
        );
        p.row
            .insert("session_id".into(), assigned.session_id.into());
        p.row.insert("session_source".into(), "derived".into());
        p.row.insert(
            "visitor_hash".into(),
            bytea_literal(&assigned.visitor_hash).into(),
        );
    }
}

/// How processing treats the events it stages.
#[derive(Clone, Copy)]
struct Processing {
    /// Load the VALID events into the vault in the same transaction.
    load_vault: bool,
    /// The raw rows landed as PROCESSED already: the tracking API took them for processing in
    /// the same transaction.
    raw_marked: bool,
}

impl Processing {
    /// How the drain and the processing functions work: per `onevault_tracking.process_loads_vault`.
    fn configured() -> Self {
        Processing {
            load_vault: settings::process_loads_vault(),
            raw_marked: false,
        }
    }
}

/// What an answer about a staged event shows of its staging row (`s`).
const STAGED_STATE: &str = "jsonb_build_object('staging_event_id', s.staging_event_id,
        'validation_status', s.validation_status, 'errors', s.validation_errors,
        'quality_score', s.quality_score, 'session_id', s.session_id,
        'loaded_to_vault', s.loaded_to_vault)";

/// What writing staged events did: the staging rows' states (`STAGED_STATE`) by raw event id,
/// and what the vault load added.
type Written = (HashMap<i64, Value>, Counts);

/// Writes `rows`, loads the VALID ones into the vault when asked to, and marks their raw rows
/// PROCESSED.
fn write(rows: &[&Prepared], processing: Processing) -> Written {
    let ids: Vec<i64> = rows.iter().map(|p| p.raw_event_id).collect();
    let api_keys: HashMap<i64, Option<String>> = rows
        .iter()
        .map(|p| (p.raw_event_id, p.api_key_hk.as_deref().map(to_hex)))
        .collect();
    Spi::connect_mut(|client| {
        let mut input = RowSet::new(client, STAGING_TABLE, &STAGING_COLUMNS);
        for p in rows {
            input.push(&p.row);
        }
        let sql = insert_staging_sql(&input);
        let mut args = vec![processing.load_vault.into()];
        args.extend(input.into_args());
        let mut states = HashMap::new();
        let mut staged: Vec<Value> = Vec::new();
        for row in spi::execute(client, &sql, &args).expect("insert staging rows") {
            let id: i64 = row.get(1).ok().flatten().expect("raw_event_id");
            if let Some(JsonB(state)) = row.get::<JsonB>(2).ok().flatten() {
                states.insert(id, state);
            }
            if let Some(JsonB(Value::Object(mut loaded))) = row.get::<JsonB>(3).ok().flatten() {
                let api_key = api_keys.get(&id).cloned().flatten();
                loaded.insert("api_key_hk".into(), api_key.into());
                staged.push(Value::Object(loaded));
            }
        }
        let counts = vault::load_rows(client, &staged);
        if !processing.raw_marked {
            spi::execute(client, MARK_PROCESSED, &[ids.into()]).expect("mark raw rows processed");
        }
        (states, counts)
    })
}

/// What became of each claimed event.
#[derive(Default)]
struct Outcome {
    valid: Vec<i64>,
    invalid: Vec<i64>,
    /// (raw event id, message, final?)
    failed: Vec<(i64, String, bool)>,
    /// Whether the VALID events were loaded into the vault too.
    loaded_to_vault: bool,
    /// Rows the vault load added, per table.
    rows_added: Counts,
    /// The written staging rows' states (`STAGED_STATE`), by raw event id.
    states: HashMap<i64, Value>,
}

/// Validates, enriches, sessionizes and stages `claimed`, and loads the VALID events into the
/// vault when asked to; failures are recorded on the raw rows.
fn process(client: &mut SpiClient<'_>, claimed: &[Claimed], processing: Processing) -> Outcome {
    let mut outcome = Outcome::default();
    if claimed.is_empty() {
        return outcome;
    }
    let record_source = crate::platform::record_source(client);

    let mut prepared = Vec::with_capacity(claimed.len());
    let mut failures: Vec<(i64, String)> = Vec::new();
    for event in claimed {
        // The pure core is property-tested never to panic; if it ever does, that one event is
        // an error to retry, not the whole batch.
        match catch_unwind(AssertUnwindSafe(|| prepare(event, &record_source))) {
            Ok(p) => prepared.push(p),
            Err(_) => failures.push((
                event.raw_event_id,
                "internal error while preparing the event".into(),
            )),
        }
    }
    assign_sessions(client, &mut prepared);

    outcome.loaded_to_vault = processing.load_vault;
    let mut add = |(states, counts): Written| {
        outcome.states.extend(states);
        for (table, added) in counts {
            *outcome.rows_added.entry(table).or_default() += added;
        }
    };
    let all: Vec<&Prepared> = prepared.iter().collect();
    let written: Vec<&Prepared> = match subtxn::attempt(|| write(&all, processing)) {
        Ok(written) => {
            add(written);
            all
        }
        Err(_) => {
            let mut written = Vec::new();
            for p in all {
                match subtxn::attempt(|| write(&[p], processing)) {
                    Ok(done) => {
                        add(done);
                        written.push(p);
                    }
                    Err(message) => failures.push((p.raw_event_id, message)),
                }
            }
            written
        }
    };
    for p in written {
        if p.valid {
            &mut outcome.valid
        } else {
            &mut outcome.invalid
        }
        .push(p.raw_event_id);
    }
    for (raw_event_id, message) in failures {
        let final_failure = record_failure(client, raw_event_id, &message);
        outcome.failed.push((raw_event_id, message, final_failure));
    }
    outcome
}

/// Marks a raw row ERROR (or FAILED when out of attempts); answers whether it is final.
fn record_failure(client: &mut SpiClient<'_>, raw_event_id: i64, message: &str) -> bool {
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
    .expect("record processing failure")
    .unwrap_or(false)
}

/// One audit record per tenant for a processing call.
fn audit_per_tenant(
    client: &mut SpiClient<'_>,
    event_type: &'static str,
    claimed: &[Claimed],
    outcome: &Outcome,
) {
    let failed: Vec<i64> = outcome.failed.iter().map(|f| f.0).collect();
    let final_failures: Vec<i64> = outcome.failed.iter().filter(|f| f.2).map(|f| f.0).collect();
    audit::log_per_tenant(
        client,
        event_type,
        "staging.site_tracking_events_s",
        claimed
            .iter()
            .map(|e| (e.tenant_hk.clone(), e.raw_event_id)),
        |ids| {
            let mine: HashSet<i64> = ids.iter().copied().collect();
            let count = |list: &[i64]| list.iter().filter(|id| mine.contains(id)).count();
            let mut details = Map::new();
            details.insert("valid".into(), count(&outcome.valid).into());
            details.insert("quarantined".into(), count(&outcome.invalid).into());
            details.insert("errors".into(), count(&failed).into());
            details.insert("failed".into(), count(&final_failures).into());
            if outcome.loaded_to_vault {
                details.insert("loaded_to_vault".into(), count(&outcome.valid).into());
            }
            details
        },
    );
}

fn summary(claimed: &[Claimed], outcome: &Outcome) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("claimed".into(), claimed.len().into());
    out.insert("valid".into(), outcome.valid.len().into());
    out.insert("quarantined".into(), outcome.invalid.len().into());
    out.insert(
        "errors".into(),
        outcome.failed.iter().filter(|f| !f.2).count().into(),
    );
    out.insert(
        "failed".into(),
        outcome.failed.iter().filter(|f| f.2).count().into(),
    );
    if outcome.loaded_to_vault {
        out.insert("loaded_to_vault".into(), outcome.valid.len().into());
        out.insert("rows_added".into(), json!(outcome.rows_added));
    }
    out
}

/// `staging.process_raw_event(p_raw_event_id bigint) RETURNS jsonb`.
#[pg_extern(sql = false)]
fn process_raw_event(p_raw_event_id: Option<i64>) -> JsonB {
    let raw_event_id = required(p_raw_event_id, "p_raw_event_id");
    Spi::connect_mut(|client| {
        let processing = Processing::configured();
        JsonB(
            process_one(
                client,
                raw_event_id,
                Some("TRACKING_EVENT_PROCESSED"),
                processing,
            )
            .1,
        )
    })
}

/// Processes one raw event if it is still pending (waiting for a session that holds it), and
/// answers with its tenant, its state and what the vault load added. `audit_as` names the audit
/// record to write; `None` when the caller audits the whole operation itself.
fn process_one(
    client: &mut SpiClient<'_>,
    raw_event_id: i64,
    audit_as: Option<&'static str>,
    processing: Processing,
) -> (Vec<u8>, Value, Counts) {
    let claimed = claim(
        client,
        claim!("raw_event_id = $1 FOR UPDATE"),
        &[raw_event_id.into()],
    );
    let Some(event) = claimed.first() else {
        TrackingError::UnknownRawEvent { raw_event_id }.raise()
    };
    let tenant_hk = event.tenant_hk.clone();
    if !matches!(event.status.as_str(), "PENDING" | "ERROR") {
        let state = staged_state(client, raw_event_id, &event.status);
        return (tenant_hk, state, Counts::new());
    }
    let (state, counts) = process_claimed(client, claimed, audit_as, processing);
    (tenant_hk, state, counts)
}

/// Processes one raw event end to end (staging, and the vault when VALID) without an audit
/// record (callers write one for the whole operation): answers with its tenant, its state and
/// what the vault load added.
pub(crate) fn process_to_vault(
    client: &mut SpiClient<'_>,
    raw_event_id: i64,
) -> (Vec<u8>, Value, Counts) {
    let processing = Processing {
        load_vault: true,
        raw_marked: false,
    };
    process_one(client, raw_event_id, None, processing)
}

/// Processes an event the tracking API has just landed, taken for processing
/// (`Landing::TakenForProcessing`), into staging and the vault: answers with its state and
/// what the vault load added. The caller audits the call.
pub(crate) fn process_landed(client: &mut SpiClient<'_>, landed: Claimed) -> (Value, Counts) {
    let processing = Processing {
        load_vault: true,
        raw_marked: true,
    };
    process_claimed(client, vec![landed], None, processing)
}

fn process_claimed(
    client: &mut SpiClient<'_>,
    claimed: Vec<Claimed>,
    audit_as: Option<&'static str>,
    processing: Processing,
) -> (Value, Counts) {
    let raw_event_id = claimed[0].raw_event_id;
    let mut outcome = process(client, &claimed, processing);
    if let Some(event_type) = audit_as {
        audit_per_tenant(client, event_type, &claimed, &outcome);
    }
    let status = match outcome.failed.first() {
        Some((_, _, true)) => "FAILED",
        Some(_) => "ERROR",
        None => "PROCESSED",
    };
    // An event landed for processing in this call has not been retried, and the staging insert
    // answered its state: no need to read it back.
    let known = outcome
        .states
        .remove(&raw_event_id)
        .filter(|_| processing.raw_marked && status == "PROCESSED");
    let state = match known {
        Some(staged) => answer_about(raw_event_id, status, Some(0), staged),
        None => staged_state(client, raw_event_id, status),
    };
    (state, outcome.rows_added)
}

/// The answer about one raw event: its processing status and, once staged, its staging row.
fn staged_state(client: &mut SpiClient<'_>, raw_event_id: i64, status: &str) -> Value {
    let (staged, retry_count, error_message) = spi::execute(
        client,
        &format!(
            "SELECT {STAGED_STATE}, r.retry_count, r.error_message
               FROM raw.site_tracking_events_r r
               LEFT JOIN staging.site_tracking_events_s s USING (raw_event_id)
              WHERE r.raw_event_id = $1"
        ),
        &[raw_event_id.into()],
    )
    .expect("staged state")
    .next()
    .map(|row| {
        (
            row.get::<JsonB>(1)
                .ok()
                .flatten()
                .map_or(Value::Null, |j| j.0),
            row.get::<i32>(2).ok().flatten(),
            row.get::<String>(3).ok().flatten(),
        )
    })
    .unwrap_or((Value::Null, None, None));
    let mut answer = answer_about(raw_event_id, status, retry_count, staged);
    if let (Value::Object(answer), Some(message)) = (&mut answer, error_message) {
        answer.insert("error_message".into(), message.into());
    }
    answer
}

/// `{"raw_event_id", "status", "retry_count"}` and the staging row's state (`STAGED_STATE`),
/// without its NULLs (an unstaged event has none).
fn answer_about(raw_event_id: i64, status: &str, retry_count: Option<i32>, staged: Value) -> Value {
    let mut answer = json!({"raw_event_id": raw_event_id, "status": status});
    if let Value::Object(answer) = &mut answer {
        if let Value::Object(staged) = staged {
            answer.extend(staged.into_iter().filter(|(_, v)| !v.is_null()));
        }
        if let Some(retries) = retry_count {
            answer.insert("retry_count".into(), retries.into());
        }
    }
    answer
}

/// `staging.process_pending_events(p_batch_size int DEFAULT 1000) RETURNS jsonb`: drains up
/// to `p_batch_size` pending or retryable raw rows. Rows locked by another session are skipped
/// (`FOR UPDATE SKIP LOCKED`), so several sessions can drain at once without overlap.
#[pg_extern(sql = false)]
fn process_pending_events(p_batch_size: Option<i32>) -> JsonB {
    let batch_size = batch_size(p_batch_size);
    Spi::connect_mut(|client| {
        let claimed = claim(
            client,
            claim!("processing_status IN ('PENDING', 'ERROR') ORDER BY raw_event_id LIMIT $1 FOR UPDATE SKIP LOCKED"),
            &[batch_size.into()],
        );
        let outcome = process(client, &claimed, Processing::configured());
        if !claimed.is_empty() {
            audit_per_tenant(client, "TRACKING_EVENTS_PROCESSED", &claimed, &outcome);
        }
        JsonB(Value::Object(summary(&claimed, &outcome)))
    })
}

/// `staging.reprocess_quarantined_events(p_tenant_hk bytea, p_raw_event_ids bigint[] DEFAULT
/// NULL) RETURNS jsonb`: after a fix (a rule relaxed, a bug mended), gives a tenant's
/// quarantined (INVALID) and FAILED events, or the listed ones, a fresh start and processes them.
#[pg_extern(sql = false)]
fn reprocess_quarantined_events(
    p_tenant_hk: Option<&[u8]>,
    p_raw_event_ids: Option<Vec<i64>>,
) -> JsonB {
    let tenant_hk = required(p_tenant_hk, "p_tenant_hk");
    Spi::connect_mut(|client| {
        let reset: Vec<i64> = spi::execute(
            client,
            "WITH target AS (
                 SELECT r.raw_event_id
                   FROM raw.site_tracking_events_r r
                   LEFT JOIN staging.site_tracking_events_s s USING (raw_event_id)
                  WHERE r.tenant_hk = $1
                    AND ($2::bigint[] IS NULL OR r.raw_event_id = ANY ($2))
                    AND (s.validation_status = 'INVALID' OR r.processing_status = 'FAILED')
                    FOR UPDATE OF r),
             unstaged AS (
                 DELETE FROM staging.site_tracking_events_s s USING target
                  WHERE s.raw_event_id = target.raw_event_id AND s.validation_status = 'INVALID')
             UPDATE raw.site_tracking_events_r r
                SET processing_status = 'PENDING', retry_count = 0, error_message = NULL, processed_at = NULL
               FROM target WHERE r.raw_event_id = target.raw_event_id
             RETURNING r.raw_event_id",
            &[tenant_hk.into(), p_raw_event_ids.into()],
        )
        .expect("reset quarantined events")
        .map(|row| row.get::<i64>(1).ok().flatten().expect("raw_event_id"))
        .collect();
        let claimed = claim(
            client,
            claim!("raw_event_id = ANY ($1) ORDER BY raw_event_id FOR UPDATE"),
            &[reset.clone().into()],
        );
        let outcome = process(client, &claimed, Processing::configured());
        if !claimed.is_empty() {
            audit_per_tenant(client, "TRACKING_EVENTS_REPROCESSED", &claimed, &outcome);
        }
        let mut answer = summary(&claimed, &outcome);
        answer.insert("reprocessed_raw_event_ids".into(), reset.into());
        JsonB(Value::Object(answer))
    })
}

fn micros_to_datetime(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn datetime_to_micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}
