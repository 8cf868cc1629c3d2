//! Generation benchmark runs (`bench --generate`) in the results database:
//! `bench_generate_runs` (the machine, its measured bandwidth, the whole document) and
//! `bench_generate_cells` (one row per model, size and engine: time to first token, decode step,
//! tokens/s, share of the bandwidth bound, peak memory, or why not). `bench --generate` writes
//! each run to `results/bench-generate/<id>.json`; ingestion moves it to `ingested/` after the
//! commit, as the spool.

use std::path::Path;

use bench_core::generate::{generate_dir, GenerateRun, GenerationTiming};
use bench_core::generate_outcome::outcomes;
use duckdb::params;

use super::db::ResultsDb;
use super::spool;
use crate::error::{Error, Result};

/// The generation benchmark tables.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bench_generate_runs (
    bench_id VARCHAR PRIMARY KEY, started_at TIMESTAMP, host VARCHAR, git_commit VARCHAR, cpu_model VARCHAR,
    threads BIGINT, bandwidth_gbs DOUBLE, document VARCHAR);
CREATE TABLE IF NOT EXISTS bench_generate_cells (
    bench_id VARCHAR, model_type VARCHAR, config VARCHAR, batch BIGINT, prompt BIGINT, new_tokens BIGINT,
    engine VARCHAR, status VARCHAR, ttft_p50_ms DOUBLE, step_p50_ms DOUBLE, tokens_per_s DOUBLE,
    weights_gbs DOUBLE, bandwidth_share DOUBLE, peak_rss_mib DOUBLE, detail VARCHAR,
    PRIMARY KEY (bench_id, model_type, batch, prompt, new_tokens, engine));
";

/// One row of `bench_generate_cells` (`batch` 0: the model did not run).
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRow {
    /// Model type.
    pub model_type: String,
    /// The published configuration it was made at, empty where none.
    pub config: String,
    /// Rows, prompt tokens and new tokens.
    pub size: (i64, i64, i64),
    /// `runtime cpu`, `runtime openvino`, or a peer's label.
    pub engine: String,
    /// `measured`, or why not (`unsupported`, `failed`, `chaotic`, `mismatch`, `not-run`).
    pub status: String,
    /// The figures, when measured.
    pub timing: Option<GenerationTiming>,
    /// Peak resident memory of the engine's process, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Why it was not timed.
    pub detail: String,
}

/// Every row of a run.
pub fn rows(run: &GenerateRun) -> Vec<GenerateRow> {
    let mut rows = Vec::new();
    for model in &run.models {
        for result in &model.sizes {
            let s = result.size;
            rows.extend(outcomes(result).into_iter().map(|outcome| GenerateRow {
                model_type: model.model.clone(),
                config: model.config.clone().unwrap_or_default(),
                size: (s.batch, s.prompt, s.new_tokens as i64),
                engine: outcome.engine,
                status: outcome.status,
                timing: outcome.timing.cloned(),
                peak_rss_mib: outcome.peak_rss_mib,
                detail: outcome.detail,
            }));
        }
    }
    for (model, why) in &run.not_run {
        rows.push(GenerateRow {
            model_type: model.clone(),
            config: String::new(),
            size: (0, 0, 0),
            engine: "-".into(),
            status: "not-run".into(),
            timing: None,
            peak_rss_mib: None,
            detail: why.clone(),
        });
    }
    rows
}

impl ResultsDb {
    /// Inserts one generation benchmark run and its rows; the same run again replaces itself.
    pub fn insert_generate_bench(&mut self, run: &GenerateRun) -> Result<()> {
        let path = self.path().to_path_buf();
        let fail = |e: duckdb::Error| super::db::classify(&path, e);
        let document = serde_json::to_string(run)
            .map_err(|e| Error::InvalidArgument(format!("generation benchmark run {}: {e}", run.bench_id)))?;
        let tx = self.conn_mut().transaction().map_err(fail)?;
        let env = &run.environment;
        tx.execute("DELETE FROM bench_generate_cells WHERE bench_id = ?", params![run.bench_id]).map_err(fail)?;
        tx.execute(
            "INSERT OR REPLACE INTO bench_generate_runs VALUES (?, to_timestamp(? / 1000.0), ?, ?, ?, ?, ?, ?)",
            params![
                run.bench_id,
                run.started_at_ms,
                env.host,
                env.git_commit,
                env.cpu_model,
                run.threads,
                run.peak.bandwidth_gbs,
                document
            ],
        )
        .map_err(fail)?;
        for r in rows(run) {
            let t = r.timing.as_ref();
            tx.execute(
                "INSERT OR REPLACE INTO bench_generate_cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    run.bench_id,
                    r.model_type,
                    r.config,
                    r.size.0,
                    r.size.1,
                    r.size.2,
                    r.engine,
                    r.status,
                    t.map(|t| t.ttft.p50),
                    t.map(|t| t.decode_step.p50),
                    t.map(|t| t.tokens_per_s),
                    t.map(|t| t.weights_gbs),
                    t.map(|t| t.bandwidth_share),
                    r.peak_rss_mib,
                    r.detail
                ],
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }

    /// Ingests every pending generation benchmark document of `results`, then archives each;
    /// returns how many were ingested and the files that were not such documents (moved to
    /// `rejected/`).
    pub fn ingest_generate_bench(&mut self, results: &Path) -> Result<(usize, Vec<String>)> {
        let dir = generate_dir(results);
        let (mut ingested, mut rejected) = (0, Vec::new());
        for file in spool::pending_in(&dir) {
            match std::fs::read_to_string(&file).ok().and_then(|text| serde_json::from_str::<GenerateRun>(&text).ok()) {
                Some(run) => {
                    self.insert_generate_bench(&run)?;
                    spool::archive_in(&dir, &file, "ingested")?;
                    ingested += 1;
                }
                None => {
                    rejected.push(file.display().to_string());
                    spool::archive_in(&dir, &file, "rejected")?;
                }
            }
        }
        Ok((ingested, rejected))
    }

    /// Rows of `bench_generate_cells` in a run, by status (for checks and tests).
    pub fn generate_cell_statuses(&self, bench_id: &str) -> Result<Vec<(String, String)>> {
        let mut statement = self
            .conn()
            .prepare("SELECT engine, status FROM bench_generate_cells WHERE bench_id = ? ORDER BY engine")
            .map_err(|e| self.err(e))?;
        let rows =
            statement.query_map(params![bench_id], |row| Ok((row.get(0)?, row.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<duckdb::Result<Vec<_>>>().map_err(|e| self.err(e))
    }
}
