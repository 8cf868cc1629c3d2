//! Benchmarks at real size: a checkpoint (the published configuration with random weights, or
//! the user's) exported per cell, checked against eager PyTorch, timed through the runtime and
//! the bare engine call, beside the Python peers on the same weights and inputs, against the
//! machine's measured peak. The command is `cargo run -p bench` (bench/src/main.rs); its runs are
//! documents (`run::BenchRun`) that the results store (hfzoo) reads from here and draws.

pub mod cell;
pub mod generate;
pub mod generate_outcome;
pub mod generate_table;
pub mod peak;
pub mod published;
pub mod python;
pub mod run;
pub mod stats;
