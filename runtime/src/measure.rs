//! Measurements with units: load time, first inference, steady-state percentiles, memory.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One measured value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Measurement {
    /// Metric name, e.g. `latency_p50_ms`.
    pub metric: String,
    /// Value.
    pub value: f64,
    /// Unit, e.g. `ms`.
    pub unit: String,
}

impl Measurement {
    /// Builds a measurement.
    pub fn new(metric: &str, value: f64, unit: &str) -> Self {
        Self { metric: metric.into(), value, unit: unit.into() }
    }
}

/// Warm-up runs before timing (`HFZOO_WARMUP`, default 2).
///
/// The defaults keep the suite's timing informational and cheap across 700+ models; raise both
/// for benchmark-grade percentiles.
pub fn warmup_iterations() -> usize {
    std::env::var("HFZOO_WARMUP").ok().and_then(|v| v.parse().ok()).unwrap_or(2)
}

/// Timed runs (`HFZOO_ITERATIONS`, default 10).
pub fn timed_iterations() -> usize {
    std::env::var("HFZOO_ITERATIONS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(10)
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Milliseconds of a duration.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Nearest-rank percentile of sorted samples (`q` in 0..=100).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Time budget for warm-up and for timed runs, each (`HFZOO_MEASURE_BUDGET_MS`, default 300).
///
/// A model whose runs exceed it stops early (after at least one warm-up and `MIN_TIMED` timed
/// runs), so a handful of slow models do not dominate the suite; the counts actually run are
/// recorded with the measurements. `0` turns the budget off.
pub fn budget() -> Option<Duration> {
    let ms: u64 = std::env::var("HFZOO_MEASURE_BUDGET_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// The measurement of a cell's wall time in seconds, from its start to its record (export,
/// load, checks and timing): what the smoke tier's limit per cell reads (scripts/slowest.py).
pub const CELL_SECONDS: &str = "cell_seconds";

/// Timed runs taken even when the budget is spent.
pub const MIN_TIMED: usize = 2;

/// What timing a model produced: summary measurements and every timed sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// Latency percentiles, throughput and the iteration counts actually run.
    pub measurements: Vec<Measurement>,
    /// Every timed latency in ms, in the order it was taken (comparisons test these for noise).
    pub samples: Vec<f64>,
}

/// Times `run` after warm-up; returns latency percentiles, throughput, the counts run and the samples.
pub fn steady_state(batch: i64, run: impl FnMut() -> crate::Result<()>) -> crate::Result<Timing> {
    steady_state_within(batch, budget(), run)
}

/// [`steady_state`] with an explicit budget (`None`: every configured run).
pub fn steady_state_within(
    batch: i64,
    budget: Option<Duration>,
    mut run: impl FnMut() -> crate::Result<()>,
) -> crate::Result<Timing> {
    let (warmup, iterations) = (warmup_iterations(), timed_iterations());
    let spent = |since: Instant| budget.is_some_and(|b| since.elapsed() >= b);
    let started = Instant::now();
    let mut warmed = 0;
    while warmed < warmup && !(warmed >= 1 && spent(started)) {
        run()?;
        warmed += 1;
    }
    let mut samples = Vec::with_capacity(iterations);
    let started = Instant::now();
    while samples.len() < iterations && !(samples.len() >= MIN_TIMED.min(iterations) && spent(started)) {
        let began = Instant::now();
        run()?;
        samples.push(ms(began.elapsed()));
    }
    let timed = samples.len();
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let p50 = percentile(&sorted, 50.0);
    let measurements = vec![
        Measurement::new("latency_p50_ms", p50, "ms"),
        Measurement::new("latency_p90_ms", percentile(&sorted, 90.0), "ms"),
        Measurement::new("latency_p99_ms", percentile(&sorted, 99.0), "ms"),
        Measurement::new("throughput_items_per_s", batch as f64 / (p50 / 1e3), "items/s"),
        Measurement::new("warmup_iterations", warmed as f64, "count"),
        Measurement::new("timed_iterations", timed as f64, "count"),
    ];
    Ok(Timing { measurements, samples })
}

/// Test-only setting that slows chosen models on purpose, to prove that `hfzoo compare`
/// catches a slowdown: `model:ms[,model:ms]` sleeps that long inside every timed run of that
/// model. A run that used it says so in its environment (`injected`), in every report.
pub const INJECT_DELAY_ENV: &str = "HFZOO_TEST_INJECT_DELAY";

/// The test-only setting in effect in this process (`HFZOO_TEST_INJECT_DELAY=...`), if any: a
/// verdict measured under it is never stored for reuse.
pub fn injected_setting() -> Option<String> {
    std::env::var(INJECT_DELAY_ENV).ok().filter(|v| !v.trim().is_empty()).map(|v| format!("{INJECT_DELAY_ENV}={v}"))
}

/// The delay [`INJECT_DELAY_ENV`] injects into `model_type`'s timed runs, if any.
pub fn injected_delay(model_type: &str) -> Option<Duration> {
    parse_injected(&std::env::var(INJECT_DELAY_ENV).ok()?, model_type)
}

fn parse_injected(setting: &str, model_type: &str) -> Option<Duration> {
    setting
        .split(',')
        .filter_map(|item| item.trim().split_once(':'))
        .find(|(model, _)| *model == model_type)
        .and_then(|(_, ms)| ms.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms > 0.0)
        .map(|ms| Duration::from_secs_f64(ms / 1e3))
}

/// Peak resident memory of this process so far (VmHWM), in MiB; process-wide, so tests
/// sharing a process share it.
pub fn process_peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&samples, 50.0), 5.0);
        assert_eq!(percentile(&samples, 90.0), 9.0);
        assert_eq!(percentile(&samples, 99.0), 10.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn steady_state_runs_warmup_plus_iterations() {
        let mut calls = 0;
        let found = steady_state_within(2, None, || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(calls, warmup_iterations() + timed_iterations());
        assert_eq!(found.measurements[0].metric, "latency_p50_ms");
        assert_eq!(found.samples.len(), timed_iterations());
    }

    #[test]
    fn injected_delays_name_models_and_milliseconds() {
        assert_eq!(parse_injected("bert:5,gpt2:0.5", "gpt2"), Some(Duration::from_micros(500)));
        assert_eq!(parse_injected("bert:5", "bert_generation"), None);
        assert_eq!(parse_injected("bert:x,bert:-1", "bert"), None);
    }

    #[test]
    fn a_spent_budget_stops_after_one_warmup_and_the_minimum_timed_runs() {
        let mut calls = 0;
        let found = steady_state_within(1, Some(Duration::from_millis(5)), || {
            calls += 1;
            std::thread::sleep(Duration::from_millis(6));
            Ok(())
        })
        .unwrap();
        assert_eq!(calls, 1 + MIN_TIMED);
        assert_eq!(found.samples.len(), MIN_TIMED);
        let count = |name: &str| found.measurements.iter().find(|m| m.metric == name).map(|m| m.value);
        assert_eq!(count("warmup_iterations"), Some(1.0));
        assert_eq!(count("timed_iterations"), Some(MIN_TIMED as f64));
        assert!(count("latency_p50_ms").unwrap() >= 6.0);
    }
}
