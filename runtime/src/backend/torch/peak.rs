//! libtorch's kernels for the benchmark's measurement of the machine's limits
//! (`bench_core::peak`): a float32 GEMM, a buffer copy and a buffer read, each as a call to time.

use tch::{Device, Kind, Tensor};

/// Sets libtorch's intra-op threads for the calls below.
pub fn set_threads(threads: i64) {
    tch::set_num_threads(threads as i32);
}

/// One float32 `n`×`n` by `n`×`n` matrix product per call, on random operands made once.
pub fn gemm(n: i64) -> impl FnMut() {
    let a = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
    let b = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
    move || {
        let _ = a.matmul(&b);
    }
}

/// One copy of `bytes` of float32 into another buffer per call.
pub fn copy(bytes: i64) -> impl FnMut() {
    let elements = bytes / 4;
    let source = Tensor::ones([elements], (Kind::Float, Device::Cpu));
    let mut target = Tensor::zeros([elements], (Kind::Float, Device::Cpu));
    move || {
        target.copy_(&source);
    }
}

/// One read of `bytes` of float32 per call (their sum: nothing written but one scalar), what a
/// decode step does with the weights.
pub fn read(bytes: i64) -> impl FnMut() {
    let source = Tensor::ones([bytes / 4], (Kind::Float, Device::Cpu));
    move || {
        let _ = source.sum(Kind::Float);
    }
}
