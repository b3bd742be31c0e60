//! `#[pg_test]`s, run by `cargo pgrx test` inside a real PostgreSQL.

mod api;
mod platform_api;
mod raw_layer;
mod staging;
mod support;
mod vault;
