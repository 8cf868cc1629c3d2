//! Runs the Python batch exporter for a list of jobs (in one or more processes), and records
//! what a dead exporter process could not: the job it died in.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::ExportJob;
use crate::error::{Error, Result};

/// Environment variable: how many exporter processes share a batch (default: one per CPU,
/// at most 4; `1` builds everything in one process).
pub const PROCESSES_ENV: &str = "HFZOO_EXPORT_PROCESSES";

/// The number of exporter processes for `jobs` jobs (`HFZOO_EXPORT_PROCESSES`, else one per
/// CPU up to 4), never more than there are jobs.
pub fn processes(jobs: usize) -> usize {
    let wanted =
        std::env::var(PROCESSES_ENV).ok().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0).unwrap_or_else(cpus);
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
pub fn run(
    python: &Path,
    exporter: &Path,
    env: &[(String, String)],
    device: &str,
    jobs: Vec<ExportJob<'_>>,
) -> Result<()> {
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
        let handles: Vec<_> = shards
            .into_iter()
            .map(|shard| scope.spawn(move || run_one(python, exporter, env, device, shard, threads)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(Error::Exporter("a thread driving an exporter process panicked".into())))
            })
            .collect()
    });
    results.into_iter().collect()
}

/// Builds every job in one exporter process. Markers left by an earlier exporter that was
/// interrupted (Ctrl-C, an OOM kill) are stale while the caller holds the cache lock: those
/// jobs are simply built again. If the process dies, the job whose marker it left is recorded
/// as a transient crash (the next run retries it) and a new process takes the rest; if it
/// makes no progress within the job's limit, its whole process group is killed and the job it
/// was on is recorded as a transient time-out.
fn run_one(
    python: &Path,
    exporter: &Path,
    env: &[(String, String)],
    device: &str,
    jobs: Vec<ExportJob<'_>>,
    threads: usize,
) -> Result<()> {
    let mut pending = jobs;
    for artifact in pending.iter().flat_map(|job| &job.artifacts) {
        let _ = std::fs::remove_file(artifact.marker());
    }
    let limit = job_limit(env);
    loop {
        // After a crash, only what the dead process did not publish: what it did stays as it is.
        for job in &mut pending {
            job.artifacts.retain(|a| !a.exists());
        }
        pending.retain(|job| !job.artifacts.is_empty());
        if pending.is_empty() {
            return Ok(());
        }
        let before = pending.len();
        let cause = match once(python, exporter, env, device, &pending, threads, limit)? {
            Ended::Clean => {
                pending.retain(|job| job.artifacts.iter().any(|a| !a.exists()));
                return match pending.first().and_then(|job| job.artifacts.iter().find(|a| !a.exists())) {
                    None => Ok(()),
                    Some(missing) => Err(Error::Exporter(format!(
                        "{} finished without writing {}",
                        exporter.display(),
                        missing.manifest_path().display()
                    ))),
                };
            }
            Ended::Failed(status) => Cause::Died(status),
            Ended::Overran(index, waited) => {
                // The job it hung on: the one whose marker is there, else the one it was due
                // to start (a process that hung before writing any marker).
                let blamed = &pending[index];
                for artifact in blamed.artifacts.iter().filter(|a| !a.exists()) {
                    record_failure(artifact, &Cause::Overran(waited))?;
                }
                Cause::Overran(waited)
            }
        };
        let mut crashed = 0;
        for job in &pending {
            let died_in = job.artifacts.iter().any(|a| a.marker().is_file());
            if died_in {
                for artifact in &job.artifacts {
                    // A format the job published before it died stays as it is.
                    if !artifact.exists() {
                        record_failure(artifact, &cause)?;
                    }
                    let _ = std::fs::remove_file(artifact.marker());
                }
                crashed += 1;
            }
        }
        pending.retain(|job| job.artifacts.iter().any(|a| !a.exists()));
        if pending.len() == before && crashed == 0 {
            return Err(Error::Exporter(format!(
                "{} {cause} before finishing any job (its stderr is above)",
                exporter.display()
            )));
        }
        if !pending.is_empty() {
            eprintln!("exporter: {cause}; restarting for the {} model(s) still missing", pending.len());
        }
    }
}

