//! The report rollups' upkeep (sql/rollups.sql): what every vault load adds to them, in the same
//! transaction, and the closing of finished buckets (their exact visitor counts), which the
//! background workers do between batches.

use crate::postgres::error::OrInternal;
use crate::postgres::settings;
use crate::postgres::spi;
use onevault_tracking_core::hashing::HashKey;
use pgrx::spi::SpiClient;

/// Adds the contributions of `new_events`, the tracking events a vault load just inserted (a
/// replayed event is not among them), unless `onevault_tracking.rollup_upkeep` is off.
pub fn add_loaded(client: &mut SpiClient<'_>, new_events: &[HashKey]) {
    if new_events.is_empty() || !settings::rollup_upkeep() {
        return;
    }
    let keys: Vec<Vec<u8>> = new_events.iter().map(|k| k.to_vec()).collect();
    spi::execute(
        client,
        "SELECT onevault_tracking.rollup_loaded_events($1)",
        &[keys.into()],
    )
    .or_internal("rollup upkeep");
}

/// Closes up to `limit` finished buckets; answers how many.
pub fn close_finished(client: &mut SpiClient<'_>, limit: i32) -> i64 {
    spi::execute(
        client,
        "SELECT onevault_tracking.close_rollup_buckets($1)",
        &[limit.into()],
    )
    .and_then(|rows| rows.first().get_one::<i32>())
    .or_internal("closing rollup buckets")
    .map_or(0, i64::from)
}
