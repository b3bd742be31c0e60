//! The business vault loaders: one for every hub, one for every link, one for every satellite,
//! each driven by a table description, and the load of staged events into them
//! (`business.load_staged_events`, `business.load_staged_event`,
//! `onevault_tracking.process_event`).
//!
//! Safe under concurrency by construction:
//! * hubs and links are `INSERT ... ON CONFLICT DO NOTHING` in key order: no check-then-insert,
//!   no unique violation, and sessions that insert overlapping new keys wait for each other in
//!   the same order, so they cannot deadlock;
//! * a satellite load first takes transaction advisory locks on its parent keys in key order,
//!   then end-dates the current rows whose hash_diff differs and inserts where no current row is
//!   left (a partial unique index guarantees one current row per key);
//! * tables are always loaded in the same order (hubs, links, satellites).

use crate::pipeline::model::{
    Hub, Link, Satellite, PAGE_DETAILS_S, PAGE_H, PAGE_SITE_L, SESSION_DETAILS_S, SESSION_H,
    SESSION_SITE_L, SITE_H, TRACKING_EVENT_DETAILS_S, TRACKING_EVENT_L,
};
use crate::pipeline::rows::StagedEvent;
use crate::postgres::error::OrInternal;
use crate::postgres::rowset::RowSet;
use crate::postgres::spi::{self, bytea_literal};
use onevault_tracking_core::hashing::{hash_diff, HashKey};
use onevault_tracking_core::vault::{
    link_key, page_key, session_key, site_key, tracking_event_key,
};
use pgrx::spi::SpiClient;
use pgrx::JsonB;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What every row of a load carries.
pub struct LoadContext {
    pub record_source: String,
}

impl LoadContext {
    pub fn new(client: &mut SpiClient<'_>) -> Self {
        LoadContext {
            record_source: crate::platform::core::record_source(client),
        }
    }
}

fn column_list(columns: &[&str]) -> String {
    columns.join(", ")
}

/// Keys a hub or link load inserted: their satellites cannot have rows yet.
pub type NewKeys = HashSet<HashKey>;

