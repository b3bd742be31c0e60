//! Every difference between the supported PostgreSQL major versions (15 and 17) that the Rust
//! code sees, behind `cfg`, in this one place. The SQL is the same on both.

use pgrx::pg_sys;

/// The backend's local transaction id: it changes with every transaction the backend starts,
/// so a per-backend cache keyed by it lives for exactly one transaction.
pub fn local_transaction_id() -> u32 {
    // SAFETY: MyProc is set for every backend before any SQL function can run.
    #[cfg(feature = "pg15")]
    unsafe {
        (*pg_sys::MyProc).lxid
    }
    // PostgreSQL 17 moved it into the proc's virtual transaction id, `PGPROC.vxid`.
    #[cfg(feature = "pg17")]
    unsafe {
        (*pg_sys::MyProc).vxid.lxid
    }
}
