//! Reading results back: which run a report covers, its cells, its environment, its samples.

use std::collections::BTreeMap;

use duckdb::params;
use serde::Serialize;

use runtime::results::record::OutcomeKind;
use runtime::FailureCategory;

use super::db::ResultsDb;
use crate::error::{Error, Result};

/// Which results a report or comparison covers.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// One run: `None` is the latest run (by start time).
    Run(Option<String>),
    /// The latest result of every (model, hardware) cell across all runs.
    Latest,
}

/// One cell of the compatibility matrix: a model on a hardware, from one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cell {
    /// The run this cell's result came from.
    pub run_id: String,
    /// Result id (unique per run, model and hardware).
    pub result_id: String,
    /// Model type.
    pub model_type: String,
    /// Hardware id.
    pub hardware: String,
    /// Architecture family.
    pub family: String,
    /// Modalities its inputs exercise, comma-separated.
    pub modality: String,
    /// Task.
    pub task: String,
    /// Key model flag.
    pub key_model: bool,
    /// `passed`, `failed`, `skipped` or `unsupported`.
    pub outcome: OutcomeKind,
    /// Category of an expected `unsupported`, or of the failure a `failed` cell failed in.
    pub category: Option<FailureCategory>,
    /// Diff, error or reason.
    pub detail: String,
    /// p50 latency in ms when measured.
    pub p50_ms: Option<f64>,
    /// p90 latency in ms when measured.
    pub p90_ms: Option<f64>,
    /// The largest |actual - reference| over every output and both input sets.
    pub worst_diff: Option<f64>,
    /// The largest diff as a share of its output's tolerance (1.0 would be at the limit).
    pub worst_diff_share: Option<f64>,
    /// Timed samples stored.
    pub samples: i64,
    /// The run whose verdict this cell reused (its timings are that run's), if it did.
    pub reused_from: Option<String>,
    /// Browser backends: nodes the accelerated provider (WebGPU, WebNN) ran.
    pub accelerated_nodes: Option<f64>,
    /// Browser backends: nodes that fell back to onnxruntime-web's wasm CPU provider.
    pub fallback_nodes: Option<f64>,
    /// What the cell checked: a forward pass, or generation with the cache.
    pub kind: runtime::CellKind,
}

/// Where and with what a run (or one machine's shard of it) ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    /// Run id.
    pub run_id: String,
    /// Host name.
    pub host: String,
    /// Start time (UTC) as text.
    pub started_at: String,
    /// CPU model.
    pub cpu_model: String,
    /// Logical CPUs.
    pub logical_cpus: i64,
    /// OS and kernel.
    pub os: String,
    /// Commit.
    pub git_commit: String,
    /// torch version.
    pub torch_version: String,
    /// transformers version.
    pub transformers_version: String,
    /// runtime crate version.
    pub runtime_version: String,
    /// Compiled hardware features.
    pub features: String,
    /// Test-only settings in effect (empty in a real run).
    pub injected: String,
}

/// What detection found for one hardware in a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HardwareRow {
    /// Hardware id.
    pub hardware: String,
    /// Available.
    pub available: bool,
    /// Device or adapter.
    pub device: String,
    /// Driver or runtime version.
    pub version: String,
    /// Why (un)available.
    pub reason: String,
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

const CELLS: &str = "
WITH scoped AS (SELECT * FROM results WHERE coalesce(kind, 'forward') = '{kind}' AND {filter}),
diffs AS (
    SELECT d.result_id, max(d.value) AS worst, max(d.value / nullif(t.value, 0)) AS share
    FROM measurements d
    LEFT JOIN measurements t ON t.result_id = d.result_id AND t.metric = 'tolerance_abs_' || substr(d.metric, 16)
    WHERE starts_with(d.metric, 'max_abs_diff_') AND d.result_id IN (SELECT result_id FROM scoped)
    GROUP BY d.result_id),
counted AS (SELECT result_id, count(*) AS n FROM samples WHERE result_id IN (SELECT result_id FROM scoped) GROUP BY result_id)
SELECT s.run_id, s.result_id, s.model_type, s.hardware, coalesce(mo.family, ''), coalesce(mo.modality, ''),
       coalesce(mo.task, ''), coalesce(mo.key_model, false), s.outcome, s.category, coalesce(s.detail, ''),
       p50.value, p90.value, diffs.worst, diffs.share, coalesce(counted.n, 0), s.reused_from_run,
       accelerated.value, fallback.value, coalesce(s.kind, 'forward')