/// Inserts the rows (JSON objects keyed by column name) whose key is new; answers those keys.
fn insert_new(
    client: &mut SpiClient<'_>,
    table: &'static str,
    key: &str,
    columns: &[&'static str],
    rows: BTreeMap<HashKey, Map<String, Value>>,
) -> NewKeys {
    if rows.is_empty() {
        return NewKeys::new();
    }
    let list = column_list(columns);
    let mut input = RowSet::new(client, table, columns);
    for row in rows.values() {
        input.push(row);
    }
    let sql = format!(
        "INSERT INTO {table} ({list}) SELECT {list} FROM {rows} AS i
          ORDER BY {key} ON CONFLICT ({key}) DO NOTHING RETURNING {key}",
        rows = input.subquery(1)
    );
    spi::execute(client, &sql, &input.into_args())
        .or_internal("load new keys")
        .filter_map(|row| row.get::<Vec<u8>>(1).ok().flatten())
        .filter_map(|key| HashKey::try_from(key.as_slice()).ok())
        .collect()
}

pub struct HubRow {
    pub key: HashKey,
    pub business_key: String,
    pub tenant_hk: Vec<u8>,
}

/// The hub loader: inserts the keys that are new.
pub fn load_hub(
    client: &mut SpiClient<'_>,
    context: &LoadContext,
    hub: &Hub,
    rows: Vec<HubRow>,
) -> NewKeys {
    let rows: BTreeMap<HashKey, Map<String, Value>> = rows
        .into_iter()
        .map(|row| {
            let mut object = Map::new();
            object.insert(hub.key.into(), bytea_literal(&row.key).into());
            object.insert(hub.business_key.into(), row.business_key.into());
            object.insert("tenant_hk".into(), bytea_literal(&row.tenant_hk).into());
            object.insert("record_source".into(), context.record_source.clone().into());
            (row.key, object)
        })
        .collect();
    let columns = [hub.key, hub.business_key, "tenant_hk", "record_source"];
    insert_new(client, hub.table, hub.key, &columns, rows)
}

pub struct LinkRow {
    pub business_key: Option<String>,
    /// The hub keys, in the order of `Link::hubs`.
    pub hubs: Vec<Option<HashKey>>,
    pub tenant_hk: Vec<u8>,
    /// The link's own key; `None` derives it from the hub keys.
    pub key: Option<HashKey>,
}

impl LinkRow {
    fn link_key(&self, link: &Link) -> HashKey {
        debug_assert_eq!(self.hubs.len(), link.hubs.len());
        self.key.unwrap_or_else(|| {
            let hubs: Vec<Option<&HashKey>> = self.hubs.iter().map(Option::as_ref).collect();
            link_key(&self.tenant_hk, &hubs)
        })
    }
}

/// The link loader: inserts the relationships that are new.
pub fn load_link(
    client: &mut SpiClient<'_>,
    context: &LoadContext,
    link: &Link,
    rows: Vec<LinkRow>,
) -> NewKeys {
    let rows: BTreeMap<HashKey, Map<String, Value>> = rows
        .into_iter()
        .map(|row| {
            let key = row.link_key(link);
            let mut object = Map::new();
            object.insert(link.key.into(), bytea_literal(&key).into());
            if let (Some(column), Some(value)) = (link.business_key, row.business_key) {
                object.insert(column.into(), value.into());
            }
            for (column, hub_key) in link.hubs.iter().zip(&row.hubs) {
                object.insert((*column).into(), hub_key.map(|k| bytea_literal(&k)).into());
            }
            object.insert("tenant_hk".into(), bytea_literal(&row.tenant_hk).into());
            object.insert("record_source".into(), context.record_source.clone().into());
            (key, object)
        })
        .collect();
    let mut columns = vec![link.key];
    columns.extend(link.business_key);
    columns.extend_from_slice(link.hubs);
    columns.extend(["tenant_hk", "record_source"]);
    insert_new(client, link.table, link.key, &columns, rows)
}

pub struct SatelliteRow {
    pub parent: HashKey,
    pub tenant_hk: Vec<u8>,
    /// Values of `Satellite::attributes`, in that order, as JSON (strings for text, timestamps
    /// in UTC and bytea as `\x...`; objects and arrays as JSON).
    pub attributes: Vec<Value>,
}

/// The text a value contributes to hash_diff: strings as they are, everything else as its JSON
/// text (object keys sorted), NULL as NULL.
fn diff_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

impl SatelliteRow {
    fn hash_diff(&self) -> HashKey {
        let texts: Vec<Option<String>> = self.attributes.iter().map(diff_text).collect();
        let texts: Vec<Option<&str>> = texts.iter().map(Option::as_deref).collect();
        hash_diff(&texts)
    }
}

/// The satellite loader: a new row for each parent whose attributes differ from its current
/// row (by hash_diff), end-dating that row. Of several rows for one parent, the last one wins.
/// Parents in `new_parents` were inserted by this transaction, so no other load can touch their
/// satellite rows (its foreign key check would wait for this transaction) and they have no
/// current row: their rows are inserted without locks or comparison. For the other parents the
/// loader takes transaction advisory locks in key order, then reads their current rows (a new
/// statement, so it sees what a load it waited for committed), end-dates those that differ and
/// inserts the changed rows; every statement finds its rows by key (`= ANY`), never by a join
/// whose plan depends on how large the tables were when it was planned.
pub fn load_satellite(
    client: &mut SpiClient<'_>,
    context: &LoadContext,
    satellite: &Satellite,
    rows: Vec<SatelliteRow>,
    new_parents: &NewKeys,
) -> usize {
    let rows: BTreeMap<HashKey, SatelliteRow> =
        rows.into_iter().map(|row| (row.parent, row)).collect();
    let (fresh, known): (Vec<SatelliteRow>, Vec<SatelliteRow>) = rows
        .into_values()
        .partition(|row| new_parents.contains(&row.parent));
    let mut inserted = insert_satellite_rows(client, context, satellite, fresh, None);
    if known.is_empty() {
        return inserted;
    }
    let (table, parent) = (satellite.table, satellite.parent);
    let parents: Vec<Vec<u8>> = known.iter().map(|row| row.parent.to_vec()).collect();
    // The load date is read after the locks are held, so it is later than the load date of
    // any row a concurrent load committed for these keys: history stays in order.
    let load_date = spi::execute(
        client,
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
           FROM (SELECT count(pg_advisory_xact_lock(lock_key))
                   FROM (SELECT hashtextextended($2 || encode(parent, 'hex'), 0) AS lock_key
                           FROM unnest($1::bytea[]) AS parent ORDER BY 1 OFFSET 0) AS ordered) AS locked",
        &[parents.clone().into(), table.into()],
    )
    .and_then(|rows| rows.first().get_one::<String>())
    .or_internal("lock satellite keys")
    .or_internal("clock_timestamp");
    let current: HashMap<HashKey, HashKey> = spi::execute(
        client,
        &format!(
            "SELECT {parent}, hash_diff FROM {table} WHERE {parent} = ANY ($1) AND load_end_date IS NULL"
        ),
        &[parents.into()],
    )
    .or_internal("current satellite rows")
    .filter_map(|row| {
        let key: Vec<u8> = row.get(1).ok().flatten()?;
        let diff: Vec<u8> = row.get(2).ok().flatten()?;
        Some((
            HashKey::try_from(key.as_slice()).ok()?,
            HashKey::try_from(diff.as_slice()).ok()?,
        ))
    })
    .collect();
    let changed: Vec<SatelliteRow> = known
        .into_iter()
        .filter(|row| current.get(&row.parent) != Some(&row.hash_diff()))
        .collect();
    let superseded: Vec<Vec<u8>> = changed
        .iter()
        .filter(|row| current.contains_key(&row.parent))
        .map(|row| row.parent.to_vec())
        .collect();
    if !superseded.is_empty() {
        spi::execute(
            client,
            &format!(
                "UPDATE {table} SET load_end_date = $2::timestamptz
                  WHERE {parent} = ANY ($1) AND load_end_date IS NULL"
            ),
            &[superseded.into(), load_date.clone().into()],
        )
        .or_internal("end-date changed satellite rows");
    }
    inserted += insert_satellite_rows(client, context, satellite, changed, Some(load_date));
    inserted
}

/// Inserts satellite rows, dated `load_date` (UTC text) or, without one, by the insert's clock.
fn insert_satellite_rows(
    client: &mut SpiClient<'_>,
    context: &LoadContext,
    satellite: &Satellite,
    rows: Vec<SatelliteRow>,
    load_date: Option<String>,
) -> usize {
    if rows.is_empty() {
        return 0;
    }
    let (table, parent) = (satellite.table, satellite.parent);
    let mut columns = vec![parent, "load_date", "hash_diff"];
    columns.extend_from_slice(satellite.attributes);
    columns.extend(["tenant_hk", "record_source"]);
    let mut input = RowSet::new(client, table, &columns);
    for row in rows {
        let mut object = Map::new();
        object.insert(parent.into(), bytea_literal(&row.parent).into());
        object.insert("hash_diff".into(), bytea_literal(&row.hash_diff()).into());
        object.insert("load_date".into(), load_date.clone().into());
        for (column, value) in satellite.attributes.iter().zip(row.attributes) {
            object.insert((*column).into(), value);
        }
        object.insert("tenant_hk".into(), bytea_literal(&row.tenant_hk).into());
        object.insert("record_source".into(), context.record_source.clone().into());
        input.push(&object);
    }
    let attributes = column_list(satellite.attributes);
    spi::execute(
        client,
        &format!(
            "INSERT INTO {table} ({parent}, load_date, hash_diff, {attributes}, tenant_hk, record_source)
             SELECT {parent}, coalesce(load_date, clock_timestamp()), hash_diff, {attributes},
                    tenant_hk, record_source
               FROM {rows} AS i",
            rows = input.subquery(1)
        ),
        &input.into_args(),
    )
    .or_internal("insert changed satellite rows")
    .len()
}

// What a load finds in the vault already ----------------------------------------------------------

/// The hubs, links and satellites a load of staged events writes, in load order. The event
/// satellite is not probed: its parent, the event link, is new whenever an event is loaded the
/// first time (the link probe and insert tell), so only a replay reaches its current-row check.
const EVENT_HUBS: [&Hub; 3] = [&SITE_H, &PAGE_H, &SESSION_H];
const EVENT_LINKS: [&Link; 3] = [&PAGE_SITE_L, &SESSION_SITE_L, &TRACKING_EVENT_L];
const EVENT_SATELLITES: [&Satellite; 2] = [&PAGE_DETAILS_S, &SESSION_DETAILS_S];

/// The keys of a load that the vault holds already: hub and link keys that exist, and the
/// hash_diff of each satellite parent's current row. In steady traffic the site, page and
/// session of an event and their links exist and their details have not changed, so one
/// probe replaces a no-op insert per hub and link and the lock, end-date and insert statements
/// of each unchanged satellite. A key found here cannot disappear before the load commits
/// (hubs and links are only deleted by erasure, which locks the same rows); a satellite that
/// another session changes meanwhile is equivalent to that session loading after this one.
#[derive(Default)]
struct Existing {
    keys: HashSet<(&'static str, HashKey)>,
    current_diffs: HashMap<(&'static str, HashKey), HashKey>,
}

/// The probe statement: one branch per hub, link and satellite of `EVENT_*`, the keys of each
/// as one array parameter.
fn probe_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let keyed = EVENT_HUBS
            .iter()
            .map(|h| (h.table, h.key))
            .chain(EVENT_LINKS.iter().map(|l| (l.table, l.key)));
        let mut branches: Vec<String> = keyed
            .map(|(table, key)| {
                format!("SELECT '{table}'::text, {key}, NULL::bytea FROM {table} WHERE {key} = ANY (${{}})")
            })
            .collect();
        branches.extend(EVENT_SATELLITES.iter().map(|s| {
            format!(
                "SELECT '{table}'::text, {parent}, hash_diff FROM {table}
                  WHERE {parent} = ANY (${{}}) AND load_end_date IS NULL",
                table = s.table,
                parent = s.parent
            )
        }));
        branches
            .iter()
            .enumerate()
            .map(|(i, branch)| branch.replace("${}", &format!("${}", i + 1)))
            .collect::<Vec<_>>()
            .join("\n UNION ALL ")
    })
}

