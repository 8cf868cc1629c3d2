//! The batch exporter run directly (no engine): its Python unit tests, and the second ONNX
//! route a file that fails its check takes.

use std::process::{Command, Stdio};

/// Whisper, tiny: its TorchScript-based ONNX graph feeds a bool tensor to CumSum in the
/// decoder, which ONNX Runtime rejects; the dynamo exporter's graph runs.
const WHISPER: &str = r#"{"version":1,"model_type":"whisper","config_class":"WhisperConfig","model_class":"WhisperModel","seed":0,
"dims":{"batch":{"size":2,"varied":3},"dec_seq":{"size":3,"varied":6},"frames":{"size":60}},
"inputs":[{"name":"input_features","kind":"uniform","shape":["batch",16,"frames"],"dtype":"float32","range":[-1.0,1.0]},
          {"name":"decoder_input_ids","kind":"token_ids","shape":["batch","dec_seq"],"dtype":"int64","range":[1.0,98.0]}],
"outputs":[{"name":"last_hidden_state","shape":["batch","dec_seq",16]},{"name":"encoder_last_hidden_state","shape":["batch",30,16]}],
"test_config":{"vocab_size":99,"num_mel_bins":16,"d_model":16,"encoder_layers":2,"decoder_layers":2,"encoder_attention_heads":4,
"decoder_attention_heads":4,"encoder_ffn_dim":17,"decoder_ffn_dim":17,"max_source_positions":30,"max_target_positions":40,
"pad_token_id":0,"bos_token_id":98,"eos_token_id":98,"decoder_start_token_id":85,"suppress_tokens":null,"begin_suppress_tokens":null}}"#;

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
    let request: serde_json::Value = serde_json::from_str(WHISPER).unwrap();
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
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(artifact.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "ok", "{manifest}");
    assert_eq!(manifest["export"]["exporter"], "dynamo-opset18", "{manifest}");
    let failed = manifest["export"]["failed_checks"].as_array().expect("the first exporter's check failure is recorded");
    assert_eq!(failed.len(), 1, "{manifest}");
    let first = failed[0].as_str().unwrap();
    assert!(first.starts_with("torchscript-opset17: ") && first.contains("CumSum"), "{first}");
    assert!(artifact.join("model.onnx").is_file() && artifact.join("reference_b.safetensors").is_file());
}
