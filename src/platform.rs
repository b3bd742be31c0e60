//! Facts of the One Vault platform that stay the same for a whole transaction, read once per
//! transaction instead of once per statement.

use crate::spi;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::cell::RefCell;

thread_local! {
    /// (local transaction id, value) of the last transaction that asked.
    static RECORD_SOURCE: RefCell<Option<(u32, String)>> = const { RefCell::new(None) };
}

fn local_transaction_id() -> u32 {
    // SAFETY: MyProc is set for every backend before any SQL function can run.
    unsafe { (*pg_sys::MyProc).lxid }
}

/// `util.get_record_source()`: an SQL function with a table lookup, which PostgreSQL would
/// otherwise plan and run for every statement (and every row) that names it.
pub fn record_source(client: &mut SpiClient<'_>) -> String {
    let transaction = local_transaction_id();
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
        .expect("util.get_record_source()")
        .unwrap_or_else(|| "system".into());
    RECORD_SOURCE.with(|cell| *cell.borrow_mut() = Some((transaction, value.clone())));
    value
}