fn probe(
    client: &mut SpiClient<'_>,
    hubs: [&[HubRow]; 3],
    links: [&[LinkRow]; 3],
    satellites: [&[SatelliteRow]; 2],
) -> Existing {
    let keys = |keys: Vec<HashKey>| -> Vec<Vec<u8>> { keys.iter().map(|k| k.to_vec()).collect() };
    let mut arrays: Vec<Vec<Vec<u8>>> = Vec::new();
    arrays.extend(
        hubs.iter()
            .map(|rows| keys(rows.iter().map(|r| r.key).collect())),
    );
    arrays.extend(
        links
            .iter()
            .zip(EVENT_LINKS)
            .map(|(rows, link)| keys(rows.iter().map(|r| r.link_key(link)).collect())),
    );
    arrays.extend(
        satellites
            .iter()
            .map(|rows| keys(rows.iter().map(|r| r.parent).collect())),
    );
    let args: Vec<pgrx::datum::DatumWithOid<'_>> =
        arrays.into_iter().map(|array| array.into()).collect();
    let tables: HashMap<String, &'static str> = EVENT_HUBS
        .iter()
        .map(|h| h.table)
        .chain(EVENT_LINKS.iter().map(|l| l.table))
        .chain(EVENT_SATELLITES.iter().map(|s| s.table))
        .map(|table| (table.to_owned(), table))
        .collect();
    let mut existing = Existing::default();
    for row in spi::execute(client, probe_sql(), &args).or_internal("probe the vault") {
        let table: String = spi::column(&row, 1, "table");
        let table = tables[&table];
        let key: Vec<u8> = spi::column(&row, 2, "key");
        let Ok(key) = HashKey::try_from(key.as_slice()) else {
            continue;
        };
        match row.get::<Vec<u8>>(3).ok().flatten() {
            Some(diff) => {
                if let Ok(diff) = HashKey::try_from(diff.as_slice()) {
                    existing.current_diffs.insert((table, key), diff);
                }
            }
            None => {
                existing.keys.insert((table, key));
            }
        }
    }
    existing
}

