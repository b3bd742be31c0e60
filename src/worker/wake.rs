//! Waking the processing workers when events land: a landing asks for a wake-up, and when its
//! transaction commits (so the events are visible to the worker's next claim) the latch of every
//! worker of this database is set. Not NOTIFY, whose commit-time lock would serialise every
//! tracking call.
//!
//! The workers' process ids come from `onevault_tracking.workers`, read at most once a
//! second per backend; between reads, each id is checked against the process array (still a
//! background worker of this database), so a stopped worker is noticed at once and a started
//! one within a second.

use crate::postgres::error::OrInternal;
use crate::postgres::spi;
use pgrx::pg_sys;
use pgrx::spi::SpiClient;
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

/// How long a backend trusts the list of worker process ids it read.
const REFRESH_AFTER: Duration = Duration::from_secs(1);

thread_local! {
    /// The workers' process ids as last read, and when.
    static KNOWN: RefCell<Option<(Instant, Vec<i32>)>> = const { RefCell::new(None) };
    /// Whether the current transaction landed events the workers should hear of.
    static WAKE_AT_COMMIT: Cell<bool> = const { Cell::new(false) };
    /// Whether `at_transaction_end` is registered in this backend.
    static REGISTERED: Cell<bool> = const { Cell::new(false) };
}

/// The process ids of this database's workers, read from `onevault_tracking.workers`
/// unless read less than a second ago.
fn worker_pids(client: &mut SpiClient<'_>) -> Vec<i32> {
    let fresh = KNOWN.with_borrow(|known| match known {
        Some((read_at, pids)) if read_at.elapsed() < REFRESH_AFTER => Some(pids.clone()),
        _ => None,
    });
    if let Some(pids) = fresh {
        return pids;
    }
    let pids = recorded_pids(client);
    KNOWN.set(Some((Instant::now(), pids.clone())));
    pids
}

/// The process ids `onevault_tracking.workers` records, read now.
fn recorded_pids(client: &mut SpiClient<'_>) -> Vec<i32> {
    spi::execute(
        client,
        "SELECT pid FROM onevault_tracking.workers WHERE pid IS NOT NULL",
        &[],
    )
    .or_internal("worker lookup")
    .map(|row| spi::column::<i32>(&row, 1, "pid"))
    .collect()
}

/// This database's workers that run now (read now, not from the per-backend list).
pub fn running_workers(client: &mut SpiClient<'_>) -> Vec<i32> {
    recorded_pids(client)
        .into_iter()
        .filter(|pid| is_worker(*pid))
        .collect()
}

/// Makes the next lookup read `onevault_tracking.workers` again.
pub fn forget_workers() {
    KNOWN.set(None);
}

/// The process array entry of `pid` when it is a background worker connected to this database.
fn worker_proc(pid: i32) -> Option<*mut pg_sys::PGPROC> {
    // SAFETY: BackendPidGetProc takes ProcArrayLock itself; a PGPROC lives in shared memory for
    // the life of the cluster, so reading it (or setting its latch) after the lock is released
    // is safe even if the process exits meanwhile (its latch then has no owner and is ignored).
    unsafe {
        let proc = pg_sys::BackendPidGetProc(pid);
        (!proc.is_null()
            && (*proc).databaseId == pg_sys::MyDatabaseId
            && (*proc).isBackgroundWorker)
            .then_some(proc)
    }
}

/// Whether `pid` is a background worker connected to this database.
pub fn is_worker(pid: i32) -> bool {
    worker_proc(pid).is_some()
}

/// Whether a processing worker is running for this database now.
pub fn workers_serving(client: &mut SpiClient<'_>) -> bool {
    worker_pids(client).into_iter().any(is_worker)
}

/// Wakes this database's workers when the current transaction commits (nothing happens if it
/// aborts, or if no worker runs).
pub fn wake_at_commit(client: &mut SpiClient<'_>) {
    if worker_pids(client).is_empty() {
        return;
    }
    WAKE_AT_COMMIT.set(true);
    if !REGISTERED.get() {
        // SAFETY: registered once per backend, for its lifetime; the callback never raises.
        unsafe { pg_sys::RegisterXactCallback(Some(at_transaction_end), std::ptr::null_mut()) };
        REGISTERED.set(true);
    }
}

/// Sets the workers' latches after a commit that landed events. It must not raise (an ERROR after
/// the commit record would be a PANIC): it only reads the cached ids and the process array.
unsafe extern "C-unwind" fn at_transaction_end(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    match event {
        pg_sys::XactEvent::XACT_EVENT_COMMIT if WAKE_AT_COMMIT.replace(false) => {}
        // Aborted: nothing landed. Prepared: nothing is visible until COMMIT PREPARED, which
        // another session runs; the workers' nap covers it.
        pg_sys::XactEvent::XACT_EVENT_ABORT | pg_sys::XactEvent::XACT_EVENT_PREPARE => {
            WAKE_AT_COMMIT.set(false);
            return;
        }
        _ => return,
    }
    let pids = KNOWN.with_borrow(|known| known.as_ref().map(|(_, pids)| pids.clone()));
    for pid in pids.unwrap_or_default() {
        if let Some(proc) = worker_proc(pid) {
            // SAFETY: see worker_proc.
            unsafe { pg_sys::SetLatch(&raw mut (*proc).procLatch) };
        }
    }
}
