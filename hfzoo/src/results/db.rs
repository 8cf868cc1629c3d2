//! The DuckDB results database: idempotent ingestion of the spool, and queries for reports.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use duckdb::{params, Connection};

use super::spool;
use crate::error::{Error, Result};
use runtime::hardware::Detection;
use runtime::results::record::Record;
use runtime::FailureCategory;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, started_at TIMESTAMP, host VARCHAR, git_commit VARCHAR,
    torch_version VARCHAR, transformers_version VARCHAR, runtime_version VARCHAR, features VARCHAR);
CREATE TABLE IF NOT EXISTS hardware (
    run_id VARCHAR, hardware VARCHAR, available BOOLEAN, device VARCHAR, version VARCHAR,
    reason VARCHAR, PRIMARY KEY (run_id, hardware));
CREATE TABLE IF NOT EXISTS models (
    model_type VARCHAR PRIMARY KEY, display_name VARCHAR, family VARCHAR, task VARCHAR,
    model_class VARCHAR, key_model BOOLEAN);
CREATE TABLE IF NOT EXISTS results (
    result_id VARCHAR PRIMARY KEY, run_id VARCHAR, model_type VARCHAR, hardware VARCHAR,
    outcome VARCHAR, expected VARCHAR, detail VARCHAR, artifact_key VARCHAR, recorded_at TIMESTAMP);
ALTER TABLE results ADD COLUMN IF NOT EXISTS category VARCHAR;
CREATE TABLE IF NOT EXISTS measurements (
    result_id VARCHAR, metric VARCHAR, value DOUBLE, unit VARCHAR, PRIMARY KEY (result_id, metric));
CREATE TABLE IF NOT EXISTS samples (
    result_id VARCHAR, iteration INTEGER, latency_ms DOUBLE, PRIMARY KEY (result_id, iteration));
CREATE TABLE IF NOT EXISTS environments (
    run_id VARCHAR, host VARCHAR, started_at TIMESTAMP, cpu_model VARCHAR, logical_cpus BIGINT, os VARCHAR,
    git_commit VARCHAR, torch_version VARCHAR, transformers_version VARCHAR, runtime_version VARCHAR,
    features VARCHAR, injected VARCHAR, PRIMARY KEY (run_id, host));
ALTER TABLE results ADD COLUMN IF NOT EXISTS host VARCHAR;
ALTER TABLE models ADD COLUMN IF NOT EXISTS modality VARCHAR;
ALTER TABLE results ADD COLUMN IF NOT EXISTS reused_from_run VARCHAR;
ALTER TABLE results ADD COLUMN IF NOT EXISTS reused_from_commit VARCHAR;
ALTER TABLE results ADD COLUMN IF NOT EXISTS kind VARCHAR;
";

/// The tables of the database, in the order shards are written and read.
pub const TABLES: [&str; 7] = ["runs", "environments", "hardware", "models", "results", "measurements", "samples"];

/// What an ingestion did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IngestReport {
    /// Spool files ingested.
    pub ingested: usize,
    /// Spool files set aside in `spool/rejected/`, each with why (not a record, or a record
    /// the database refused).
    pub rejected: Vec<String>,
    /// Spool files that could not be read now (left in the spool for the next ingest), with
    /// the error.
    pub deferred: Vec<String>,
    /// Benchmark runs ingested from `bench/` and `bench-generate/` (documents that do not parse
    /// join `rejected`).
    pub benchmarks: usize,
}

/// An open results database.
pub struct ResultsDb {
    path: PathBuf,
    conn: Connection,
}

/// The database file under a results folder.
pub fn db_path(results: &Path) -> PathBuf {
    results.join("results.duckdb")
}

