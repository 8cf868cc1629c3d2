//! Spool + DuckDB: idempotent ingestion, bad spool files, a database locked by another process.

use runtime::hardware::Detection;
use runtime::measure::Measurement;
#[path = "../../runtime/tests/common/mod.rs"]
mod common;

use hfzoo::results::{db_path, spool, ResultsDb, Scope};
use hfzoo::Error;
use runtime::results::record::{result_id, ModelInfo, Record};

fn record(run: &str, model: &str, hardware: &str, outcome: &str) -> Record {
    Record {
        result_id: result_id(run, model, hardware),
        kind: runtime::CellKind::Forward,
        run: common::run_info(run, "host"),
        hardware: Detection {
            hardware: hardware.into(),
            available: outcome != "skipped",
            device: "dev".into(),
            version: "v".into(),
            reason: "why".into(),
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
        detail: String::new(),
        category: None,
        artifact_key: None,
        measurements: vec![Measurement::new("latency_p50_ms", 1.5, "ms"), Measurement::new("load_ms", 3.0, "ms")],
        samples: vec![1.4, 1.5, 1.6],
        recorded_at_ms: 1_700_000_000_500,
        reused: None,
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
    let counts = |db: &ResultsDb| {
        ["runs", "hardware", "models", "results", "measurements", "samples"].map(|t| db.count(t).unwrap())
    };
    assert_eq!(counts(&db), [1, 3, 2, 3, 6, 9]);

    // The same records again (a re-run with the same run id, or a crash before archiving).
    for (model, hw, outcome) in [("bert", "cpu", "passed"), ("bert", "cuda", "skipped")] {
        spool::write(results, &record("run-1", model, hw, outcome)).unwrap();
    }
    assert_eq!(db.ingest(results).unwrap().ingested, 2);
    assert_eq!(counts(&db), [1, 3, 2, 3, 6, 9]);

    let latest = db.cells(&Scope::Latest).unwrap();
    assert_eq!(latest.len(), 3);
    assert_eq!(
        (latest[0].model_type.as_str(), latest[0].hardware.as_str(), latest[0].p50_ms),
        ("bert", "cpu", Some(1.5))
    );
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

#[test]
fn a_record_that_breaks_a_key_is_set_aside_alone_and_the_rest_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path();
    spool::write(results, &record("run-3", "vit", "cpu", "passed")).unwrap();
    let mut broken = record("run-3", "bert", "cpu", "passed");
    // The same metric twice breaks the measurements table's key (result_id, metric).
    broken.measurements.push(Measurement::new("load_ms", 4.0, "ms"));
    spool::write(results, &broken).unwrap();
    spool::write(results, &record("run-3", "t5", "cpu", "passed")).unwrap();
    let mut db = ResultsDb::open(&db_path(results)).unwrap();
    let report = db.ingest(results).unwrap();
    assert_eq!(report.ingested, 2, "{report:?}");
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert!(report.rejected[0].contains("the database refused its record"), "{report:?}");
    assert!(spool::spool_dir(results).join(format!("rejected/{}.json", broken.result_id)).is_file());
    assert_eq!(db.count("results").unwrap(), 2);
    // The next ingest is not stuck on it.
    spool::write(results, &record("run-3", "gpt2", "cpu", "passed")).unwrap();
    assert_eq!(db.ingest(results).unwrap().ingested, 1);
}

#[test]
fn a_spool_file_that_cannot_be_read_now_stays_for_the_next_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path();
    spool::write(results, &record("run-4", "vit", "cpu", "passed")).unwrap();
    // A directory where a file should be: reading it is an I/O error (EISDIR), for root too.
    let unreadable = spool::spool_dir(results).join("busy.json");
    std::fs::create_dir(&unreadable).unwrap();
    let mut db = ResultsDb::open(&db_path(results)).unwrap();
    let report = db.ingest(results).unwrap();
    assert_eq!((report.ingested, report.rejected.len(), report.deferred.len()), (1, 0, 1), "{report:?}");
    assert!(unreadable.is_dir(), "left where it was, not quarantined for good");
}

/// Child-process half of the lock test: holds the database open for a while. Ignored, so a
/// normal run never counts it as a pass; the lock test runs it with `--ignored`.
#[test]
#[ignore = "the child process of a_database_locked_by_another_process_is_a_clear_error_and_loses_nothing, which runs it"]
fn hold_results_db_open_helper() {
    let path = std::env::var("HFZOO_TEST_HOLD_DB")
        .expect("HFZOO_TEST_HOLD_DB names the database to hold (set by the lock test)");
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
        .args(["--exact", "hold_results_db_open_helper", "--ignored", "--nocapture"])
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

#[test]
fn a_stored_verdict_is_found_by_digest_and_recorded_as_reused_never_as_fresh() {
    use runtime::verdict::{reused_record, VerdictStore};
    let dir = tempfile::tempdir().unwrap();
    let store = VerdictStore::new(dir.path().join("verdicts"));
    let fresh = record("run-1", "bert", "cpu", "passed");
    assert!(store.find(&common::CPU, "d1").is_none());
    store.save(&common::CPU, "d1", &fresh).unwrap();
    assert_eq!(store.find(&common::CPU, "d1").as_ref(), Some(&fresh));
    assert!(store.find(&common::CPU, "d2").is_none(), "another digest finds nothing");
    // A failure is never stored: it runs again.
    store.save(&common::CPU, "d3", &record("run-1", "bert", "cpu", "failed")).unwrap();
    assert!(store.find(&common::CPU, "d3").is_none());
    // A corrupt stored verdict is ignored (the cell runs again), not a panic.
    let corrupt = dir.path().join("verdicts/cpu/bert/d4.json");
    std::fs::write(&corrupt, "{not json").unwrap();
    assert!(store.find(&common::CPU, "d4").is_none());

    let reused = reused_record(fresh.clone(), common::run_info("run-2", "host"), "d1");
    let from = reused.reused.as_ref().unwrap();
    assert_eq!((from.run_id.as_str(), from.digest.as_str()), ("run-1", "d1"));
    assert_eq!(reused.run.run_id, "run-2");
    assert_eq!(reused.result_id, result_id("run-2", "bert", "cpu"));
    assert_eq!(
        (reused.outcome.id(), &reused.measurements, &reused.samples),
        ("passed", &fresh.measurements, &fresh.samples),
        "timings stay those of the run that measured them"
    );
    // A reused record is never stored again as a source.
    store.save(&common::CPU, "d5", &reused).unwrap();
    assert!(store.find(&common::CPU, "d5").is_none());

    // The database and both reports mark it.
    let results = dir.path().join("results");
    spool::write(&results, &fresh).unwrap();
    spool::write(&results, &reused).unwrap();
    let mut db = ResultsDb::open(&db_path(&results)).unwrap();
    db.ingest(&results).unwrap();
    let cells = db.cells(&Scope::Run(Some("run-2".into()))).unwrap();
    assert_eq!(cells[0].reused_from.as_deref(), Some("run-1"));
    let first = db.cells(&Scope::Run(Some("run-1".into()))).unwrap();
    assert_eq!(first[0].reused_from, None);
    let text = hfzoo::results::report::markdown(&cells);
    assert!(text.contains("passed 1.50 ms, reused from run run-1"), "{text}");
}

#[test]
fn a_generation_cell_is_its_own_row_beside_the_forward_cell_of_its_model_and_hardware() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path();
    spool::write(results, &record("run-g", "llama", "cpu", "passed")).unwrap();
    let mut generation = record("run-g", "llama", "cpu", "failed");
    generation.kind = runtime::CellKind::Generate;
    generation.result_id =
        runtime::results::record::cell_result_id("run-g", "llama", "cpu", runtime::CellKind::Generate);
    spool::write(results, &generation).unwrap();
    let mut db = ResultsDb::open(&db_path(results)).unwrap();
    assert_eq!(db.ingest(results).unwrap().ingested, 2, "two spool files: the ids differ by kind");
    assert_eq!(db.count("results").unwrap(), 2);
    for scope in [Scope::Latest, Scope::Run(Some("run-g".into()))] {
        let forward = db.cells(&scope).unwrap();
        let generate = db.cells_of(&scope, runtime::CellKind::Generate).unwrap();
        assert_eq!(
            forward.iter().map(|c| (c.outcome.id(), c.kind)).collect::<Vec<_>>(),
            [("passed", runtime::CellKind::Forward)]
        );
        assert_eq!(
            generate.iter().map(|c| (c.outcome.id(), c.kind)).collect::<Vec<_>>(),
            [("failed", runtime::CellKind::Generate)]
        );
    }
}
