//! Runs the Python batch exporter for a list of jobs (in one or more processes), and records
//! what a dead exporter process could not: the job it died in.

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use super::ExportJob;
use crate::error::{Error, Result};

/// Environment variable: how many exporter processes share a batch (default: one per CPU,
/// at most 4; `1` builds everything in one process).
pub const PROCESSES_ENV: &str = "HFZOO_EXPORT_PROCESSES";

/// The number of exporter processes for `jobs` jobs (`HFZOO_EXPORT_PROCESSES`, else one per
/// CPU up to 4), never more than there are jobs.
pub fn processes(jobs: usize) -> usize {
    let wanted = std::env::var(PROCESSES_ENV).ok().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0).unwrap_or_else(cpus);
    wanted.min(jobs).max(1)
}

/// Environment variable the runtime sets for each exporter process: its torch threads.
const THREADS_ENV: &str = "HFZOO_EXPORT_THREADS";

/// Torch threads for each of `processes` exporter processes: the CPUs (at most 4) shared out,
/// at least one each, so parallel exporters never oversubscribe the cores.
fn threads_per_process(processes: usize) -> usize {
    (cpus() / processes.max(1)).max(1)
}

/// The CPUs the exporters may use: this machine's, at most 4.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
}

/// Builds every job, split over `processes` exporter processes (jobs dealt round-robin, so
/// each gets a share of the slow ones); each process prints its own `[i/n]` progress. Every
/// job is seeded by its own request, so the split does not change what is built. Returns the
/// first error of any process after all have finished.
/// `env` goes to every exporter process besides the runtime's own settings (the checkpoint
/// exporter's directories, by digest).
pub fn run(python: &Path, exporter: &Path, env: &[(String, String)], device: &str, jobs: Vec<ExportJob<'_>>) -> Result<()> {
    let count = processes(jobs.len());
    let threads = threads_per_process(count);
    if count <= 1 {
        return run_one(python, exporter, env, device, jobs, threads);
    }
    eprintln!("exporter: {} model(s) over {count} processes ({PROCESSES_ENV} sets how many)", jobs.len());
    let mut shards: Vec<Vec<ExportJob<'_>>> = (0..count).map(|_| Vec::new()).collect();
    for (index, job) in jobs.into_iter().enumerate() {
        shards[index % count].push(job);
    }
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shards.into_iter().map(|shard| scope.spawn(move || run_one(python, exporter, env, device, shard, threads))).collect();
        handles.into_iter().map(|handle| handle.join().unwrap_or_else(|_| Err(Error::Exporter("a thread driving an exporter process panicked".into())))).collect()
    });
    results.into_iter().collect()
}

/// Builds every job in one exporter process. Markers left by an earlier exporter that was
/// interrupted (Ctrl-C, an OOM kill) are stale while the caller holds the cache lock: those
/// jobs are simply built again. If the process dies, the job whose marker it left is recorded
/// as a transient crash (the next run retries it) and a new process takes the rest.
fn run_one(python: &Path, exporter: &Path, env: &[(String, String)], device: &str, jobs: Vec<ExportJob<'_>>, threads: usize) -> Result<()> {
    let mut pending = jobs;
    for artifact in pending.iter().flat_map(|job| &job.artifacts) {
        let _ = std::fs::remove_file(artifact.marker());
    }
    loop {
        pending.retain(|job| job.artifacts.iter().any(|a| !a.exists()));
        if pending.is_empty() {
            return Ok(());
        }
        let before = pending.len();
        let Some(status) = once(python, exporter, env, device, &pending, threads)? else {
            pending.retain(|job| job.artifacts.iter().any(|a| !a.exists()));
            return match pending.first().and_then(|job| job.artifacts.iter().find(|a| !a.exists())) {
                None => Ok(()),
                Some(missing) => Err(Error::Exporter(format!("{} finished without writing {}", exporter.display(), missing.manifest_path().display()))),
            };
        };
        let mut crashed = 0;
        for job in &pending {
            let died_in = job.artifacts.iter().any(|a| a.marker().is_file());
            if died_in {
                for artifact in &job.artifacts {
                    // A format the job published before it died stays as it is.
                    if !artifact.exists() {
                        record_crash(artifact, &status)?;
                    }
                    let _ = std::fs::remove_file(artifact.marker());
                }
                crashed += 1;
            }
        }
        pending.retain(|job| job.artifacts.iter().any(|a| !a.exists()));
        if pending.len() == before && crashed == 0 {
            return Err(Error::Exporter(format!("{} exited with {status} before finishing any job (its stderr is above)", exporter.display())));
        }
        if !pending.is_empty() {
            eprintln!("exporter: exited with {status}; restarting for the {} model(s) still missing", pending.len());
        }
    }
}

