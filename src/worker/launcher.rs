//! Starting and stopping processing workers.
//!
//! - With `shared_preload_libraries = 'onevault_tracking'`, a launcher (a background worker of
//!   its own, restarted by PostgreSQL after a crash) starts `onevault_tracking.workers_per_database`
//!   workers for every database of `onevault_tracking.worker_databases`, starts again any that
//!   stops, and follows changes of both settings on a reload. It is what survives restarts.
//! - Without it, `onevault_tracking.start_workers(n)` starts workers for the current database in
//!   a running cluster (dynamic background workers, restarted after a crash but not after a
//!   server restart), and `onevault_tracking.stop_workers()` stops them.

use crate::postgres::error::{OrInternal, TrackingError};
use crate::postgres::settings;
use crate::postgres::spi;
use crate::worker::processor::start_argument;
use crate::worker::{wake, LIBRARY, WORKER_TYPE};
use onevault_tracking_core::workers::{self, Origin};
use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BackgroundWorkerStatus, BgWorkerStartTime,
    DynamicBackgroundWorker, SignalWakeFlags,
};
use pgrx::prelude::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often the launcher checks its workers when nothing wakes it (a worker that stops wakes it
/// at once).
const LAUNCHER_NAPTIME: Duration = Duration::from_secs(5);
/// A worker the launcher runs: its handle, when it started and when the launcher saw it stopped,
/// and how often in a row it stopped soon after starting.
struct Launched {
    worker: DynamicBackgroundWorker,
    started: Instant,
    stopped: Option<Instant>,
    quick_stops: u32,
}

impl Launched {
    /// Notes whether the worker has stopped; answers the `quick_stops` of its next start once it
    /// may be started again.
    fn restart_due(&mut self) -> Option<u32> {
        if self.stopped.is_none() && !running(&self.worker) {
            self.stopped = Some(Instant::now());
        }
        let stopped = self.stopped?;
        (stopped.elapsed() >= workers::restart_delay(self.quick_stops)).then(|| {
            workers::quick_stops_after(self.quick_stops, stopped.duration_since(self.started))
        })
    }
}

/// How long `start_workers` waits for a new worker to register itself.
const STARTUP_WAIT: Duration = Duration::from_secs(10);

/// Registers the launcher when the library is loaded by `shared_preload_libraries`.
pub fn register_launcher() {
    // SAFETY: a flag PostgreSQL sets while it loads the preloaded libraries.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    BackgroundWorkerBuilder::new("onevault_tracking launcher")
        .set_type("onevault_tracking launcher")
        .set_library(LIBRARY)
        .set_function("onevault_tracking_launcher_main")
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(Duration::from_secs(5)))
        .load();
}

/// A worker for `database`: the launcher's are never restarted by PostgreSQL (the launcher does
/// it, also after a crash), `start_workers`' are, after a crash.
fn builder(database: &str, worker_no: i32, origin: Origin) -> BackgroundWorkerBuilder {
    let builder = BackgroundWorkerBuilder::new(&format!(
        "onevault_tracking worker {worker_no} for {database}"
    ))
    .set_type(WORKER_TYPE)
    .set_library(LIBRARY)
    .set_function("onevault_tracking_worker_main")
    .set_argument(Some(start_argument(worker_no, origin)))
    .set_extra(database)
    .enable_spi_access()
    .set_start_time(BgWorkerStartTime::RecoveryFinished)
    // SAFETY: this process's id, to be told when the worker starts and stops.
    .set_notify_pid(unsafe { pg_sys::MyProcPid });
    match origin {
        Origin::Launcher => builder.set_restart_time(None),
        Origin::StartWorkers => builder.set_restart_time(Some(Duration::from_secs(5))),
    }
}

fn running(worker: &DynamicBackgroundWorker) -> bool {
    !matches!(
        worker.pid(),
        Err(BackgroundWorkerStatus::Stopped | BackgroundWorkerStatus::PostmasterDied)
    )
}

