//! What the machine can physically do, measured through the engine once per run: the peak
//! float32 matrix-multiply rate (a large square GEMM in libtorch) and the memory bandwidth (a
//! stream-like copy of a buffer far larger than the caches).

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
    /// Intra-op threads the measurement used.
    pub threads: i64,
}

/// Bytes copied by the bandwidth measurement (256 MiB read, 256 MiB written).
const COPY_BYTES: i64 = 256 << 20;

/// Measures both limits with libtorch's kernels on `threads` threads.
pub fn measure(threads: i64) -> Result<Peak> {
    use runtime::backend::torch::peak;
    peak::set_threads(threads);
    let rule = Rule {
        window: 3,
        tolerance: 0.05,
        max_windows: 6,
        warmup_seconds: 10.0,
        min_runs: 10,
        max_runs: 50,
        seconds: 1.0,
    };
    let median_ms = |mut call: Box<dyn FnMut()>| -> Result<f64> {
        let samples = timed(&rule, || {
            call();
            Ok(())
        })?;
        Ok(Summary::of(&samples.samples).p50)
    };
    let mut best = (0.0f64, 0);
    for n in [1024i64, 2048, 3072] {
        let gflops = 2.0 * (n as f64).powi(3) / (median_ms(Box::new(peak::gemm(n)))? / 1e3) / 1e9;
        if gflops > best.0 {
            best = (gflops, n);
        }
    }
    let bandwidth_gbs = 2.0 * COPY_BYTES as f64 / (median_ms(Box::new(peak::copy(COPY_BYTES)))? / 1e3) / 1e9;
    Ok(Peak { gflops: best.0, gemm_size: best.1, bandwidth_gbs, threads })
}
