//! Rate limiting with its state in the platform's `auth.ip_tracking_s`: one
//! `auth.security_tracking_h` row per tenant, bucket scope and client IP (`ip:<client>` for
//! accepted keys and sites, `refused-ip:<client>` and `unattributed-ip:<client>` for refused
//! attempts, see `check_refused`), and one satellite row per bucket and fixed window
//! (`load_date` = window start), counted by a single atomic upsert. The row of the latest window
//! is the current one (`load_end_date` NULL, as the platform's index expects); the same
//! statement end-dates an earlier window's row at that window's end. N concurrent calls in a
//! window get the counts 1..N, so exactly `limit` of them are allowed: there is no
//! check-then-insert race. Counting is per tenant, never across tenants.
//!
//! Fail closed: if the limiter cannot count (a missing table, a constraint), the call fails with
//! that error instead of letting the request through unmetered (the earlier attempt failed open
//! and silently).

use crate::postgres::error::{required, OrInternal, TrackingError};
use crate::postgres::spi;
use onevault_tracking_core::hashing::{hash_diff, hash_key};
use onevault_tracking_core::ip::{parse_inet, rate_limit_client};
use onevault_tracking_core::site_settings::RATE_LIMIT_RANGE;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{Inet, JsonB};
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr};

pub struct Verdict {
    pub allowed: bool,
    pub count: i32,
    pub limit: i32,
    pub reset_at: String,
    pub retry_after: i64,
    /// The start of the counted window (UTC, ISO 8601): the `load_date` of its
    /// `auth.ip_tracking_s` row.
    pub window_start: String,
}

impl Verdict {
    pub fn to_json(&self) -> Value {
        json!({
            "allowed": self.allowed, "current_count": self.count, "limit": self.limit,
            "remaining": (self.limit - self.count).max(0), "reset_at": self.reset_at,
            "retry_after": if self.allowed { 0 } else { self.retry_after },
        })
    }
}

/// Counts one request of `ip` for `tenant_hk` and answers whether it is within `limit` per
/// `window_seconds`. The client is `ip` as `rate_limit_client` names it (an IPv6 client is its
/// network of `onevault_tracking.rate_limit_ipv6_prefix` bits). Calls without an IP (a backend
/// that does not forward the visitor's address) all share one bucket of their tenant,
/// `ip:0.0.0.0`, so they are limited together, never unlimited.
pub fn check(
    client: &mut SpiClient<'_>,
    tenant_hk: &[u8],
    ip: Option<IpAddr>,
    limit: i32,
    window_seconds: i32,
) -> Verdict {
    count(client, tenant_hk, "ip", ip, limit, window_seconds)
}

/// Bucket scopes of the counts kept for other than accepted traffic: refused attempts (a key
/// that is unknown, revoked, expired, without the `track` scope or for another site) under the
/// tenant they belong to, and calls no tenant can be found for under the platform's oldest
/// tenant. Neither ever shares a count with a tenant's `ip:` buckets.
pub const REFUSED_SCOPE: &str = "refused-ip";
pub const UNATTRIBUTED_SCOPE: &str = "unattributed-ip";
/// The window of refused attempts, counted at `onevault_tracking.rate_limit_per_minute`.
pub const REFUSED_WINDOW_SECONDS: i32 = 60;

/// A refused attempt as the limiter counted it: the verdict, and the bucket (tenant and scope)
/// it was counted in.
pub struct RefusedCount {
    pub verdict: Verdict,
    pub tenant_hk: Vec<u8>,
    pub scope: &'static str,
}

/// Counts a refused attempt of `ip` at the default limit per minute
/// (`onevault_tracking.rate_limit_per_minute`): under `tenant_hk` (the key's owner, or the
/// requested domain's) in `refused-ip:<client>`, or, when no tenant can be found for it, under
/// the platform's default (oldest) tenant in `unattributed-ip:<client>`, since
/// `auth.security_tracking_h` needs a tenant (the platform's audit of unattributed calls files
/// them there too). `None` when the platform has no tenant at all.
pub fn check_refused(
    client: &mut SpiClient<'_>,
    tenant_hk: Option<&[u8]>,
    ip: Option<IpAddr>,
) -> Option<RefusedCount> {
    let (tenant_hk, scope) = match tenant_hk {
        Some(tenant) => (tenant.to_vec(), REFUSED_SCOPE),
        None => (default_tenant(client)?, UNATTRIBUTED_SCOPE),
    };
    let limit = crate::postgres::settings::rate_limit_per_minute();
    let verdict = count(client, &tenant_hk, scope, ip, limit, REFUSED_WINDOW_SECONDS);
    Some(RefusedCount {
        verdict,
        tenant_hk,
        scope,
    })
}

/// The platform's default tenant, its oldest.
fn default_tenant(client: &mut SpiClient<'_>) -> Option<Vec<u8>> {
    crate::platform::core::require_core(client);
    spi::execute(
        client,
        "SELECT tenant_hk FROM auth.tenant_h ORDER BY load_date ASC LIMIT 1",
        &[],
    )
    .and_then(|rows| rows.first().get_one::<Vec<u8>>())
    .unwrap_or_else(|e| {
        TrackingError::RateLimiterFailed {
            message: e.to_string(),
        }
        .raise()
    })
}

