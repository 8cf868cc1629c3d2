//! Benchmark runs in the results database, a kind of run of their own: `bench_runs` (the
//! machine, its measured peak, the whole document) and `bench_cells` (one row per model, size and
//! engine: latency, share of peak, ratio to eager PyTorch, the runtime's overhead, or why not).
//! The `bench` command writes each run to `results/bench/<id>.json`; ingestion moves it to
//! `results/bench/ingested/` after the commit, as the spool.

use std::path::{Path, PathBuf};

use bench_core::cell::CellStatus;
use bench_core::run::{bench_dir, gflops, peer_engine, BenchRun};
use duckdb::params;

use super::db::ResultsDb;
use super::spool;
use crate::error::{Error, Result};

/// The benchmark tables.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bench_runs (
    bench_id VARCHAR PRIMARY KEY, started_at TIMESTAMP, host VARCHAR, git_commit VARCHAR, cpu_model VARCHAR,
    threads BIGINT, peak_gflops DOUBLE, gemm_size BIGINT, bandwidth_gbs DOUBLE, document VARCHAR);
CREATE TABLE IF NOT EXISTS bench_cells (
    bench_id VARCHAR, model_type VARCHAR, batch BIGINT, seq BIGINT, engine VARCHAR, status VARCHAR,
    p50_ms DOUBLE, p90_ms DOUBLE, p99_ms DOUBLE, p50_low_ms DOUBLE, p50_high_ms DOUBLE, runs BIGINT,
    flops DOUBLE, achieved_gflops DOUBLE, share_of_peak DOUBLE, ratio_to_eager DOUBLE, overhead DOUBLE, detail VARCHAR,
    PRIMARY KEY (bench_id, model_type, batch, seq, engine));
";

/// One row of `bench_cells` (`seq` 0: the model takes no text; `batch` 0: the model did not run).
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// Model type.
    pub model_type: String,
    /// Batch.
    pub batch: i64,
    /// Sequence length, 0 where none.
    pub seq: i64,
    /// `runtime cpu`, `runtime openvino`, `eager`, `compile`, `onnxruntime`, `openvino-python`.
    pub engine: String,
    /// `measured`, or the verdict that kept it from being timed (`failed`, `failed-parity`, `unsupported`, `not-run`).
    pub status: String,
    /// p50, p90, p99, the median's interval (ms) and the timed runs, when measured.
    pub latency: Option<(f64, f64, f64, f64, f64, i64)>,
    /// FLOPs per inference, achieved GFLOP/s and share of the measured peak.
    pub flops: Option<(f64, f64, f64)>,
    /// Ratio of this engine's median to eager PyTorch's.
    pub ratio_to_eager: Option<f64>,
    /// The runtime's overhead over the bare engine call.
    pub overhead: Option<f64>,
    /// Why it was not timed.
    pub detail: String,
}

/// Every row of a run.
pub fn rows(run: &BenchRun) -> Vec<BenchRow> {
    let mut rows = Vec::new();
    for model in &run.models {
        for size in &model.sizes {
            let (batch, seq) = (size.size.batch, size.size.seq.unwrap_or(0));
            let entries = size.entries();
            let eager = entries.iter().find(|e| e.engine == "eager").map(|e| e.summary.p50);
            let flops = size.peers.as_ref().ok().map(|a| a.flops.flops).filter(|f| *f > 0);
            let row = |engine: &str, status: &str, detail: String| BenchRow {
                model_type: model.model.clone(),
                batch,
                seq,
                engine: engine.to_string(),
                status: status.to_string(),
                latency: None,
                flops: None,
                ratio_to_eager: None,
                overhead: None,
                detail,
            };
            for entry in &entries {
                let s = entry.summary;
                let mut measured = row(&entry.engine, "measured", String::new());
                measured.latency = Some((s.p50, s.p90, s.p99, s.p50_low, s.p50_high, s.runs as i64));
                measured.flops = flops.map(|f| (f as f64, gflops(f, s.p50), gflops(f, s.p50) / run.peak.gflops));
                measured.ratio_to_eager = eager.map(|e| s.p50 / e);
                measured.overhead = entry.overhead;
                rows.push(measured);
            }
            for (hardware, status) in &size.cells {
                if let CellStatus::Refused { verdict, reason } = status {
                    rows.push(row(&format!("runtime {hardware}"), verdict, reason.clone()));
                }
            }
            if let Ok(answer) = &size.peers {
                for (name, peer) in answer.peers.iter().filter(|(_, p)| p.status != bench_core::python::PeerStatus::Ok)
                {
                    rows.push(row(&peer_engine(name), peer.status.id(), peer.error.clone().unwrap_or_default()));
                }
            }
        }
    }
    for (model, why) in &run.not_run {
        rows.push(BenchRow {
            model_type: model.clone(),
            batch: 0,
            seq: 0,
            engine: "-".into(),
            status: "not-run".into(),
            latency: None,
            flops: None,
            ratio_to_eager: None,
            overhead: None,
            detail: why.clone(),
        });
    }
    rows
}

