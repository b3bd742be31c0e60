//! Facts of the One Vault platform that stay the same for a whole transaction, read once per
//! transaction instead of once per statement.

use crate::postgres::error::{OrInternal, TrackingError};
use crate::postgres::spi;
use crate::postgres::version_compat::local_transaction_id;
use pgrx::spi::SpiClient;
use std::cell::RefCell;

thread_local! {
    /// (local transaction id, value) of the last transaction that asked.
    static RECORD_SOURCE: RefCell<Option<(u32, String)>> = const { RefCell::new(None) };
    /// Whether this backend has seen the One Vault core complete once.
    static CORE_PRESENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The platform's objects the extension calls, as `to_regprocedure` / `to_regclass` names.
const CORE_OBJECTS: &str = "SELECT array_to_string(array_agg(name ORDER BY name), ', ')
       FROM unnest(ARRAY['util.log_audit_event(text,text,text,text,jsonb)', 'util.hash_binary(text)',
                         'util.current_load_date()', 'util.get_record_source()']) AS f(name)
      WHERE to_regprocedure(name) IS NULL
     UNION ALL
     SELECT array_to_string(array_agg(name ORDER BY name), ', ')
       FROM unnest(ARRAY['auth.tenant_h', 'auth.security_tracking_h', 'auth.ip_tracking_s',
                         'audit.audit_event_h', 'audit.audit_detail_s']) AS t(name)
      WHERE to_regclass(name) IS NULL";

/// Raises [`TrackingError::CoreMissing`] unless the One Vault core is there. Checked at first
/// use in each backend rather than by CREATE EXTENSION, which a pg_dump restore runs before the
/// platform's own objects exist (README, "Lifecycle"); once seen, the core is not looked up again.
pub fn require_core(client: &mut SpiClient<'_>) {
    if CORE_PRESENT.with(|present| present.get()) {
        return;
    }
    let missing: Vec<String> = client
        .select(CORE_OBJECTS, None, &[])
        .or_internal("looking up the One Vault core")
        .filter_map(|row| row.get::<String>(1).ok().flatten())
        .filter(|names| !names.is_empty())
        .collect();
    if !missing.is_empty() {
        TrackingError::CoreMissing {
            missing: missing.join(", "),
        }
        .raise();
    }
    CORE_PRESENT.with(|present| present.set(true));
}

/// `util.get_record_source()`: an SQL function with a table lookup, which PostgreSQL would
/// otherwise plan and run for every statement (and every row) that names it.
pub fn record_source(client: &mut SpiClient<'_>) -> String {
    let transaction = local_transaction_id();
    require_core(client);
    if let Some(cached) = RECORD_SOURCE.with(|cell| {
        cell.borrow()
            .as_ref()
            .filter(|(xid, _)| *xid == transaction)
            .map(|(_, value)| value.clone())
    }) {
        return cached;
    }
    let value = spi::execute(client, "SELECT util.get_record_source()::text", &[])
        .and_then(|rows| rows.first().get_one::<String>())
        .or_internal("util.get_record_source()")
        .unwrap_or_else(|| "system".into());
    RECORD_SOURCE.with(|cell| *cell.borrow_mut() = Some((transaction, value.clone())));
    value
}
