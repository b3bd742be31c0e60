//! Subtransactions: run a piece of work so that an ERROR inside it rolls back only that work,
//! as a PL/pgSQL `BEGIN ... EXCEPTION` block does. This is what lets processing record a poison
//! event's failure (status, message, retry count) instead of losing the record with the rollback,
//! the mistake of the earlier PL/pgSQL attempt.

use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::PgTryBuilder;
use std::panic::UnwindSafe;

/// Runs `work` in a subtransaction: committed into the surrounding transaction when it returns,
/// rolled back when it raises an ERROR (or panics), whose message is returned.
pub fn attempt<R>(work: impl FnOnce() -> R + UnwindSafe) -> Result<R, String> {
    attempt_or(work, describe)
}

/// [`attempt`], answering a failure with what `failure` makes of it.
pub fn attempt_or<R, E>(
    work: impl FnOnce() -> R + UnwindSafe,
    failure: fn(&CaughtError) -> E,
) -> Result<R, E> {
    // SAFETY: the same protocol as PL/Python's subtransactions: remember the memory context and
    // resource owner, begin, and restore both after release or rollback.
    unsafe {
        let memory_context = pg_sys::CurrentMemoryContext;
        let resource_owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(memory_context);
        let outcome = PgTryBuilder::new(|| Ok(work()))
            .catch_others(|caught| Err(failure(&caught)))
            .execute();
        if outcome.is_ok() {
            pg_sys::ReleaseCurrentSubTransaction();
        } else {
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
        }
        pg_sys::MemoryContextSwitchTo(memory_context);
        pg_sys::CurrentResourceOwner = resource_owner;
        outcome
    }
}

/// The message of a caught ERROR or panic.
pub fn describe(caught: &CaughtError) -> String {
    match caught {
        CaughtError::PostgresError(report) | CaughtError::ErrorReport(report) => {
            report.message().to_owned()
        }
        CaughtError::RustPanic { ereport, .. } => format!("internal error: {}", ereport.message()),
    }
}
