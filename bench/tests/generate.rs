//! The generation benchmark's figures: decode steps from a run's decode time, tokens per second
//! over the rows, and the weights read per second against the measured copy bandwidth.

use bench_core::generate::{GenerateSize, GenerationTiming};
use bench_core::peak::Peak;

#[test]
fn decode_figures_follow_from_the_step_time_the_batch_and_the_weights() {
    let peak = Peak { gflops: 100.0, gemm_size: 1024, bandwidth_gbs: 200.0, threads: 2 };
    // 16 new tokens: the prefill gives the first, 15 decode steps the rest.
    let size = GenerateSize { batch: 4, prompt: 256, new_tokens: 16 };
    let timing = GenerationTiming::of(&[10.0, 30.0, 20.0], &[150.0, 165.0, 135.0], size, 1_000_000_000, &peak);
    assert_eq!(timing.ttft.p50, 20.0);
    assert_eq!(timing.decode_step.p50, 10.0, "150 ms over 15 steps");
    assert_eq!(timing.tokens_per_s, 400.0, "4 rows every 10 ms");
    assert_eq!(timing.weights_gbs, 100.0, "1 GB of weights every 10 ms");
    assert_eq!(timing.bandwidth_share, 0.5);
}
