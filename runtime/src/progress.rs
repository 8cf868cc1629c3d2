//! Progress of a long suite: cases done of those in the build, outcomes so far, elapsed time and
//! an estimate of the rest, printed now and then (not only cargo's line per test).
//!
//! A suite run in one process keeps its tally in memory. A suite run one process per test
//! (nextest: a crash then costs one cell) shares it in the file `HFZOO_PROGRESS_FILE` names,
//! under a file lock, out of the `HFZOO_PROGRESS_TOTAL` cells its phase planned.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::measure::now_ms;
use crate::results::record::OutcomeKind;

/// Environment variable: the file the processes of one suite phase share their tally in.
pub const SHARED_ENV: &str = "HFZOO_PROGRESS_FILE";

/// Environment variable: how many cells the phase sharing [`SHARED_ENV`] runs.
pub const TOTAL_ENV: &str = "HFZOO_PROGRESS_TOTAL";

/// Counts of one process's cases so far.
#[derive(Debug, Default)]
struct Tally {
    started: Option<Instant>,
    last_print: Option<Instant>,
    counts: Counts,
}

/// Cases done so far, by outcome (one process's, or a phase's in the shared file).
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
struct Counts {
    done: usize,
    passed: usize,
    failed: usize,
    unsupported: usize,
    skipped: usize,
}

impl Counts {
    /// Counts one finished case with its outcome label.
    fn count(&mut self, outcome: OutcomeKind) {
        self.done += 1;
        match outcome {
            OutcomeKind::Passed => self.passed += 1,
            OutcomeKind::Failed => self.failed += 1,
            OutcomeKind::Unsupported => self.unsupported += 1,
            OutcomeKind::Skipped => self.skipped += 1,
        }
    }
}

static TALLY: Mutex<Tally> = Mutex::new(Tally {
    started: None,
    last_print: None,
    counts: Counts { done: 0, passed: 0, failed: 0, unsupported: 0, skipped: 0 },
});

/// Least time between two progress lines.
const EVERY: Duration = Duration::from_secs(15);

/// `1m05s`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Marks the start of a case (the clock starts with the first, in the shared file too).
pub fn started() {
    if let Some(path) = std::env::var_os(SHARED_ENV).filter(|p| !p.is_empty()) {
        let _ = shared_update(Path::new(&path), |_| ());
        return;
    }
    let mut t = TALLY.lock().unwrap_or_else(|p| p.into_inner());
    t.started.get_or_insert_with(Instant::now);
}

/// Counts a finished case with its outcome label; returns a progress line when one is due
/// (every `EVERY`, and at the last case of the build or of the shared phase).
pub fn finished(outcome: OutcomeKind, total: usize) -> Option<String> {
    if let Some(path) = std::env::var_os(SHARED_ENV).filter(|p| !p.is_empty()) {
        let total = std::env::var(TOTAL_ENV).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(total);
        return match shared_finished(Path::new(&path), outcome, total) {
            Ok(line) => line,
            Err(error) => Some(format!(
                "warning: the shared progress file {} could not be updated: {error}",
                Path::new(&path).display()
            )),
        };
    }
    let mut t = TALLY.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let started = *t.started.get_or_insert(now);
    t.counts.count(outcome);
    let due = t.counts.done == total || t.last_print.is_none_or(|at| now - at >= EVERY);
    if !due {
        return None;
    }
    t.last_print = Some(now);
    Some(line(&t.counts, total, now - started))
}

/// The tally of a phase whose tests run in many processes, as kept in its file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SharedTally {
    started_ms: i64,
    last_print_ms: Option<i64>,
    #[serde(flatten)]
    counts: Counts,
}

/// The log a shared tally's lines are appended to (`<file>.log`).
pub fn log_of(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".log");
    name.into()
}

/// Reads the shared tally (a new one, started now, where the file is empty), lets `change`
/// update it, and writes it back, all under the file's lock.
fn shared_update<T>(path: &Path, change: impl FnOnce(&mut SharedTally) -> T) -> std::io::Result<(SharedTally, T)> {
    let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    file.lock()?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let mut shared: SharedTally =
        serde_json::from_str(&text).unwrap_or(SharedTally { started_ms: now_ms(), ..SharedTally::default() });
    let result = change(&mut shared);
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(serde_json::to_string(&shared).map_err(std::io::Error::other)?.as_bytes())?;
    Ok((shared, result))
}

/// Counts one finished case in the shared file (read, count, write, under its lock).
fn shared_finished(path: &Path, outcome: OutcomeKind, total: usize) -> std::io::Result<Option<String>> {
    let now = now_ms();
    let (shared, due) = shared_update(path, |shared| {
        shared.counts.count(outcome);
        let every = EVERY.as_millis() as i64;
        let due = shared.counts.done >= total || shared.last_print_ms.is_none_or(|at| now - at >= every);
        if due {
            shared.last_print_ms = Some(now);
        }
        due
    })?;
    if !due {
        return Ok(None);
    }
    let text = line(&shared.counts, total, Duration::from_millis((now - shared.started_ms).max(0) as u64));
    // A test runner keeps each process's output until it ends: the phase's script follows
    // this log instead (`tail -F`), so the line shows while the phase runs.
    let log = log_of(path);
    let mut appended = OpenOptions::new().create(true).append(true).open(&log)?;
    writeln!(appended, "{text}")?;
    Ok(Some(text))
}

fn line(t: &Counts, total: usize, elapsed: Duration) -> String {
    let rest = if t.done < total && t.done > 0 {
        format!(", about {} left if all {total} run", clock(elapsed.mul_f64((total - t.done) as f64 / t.done as f64)))
    } else {
        String::new()
    };
    format!(
        "PROGRESS    {} of {total} model cases: {} passed, {} failed, {} unsupported, {} skipped; {} elapsed{rest}",
        t.done,
        t.passed,
        t.failed,
        t.unsupported,
        t.skipped,
        clock(elapsed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_of_one_phase_share_one_tally() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("progress.json");
        let first = shared_finished(&path, OutcomeKind::Passed, 3).unwrap().expect("the first case prints");
        assert!(first.starts_with("PROGRESS    1 of 3 model cases: 1 passed, 0 failed"), "{first}");
        assert_eq!(shared_finished(&path, OutcomeKind::Failed, 3).unwrap(), None, "not due again within the interval");
        let last = shared_finished(&path, OutcomeKind::Skipped, 3).unwrap().expect("the last case prints");
        assert!(
            last.starts_with("PROGRESS    3 of 3 model cases: 1 passed, 1 failed, 0 unsupported, 1 skipped"),
            "{last}"
        );
        let log = std::fs::read_to_string(log_of(&path)).unwrap();
        assert_eq!(
            log.lines().collect::<Vec<_>>(),
            [first.as_str(), last.as_str()],
            "the printed lines, for the phase's script to follow"
        );
    }

    #[test]
    fn the_line_counts_outcomes_and_estimates_the_rest() {
        let t = Counts { done: 10, passed: 7, failed: 1, unsupported: 1, skipped: 1 };
        let text = line(&t, 40, Duration::from_secs(20));
        assert_eq!(text, "PROGRESS    10 of 40 model cases: 7 passed, 1 failed, 1 unsupported, 1 skipped; 20s elapsed, about 1m00s left if all 40 run");
        let done = Counts { done: 40, ..Counts::default() };
        assert!(!line(&done, 40, Duration::from_secs(95)).contains("left"));
        assert_eq!(clock(Duration::from_secs(95)), "1m35s");
    }
}
