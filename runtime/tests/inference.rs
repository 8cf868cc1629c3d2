//! Real export + inference through the runtime on a tiny BERT, in a scratch cache.

mod common;

use runtime::artifacts::{ArtifactCache, ArtifactFormat};
use runtime::suite::{evaluate_in, Outcome};
use runtime::tensor::{read_safetensors, write_safetensors};
use runtime::{HostTensor, InputSet, Session};

fn cache() -> (tempfile::TempDir, ArtifactCache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::new(dir.path().join("artifacts"));
    (dir, cache)
}

/// Artifact directories in the cache (not the lock or markers).
fn artifact_dirs(cache: &ArtifactCache) -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(cache.dir())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir() && e.file_name() != runtime::artifacts::LOCKS_DIR)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn real_inference_passes_then_a_one_hundredth_change_in_a_reference_fails() {
    let (_dir, cache) = cache();
    let passed = evaluate_in(&cache, &common::CPU);
    assert_eq!(passed.outcome, Outcome::Passed, "{:?}", passed.outcome);
    for metric in [
        "load_ms",
        "first_inference_ms",
        "latency_p50_ms",
        "latency_p90_ms",
        "latency_p99_ms",
        "max_abs_diff_b_last_hidden_state",
        "tolerance_abs_last_hidden_state",
        "torch_threads",
    ] {
        assert!(passed.measurements.iter().any(|m| m.metric == metric), "missing {metric}");
    }
    // The tolerance was derived from measured float32 error, far below the old 1e-4.
    let artifact = cache.locate(&common::SPEC, ArtifactFormat::TorchScript, runtime::Hardware::Cpu);
    let parity = artifact.parity().unwrap();
    assert_eq!(parity.method, runtime::artifacts::ParityMethod::Float64);
    let tolerance = parity.outputs["last_hidden_state"];
    assert!(tolerance.abs > 0.0 && tolerance.abs < 1e-4, "{tolerance:?}");
    // A warm cache does no export: same key, same directory, files untouched.
    let stamp = std::fs::metadata(artifact.model()).unwrap().modified().unwrap();
    assert_eq!(evaluate_in(&cache, &common::CPU).outcome, Outcome::Passed);
    assert_eq!(std::fs::metadata(artifact.model()).unwrap().modified().unwrap(), stamp);

    // Change one element of the cached reference for input set b by 1e-2.
    let mut reference = read_safetensors(&artifact.reference(InputSet::B)).unwrap();
    reference[0].1 = reference[0].1.with_f32_offset(5, 1e-2).unwrap();
    write_safetensors(&artifact.reference(InputSet::B), &reference).unwrap();
    let failed = evaluate_in(&cache, &common::CPU);
    let Outcome::Failed(detail) = failed.outcome else { panic!("a changed reference must fail: {:?}", failed.outcome) };
    assert!(detail.contains("set b: output `last_hidden_state` differs from the eager PyTorch reference"), "{detail}");
    assert!(detail.contains("flat index 5") && detail.contains("[trace-specialised]"), "{detail}");
}

#[test]
fn a_single_case_on_a_cold_cache_exports_only_its_own_artifact() {
    let (_dir, cache) = cache();
    let artifact = cache.ensure(&common::CPU, ArtifactFormat::TorchScript).unwrap();
    assert_eq!(artifact_dirs(&cache), vec![artifact.dir.file_name().unwrap().to_string_lossy().into_owned()]);
    assert!(
        artifact.dir.file_name().unwrap().to_string_lossy().starts_with("bert-torchscript-cpu-"),
        "{}",
        artifact.dir.display()
    );
}

#[test]
fn an_interrupted_export_is_retried() {
    let (_dir, cache) = cache();
    let artifact = cache.locate(&common::SPEC, ArtifactFormat::TorchScript, runtime::Hardware::Cpu);
    // What an exporter killed mid-job (Ctrl-C, an OOM kill) leaves: its marker, no manifest.
    std::fs::create_dir_all(cache.dir()).unwrap();
    std::fs::write(format!("{}.started", artifact.dir.display()), "4242").unwrap();
    let built = cache
        .ensure(&common::CPU, ArtifactFormat::TorchScript)
        .expect("the interrupted export is built again, not read as a crash");
    assert_eq!(built.manifest().unwrap().status, runtime::artifacts::ManifestStatus::Ok);
    assert!(!std::path::Path::new(&format!("{}.started", artifact.dir.display())).exists(), "the stale marker is gone");
}

