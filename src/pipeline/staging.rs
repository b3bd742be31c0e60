//! The staging stage: a claimed raw event validated and enriched in Rust (the pure core does
//! the deciding), sessions assigned (a client's session id, or derived with a 30-minute idle
//! window, joining sessions already in staging), and the staging rows written with one
//! set-based INSERT. An event that fails validation is not an error: it is staged as INVALID
//! with its reasons.

use crate::pipeline::rows::{ClaimedEvent, StagedEvent};
use crate::pipeline::sites;
use crate::pipeline::user_agent::parse_user_agent;
use crate::postgres::error::OrInternal;
use crate::postgres::rowset::RowSet;
use crate::postgres::spi::{self, bytea_literal};
use onevault_tracking_core::enrich::enrich;
use onevault_tracking_core::ip::parse_inet;
use onevault_tracking_core::sessions::{Sessionizer, SESSION_IDLE_MICROS};
use onevault_tracking_core::validate::validate;
use onevault_tracking_core::visitor::{VisitorHash, VisitorHashes};
use pgrx::spi::SpiClient;
use pgrx::JsonB;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const STAGING_TABLE: &str = "staging.site_tracking_events_s";

/// The columns processing writes; a prepared row (`prepare`) has these keys.
const STAGING_COLUMNS: [&str; 44] = [
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
    "site_domain",
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

/// Writes the staging rows; with `$1` (the vault is loaded in the same transaction) the VALID
/// ones are written as loaded and answered as the vault loader reads them (`StagedEvent`),
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
         RETURNING s.raw_event_id, {STAGED_STATE}, s.loaded_to_vault, {staged}",
        rows = rows.subquery(2),
        staged = StagedEvent::select_list("NULL::bytea")
    )
}

/// A staging row ready to write, with what session assignment needs.
pub struct Prepared {
    pub raw_event_id: i64,
    pub tenant_hk: Vec<u8>,
    pub valid: bool,
    row: Map<String, Value>,
    at_micros: i64,
    page_host: Option<String>,
    /// The site the event belongs to (`assign_sites`); `None` without a page host.
    site_domain: Option<String>,
    visitor: Option<VisitorHashes>,
    client_session: bool,
    api_key_hk: Option<Vec<u8>>,
}

pub fn prepare(event: &ClaimedEvent, record_source: &str) -> Prepared {
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
        site_domain: enrichment.page_host.as_ref().and(event.site_domain.clone()),
        page_host: enrichment.page_host,
        visitor: event.visitor,
        client_session: fields.session_id.is_some(),
        api_key_hk: event.api_key_hk.clone(),
    }
}

/// Sets the site of every event with a page host that the landing call did not attribute
/// (`pipeline::sites`, one look-up for all of them).
pub fn assign_sites(client: &mut SpiClient<'_>, prepared: &mut [Prepared]) {
    let resolved = sites::resolve(
        client,
        prepared
            .iter()
            .filter(|p| p.site_domain.is_none())
            .filter_map(|p| Some((p.tenant_hk.as_slice(), p.page_host.as_deref()?))),
    );
    for p in prepared.iter_mut() {
        if p.site_domain.is_none() {
            if let Some(host) = &p.page_host {
                p.site_domain = resolved.get(&(p.tenant_hk.clone(), host.clone())).cloned();
            }
        }
        p.row
            .insert("site_domain".into(), p.site_domain.clone().into());
    }
}