impl Existing {
    fn new_hub_rows(&self, hub: &Hub, rows: Vec<HubRow>) -> Vec<HubRow> {
        rows.into_iter()
            .filter(|r| !self.keys.contains(&(hub.table, r.key)))
            .collect()
    }

    fn new_link_rows(&self, link: &Link, rows: Vec<LinkRow>) -> Vec<LinkRow> {
        rows.into_iter()
            .filter(|r| !self.keys.contains(&(link.table, r.link_key(link))))
            .collect()
    }

    /// The rows that would change their parent's current row (of several rows for one parent,
    /// the last one, as the satellite loader takes it).
    fn changed_satellite_rows(
        &self,
        satellite: &Satellite,
        rows: Vec<SatelliteRow>,
    ) -> Vec<SatelliteRow> {
        let last: BTreeMap<HashKey, SatelliteRow> =
            rows.into_iter().map(|row| (row.parent, row)).collect();
        last.into_values()
            .filter(|row| {
                self.current_diffs.get(&(satellite.table, row.parent)) != Some(&row.hash_diff())
            })
            .collect()
    }
}

// Loading staged events ---------------------------------------------------------------------------

/// Claims staged VALID rows that are not loaded yet (those matching `condition`, which may
/// order, limit and lock) and marks them loaded in the same statement (the load runs in the
/// same transaction, so if it fails the mark is rolled back with it).
fn claim_staged_sql(condition: &str) -> String {
    format!(
        "WITH claimed AS (
             SELECT s.staging_event_id FROM staging.site_tracking_events_s AS s
              WHERE s.validation_status = 'VALID' AND NOT s.loaded_to_vault AND {condition})
         UPDATE staging.site_tracking_events_s AS s
            SET loaded_to_vault = true, loaded_at = clock_timestamp()
           FROM claimed AS c, raw.site_tracking_events_r AS r
          WHERE s.staging_event_id = c.staging_event_id AND r.raw_event_id = s.raw_event_id
         RETURNING {}",
        StagedEvent::select_list("r.api_key_hk")
    )
}

