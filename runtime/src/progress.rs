//! Progress of a long suite: cases done of those in the build, outcomes so far, elapsed time and
//! an estimate of the rest, printed now and then (not only cargo's line per test).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts of one process's cases so far.
#[derive(Debug, Default)]
struct Tally {
    started: Option<Instant>,
    last_print: Option<Instant>,
    done: usize,
    passed: usize,
    failed: usize,
    unsupported: usize,
    skipped: usize,
}

static TALLY: Mutex<Tally> = Mutex::new(Tally { started: None, last_print: None, done: 0, passed: 0, failed: 0, unsupported: 0, skipped: 0 });

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

/// Marks the start of a case (the clock starts with the first).
pub fn started() {
    let mut t = TALLY.lock().unwrap_or_else(|p| p.into_inner());
    t.started.get_or_insert_with(Instant::now);
}

/// Counts a finished case with its outcome label; returns a progress line when one is due
/// (every `EVERY`, and at the last case of the build).
pub fn finished(outcome: &str, total: usize) -> Option<String> {
    let mut t = TALLY.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let started = *t.started.get_or_insert(now);
    t.done += 1;
    match outcome {
        "passed" => t.passed += 1,
        "failed" => t.failed += 1,
        "unsupported" => t.unsupported += 1,
        _ => t.skipped += 1,
    }
    let due = t.done == total || t.last_print.is_none_or(|at| now - at >= EVERY);
    if !due {
        return None;
    }
    t.last_print = Some(now);
    Some(line(&t, total, now - started))
}

fn line(t: &Tally, total: usize, elapsed: Duration) -> String {
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
    fn the_line_counts_outcomes_and_estimates_the_rest() {
        let t = Tally { done: 10, passed: 7, failed: 1, unsupported: 1, skipped: 1, ..Tally::default() };
        let text = line(&t, 40, Duration::from_secs(20));
        assert_eq!(text, "PROGRESS    10 of 40 model cases: 7 passed, 1 failed, 1 unsupported, 1 skipped; 20s elapsed, about 1m00s left if all 40 run");
        let done = Tally { done: 40, ..Tally::default() };
        assert!(!line(&done, 40, Duration::from_secs(95)).contains("left"));
        assert_eq!(clock(Duration::from_secs(95)), "1m35s");
    }
}
