//! The earlier PL/pgSQL tracking generation's rows, migrated into our pipeline.
//!
//! `sql/earlier_generation.sql` moves the earlier tables into `onevault_tracking_legacy` at
//! install; `onevault_tracking.migrate_earlier_generation()` (called at the end of the install,
//! and callable again) lands each earlier raw row in `raw.site_tracking_events_r` and
//! processes it like any event:
//! * its payload exactly as the earlier API stored it (staging reads it as the platform dialect,
//!   core/src/dialect.rs), its original receipt time, its stored tenant (the platform corrected
//!   some by hand; nothing here can know better), its record source;
//! * its earlier `batch_id` (the `event_id` the earlier API answered) as the client event id, or
//!   `earlier:<raw_event_id>` without one, so landing it again adds nothing;
//! * a visitor hash computed from the full address it still holds, under a salt made for its UTC
//!   day for this run only and never stored (so visitors of one day stay linked, days are not,
//!   and nothing can link the hashes to addresses afterwards); the address itself is stored as
//!   `onevault_tracking.client_ip_storage` says.
//!
//! Then the earlier table's own addresses get the same treatment: they are history now, not
//! rate-limit state. Rows that cannot land (a payload that is not an object, or over the size
//! limit; a tenant that no longer exists) stay in the legacy table and are listed in the answer
//! and in `onevault_tracking_legacy.migration_runs`.

use crate::pipeline::sites;
use crate::platform::audit;
use crate::postgres::error::OrInternal;
use crate::postgres::random::strong_random;
use crate::postgres::settings;
use onevault_tracking_core::ip::{parse_inet, stored_ip};
use onevault_tracking_core::payload::{
    check_payload, is_client_id, page_url_host, EVENT_ID_MAX_BYTES,
};
use onevault_tracking_core::visitor::{visitor_hashes, DailySalts, Salt};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::JsonB;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const LEGACY_RAW: &str = "onevault_tracking_legacy.site_tracking_events_r";
/// Earlier rows landed per statement.
const MIGRATION_BATCH: usize = 1000;

/// An earlier raw row as it is read.
struct EarlierRow {
    raw_event_id: i64,
    tenant_hk: Vec<u8>,
    tenant_known: bool,
    received_micros: i64,
    client_ip: Option<String>,
    user_agent: Option<String>,
    payload: String,
    batch_id: Option<String>,
    record_source: Option<String>,
}

fn read_earlier_rows(client: &mut SpiClient<'_>) -> Vec<EarlierRow> {
    let sql = format!(
        "SELECT e.raw_event_id::bigint, e.tenant_hk,
                EXISTS (SELECT 1 FROM auth.tenant_h AS t WHERE t.tenant_hk = e.tenant_hk),
                (extract(epoch FROM coalesce(e.received_timestamp, clock_timestamp())) * 1000000)::bigint,
                host(e.client_ip), e.user_agent, e.raw_payload::text, e.batch_id::text, e.record_source::text
           FROM {LEGACY_RAW} AS e
          ORDER BY e.raw_event_id"
    );
    let rows = client
        .select(&sql, None, &[])
        .or_internal("reading the earlier raw rows");
    rows.map(|row| EarlierRow {
        raw_event_id: row.get::<i64>(1).ok().flatten().unwrap_or_default(),
        tenant_hk: row.get::<Vec<u8>>(2).ok().flatten().unwrap_or_default(),
        tenant_known: row.get::<bool>(3).ok().flatten().unwrap_or(false),
        received_micros: row.get::<i64>(4).ok().flatten().unwrap_or_default(),
        client_ip: row.get::<String>(5).ok().flatten(),
        user_agent: row.get::<String>(6).ok().flatten(),
        payload: row.get::<String>(7).ok().flatten().unwrap_or_default(),
        batch_id: row.get::<String>(8).ok().flatten(),
        record_source: row.get::<String>(9).ok().flatten(),
    })
    .collect()
}

/// Why an earlier row cannot land, if it cannot.
fn not_landable(row: &EarlierRow, payload: &Value) -> Option<String> {
    if !row.tenant_known {
        return Some("its tenant is no longer in auth.tenant_h".into());
    }
    check_payload(payload, row.payload.len(), settings::max_payload_bytes())
        .err()
        .map(|e| e.to_string())
}

/// The client event id the row lands with.
fn client_event_id(row: &EarlierRow) -> String {
    row.batch_id
        .as_deref()
        .filter(|id| is_client_id(id, EVENT_ID_MAX_BYTES))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("earlier:{}", row.raw_event_id))
}

