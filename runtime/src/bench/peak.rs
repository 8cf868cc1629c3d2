//! What the machine can physically do, measured through the engine once per run: the peak
//! float32 matrix-multiply rate (a large square GEMM in libtorch) and the memory bandwidth (a
//! stream-like copy of a buffer far larger than the caches).

use serde::{Deserialize, Serialize};

use super::stats::{timed, Rule, Summary};
use crate::error::Result;

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
#[cfg(feature = "torch")]
pub fn measure(threads: i64) -> Result<Peak> {
    use tch::{Device, Kind, Tensor};
    tch::set_num_threads(threads as i32);
    let rule = Rule {
        window: 3,
        tolerance: 0.05,
        max_windows: 6,
        warmup_seconds: 10.0,
        min_runs: 10,
        max_runs: 50,
        seconds: 1.0,
    };
    let mut best = (0.0f64, 0);
    for n in [1024i64, 2048, 3072] {
        let a = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
        let samples = timed(&rule, || {
            let _ = a.matmul(&b);
            Ok(())
        })?;
        let gflops = 2.0 * (n as f64).powi(3) / (Summary::of(&samples.samples).p50 / 1e3) / 1e9;
        if gflops > best.0 {
            best = (gflops, n);
        }
    }
    let elements = COPY_BYTES / 4;
    let source = Tensor::ones([elements], (Kind::Float, Device::Cpu));
    let mut target = Tensor::zeros([elements], (Kind::Float, Device::Cpu));
    let samples = timed(&rule, || {
        target.copy_(&source);
        Ok(())
    })?;
    let bandwidth_gbs = 2.0 * COPY_BYTES as f64 / (Summary::of(&samples.samples).p50 / 1e3) / 1e9;
    Ok(Peak {
        gflops: best.0,
        gemm_size: best.1,
        bandwidth_gbs,
        threads,
    })
}

/// Without libtorch in this build there is no engine to measure the limits with.
#[cfg(not(feature = "torch"))]
pub fn measure(_threads: i64) -> Result<Peak> {
    Err(crate::error::Error::InvalidArgument("this build has no torch engine to measure the machine's peak with (build with the runtime's `torch` feature)".into()))
}
