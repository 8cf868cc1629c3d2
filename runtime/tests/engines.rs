//! The ONNX engines for real: OpenVINO runs the exported ONNX file with parity on both input
//! sets; QNN is skipped here with the detected reason, and its session path refuses to run
//! without the QNN execution provider instead of falling back to ONNX Runtime's CPU kernels.

mod common;

use runtime::artifacts::{ArtifactCache, ArtifactFormat};
use runtime::suite::{evaluate_in, Outcome};

fn scratch_cache() -> (tempfile::TempDir, ArtifactCache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::new(dir.path().to_path_buf());
    (dir, cache)
}

#[test]
fn openvino_runs_the_onnx_artifact_and_matches_on_both_sets() {
    let found = runtime::detect(runtime::Hardware::Openvino);
    assert!(found.available, "scripts/setup.sh installs the openvino wheel; detection says: {}", found.reason);
    assert!(found.version.contains("inference precision f32"), "the f32 hint must hold: {}", found.version);
    let (_dir, cache) = scratch_cache();
    let evaluation = evaluate_in(&cache, &common::OPENVINO);
    assert_eq!(evaluation.outcome, Outcome::Passed, "{:?}", evaluation.outcome);
    let route = evaluation.route.expect("a route");
    assert!(route.starts_with("onnx via torchscript-opset17"), "{route}");
    let names: Vec<&str> = evaluation.measurements.iter().map(|m| m.metric.as_str()).collect();
    for metric in ["max_abs_diff_a_last_hidden_state", "max_abs_diff_b_last_hidden_state", "openvino_inference_f32", "cpu_avx512_bf16"] {
        assert!(names.contains(&metric), "{metric} missing from {names:?}");
    }
}

#[test]
fn qnn_is_skipped_with_the_detected_reason_on_a_machine_without_an_htp() {
    let found = runtime::detect(runtime::Hardware::Qnn);
    if found.available {
        return; // a Snapdragon machine: the suite runs it for real
    }
    let (_dir, cache) = scratch_cache();
    let Outcome::Skipped(reason) = evaluate_in(&cache, &common::QNN).outcome else { panic!("QNN must be skipped here") };
    assert!(reason.contains("/dev/fastrpc"), "{reason}");
}

#[test]
fn a_qnn_session_without_the_qnn_provider_is_an_error_not_a_cpu_session() {
    if runtime::detect(runtime::Hardware::Qnn).available {
        return;
    }
    let (_dir, cache) = scratch_cache();
    // The static-shape artifact QNN loads: one graph per input set, both checked at export.
    let artifact = cache.ensure(&common::QNN, ArtifactFormat::OnnxStatic).expect("onnx-static export");
    assert!(artifact.dir.join("model_b.onnx").is_file());
    // ONNX Runtime loads, the session options are set, and registering QNN (absent from the
    // plain onnxruntime wheel) fails the session instead of leaving it on the CPU provider.
    let error = runtime::backend::onnxruntime::library::qnn_session(&artifact.model(), std::path::Path::new("/nonexistent/libQnnHtp.so")).expect_err("no CPU fallback");
    let text = error.to_string();
    assert!(text.contains("QNN execution provider not registered"), "{text}");
    eprintln!("refused: {text}");
}