#[test]
fn a_transient_failure_is_retried_and_a_cached_one_says_how_to_retry() {
    let (_dir, cache) = cache();
    let artifact = cache.locate(&common::SPEC, ArtifactFormat::TorchScript, runtime::Hardware::Cpu);
    std::fs::create_dir_all(&artifact.dir).unwrap();
    let crash = serde_json::json!({"status": "error", "category": "crash", "transient": true, "error": "the exporter process died"});
    std::fs::write(artifact.manifest_path(), crash.to_string()).unwrap();
    assert!(cache.needs_export(&artifact));
    assert_eq!(
        cache.ensure(&common::CPU, ArtifactFormat::TorchScript).unwrap().manifest().unwrap().status,
        runtime::artifacts::ManifestStatus::Ok
    );

    let broken = cache.locate(&common::BROKEN_SPEC, ArtifactFormat::TorchScript, runtime::Hardware::Cpu);
    let fresh = cache.ensure(&common::BROKEN, ArtifactFormat::TorchScript).unwrap_err().to_string();
    assert!(fresh.contains("export of `bert` failed (build)") && fresh.contains("NoSuchModel"), "{fresh}");
    assert!(!broken.manifest().unwrap().transient, "a Python failure is deterministic: cached");
    // Another process (a fresh cache object is not enough: keys tried are per process) would
    // read the cached failure; its message names the way to retry.
    let cached = cache.ready(&broken).unwrap_err().to_string();
    assert!(cached.contains("NoSuchModel"), "{cached}");
}

#[test]
fn expected_unsupported_must_fail_in_the_recorded_category() {
    let (_dir, cache) = cache();
    let as_build = evaluate_in(&cache, &common::BROKEN_AS_BUILD);
    assert!(matches!(as_build.outcome, Outcome::Unsupported { .. }), "{:?}", as_build.outcome);
    let Outcome::Failed(detail) = evaluate_in(&cache, &common::BROKEN_AS_TORCHSCRIPT).outcome else {
        panic!("another category must fail")
    };
    assert!(
        detail.contains("expected unsupported as `torchscript`") && detail.contains("it failed as `build`"),
        "{detail}"
    );
    assert!(detail.contains("set hardware.cpu.category to build"), "{detail}");
}

#[test]
fn a_missing_exporter_is_not_an_expected_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::new(dir.path().join("artifacts")).with_python(dir.path().join("no-venv/bin/python"));
    let Outcome::Failed(detail) = evaluate_in(&cache, &common::CPU_EXPECTED_UNSUPPORTED).outcome else {
        panic!("no exporter must fail")
    };
    assert!(detail.contains("it failed as `environment`") && detail.contains("scripts/setup.sh"), "{detail}");
}

#[test]
fn an_unexpected_pass_fails_and_names_the_metadata_to_update() {
    let (_dir, cache) = cache();
    let evaluation = evaluate_in(&cache, &common::CPU_EXPECTED_UNSUPPORTED);
    let Outcome::Failed(detail) = evaluation.outcome else { panic!("{:?}", evaluation.outcome) };
    assert!(detail.contains("expected unsupported (pretend it cannot run) but it ran and matched"), "{detail}");
    assert!(detail.contains("update runtime/tests/common/mod.rs: set hardware.cpu.expected to pass"), "{detail}");
}

#[test]
fn absent_hardware_is_skipped_with_the_detected_reason() {
    let (_dir, cache) = cache();
    let detected = runtime::detect(runtime::Hardware::Cuda);
    let evaluation = evaluate_in(&cache, &common::CUDA);
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
    let artifact = cache.ensure(&common::CPU, ArtifactFormat::TorchScript).unwrap();
    let session = Session::load(&common::CPU, &artifact).unwrap();
    let ids = |b: i64, s: i64| HostTensor::full(&[b, s], 0i64).unwrap();
    let [out] = session.run::<1>(vec![ids(2, 9), ids(2, 9)]).expect("a dynamic seq of 9 runs");
    assert_eq!(out.shape(), &[2, 9, 32]);
    assert_eq!(out.dtype(), runtime::DType::Float32);
    let batch = session.run::<1>(vec![ids(3, 7), ids(3, 7)]).err().unwrap().to_string();
    assert!(batch.contains("static dimension `batch` = 2") && batch.contains("got 3"), "{batch}");
    let mixed = session.run::<1>(vec![ids(2, 7), ids(2, 6)]).err().unwrap().to_string();
    assert!(mixed.contains("dimension `seq` is 7 in an earlier input but 6"), "{mixed}");
    let float = HostTensor::full(&[2, 7], 0f32).unwrap();
    let dtype = session.run::<1>(vec![float, ids(2, 7)]).err().unwrap().to_string();
    assert!(dtype.contains("`input_ids` must be Int64"), "{dtype}");
    let count = session.run::<1>(vec![ids(2, 7)]).err().unwrap().to_string();
    assert!(count.contains("expected 2 inputs"), "{count}");
}