/// Staged events for the vault: up to `batch_size` VALID staged events not loaded yet, oldest
/// first, skipping those another session is loading (`FOR UPDATE SKIP LOCKED`).
pub fn claim_staged_batch(client: &mut SpiClient<'_>, batch_size: i64) -> Vec<StagedEvent> {
    claim_staged(
        client,
        &claim_staged_sql("true ORDER BY s.staging_event_id LIMIT $1 FOR UPDATE OF s SKIP LOCKED"),
        &[batch_size.into()],
    )
}

/// The staged event of `raw_event_id`, if it is VALID and not loaded yet.
pub fn claim_staged_event(client: &mut SpiClient<'_>, raw_event_id: i64) -> Vec<StagedEvent> {
    claim_staged(
        client,
        &claim_staged_sql("s.raw_event_id = $1 FOR UPDATE OF s"),
        &[raw_event_id.into()],
    )
}

fn claim_staged(
    client: &mut SpiClient<'_>,
    sql: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
) -> Vec<StagedEvent> {
    spi::execute(client, sql, args)
        .or_internal("claim staged events")
        .map(|row| StagedEvent::from_row(&row, 0))
        .collect()
}

/// The values of `names` among a details query's JSON object, in that order.
fn fields(row: &Value, names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| row.get(*n).cloned().unwrap_or(Value::Null))
        .collect()
}

/// What one load wrote, per table.
pub(crate) type Counts = BTreeMap<&'static str, usize>;

/// The tables a load of staged events writes, as named in its answer.
const LOADED_TABLES: [&str; 9] = [
    "site_h",
    "page_h",
    "session_h",
    "page_site_l",
    "session_site_l",
    "tracking_event_l",
    "page_details_s",
    "session_details_s",
    "tracking_event_details_s",
];