/// Salts for the UTC day of `micros`, and the day before, made once per run.
fn salts_of_day(salts: &mut HashMap<i64, Salt>, micros: i64) -> DailySalts {
    let day = micros.div_euclid(86_400_000_000);
    let mut salt = |d: i64| *salts.entry(d).or_insert_with(strong_random::<32>);
    DailySalts {
        current: salt(day),
        previous: Some(salt(day - 1)),
    }
}

/// Columns of the rows to land, one array per column.
#[derive(Default)]
struct Landing {
    tenants: Vec<Vec<u8>>,
    received: Vec<i64>,
    ips: Vec<Option<String>>,
    user_agents: Vec<Option<String>>,
    payloads: Vec<String>,
    event_ids: Vec<String>,
    hashes: Vec<Option<Vec<u8>>>,
    previous_hashes: Vec<Option<Vec<u8>>>,
    record_sources: Vec<Option<String>>,
}

fn land(client: &mut SpiClient<'_>, rows: &Landing, record_source: &str) -> Vec<(i64, Vec<u8>)> {
    client
        .update(
            "INSERT INTO raw.site_tracking_events_r
                 (tenant_hk, received_at, client_ip, user_agent, raw_payload, client_event_id,
                  visitor_hash, visitor_hash_previous, record_source, processing_status)
             SELECT item.tenant_hk, 'epoch'::timestamptz + item.received * interval '1 microsecond', item.ip::inet, item.user_agent,
                    item.payload::jsonb, item.event_id, item.hash, item.previous_hash,
                    coalesce(item.record_source, $10), 'PENDING'
               FROM unnest($1::bytea[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
                           $7::bytea[], $8::bytea[], $9::text[])
                    AS item (tenant_hk, received, ip, user_agent, payload, event_id, hash, previous_hash, record_source)
             ON CONFLICT (tenant_hk, client_event_id) DO NOTHING
             RETURNING raw_event_id, tenant_hk",
            None,
            &[
                rows.tenants.clone().into(),
                rows.received.clone().into(),
                rows.ips.clone().into(),
                rows.user_agents.clone().into(),
                rows.payloads.clone().into(),
                rows.event_ids.clone().into(),
                rows.hashes.clone().into(),
                rows.previous_hashes.clone().into(),
                rows.record_sources.clone().into(),
                record_source.into(),
            ],
        )
        .or_internal("landing the earlier rows")
        .map(|row| {
            (
                row.get::<i64>(1).ok().flatten().unwrap_or_default(),
                row.get::<Vec<u8>>(2).ok().flatten().unwrap_or_default(),
            )
        })
        .collect()
}

/// The earlier table's addresses as `onevault_tracking.client_ip_storage` says.
fn anonymise_earlier_addresses(client: &mut SpiClient<'_>, rows: &[EarlierRow]) -> usize {
    let mode = settings::client_ip_storage();
    let (mut ids, mut ips) = (Vec::new(), Vec::new());
    for row in rows {
        let Some(text) = row.client_ip.as_deref() else {
            continue;
        };
        let stored = parse_inet(text).and_then(|ip| stored_ip(mode, ip));
        if stored.map(|ip| ip.to_string()).as_deref() != Some(text) {
            ids.push(row.raw_event_id);
            ips.push(stored.map(|ip| ip.to_string()));
        }
    }
    if ids.is_empty() {
        return 0;
    }
    let sql = format!(
        "UPDATE {LEGACY_RAW} AS e SET client_ip = item.ip::inet
           FROM unnest($1::bigint[], $2::text[]) AS item (id, ip)
          WHERE e.raw_event_id = item.id"
    );
    client
        .update(&sql, None, &[ids.clone().into(), ips.into()])
        .or_internal("anonymising the earlier addresses");
    ids.len()
}

/// Drains the pending queue, where the migrated rows wait, until `landed` rows were taken:
/// staging and the vault, set-based, like any drain. Answers the counts by outcome.
fn process_landed(client: &mut SpiClient<'_>, landed: usize) -> Map<String, Value> {
    let mut totals = Map::new();
    let mut taken = 0;
    while taken < landed {
        let summary = client
            .update(
                "SELECT staging.process_pending_events($1)",
                None,
                &[(MIGRATION_BATCH as i32).into()],
            )
            .and_then(|rows| rows.first().get_one::<JsonB>())
            .or_internal("processing the migrated rows")
            .map(|JsonB(v)| v)
            .unwrap_or(Value::Null);
        let claimed = summary["claimed"].as_u64().unwrap_or(0) as usize;
        if claimed == 0 {
            break;
        }
        taken += claimed;
        for outcome in ["valid", "quarantined", "errors", "failed"] {
            let sum = totals.get(outcome).and_then(Value::as_u64).unwrap_or(0)
                + summary[outcome].as_u64().unwrap_or(0);
            totals.insert(outcome.into(), sum.into());
        }
    }
    totals
}

/// `onevault_tracking.migrate_earlier_generation() RETURNS jsonb`.
#[pg_extern(sql = false)]
fn migrate_earlier_generation() -> JsonB {
    Spi::connect_mut(|client| {
        let present = client
            .select(
                &format!("SELECT to_regclass('{LEGACY_RAW}') IS NOT NULL"),
                None,
                &[],
            )
            .and_then(|rows| rows.first().get_one::<bool>())
            .or_internal("looking for the earlier generation");
        if present != Some(true) {
            return JsonB(
                json!({"success": true, "earlier_generation": false, "earlier_rows": 0, "migrated": 0}),
            );
        }
        let rows = read_earlier_rows(client);
        let record_source = crate::platform::core::record_source(client);
        let ip_mode = settings::client_ip_storage();
        let mut salts = HashMap::new();
        let mut not_migrated = Vec::new();
        let mut landed = Vec::new();
        for chunk in rows.chunks(MIGRATION_BATCH) {
            let mut batch = Landing::default();
            let payloads: Vec<Value> = chunk
                .iter()
                .map(|row| serde_json::from_str(&row.payload).unwrap_or(Value::Null))
                .collect();
            let hosts: Vec<String> = payloads.iter().map(page_url_host).collect();
            // A visitor is counted per registered site, as the pipeline does (core/src/visitor.rs).
            let sites = sites::resolve(
                client,
                chunk
                    .iter()
                    .zip(&hosts)
                    .map(|(row, host)| (row.tenant_hk.as_slice(), host.as_str())),
            );
            for ((row, payload), host) in chunk.iter().zip(payloads).zip(&hosts) {
                if let Some(reason) = not_landable(row, &payload) {
                    not_migrated.push(json!({"raw_event_id": row.raw_event_id, "reason": reason}));
                    continue;
                }
                let full_ip = row.client_ip.as_deref().and_then(parse_inet);
                let user_agent = row
                    .user_agent
                    .clone()
                    .filter(|ua| ua.len() <= onevault_tracking_core::payload::USER_AGENT_MAX_BYTES);
                let site = sites
                    .get(&(row.tenant_hk.clone(), host.clone()))
                    .unwrap_or(host);
                let hashes = visitor_hashes(
                    &salts_of_day(&mut salts, row.received_micros),
                    site,
                    full_ip,
                    user_agent.as_deref(),
                );
                batch.tenants.push(row.tenant_hk.clone());
                batch.received.push(row.received_micros);
                batch.ips.push(
                    full_ip
                        .and_then(|ip| stored_ip(ip_mode, ip))
                        .map(|ip| ip.to_string()),
                );
                batch.user_agents.push(user_agent);
                batch.payloads.push(row.payload.clone());
                batch.event_ids.push(client_event_id(row));
                batch.hashes.push(hashes.map(|h| h.current.to_vec()));
                batch
                    .previous_hashes
                    .push(hashes.and_then(|h| h.previous).map(|h| h.to_vec()));
                batch.record_sources.push(row.record_source.clone());
            }
            if !batch.tenants.is_empty() {
                landed.extend(land(client, &batch, &record_source));
            }
        }
        // The run's salts are dropped here: nothing can recompute these hashes.
        drop(salts);
        let anonymised = anonymise_earlier_addresses(client, &rows);
        let already = rows.len() - not_migrated.len() - landed.len();

        let mut processed = Map::new();
        if !landed.is_empty() {
            processed = process_landed(client, landed.len());
            audit::log_per_tenant(
                client,
                "EARLIER_GENERATION_MIGRATED",
                "raw.site_tracking_events_r",
                landed.iter().map(|(id, tenant)| (tenant.clone(), *id)),
                |_| {
                    let mut details = Map::new();
                    details.insert("source".into(), LEGACY_RAW.into());
                    details
                },
            );
        }
        let answer = json!({
            "success": true, "earlier_generation": true, "earlier_rows": rows.len(),
            "migrated": landed.len(), "already_migrated": already,
            "not_migrated": not_migrated, "processed": processed,
            "earlier_addresses_anonymised": anonymised,
        });
        client
            .update(
                "INSERT INTO onevault_tracking_legacy.migration_runs
                        (earlier_rows, migrated, already_migrated, not_migrated)
                 VALUES ($1, $2, $3, $4)",
                None,
                &[
                    (rows.len() as i32).into(),
                    (landed.len() as i32).into(),
                    (already as i32).into(),
                    JsonB(answer["not_migrated"].clone()).into(),
                ],
            )
            .or_internal("recording the migration run");
        JsonB(answer)
    })
}
