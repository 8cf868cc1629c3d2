//! The batch exporter run directly (no engine): its Python unit tests, and the second ONNX
//! route a file that fails its check takes.

use std::process::{Command, Stdio};

/// PatchTST, tiny (the generator's request): the TorchScript-based exporter bakes the patch
/// count into its graph (`[2, 32, 32, 32]` where eager gives `[2, 1, 32, 32]`); the dynamo
/// exporter's graph computes it. (Whisper was this test's model until the bool `cumsum` rewrite
/// let its TorchScript-based graph pass.)
const PATCHTST: &str = include_str!("../../generated/requests/patchtst.json");

#[test]
fn exporter_unit_tests_pass() {
    let exporter_dir = runtime::paths::exporter().parent().unwrap().to_path_buf();
    let output = Command::new(runtime::paths::python())
        .args(["-m", "unittest", "discover", "-s"])
        .arg(&exporter_dir)
        .args(["-p", "test_*.py"])
        .output()
        .expect("the venv's python (bash scripts/setup.sh)");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the exporter's unit tests failed:\n{text}");
    assert!(text.contains("OK") && !text.contains("Ran 0 tests"), "{text}");
}

#[test]
fn an_onnx_file_that_fails_its_check_is_written_again_by_the_next_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let request: serde_json::Value = serde_json::from_str(PATCHTST).unwrap();
    let artifact = dir.path().join("onnx");
    let jobs = serde_json::json!({"jobs": [{"device": "cpu", "request": request, "artifacts": [{"format": "onnx", "key": "onnx", "dir": artifact}]}]});
    let mut child = Command::new(runtime::paths::python())
        .arg(runtime::paths::exporter())
        .env("HFZOO_EXPORT_THREADS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the venv's python (bash scripts/setup.sh)");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), jobs.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(artifact.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "ok", "{manifest}");
    assert_eq!(manifest["export"]["exporter"], "dynamo-opset18", "{manifest}");
    let failed =
        manifest["export"]["failed_checks"].as_array().expect("the first exporter's check failure is recorded");
    assert_eq!(failed.len(), 1, "{manifest}");
    let first = failed[0].as_str().unwrap();
    assert!(first.starts_with("torchscript-opset17: ") && first.contains("a shape frozen into the graph"), "{first}");
    assert!(artifact.join("model.onnx").is_file() && artifact.join("reference_b.safetensors").is_file());
}