/// Loads staged events, claimed and marked loaded by the caller. Answers the rows added per
/// table and the keys of the tracking events that are new (a replayed event is not).
pub fn load_rows(client: &mut SpiClient<'_>, staged: &[StagedEvent]) -> (Counts, Vec<HashKey>) {
    let mut counts: Counts = LOADED_TABLES.iter().map(|table| (*table, 0)).collect();
    if staged.is_empty() {
        return (counts, Vec::new());
    }
    let context = LoadContext::new(client);
    let (mut sites, mut pages, mut sessions) = (Vec::new(), Vec::new(), Vec::new());
    let (mut page_sites, mut session_sites, mut events) = (Vec::new(), Vec::new(), Vec::new());
    let mut event_details = Vec::new();
    let mut page_lookup: Vec<StagedKey> = Vec::new();
    let mut session_lookup: Vec<StagedKey> = Vec::new();

    let mut ordered: Vec<&StagedEvent> = staged.iter().collect();
    ordered.sort_by(|a, b| a.event_timestamp.cmp(&b.event_timestamp));
    for row in ordered {
        let tenant = row.tenant_hk.clone();
        let raw_event_id = row.raw_event_id;
        // The site staging assigned (`pipeline::sites`): the registered site of the page's host.
        let site_bk = row.site_domain.clone();
        let site_hk = site_bk.as_deref().map(|bk| site_key(&tenant, bk));
        let page = site_bk
            .as_deref()
            .zip(row.page_path.as_deref())
            .map(|(bk, path)| page_key(&tenant, bk, path));
        let session = site_bk
            .as_deref()
            .zip(row.session_id.as_deref())
            .map(|(bk, id)| (id.to_owned(), session_key(&tenant, bk, id)));

        if let (Some(bk), Some(hk)) = (&site_bk, site_hk) {
            sites.push(HubRow {
                key: hk,
                business_key: bk.clone(),
                tenant_hk: tenant.clone(),
            });
        }
        if let (Some((page_bk, page_hk)), Some(site)) = (&page, site_hk) {
            pages.push(HubRow {
                key: *page_hk,
                business_key: page_bk.clone(),
                tenant_hk: tenant.clone(),
            });
            page_sites.push(LinkRow {
                business_key: None,
                hubs: vec![Some(*page_hk), Some(site)],
                tenant_hk: tenant.clone(),
                key: None,
            });
            let host = row.page_host.clone().unwrap_or_default();
            let path = row.page_path.clone().unwrap_or_default();
            page_lookup.push((tenant.clone(), host, path, *page_hk));
        }
        if let (Some((session_id, session_hk)), Some(site)) = (&session, site_hk) {
            sessions.push(HubRow {
                key: *session_hk,
                business_key: session_id.clone(),
                tenant_hk: tenant.clone(),
            });
            session_sites.push(LinkRow {
                business_key: None,
                hubs: vec![Some(*session_hk), Some(site)],
                tenant_hk: tenant.clone(),
                key: None,
            });
            let site = site_bk.clone().unwrap_or_default();
            session_lookup.push((tenant.clone(), site, session_id.clone(), *session_hk));
        }
        let event_hk = tracking_event_key(&tenant, raw_event_id);
        let api_key = row
            .api_key_hk
            .as_deref()
            .and_then(|k| HashKey::try_from(k).ok());
        events.push(LinkRow {
            business_key: Some(raw_event_id.to_string()),
            hubs: vec![
                site_hk,
                page.as_ref().map(|p| p.1),
                session.as_ref().map(|s| s.1),
                api_key,
            ],
            tenant_hk: tenant.clone(),
            key: Some(event_hk),
        });
        event_details.push(SatelliteRow {
            parent: event_hk,
            tenant_hk: tenant,
            attributes: row.details.clone(),
        });
    }
    let page_details =
        details_from_staging(client, &PAGE_DETAILS_S, PAGE_DETAILS_SQL, &page_lookup);
    let session_details = details_from_staging(
        client,
        &SESSION_DETAILS_S,
        SESSION_DETAILS_SQL,
        &session_lookup,
    );

    let existing = probe(
        client,
        [&sites, &pages, &sessions],
        [&page_sites, &session_sites, &events],
        [&page_details, &session_details],
    );
    let [sites, pages, sessions] = [(&SITE_H, sites), (&PAGE_H, pages), (&SESSION_H, sessions)]
        .map(|(hub, rows)| existing.new_hub_rows(hub, rows));
    let [page_sites, session_sites, events] = [
        (&PAGE_SITE_L, page_sites),
        (&SESSION_SITE_L, session_sites),
        (&TRACKING_EVENT_L, events),
    ]
    .map(|(link, rows)| existing.new_link_rows(link, rows));
    let [page_details, session_details] = [
        (&PAGE_DETAILS_S, page_details),
        (&SESSION_DETAILS_S, session_details),
    ]
    .map(|(satellite, rows)| existing.changed_satellite_rows(satellite, rows));

    let new_sites = load_hub(client, &context, &SITE_H, sites);
    let new_pages = load_hub(client, &context, &PAGE_H, pages);
    let new_sessions = load_hub(client, &context, &SESSION_H, sessions);
    let new_page_sites = load_link(client, &context, &PAGE_SITE_L, page_sites);
    let new_session_sites = load_link(client, &context, &SESSION_SITE_L, session_sites);
    let new_events = load_link(client, &context, &TRACKING_EVENT_L, events);
    for (table, new) in [
        ("site_h", &new_sites),
        ("page_h", &new_pages),
        ("session_h", &new_sessions),
        ("page_site_l", &new_page_sites),
        ("session_site_l", &new_session_sites),
        ("tracking_event_l", &new_events),
    ] {
        counts.insert(table, new.len());
    }
    for (table, satellite, rows, new_parents) in [
        ("page_details_s", &PAGE_DETAILS_S, page_details, &new_pages),
        (
            "session_details_s",
            &SESSION_DETAILS_S,
            session_details,
            &new_sessions,
        ),
        (
            "tracking_event_details_s",
            &TRACKING_EVENT_DETAILS_S,
            event_details,
            &new_events,
        ),
    ] {
        counts.insert(
            table,
            load_satellite(client, &context, satellite, rows, new_parents),
        );
    }
    (counts, new_events.into_iter().collect())
}

