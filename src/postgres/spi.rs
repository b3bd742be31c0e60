//! Prepared statements kept for the life of the backend.
//!
//! Every statement is planned once per backend and then reused, keyed by its SQL text: the
//! parameter types are taken from the arguments of the first execution, so a statement is
//! written in one place, its SQL text (the vault loaders build theirs once per table). PostgreSQL's plan cache re-plans a kept statement by itself when a table it
//! uses changes.

use crate::postgres::error::OrInternal;
use pgrx::datum::{DatumWithOid, FromDatum, IntoDatum};
use pgrx::pg_sys::PgOid;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiHeapTupleData, SpiResult, SpiTupleTable};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

thread_local! {
    static PLANS: RefCell<HashMap<String, Rc<OwnedPreparedStatement>>> =
        RefCell::new(HashMap::new());
}

/// Executes `sql` (planned on first use) with `args`.
pub fn execute<'conn>(
    client: &mut SpiClient<'conn>,
    sql: &str,
    args: &[DatumWithOid<'_>],
) -> SpiResult<SpiTupleTable<'conn>> {
    let cached = PLANS.with(|plans| plans.borrow().get(sql).cloned());
    let plan = match cached {
        Some(plan) => plan,
        None => {
            let types: Vec<PgOid> = args.iter().map(|a| PgOid::from(a.oid())).collect();
            let plan = Rc::new(client.prepare_mut(sql, &types)?.keep());
            PLANS.with(|plans| plans.borrow_mut().insert(sql.to_owned(), Rc::clone(&plan)));
            plan
        }
    };
    client.update(&*plan, None, args)
}

/// A bytea value as PostgreSQL reads it from text (and from the text arrays of `rowset.rs`):
/// `\x` and lower-case hex.
pub fn bytea_literal(bytes: &[u8]) -> String {
    format!("\\x{}", onevault_tracking_core::hashing::to_hex(bytes))
}

/// Column `ordinal` of `row`, which the query guarantees is not NULL; anything else is an
/// internal error naming `name`.
pub fn column<T: IntoDatum + FromDatum>(
    row: &SpiHeapTupleData<'_>,
    ordinal: usize,
    name: &'static str,
) -> T {
    row.get::<T>(ordinal).or_internal(name).or_internal(name)
}