fn count(
    client: &mut SpiClient<'_>,
    tenant_hk: &[u8],
    scope: &'static str,
    ip: Option<IpAddr>,
    limit: i32,
    window_seconds: i32,
) -> Verdict {
    let ip = rate_limit_client(
        ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        crate::postgres::settings::rate_limit_ipv6_prefix(),
    );
    let tracking_hk = hash_key(tenant_hk, &[Some(scope), Some(&ip)]);
    let record_source = crate::platform::core::record_source(client);
    // The hub and the window's count in one statement: the satellite's foreign key is checked
    // at the end of the statement, when the hub row is there.
    let row = spi::execute(
        client,
        "WITH hub AS (
             INSERT INTO auth.security_tracking_h (security_tracking_hk, security_tracking_bk, tenant_hk, record_source)
             VALUES ($1, $8 || ':' || $2, $7, $6)
             ON CONFLICT DO NOTHING),
         bounds AS (
             SELECT to_timestamp(floor(extract(epoch FROM clock_timestamp()) / $4) * $4) AS start),
         ended AS (
             UPDATE auth.ip_tracking_s AS e
                SET load_end_date = e.load_date + make_interval(secs => $4)
               FROM bounds AS b
              WHERE e.security_tracking_hk = $1 AND e.load_end_date IS NULL AND e.load_date < b.start)
         INSERT INTO auth.ip_tracking_s AS t
                (security_tracking_hk, load_date, hash_diff, ip_address, request_count,
                 first_request_time, last_request_time, record_source)
         SELECT $1, b.start, $5, $2::inet, 1, clock_timestamp(), clock_timestamp(), $6
           FROM bounds AS b
         ON CONFLICT (security_tracking_hk, load_date) DO UPDATE
            SET request_count = t.request_count + 1,
                last_request_time = greatest(t.last_request_time, clock_timestamp()),
                is_blocked = t.request_count + 1 > $3,
                block_reason = CASE WHEN t.request_count + 1 > $3
                                    THEN format('more than %s requests in %s seconds', $3, $4) END,
                suspicious_activity_flag = t.suspicious_activity_flag OR t.request_count + 1 > 2 * $3,
                suspicious_activity_details = CASE WHEN t.request_count + 1 > 2 * $3
                    THEN jsonb_build_object('requests', t.request_count + 1, 'limit', $3,
                                            'window_seconds', $4, 'reason', 'over twice the rate limit')
                    ELSE t.suspicious_activity_details END
         RETURNING request_count,
                   to_char((load_date + make_interval(secs => $4)) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                   ceil(extract(epoch FROM load_date + make_interval(secs => $4) - clock_timestamp()))::bigint,
                   to_char(load_date AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
        &[
            tracking_hk.to_vec().into(),
            ip.clone().into(),
            limit.into(),
            window_seconds.into(),
            hash_diff(&[Some(&ip), Some(&window_seconds.to_string())]).to_vec().into(),
            record_source.into(),
            tenant_hk.into(),
            scope.into(),
        ],
    )
    .and_then(|rows| {
        let row = rows.first();
        Ok((
            row.get::<i32>(1)?,
            row.get::<String>(2)?,
            row.get::<i64>(3)?,
            row.get::<String>(4)?,
        ))
    })
    .unwrap_or_else(|e| {
        TrackingError::RateLimiterFailed { message: e.to_string() }.raise()
    });
    let count = row.0.or_internal("request_count");
    Verdict {
        allowed: count <= limit,
        count,
        limit,
        reset_at: row.1.unwrap_or_default(),
        retry_after: row.2.unwrap_or(1).max(1),
        window_start: row.3.unwrap_or_default(),
    }
}

/// `api.check_rate_limit(p_tenant_hk bytea, p_client_ip inet, p_limit int DEFAULT NULL,
/// p_window_seconds int DEFAULT 60) RETURNS jsonb`: counts one request and answers `allowed`,
/// `current_count`, `limit`, `remaining`, `reset_at` and `retry_after`.
#[pg_extern(sql = false)]
fn check_rate_limit(
    p_tenant_hk: Option<&[u8]>,
    p_client_ip: Option<Inet>,
    p_limit: Option<i32>,
    p_window_seconds: Option<i32>,
) -> JsonB {
    let tenant_hk = required(p_tenant_hk, "p_tenant_hk");
    let limit = p_limit.unwrap_or_else(crate::postgres::settings::rate_limit_per_minute);
    let window = p_window_seconds.unwrap_or(60);
    if !RATE_LIMIT_RANGE.contains(&i64::from(limit)) || !(1..=86_400).contains(&window) {
        TrackingError::InvalidArgument {
            name: "p_limit/p_window_seconds",
            reason: format!(
                "limit must be 1..1000000 and window 1..86400 seconds, got {limit} and {window}"
            ),
        }
        .raise();
    }
    let ip = p_client_ip.and_then(|Inet(text)| parse_inet(&text));
    Spi::connect_mut(|client| {
        crate::platform::tenant::ensure_tenant(client, tenant_hk);
        JsonB(check(client, tenant_hk, ip, limit, window).to_json())
    })
}
