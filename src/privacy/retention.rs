//! Retention: `api.purge_expired_data` removes what is only needed for a while: processed raw
//! and staging rows (they hold the anonymised network and the user agent), rate-limit windows
//! (the only place a full IP lives) and expired visitor salts. The vault keeps its events: they
//! carry no IP, and only a daily-salted visitor hash whose salt is gone after two days. The
//! report rollups hold counts only; they are kept for ever unless
//! `onevault_tracking.rollup_retention_days` is set.

use crate::platform::audit::{self, AuditEvent};
use crate::postgres::error::{OrInternal, TrackingError};
use crate::postgres::random::strong_random;
use crate::postgres::settings;
use crate::postgres::spi;
use crate::privacy::salts;
use onevault_tracking_core::hashing::to_hex;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::JsonB;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Processed raw events older than the retention, claimed so a concurrent drain or load skips
/// them; valid events still waiting for the vault load are kept.
const EXPIRED_RAW_EVENTS: &str = "SELECT r.raw_event_id, r.tenant_hk
       FROM raw.site_tracking_events_r AS r
      WHERE r.received_at < clock_timestamp() - make_interval(days => $1)
        AND r.processing_status IN ('PROCESSED', 'FAILED')
        AND NOT EXISTS (SELECT 1 FROM staging.site_tracking_events_s AS s
                         WHERE s.raw_event_id = r.raw_event_id
                           AND s.validation_status = 'VALID' AND NOT s.loaded_to_vault)
      FOR UPDATE OF r SKIP LOCKED";

/// Rate-limit windows of this extension (hub business key `ip:<address>`) whose last request is
/// older than the retention, and then the hubs left without windows: their business key is
/// the full IP too.
const EXPIRED_RATE_LIMIT_WINDOWS: &str = "WITH gone AS (
         DELETE FROM auth.ip_tracking_s AS s
          USING auth.security_tracking_h AS h
          WHERE s.security_tracking_hk = h.security_tracking_hk
            AND h.security_tracking_bk LIKE 'ip:%'
            AND s.last_request_time < clock_timestamp() - make_interval(hours => $1)
         RETURNING s.security_tracking_hk, h.tenant_hk)
     SELECT tenant_hk, count(*), security_tracking_hk FROM gone GROUP BY tenant_hk, security_tracking_hk";
const ORPHANED_RATE_LIMIT_HUBS: &str = "WITH gone AS (
         DELETE FROM auth.security_tracking_h AS h
          WHERE h.security_tracking_hk IN (
                SELECT c.security_tracking_hk FROM auth.security_tracking_h AS c
                 WHERE c.security_tracking_hk = ANY ($1)
                   AND NOT EXISTS (SELECT 1 FROM auth.ip_tracking_s AS s
                                    WHERE s.security_tracking_hk = c.security_tracking_hk)
                   FOR UPDATE SKIP LOCKED)
         RETURNING 1)
     SELECT count(*) FROM gone";

/// Rollup rows (and their buckets) of UTC days that ended over `$1` days ago, per tenant.
const EXPIRED_ROLLUPS: &str = "WITH cutoff AS (
         SELECT date_trunc('day', clock_timestamp(), 'UTC') - make_interval(hours => 24 * $1) AS before),
     buckets AS (
         DELETE FROM business.site_traffic_bucket AS b USING cutoff WHERE b.bucket < cutoff.before),
     gone AS (
         DELETE FROM business.site_traffic_rollup AS r USING cutoff WHERE r.bucket < cutoff.before
         RETURNING r.tenant_hk)
     SELECT tenant_hk, count(*) FROM gone GROUP BY tenant_hk";