#[test]
fn a_time_out_in_any_route_is_transient_and_never_the_routes_category() {
    // The exporter run directly with a job budget shorter than the job: the time-out fires in
    // whichever step is running (often inside a format's route, whose own `except` records
    // that route's failure category). Whatever it interrupts, every artifact not yet published
    // must read as a transient time-out (retried by the next run), never as a verdict.
    let dir = tempfile::tempdir().unwrap();
    let request: serde_json::Value = serde_json::from_str(&common::SPEC.request_json).unwrap();
    let artifact = |format: &str, fallback_for: Option<&str>| serde_json::json!({"format": format, "key": format, "dir": dir.path().join(format), "fallback_for": fallback_for});
    let jobs = serde_json::json!({"jobs": [{"device": "cpu", "request": request, "artifacts": [artifact("torchscript", None), artifact("onnx", None), artifact("openvino-ir", Some("onnx"))]}]});
    let mut child = std::process::Command::new(runtime::paths::python())
        .arg(runtime::paths::exporter())
        .env("HFZOO_EXPORT_JOB_SECONDS", "0.6")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the venv's python (bash scripts/setup.sh)");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), jobs.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let mut timed_out = 0;
    for format in ["torchscript", "onnx", "openvino-ir"] {
        let path = dir.path().join(format).join("manifest.json");
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if manifest["status"] == "ok" || manifest["status"] == "not-needed" {
            continue;
        }
        assert_eq!(manifest["category"], "timeout", "{format}: {manifest}");
        assert_eq!(manifest["transient"], true, "{format}: {manifest}");
        assert!(manifest["error"].as_str().unwrap().contains("HFZOO_EXPORT_JOB_SECONDS"), "{manifest}");
        timed_out += 1;
    }
    assert!(timed_out > 0, "a 0.6 s budget cannot hold a three-format export");
}

/// Set in the child process of the test below.
const STORE_CHILD_ENV: &str = "HFZOO_TEST_STORE_CHILD";

#[test]
fn a_verdict_measured_under_an_injected_delay_is_never_stored_for_reuse() {
    if std::env::var_os(STORE_CHILD_ENV).is_some() {
        runtime::suite::assert_case(&common::CPU, &[&common::CPU]);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |inject: Option<&str>| {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "a_verdict_measured_under_an_injected_delay_is_never_stored_for_reuse",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(STORE_CHILD_ENV, "1")
            .env("HFZOO_CACHE_DIR", dir.path().join("cache"))
            .env("HFZOO_RESULTS_DIR", dir.path().join("results"))
            .env("HFZOO_REUSE_VERDICTS", "1")
            .env_remove(runtime::measure::INJECT_DELAY_ENV);
        if let Some(setting) = inject {
            command.env(runtime::measure::INJECT_DELAY_ENV, setting);
        }
        let output = command.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{text}");
        text
    };
    let stored = || {
        walk(&dir.path().join("cache/verdicts"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .count()
    };
    let delayed = run(Some("bert:1"));
    assert!(delayed.contains("NOT STORED") && delayed.contains("HFZOO_TEST_INJECT_DELAY=bert:1"), "{delayed}");
    assert_eq!(stored(), 0, "a delayed pass is not kept for reuse");
    let plain = run(None);
    assert!(plain.contains("PASSED"), "{plain}");
    assert_eq!(stored(), 1, "the same cell without the setting is kept");
}

/// Every file under `dir` (none when it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn an_export_builds_only_what_is_missing_and_leaves_a_published_artifact_in_place() {
    use std::os::unix::fs::MetadataExt;
    let (_dir, cache) = cache();
    let torchscript = cache.ensure(&common::CPU, ArtifactFormat::TorchScript).unwrap();
    let before = std::fs::metadata(torchscript.model()).unwrap();
    let onnx = cache.locate(&common::SPEC, ArtifactFormat::Onnx, runtime::Hardware::Cpu);
    // A batch asking for both formats, as `hfzoo export --hardware cpu,openvino` does.
    let lock = cache.lock("a test's batch").unwrap();
    cache
        .export(
            "cpu",
            vec![runtime::artifacts::ExportJob::new(
                &common::SPEC.request_json,
                vec![torchscript.clone(), onnx.clone()],
            )],
        )
        .unwrap();
    drop(lock);
    let after = std::fs::metadata(torchscript.model()).unwrap();
    assert_eq!(
        (after.ino(), after.mtime_nsec()),
        (before.ino(), before.mtime_nsec()),
        "the published TorchScript artifact was rebuilt under its readers"
    );
    assert_eq!(
        onnx.manifest().unwrap().status,
        runtime::artifacts::ManifestStatus::Ok,
        "the missing ONNX artifact was built"
    );
}
