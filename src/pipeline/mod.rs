//! raw → staging → vault → rollups. The stages (`raw`, `staging`, `vault`, `rollups`) never
//! import each other: they
//! share only the typed rows handed between them (`rows`), the vault's description (`model`) and
//! which site a page host belongs to (`sites`), and `process` orchestrates them.

pub mod model;
pub mod process;
pub mod raw;
pub mod rollups;
pub mod rows;
pub mod sites;
pub mod staging;
pub mod user_agent;
pub mod vault;
