//! Helpers shared by the `#[pg_test]` modules.

use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::Value;

/// Creates a tenant the way the platform does, `age_days` old; returns its hash key.
pub fn tenant(name: &str, age_days: i32) -> Vec<u8> {
    Spi::get_one_with_args::<Vec<u8>>(
        "INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, load_date, record_source)
         VALUES (util.hash_binary($1), $1, now() - make_interval(days => $2), 'test')
         RETURNING tenant_hk",
        &[name.into(), age_days.into()],
    )
    .unwrap()
    .unwrap()
}

/// Sets the default rate limit and waits, if needed, for the start of a minute, so that every
/// call of the test falls into one window of the limiter (calendar minutes).
pub fn limit_per_minute_from_early_in_a_minute(limit: i32) {
    Spi::run(&format!(
        "SET LOCAL onevault_tracking.rate_limit_per_minute = {limit}"
    ))
    .unwrap();
    Spi::run(
        "SELECT pg_sleep(60.5 - extract(second FROM clock_timestamp()))
          WHERE extract(second FROM clock_timestamp()) > 40",
    )
    .unwrap();
}

pub fn count(sql: &str) -> i64 {
    Spi::get_one::<i64>(sql).unwrap().unwrap()
}

/// The jsonb answer of a query with arguments.
pub fn json(sql: &str, args: &[pgrx::datum::DatumWithOid<'_>]) -> Value {
    Spi::get_one_with_args::<JsonB>(sql, args)
        .unwrap()
        .unwrap()
        .0
}

/// Registers `domain` for the tenant and answers a fresh key's answer (`api_key`, `key_prefix`).
pub fn site_with_key(tenant_hk: &[u8], domain: &str) -> Value {
    json(
        "SELECT api.register_site($1, $2, 'Site')",
        &[tenant_hk.into(), domain.into()],
    );
    json(
        "SELECT api.create_api_key($1, $2, 'web')",
        &[tenant_hk.into(), domain.into()],
    )
}

/// The jsonb answer of a query.
pub fn call(sql: &str) -> Value {
    Spi::get_one::<JsonB>(sql).unwrap().unwrap().0
}

/// What a failed piece of work raised: the SQLSTATE and message of an ERROR, or `None` for a
/// Rust panic (for `subtxn::attempt_or`).
pub fn raised(caught: &CaughtError) -> Option<(PgSqlErrorCode, String)> {
    match caught {
        CaughtError::PostgresError(report) | CaughtError::ErrorReport(report) => {
            Some((report.sql_error_code(), report.message().to_owned()))
        }
        CaughtError::RustPanic { .. } => None,
    }
}
