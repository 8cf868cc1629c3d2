//! The hfzoo command line's library: the results store (spooled records ingested into DuckDB),
//! the queries and reports read from it (markdown, JSON, HTML with charts), comparisons of two
//! runs, and Parquet shards that carry runs between machines.
//!
//! It lives apart from `runtime` so that generated tests and typed skills, which link the
//! runtime, never link a database: the test path only writes spool files
//! ([`runtime::results::spool`]) and this crate ingests them.

pub mod error;
pub mod export_batch;
pub mod inventory;
pub mod results;

pub use error::{Error, Result};
