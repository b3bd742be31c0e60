//! PostgreSQL helpers that know nothing of One Vault: errors with SQLSTATEs, SPI with statements
//! kept per backend, subtransactions and workers' top-level transactions, row arrays, bounded JSON, randomness, settings (GUCs) and
//! the differences between PostgreSQL versions. Imports nothing else of the crate.

pub mod error;
pub mod json;
pub mod random;
pub mod rowset;
pub mod settings;
pub mod spi;
pub mod subtxn;
pub mod transaction;
pub mod version_compat;
