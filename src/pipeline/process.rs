//! Processing end to end, the orchestration above the stages: raw rows are claimed (raw),
//! staged (staging) and, when VALID, loaded into the vault (vault), in one transaction. The SQL
//! entry points: `staging.process_raw_event`, `staging.process_pending_events`,
//! `staging.reprocess_quarantined_events`, `business.load_staged_events`,
//! `business.load_staged_event` and `onevault_tracking.process_event`.
//!
//! The staging rows (and the vault load) of a batch are written in a subtransaction. If that
//! fails, every row is retried alone in its own subtransaction, so one poison event cannot hold
//! back the others: its raw row is marked ERROR with the message and `retry_count + 1` (outside
//! the rolled-back work, so the mark survives), and FAILED once
//! `onevault_tracking.max_processing_attempts` is reached.

use crate::pipeline::raw;
use crate::pipeline::rollups;
use crate::pipeline::rows::{ClaimedEvent, StagedEvent};
use crate::pipeline::staging::{self, Prepared, STAGED_STATE};
use crate::pipeline::vault::{self, Counts};
use crate::platform::audit::{self, AuditEvent};
use crate::platform::core::record_source;
use crate::postgres::error::{batch_size, required, OrInternal, TrackingError};
use crate::postgres::random::strong_random;
use crate::postgres::settings;
use crate::postgres::spi;
use crate::postgres::subtxn;
use onevault_tracking_core::hashing::to_hex;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::JsonB;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};

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

/// What writing staged events did: the staging rows' states (`STAGED_STATE`) by raw event id,
/// and what the vault load added.
type Written = (HashMap<i64, Value>, Counts);

/// Stages `rows`, loads the VALID ones into the vault when asked to, and marks their raw rows
/// PROCESSED.
fn write(rows: &[&Prepared], processing: Processing) -> Written {
    let ids: Vec<i64> = rows.iter().map(|p| p.raw_event_id).collect();
    Spi::connect_mut(|client| {
        let (states, staged) = staging::write(client, rows, processing.load_vault);
        let counts = load_into_vault(client, &staged);
        if !processing.raw_marked {
            raw::mark_processed(client, ids);
        }
        (states, counts)
    })
}

/// Loads staged events into the vault and adds what they bring to the report rollups.
fn load_into_vault(client: &mut SpiClient<'_>, staged: &[StagedEvent]) -> Counts {
    let (counts, new_events) = vault::load_rows(client, staged);
    rollups::add_loaded(client, &new_events);
    counts
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
fn process(
    client: &mut SpiClient<'_>,
    claimed: &[ClaimedEvent],
    processing: Processing,
) -> Outcome {
    let mut outcome = Outcome::default();
    if claimed.is_empty() {
        return outcome;
    }
    let record_source = record_source(client);

    let mut prepared = Vec::with_capacity(claimed.len());
    let mut failures: Vec<(i64, String)> = Vec::new();
    for event in claimed {
        // The pure core is property-tested never to panic; if it ever does, that one event is
        // an error to retry, not the whole batch.
        match catch_unwind(AssertUnwindSafe(|| staging::prepare(event, &record_source))) {
            Ok(p) => prepared.push(p),
            Err(_) => failures.push((
                event.raw_event_id,
                "internal error while preparing the event".into(),
            )),
        }
    }
    staging::assign_sites(client, &mut prepared);
    staging::assign_sessions(client, &mut prepared);

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
        let final_failure = raw::record_failure(client, raw_event_id, &message);
        outcome.failed.push((raw_event_id, message, final_failure));
    }
    outcome
}

/// One audit record per tenant for a processing call.
fn audit_per_tenant(
    client: &mut SpiClient<'_>,
    event_type: &'static str,
    claimed: &[ClaimedEvent],
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

fn summary(claimed: &[ClaimedEvent], outcome: &Outcome) -> Map<String, Value> {
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
    let claimed = raw::claim_one(client, raw_event_id);
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
fn process_to_vault(client: &mut SpiClient<'_>, raw_event_id: i64) -> (Vec<u8>, Value, Counts) {
    let processing = Processing {
        load_vault: true,
        raw_marked: false,
    };
    process_one(client, raw_event_id, None, processing)
}

/// Processes an event the tracking API has just landed, taken for processing
/// (`Landing::TakenForProcessing`), into staging and the vault: answers with its state and
/// what the vault load added. The caller audits the call.
pub(crate) fn process_landed(client: &mut SpiClient<'_>, landed: ClaimedEvent) -> (Value, Counts) {
    let processing = Processing {
        load_vault: true,
        raw_marked: true,
    };
    process_claimed(client, vec![landed], None, processing)
}

fn process_claimed(
    client: &mut SpiClient<'_>,
    claimed: Vec<ClaimedEvent>,
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
    .or_internal("staged state")
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
        JsonB(Value::Object(drain_pending(
            client,
            batch_size,
            settings::process_loads_vault(),
        )))
    })
}

