//! Errors the SQL functions raise: one enum, each variant with its SQLSTATE, message and hint,
//! so callers can rely on the SQLSTATE and people on the hint.

use onevault_tracking_core::payload::PayloadError;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

#[derive(Debug)]
pub enum TrackingError {
    /// A required argument was NULL.
    NullArgument { name: &'static str },
    /// The tenant hash key names no row of `auth.tenant_h`.
    UnknownTenant { tenant_hex: String },
    /// A hash key argument is not a 32-byte SHA-256 key.
    InvalidHashKey { name: &'static str, bytes: usize },
    /// The user agent is longer than any real one.
    UserAgentTooLong { bytes: usize, limit: usize },
    /// The payload breaks a raw-layer shape rule.
    Payload(PayloadError),
    /// `p_events` of a batch is not a JSON array.
    BatchNotArray { found: &'static str },
    /// A batch holds more events than `onevault_tracking.max_batch_size`.
    BatchTooLarge { size: usize, limit: usize },
    /// A jsonb argument nested deeper than any event payload could need.
    JsonTooDeep {
        name: &'static str,
        depth: usize,
        limit: usize,
    },
    /// No raw event has this id.
    UnknownRawEvent { raw_event_id: i64 },
    /// A processing batch size outside 1..=limit.
    InvalidBatchSize { size: i32, limit: i32 },
    /// An argument outside what the function accepts.
    InvalidArgument { name: &'static str, reason: String },
    /// A site or key the caller named does not exist.
    NotFound { what: String },
    /// The rate limiter could not count the request (fail closed).
    RateLimiterFailed { message: String },
    /// `util.log_audit_event` answered `success: false`; the change is rolled back so that
    /// nothing lands unaudited.
    AuditFailed { error_code: String, message: String },
    /// A statement of the extension's own failed where it cannot fail on a healthy
    /// installation (a catalog lookup, a query over its own tables).
    Internal { what: &'static str, message: String },
    /// No background worker slot was free to start a processing worker.
    NoWorkerSlot { worker_no: i32 },
    /// `DROP EXTENSION onevault_tracking` while tracked events are stored.
    DropWouldDeleteEvents,
    /// The One Vault core objects the extension calls are missing (they are checked at first
    /// use, not at CREATE EXTENSION, so that a pg_dump restore can create the extension first).
    CoreMissing { missing: String },
}

impl TrackingError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            TrackingError::NullArgument { .. } => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            TrackingError::UnknownTenant { .. } => PgSqlErrorCode::ERRCODE_FOREIGN_KEY_VIOLATION,
            TrackingError::Payload(PayloadError::TooLarge { .. })
            | TrackingError::BatchTooLarge { .. }
            | TrackingError::JsonTooDeep { .. }
            | TrackingError::UserAgentTooLong { .. } => {
                PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED
            }
            TrackingError::Payload(_)
            | TrackingError::BatchNotArray { .. }
            | TrackingError::InvalidHashKey { .. } => {
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
            }
            TrackingError::UnknownRawEvent { .. } | TrackingError::NotFound { .. } => {
                PgSqlErrorCode::ERRCODE_NO_DATA_FOUND
            }
            TrackingError::InvalidArgument { .. } => {
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
            }
            TrackingError::RateLimiterFailed { .. } => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            TrackingError::InvalidBatchSize { .. } => {
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
            }
            TrackingError::AuditFailed { .. } => PgSqlErrorCode::ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
            TrackingError::Internal { .. } => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            TrackingError::NoWorkerSlot { .. } => {
                PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED
            }
            TrackingError::DropWouldDeleteEvents => {
                PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST
            }
            TrackingError::CoreMissing { .. } => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        }
    }

    fn message(&self) -> String {
        match self {
            TrackingError::NullArgument { name } => format!("{name} must not be NULL"),
            TrackingError::UnknownTenant { tenant_hex } => {
                format!("tenant \\x{tenant_hex} does not exist in auth.tenant_h")
            }
            TrackingError::InvalidHashKey { name, bytes } => {
                format!("{name} must be a 32-byte hash key, got {bytes} bytes")
            }
            TrackingError::UserAgentTooLong { bytes, limit } => {
                format!("user agent is {bytes} bytes, over the limit of {limit} bytes")
            }
            TrackingError::Payload(e) => e.to_string(),
            TrackingError::BatchNotArray { found } => {
                format!("p_events must be a JSON array of event objects, got {found}")
            }
            TrackingError::BatchTooLarge { size, limit } => {
                format!("batch of {size} events is over the limit of {limit}")
            }
            TrackingError::JsonTooDeep { name, depth, limit } => {
                format!("{name} is nested {depth} levels deep; at most {limit} are accepted")
            }
            TrackingError::UnknownRawEvent { raw_event_id } => {
                format!("raw event {raw_event_id} does not exist in raw.site_tracking_events_r")
            }
            TrackingError::InvalidArgument { name, reason } => format!("invalid {name}: {reason}"),
            TrackingError::NotFound { what } => format!("{what} does not exist"),
            TrackingError::RateLimiterFailed { message } => {
                format!("the rate limiter could not count the request: {message}")
            }
            TrackingError::InvalidBatchSize { size, limit } => {
                format!("p_batch_size must be between 1 and {limit}, got {size}")
            }
            TrackingError::AuditFailed {
                error_code,
                message,
            } => {
                format!("util.log_audit_event failed ({error_code}): {message}")
            }
            TrackingError::Internal { what, message } => format!("{what} failed: {message}"),
            TrackingError::NoWorkerSlot { worker_no } => {
                format!("no background worker slot is free for processing worker {worker_no}")
            }
            TrackingError::DropWouldDeleteEvents => {
                "dropping onevault_tracking would delete every tracked event it stores".into()
            }
            TrackingError::CoreMissing { missing } => {
                format!("onevault_tracking needs the One Vault core, and this database lacks: {missing}")
            }
        }
    }

    fn hint(&self) -> String {
        match self {
            TrackingError::NullArgument { name } if *name == "p_tenant_hk" => {
                "Pass the tenant_hk of the tenant that owns the site, from auth.tenant_h.".into()
            }
            TrackingError::NullArgument { .. } => "Pass a value for every required argument.".into(),
            TrackingError::UnknownTenant { .. } => {
                "Tenants are created by the One Vault platform; pass an existing auth.tenant_h.tenant_hk."
                    .into()
            }
            TrackingError::InvalidHashKey { .. } => {
                "Hash keys are SHA-256 digests (bytea of 32 bytes), e.g. business.api_key_h.api_key_hk."
                    .into()
            }
            TrackingError::UserAgentTooLong { .. } => {
                "Pass the client's User-Agent header as received; no real browser sends one this long."
                    .into()
            }
            TrackingError::Payload(PayloadError::TooLarge { .. }) => {
                "Send fewer or shorter properties, or raise onevault_tracking.max_payload_bytes.".into()
            }
            TrackingError::Payload(_) => {
                "An event is a JSON object such as {\"event_type\": \"page_view\", \"page_url\": \"https://example.com/\"}."
                    .into()
            }
            TrackingError::BatchNotArray { .. } => {
                "Pass a JSON array such as [{\"event_type\": \"page_view\", ...}, ...].".into()
            }
            TrackingError::BatchTooLarge { .. } => {
                "Split the batch, or raise onevault_tracking.max_batch_size.".into()
            }
            TrackingError::JsonTooDeep { .. } => {
                "Event properties are flat objects of scalar values; send nested data as a JSON string.".into()
            }
            TrackingError::UnknownRawEvent { .. } => {
                "Pass a raw_event_id returned by raw.ingest_tracking_event.".into()
            }
            TrackingError::InvalidArgument { .. } => "See the README's API section for the accepted values.".into(),
            TrackingError::NotFound { .. } => {
                "Register the site with api.register_site and issue keys with api.create_api_key.".into()
            }
            TrackingError::RateLimiterFailed { .. } => {
                "Requests are refused while auth.ip_tracking_s cannot be written (fail closed); check the One Vault core.".into()
            }
            TrackingError::InvalidBatchSize { .. } => {
                "Call staging.process_pending_events repeatedly for larger backlogs.".into()
            }
            TrackingError::AuditFailed { error_code, .. } if error_code == "42883" => {
                "util.log_audit_event could not resolve a function (pgcrypto's digest?): check \
                 SELECT * FROM onevault_tracking.integration_status(); nothing was stored."
                    .into()
            }
            TrackingError::AuditFailed { .. } => {
                "Check util.log_audit_event and the audit tables; nothing was stored.".into()
            }
            TrackingError::Internal { .. } => {
                "Check SELECT * FROM onevault_tracking.integration_status(); repair a damaged \
                 installation from a backup (pg_dump; README, \"Lifecycle\")."
                    .into()
            }
            TrackingError::NoWorkerSlot { .. } => {
                "Each worker is a background worker process: raise max_worker_processes (a \
                 restart) or start fewer workers; the workers already started keep running."
                    .into()
            }
            TrackingError::DropWouldDeleteEvents => {
                "Keep them: back up first (pg_dump; README, \"Lifecycle\"). Delete them with the \
                 extension: SET onevault_tracking.drop_deletes_data = on; then drop again."
                    .into()
            }
            TrackingError::CoreMissing { .. } => {
                "Install onevault_tracking into a One Vault database, or load the core replica \
                 first: psql -1 -v ON_ERROR_STOP=1 -f tests/fixtures/onevault_core_replica.sql (in the \
                 onevault_tracking source tree)."
                    .into()
            }
        }
    }

    /// Raises the error as a PostgreSQL ERROR; the current transaction is aborted.
    pub fn raise(self) -> ! {
        ErrorReport::new(self.sqlstate(), self.message(), "onevault_tracking")
            .set_hint(self.hint())
            .report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

impl From<PayloadError> for TrackingError {
    fn from(e: PayloadError) -> Self {
        TrackingError::Payload(e)
    }
}

/// Most rows one drain (`staging.process_pending_events`) or load
/// (`business.load_staged_events`) call takes: a call should not hold locks for long.
pub const MAX_BATCH_SIZE: i32 = 10_000;

/// A drain's or load's `p_batch_size`, checked against [`MAX_BATCH_SIZE`].
pub fn batch_size(value: Option<i32>) -> i64 {
    let size = required(value, "p_batch_size");
    if !(1..=MAX_BATCH_SIZE).contains(&size) {
        TrackingError::InvalidBatchSize {
            size,
            limit: MAX_BATCH_SIZE,
        }
        .raise();
    }
    i64::from(size)
}

/// Unwraps a required argument or raises [`TrackingError::NullArgument`].
pub fn required<T>(value: Option<T>, name: &'static str) -> T {
    value.unwrap_or_else(|| TrackingError::NullArgument { name }.raise())
}

/// Turns the failure of something that cannot fail on a healthy installation (an SPI call over
/// the extension's own tables, a column the query guarantees, an invariant of the code) into
/// [`TrackingError::Internal`]: an ERROR with SQLSTATE XX000 that names what failed, never a
/// Rust panic.
pub trait OrInternal<T> {
    fn or_internal(self, what: &'static str) -> T;
}

impl<T, E: std::fmt::Display> OrInternal<T> for Result<T, E> {
    fn or_internal(self, what: &'static str) -> T {
        self.unwrap_or_else(|e| {
            TrackingError::Internal {
                what,
                message: e.to_string(),
            }
            .raise()
        })
    }
}

impl<T> OrInternal<T> for Option<T> {
    fn or_internal(self, what: &'static str) -> T {
        self.unwrap_or_else(|| {
            TrackingError::Internal {
                what,
                message: "no value where one is guaranteed".into(),
            }
            .raise()
        })
    }
}
