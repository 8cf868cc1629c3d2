//! What the machine can physically do, measured through the engine once per run: the peak
//! float32 matrix-multiply rate (a large square GEMM in libtorch) and the memory bandwidth (a
//! stream-like copy of a buffer far larger than the caches, and a read of one: the bound of a
//! decode step, which reads every weight once and writes little).

use serde::{Deserialize, Serialize};

use crate::stats::{timed, Rule, Summary};
use runtime::error::Result;

/// The machine's measured limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// Float32 GEMM rate, GFLOP/s (best median over the sizes tried).
    pub gflops: f64,
    /// The GEMM side that gave it.
    pub gemm_size: i64,
    /// Copy bandwidth, GB/s (bytes read plus bytes written, per second).
    pub bandwidth_gbs: f64,
    /// Read bandwidth, GB/s (a sum over the buffer); absent from runs before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_gbs: Option<f64>,
    /// Intra-op threads the measurement used.
    pub threads: i64,
}

/// Bytes copied by the bandwidth measurement (256 MiB read, 256 MiB written).
const COPY_BYTES: i64 = 256 << 20;

/// How thoroughly the peak is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// GEMM sides 1024, 2048 and 3072, each warmed up to a stable median (up to 10 s), then 10
    /// or more timed runs: about 50 s on one core of this machine.
    Full,
    /// For `--quick` smoke runs: sides 1024 and 2048, 3 timed runs each after a short warm-up
    /// (a few seconds); the share of peak it gives is as noisy as the quick cells.
    Quick,
}

impl Effort {
    /// The GEMM sides tried.
    fn gemm_sizes(self) -> &'static [i64] {
        match self {
            Effort::Full => &[1024, 2048, 3072],
            Effort::Quick => &[1024, 2048],
        }
    }

    /// The timing rule of each measurement.
    fn rule(self) -> Rule {
        match self {
            Effort::Full => Rule {
                window: 3,
                tolerance: 0.05,
                max_windows: 6,
                warmup_seconds: 10.0,
                min_runs: 10,
                max_runs: 50,
                seconds: 1.0,
            },
            Effort::Quick => Rule {
                window: 2,
                tolerance: 0.2,
                max_windows: 3,
                warmup_seconds: 1.0,
                min_runs: 3,
                max_runs: 3,
                seconds: 0.0,
            },
        }
    }
}

/// Measures both limits with libtorch's kernels on `threads` threads.
pub fn measure(threads: i64, effort: Effort) -> Result<Peak> {
    use runtime::backend::torch::peak;
    peak::set_threads(threads);
    let rule = effort.rule();
    let median_ms = |mut call: Box<dyn FnMut()>| -> Result<f64> {
        let samples = timed(&rule, || {
            call();
            Ok(())
        })?;
        Ok(Summary::of(&samples.samples).p50)
    };
    let mut best = (0.0f64, 0);
    for &n in effort.gemm_sizes() {
        let gflops = 2.0 * (n as f64).powi(3) / (median_ms(Box::new(peak::gemm(n)))? / 1e3) / 1e9;
        if gflops > best.0 {
            best = (gflops, n);
        }
    }
    let bandwidth_gbs = 2.0 * COPY_BYTES as f64 / (median_ms(Box::new(peak::copy(COPY_BYTES)))? / 1e3) / 1e9;
    let read_gbs = COPY_BYTES as f64 / (median_ms(Box::new(peak::read(COPY_BYTES)))? / 1e3) / 1e9;
    Ok(Peak { gflops: best.0, gemm_size: best.1, bandwidth_gbs, read_gbs: Some(read_gbs), threads })
}

impl Peak {
    /// The bound of reading weights, GB/s: the read bandwidth where measured, else the copy's
    /// (a copy writes as much as it reads, so reading alone can go faster: decode on this machine
    /// read weights at 105% of the copy bandwidth).
    pub fn weight_read_gbs(&self) -> f64 {
        self.read_gbs.filter(|r| *r > 0.0).unwrap_or(self.bandwidth_gbs)
    }
}
