//! The extension's settings (GUCs). Every limit on input has one, so operators can tune limits
//! per role or per session (`ALTER ROLE ... SET onevault_tracking.max_batch_size = 5000`).

use onevault_tracking_core::ip::{IpStorage, RATE_LIMIT_IPV6_PREFIX};
use onevault_tracking_core::payload::{DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_PAYLOAD_BYTES};
use onevault_tracking_core::site_settings::RATE_LIMIT_MAX;
use onevault_tracking_core::workers::{self, WORKERS_MAX};
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use std::ffi::CString;

/// Hard ceiling for the payload limit: far above any real tracking payload, and well below the
/// 1 GB a jsonb datum may reach.
const MAX_PAYLOAD_BYTES_CEILING: i32 = 16 * 1024 * 1024;
/// Hard ceiling for batch sizes: one call should never hold locks for long.
const MAX_BATCH_SIZE_CEILING: i32 = 100_000;

static MAX_PAYLOAD_BYTES: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_MAX_PAYLOAD_BYTES);
static MAX_BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_MAX_BATCH_SIZE);
static MAX_PROCESSING_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(5);
static RATE_LIMIT_PER_MINUTE: GucSetting<i32> = GucSetting::<i32>::new(120);
static RATE_LIMIT_IPV6_PREFIX_BITS: GucSetting<i32> =
    GucSetting::<i32>::new(RATE_LIMIT_IPV6_PREFIX as i32);
static RAW_RETENTION_DAYS: GucSetting<i32> = GucSetting::<i32>::new(30);
static RATE_LIMIT_RETENTION_HOURS: GucSetting<i32> = GucSetting::<i32>::new(24);
static API_PROCESSING: GucSetting<ApiProcessing> =
    GucSetting::<ApiProcessing>::new(ApiProcessing::Auto);
static WORKER_DATABASES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static WORKERS_PER_DATABASE: GucSetting<i32> = GucSetting::<i32>::new(1);
static WORKER_BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(1000);
static WORKER_NAPTIME_MS: GucSetting<i32> = GucSetting::<i32>::new(1000);
static WORKER_BATCH_WINDOW_MS: GucSetting<i32> = GucSetting::<i32>::new(100);
static PROCESS_LOADS_VAULT: GucSetting<bool> = GucSetting::<bool>::new(true);
static DROP_DELETES_DATA: GucSetting<bool> = GucSetting::<bool>::new(false);
static ROLLUP_UPKEEP: GucSetting<bool> = GucSetting::<bool>::new(true);
static ROLLUP_RETENTION_DAYS: GucSetting<i32> = GucSetting::<i32>::new(0);
static REPORT_SOURCE: GucSetting<ReportSource> =
    GucSetting::<ReportSource>::new(ReportSource::Rollups);
static CLIENT_IP_STORAGE: GucSetting<IpStorageSetting> =
    GucSetting::<IpStorageSetting>::new(IpStorageSetting::Anonymized);

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
enum IpStorageSetting {
    #[name = c"anonymized"]
    Anonymized,
    #[name = c"full"]
    Full,
    #[name = c"none"]
    None,
}

/// Where the reports read their numbers (sql/reports.sql reads the setting).
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
enum ReportSource {
    #[name = c"rollups"]
    Rollups,
    #[name = c"vault"]
    Vault,
}

/// How the tracking API processes an accepted event.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ApiProcessing {
    /// Deferred when a background worker serves the database (it processes the event within
    /// moments), immediate otherwise, so no event waits for a drain nobody runs.
    #[name = c"auto"]
    Auto,
    /// Raw, staging and vault within the call.
    #[name = c"immediate"]
    Immediate,
    /// Raw only; `staging.process_pending_events` and `business.load_staged_events` do the
    /// rest later (for high-volume deployments).
    #[name = c"deferred"]
    Deferred,
}

