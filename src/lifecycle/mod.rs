//! The extension's life in a database: the migration of the earlier PL/pgSQL tracking
//! generation and the guard that keeps `DROP EXTENSION` from deleting tracked events.

pub mod drop_guard;
pub mod earlier_generation;