FROM scoped s
LEFT JOIN models mo ON mo.model_type = s.model_type
LEFT JOIN measurements p50 ON p50.result_id = s.result_id AND p50.metric = 'latency_p50_ms'
LEFT JOIN measurements p90 ON p90.result_id = s.result_id AND p90.metric = 'latency_p90_ms'
LEFT JOIN measurements accelerated ON accelerated.result_id = s.result_id AND accelerated.metric = 'browser_accelerated_nodes'
LEFT JOIN measurements fallback ON fallback.result_id = s.result_id AND fallback.metric = 'browser_fallback_nodes'
LEFT JOIN diffs ON diffs.result_id = s.result_id
LEFT JOIN counted ON counted.result_id = s.result_id
ORDER BY s.model_type, s.hardware";

impl ResultsDb {
    /// The latest run's id (by start time), if any run is recorded.
    pub fn latest_run(&self) -> Result<Option<String>> {
        let mut statement = self
            .conn()
            .prepare("SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT 1")
            .map_err(|e| self.err(e))?;
        let mut rows = statement.query([]).map_err(|e| self.err(e))?;
        match rows.next().map_err(|e| self.err(e))? {
            Some(row) => Ok(Some(row.get(0).map_err(|e| self.err(e))?)),
            None => Ok(None),
        }
    }

    /// The run a `Scope::Run` names, checked to exist (`None` when the database has no run).
    pub fn resolve_run(&self, run: Option<&str>) -> Result<Option<String>> {
        match run {
            None => self.latest_run(),
            Some(id) => {
                let known: i64 = self
                    .conn()
                    .query_row("SELECT count(*) FROM runs WHERE run_id = ?", params![id], |row| row.get(0))
                    .map_err(|e| self.err(e))?;
                if known == 0 {
                    let runs: Vec<String> = self.runs()?.into_iter().take(5).map(|r| r.run_id).collect();
                    return Err(Error::InvalidArgument(format!(
                        "no run `{id}` in {} (recent runs: {}; `cargo run -p hfzoo -- runs` lists them all)",
                        self.path().display(),
                        if runs.is_empty() { "none".to_string() } else { runs.join(", ") }
                    )));
                }
                Ok(Some(id.to_string()))
            }
        }
    }

    /// The forward cells a scope covers, sorted by model then hardware.
    pub fn cells(&self, scope: &Scope) -> Result<Vec<Cell>> {
        self.cells_of(scope, runtime::CellKind::Forward)
    }

