//! Faults of the exporter process: one that stops (a hang in native code looks the same from
//! outside) is killed with its process group at its limit, and whoever waits for the cache's
//! export lock then proceeds. No engine needed: the exporter is a stand-in shell program.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use runtime::artifacts::{ArtifactCache, ArtifactFormat};

/// A stand-in for the venv's Python that does what the exporter does when a job starts (its
/// pid into the job's marker), then stops itself, as a process hung in native code would.
fn stopping_python(dir: &Path, marker: &Path, pid_file: &Path) -> std::path::PathBuf {
    let path = dir.join("python");
    let script =
        format!("#!/bin/sh\necho $$ > '{}'\necho $$ > '{}'\nkill -STOP $$\n", pid_file.display(), marker.display());
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_stopped_exporter_is_killed_at_its_limit_and_a_waiter_for_the_lock_then_proceeds() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("artifacts");
    let probe = ArtifactCache::new(cache_dir.clone());
    let artifact = probe.locate(&common::SPEC, ArtifactFormat::TorchScript, runtime::Hardware::Cpu);
    std::fs::create_dir_all(&cache_dir).unwrap();
    let pid_file = dir.path().join("exporter.pid");
    let python = stopping_python(dir.path(), Path::new(&format!("{}.started", artifact.dir.display())), &pid_file);
    let cache = ArtifactCache::new(cache_dir.clone())
        .with_python(python)
        .with_exporter_env("HFZOO_EXPORT_JOB_SECONDS", "1".into());

    let started = Instant::now();
    let waiter = std::thread::spawn(move || {
        // Starts once the stopped exporter holds the lock, and must get it after the kill.
        while !pid_file_exists(&cache_dir) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let waited = Instant::now();
        ArtifactCache::new(cache_dir)
            .with_lock_wait(Duration::from_secs(60))
            .lock("a second test")
            .map(|_| waited.elapsed())
    });
    let error = cache.ensure(&common::CPU, ArtifactFormat::TorchScript).unwrap_err().to_string();
    let took = started.elapsed();
    // The limit is 1 s and its grace 2 s; allow a few seconds more for a loaded machine.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(error.contains("failed (timeout)") && error.contains("made no progress on bert"), "{error}");
    assert!(error.contains("HFZOO_EXPORT_JOB_SECONDS") && error.contains("process group was killed"), "{error}");
    let manifest = artifact.manifest().unwrap();
    assert!(manifest.transient, "a time-out is retried by the next run");
    let pid = std::fs::read_to_string(dir.path().join("exporter.pid")).unwrap();
    assert!(!Path::new(&format!("/proc/{}", pid.trim())).exists(), "the stopped exporter {pid} is gone");
    let waited = waiter.join().unwrap().expect("the waiter gets the lock once the exporter is killed");
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
}

/// Whether the stand-in exporter has started (it writes its pid beside the cache).
fn pid_file_exists(cache_dir: &Path) -> bool {
    cache_dir.parent().unwrap().join("exporter.pid").is_file()
}

#[test]
fn a_single_export_holds_up_only_its_own_artifact_and_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("artifacts");
    let probe = ArtifactCache::new(cache_dir.clone());
    let torchscript = probe.locate(&common::SPEC, ArtifactFormat::TorchScript, runtime::Hardware::Cpu);
    let onnx = probe.locate(&common::SPEC, ArtifactFormat::Onnx, runtime::Hardware::Cpu);
    std::fs::create_dir_all(&cache_dir).unwrap();
    let pid_file = dir.path().join("exporter.pid");
    let python = stopping_python(dir.path(), Path::new(&format!("{}.started", torchscript.dir.display())), &pid_file);
    let cache = ArtifactCache::new(cache_dir.clone())
        .with_python(python)
        .with_exporter_env("HFZOO_EXPORT_JOB_SECONDS", "5".into());
    let exporting = std::thread::spawn(move || cache.ensure(&common::CPU, ArtifactFormat::TorchScript));
    while !pid_file_exists(&cache_dir) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The stopped exporter holds the TorchScript artifact's lock and shares the cache's.
    let short = ArtifactCache::new(cache_dir.clone()).with_lock_wait(Duration::from_millis(300));
    let other = short.lock_one(&onnx, "exporting bert (onnx)").expect("another artifact exports at once");
    drop(other);
    let same = short.lock_one(&torchscript, "exporting bert (torchscript) again").unwrap_err().to_string();
    assert!(same.contains("exporting bert (torchscript)") && same.contains("gave up"), "{same}");
    assert!(short.lock("exporting a batch").is_err(), "a batch waits for every single export");
    let error = exporting.join().unwrap().unwrap_err().to_string();
    assert!(error.contains("failed (timeout)"), "{error}");
    short.lock("exporting a batch").expect("free once the export is over");
}