/// One pass of the drain, for `staging.process_pending_events` and the background workers: up
/// to `batch_size` pending or retryable raw rows, oldest first, skipping rows another session
/// holds, staged and (with `load_vault`) loaded into the vault, with one audit record per tenant.
/// Answers the summary (`claimed`, `valid`, `quarantined`, `errors`, `failed`, ...).
pub fn drain_pending(
    client: &mut SpiClient<'_>,
    batch_size: i64,
    load_vault: bool,
) -> Map<String, Value> {
    let claimed = raw::claim_pending(client, batch_size);
    let processing = Processing {
        load_vault,
        raw_marked: false,
    };
    let outcome = process(client, &claimed, processing);
    if !claimed.is_empty() {
        audit_per_tenant(client, "TRACKING_EVENTS_PROCESSED", &claimed, &outcome);
    }
    summary(&claimed, &outcome)
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
        .or_internal("reset quarantined events")
        .map(|row| spi::column::<i64>(&row, 1, "raw_event_id"))
        .collect();
        let claimed = raw::claim_listed(client, reset.clone());
        let outcome = process(client, &claimed, Processing::configured());
        if !claimed.is_empty() {
            audit_per_tenant(client, "TRACKING_EVENTS_REPROCESSED", &claimed, &outcome);
        }
        let mut answer = summary(&claimed, &outcome);
        answer.insert("reprocessed_raw_event_ids".into(), reset.into());
        JsonB(Value::Object(answer))
    })
}

// Loading staged events into the vault -------------------------------------------------------

fn audit_load(
    client: &mut SpiClient<'_>,
    event_type: &'static str,
    staged: &[StagedEvent],
    counts: &Counts,
) {
    let events = staged
        .iter()
        .map(|event| (event.tenant_hk.clone(), event.raw_event_id));
    audit::log_per_tenant(
        client,
        event_type,
        "business.tracking_event_l",
        events,
        |_| {
            let mut details = Map::new();
            details.insert("rows_added".into(), json!(counts));
            details
        },
    );
}

/// `business.load_staged_events(p_batch_size int DEFAULT 1000) RETURNS jsonb`: loads up to
/// `p_batch_size` VALID staged events that are not loaded yet (`FOR UPDATE SKIP LOCKED`, so
/// several sessions can load at once), each exactly once, set-based.
#[pg_extern(sql = false)]
fn load_staged_events(p_batch_size: Option<i32>) -> JsonB {
    let batch_size = batch_size(p_batch_size);
    Spi::connect_mut(|client| {
        let staged = vault::claim_staged_batch(client, batch_size);
        let counts = load_into_vault(client, &staged);
        if !staged.is_empty() {
            audit_load(client, "TRACKING_EVENTS_LOADED", &staged, &counts);
        }
        JsonB(json!({"loaded": staged.len(), "rows_added": counts}))
    })
}

/// `business.load_staged_event(p_raw_event_id bigint) RETURNS jsonb`: loads one event's staged
/// row if it is VALID and not loaded yet.
#[pg_extern(sql = false)]
fn load_staged_event(p_raw_event_id: Option<i64>) -> JsonB {
    let raw_event_id = required(p_raw_event_id, "p_raw_event_id");
    Spi::connect_mut(|client| {
        let staged = vault::claim_staged_event(client, raw_event_id);
        let counts = load_into_vault(client, &staged);
        if !staged.is_empty() {
            audit_load(client, "TRACKING_EVENT_LOADED", &staged, &counts);
        }
        JsonB(json!({"loaded": staged.len(), "rows_added": counts}))
    })
}

/// A raw event through staging and, when VALID, into the vault; no audit record (callers write
/// one for the whole operation). Answers with the event's tenant, its state and what the vault
/// load added.
pub(crate) fn process_end_to_end(
    client: &mut SpiClient<'_>,
    raw_event_id: i64,
) -> (Vec<u8>, Value, Counts) {
    let (tenant, mut state, mut counts) = process_to_vault(client, raw_event_id);
    // Staged VALID but not loaded: processed with `process_loads_vault` off, now or before.
    if state["validation_status"] == "VALID" && state["loaded_to_vault"] == false {
        let staged = vault::claim_staged_event(client, raw_event_id);
        counts = load_into_vault(client, &staged);
        if let Value::Object(state) = &mut state {
            state.insert("loaded_to_vault".into(), (!staged.is_empty()).into());
        }
    }
    (tenant, state, counts)
}

/// `onevault_tracking.process_event(p_raw_event_id bigint) RETURNS jsonb`: a raw event end to
/// end (staging, then the vault when VALID) with one audit record.
#[pg_extern(sql = false)]
fn process_event(p_raw_event_id: Option<i64>) -> JsonB {
    let raw_event_id = required(p_raw_event_id, "p_raw_event_id");
    Spi::connect_mut(|client| {
        let (tenant, state, counts) = process_end_to_end(client, raw_event_id);
        let mut details = Map::new();
        details.insert("raw_event_id".into(), raw_event_id.into());
        details.insert(
            "status".into(),
            state.get("status").cloned().unwrap_or(Value::Null),
        );
        details.insert(
            "validation_status".into(),
            state
                .get("validation_status")
                .cloned()
                .unwrap_or(Value::Null),
        );
        details.insert("rows_added".into(), json!(counts));
        audit::log(
            client,
            &tenant,
            AuditEvent {
                event_type: "TRACKING_EVENT_PROCESSED",
                resource_type: "business.tracking_event_l",
                resource_id: format!(
                    "raw_event:{raw_event_id}:processed:{}",
                    to_hex(&strong_random::<4>())
                ),
                details,
            },
        );
        JsonB(state)
    })
}
