//! The export locks. The cache-wide lock is taken exclusively by a batch (`hfzoo export`) and
//! by pruning, and shared by every single export ([`crate::artifacts::ArtifactCache::ensure`]),
//! which also takes its artifact's own lock exclusively: two tests export two artifacts at
//! once, never one artifact twice, and never beside a batch. An exclusive holder writes who it
//! is into the lock file, so a process waiting for it says whom it waits for, and gives up with
//! a clear error after a bounded wait instead of blocking every test sharing the cache.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::measure::now_ms;

/// Environment variable: how long a process waits for the export lock, in seconds (default
/// 3600: a cold export of the whole zoo holds it about half an hour on two cores).
pub const WAIT_ENV: &str = "HFZOO_EXPORT_LOCK_WAIT_SECONDS";

/// The longest wait for the lock (`HFZOO_EXPORT_LOCK_WAIT_SECONDS`, else an hour).
pub fn default_wait() -> Duration {
    let seconds = std::env::var(WAIT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(3600.0);
    Duration::from_secs_f64(seconds)
}

/// How often a waiting process says again whom it waits for.
const REMIND_EVERY: Duration = Duration::from_secs(60);

/// Who holds the lock, as written into the lock file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    /// The holding process.
    pub pid: u32,
    /// What it is doing (`exporting bert (torchscript)`).
    pub purpose: String,
    /// When it took the lock (Unix ms).
    pub since_ms: i64,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seconds = (now_ms() - self.since_ms).max(0) / 1000;
        write!(f, "pid {} ({}) for {seconds} s", self.pid, self.purpose)
    }
}

/// The held lock; released when dropped (the file's lock goes with its handle).
#[derive(Debug)]
pub struct ExportLock {
    _file: File,
}

/// Reads who holds the lock at `path`, if anyone wrote it.
pub fn holder(path: &Path) -> Option<Holder> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn describe(path: &Path) -> String {
    holder(path).map_or_else(|| "a process that has not said who it is".to_string(), |h| h.to_string())
}

/// Whether a lock is held alone or beside other holders of the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Alone; the holder writes who it is into the file.
    Exclusive,
    /// Beside other shared holders (every single export of a cache); waits for an exclusive one.
    Shared,
}

/// Takes the exclusive lock at `path` for `purpose`, waiting at most `wait`; while it waits it
/// prints who holds it (pid, what, since when), and past `wait` it gives up with that.
pub fn acquire(path: &Path, purpose: &str, wait: Duration) -> Result<ExportLock> {
    acquire_as(path, purpose, wait, Mode::Exclusive)
}

/// Takes the lock at `path` in `mode` for `purpose`, waiting at most `wait`, as [`acquire`].
pub fn acquire_as(path: &Path, purpose: &str, wait: Duration, mode: Mode) -> Result<ExportLock> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(Error::io("create lock", path))?;
    let started = Instant::now();
    let mut reminded: Option<Instant> = None;
    loop {
        let tried = match mode {
            Mode::Exclusive => file.try_lock(),
            Mode::Shared => file.try_lock_shared(),
        };
        match tried {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(error)) => return Err(Error::io("lock", path)(error)),
        }
        if started.elapsed() >= wait {
            return Err(Error::Exporter(format!(
                "gave up after {:.0} s waiting for the export lock {}, held by {} ({WAIT_ENV} sets the wait; if that process is stuck, end it)",
                wait.as_secs_f64(),
                path.display(),
                describe(path)
            )));
        }
        if reminded.is_none_or(|at| at.elapsed() >= REMIND_EVERY) {
            // To the real stderr: a test harness captures `eprintln!`, and a wait must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "waiting for the export lock {}, held by {} (giving up after {:.0} s)",
                path.display(),
                describe(path),
                wait.as_secs_f64()
            );
            reminded = Some(Instant::now());
        }
        std::thread::sleep(
            Duration::from_millis(100).min(wait.saturating_sub(started.elapsed())).max(Duration::from_millis(1)),
        );
    }
    if mode == Mode::Shared {
        // Several hold it: none writes itself over the others.
        return Ok(ExportLock { _file: file });
    }
    let me = Holder { pid: std::process::id(), purpose: purpose.to_string(), since_ms: now_ms() };
    let text = serde_json::to_string(&me)
        .map_err(|source| Error::Json { context: "the export lock's holder".into(), source })?;
    // Who holds it is advice for waiters: failing to write it must not fail the export.
    let _ = file.set_len(0).and_then(|()| file.seek(SeekFrom::Start(0))).and_then(|_| file.write_all(text.as_bytes()));
    Ok(ExportLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_names_the_holder_and_gives_up_after_its_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".export.lock");
        let held = acquire(&path, "exporting bert (torchscript)", Duration::ZERO).unwrap();
        let found = holder(&path).expect("the holder wrote itself");
        assert_eq!((found.pid, found.purpose.as_str()), (std::process::id(), "exporting bert (torchscript)"));
        let started = Instant::now();
        let error = acquire(&path, "another", Duration::from_millis(300)).unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(5), "the wait is bounded");
        assert!(
            error.contains(&format!("held by pid {} (exporting bert (torchscript))", std::process::id())),
            "{error}"
        );
        assert!(error.contains(WAIT_ENV), "{error}");
        drop(held);
        let again = acquire(&path, "exporting gpt2 (onnx)", Duration::ZERO).expect("free once the holder is gone");
        assert_eq!(holder(&path).unwrap().purpose, "exporting gpt2 (onnx)");
        drop(again);
    }

    #[test]
    fn shared_holders_coexist_and_keep_an_exclusive_one_out_until_the_last_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".export.lock");
        let first = acquire_as(&path, "exporting bert (onnx)", Duration::ZERO, Mode::Shared).unwrap();
        let second = acquire_as(&path, "exporting vit (onnx)", Duration::ZERO, Mode::Shared)
            .expect("a second single export shares the cache lock");
        let error = acquire(&path, "exporting a batch", Duration::from_millis(200)).unwrap_err().to_string();
        assert!(error.contains("gave up"), "{error}");
        drop(first);
        assert!(acquire(&path, "exporting a batch", Duration::from_millis(200)).is_err(), "one shared holder left");
        drop(second);
        let batch = acquire(&path, "exporting a batch", Duration::ZERO).expect("free once both are gone");
        assert!(
            acquire_as(&path, "exporting bert (onnx)", Duration::from_millis(200), Mode::Shared).is_err(),
            "a single export waits for a batch"
        );
        drop(batch);
    }
}
