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
    for metric in [
        "max_abs_diff_a_last_hidden_state",
        "max_abs_diff_b_last_hidden_state",
        "openvino_inference_f32",
        "cpu_avx512_bf16",
    ] {
        assert!(names.contains(&metric), "{metric} missing from {names:?}");
    }
    // The engine's verdict on the file is kept beside it: every skill of the case takes this route.
    let onnx = cache.ensure(&common::OPENVINO, ArtifactFormat::Onnx).unwrap();
    let version = runtime::detect(runtime::Hardware::Openvino).version;
    let kept = runtime::route::kept(&onnx, &common::OPENVINO, &version).expect("a kept engine verdict");
    assert_eq!(kept.failure, None);
    let backend = runtime::backend::for_hardware(runtime::Hardware::Openvino).unwrap();
    assert_eq!(
        runtime::route::choose(&cache, &common::OPENVINO, backend).unwrap().artifact.format,
        ArtifactFormat::Onnx
    );
}

#[test]
fn openvino_takes_its_ir_route_where_the_engine_fails_the_onnx_file_and_every_check_follows() {
    let (_dir, cache) = scratch_cache();
    let onnx = cache.ensure(&common::OPENVINO, ArtifactFormat::Onnx).expect("onnx export");
    // A file OpenVINO cannot read: the engine fails the ONNX route (as its ONNX frontend fails
    // funnel's or dbrx's graph, which ONNX Runtime runs and matches).
    std::fs::write(onnx.model(), b"not an onnx graph").unwrap();
    // Before any check the engine has not decided the route: the verdict digest does not know
    // it and runs nothing to learn it (no engine verdict appears beside the file).
    let backend = runtime::backend::for_hardware(runtime::Hardware::Openvino).unwrap();
    assert!(runtime::route::known(&cache, &common::OPENVINO, backend).unwrap().is_none());
    assert!(runtime::verdict::inputs_for(&cache, &common::OPENVINO).is_none());
    assert!(!onnx.dir.join("engine-openvino.json").exists(), "the digest ran the model");
    let evaluation = evaluate_in(&cache, &common::OPENVINO);
    assert_eq!(evaluation.outcome, Outcome::Passed, "{:?}", evaluation.outcome);
    let route = evaluation.route.expect("a route");
    assert!(route.starts_with("openvino-ir via openvino-pytorch-frontend"), "{route}");
    assert!(route.contains("after the onnx route failed on this engine"), "{route}");
    let version = runtime::detect(runtime::Hardware::Openvino).version;
    let kept = runtime::route::kept(&onnx, &common::OPENVINO, &version).expect("a kept engine verdict");
    assert!(kept.failure.is_some(), "{kept:?}");
    // The digest knows the route now, and skills and the other checks read the kept verdict
    // and take the IR route without running the file again.
    let known = runtime::route::known(&cache, &common::OPENVINO, backend).unwrap().expect("a decided route");
    assert_eq!(known.artifact.format, ArtifactFormat::OpenvinoIr);
    assert!(runtime::verdict::inputs_for(&cache, &common::OPENVINO).is_some());
    let chosen = runtime::route::choose(&cache, &common::OPENVINO, backend).unwrap();
    assert_eq!(chosen.artifact.format, ArtifactFormat::OpenvinoIr);
    assert!(chosen.left.as_deref().is_some_and(|left| left.starts_with("onnx route:")), "{chosen:?}");
    // Another engine version decides again.
    assert!(runtime::route::kept(&onnx, &common::OPENVINO, "another version").is_none());
}

#[test]
fn qnn_is_skipped_with_the_detected_reason_on_a_machine_without_an_htp() {
    let found = runtime::detect(runtime::Hardware::Qnn);
    if found.available {
        return; // a Snapdragon machine: the suite runs it for real
    }
    let (_dir, cache) = scratch_cache();
    let Outcome::Skipped(reason) = evaluate_in(&cache, &common::QNN).outcome else {
        panic!("QNN must be skipped here")
    };
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
    let error = runtime::backend::onnxruntime::library::qnn_session(
        &artifact.model(),
        std::path::Path::new("/nonexistent/libQnnHtp.so"),
    )
    .expect_err("no CPU fallback");
    let text = error.to_string();
    assert!(text.contains("QNN execution provider not registered"), "{text}");
    eprintln!("refused: {text}");
}
