//! The DuckDB results database: idempotent ingestion of the spool, and queries for reports.

use std::path::{Path, PathBuf};

use duckdb::{params, Connection};

use super::record::Record;
use super::spool;
use crate::error::{Error, Result};

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
";

/// What an ingestion did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IngestReport {
    /// Spool files ingested.
    pub ingested: usize,
    /// Spool files that could not be parsed (moved to `spool/rejected/`).
    pub rejected: Vec<String>,
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
        Ok(Self { path: path.to_path_buf(), conn })
    }

    fn err(&self, error: duckdb::Error) -> Error {
        classify(&self.path, error)
    }

    /// Inserts records; replaying the same records changes nothing (primary keys + replace).
    pub fn insert(&mut self, records: &[Record]) -> Result<()> {
        let path = self.path.clone();
        let fail = |e: duckdb::Error| classify(&path, e);
        let tx = self.conn.transaction().map_err(fail)?;
        for r in records {
            let run = &r.run;
            tx.execute(
                "INSERT OR IGNORE INTO runs VALUES (?, make_timestamp(? * 1000), ?, ?, ?, ?, ?, ?)",
                params![run.run_id, run.started_at_ms, run.host, run.git_commit, run.torch_version, run.transformers_version, run.runtime_version, run.features],
            )
            .map_err(fail)?;
            let hw = &r.hardware;
            tx.execute(
                "INSERT OR REPLACE INTO hardware VALUES (?, ?, ?, ?, ?, ?)",
                params![run.run_id, hw.hardware, hw.available, hw.device, hw.version, hw.reason],
            )
            .map_err(fail)?;
            let m = &r.model;
            tx.execute(
                "INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?, ?, ?)",
                params![m.model_type, m.display_name, m.family, m.task, m.model_class, m.key_model],
            )
            .map_err(fail)?;
            tx.execute(
                "INSERT OR REPLACE INTO results (result_id, run_id, model_type, hardware, outcome, expected, detail, artifact_key, recorded_at, category)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, make_timestamp(? * 1000), ?)",
                params![r.result_id, run.run_id, m.model_type, hw.hardware, r.outcome, r.expected, r.detail, r.artifact_key, r.recorded_at_ms, r.category],
            )
            .map_err(fail)?;
            tx.execute("DELETE FROM measurements WHERE result_id = ?", params![r.result_id]).map_err(fail)?;
            for measurement in &r.measurements {
                tx.execute(
                    "INSERT INTO measurements VALUES (?, ?, ?, ?)",
                    params![r.result_id, measurement.metric, measurement.value, measurement.unit],
                )
                .map_err(fail)?;
            }
        }
        tx.commit().map_err(fail)
    }

    /// Ingests every pending spool file of `results` in one transaction, then archives them.
    pub fn ingest(&mut self, results: &Path) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        let mut records = Vec::new();
        let mut files = Vec::new();
        for file in spool::pending(results) {
            let parsed = std::fs::read_to_string(&file).ok().and_then(|text| serde_json::from_str::<Record>(&text).ok());
            match parsed {
                Some(record) => {
                    records.push(record);
                    files.push(file);
                }
                None => {
                    report.rejected.push(file.display().to_string());
                    spool::archive(results, &file, "rejected")?;
                }
            }
        }
        self.insert(&records)?;
        // Archive only after the commit: a crash in between re-ingests, which is idempotent.
        for file in &files {
            spool::archive(results, file, "ingested")?;
        }
        report.ingested = files.len();
        Ok(report)
    }

    /// Number of rows in a table (for checks and tests).
    pub fn count(&self, table: &str) -> Result<i64> {
        let allowed = ["runs", "hardware", "models", "results", "measurements"];
        if !allowed.contains(&table) {
            return Err(Error::Database { path: self.path.clone(), message: format!("unknown table `{table}`") });
        }
        self.conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0)).map_err(|e| self.err(e))
    }

    /// Latest result per (model, hardware) with its p50 latency, sorted.
    pub fn latest(&self) -> Result<Vec<LatestResult>> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT r.model_type, r.hardware, r.outcome, r.detail, m.value, coalesce(mo.key_model, false), r.category
                 FROM results r
                 LEFT JOIN measurements m ON m.result_id = r.result_id AND m.metric = 'latency_p50_ms'
                 LEFT JOIN models mo ON mo.model_type = r.model_type
                 QUALIFY row_number() OVER (PARTITION BY r.model_type, r.hardware ORDER BY r.recorded_at DESC, r.result_id DESC) = 1
                 ORDER BY r.model_type, r.hardware",
            )
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(LatestResult {
                    model_type: row.get(0)?,
                    hardware: row.get(1)?,
                    outcome: row.get(2)?,
                    detail: row.get(3)?,
                    p50_ms: row.get(4)?,
                    key_model: row.get(5)?,
                    category: row.get(6)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

/// Result counts of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Run id.
    pub run_id: String,
    /// Start time (UTC) as text.
    pub started_at: String,
    /// Host.
    pub host: String,
    /// Commit.
    pub git_commit: String,
    /// Features.
    pub features: String,
    /// Result rows by outcome: passed, failed, skipped, unsupported.
    pub counts: [i64; 4],
}

impl ResultsDb {
    /// Runs, newest first, with result counts by outcome.
    pub fn runs(&self) -> Result<Vec<RunSummary>> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT r.run_id, CAST(r.started_at AS VARCHAR), r.host, r.git_commit, r.features,
                        count(*) FILTER (WHERE x.outcome = 'passed'), count(*) FILTER (WHERE x.outcome = 'failed'),
                        count(*) FILTER (WHERE x.outcome = 'skipped'), count(*) FILTER (WHERE x.outcome = 'unsupported')
                 FROM runs r LEFT JOIN results x ON x.run_id = r.run_id
                 GROUP BY ALL ORDER BY 2 DESC, 1",
            )
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(RunSummary {
                    run_id: row.get(0)?,
                    started_at: row.get(1)?,
                    host: row.get(2)?,
                    git_commit: row.get(3)?,
                    features: row.get(4)?,
                    counts: [row.get(5)?, row.get(6)?, row.get(7)?, row.get(8)?],
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

/// One cell of the compatibility matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestResult {
    /// Model type.
    pub model_type: String,
    /// Hardware id.
    pub hardware: String,
    /// Outcome.
    pub outcome: String,
    /// Diff, error or reason.
    pub detail: String,
    /// p50 latency in ms when measured.
    pub p50_ms: Option<f64>,
    /// Key model flag.
    pub key_model: bool,
    /// Category of an expected `unsupported`.
    pub category: Option<String>,
}

fn classify(path: &Path, error: duckdb::Error) -> Error {
    let text = error.to_string();
    if text.contains("Could not set lock") || text.contains("Conflicting lock") {
        Error::DatabaseLocked { path: path.to_path_buf(), detail: text.lines().next().unwrap_or_default().to_string() }
    } else {
        Error::Database { path: path.to_path_buf(), message: text }
    }
}
