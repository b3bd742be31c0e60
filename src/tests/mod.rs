//! `#[pg_test]`s, run by `cargo pgrx test` inside a real PostgreSQL, and the layering check of
//! `src/` (a plain test that reads the code).

mod api;
#[cfg(test)]
mod layering;
mod platform_api;
mod postgres_helpers;
mod raw_layer;
mod refused_rate_limit;
mod staging;
mod support;
mod vault;
mod workers;