/// Environment variable: the exporter's limit for one job in seconds (default 300), which
/// the exporter enforces in Python and the runtime, with a grace, on the whole process.
pub const JOB_SECONDS_ENV: &str = "HFZOO_EXPORT_JOB_SECONDS";

/// The longest an exporter process may go without progress: the job limit (from the
/// exporter's environment, else this process's, else 300 s) and a grace of a tenth of it, at
/// least 2 s, so that the exporter's own time-out (which records a cleaner message) fires first.
/// `None` where the limit is 0 or less: as for the exporter's own timer, no limit.
fn job_limit(env: &[(String, String)]) -> Option<Duration> {
    let configured = env
        .iter()
        .find(|(name, _)| name == JOB_SECONDS_ENV)
        .map(|(_, value)| value.clone())
        .or_else(|| std::env::var(JOB_SECONDS_ENV).ok());
    let seconds = configured.and_then(|v| v.trim().parse::<f64>().ok()).filter(|s| s.is_finite()).unwrap_or(300.0);
    (seconds > 0.0).then(|| Duration::from_secs_f64(seconds + (seconds / 10.0).max(2.0)))
}

/// How one exporter process ended.
enum Ended {
    /// It exited with success.
    Clean,
    /// It exited with a failure or was killed by a signal.
    Failed(ExitStatus),
    /// It made no progress for this long; its process group was killed while it was on the
    /// pending job of this index.
    Overran(usize, Duration),
}

/// Why an exporter process left jobs unfinished.
enum Cause {
    /// It died (its status).
    Died(ExitStatus),
    /// It was killed after going this long without progress.
    Overran(Duration),
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Died(status) => write!(f, "exited with {status}"),
            Cause::Overran(limit) => {
                write!(f, "made no progress for {:.0} s and was killed with its process group", limit.as_secs_f64())
            }
        }
    }
}

/// Which job an exporter process is on, from the markers and manifests it writes: jobs run in
/// order, each writes its markers when it starts, its manifests, then removes its markers.
struct Progress {
    /// The first job not yet finished.
    job: usize,
    /// Whether that job's marker is there (it has started).
    started: bool,
}

