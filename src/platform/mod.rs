//! Facts of the One Vault platform the extension plugs into: its core objects and record
//! source, its tenants, its audit function, and hash keys byte-identical to `util.hash_binary`.

pub mod audit;
pub mod core;
pub mod hashing;
pub mod tenant;