impl ResultsDb {
    /// Opens (creating) the database; a lock held by another process is its own error.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io("create directory", parent))?;
        }
        let conn = Connection::open(path).map_err(|e| classify(path, e))?;
        conn.execute_batch(SCHEMA).map_err(|e| classify(path, e))?;
        conn.execute_batch(super::bench::SCHEMA).map_err(|e| classify(path, e))?;
        conn.execute_batch(super::bench_generate::SCHEMA).map_err(|e| classify(path, e))?;
        Ok(Self { path: path.to_path_buf(), conn })
    }

    /// The error of a failed statement, naming this database.
    pub(crate) fn err(&self, error: duckdb::Error) -> Error {
        classify(&self.path, error)
    }

    /// The connection, for the queries of reports, comparisons and shards.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The connection, mutably (transactions).
    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Inserts records; replaying the same records changes nothing (primary keys + replace).
    pub fn insert(&mut self, records: &[Record]) -> Result<()> {
        let path = self.path.clone();
        let fail = |e: duckdb::Error| classify(&path, e);
        let tx = self.conn.transaction().map_err(fail)?;
        // A run's rows (its detections, environment, models) repeat in each of its thousands of
        // records: each is written once per batch. Statements are prepared once; measurements and
        // samples go through DuckDB's appender after one delete of the batch's old rows. Row by
        // row, 5,138 records took 5.5 minutes here; the database is the same either way.
        let mut runs_seen = HashSet::new();
        let mut environments_seen = HashSet::new();
        let mut hardware_seen = HashSet::new();
        let mut models = BTreeMap::new();
        for r in records {
            let run = &r.run;
            if runs_seen.insert(run.run_id.as_str()) {
                tx.prepare_cached("INSERT OR IGNORE INTO runs VALUES (?, make_timestamp(? * 1000), ?, ?, ?, ?, ?, ?)")
                    .and_then(|mut statement| {
                        statement.execute(params![
                            run.run_id,
                            run.started_at_ms,
                            run.host,
                            run.git_commit,
                            run.torch_version,
                            run.transformers_version,
                            run.runtime_version,
                            run.features
                        ])
                    })
                    .map_err(fail)?;
            }
            let hw = &r.hardware;
            // The record's own detection replaces one another record of the run gave in passing.
            if hardware_seen.insert((run.run_id.as_str(), hw.hardware.as_str(), true)) {
                insert_detection(&tx, "INSERT OR REPLACE", &run.run_id, hw).map_err(fail)?;
            }
            for other in run.backends.iter().filter(|d| d.hardware != hw.hardware) {
                if hardware_seen.insert((run.run_id.as_str(), other.hardware.as_str(), false)) {
                    insert_detection(&tx, "INSERT OR IGNORE", &run.run_id, other).map_err(fail)?;
                }
            }
            if environments_seen.insert((run.run_id.as_str(), run.host.as_str())) {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO environments (run_id, host, started_at, cpu_model, logical_cpus, os, git_commit, torch_version, transformers_version, runtime_version, features, injected)
                     VALUES (?, ?, make_timestamp(? * 1000), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .and_then(|mut statement| {
                    statement.execute(params![run.run_id, run.host, run.started_at_ms, run.cpu_model, run.logical_cpus, run.os, run.git_commit, run.torch_version, run.transformers_version, run.runtime_version, run.features, run.injected])
                })
                .map_err(fail)?;
            }
            // The last record of a model type describes it, as when each replaced the one before.
            models.insert(r.model.model_type.as_str(), &r.model);
            tx.prepare_cached(
                "INSERT OR REPLACE INTO results (result_id, run_id, model_type, hardware, outcome, expected, detail, artifact_key, recorded_at, category, host, reused_from_run, reused_from_commit, kind)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, make_timestamp(? * 1000), ?, ?, ?, ?, ?)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    r.result_id,
                    run.run_id,
                    r.model.model_type,
                    hw.hardware,
                    r.outcome.id(),
                    r.expected,
                    r.detail,
                    r.artifact_key,
                    r.recorded_at_ms,
                    r.category.map(FailureCategory::id),
                    run.host,
                    r.reused.as_ref().map(|f| f.run_id.as_str()),
                    r.reused.as_ref().map(|f| f.git_commit.as_str()),
                    r.kind.id()
                ])
            })
            .map_err(fail)?;
        }
        for m in models.values() {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO models (model_type, display_name, family, task, model_class, key_model, modality) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .and_then(|mut statement| {
                statement.execute(params![m.model_type, m.display_name, m.family, m.task, m.model_class, m.key_model, m.modality])
            })
            .map_err(fail)?;
        }
        // A record ingested again replaces its measurements and samples whole.
        tx.execute_batch("CREATE OR REPLACE TEMP TABLE ingest_batch (result_id VARCHAR)").map_err(fail)?;
        {
            let mut batch = tx.appender_to_catalog_and_db("ingest_batch", "temp", "main").map_err(fail)?;
            for r in records {
                batch.append_row(params![r.result_id]).map_err(fail)?;
            }
            batch.flush().map_err(fail)?;
        }
        tx.execute_batch(
            "DELETE FROM measurements WHERE result_id IN (SELECT result_id FROM temp.ingest_batch);
             DELETE FROM samples WHERE result_id IN (SELECT result_id FROM temp.ingest_batch);
             DROP TABLE temp.ingest_batch;",
        )
        .map_err(fail)?;
        {
            let mut measurements = tx.appender("measurements").map_err(fail)?;
            for r in records {
                for measurement in &r.measurements {
                    measurements
                        .append_row(params![r.result_id, measurement.metric, measurement.value, measurement.unit])
                        .map_err(fail)?;
                }
            }
            measurements.flush().map_err(fail)?;
        }
        {
            let mut samples = tx.appender("samples").map_err(fail)?;
            for r in records {
                for (iteration, latency) in r.samples.iter().enumerate() {
                    samples.append_row(params![r.result_id, iteration as i32, latency]).map_err(fail)?;
                }
            }
            samples.flush().map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }

    /// Ingests every pending spool file of `results` in one transaction, then archives them. A
    /// file that cannot be read now (an I/O error) stays in the spool for the next ingest; one
    /// that is not a record, or whose record the database refuses (a broken key), is moved to
    /// `spool/rejected/` alone, with the reason, and the rest are ingested.
    pub fn ingest(&mut self, results: &Path) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        let mut records = Vec::new();
        let mut files = Vec::new();
        for file in spool::pending(results) {
            let text = match std::fs::read_to_string(&file) {
                Ok(text) => text,
                Err(error) => {
                    report.deferred.push(format!("{}: {error}", file.display()));
                    continue;
                }
            };
            match serde_json::from_str::<Record>(&text) {
                Ok(record) => {
                    records.push(record);
                    files.push(file);
                }
                Err(error) => {
                    report.rejected.push(format!("{} is not a valid result record ({error})", file.display()));
                    spool::archive(results, &file, "rejected")?;
                }
            }
        }
        match self.insert(&records) {
            Ok(()) => {
                // Archive only after the commit: a crash in between re-ingests, which is idempotent.
                for file in &files {
                    spool::archive(results, file, "ingested")?;
                }
                report.ingested = files.len();
            }
            Err(error) if !breaks_a_key(&error) => return Err(error),
            Err(_) => {
                // One record broke a key of the batch: each alone, so only that one is set aside.
                // Any other error (a full disk, a lock) stops the ingest with every file kept.
                for (record, file) in records.iter().zip(&files) {
                    match self.insert(std::slice::from_ref(record)) {
                        Ok(()) => {
                            spool::archive(results, file, "ingested")?;
                            report.ingested += 1;
                        }
                        Err(error) if !breaks_a_key(&error) => return Err(error),
                        Err(error) => {
                            report
                                .rejected
                                .push(format!("{}: the database refused its record ({error})", file.display()));
                            spool::archive(results, file, "rejected")?;
                        }
                    }
                }
            }
        }
        let (benchmarks, rejected) = self.ingest_bench(results)?;
        report.benchmarks = benchmarks;
        report.rejected.extend(rejected.into_iter().map(|file| format!("{file} is not a valid benchmark document")));
        let (generation, rejected) = self.ingest_generate_bench(results)?;
        report.benchmarks += generation;
        report
            .rejected
            .extend(rejected.into_iter().map(|file| format!("{file} is not a valid generation benchmark document")));
        Ok(report)
    }

    /// Number of rows in a table (for checks and tests).
    pub fn count(&self, table: &str) -> Result<i64> {
        if !TABLES.contains(&table) {
            return Err(Error::Database { path: self.path.clone(), message: format!("unknown table `{table}`") });
        }
        self.conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0)).map_err(|e| self.err(e))
    }
}