impl Progress {
    fn read(jobs: &[ExportJob<'_>], from: usize) -> Self {
        let mut job = from;
        while job < jobs.len() {
            let started = jobs[job].artifacts.iter().any(|a| a.marker().is_file());
            if started || jobs[job].artifacts.iter().any(|a| !a.exists()) {
                return Self { job, started };
            }
            job += 1;
        }
        Self { job, started: false }
    }
}

/// One exporter process in its own process group, killed with the caller's thread (parent-death
/// signal) and, with its whole group, when it goes `limit` without progress.
fn once(
    python: &Path,
    exporter: &Path,
    env: &[(String, String)],
    device: &str,
    jobs: &[ExportJob<'_>],
    threads: usize,
    limit: Option<Duration>,
) -> Result<Ended> {
    if !python.is_file() {
        return Err(Error::Exporter(format!("{} not found: run `bash scripts/setup.sh` first", python.display())));
    }
    let mut batch = export_request::ExportBatch { jobs: Vec::new() };
    for job in jobs {
        let request = export_request::ExportRequest::parse(job.request_json)
            .map_err(|why| Error::Exporter(format!("the exporter request: {why}")))?;
        let artifacts = job
            .artifacts
            .iter()
            .map(|a| export_request::JobArtifact {
                format: a.format.id().into(),
                key: a.key.clone(),
                dir: a.dir.clone(),
                fallback_for: job.fallbacks.iter().find(|(f, _)| *f == a.format).map(|(_, of)| of.id().into()),
            })
            .collect();
        batch.jobs.push(export_request::ExportJob { device: device.into(), request, artifacts });
    }
    let payload =
        serde_json::to_string(&batch).map_err(|source| Error::Json { context: "the export jobs".into(), source })?;
    let mut command = Command::new(python);
    command
        .arg(exporter)
        .env(THREADS_ENV, threads.to_string())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| Error::Exporter(format!("cannot start {}: {e}", python.display())))?;
    // Written from a thread: a process that stops before reading must not block this one.
    let feeder = child.stdin.take().map(|mut stdin| std::thread::spawn(move || stdin.write_all(payload.as_bytes())));
    let mut progress = Progress::read(jobs, 0);
    let mut since = Instant::now();
    let mut moved = false;
    let ended = loop {
        if let Some(status) =
            child.try_wait().map_err(|e| Error::Exporter(format!("waiting for {}: {e}", exporter.display())))?
        {
            break if status.success() { Ended::Clean } else { Ended::Failed(status) };
        }
        let now = Progress::read(jobs, progress.job);
        if (now.job, now.started) != (progress.job, progress.started) {
            since = Instant::now();
            moved = true;
        }
        progress = now;
        // Until its first job starts, the process also imports torch and transformers.
        let allowed = limit.map(|limit| if moved || progress.started { limit } else { limit.max(STARTUP) });
        if let Some(allowed) = allowed.filter(|allowed| since.elapsed() > *allowed) {
            let model =
                jobs.get(progress.job).and_then(|job| job.artifacts.first()).map_or("?", |a| a.model_type.as_str());
            // To the real stderr: a test harness captures `eprintln!`, and a kill must be seen.
            let _ = writeln!(std::io::stderr(), "exporter: no progress on {model} for {:.0} s (the job limit {JOB_SECONDS_ENV} and a grace): killing its process group {}", allowed.as_secs_f64(), child.id());
            // SAFETY: a plain system call on the group this process created for the child.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            break Ended::Overran(progress.job.min(jobs.len().saturating_sub(1)), allowed);
        }
        std::thread::sleep(POLL);
    };
    if let Some(feeder) = feeder {
        match feeder.join() {
            Ok(Err(error)) if matches!(ended, Ended::Clean) => {
                return Err(Error::Exporter(format!("cannot send jobs: {error}")))
            }
            _ => {}
        }
    }
    Ok(ended)
}

/// The least time an exporter process gets before its first job starts (its imports).
const STARTUP: Duration = Duration::from_secs(60);

/// How often a running exporter's progress is looked at.
const POLL: Duration = Duration::from_millis(200);

/// The manifest of a job an exporter process died in or hung on: a transient failure.
fn record_failure(artifact: &super::Artifact, cause: &Cause) -> Result<()> {
    let (category, error) = match cause {
        Cause::Died(status) => (
            export_request::Category::Crash,
            format!("the exporter process died while exporting this model ({status}: a crash in native code, or killed); the next run retries it"),
        ),
        Cause::Overran(limit) => (
            export_request::Category::Timeout,
            format!(
                "the exporter made no progress on {} for {:.0} s (the job limit {JOB_SECONDS_ENV} and a grace: a hang in native code, or a stopped process); its process group was killed and the next run retries it",
                artifact.model_type,
                limit.as_secs_f64()
            ),
        ),
    };
    let manifest = super::Manifest {
        status: super::ManifestStatus::Error,
        key: artifact.key.clone(),
        model_type: artifact.model_type.clone(),
        format: Some(artifact.format),
        file: None,
        category: Some(category),
        transient: true,
        error: Some(error),
        export: None,
        parity: None,
    };
    std::fs::create_dir_all(&artifact.dir).map_err(Error::io("create directory", &artifact.dir))?;
    let path = artifact.manifest_path();
    let tmp = artifact.dir.join(".manifest.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&manifest).expect("json") + "\n")
        .map_err(Error::io("write", &tmp))?;
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