/// Derives sessions for the valid events that bring none, joining sessions already in staging.
pub fn assign_sessions(client: &mut SpiClient<'_>, prepared: &mut [Prepared]) {
    let mut needing: Vec<usize> = (0..prepared.len())
        .filter(|&i| {
            prepared[i].valid && !prepared[i].client_session && prepared[i].visitor.is_some()
        })
        .collect();
    if needing.is_empty() {
        return;
    }
    let mut sessionizer = Sessionizer::default();
    let (mut tenants, mut sites, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
    for &i in &needing {
        let p = &prepared[i];
        let visitor = p.visitor.or_internal("filtered");
        for hash in [Some(visitor.current), visitor.previous]
            .into_iter()
            .flatten()
        {
            tenants.push(p.tenant_hk.clone());
            sites.push(p.site_domain.clone().unwrap_or_default());
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
    // Two transactions deriving sessions for one visitor at once (two workers, a worker and a
    // tracking call, two drains) would each miss the other's uncommitted events and split one
    // visit in two. So each visitor (tenant and hash) is locked for the rest of the transaction
    // before its sessions are looked up, in one order for everyone (no deadlock); the second
    // transaction waits for the first to commit, and its look-up, with a snapshot taken after
    // the wait, sees the first one's events. Different visitors never wait for each other but
    // for a rare collision of the 64-bit keys.
    let mut visitor_locks: Vec<i64> = tenants
        .iter()
        .zip(&hashes)
        .map(|(tenant, hash)| visitor_lock_key(tenant, hash))
        .collect();
    visitor_locks.sort_unstable();
    visitor_locks.dedup();
    spi::execute(
        client,
        "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k",
        &[visitor_locks.into()],
    )
    .or_internal("lock the visitors whose sessions are derived");
    // A session is known by the span of its events, so each stored session comes back once with
    // its first and last event in the window, however many events it has.
    let known = spi::execute(
        client,
        "SELECT s.tenant_hk, s.site_domain, s.visitor_hash, s.session_id,
                (extract(epoch FROM min(s.event_timestamp)) * 1000000)::bigint,
                (extract(epoch FROM max(s.event_timestamp)) * 1000000)::bigint
           FROM (SELECT DISTINCT * FROM unnest($1::bytea[], $2::text[], $3::bytea[])) AS k (tenant_hk, site_domain, visitor_hash)
           JOIN staging.site_tracking_events_s AS s
             ON s.tenant_hk = k.tenant_hk AND s.site_domain = k.site_domain AND s.visitor_hash = k.visitor_hash
          WHERE s.session_source = 'derived'
            AND s.event_timestamp BETWEEN to_timestamp($4::float8 / 1000000) AND to_timestamp($5::float8 / 1000000)
          GROUP BY 1, 2, 3, 4",
        &[
            tenants.into(),
            sites.into(),
            hashes.into(),
            earliest.saturating_sub(SESSION_IDLE_MICROS).into(),
            latest.saturating_add(SESSION_IDLE_MICROS).into(),
        ],
    )
    .or_internal("look up open sessions");
    for row in known {
        let tenant: Vec<u8> = spi::column(&row, 1, "tenant_hk");
        let site: String = spi::column(&row, 2, "site_domain");
        let hash: Vec<u8> = spi::column(&row, 3, "visitor_hash");
        let session: String = spi::column(&row, 4, "session_id");
        let first: i64 = spi::column(&row, 5, "first event_timestamp");
        let last: i64 = spi::column(&row, 6, "last event_timestamp");
        if let Ok(hash) = VisitorHash::try_from(hash.as_slice()) {
            let key = (tenant, site, hash);
            sessionizer.remember(key.clone(), session.clone(), first);
            sessionizer.remember(key, session, last);
        }
    }
    needing.sort_by_key(|&i| (prepared[i].at_micros, prepared[i].raw_event_id));
    for i in needing {
        let p = &mut prepared[i];
        let visitor = p.visitor.or_internal("filtered");
        let assigned = sessionizer.assign(
            &p.tenant_hk,
            p.site_domain.as_deref().unwrap_or_default(),
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

/// The advisory lock key of a visitor: its hash's first 8 bytes mixed with its tenant's.
fn visitor_lock_key(tenant_hk: &[u8], visitor_hash: &[u8]) -> i64 {
    let word = |bytes: &[u8]| {
        let mut eight = [0u8; 8];
        for (to, from) in eight.iter_mut().zip(bytes) {
            *to = *from;
        }
        i64::from_be_bytes(eight)
    };
    word(visitor_hash) ^ word(tenant_hk).rotate_left(17)
}

/// What an answer about a staged event shows of its staging row (`s`).
pub const STAGED_STATE: &str = "jsonb_build_object('staging_event_id', s.staging_event_id,
        'validation_status', s.validation_status, 'errors', s.validation_errors,
        'quality_score', s.quality_score, 'session_id', s.session_id,
        'loaded_to_vault', s.loaded_to_vault)";

/// Writes the staging rows of `rows`; with `load_vault` (the caller loads the vault in the same
/// transaction) the VALID ones are written as loaded. Answers each written row's state
/// (`STAGED_STATE`) by raw event id, and the rows written as loaded, for the vault load.
pub fn write(
    client: &mut SpiClient<'_>,
    rows: &[&Prepared],
    load_vault: bool,
) -> (HashMap<i64, Value>, Vec<StagedEvent>) {
    let api_keys: HashMap<i64, Option<Vec<u8>>> = rows
        .iter()
        .map(|p| (p.raw_event_id, p.api_key_hk.clone()))
        .collect();
    let mut input = RowSet::new(client, STAGING_TABLE, &STAGING_COLUMNS);
    for p in rows {
        input.push(&p.row);
    }
    let sql = insert_staging_sql(&input);
    let mut args = vec![load_vault.into()];
    args.extend(input.into_args());
    let mut states = HashMap::new();
    let mut staged = Vec::new();
    for row in spi::execute(client, &sql, &args).or_internal("insert staging rows") {
        let id: i64 = spi::column(&row, 1, "raw_event_id");
        if let Some(JsonB(state)) = row.get::<JsonB>(2).ok().flatten() {
            states.insert(id, state);
        }
        if row.get::<bool>(3).ok().flatten() == Some(true) {
            let mut event = StagedEvent::from_row(&row, 3);
            event.api_key_hk = api_keys.get(&id).cloned().flatten();
            staged.push(event);
        }
    }
    (states, staged)
}

fn micros_to_datetime(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn datetime_to_micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}
