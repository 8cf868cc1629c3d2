//! Parquet shards: a run split across three machines, exported and merged, equals the run
//! recorded unsplit; importing twice changes nothing; a bad shard is rejected whole and what
//! was imported before stays.

use std::path::Path;

use runtime::hardware::Detection;
use runtime::measure::Measurement;
#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use hfzoo::results::shard;
use hfzoo::results::{db_path, spool, ResultsDb, Scope};
use hfzoo::Error;
use runtime::results::record::{cell_result_id, ModelInfo, Record};
use runtime::CellKind;

/// The run's cells: forward passes, and gpt2's generation beside its forward pass (an id of its own).
const MODELS: [(&str, CellKind); 8] = [
    ("bert", CellKind::Forward),
    ("gpt2", CellKind::Forward),
    ("t5", CellKind::Forward),
    ("vit", CellKind::Forward),
    ("clip", CellKind::Forward),
    ("whisper", CellKind::Forward),
    ("mamba", CellKind::Forward),
    ("gpt2", CellKind::Generate),
];

fn record(host: &str, (model, kind): (&str, CellKind), index: usize) -> Record {
    let outcome = if model == "mamba" { "unsupported" } else { "passed" };
    Record {
        result_id: cell_result_id("shared-run", model, "cpu", kind),
        kind,
        run: common::run_info("shared-run", host),
        hardware: Detection {
            hardware: "cpu".into(),
            available: true,
            device: "dev".into(),
            version: "v".into(),
            reason: "always".into(),
        },
        model: ModelInfo {
            model_type: model.into(),
            display_name: model.into(),
            family: "f".into(),
            modality: "text".into(),
            task: "t".into(),
            model_class: "C".into(),
            key_model: true,
        },
        outcome: runtime::results::record::OutcomeKind::from_id(outcome).expect("an outcome name"),
        expected: "pass".into(),
        detail: if outcome == "passed" { String::new() } else { "baked shapes".into() },
        category: (outcome != "passed").then(|| runtime::Category::TraceSpecialised.into()),
        artifact_key: Some(format!("key-{model}")),
        measurements: vec![
            Measurement::new("latency_p50_ms", 1.0 + index as f64, "ms"),
            Measurement::new("max_abs_diff_a_logits", 1e-7, "abs"),
            Measurement::new("tolerance_abs_logits", 4e-7, "abs"),
        ],
        samples: (0..10).map(|i| 1.0 + index as f64 + 0.01 * f64::from(i)).collect(),
        recorded_at_ms: 1_700_000_000_500 + index as i64,
        reused: None,
    }
}

fn database(dir: &Path, records: &[Record]) -> ResultsDb {
    for r in records {
        spool::write(dir, r).unwrap();
    }
    let mut db = ResultsDb::open(&db_path(dir)).unwrap();
    db.ingest(dir).unwrap();
    db
}

fn counts(db: &ResultsDb) -> Vec<i64> {
    hfzoo::results::db::TABLES.iter().map(|t| db.count(t).unwrap()).collect()
}

fn scope() -> Scope {
    Scope::Run(Some("shared-run".into()))
}

/// Three shards of one run (as three machines with `HFZOO_RUN_ID=shared-run` would write them),
/// exported to Parquet.
fn three_shards(root: &Path) -> Vec<std::path::PathBuf> {
    (0..3)
        .map(|k| {
            let records: Vec<Record> = MODELS
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 3 == k)
                .map(|(i, m)| record(&format!("machine-{k}"), *m, i))
                .collect();
            let dir = root.join(format!("machine-{k}"));
            let db = database(&dir, &records);
            let out = root.join(format!("shard-{k}"));
            let manifest = shard::export(&db, None, &out).unwrap();
            assert_eq!(manifest.run_id, "shared-run");
            out
        })
        .collect()
}

#[test]
fn three_shards_merged_equal_the_unsplit_run_and_a_second_import_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let whole: Vec<Record> = MODELS.iter().enumerate().map(|(i, m)| record("machine-0", *m, i)).collect();
    let unsplit = database(&root.path().join("unsplit"), &whole);
    let shards = three_shards(root.path());

    let mut merged = ResultsDb::open(&root.path().join("merged.duckdb")).unwrap();
    for dir in &shards {
        shard::import(&mut merged, dir).unwrap();
    }
    assert_eq!(shard::comparable_rows(&merged, &scope()).unwrap(), shard::comparable_rows(&unsplit, &scope()).unwrap());
    let strip = |cells: Vec<hfzoo::results::Cell>| {
        cells
            .into_iter()
            .map(|c| (c.model_type, c.outcome, c.p50_ms, c.worst_diff_share, c.samples))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(merged.cells(&scope()).unwrap()), strip(unsplit.cells(&scope()).unwrap()));
    let generation = |db: &ResultsDb| strip(db.cells_of(&scope(), CellKind::Generate).unwrap());
    assert_eq!(generation(&merged), generation(&unsplit));
    assert_eq!(generation(&merged).len(), 1, "gpt2's generation cell keeps its kind through the shard");
    assert_eq!(merged.count("samples").unwrap(), 80);
    assert_eq!(merged.count("environments").unwrap(), 3, "one environment per machine");

    let before = counts(&merged);
    for dir in &shards {
        assert_eq!(shard::import(&mut merged, dir).unwrap().new_results, 0);
    }
    assert_eq!(counts(&merged), before, "importing the same shards again changes nothing");
}

