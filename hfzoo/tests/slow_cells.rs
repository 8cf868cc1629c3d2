//! scripts/slowest.py on a run's spool records, as the test command reads the smoke cells it
//! runs in one process (they have no JUnit time): a cell whose `cell_seconds` passes the limit
//! fails it, named with the slow mark to add; cells of other runs and records without the
//! measurement are left out.

use std::process::Command;

/// A spool record of `model` on `hardware` in `run`, with `seconds` as its wall time if given.
fn record(run: &str, model: &str, hardware: &str, seconds: Option<f64>) -> serde_json::Value {
    let measurements: Vec<serde_json::Value> =
        seconds.map(|s| serde_json::json!({"metric": "cell_seconds", "value": s, "unit": "s"})).into_iter().collect();
    serde_json::json!({
        "run": {"run_id": run},
        "hardware": {"hardware": hardware},
        "model": {"model_type": model},
        "measurements": measurements,
    })
}

/// Runs slowest.py on a spool of `records` for run `smoke-1` with a 60 s limit.
fn slowest(records: &[serde_json::Value]) -> (i32, String) {
    let results = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(results.path().join("spool")).unwrap();
    for (index, record) in records.iter().enumerate() {
        std::fs::write(results.path().join(format!("spool/{index}.json")), record.to_string()).unwrap();
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/slowest.py");
    let output = Command::new("python3")
        .arg(script)
        .args(["--run", "smoke-1", "5", "--limit", "60"])
        .env("HFZOO_RESULTS_DIR", results.path())
        .output()
        .expect("python3 runs");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_cell_of_the_run_over_the_limit_fails_and_is_named_with_its_mark() {
    let (code, stderr) = slowest(&[
        record("smoke-1", "bert", "cpu", Some(2.5)),
        record("smoke-1", "mm-grounding-dino", "openvino", Some(61.0)),
        record("another-run", "vit", "cpu", Some(500.0)),
        record("smoke-1", "t5", "qnn", None),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("the 2 slowest of 2 tests (the records of run smoke-1)"), "{stderr}");
    assert!(stderr.contains("1 smoke cell test(s) took longer than the smoke tier's 60 s"), "{stderr}");
    assert!(stderr.contains("openvino::mm_grounding_dino::tests::matches_reference"), "the module's name: {stderr}");
    assert!(stderr.contains("keep it out on openvino only"), "{stderr}");
    assert!(!stderr.contains("vit"), "another run's cell is not this run's: {stderr}");
}

#[test]
fn cells_within_the_limit_pass() {
    let (code, stderr) = slowest(&[record("smoke-1", "bert", "cpu", Some(59.0))]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}
