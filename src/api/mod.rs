//! The SQL API websites, the platform and operators call: site and key administration,
//! tracking calls, the platform's own tracking call, the raw layer's ingest functions, rate
//! limiting, and the staging rules as functions.

pub mod admin;
pub mod event_functions;
pub mod ingest;
pub mod platform_callers;
pub mod ratelimit;
pub mod tracking;
