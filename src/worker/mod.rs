//! Continuous processing in background workers: raw → staging → vault within moments of each
//! landing, so a tracking call only lands its event (the fast path of
//! `onevault_tracking.api_processing = auto`).
//!
//! - `wake`: which workers serve this database, and the latch a landing sets when it commits;
//! - `processor`: a worker's loop, set-based batches in transactions of their own;
//! - `launcher`: with the library in `shared_preload_libraries`, one launcher keeps the workers
//!   of every database of `onevault_tracking.worker_databases` running; without it,
//!   `onevault_tracking.start_workers` starts workers in a running cluster.
//!
//! A worker's state is a row of `onevault_tracking.workers` (unlogged: it is state, not
//! data), shown with the backlog by the view `onevault_tracking.worker_status`.

pub mod launcher;
pub mod processor;
pub mod wake;

/// What `pg_stat_activity.backend_type` shows for a processing worker (and what the status view
/// and the liveness checks look for).
pub const WORKER_TYPE: &str = "onevault_tracking worker";
/// The shared library every worker's entry point is in.
const LIBRARY: &str = "onevault_tracking";