    /// The cells of one kind a scope covers, sorted by model then hardware.
    pub fn cells_of(&self, scope: &Scope, kind: runtime::CellKind) -> Result<Vec<Cell>> {
        let (filter, run) = match scope {
            Scope::Latest => (
                "true QUALIFY row_number() OVER (PARTITION BY model_type, hardware ORDER BY recorded_at DESC, result_id DESC) = 1",
                None,
            ),
            Scope::Run(run) => match self.resolve_run(run.as_deref())? {
                Some(id) => ("run_id = ?", Some(id)),
                None => return Ok(Vec::new()),
            },
        };
        let sql = CELLS.replace("{filter}", filter).replace("{kind}", kind.id());
        let mut statement = self.conn().prepare(&sql).map_err(|e| self.err(e))?;
        let map = |row: &duckdb::Row<'_>| {
            Ok(Cell {
                run_id: row.get(0)?,
                result_id: row.get(1)?,
                model_type: row.get(2)?,
                hardware: row.get(3)?,
                family: row.get(4)?,
                modality: row.get(5)?,
                task: row.get(6)?,
                key_model: row.get(7)?,
                outcome: outcome_at(row, 8)?,
                category: category_at(row, 9)?,
                detail: row.get(10)?,
                p50_ms: row.get(11)?,
                p90_ms: row.get(12)?,
                worst_diff: row.get(13)?,
                worst_diff_share: row.get(14)?,
                samples: row.get(15)?,
                reused_from: row.get(16)?,
                accelerated_nodes: row.get(17)?,
                fallback_nodes: row.get(18)?,
                kind: runtime::CellKind::from_id(&row.get::<_, String>(19)?).unwrap_or_default(),
            })
        };
        let rows = match &run {
            Some(id) => statement.query_map(params![id], map),
            None => statement.query_map([], map),
        }
        .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The environments (one per machine) of the runs the cells came from.
    pub fn environments(&self, runs: &[String]) -> Result<Vec<Environment>> {
        let mut statement = self
            .conn()
            .prepare(
                "SELECT run_id, host, CAST(started_at AS VARCHAR), coalesce(cpu_model, ''), coalesce(logical_cpus, 0), coalesce(os, ''),
                        coalesce(git_commit, ''), coalesce(torch_version, ''), coalesce(transformers_version, ''), coalesce(runtime_version, ''),
                        coalesce(features, ''), coalesce(injected, '')
                 FROM environments WHERE list_contains(string_split(?, chr(31)), run_id) ORDER BY started_at, host",
            )
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map(params![runs.join("\u{1f}")], |row| {
                Ok(Environment {
                    run_id: row.get(0)?,
                    host: row.get(1)?,
                    started_at: row.get(2)?,
                    cpu_model: row.get(3)?,
                    logical_cpus: row.get(4)?,
                    os: row.get(5)?,
                    git_commit: row.get(6)?,
                    torch_version: row.get(7)?,
                    transformers_version: row.get(8)?,
                    runtime_version: row.get(9)?,
                    features: row.get(10)?,
                    injected: row.get(11)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// What detection found per backend in these runs: a run where it was available first, then
    /// the latest run, in the canonical backend order.
    pub fn hardware_rows(&self, runs: &[String]) -> Result<Vec<HardwareRow>> {
        let mut statement = self
            .conn()
            .prepare(
                "SELECT h.hardware, h.available, coalesce(h.device, ''), coalesce(h.version, ''), coalesce(h.reason, '') FROM hardware h
                 LEFT JOIN runs r ON r.run_id = h.run_id
                 WHERE list_contains(string_split(?, chr(31)), h.run_id)
                 QUALIFY row_number() OVER (PARTITION BY h.hardware ORDER BY h.available DESC, r.started_at DESC NULLS LAST, h.run_id DESC) = 1 ORDER BY h.hardware",
            )
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map(params![runs.join("\u{1f}")], |row| {
                Ok(HardwareRow {
                    hardware: row.get(0)?,
                    available: row.get(1)?,
                    device: row.get(2)?,
                    version: row.get(3)?,
                    reason: row.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let mut rows = rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))?;
        // The canonical backend order (cpu, cuda, ...), unknown names last.
        let order = |id: &str| runtime::Hardware::ALL.iter().position(|h| h.id() == id).unwrap_or(usize::MAX);
        rows.sort_by_key(|r| order(&r.hardware));
        Ok(rows)
    }

    /// Every timed sample of these result ids, in the order taken.
    pub fn samples(&self, result_ids: &[&str]) -> Result<BTreeMap<String, Vec<f64>>> {
        let mut statement = self
            .conn()
            .prepare("SELECT result_id, latency_ms FROM samples WHERE list_contains(string_split(?, chr(31)), result_id) ORDER BY result_id, iteration")
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map(params![result_ids.join("\u{1f}")], |row| Ok((row.get::<_, String>(0)?, row.get::<_, f64>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for row in rows {
            let (id, value) = row.map_err(|e| self.err(e))?;
            out.entry(id).or_default().push(value);
        }
        Ok(out)
    }

    /// Runs, newest first, with result counts by outcome.
    pub fn runs(&self) -> Result<Vec<RunSummary>> {
        let mut statement = self
            .conn()
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

/// The outcome in column `index` of a results row (a name the store only ever holds from a
/// record; anything else is a conversion error naming it).
fn category_at(row: &duckdb::Row<'_>, index: usize) -> duckdb::Result<Option<FailureCategory>> {
    let Some(id) = row.get::<_, Option<String>>(index)? else { return Ok(None) };
    FailureCategory::from_id(&id).map(Some).ok_or_else(|| {
        duckdb::Error::FromSqlConversionFailure(
            index,
            duckdb::types::Type::Text,
            format!("unknown failure category `{id}` (request/src/category.rs lists them, and `environment`)").into(),
        )
    })
}

fn outcome_at(row: &duckdb::Row<'_>, index: usize) -> duckdb::Result<OutcomeKind> {
    let id: String = row.get(index)?;
    OutcomeKind::from_id(&id).ok_or_else(|| {
        duckdb::Error::FromSqlConversionFailure(
            index,
            duckdb::types::Type::Text,
            format!("unknown outcome `{id}` (one of passed, failed, skipped, unsupported)").into(),
        )
    })
}
