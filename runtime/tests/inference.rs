//! Real export + inference through the runtime on a tiny BERT, in a scratch cache.

mod common;

use runtime::artifacts::ArtifactCache;
use runtime::suite::{evaluate_in, Outcome};
use runtime::{Session, Tensor};

fn cache() -> (tempfile::TempDir, ArtifactCache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::new(dir.path().join("artifacts"));
    (dir, cache)
}

#[test]
fn real_inference_passes_then_a_corrupted_reference_fails_with_the_diff() {
    let (_dir, cache) = cache();
    let passed = evaluate_in(&cache, &common::CPU, &[&common::CPU]);
    assert_eq!(passed.outcome, Outcome::Passed, "{:?}", passed.outcome);
    for metric in ["load_ms", "first_inference_ms", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "max_abs_diff_b_last_hidden_state"] {
        assert!(passed.measurements.iter().any(|m| m.metric == metric), "missing {metric}");
    }
    // A warm cache does no export: same key, same directory, files untouched.
    let artifact = cache.locate(&common::SPEC, runtime::Hardware::Cpu);
    let stamp = std::fs::metadata(artifact.model()).unwrap().modified().unwrap();
    assert_eq!(evaluate_in(&cache, &common::CPU, &[&common::CPU]).outcome, Outcome::Passed);
    assert_eq!(std::fs::metadata(artifact.model()).unwrap().modified().unwrap(), stamp);

    // Corrupt one element of the cached reference for input set b.
    let mut reference = Tensor::read_safetensors(artifact.reference('b')).unwrap();
    let (_, output) = &mut reference[0];
    let _ = output.get(0).get(0).get(0).g_add_scalar_(0.5);
    Tensor::write_safetensors(&reference.iter().map(|(n, t)| (n.as_str(), t.shallow_clone())).collect::<Vec<_>>(), artifact.reference('b')).unwrap();
    let failed = evaluate_in(&cache, &common::CPU, &[&common::CPU]);
    let Outcome::Failed(detail) = failed.outcome else { panic!("corrupted reference must fail: {:?}", failed.outcome) };
    assert!(detail.contains("set b: output `last_hidden_state` differs from the eager PyTorch reference"), "{detail}");
    assert!(detail.contains("max abs diff 5.0") && detail.contains("flat index 0"), "{detail}");
}

#[test]
fn an_unexpected_pass_fails_and_names_the_metadata_to_update() {
    let (_dir, cache) = cache();
    let evaluation = evaluate_in(&cache, &common::CPU_EXPECTED_UNSUPPORTED, &[&common::CPU_EXPECTED_UNSUPPORTED]);
    let Outcome::Failed(detail) = evaluation.outcome else { panic!("{:?}", evaluation.outcome) };
    assert!(detail.contains("expected unsupported (pretend it cannot run) but it ran and matched"), "{detail}");
    assert!(detail.contains("update runtime/tests/common/mod.rs: set hardware.cpu.expected to pass"), "{detail}");
}

#[test]
fn absent_hardware_is_skipped_with_the_detected_reason() {
    let (_dir, cache) = cache();
    let detected = runtime::detect(runtime::Hardware::Cuda);
    let evaluation = evaluate_in(&cache, &common::CUDA, &[&common::CUDA]);
    if detected.available {
        assert_eq!(evaluation.outcome, Outcome::Passed);
    } else {
        assert_eq!(evaluation.outcome, Outcome::Skipped(detected.reason));
        assert!(!cache.dir().exists(), "a skipped case exports nothing");
    }
}

#[test]
fn the_session_rejects_static_dimension_dtype_and_count_violations() {
    let (_dir, cache) = cache();
    let artifact = cache.ensure(&common::CPU, &[]).unwrap();
    let session = Session::load(&common::CPU, &artifact.model()).unwrap();
    let ids = |b: i64, s: i64| Tensor::zeros([b, s], (tch::Kind::Int64, tch::Device::Cpu));
    let [out] = session.run::<1>(vec![ids(2, 9), ids(2, 9)]).expect("a dynamic seq of 9 runs");
    assert_eq!(out.size(), vec![2, 9, 32]);
    let batch = session.run::<1>(vec![ids(3, 7), ids(3, 7)]).err().unwrap().to_string();
    assert!(batch.contains("static dimension `batch` = 2") && batch.contains("got 3"), "{batch}");
    let mixed = session.run::<1>(vec![ids(2, 7), ids(2, 6)]).err().unwrap().to_string();
    assert!(mixed.contains("dimension `seq` is 7 in an earlier input but 6"), "{mixed}");
    let float = Tensor::zeros([2, 7], (tch::Kind::Float, tch::Device::Cpu));
    let dtype = session.run::<1>(vec![float, ids(2, 7)]).err().unwrap().to_string();
    assert!(dtype.contains("`input_ids` must be Int64"), "{dtype}");
    let count = session.run::<1>(vec![ids(2, 7)]).err().unwrap().to_string();
    assert!(count.contains("expected 2 inputs"), "{count}");
}

#[test]
fn a_model_the_exporter_cannot_build_reports_the_python_error() {
    static BROKEN_SPEC: runtime::ModelSpec = runtime::ModelSpec { model_class: "NoSuchModel", request_json: r#"{"config_class":"BertConfig","model_class":"NoSuchModel","model_type":"bert","dims":{},"inputs":[],"outputs":[],"seed":0,"test_config":{}}"#, ..common::SPEC };
    static BROKEN: runtime::Case = runtime::Case { spec: &BROKEN_SPEC, hardware: runtime::Hardware::Cpu, expected: runtime::Expected::Pass };
    let (_dir, cache) = cache();
    let Outcome::Failed(detail) = evaluate_in(&cache, &BROKEN, &[&BROKEN]).outcome else { panic!("must fail") };
    assert!(detail.contains("export of `bert` failed") && detail.contains("NoSuchModel"), "{detail}");
}
