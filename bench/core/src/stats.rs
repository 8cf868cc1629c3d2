//! The benchmark's timing rule (warm-up until stable, then enough runs for tail percentiles)
//! and its summary: p50/p90/p99 with a distribution-free 95% confidence interval of the median.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use runtime::error::Result;
use runtime::measure::{ms, percentile};

/// When warm-up ends and how many runs are timed; the Python peers get the same rule
/// (`runtime/exporter/bench_peers.py`), so every engine is timed alike.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Runs per warm-up window.
    pub window: usize,
    /// Warm-up ends when a window's median is within this share of the previous window's.
    pub tolerance: f64,
    /// The most warm-up windows.
    pub max_windows: usize,
    /// Warm-up also ends after this many seconds.
    pub warmup_seconds: f64,
    /// Timed runs at least (p99 needs about 100 to mean anything).
    pub min_runs: usize,
    /// Timed runs at most.
    pub max_runs: usize,
    /// Timed runs go on, past `min_runs`, until this many seconds have passed.
    pub seconds: f64,
}

impl Rule {
    /// The default: windows of 5 runs stable within 5%, at least 100 timed runs or 3 s.
    pub const DEFAULT: Rule = Rule {
        window: 5,
        tolerance: 0.05,
        max_windows: 20,
        warmup_seconds: 20.0,
        min_runs: 100,
        max_runs: 2000,
        seconds: 3.0,
    };

    /// A quick rule for smoke runs: stable within 20%, 10 timed runs.
    pub const SMOKE: Rule = Rule {
        window: 3,
        tolerance: 0.2,
        max_windows: 5,
        warmup_seconds: 5.0,
        min_runs: 10,
        max_runs: 10,
        seconds: 0.0,
    };
}

/// Timed samples (ms, in the order taken) and the warm-up runs before them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    /// Every timed latency in ms.
    pub samples: Vec<f64>,
    /// Warm-up runs before the first timed one.
    pub warmup_runs: usize,
}

/// Runs `run` under `rule`: warm-up windows until stable, then timed runs.
pub fn timed(rule: &Rule, mut run: impl FnMut() -> Result<()>) -> Result<Samples> {
    let mut time_one = || -> Result<f64> {
        let began = Instant::now();
        run()?;
        Ok(ms(began.elapsed()))
    };
    let (mut previous, mut warmup_runs, started) = (None::<f64>, 0, Instant::now());
    for _ in 0..rule.max_windows {
        let mut window = (0..rule.window.max(1)).map(|_| time_one()).collect::<Result<Vec<f64>>>()?;
        warmup_runs += window.len();
        window.sort_by(f64::total_cmp);
        let median = median(&window);
        if previous.is_some_and(|p| (median - p).abs() <= rule.tolerance * p) {
            break;
        }
        previous = Some(median);
        if started.elapsed().as_secs_f64() > rule.warmup_seconds {
            break;
        }
    }
    let mut samples = Vec::with_capacity(rule.min_runs);
    let started = Instant::now();
    while samples.len() < rule.max_runs.max(1)
        && (samples.len() < rule.min_runs.max(1) || started.elapsed().as_secs_f64() < rule.seconds)
    {
        samples.push(time_one()?);
    }
    Ok(Samples { samples, warmup_runs })
}

/// Times `first` and `second` under `rule`, alternating run by run, so that both see the same
/// machine (on a shared machine, two measurements taken one after the other drift apart by more
/// than the few percent a ratio of them is meant to show). Warm-up ends when both are stable.
pub fn timed_pair(
    rule: &Rule,
    mut first: impl FnMut() -> Result<()>,
    mut second: impl FnMut() -> Result<()>,
) -> Result<(Samples, Samples)> {
    let mut time_one = |which: bool| -> Result<f64> {
        let began = Instant::now();
        if which {
            first()?;
        } else {
            second()?;
        }
        Ok(ms(began.elapsed()))
    };
    let (mut previous, mut warmup_runs, started) = ([None::<f64>; 2], 0, Instant::now());
    for _ in 0..rule.max_windows {
        let mut windows = [Vec::new(), Vec::new()];
        for _ in 0..rule.window.max(1) {
            windows[0].push(time_one(true)?);
            windows[1].push(time_one(false)?);
        }
        warmup_runs += windows[0].len();
        let medians = windows.map(|mut window| {
            window.sort_by(f64::total_cmp);
            median(&window)
        });
        let stable = (0..2).all(|i| previous[i].is_some_and(|p| (medians[i] - p).abs() <= rule.tolerance * p));
        previous = medians.map(Some);
        if stable || started.elapsed().as_secs_f64() > rule.warmup_seconds {
            break;
        }
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while a.len() < rule.max_runs.max(1)
        && (a.len() < rule.min_runs.max(1) || started.elapsed().as_secs_f64() < rule.seconds)
    {
        a.push(time_one(true)?);
        b.push(time_one(false)?);
    }
    Ok((Samples { samples: a, warmup_runs }, Samples { samples: b, warmup_runs }))
}

/// Median of sorted values (the mean of the middle two for an even count), as Python's `statistics.median`.
pub fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// What a set of samples says.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Timed runs.
    pub runs: usize,
    /// Median latency, ms.
    pub p50: f64,
    /// 90th percentile, ms (nearest rank).
    pub p90: f64,
    /// 99th percentile, ms (nearest rank).
    pub p99: f64,
    /// Lower end of the median's 95% confidence interval, ms.
    pub p50_low: f64,
    /// Upper end of the median's 95% confidence interval, ms.
    pub p50_high: f64,
}

