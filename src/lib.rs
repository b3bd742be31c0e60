//! onevault_tracking: privacy-first website analytics inside a One Vault database.
//!
//! The decisions live in the pgrx-free `onevault_tracking_core` crate; the modules here are the
//! thin PostgreSQL layer, grouped by concept with dependencies that point one way:
//! `postgres` (helpers) ← `platform` (One Vault facts) ← `pipeline` (the stages and their
//! orchestration) ← `privacy` and `worker` (background processing) ← `api` and `lifecycle`.

#![recursion_limit = "256"]
// Internal failures raise an ERROR with a SQLSTATE (`postgres::error::OrInternal`), never a panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use pgrx::prelude::*;

// The layers, from the bottom: postgres, platform, pipeline, privacy and worker, then api and lifecycle; each
// uses only the layers below it (src/tests/layering.rs checks this).
mod api;
mod lifecycle;
mod pipeline;
mod platform;
mod postgres;
mod privacy;
mod worker;

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
// The report rollups and their upkeep, before security.sql gives their tables row-level security.
pgrx::extension_sql_file!(
    "../sql/rollups.sql",
    name = "rollups",
    requires = ["business_vault"]
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
    requires = ["api_layer", "platform_callers", "integration", "rollups"]
);
pgrx::extension_sql_file!(
    "../sql/worker.sql",
    name = "worker",
    requires = ["raw_layer", "security"]
);
pgrx::extension_sql_file!(
    "../sql/reports.sql",
    name = "reports",
    requires = ["business_vault", "rollups", "security"]
);
// Current visitors and the CSV exports, on top of the reports.
pgrx::extension_sql_file!(
    "../sql/export.sql",
    name = "export",
    requires = ["reports", "integration"]
);
// What a shard of a scaled-out deployment needs (tenant provisioning, event id ranges, site moves).
pgrx::extension_sql_file!(
    "../sql/shard.sql",
    name = "shard",
    requires = ["reports", "integration", "platform_callers"]
);
// Dump marks and the DROP guard, once every table exists.
pgrx::extension_sql_file!(
    "../sql/lifecycle.sql",
    name = "lifecycle",
    requires = ["reports", "security", "platform_callers", "worker", "shard"]
);
pgrx::extension_sql_file!("../sql/finalize.sql", finalize);

// The pgrx test harness runs `CREATE EXTENSION onevault_tracking CASCADE` in a fresh database
// with no hook to load the platform first, so test builds load the core replica ahead of
// everything else. Release builds never contain it: on a real platform it would be wrong.
#[cfg(any(test, feature = "pg_test"))]
pgrx::extension_sql_file!("../tests/fixtures/onevault_core_replica.sql", bootstrap);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    postgres::settings::register();
    worker::launcher::register_launcher();
}

#[cfg(any(test, feature = "pg_test"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