/// (tenant, page host and page path, or site domain and session id, hash key): what the
/// details queries look up.
type StagedKey = (Vec<u8>, String, String, HashKey);

/// A page's details come from its latest VALID event in staging that has a title (the title is
/// NULL while none has), and a session's from its first VALID event on any of its site's domains
/// (each one index probe), whichever load brings them: loading
/// events late, again or out of order cannot roll the details back.
const PAGE_DETAILS_SQL: &str = "SELECT k.tenant_hk, k.page_host, k.page_path,
        jsonb_build_object('page_title', e.page_title, 'page_host', k.page_host, 'page_path', k.page_path)
   FROM (SELECT DISTINCT * FROM unnest($1::bytea[], $2::text[], $3::text[])) AS k (tenant_hk, page_host, page_path)
   CROSS JOIN LATERAL (
        SELECT (SELECT s.page_title FROM staging.site_tracking_events_s AS s
                 WHERE s.tenant_hk = k.tenant_hk AND s.page_host = k.page_host AND s.page_path = k.page_path
                   AND s.validation_status = 'VALID' AND s.page_title IS NOT NULL
                 ORDER BY s.event_timestamp DESC LIMIT 1) AS page_title) AS e";

const SESSION_DETAILS_SQL: &str = "SELECT k.tenant_hk, k.site_domain, k.session_id,
        jsonb_build_object(
            'visitor_hash', '\\x' || encode(f.visitor_hash, 'hex'),
            'session_source', f.session_source,
            'session_start', to_char(f.event_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
            'entry_page_path', f.page_path, 'referrer_host', f.referrer_host, 'channel', f.channel,
            'utm_source', f.utm_source, 'utm_medium', f.utm_medium, 'utm_campaign', f.utm_campaign,
            'utm_term', f.utm_term, 'utm_content', f.utm_content, 'device_type', f.device_type,
            'browser_name', f.browser_name, 'os_name', f.os_name, 'is_bot', f.is_bot)
   FROM (SELECT DISTINCT * FROM unnest($1::bytea[], $2::text[], $3::text[])) AS k (tenant_hk, site_domain, session_id)
   CROSS JOIN LATERAL (
        SELECT s.* FROM staging.site_tracking_events_s AS s
         WHERE s.tenant_hk = k.tenant_hk AND s.site_domain = k.site_domain AND s.session_id = k.session_id
           AND s.validation_status = 'VALID'
         ORDER BY s.event_timestamp, s.raw_event_id LIMIT 1) AS f";

fn details_from_staging(
    client: &mut SpiClient<'_>,
    satellite: &Satellite,
    sql: &str,
    keys: &[StagedKey],
) -> Vec<SatelliteRow> {
    if keys.is_empty() {
        return Vec::new();
    }
    let by_key: HashMap<(Vec<u8>, String, String), HashKey> = keys
        .iter()
        .map(|(t, h, k, hk)| ((t.clone(), h.clone(), k.clone()), *hk))
        .collect();
    spi::execute(
        client,
        sql,
        &[
            keys.iter().map(|k| k.0.clone()).collect::<Vec<_>>().into(),
            keys.iter().map(|k| k.1.clone()).collect::<Vec<_>>().into(),
            keys.iter().map(|k| k.2.clone()).collect::<Vec<_>>().into(),
        ],
    )
    .or_internal("details from staging")
    .filter_map(|row| {
        let tenant: Vec<u8> = row.get(1).ok().flatten()?;
        let host: String = row.get(2).ok().flatten()?;
        let key: String = row.get(3).ok().flatten()?;
        let details: JsonB = row.get(4).ok().flatten()?;
        let parent = *by_key.get(&(tenant.clone(), host, key))?;
        Some(SatelliteRow {
            parent,
            tenant_hk: tenant,
            attributes: fields(&details.0, satellite.attributes),
        })
    })
    .collect()
}