/// Rewrites one table of a shard through DuckDB with `select` (reading `src`).
fn rewrite(dir: &Path, table: &str, select: &str) {
    let file = dir.join(format!("{table}.parquet"));
    let tmp = dir.join(format!("{table}.new.parquet"));
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let sql = select.replace("src", &format!("read_parquet('{}')", file.display()));
    conn.execute_batch(&format!("COPY ({sql}) TO '{}' (FORMAT parquet)", tmp.display())).unwrap();
    std::fs::rename(tmp, file).unwrap();
}

fn copy_shard(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn bad_shards_are_rejected_whole_with_the_reason_and_lose_nothing() {
    let root = tempfile::tempdir().unwrap();
    let shards = three_shards(root.path());
    let mut merged = ResultsDb::open(&root.path().join("merged.duckdb")).unwrap();
    shard::import(&mut merged, &shards[0]).unwrap();
    let before = counts(&merged);

    /// A way to break a shard: its name, the damage, and what the refusal must say.
    type Breakage<'a> = (&'a str, &'a dyn Fn(&Path), &'a str);
    let cases: [Breakage<'_>; 8] = [
        (
            "truncated",
            &|d| {
                let file = d.join("results.parquet");
                let bytes = std::fs::read(&file).unwrap();
                std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
            },
            "results.parquet is not readable Parquet",
        ),
        (
            "missing column",
            &|d| rewrite(d, "results", "SELECT * EXCLUDE (outcome) FROM src"),
            "missing column(s) [\"outcome\"]",
        ),
        (
            "bad outcome",
            &|d| rewrite(d, "results", "SELECT * REPLACE ('great' AS outcome) FROM src"),
            "outcome `great`",
        ),
        (
            "duplicate keys",
            &|d| rewrite(d, "samples", "SELECT * FROM src UNION ALL SELECT * FROM src"),
            "duplicate key",
        ),
        (
            "missing file",
            &|d| std::fs::remove_file(d.join("measurements.parquet")).unwrap(),
            "measurements.parquet is missing",
        ),
        (
            "another run id",
            &|d| {
                rewrite(
                    d,
                    "results",
                    "SELECT * REPLACE (replace(result_id, 'shared-run', 'other-run') AS result_id) FROM src",
                )
            },
            "is not the id of its run, model, hardware and kind",
        ),
        (
            "a generation record that says it is a forward pass",
            &|d| {
                rewrite(
                    d,
                    "results",
                    "SELECT * REPLACE (CASE WHEN kind = 'generate' THEN 'forward' ELSE kind END AS kind) FROM src",
                )
            },
            "shared-run__gpt2__cpu__generate is not the id of its run, model, hardware and kind (shared-run, gpt2, cpu, forward)",
        ),
        (
            "unknown hardware",
            &|d| rewrite(d, "hardware", "SELECT * REPLACE ('tpu' AS hardware) FROM src"),
            "unknown hardware `tpu`",
        ),
    ];
    for (name, damage, reason) in cases {
        let dir = root.path().join(format!("bad-{}", name.replace(' ', "-")));
        copy_shard(&shards[1], &dir);
        damage(&dir);
        let error = shard::import(&mut merged, &dir).expect_err(name);
        assert!(matches!(error, Error::ShardRejected { .. }), "{name}: {error}");
        assert!(error.to_string().contains(reason), "{name}: {error}");
        assert_eq!(counts(&merged), before, "{name}: nothing imported, nothing lost");
    }
    // The undamaged shard still imports after the rejections.
    assert!(shard::import(&mut merged, &shards[1]).unwrap().new_results > 0);
}

#[test]
fn a_shard_is_never_written_over_an_older_one() {
    let root = tempfile::tempdir().unwrap();
    let shards = three_shards(root.path());
    let db = ResultsDb::open(&root.path().join("machine-0").join("results.duckdb")).unwrap();
    let error = shard::export(&db, None, &shards[1]).unwrap_err().to_string();
    assert!(error.contains("holds files already") && error.contains("new or empty folder"), "{error}");
}

#[test]
fn two_shards_that_ran_the_same_cell_differently_conflict() {
    let root = tempfile::tempdir().unwrap();
    let shards = three_shards(root.path());
    let mut merged = ResultsDb::open(&root.path().join("merged.duckdb")).unwrap();
    shard::import(&mut merged, &shards[0]).unwrap();
    let dir = root.path().join("again");
    copy_shard(&shards[0], &dir);
    rewrite(&dir, "results", "SELECT * REPLACE ('failed' AS outcome) FROM src");
    let error = shard::import(&mut merged, &dir).expect_err("conflict");
    assert!(error.to_string().contains("was imported before with other content"), "{error}");
}