pub fn register() {
    GucRegistry::define_int_guc(
        c"onevault_tracking.max_payload_bytes",
        c"Largest accepted event payload, in bytes of JSON text.",
        c"Larger payloads are refused by raw.ingest_tracking_event (SQLSTATE 54000) and \
          reported per item by raw.batch_ingest_tracking_events.",
        &MAX_PAYLOAD_BYTES,
        256,
        MAX_PAYLOAD_BYTES_CEILING,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"onevault_tracking.max_batch_size",
        c"Most events accepted by one raw.batch_ingest_tracking_events call.",
        c"A larger batch is refused whole (SQLSTATE 54000); split it on the client.",
        &MAX_BATCH_SIZE,
        1,
        MAX_BATCH_SIZE_CEILING,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"onevault_tracking.max_processing_attempts",
        c"How often processing retries a raw event that fails unexpectedly before giving up.",
        c"A failing event is marked ERROR and retried by the next drain; after this many \
          attempts it is marked FAILED, which staging.reprocess_quarantined_events can undo.",
        &MAX_PROCESSING_ATTEMPTS,
        1,
        100,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"onevault_tracking.rate_limit_per_minute",
        c"Tracking calls allowed per client IP, tenant and minute, unless a site or key sets its own.",
        c"Sites override it with settings.rate_limit_per_minute, keys with rate_limit_per_minute.",
        &RATE_LIMIT_PER_MINUTE,
        1,
        RATE_LIMIT_MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"onevault_tracking.rate_limit_ipv6_prefix",
        c"The IPv6 network the rate limiter counts as one client, in prefix bits.",
        c"A client can use any address of its /64 (RFC 6177), so counting addresses would let \
          it rotate past the limit. 128 counts every address on its own.",
        &RATE_LIMIT_IPV6_PREFIX_BITS,
        32,
        128,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"onevault_tracking.raw_retention_days",
        c"Days api.purge_expired_data keeps processed raw and staging rows.",
        c"The vault keeps its (IP-free) events; raw rows still waiting for processing are \
          never purged.",
        &RAW_RETENTION_DAYS,
        1,
        36_500,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"onevault_tracking.rate_limit_retention_hours",
        c"Hours api.purge_expired_data keeps rate-limit windows (the only place full IPs live).",
        c"Windows whose last request is older are deleted with their hub rows.",
        &RATE_LIMIT_RETENTION_HOURS,
        1,
        8_760,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"onevault_tracking.api_processing",
        c"auto: raw only when a background worker serves the database, else immediate; \
          immediate: the tracking API stages and loads each event in the call; deferred: raw only.",
        c"With deferred and no worker, run staging.process_pending_events regularly; \
          onevault_tracking.start_workers or onevault_tracking.worker_databases runs workers.",
        &API_PROCESSING,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"onevault_tracking.worker_databases",
        c"Databases the launcher runs processing workers for (comma-separated names).",
        c"Read by the launcher, which exists when onevault_tracking is in \
          shared_preload_libraries; a reload (pg_reload_conf) applies a change.",
        &WORKER_DATABASES,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"onevault_tracking.workers_per_database",
        c"Processing workers the launcher runs for each database of worker_databases.",
        c"They drain side by side (FOR UPDATE SKIP LOCKED); each is one background worker \
          process, counted against max_worker_processes.",
        &WORKERS_PER_DATABASE,
        1,
        WORKERS_MAX,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"onevault_tracking.worker_batch_size",
        c"Most raw events a processing worker takes through staging into the vault per transaction.",
        c"A full batch is followed at once by the next; a smaller one means the queue is empty.",
        &WORKER_BATCH_SIZE,
        1,
        MAX_BATCH_SIZE_CEILING,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"onevault_tracking.worker_naptime_ms",
        c"How long an idle processing worker sleeps when nothing wakes it, in milliseconds.",
        c"Tracking calls wake the workers when they commit; the nap only bounds the delay for \
          events that land without waking them (COPY into raw, retries of failed events).",
        &WORKER_NAPTIME_MS,
        10,
        600_000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"onevault_tracking.worker_batch_window_ms",
        c"The shortest time between two batches of a worker that has caught up, in milliseconds.",
        c"The events that land in that window are processed in one batch and one commit; \
          it bounds how long an event waits for a worker that is not behind. 0: no window.",
        &WORKER_BATCH_WINDOW_MS,
        0,
        10_000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"onevault_tracking.process_loads_vault",
        c"Whether processing raw events also loads the VALID ones into the vault, in the same \
          transaction.",
        c"On (default), staging.process_pending_events, staging.process_raw_event and \
          staging.reprocess_quarantined_events take events from raw to the vault in one pass; \
          off leaves VALID staged events for business.load_staged_events.",
        &PROCESS_LOADS_VAULT,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"onevault_tracking.drop_deletes_data",
        c"Lets DROP EXTENSION onevault_tracking delete the tracked events it stores.",
        c"Off: DROP EXTENSION (and DROP SCHEMA onevault_tracking) is refused while events are \
          stored; set it in the session that drops, on purpose.",
        &DROP_DELETES_DATA,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"onevault_tracking.rollup_upkeep",
        c"Whether loading events into the vault also updates the report rollups, in the same \
          transaction.",
        c"On (default). Off leaves the rollups behind the vault (for bulk loads and for \
          measuring); onevault_tracking.rebuild_rollups() computes them again.",
        &ROLLUP_UPKEEP,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"onevault_tracking.rollup_retention_days",
        c"Days of report rollups api.purge_expired_data keeps; 0 keeps them for ever (default).",
        c"Rollups hold counts, no visitor or event identifiers, so they may outlive the events' \
          retention.",
        &ROLLUP_RETENTION_DAYS,
        0,
        100_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"onevault_tracking.report_source",
        c"Where the reports read their numbers: rollups (default) or vault.",
        c"vault computes every report from the events, as the rollups are checked against; \
          the answers are the same, slower.",
        &REPORT_SOURCE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"onevault_tracking.client_ip_storage",
        c"What the tracking tables keep of a client IP: anonymized (default), full or none.",
        c"anonymized keeps the IPv4 /24 or IPv6 /48 network; the full address is only ever \
          kept by the rate limiter.",
        &CLIENT_IP_STORAGE,
        GucContext::Suset,
        GucFlags::default(),
    );
}

