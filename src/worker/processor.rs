//! A processing worker: connected to one database, it drains raw → staging → vault in set-based
//! batches (`pipeline::process::drain_pending`, `FOR UPDATE SKIP LOCKED`, so workers and manual
//! drains never take the same event), each batch in a transaction of its own that also marks
//! the raw rows PROCESSED: a crash at any point leaves each event either untouched (PENDING, for
//! the next batch) or fully processed, never half or twice.
//!
//! A full batch is followed at once by the next; otherwise the worker sleeps on its latch, which
//! a landing sets when it commits (`worker::wake`), or for `onevault_tracking.worker_naptime_ms`.
//! A failing batch is rolled back, recorded in `onevault_tracking.worker_activity` and retried after
//! the nap; SIGTERM (`onevault_tracking.stop_workers`, a shutdown) ends the loop after the batch
//! in hand.

use crate::pipeline::process::drain_pending;
use crate::pipeline::rollups;
use crate::pipeline::user_agent::parse_user_agent;
use crate::postgres::error::OrInternal;
use crate::postgres::settings;
use crate::postgres::spi;
use crate::postgres::transaction;
use crate::worker::wake;
use onevault_tracking_core::workers::{self, Origin};
use pgrx::bgworkers::{BackgroundWorker, SignalWakeFlags};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use serde_json::{Map, Value};
use std::time::Instant;

/// The start argument of worker `worker_no` started by `origin`.
pub fn start_argument(worker_no: i32, origin: Origin) -> pg_sys::Datum {
    pg_sys::Datum::from(workers::start_argument(worker_no, origin))
}

/// Report buckets closed per wake-up: a day's bucket reads the day's events, so a few at a time
/// keep the next batch waiting briefly.
const CLOSED_PER_WAKE: i32 = 4;

/// The entry point PostgreSQL calls in a new worker process; the database name is the worker's
/// `bgw_extra`.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn onevault_tracking_worker_main(argument: pg_sys::Datum) {
    let (worker_no, origin) = workers::read_start_argument(argument.value() as u64);
    let database = BackgroundWorker::get_extra().to_owned();
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);

    match transaction::run(c"onevault_tracking worker: starting", || {
        Spi::connect_mut(|client| register(client, worker_no, origin))
    }) {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => {
            log!("onevault_tracking worker {worker_no} for database \"{database}\" not started: {reason}");
            return;
        }
        Err(message) => {
            warning!("onevault_tracking worker {worker_no} for database \"{database}\" could not start: {message}");
            return;
        }
    }
    // The user-agent parser is built on first use (tens of milliseconds): built now, not in the
    // first batch, so the first events wait no longer than the others.
    parse_user_agent(Some("Mozilla/5.0"));
    log!(
        "onevault_tracking worker {worker_no} started for database \"{database}\" ({})",
        origin.name()
    );

    while !BackgroundWorker::sigterm_received() {
        if BackgroundWorker::sighup_received() {
            // SAFETY: the worker's own configuration reload, as any backend does on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        let batch_size = settings::worker_batch_size();
        let started = Instant::now();
        let batch = transaction::run(c"onevault_tracking worker: processing a batch", || {
            Spi::connect_mut(|client| {
                let summary = drain_pending(client, batch_size, true);
                record_batch(client, worker_no, &summary, started);
                count(&summary, "claimed")
            })
        });
        match batch {
            // A full batch: more are probably waiting.
            Ok(claimed) if claimed >= batch_size => continue,
            // Caught up: the events of the next window go into one batch (one commit for all
            // of them) instead of one small batch per wake-up.
            Ok(claimed) if claimed > 0 => pause(settings::worker_batch_window()),
            Ok(_) => {}
            Err(message) => {
                warning!("onevault_tracking worker {worker_no}: a batch failed and will be retried: {message}");
                let recorded =
                    transaction::run(c"onevault_tracking worker: recording an error", || {
                        Spi::connect_mut(|client| record_error(client, worker_no, &message))
                    });
                if !matches!(recorded, Ok(true)) {
                    log!("onevault_tracking worker {worker_no} stops: the extension is no longer installed in \"{database}\"");
                    return;
                }
            }
        }
        // Between batches, the report buckets that have ended get their visitors counted.
        if let Err(message) =
            transaction::run(c"onevault_tracking worker: closing report buckets", || {
                Spi::connect_mut(|client| rollups::close_finished(client, CLOSED_PER_WAKE))
            })
        {
            warning!("onevault_tracking worker {worker_no}: closing report buckets failed and will be retried: {message}");
        }
        if !BackgroundWorker::wait_latch(Some(settings::worker_naptime())) {
            break;
        }
    }
    // A clean stop (exit code 0): PostgreSQL does not restart the worker.
    let _ = transaction::run(c"onevault_tracking worker: stopping", || {
        Spi::connect_mut(|client| {
            spi::execute(
                client,
                "UPDATE onevault_tracking.workers SET pid = NULL, stopped_at = now()
                  WHERE worker_no = $1 AND pid = pg_backend_pid()",
                &[worker_no.into()],
            )
            .map(|_| ())
        })
    });
    log!("onevault_tracking worker {worker_no} for database \"{database}\" stopped");
}

