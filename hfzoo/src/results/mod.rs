//! Results: the DuckDB database spooled records are ingested into, the queries and reports
//! read from it (markdown, JSON, HTML with charts), comparisons of two runs, and Parquet
//! shards that carry runs between machines.

pub mod bench;
pub mod bench_generate;
pub mod bench_generate_page;
pub mod bench_page;
pub mod bench_table;
pub mod charts;
pub mod compare;
pub mod data;
pub mod db;
pub mod expectations;
pub mod html;
pub mod plan;
pub mod query;
pub mod report;
pub mod shard;
pub mod spool;
pub mod stats;

pub use db::{db_path, IngestReport, ResultsDb};
pub use query::{Cell, Scope};
pub use runtime::results::record;
pub use runtime::results::record::Record;
