//! SQL access to the hash-key recipe of `onevault_tracking_core::hashing` (and to the site
//! domain normaliser the keys are made of), so keys can be
//! computed and checked in SQL (`util.hash_binary(onevault_tracking.business_key(...))` is
//! always equal to `onevault_tracking.hash_key(...)`).

use crate::postgres::error::required;
use onevault_tracking_core::hashing;
use pgrx::prelude::*;
use pgrx::VariadicArray;

/// Native `util.hash_binary`: SHA-256 of the UTF-8 bytes of `input`.
#[pg_extern(immutable, parallel_safe, strict)]
fn hash_binary(input: &str) -> Vec<u8> {
    hashing::hash_binary(input).to_vec()
}

/// The business key string of the recipe for `p_tenant_hk` and `p_parts` (NULL parts allowed).
#[pg_extern(immutable, parallel_safe)]
fn business_key(p_tenant_hk: Option<&[u8]>, p_parts: Option<VariadicArray<'_, &str>>) -> String {
    let parts = required(p_parts, "p_parts");
    let parts: Vec<Option<&str>> = parts.iter().collect();
    hashing::business_key(required(p_tenant_hk, "p_tenant_hk"), &parts)
}

/// The hash key of the recipe: `util.hash_binary(business_key(p_tenant_hk, VARIADIC p_parts))`.
#[pg_extern(immutable, parallel_safe)]
fn hash_key(p_tenant_hk: Option<&[u8]>, p_parts: Option<VariadicArray<'_, &str>>) -> Vec<u8> {
    let parts = required(p_parts, "p_parts");
    let parts: Vec<Option<&str>> = parts.iter().collect();
    hashing::hash_key(required(p_tenant_hk, "p_tenant_hk"), &parts).to_vec()
}

/// `onevault_tracking.site_domain(text)`: a domain as the extension stores and compares it
/// (`onevault_tracking_core::domain`: IDNA to ASCII, lower case, no trailing dot, no `www.`),
/// or NULL when it is not a site domain. The reports find sites with it, so they normalise
/// exactly as registration and tracking do.
#[pg_extern(immutable, parallel_safe, strict)]
fn site_domain(domain: &str) -> Option<String> {
    onevault_tracking_core::domain::site_domain(domain)
}