/// Sleeps for `window` whatever wakes the latch (its wake-ups stay pending for the wait after),
/// but not past the postmaster's death.
fn pause(window: std::time::Duration) {
    let millis = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    if millis == 0 {
        return;
    }
    // SAFETY: a timed wait on no latch, as pg_usleep but leaving at once if the postmaster dies.
    unsafe {
        pg_sys::WaitLatch(
            std::ptr::null_mut(),
            (pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
            millis as _,
            pg_sys::PG_WAIT_EXTENSION,
        );
    }
}

/// Takes worker number `worker_no` in `onevault_tracking.workers` (with fresh counts), unless the extension is
/// missing or a live worker holds that number already (then the reason not to start).
fn register(client: &mut SpiClient<'_>, worker_no: i32, origin: Origin) -> Result<(), String> {
    let installed = extension_installed(client);
    if !installed {
        return Err("the onevault_tracking extension is not installed in this database".into());
    }
    // The settings the extension's native functions run with (sql/finalize.sql): one generic
    // plan per statement, never a sequential scan that a plan made on small tables would keep;
    // and a pinned search path. The batch's commit need not wait for its WAL to reach the disk:
    // the events it processes are durable already (they were stored by the calls that landed
    // them), and if a crash loses the batch, its raw rows are PENDING again, so it is processed
    // again from the start, exactly once (atomicity is not relaxed, only the wait for the flush,
    // which would compete with the tracking calls' own).
    spi::execute(
        client,
        "SELECT set_config('plan_cache_mode', 'force_generic_plan', false),
                set_config('enable_seqscan', 'off', false),
                set_config('search_path', 'pg_catalog, pg_temp', false),
                set_config('synchronous_commit', 'off', false)",
        &[],
    )
    .or_internal("worker settings");
    let holder: Option<i32> = spi::execute(
        client,
        "SELECT pid FROM onevault_tracking.workers WHERE worker_no = $1 FOR UPDATE",
        &[worker_no.into()],
    )
    .or_internal("worker slot lookup")
    .next()
    .and_then(|row| row.get::<i32>(1).ok().flatten());
    // SAFETY: MyProcPid is this process's id, set before any extension code runs.
    let me = unsafe { pg_sys::MyProcPid };
    if let Some(pid) = holder.filter(|pid| *pid != me && wake::is_worker(*pid)) {
        return Err(format!("worker {worker_no} already runs as process {pid}"));
    }
    spi::execute(
        client,
        "WITH registered AS (
             INSERT INTO onevault_tracking.workers AS w (worker_no, pid, started_by, started_at)
             VALUES ($1, pg_backend_pid(), $2, now())
             ON CONFLICT (worker_no) DO UPDATE
                SET pid = EXCLUDED.pid, started_by = EXCLUDED.started_by,
                    started_at = EXCLUDED.started_at, stopped_at = NULL
             RETURNING worker_no)
         INSERT INTO onevault_tracking.worker_activity AS a (worker_no)
         SELECT worker_no FROM registered
         ON CONFLICT (worker_no) DO UPDATE
            SET last_batch_at = NULL, last_batch_events = NULL, last_batch_ms = NULL, batches = 0,
                events_processed = 0, events_valid = 0, events_quarantined = 0, events_failed = 0,
                errors = 0, last_error = NULL, last_error_at = NULL",
        &[worker_no.into(), origin.name().into()],
    )
    .or_internal("worker registration");
    Ok(())
}

/// Whether onevault_tracking is installed in the worker's database (it may be dropped under a
/// running worker).
fn extension_installed(client: &mut SpiClient<'_>) -> bool {
    !spi::execute(
        client,
        "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'onevault_tracking'",
        &[],
    )
    .or_internal("extension lookup")
    .is_empty()
}

fn count(summary: &Map<String, Value>, name: &str) -> i64 {
    summary.get(name).and_then(Value::as_i64).unwrap_or(0)
}

/// Adds a batch to the worker's counts, in the batch's own transaction (so they are exact).
fn record_batch(
    client: &mut SpiClient<'_>,
    worker_no: i32,
    summary: &Map<String, Value>,
    started: Instant,
) {
    let claimed = count(summary, "claimed");
    if claimed == 0 {
        return;
    }
    spi::execute(
        client,
        "UPDATE onevault_tracking.worker_activity
            SET last_batch_at = now(), last_batch_events = $2, last_batch_ms = $3,
                batches = batches + 1, events_processed = events_processed + $2,
                events_valid = events_valid + $4, events_quarantined = events_quarantined + $5,
                events_failed = events_failed + $6
          WHERE worker_no = $1",
        &[
            worker_no.into(),
            claimed.into(),
            (started.elapsed().as_secs_f64() * 1000.0).into(),
            count(summary, "valid").into(),
            count(summary, "quarantined").into(),
            (count(summary, "errors") + count(summary, "failed")).into(),
        ],
    )
    .or_internal("worker state update");
}

/// Records a failed batch; false when the extension is gone (the worker then stops).
fn record_error(client: &mut SpiClient<'_>, worker_no: i32, message: &str) -> bool {
    let present = extension_installed(client);
    if present {
        spi::execute(
            client,
            "UPDATE onevault_tracking.worker_activity
                SET errors = errors + 1, last_error = left($2, 2000), last_error_at = now()
              WHERE worker_no = $1",
            &[worker_no.into(), message.into()],
        )
        .or_internal("worker error record");
    }
    present
}