/// Writes one detection of `run_id` with `verb` (`INSERT OR REPLACE`, `INSERT OR IGNORE`).
fn insert_detection(conn: &Connection, verb: &str, run_id: &str, detection: &Detection) -> duckdb::Result<usize> {
    conn.prepare_cached(&format!("{verb} INTO hardware VALUES (?, ?, ?, ?, ?, ?)"))?.execute(params![
        run_id,
        detection.hardware,
        detection.available,
        detection.device,
        detection.version,
        detection.reason
    ])
}

/// Whether a failed insert broke a key or another constraint (a fault of the record, not of
/// the database or the machine).
fn breaks_a_key(error: &Error) -> bool {
    // A statement says "Constraint Error: ..."; the appender "Failed to append: PRIMARY KEY or
    // UNIQUE constraint violation: ...".
    matches!(error, Error::Database { message, .. } if message.contains("Constraint Error") || message.contains("constraint violation"))
}

/// A DuckDB error as this crate's: a lock held by another process is its own kind.
pub(crate) fn classify(path: &Path, error: duckdb::Error) -> Error {
    let text = error.to_string();
    if text.contains("Could not set lock") || text.contains("Conflicting lock") {
        Error::DatabaseLocked { path: path.to_path_buf(), detail: text.lines().next().unwrap_or_default().to_string() }
    } else {
        Error::Database { path: path.to_path_buf(), message: text }
    }
}