impl Summary {
    /// Percentiles of `samples` and the median's interval from order statistics: the ranks
    /// n/2 ± 1.96·√n/2 (the normal approximation of the binomial), which assumes nothing about
    /// the shape of the latency distribution.
    pub fn of(samples: &[f64]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let half_width = 1.96 * (n as f64).sqrt() / 2.0;
        let rank =
            |r: f64| sorted.get((r.round().max(1.0) as usize).min(n).saturating_sub(1)).copied().unwrap_or(f64::NAN);
        Self {
            runs: n,
            p50: median(&sorted),
            p90: percentile(&sorted, 90.0),
            p99: percentile(&sorted, 99.0),
            p50_low: rank(n as f64 / 2.0 - half_width),
            p50_high: rank(n as f64 / 2.0 + 1.0 + half_width),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_interval_brackets_the_median_by_order_statistics() {
        // 1..=100: n/2 ± 1.96·10/2 = 50 ± 9.8 → ranks 40 and 61 (1-based).
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let summary = Summary::of(&samples);
        assert_eq!(summary.runs, 100);
        assert_eq!(summary.p50, 50.5);
        assert_eq!((summary.p50_low, summary.p50_high), (40.0, 61.0));
        assert_eq!((summary.p90, summary.p99), (90.0, 99.0));
        assert!(Summary::of(&[]).p50.is_nan());
    }

    #[test]
    fn paired_timing_alternates_the_two_calls_and_keeps_them_apart() {
        let order = std::cell::RefCell::new(Vec::new());
        let rule = Rule {
            window: 2,
            tolerance: 10.0,
            max_windows: 3,
            warmup_seconds: 60.0,
            min_runs: 3,
            max_runs: 3,
            seconds: 0.0,
        };
        let (a, b) = timed_pair(
            &rule,
            || {
                order.borrow_mut().push('a');
                std::thread::sleep(std::time::Duration::from_millis(4));
                Ok(())
            },
            || {
                order.borrow_mut().push('b');
                Ok(())
            },
        )
        .unwrap();
        // Two warm-up windows (the second is within the tolerance of the first), then 3 pairs.
        assert_eq!(order.borrow().iter().collect::<String>(), "ab".repeat(2 * 2 + 3));
        assert_eq!((a.samples.len(), b.samples.len(), a.warmup_runs), (3, 3, 4));
        assert!(a.samples.iter().all(|ms| *ms >= 4.0) && b.samples.iter().all(|ms| *ms < 4.0), "{a:?} {b:?}");
    }

    #[test]
    fn warm_up_stops_once_two_windows_agree_and_timed_runs_reach_the_minimum() {
        // Calls 1-2 take 30 ms, 3-4 take 10 ms, then 1 ms: windows of 2 give 30, 10, 1, 1.
        let mut calls = 0u64;
        let rule = Rule {
            window: 2,
            tolerance: 0.3,
            max_windows: 10,
            warmup_seconds: 60.0,
            min_runs: 4,
            max_runs: 4,
            seconds: 0.0,
        };
        let found = timed(&rule, || {
            calls += 1;
            let ms = match calls {
                1 | 2 => 30,
                3 | 4 => 10,
                _ => 1,
            };
            std::thread::sleep(std::time::Duration::from_millis(ms));
            Ok(())
        })
        .unwrap();
        assert_eq!(found.samples.len(), 4);
        // The fourth window agrees with the third (sleep jitter may cost a window or two more).
        assert!((8..=12).contains(&found.warmup_runs), "warm-up ran {}", found.warmup_runs);
        assert_eq!(calls as usize, found.warmup_runs + 4);
        assert!(found.samples.iter().all(|ms| *ms < 5.0), "{:?}", found.samples);
    }
}