/// The launcher's entry point.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn onevault_tracking_launcher_main(_argument: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    log!("onevault_tracking launcher started");
    let mut workers: HashMap<(String, i32), Launched> = HashMap::new();
    loop {
        if BackgroundWorker::sighup_received() {
            // SAFETY: the launcher's configuration reload, as any backend does on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        let wanted: Vec<(String, i32)> = settings::worker_databases()
            .into_iter()
            .flat_map(|database| {
                (1..=settings::workers_per_database()).map(move |n| (database.clone(), n))
            })
            .collect();
        // Workers no longer wanted (a database left the list, fewer per database) are stopped.
        let unwanted: Vec<(String, i32)> = workers
            .keys()
            .filter(|key| !wanted.contains(key))
            .cloned()
            .collect();
        for key in unwanted {
            if let Some(launched) = workers.remove(&key) {
                let _ = launched.worker.terminate();
            }
        }
        for key in wanted {
            let quick_stops = match workers.get_mut(&key).map(Launched::restart_due) {
                None => 0,
                Some(Some(quick_stops)) => quick_stops,
                Some(None) => continue,
            };
            if quick_stops == 3 {
                warning!(
                    "onevault_tracking launcher: worker {} of database \"{}\" keeps stopping after \
                     it starts (is the database there, with the extension installed?); retrying \
                     less often",
                    key.1,
                    key.0
                );
            }
            match builder(&key.0, key.1, Origin::Launcher).load_dynamic() {
                Ok(worker) => {
                    let started = Instant::now();
                    workers.insert(
                        key,
                        Launched {
                            worker,
                            started,
                            stopped: None,
                            quick_stops,
                        },
                    );
                }
                Err(_) => warning!(
                    "onevault_tracking launcher: no background worker slot for worker {} of \"{}\"",
                    key.1,
                    key.0
                ),
            }
        }
        if !BackgroundWorker::wait_latch(Some(LAUNCHER_NAPTIME)) {
            break;
        }
    }
    log!("onevault_tracking launcher stopped");
}

/// `onevault_tracking.start_workers(p_workers integer DEFAULT 1) RETURNS TABLE (worker_no
/// integer, pid integer, status text)`: makes sure workers 1 to `p_workers` run for the current
/// database, starting those that do not (`started`) and leaving running ones alone (`running`).
/// Answers once each has registered, so the next tracking call already takes the fast path.
#[pg_extern(sql = false)]
fn start_workers(
    p_workers: Option<i32>,
) -> TableIterator<
    'static,
    (
        name!(worker_no, i32),
        name!(pid, i32),
        name!(status, String),
    ),
> {
    let workers = p_workers.unwrap_or(1);
    if !(1..=workers::WORKERS_MAX).contains(&workers) {
        TrackingError::InvalidArgument {
            name: "p_workers",
            reason: format!(
                "from 1 to {} workers per database, got {workers}",
                workers::WORKERS_MAX
            ),
        }
        .raise();
    }
    let database = Spi::get_one::<String>("SELECT current_database()::text")
        .ok()
        .flatten()
        .or_internal("current database");
    let mut answer = Vec::new();
    for worker_no in 1..=workers {
        if let Some(pid) = registered_pid(worker_no).filter(|pid| wake::is_worker(*pid)) {
            answer.push((worker_no, pid, "running".to_owned()));
            continue;
        }
        let Ok(worker) = builder(&database, worker_no, Origin::StartWorkers).load_dynamic() else {
            TrackingError::NoWorkerSlot { worker_no }.raise()
        };
        let pid = match worker.wait_for_startup() {
            Ok(pid) => pid,
            Err(_) => TrackingError::NoWorkerSlot { worker_no }.raise(),
        };
        wait_for_registration(&worker, worker_no, pid);
        answer.push((worker_no, pid, "started".to_owned()));
    }
    // This session's next tracking call takes the fast path at once.
    wake::forget_workers();
    TableIterator::new(answer)
}

/// The process id `onevault_tracking.workers` records for worker `worker_no`.
fn registered_pid(worker_no: i32) -> Option<i32> {
    Spi::get_one_with_args::<i32>(
        "SELECT pid FROM onevault_tracking.workers WHERE worker_no = $1",
        &[worker_no.into()],
    )
    .ok()
    .flatten()
}

/// Waits until `worker` has registered as `pid` in `onevault_tracking.workers` (or has
/// stopped: another worker held its number), at most STARTUP_WAIT.
fn wait_for_registration(worker: &DynamicBackgroundWorker, worker_no: i32, pid: i32) {
    let started = Instant::now();
    while started.elapsed() < STARTUP_WAIT && running(worker) {
        if registered_pid(worker_no) == Some(pid) {
            return;
        }
        // SAFETY: a plain timed wait on this backend's latch, interruptible by a cancel.
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                10,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
        pgrx::check_for_interrupts!();
    }
}

/// `onevault_tracking.stop_workers() RETURNS integer`: stops this database's running workers
/// (each finishes the batch in hand) and answers how many it stopped. Workers of the launcher are
/// started again by it while the database is in `onevault_tracking.worker_databases`.
#[pg_extern(sql = false)]
fn stop_workers() -> i32 {
    Spi::connect_mut(|client| {
        let pids = wake::running_workers(client);
        let mut stopped = 0;
        for pid in pids {
            let ended = spi::execute(
                client,
                "SELECT pg_catalog.pg_terminate_backend($1, 30000)",
                &[pid.into()],
            )
            .or_internal("stopping a worker")
            .next()
            .and_then(|row| row.get::<bool>(1).ok().flatten())
            .unwrap_or(false);
            stopped += i32::from(ended);
        }
        stopped
    })
}
