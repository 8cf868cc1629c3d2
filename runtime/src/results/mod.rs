//! Results: spooled records, the DuckDB database they are ingested into, and reports.

pub mod db;
pub mod record;
pub mod report;
pub mod spool;

pub use db::{db_path, IngestReport, ResultsDb};
pub use record::Record;
