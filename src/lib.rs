//! onevault_tracking: privacy-first website analytics inside a One Vault database.
//!
//! The decisions live in the pgrx-free `onevault_tracking_core` crate; the modules here are the
//! thin PostgreSQL layer: settings, errors, SPI, and the SQL functions themselves.

#![recursion_limit = "256"]

use pgrx::prelude::*;

mod api;
mod audit;
mod earlier_generation;
mod enrich;
mod error;
mod hashing;
mod ingest;
mod json;
mod lifecycle;
mod platform;
mod privacy;
mod random;
mod ratelimit;
mod rowset;
mod salts;
mod settings;
mod spi;
mod staging;
mod subtxn;
mod vault;
mod version_compat;

::pgrx::pg_module_magic!();

// The shared schemas and the check that the One Vault core is present. Every other SQL file
// and every function outside the extension's own schema names it in `requires`.
pgrx::extension_sql_file!("../sql/prerequisites.sql", name = "prerequisites");
// Moves the earlier PL/pgSQL tracking generation aside before any table of ours exists.
pgrx::extension_sql_file!(
    "../sql/earlier_generation.sql",
    name = "earlier_generation",
    requires = ["prerequisites"]
);
pgrx::extension_sql_file!(
    "../sql/raw_layer.sql",
    name = "raw_layer",
    requires = ["earlier_generation"]
);
pgrx::extension_sql_file!(
    "../sql/staging_layer.sql",
    name = "staging_layer",
    requires = ["raw_layer"]
);
pgrx::extension_sql_file!(
    "../sql/business_vault.sql",
    name = "business_vault",
    requires = ["staging_layer"]
);
pgrx::extension_sql_file!(
    "../sql/api_layer.sql",
    name = "api_layer",
    requires = ["business_vault"]
);
pgrx::extension_sql_file!(
    "../sql/platform_callers.sql",
    name = "platform_callers",
    requires = ["api_layer"]
);
pgrx::extension_sql_file!(
    "../sql/integration.sql",
    name = "integration",
    requires = ["prerequisites"]
);
pgrx::extension_sql_file!(
    "../sql/security.sql",
    name = "security",
    requires = ["api_layer", "platform_callers", "integration"]
);
pgrx::extension_sql_file!(
    "../sql/reports.sql",
    name = "reports",
    requires = ["business_vault", "security"]
);
// Dump marks and the DROP guard, once every table exists.
pgrx::extension_sql_file!(
    "../sql/lifecycle.sql",
    name = "lifecycle",
    requires = ["reports", "security", "platform_callers"]
);
pgrx::extension_sql_file!("../sql/finalize.sql", finalize);

// The pgrx test harness runs `CREATE EXTENSION onevault_tracking CASCADE` in a fresh database
// with no hook to load the platform first, so test builds load the core replica ahead of
// everything else. Release builds never contain it: on a real platform it would be wrong.
#[cfg(any(test, feature = "pg_test"))]
pgrx::extension_sql_file!("../tests/fixtures/onevault_core_replica.sql", bootstrap);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