/// Benchmark documents waiting in `results/bench/`.
pub fn pending(results: &Path) -> Vec<PathBuf> {
    spool::pending_in(&bench_dir(results))
}

impl ResultsDb {
    /// Inserts one benchmark run and its rows; the same run again replaces itself.
    pub fn insert_bench(&mut self, run: &BenchRun) -> Result<()> {
        let path = self.path().to_path_buf();
        let fail = |e: duckdb::Error| super::db::classify(&path, e);
        let document = serde_json::to_string(run)
            .map_err(|e| Error::InvalidArgument(format!("benchmark run {}: {e}", run.bench_id)))?;
        let tx = self.conn_mut().transaction().map_err(fail)?;
        let env = &run.environment;
        tx.execute("DELETE FROM bench_cells WHERE bench_id = ?", params![run.bench_id]).map_err(fail)?;
        tx.execute(
            "INSERT OR REPLACE INTO bench_runs VALUES (?, to_timestamp(? / 1000.0), ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                run.bench_id,
                run.started_at_ms,
                env.host,
                env.git_commit,
                env.cpu_model,
                run.threads,
                run.peak.gflops,
                run.peak.gemm_size,
                run.peak.bandwidth_gbs,
                document
            ],
        )
        .map_err(fail)?;
        for r in rows(run) {
            let (p50, p90, p99, low, high, runs) = match r.latency {
                Some((a, b, c, d, e, f)) => (Some(a), Some(b), Some(c), Some(d), Some(e), Some(f)),
                None => (None, None, None, None, None, None),
            };
            let (flops, achieved, share) = match r.flops {
                Some((a, b, c)) => (Some(a), Some(b), Some(c)),
                None => (None, None, None),
            };
            tx.execute(
                "INSERT OR REPLACE INTO bench_cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    run.bench_id,
                    r.model_type,
                    r.batch,
                    r.seq,
                    r.engine,
                    r.status,
                    p50,
                    p90,
                    p99,
                    low,
                    high,
                    runs,
                    flops,
                    achieved,
                    share,
                    r.ratio_to_eager,
                    r.overhead,
                    r.detail
                ],
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }

    /// Ingests every pending benchmark document of `results`, then archives each; returns how
    /// many were ingested and the files that were not benchmark documents (moved to `rejected/`).
    pub fn ingest_bench(&mut self, results: &Path) -> Result<(usize, Vec<String>)> {
        let (mut ingested, mut rejected) = (0, Vec::new());
        for file in pending(results) {
            match std::fs::read_to_string(&file).ok().and_then(|text| serde_json::from_str::<BenchRun>(&text).ok()) {
                Some(run) => {
                    self.insert_bench(&run)?;
                    spool::archive_in(&bench_dir(results), &file, "ingested")?;
                    ingested += 1;
                }
                None => {
                    rejected.push(file.display().to_string());
                    spool::archive_in(&bench_dir(results), &file, "rejected")?;
                }
            }
        }
        Ok((ingested, rejected))
    }

    /// The benchmark run `bench_id`, or the latest one.
    pub fn bench_run(&self, bench_id: Option<&str>) -> Result<Option<BenchRun>> {
        let sql = match bench_id {
            Some(_) => "SELECT document FROM bench_runs WHERE bench_id = ?",
            None => "SELECT document FROM bench_runs WHERE ? IS NULL ORDER BY started_at DESC LIMIT 1",
        };
        let document: Option<String> = match self.conn().query_row(sql, params![bench_id], |row| row.get(0)) {
            Ok(document) => Some(document),
            Err(duckdb::Error::QueryReturnedNoRows) => None,
            Err(error) => return Err(self.err(error)),
        };
        document
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|e| Error::InvalidArgument(format!("the stored benchmark document does not parse: {e}")))
            })
            .transpose()
    }

    /// Rows of `bench_cells` in a run (for checks and tests).
    pub fn bench_cell_count(&self, bench_id: &str) -> Result<i64> {
        self.conn()
            .query_row("SELECT count(*) FROM bench_cells WHERE bench_id = ?", params![bench_id], |row| row.get(0))
            .map_err(|e| self.err(e))
    }
}
