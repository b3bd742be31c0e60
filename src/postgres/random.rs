//! Random bytes from PostgreSQL's cryptographically strong source (OpenSSL's when built with it).

use pgrx::prelude::*;

pub fn strong_random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // SAFETY: the buffer is valid for its length.
    if !unsafe { pg_sys::pg_strong_random(bytes.as_mut_ptr().cast(), N) } {
        error!("could not generate random bytes");
    }
    bytes
}