/// One exporter process: `None` when it exited cleanly, else its exit status.
fn once(python: &Path, exporter: &Path, env: &[(String, String)], device: &str, jobs: &[ExportJob<'_>], threads: usize) -> Result<Option<ExitStatus>> {
    if !python.is_file() {
        return Err(Error::Exporter(format!("{} not found: run `bash scripts/setup.sh` first", python.display())));
    }
    let mut payload = Vec::new();
    for job in jobs {
        let request: serde_json::Value = serde_json::from_str(job.request_json).map_err(|source| Error::Json { context: "the exporter request".into(), source })?;
        let artifacts: Vec<serde_json::Value> = job
            .artifacts
            .iter()
            .map(|a| {
                let fallback_for = job.fallbacks.iter().find(|(f, _)| *f == a.format).map(|(_, of)| of.id());
                serde_json::json!({"format": a.format.id(), "key": a.key, "dir": a.dir, "fallback_for": fallback_for})
            })
            .collect();
        payload.push(serde_json::json!({"device": device, "request": request, "artifacts": artifacts}));
    }
    let payload = serde_json::json!({ "jobs": payload });
    let mut child = Command::new(python)
        .arg(exporter)
        .env(THREADS_ENV, threads.to_string())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::Exporter(format!("cannot start {}: {e}", python.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(payload.to_string().as_bytes()).map_err(|e| Error::Exporter(format!("cannot send jobs: {e}")))?;
    }
    let output = child.wait_with_output().map_err(|e| Error::Exporter(e.to_string()))?;
    Ok((!output.status.success()).then_some(output.status))
}

/// The manifest of a job the exporter process died in: a transient failure.
fn record_crash(artifact: &super::Artifact, status: &ExitStatus) -> Result<()> {
    let manifest = serde_json::json!({
        "status": "error",
        "key": artifact.key,
        "model_type": artifact.model_type,
        "format": artifact.format.id(),
        "category": export_request::Category::Crash.id(),
        "transient": true,
        "error": format!("the exporter process died while exporting this model ({status}: a crash in native code, or killed); the next run retries it"),
    });
    std::fs::create_dir_all(&artifact.dir).map_err(Error::io("create directory", &artifact.dir))?;
    let path = artifact.manifest_path();
    let tmp = artifact.dir.join(".manifest.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&manifest).expect("json") + "\n").map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))
}

#[cfg(test)]
mod tests {
    use super::processes;

    #[test]
    fn never_more_processes_than_jobs() {
        assert_eq!(processes(1), 1, "one job (a test exporting its own artifact) gets one process");
        assert_eq!(processes(0), 1);
        if std::env::var(super::PROCESSES_ENV).is_err() {
            assert_eq!(processes(1000), super::cpus());
        }
    }

    #[test]
    fn parallel_exporters_share_the_cpus_without_oversubscribing() {
        let cpus = super::cpus();
        assert_eq!(super::threads_per_process(1), cpus, "one process uses every CPU (up to 4)");
        assert_eq!(super::threads_per_process(cpus), 1);
        assert!(super::threads_per_process(64) >= 1, "never zero threads");
        for processes in 1..=4 {
            assert!(super::threads_per_process(processes) * processes <= cpus.max(processes));
        }
    }
}
