//! The pure logic of onevault_tracking: everything that can be decided without a database.
//!
//! Nothing here links against PostgreSQL, so it is unit-tested, property-tested and
//! fuzzed with plain `cargo test`; the extension crate is a thin pgrx layer over it.

pub mod attribution;
pub mod dialect;
pub mod domain;
pub mod enrich;
pub mod hashing;
pub mod ip;
pub mod payload;
pub mod sessions;
pub mod site_settings;
pub mod useragent;
pub mod validate;
pub mod vault;
pub mod visitor;
pub mod workers;