pub fn max_payload_bytes() -> usize {
    usize::try_from(MAX_PAYLOAD_BYTES.get()).unwrap_or(0)
}

pub fn max_batch_size() -> usize {
    usize::try_from(MAX_BATCH_SIZE.get()).unwrap_or(0)
}

pub fn max_processing_attempts() -> i32 {
    MAX_PROCESSING_ATTEMPTS.get()
}

pub fn client_ip_storage() -> IpStorage {
    match CLIENT_IP_STORAGE.get() {
        IpStorageSetting::Anonymized => IpStorage::Anonymized,
        IpStorageSetting::Full => IpStorage::Full,
        IpStorageSetting::None => IpStorage::None,
    }
}

pub fn rate_limit_per_minute() -> i32 {
    RATE_LIMIT_PER_MINUTE.get()
}

pub fn rate_limit_ipv6_prefix() -> u32 {
    u32::try_from(RATE_LIMIT_IPV6_PREFIX_BITS.get()).unwrap_or(RATE_LIMIT_IPV6_PREFIX)
}

pub fn api_processing() -> ApiProcessing {
    API_PROCESSING.get()
}

/// The database names of `onevault_tracking.worker_databases`, trimmed, without empties or repeats.
pub fn worker_databases() -> Vec<String> {
    let listed = WORKER_DATABASES
        .get()
        .map(|names| names.to_string_lossy().into_owned())
        .unwrap_or_default();
    workers::database_list(&listed)
}

pub fn workers_per_database() -> i32 {
    WORKERS_PER_DATABASE.get()
}

pub fn worker_batch_size() -> i64 {
    WORKER_BATCH_SIZE.get().into()
}

pub fn worker_naptime() -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(WORKER_NAPTIME_MS.get()).unwrap_or(1000))
}

pub fn worker_batch_window() -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(WORKER_BATCH_WINDOW_MS.get()).unwrap_or(0))
}

pub fn process_loads_vault() -> bool {
    PROCESS_LOADS_VAULT.get()
}

pub fn drop_deletes_data() -> bool {
    DROP_DELETES_DATA.get()
}

pub fn rollup_upkeep() -> bool {
    ROLLUP_UPKEEP.get()
}

pub fn rollup_retention_days() -> i32 {
    ROLLUP_RETENTION_DAYS.get()
}

pub fn raw_retention_days() -> i32 {
    RAW_RETENTION_DAYS.get()
}

pub fn rate_limit_retention_hours() -> i32 {
    RATE_LIMIT_RETENTION_HOURS.get()
}
