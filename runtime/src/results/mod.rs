//! Results as the test path writes them: the record of one cell and the spool, one file per
//! record written atomically. Ingestion into the results database, reports, comparisons and
//! shards live in the `hfzoo` crate, so that generated tests and skills link no database.

pub mod record;
pub mod spool;

pub use record::Record;
