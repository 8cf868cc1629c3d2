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

/// Times `run` after warm-up; returns latency percentiles, throughput and the settings used.
pub fn steady_state(batch: i64, mut run: impl FnMut() -> crate::Result<()>) -> crate::Result<Vec<Measurement>> {
    let (warmup, iterations) = (warmup_iterations(), timed_iterations());
    for _ in 0..warmup {
        run()?;
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        run()?;
        samples.push(ms(started.elapsed()));
    }
    samples.sort_by(f64::total_cmp);
    let p50 = percentile(&samples, 50.0);
    Ok(vec![
        Measurement::new("latency_p50_ms", p50, "ms"),
        Measurement::new("latency_p90_ms", percentile(&samples, 90.0), "ms"),
        Measurement::new("latency_p99_ms", percentile(&samples, 99.0), "ms"),
        Measurement::new("throughput_items_per_s", batch as f64 / (p50 / 1e3), "items/s"),
        Measurement::new("warmup_iterations", warmup as f64, "count"),
        Measurement::new("timed_iterations", iterations as f64, "count"),
    ])
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
        let found = steady_state(2, || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(calls, warmup_iterations() + timed_iterations());
        assert_eq!(found[0].metric, "latency_p50_ms");
    }
}
