//! jsonb values in and out of Rust, with a limit on nesting.
//!
//! An event payload is at most three levels deep (payload, properties, value), but PostgreSQL
//! accepts jsonb nested thousands of levels deep, and every Rust walk over such a value
//! (parsing, serialising, cloning, even dropping it) recurses once per level: deep enough, it
//! overflows the backend's stack. pgrx's `JsonB` also fails with an internal error beyond 128
//! levels. So jsonb arguments are received as plain datums (`AnyElement`; the SQL declarations
//! say `jsonb`), their nesting is measured on the text first (a loop, no recursion), and only
//! values within `MAX_DEPTH` become `serde_json::Value`s; deeper ones are refused with
//! SQLSTATE 54000 before anything is written.

use crate::postgres::error::{OrInternal, TrackingError};
use pgrx::prelude::*;
use pgrx::AnyElement;
use serde_json::Value;
use std::ffi::CStr;

/// Deepest nesting accepted in an argument: far beyond any real payload, far within what is
/// safe to walk.
pub const MAX_DEPTH: usize = 64;
/// Deepest nesting of a stored payload the extension wrote: the API wraps properties of
/// `MAX_DEPTH` levels in the payload object.
pub const MAX_STORED_DEPTH: usize = MAX_DEPTH + 1;

/// How deeply the JSON text nests arrays and objects (strings are skipped, escapes included).
pub fn depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Parses JSON text nested at most `limit` levels; `Err(depth)` when deeper.
pub fn parse(text: &str, limit: usize) -> Result<Value, usize> {
    match depth(text) {
        deep if deep > limit => Err(deep),
        _ => Ok(serde_json::from_str(text).or_internal("jsonb text is valid JSON")),
    }
}

/// The value of the jsonb argument `name`, or ERROR 54000 when it nests too deeply.
pub fn argument(arg: Option<AnyElement>, name: &'static str) -> Option<Value> {
    let arg = arg?;
    assert_eq!(arg.oid(), pg_sys::JSONBOID, "{name} is declared jsonb");
    // SAFETY: the datum is a jsonb varlena of this call; jsonb_out returns a palloc'd C string.
    let text = unsafe {
        let varlena = arg.datum().cast_mut_ptr::<pg_sys::varlena>();
        let detoasted = pg_sys::pg_detoast_datum_packed(varlena);
        let cstr = pgrx::direct_function_call::<&CStr>(
            pg_sys::jsonb_out,
            &[Some(pg_sys::Datum::from(detoasted))],
        )
        .or_internal("jsonb_out of a jsonb argument");
        let text = cstr.to_string_lossy().into_owned();
        pg_sys::pfree(cstr.as_ptr() as *mut std::ffi::c_void);
        if detoasted != varlena {
            pg_sys::pfree(detoasted.cast());
        }
        text
    };
    Some(parse(&text, MAX_DEPTH).unwrap_or_else(|depth| {
        TrackingError::JsonTooDeep {
            name,
            depth,
            limit: MAX_DEPTH,
        }
        .raise()
    }))
}
