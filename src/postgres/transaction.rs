//! Top-level transactions for background workers, which have no client to begin and end them.
//! A failing piece of work is rolled back and its message returned, so a worker can record the
//! failure and go on instead of exiting.

use crate::postgres::subtxn::describe;
use pgrx::pg_sys;
use pgrx::PgTryBuilder;
use std::ffi::CStr;
use std::panic::UnwindSafe;

/// Runs `work` in a transaction of its own, shown as `activity` in `pg_stat_activity`: committed
/// when it returns, rolled back when it (or the commit) raises an ERROR or panics.
pub fn run<R>(activity: &CStr, work: impl FnOnce() -> R + UnwindSafe) -> Result<R, String> {
    // SAFETY: the sequence of PostgreSQL's own worker_spi module: a statement start time, a
    // transaction, a snapshot for the queries; statistics are reported after every transaction,
    // as a backend does between statements, so autovacuum sees the rows the worker changes.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_RUNNING, activity.as_ptr());
    }
    let outcome = PgTryBuilder::new(|| {
        let result = work();
        // SAFETY: the snapshot pushed above is still the active one.
        unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
        }
        Ok(result)
    })
    .catch_others(|caught| Err(describe(&caught)))
    .execute();
    // SAFETY: after a caught ERROR the transaction is still open (in the failed state); aborting
    // releases its locks, snapshots and memory.
    unsafe {
        if outcome.is_err() {
            pg_sys::AbortCurrentTransaction();
        }
        pg_sys::pgstat_report_stat(false);
        pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_IDLE, std::ptr::null());
    }
    outcome
}
