//! `bench`: real-size benchmarks of key models (or any named ones) on the runtime's engines,
//! beside the Python peers on the same weights and inputs, against the machine's measured peak.
//!
//! `cargo run -p bench -- --model bert --hardware cpu,openvino [--batch 1,8] [--seq 128,512]`.
//! Without `--checkpoint`, each model is its published configuration's default size with random
//! weights, made once into the cache; every cell is exported at its size, checked against eager
//! PyTorch and only then timed. Prints a Markdown table; `--output DIR` keeps the run as JSON.

use std::process::ExitCode;

use clap::Parser;
use runtime::bench::run::{default_checkpoint, run_model, BenchRun, Plan};
use runtime::bench::stats::Rule;
use runtime::{Case, Hardware};

/// Real-size benchmarks beside the Python peers.
#[derive(Parser)]
#[command(name = "bench", version)]
struct Args {
    /// Model types, comma-separated (`bert,vit`).
    #[arg(long, value_delimiter = ',', required = true)]
    model: Vec<String>,
    /// Hardware, comma-separated (`cpu`, `openvino`).
    #[arg(long, value_delimiter = ',', default_value = "cpu,openvino")]
    hardware: Vec<String>,
    /// Batch sizes.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    batch: Vec<i64>,
    /// Sequence lengths, for models that take text.
    #[arg(long, value_delimiter = ',', default_value = "128")]
    seq: Vec<i64>,
    /// A checkpoint directory to use instead of the default-size random one (one model only).
    #[arg(long)]
    checkpoint: Option<String>,
    /// Python peers, comma-separated: eager, compile (torch.compile), onnxruntime, openvino.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "eager,compile,onnxruntime,openvino"
    )]
    peers: Vec<String>,
    /// Threads for every engine (default: every core).
    #[arg(long)]
    threads: Option<i64>,
    /// Quick timing (10 runs after a short warm-up), for smoke runs; the numbers are noisy.
    #[arg(long)]
    quick: bool,
    /// Write the run as `bench-<time>.json` into this folder.
    #[arg(long)]
    output: Option<std::path::PathBuf>,
}

fn cases_of(model: &str, hardware: &[Hardware]) -> Result<Vec<&'static Case>, String> {
    let all = generated::registry::cases();
    hardware
        .iter()
        .map(|h| {
            all.iter()
                .copied()
                .find(|c| c.spec.model_type == model && c.hardware == *h)
                .ok_or_else(|| {
                    if all.iter().any(|c| c.spec.model_type == model) {
                        format!("this build has no `{model}` case on {}", h.id())
                    } else {
                        format!("unknown model type `{model}` (metadata/models/ lists them)")
                    }
                })
        })
        .collect()
}

fn run(args: Args) -> Result<BenchRun, String> {
    let hardware: Vec<Hardware> = args
        .hardware
        .iter()
        .map(|id| {
            Hardware::from_id(id).ok_or_else(|| {
                format!(
                    "unknown hardware `{id}` (one of: {})",
                    Hardware::ALL.map(|h| h.id()).join(", ")
                )
            })
        })
        .collect::<Result<_, _>>()?;
    if args.checkpoint.is_some() && args.model.len() != 1 {
        return Err("--checkpoint goes with exactly one --model".into());
    }
    if let Some(bad) = args.batch.iter().chain(&args.seq).find(|n| **n < 1) {
        return Err(format!(
            "--batch and --seq take sizes of at least 1, not {bad}"
        ));
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as i64)
            .unwrap_or(1)
    });
    // Every engine at the same thread count, set before any engine starts.
    for name in [
        runtime::backend::torch::THREADS_ENV,
        runtime::backend::openvino::THREADS_ENV,
    ] {
        std::env::set_var(name, threads.to_string());
    }
    // Real-size exports take minutes where tiny ones take seconds.
    if std::env::var_os("HFZOO_EXPORT_JOB_SECONDS").is_none() {
        std::env::set_var("HFZOO_EXPORT_JOB_SECONDS", "3600");
    }
    let plan = Plan {
        batches: args.batch,
        seqs: args.seq,
        peers: args.peers,
        threads,
        rule: if args.quick {
            Rule::SMOKE
        } else {
            Rule::DEFAULT
        },
    };
    eprintln!("bench: measuring the machine's peak GEMM rate and bandwidth ({threads} threads)");
    let peak = runtime::bench::peak::measure(threads).map_err(|e| e.to_string())?;
    let started_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let cache = runtime::artifacts::ArtifactCache::new(runtime::paths::checkpoint_cache_dir());
    let mut models = Vec::new();
    for model in &args.model {
        let cases = cases_of(model, &hardware)?;
        let (checkpoint, default_size) = match &args.checkpoint {
            Some(source) => (
                runtime::checkpoint::Checkpoint::open(source).map_err(|e| e.to_string())?,
                false,
            ),
            None => (
                default_checkpoint(
                    cases[0],
                    &runtime::paths::cache_root().join("bench-checkpoints"),
                )
                .map_err(|e| e.to_string())?,
                true,
            ),
        };
        models.push(
            run_model(&cache, &cases, &checkpoint, default_size, &plan)
                .map_err(|e| e.to_string())?,
        );
    }
    let run = BenchRun {
        started_at_ms,
        peak,
        rule: plan.rule,
        threads,
        models,
    };
    if let Some(dir) = &args.output {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join(format!("bench-{started_at_ms}.json"));
        let text = serde_json::to_string_pretty(&run).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(run)
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(run) => {
            print!("{}", runtime::bench::table::markdown(&run));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