/// `api.purge_expired_data(p_raw_retention_days, p_rate_limit_retention_hours) RETURNS jsonb`:
/// NULL arguments take `onevault_tracking.raw_retention_days` and
/// `onevault_tracking.rate_limit_retention_hours`. It also destroys visitor salts older than
/// yesterday, which the first hash of a day does too, but a quiet site may not see one for days.
/// Meant to run regularly (pg_cron).
#[pg_extern(sql = false)]
fn purge_expired_data(
    p_raw_retention_days: Option<i32>,
    p_rate_limit_retention_hours: Option<i32>,
) -> JsonB {
    let days = p_raw_retention_days.unwrap_or_else(settings::raw_retention_days);
    let hours = p_rate_limit_retention_hours.unwrap_or_else(settings::rate_limit_retention_hours);
    for (name, value, limit) in [
        ("p_raw_retention_days", days, 36_500),
        ("p_rate_limit_retention_hours", hours, 8_760),
    ] {
        if !(1..=limit).contains(&value) {
            TrackingError::InvalidArgument {
                name,
                reason: format!("must be between 1 and {limit}, got {value}"),
            }
            .raise();
        }
    }
    Spi::connect_mut(|client| {
        let mut per_tenant: BTreeMap<Vec<u8>, [i64; 4]> = BTreeMap::new();
        let expired: Vec<(i64, Vec<u8>)> = spi::execute(client, EXPIRED_RAW_EVENTS, &[days.into()])
            .or_internal("expired raw events")
            .map(|row| {
                (
                    spi::column::<i64>(&row, 1, "raw_event_id"),
                    spi::column::<Vec<u8>>(&row, 2, "tenant_hk"),
                )
            })
            .collect();
        let ids: Vec<i64> = expired.iter().map(|(id, _)| *id).collect();
        let staged = delete_counted(
            client,
            "DELETE FROM staging.site_tracking_events_s WHERE raw_event_id = ANY ($1) RETURNING tenant_hk",
            &ids,
        );
        for tenant in staged {
            per_tenant.entry(tenant).or_default()[1] += 1;
        }
        let raw = delete_counted(
            client,
            "DELETE FROM raw.site_tracking_events_r WHERE raw_event_id = ANY ($1) RETURNING tenant_hk",
            &ids,
        );
        for tenant in raw {
            per_tenant.entry(tenant).or_default()[0] += 1;
        }

        let mut hubs: Vec<Vec<u8>> = Vec::new();
        let windows: Vec<(Vec<u8>, i64)> =
            spi::execute(client, EXPIRED_RATE_LIMIT_WINDOWS, &[hours.into()])
                .or_internal("expired rate-limit windows")
                .map(|row| {
                    hubs.extend(row.get::<Vec<u8>>(3).ok().flatten());
                    (
                        spi::column::<Vec<u8>>(&row, 1, "tenant_hk"),
                        row.get::<i64>(2).ok().flatten().unwrap_or(0),
                    )
                })
                .collect();
        for (tenant, count) in &windows {
            per_tenant.entry(tenant.clone()).or_default()[2] += count;
        }
        let hubs_removed = spi::execute(client, ORPHANED_RATE_LIMIT_HUBS, &[hubs.into()])
            .and_then(|rows| rows.first().get_one::<i64>())
            .or_internal("orphaned rate-limit hubs")
            .unwrap_or(0);
        let salts_destroyed = salts::retire_expired(client);
        let rollup_days = settings::rollup_retention_days();
        if rollup_days > 0 {
            for row in spi::execute(client, EXPIRED_ROLLUPS, &[rollup_days.into()])
                .or_internal("expired rollups")
            {
                let tenant = spi::column::<Vec<u8>>(&row, 1, "tenant_hk");
                per_tenant.entry(tenant).or_default()[3] +=
                    row.get::<i64>(2).ok().flatten().unwrap_or(0);
            }
        }

        let run_id = to_hex(&strong_random::<8>());
        let mut totals = [0i64; 4];
        for (tenant, counts) in &per_tenant {
            for (total, count) in totals.iter_mut().zip(counts) {
                *total += count;
            }
            let mut details = purge_counts(counts);
            details.insert("run_id".into(), run_id.clone().into());
            details.insert("raw_retention_days".into(), days.into());
            details.insert("rate_limit_retention_hours".into(), hours.into());
            details.insert("rollup_retention_days".into(), rollup_days.into());
            audit::log(
                client,
                tenant,
                AuditEvent {
                    event_type: "DATA_PURGED",
                    resource_type: "onevault_tracking.retention",
                    resource_id: format!(
                        "purge:{run_id}:{}",
                        to_hex(&tenant[..tenant.len().min(8)])
                    ),
                    details,
                },
            );
        }
        let mut answer = purge_counts(&totals);
        answer.insert("success".into(), true.into());
        answer.insert("rate_limit_hubs".into(), hubs_removed.into());
        answer.insert("visitor_salts".into(), salts_destroyed.into());
        answer.insert("tenants".into(), per_tenant.len().into());
        answer.insert("raw_retention_days".into(), days.into());
        answer.insert("rate_limit_retention_hours".into(), hours.into());
        answer.insert("rollup_retention_days".into(), rollup_days.into());
        JsonB(Value::Object(answer))
    })
}

fn purge_counts(counts: &[i64; 4]) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("raw_events".into(), counts[0].into());
    map.insert("staging_events".into(), counts[1].into());
    map.insert("rate_limit_windows".into(), counts[2].into());
    map.insert("rollup_rows".into(), counts[3].into());
    map
}

/// Runs a `DELETE ... WHERE raw_event_id = ANY ($1) RETURNING tenant_hk`.
fn delete_counted(client: &mut SpiClient<'_>, sql: &str, ids: &[i64]) -> Vec<Vec<u8>> {
    if ids.is_empty() {
        return Vec::new();
    }
    spi::execute(client, sql, &[ids.to_vec().into()])
        .or_internal("retention delete")
        .filter_map(|row| row.get::<Vec<u8>>(1).ok().flatten())
        .collect()
}
