//! Results that travel: a run written as Parquet (one file per table, plus `shard.json`), and
//! shards from many machines validated and merged into one database. DuckDB reads and writes
//! Parquet itself. Importing is all or nothing per shard: a shard that fails any check is
//! rejected whole and what the database held before stays as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use runtime::FailureCategory;

use super::db::{classify, ResultsDb, TABLES};
use crate::error::{Error, Result};

/// The shard format this build writes and reads.
/// Version 2 added `results.kind` (a generation cell beside a forward one); a version-1 shard is
/// refused by name, as its results would import without their kind.
pub const SHARD_VERSION: u32 = 2;

/// The manifest of a shard (`shard.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShardManifest {
    /// Always `hfzoo-results-shard`.
    pub format: String,
    /// [`SHARD_VERSION`].
    pub version: u32,
    /// The run it holds.
    pub run_id: String,
    /// Rows per table.
    pub rows: BTreeMap<String, i64>,
}

/// Columns and types of each table as shards carry them, and each table's key.
fn columns(table: &str) -> (&'static [(&'static str, &'static str)], &'static [&'static str]) {
    const V: &str = "VARCHAR";
    const T: &str = "TIMESTAMP";
    match table {
        "runs" => (
            &[
                ("run_id", V),
                ("started_at", T),
                ("host", V),
                ("git_commit", V),
                ("torch_version", V),
                ("transformers_version", V),
                ("runtime_version", V),
                ("features", V),
            ],
            &["run_id"],
        ),
        "environments" => (
            &[
                ("run_id", V),
                ("host", V),
                ("started_at", T),
                ("cpu_model", V),
                ("logical_cpus", "BIGINT"),
                ("os", V),
                ("git_commit", V),
                ("torch_version", V),
                ("transformers_version", V),
                ("runtime_version", V),
                ("features", V),
                ("injected", V),
            ],
            &["run_id", "host"],
        ),
        "hardware" => (
            &[("run_id", V), ("hardware", V), ("available", "BOOLEAN"), ("device", V), ("version", V), ("reason", V)],
            &["run_id", "hardware"],
        ),
        "models" => (
            &[
                ("model_type", V),
                ("display_name", V),
                ("family", V),
                ("task", V),
                ("model_class", V),
                ("key_model", "BOOLEAN"),
                ("modality", V),
            ],
            &["model_type"],
        ),
        "results" => (
            &[
                ("result_id", V),
                ("run_id", V),
                ("model_type", V),
                ("hardware", V),
                ("outcome", V),
                ("expected", V),
                ("detail", V),
                ("artifact_key", V),
                ("recorded_at", T),
                ("category", V),
                ("host", V),
                ("reused_from_run", V),
                ("reused_from_commit", V),
                ("kind", V),
            ],
            &["result_id"],
        ),
        "measurements" => {
            (&[("result_id", V), ("metric", V), ("value", "DOUBLE"), ("unit", V)], &["result_id", "metric"])
        }
        _ => (&[("result_id", V), ("iteration", "INTEGER"), ("latency_ms", "DOUBLE")], &["result_id", "iteration"]),
    }
}

fn names(table: &str) -> String {
    columns(table).0.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// What belongs to `run` in each table.
fn run_filter(table: &str, run: &str) -> String {
    let run = literal(run);
    match table {
        "models" => format!("model_type IN (SELECT model_type FROM results WHERE run_id = {run})"),
        "measurements" | "samples" => format!("result_id IN (SELECT result_id FROM results WHERE run_id = {run})"),
        _ => format!("run_id = {run}"),
    }
}

/// Writes `run` (default: the latest) as a shard into `dir`; returns its manifest.
pub fn export(db: &ResultsDb, run: Option<&str>, dir: &Path) -> Result<ShardManifest> {
    let run = db.resolve_run(run)?.ok_or_else(|| {
        Error::InvalidArgument(format!("{} holds no run to export: run the suite first", db.path().display()))
    })?;
    // Files of an older shard would be replaced one by one, a mix of two shards in between.
    let occupied = std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()).unwrap_or(false);
    if occupied {
        return Err(Error::InvalidArgument(format!(
            "{} holds files already: a shard is written into a new or empty folder (remove that one, or name another)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
    // Written beside the target, then moved in: a failure midway leaves no half shard.
    let staging = dir.join(format!(".staging-{}", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(Error::io("create directory", &staging))?;
    let mut rows = BTreeMap::new();
    for table in TABLES {
        let file = staging.join(format!("{table}.parquet"));
        let query = format!(
            "SELECT {} FROM {table} WHERE {} ORDER BY {}",
            names(table),
            run_filter(table, &run),
            columns(table).1.join(", ")
        );
        db.conn()
            .execute_batch(&format!("COPY ({query}) TO {} (FORMAT parquet)", literal(&file.to_string_lossy())))
            .map_err(|e| db.err(e))?;
        let count: i64 = db
            .conn()
            .query_row(&format!("SELECT count(*) FROM {table} WHERE {}", run_filter(table, &run)), [], |row| row.get(0))
            .map_err(|e| db.err(e))?;
        rows.insert(table.to_string(), count);
    }
    let manifest = ShardManifest { format: "hfzoo-results-shard".into(), version: SHARD_VERSION, run_id: run, rows };
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|source| Error::Json { context: "serialise shard manifest".into(), source })?;
    std::fs::write(staging.join("shard.json"), text).map_err(Error::io("write", &staging))?;
    for entry in std::fs::read_dir(&staging).map_err(Error::io("read", &staging))?.flatten() {
        let target = dir.join(entry.file_name());
        std::fs::rename(entry.path(), &target).map_err(Error::io("move", &target))?;
    }
    std::fs::remove_dir(&staging).map_err(Error::io("remove", &staging))?;
    Ok(manifest)
}

/// What importing one shard did.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The shard's run.
    pub run_id: String,
    /// Result rows that were new to the database (0 when the shard was imported before).
    pub new_results: i64,
}

/// A shard rejected whole, with every reason found.
fn rejected(dir: &Path, reasons: Vec<String>) -> Error {
    Error::ShardRejected { dir: dir.to_path_buf(), reasons }
}

fn read_manifest(dir: &Path) -> Result<ShardManifest> {
    let path = dir.join("shard.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        rejected(
            dir,
            vec![format!(
                "cannot read {}: {e} (is this a directory written by `hfzoo results export`?)",
                path.display()
            )],
        )
    })?;
    let manifest: ShardManifest =
        serde_json::from_str(&text).map_err(|e| rejected(dir, vec![format!("{}: {e}", path.display())]))?;
    if manifest.format != "hfzoo-results-shard" || manifest.version != SHARD_VERSION {
        return Err(rejected(
            dir,
            vec![format!(
                "{}: format `{}` version {}, this build reads hfzoo-results-shard version {SHARD_VERSION}",
                path.display(),
                manifest.format,
                manifest.version
            )],
        ));
    }
    Ok(manifest)
}

/// Checks and merges one shard in one transaction.
pub fn import(db: &mut ResultsDb, dir: &Path) -> Result<Imported> {
    let manifest = read_manifest(dir)?;
    let path: PathBuf = db.path().to_path_buf();
    let fail = |e: duckdb::Error| classify(&path, e);
    let tx = db.conn_mut().transaction().map_err(fail)?;
    let mut reasons = Vec::new();
    let query_strings = |sql: &str| -> std::result::Result<Vec<String>, duckdb::Error> {
        let mut statement = tx.prepare(sql)?;
        let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
        rows.collect()
    };
    // 1. Every file present, with exactly the expected columns, castable to their types.
    for table in TABLES {
        let file = dir.join(format!("{table}.parquet"));
        if !file.is_file() {
            reasons.push(format!("{} is missing", file.display()));
            continue;
        }
        let source = format!("read_parquet({})", literal(&file.to_string_lossy()));
        let found = match query_strings(&format!("SELECT column_name FROM (DESCRIBE SELECT * FROM {source})")) {
            Ok(found) => found,
            Err(e) => {
                reasons.push(format!(
                    "{} is not readable Parquet: {}",
                    file.display(),
                    e.to_string().lines().next().unwrap_or_default()
                ));
                continue;
            }
        };
        let (expected, _) = columns(table);
        let missing: Vec<&str> = expected.iter().map(|(n, _)| *n).filter(|n| !found.iter().any(|f| f == n)).collect();
        let extra: Vec<&String> = found.iter().filter(|f| !expected.iter().any(|(n, _)| n == f)).collect();
        if !missing.is_empty() || !extra.is_empty() {
            reasons.push(format!("{}: missing column(s) {missing:?}, unknown column(s) {extra:?}", file.display()));
            continue;
        }
        let casts = expected.iter().map(|(n, t)| format!("CAST({n} AS {t}) AS {n}")).collect::<Vec<_>>().join(", ");
        if let Err(e) =
            tx.execute_batch(&format!("CREATE OR REPLACE TEMP TABLE stage_{table} AS SELECT {casts} FROM {source}"))
        {
            reasons.push(format!("{}: {}", file.display(), e.to_string().lines().next().unwrap_or_default()));
        }
    }
    if !reasons.is_empty() {
        return Err(rejected(dir, reasons));
    }
    // 2. Contents: counts as the manifest says, keys unique and present, valid outcomes, one run.
    let run = literal(&manifest.run_id);
    let mut checks: Vec<(String, String)> = Vec::new();
    for table in TABLES {
        let (_, key) = columns(table);
        let key_list = key.join(", ");
        let stated = manifest.rows.get(table).copied().unwrap_or(-1);
        checks.push((format!("SELECT 'has ' || count(*) || ' rows, shard.json says {stated}' FROM stage_{table} HAVING count(*) <> {stated}"), format!("{table}.parquet")));
        checks.push((
            format!("SELECT 'duplicate key (' || concat_ws(', ', {key_list}) || ')' FROM stage_{table} GROUP BY {key_list} HAVING count(*) > 1 LIMIT 3"),
            format!("{table}.parquet"),
        ));
        let nulls = key.iter().map(|k| format!("{k} IS NULL")).collect::<Vec<_>>().join(" OR ");
        checks.push((
            format!("SELECT 'a row with no key (' || '{key_list}' || ')' FROM stage_{table} WHERE {nulls} LIMIT 1"),
            format!("{table}.parquet"),
        ));
        if ["runs", "environments", "hardware", "results"].contains(&table) {
            checks.push((format!("SELECT 'run ' || run_id || ' is not the shard''s run' FROM stage_{table} WHERE run_id <> {run} LIMIT 3"), format!("{table}.parquet")));
        }
    }
    // A result's id is its run's, model's and hardware's, then its kind's unless it is a forward
    // pass (runtime::results::record::cell_result_id): one that names another run would overwrite
    // that run's result.
    let clean = |column: &str| format!("regexp_replace({column}, '[^A-Za-z0-9_-]', '_', 'g')");
    checks.push((
        format!(
            "SELECT 'result id ' || result_id || ' is not the id of its run, model, hardware and kind (' || run_id || ', ' || model_type || ', ' || hardware || ', ' || coalesce(kind, 'forward') || ')' FROM stage_results WHERE result_id IS DISTINCT FROM {} || '__' || {} || '__' || {} || CASE WHEN coalesce(kind, 'forward') = 'forward' THEN '' ELSE '__' || {} END LIMIT 3",
            clean("run_id"),
            clean("model_type"),
            clean("hardware"),
            clean("kind")
        ),
        "results.parquet".into(),
    ));
    let known = runtime::Hardware::ALL.iter().map(|h| literal(h.id())).collect::<Vec<_>>().join(", ");
    for table in ["results", "hardware"] {
        checks.push((
            format!("SELECT 'unknown hardware `' || coalesce(hardware, 'NULL') || '` (known: ' || {} || ')' FROM stage_{table} WHERE hardware IS NULL OR hardware NOT IN ({known}) LIMIT 3", literal(&runtime::Hardware::ALL.iter().map(|h| h.id()).collect::<Vec<_>>().join(", "))),
            format!("{table}.parquet"),
        ));
    }
    checks.push((
        "SELECT 'outcome `' || coalesce(outcome, 'NULL') || '` of ' || result_id || ' is not passed, failed, skipped or unsupported' FROM stage_results WHERE outcome IS NULL OR outcome NOT IN ('passed', 'failed', 'skipped', 'unsupported') LIMIT 3".into(),
        "results.parquet".into(),
    ));
    for table in ["measurements", "samples"] {
        checks.push((format!("SELECT 'row of unknown result ' || result_id FROM stage_{table} WHERE result_id NOT IN (SELECT result_id FROM stage_results) LIMIT 3"), format!("{table}.parquet")));
    }
    checks.push((
        "SELECT 'result ' || s.result_id || ' was imported before with other content (outcome ' || r.outcome || ', now ' || s.outcome || '): two shards of one run ran the same model and hardware' FROM stage_results s JOIN results r USING (result_id) WHERE r.outcome IS DISTINCT FROM s.outcome OR r.detail IS DISTINCT FROM s.detail OR r.recorded_at IS DISTINCT FROM s.recorded_at LIMIT 3".into(),
        "results.parquet".into(),
    ));
    for (sql, file) in &checks {
        for problem in query_strings(sql).map_err(fail)? {
            reasons.push(format!("{file}: {problem}"));
        }
    }
    if !reasons.is_empty() {
        return Err(rejected(dir, reasons));
    }
    // 3. Merge: rows already present stay (importing a shard twice changes nothing).
    let before: i64 = tx.query_row("SELECT count(*) FROM results", [], |row| row.get(0)).map_err(fail)?;
    for table in TABLES {
        let cols = names(table);
        tx.execute_batch(&format!(
            "INSERT OR IGNORE INTO {table} ({cols}) SELECT {cols} FROM stage_{table}; DROP TABLE stage_{table};"
        ))
        .map_err(fail)?;
    }
    let after: i64 = tx.query_row("SELECT count(*) FROM results", [], |row| row.get(0)).map_err(fail)?;
    tx.commit().map_err(fail)?;
    Ok(Imported { run_id: manifest.run_id, new_results: after - before })
}

/// Rows of a scope that must be equal however the suite was split: one line per cell of every kind with its
/// outcome, category, artifact and the names of its measurements (not their values, which are
/// timings), sorted.
pub fn comparable_rows(db: &ResultsDb, scope: &super::Scope) -> Result<Vec<String>> {
    let mut cells = Vec::new();
    for kind in runtime::CellKind::ALL {
        cells.extend(db.cells_of(scope, kind)?);
    }
    let mut statement = db
        .conn()
        .prepare("SELECT result_id, string_agg(metric, ',' ORDER BY metric) FROM measurements GROUP BY result_id")
        .map_err(|e| db.err(e))?;
    let metrics: BTreeMap<String, String> = statement
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
        .map_err(|e| db.err(e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| db.err(e))?;
    Ok(cells
        .iter()
        .map(|c| {
            format!(
                "{} | {} | {} | {} | {} | {} | {}",
                c.model_type,
                c.hardware,
                c.kind.id(),
                c.outcome,
                c.category.map_or("-", FailureCategory::id),
                c.detail.lines().next().unwrap_or_default(),
                metrics.get(&c.result_id).map(String::as_str).unwrap_or("")
            )
        })
        .collect())
}
