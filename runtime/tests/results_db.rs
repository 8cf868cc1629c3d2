//! Spool + DuckDB: idempotent ingestion, bad spool files, a database locked by another process.

use runtime::hardware::Detection;
use runtime::measure::Measurement;
mod common;

use runtime::results::record::{result_id, ModelInfo, Record};
use runtime::results::{db_path, spool, ResultsDb, Scope};
use runtime::Error;

fn record(run: &str, model: &str, hardware: &str, outcome: &str) -> Record {
    Record {
        result_id: result_id(run, model, hardware),
        run: common::run_info(run, "host"),
        hardware: Detection { hardware: hardware.into(), available: outcome != "skipped", device: "dev".into(), version: "v".into(), reason: "why".into() },
        model: ModelInfo { model_type: model.into(), display_name: model.into(), family: "f".into(), modality: "text".into(), task: "t".into(), model_class: "C".into(), key_model: true },
        outcome: outcome.into(),
        expected: "pass".into(),
        detail: String::new(),
        category: None,
        artifact_key: None,
        measurements: vec![Measurement::new("latency_p50_ms", 1.5, "ms"), Measurement::new("load_ms", 3.0, "ms")],
        samples: vec![1.4, 1.5, 1.6],
        recorded_at_ms: 1_700_000_000_500,
    }
}

#[test]
fn ingestion_is_idempotent_and_archives_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path();
    for (model, hw, outcome) in [("bert", "cpu", "passed"), ("bert", "cuda", "skipped"), ("t5", "cpu", "passed")] {
        spool::write(results, &record("run-1", model, hw, outcome)).unwrap();
    }
    let mut db = ResultsDb::open(&db_path(results)).unwrap();
    assert_eq!(db.ingest(results).unwrap().ingested, 3);
    assert!(spool::pending(results).is_empty(), "ingested files leave the spool");
    // hardware: cpu and cuda from the records, openvino from the run's detection of every backend.
    let counts = |db: &ResultsDb| ["runs", "hardware", "models", "results", "measurements", "samples"].map(|t| db.count(t).unwrap());
    assert_eq!(counts(&db), [1, 3, 2, 3, 6, 9]);

    // The same records again (a re-run with the same run id, or a crash before archiving).
    for (model, hw, outcome) in [("bert", "cpu", "passed"), ("bert", "cuda", "skipped")] {
        spool::write(results, &record("run-1", model, hw, outcome)).unwrap();
    }
    assert_eq!(db.ingest(results).unwrap().ingested, 2);
    assert_eq!(counts(&db), [1, 3, 2, 3, 6, 9]);

    let latest = db.cells(&Scope::Latest).unwrap();
    assert_eq!(latest.len(), 3);
    assert_eq!((latest[0].model_type.as_str(), latest[0].hardware.as_str(), latest[0].p50_ms), ("bert", "cpu", Some(1.5)));
}

#[test]
fn a_corrupt_spool_file_is_set_aside_and_the_rest_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path();
    spool::write(results, &record("run-2", "vit", "cpu", "passed")).unwrap();
    std::fs::write(spool::spool_dir(results).join("truncated.json"), "{\"result_id\": \"x\", ").unwrap();
    let mut db = ResultsDb::open(&db_path(results)).unwrap();
    let report = db.ingest(results).unwrap();
    assert_eq!(report.ingested, 1);
    assert_eq!(report.rejected.len(), 1);
    assert!(spool::spool_dir(results).join("rejected/truncated.json").is_file());
    assert_eq!(db.count("results").unwrap(), 1);
}

/// Child-process half of the lock test: holds the database open for a while.
#[test]
fn hold_results_db_open_helper() {
    let Ok(path) = std::env::var("HFZOO_TEST_HOLD_DB") else { return };
    let _db = ResultsDb::open(std::path::Path::new(&path)).unwrap();
    std::fs::write(format!("{path}.held"), "").unwrap();
    // Hold until the parent says so (bounded, so a failed parent never leaves it running).
    for _ in 0..400 {
        if std::path::Path::new(&format!("{path}.release")).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

#[test]
fn a_database_locked_by_another_process_is_a_clear_error_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path();
    let path = db_path(results);
    ResultsDb::open(&path).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "hold_results_db_open_helper", "--nocapture"])
        .env("HFZOO_TEST_HOLD_DB", &path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let held = path.with_extension("duckdb.held");
    for _ in 0..200 {
        if held.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(held.exists(), "helper process did not open the database");
    spool::write(results, &record("run-3", "clip", "cpu", "passed")).unwrap();
    let error = ResultsDb::open(&path).err().expect("second process must not open a locked database");
    assert!(matches!(error, Error::DatabaseLocked { .. }), "{error}");
    assert!(error.to_string().contains("results stay in the spool"), "{error}");
    assert_eq!(spool::pending(results).len(), 1, "the result waits in the spool");
    std::fs::write(path.with_extension("duckdb.release"), "").unwrap();
    child.wait().unwrap();
    let mut db = ResultsDb::open(&path).unwrap();
    assert_eq!(db.ingest(results).unwrap().ingested, 1);
}
