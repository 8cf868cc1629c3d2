//! `bench`: real-size benchmarks of key models (or any named ones) on the runtime's engines,
//! beside the Python peers on the same weights and inputs, against the machine's measured peak.
//!
//! `cargo run -p bench -- --model bert --hardware cpu,openvino [--batch 1,8] [--seq 128,512]`;
//! `--config SmolLM2-135M` makes llama at a published size (bench/published-configs.yaml).
//! Without `--checkpoint`, each model is its published configuration's default size with random
//! weights, made once into the cache; every cell is exported at its size, checked against eager
//! PyTorch and only then timed. Prints a Markdown table and writes the run (JSON) and its page
//! (HTML) to results/bench/, from where `cargo run -p hfzoo -- ingest` takes it into the database.

use std::process::ExitCode;

use bench_core::generate::{self, GenerateModel, GenerateRun, GenerateSize};
use bench_core::run::{default_checkpoint, run_model, BenchRun, Plan};
use bench_core::stats::Rule;
use clap::Parser;
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
    /// Seconds of audio, for models that take a raw waveform (at their feature extractor's rate).
    #[arg(long, default_value_t = 10)]
    audio_seconds: i64,
    /// A checkpoint directory to use instead of the default-size random one (one model only).
    #[arg(long)]
    checkpoint: Option<String>,
    /// Published configurations to make the models at instead of their config class's default
    /// (random weights), comma-separated, at most one per model: `--model llama,qwen2 --config
    /// SmolLM2-135M,Qwen2-0.5B`. The names and their sources: bench/published-configs.yaml.
    #[arg(long, value_delimiter = ',')]
    config: Vec<String>,
    /// Python peers, comma-separated: eager, compile (torch.compile), onnxruntime, openvino
    /// (the default); with `--generate`: transformers, optimum-intel, openvino-genai,
    /// onnxruntime-genai (the default; all but transformers run from .venv-peers, made by
    /// `bash scripts/setup-peers.sh`).
    #[arg(long, value_delimiter = ',')]
    peers: Option<Vec<String>>,
    /// Benchmark generation instead of one forward pass: time to first token for a prompt of
    /// `--prompt` tokens and decode tokens/s for `--new-tokens`, with the cache, at each
    /// `--batch`, beside transformers' `generate`, optimum-intel, OpenVINO GenAI and
    /// onnxruntime-genai on the same weights (docs/bench.md).
    #[arg(long)]
    generate: bool,
    /// Prompt tokens per row, with `--generate`.
    #[arg(long, default_value_t = 256)]
    prompt: i64,
    /// New tokens per row, with `--generate`.
    #[arg(long, default_value_t = 128)]
    new_tokens: usize,
    /// Threads for every engine (default: every core).
    #[arg(long)]
    threads: Option<i64>,
    /// Quick timing (10 runs after a short warm-up, the peak from two GEMM sizes), for smoke
    /// runs; the numbers are noisy.
    #[arg(long)]
    quick: bool,
    /// Write the run as `<id>.json` and its page `<id>.html` into this folder instead of
    /// results/bench/ (where `hfzoo ingest` takes runs into the results database).
    #[arg(long)]
    output: Option<std::path::PathBuf>,
}

fn cases_of(model: &str, hardware: &[Hardware]) -> Result<Vec<&'static Case>, String> {
    let all = generated::registry::cases();
    hardware.iter().map(|h| skills::case::find(&all, model, *h)).collect()
}

/// What a run produced: forward benchmarks, or generation ones (`--generate`).
enum Finished {
    Forward(BenchRun),
    Generate(GenerateRun),
}

fn run(args: Args) -> Result<Finished, String> {
    let hardware: Vec<Hardware> = args
        .hardware
        .iter()
        .map(|id| {
            Hardware::from_id(id).ok_or_else(|| {
                format!("unknown hardware `{id}` (one of: {})", Hardware::ALL.map(|h| h.id()).join(", "))
            })
        })
        .collect::<Result<_, _>>()?;
    if args.checkpoint.is_some() && args.model.len() != 1 {
        return Err("--checkpoint goes with exactly one --model".into());
    }
    if args.checkpoint.is_some() && !args.config.is_empty() {
        return Err("--checkpoint and --config each say which weights to use: give one".into());
    }
    let configs = if args.config.is_empty() {
        vec![None; args.model.len()]
    } else {
        let published = bench_core::published::read(&bench_core::published::path()).map_err(|e| e.to_string())?;
        bench_core::published::choose(&published, &args.model, &args.config).map_err(|e| e.to_string())?
    };
    if let Some(bad) = args.batch.iter().chain(&args.seq).find(|n| **n < 1) {
        return Err(format!("--batch and --seq take sizes of at least 1, not {bad}"));
    }
    let threads =
        args.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1));
    // Every engine at the same thread count, set before any engine starts.
    for name in [runtime::backend::torch::THREADS_ENV, runtime::backend::openvino::THREADS_ENV] {
        std::env::set_var(name, threads.to_string());
    }
    // Real-size exports take minutes where tiny ones take seconds.
    if std::env::var_os("HFZOO_EXPORT_JOB_SECONDS").is_none() {
        std::env::set_var("HFZOO_EXPORT_JOB_SECONDS", "3600");
    }
    let plan = Plan {
        batches: args.batch,
        seqs: args.seq,
        peers: args
            .peers
            .clone()
            .unwrap_or_else(|| ["eager", "compile", "onnxruntime", "openvino"].map(String::from).to_vec()),
        threads,
        rule: if args.quick { Rule::SMOKE } else { Rule::DEFAULT },
        audio_seconds: args.audio_seconds,
    };
    eprintln!("bench: measuring the machine's peak GEMM rate and bandwidth ({threads} threads)");
    let effort = if args.quick { bench_core::peak::Effort::Quick } else { bench_core::peak::Effort::Full };
    let peak = bench_core::peak::measure(threads, effort).map_err(|e| e.to_string())?;
    let started_at_ms = runtime::measure::now_ms();
    let cache = runtime::artifacts::ArtifactCache::new(runtime::paths::checkpoint_cache_dir());
    if args.generate {
        let sizes: Vec<GenerateSize> = plan
            .batches
            .iter()
            .map(|batch| GenerateSize { batch: *batch, prompt: args.prompt, new_tokens: args.new_tokens })
            .collect();
        let rule = generate::rule(args.quick);
        let peers = args.peers.clone().unwrap_or_else(|| generate::PEERS.map(String::from).to_vec());
        generate::check_peers(&peers).map_err(|e| e.to_string())?;
        let mut run = GenerateRun {
            bench_id: format!("bench-generate-{started_at_ms}-{}", std::process::id()),
            environment: runtime::results::record::run_info(&args.hardware.join(",")),
            started_at_ms,
            peak,
            rule,
            threads,
            models: Vec::new(),
            not_run: Vec::new(),
            pending: args.model.clone(),
        };
        let dir = args.output.clone().unwrap_or_else(|| generate::generate_dir(&runtime::paths::results_dir()));
        for (model, config) in args.model.iter().zip(&configs) {
            let cases = cases_of(model, &hardware)?;
            let result = generate::generation_class(model).and_then(|model_class| {
                let checkpoint = match &args.checkpoint {
                    Some(source) => skills::checkpoint::Checkpoint::open(source)?,
                    None => default_checkpoint(
                        cases[0],
                        config.as_ref(),
                        &runtime::paths::cache_root().join("bench-checkpoints"),
                    )?,
                };
                let sizes = generate::run_model(
                    &cache,
                    &cases,
                    &checkpoint,
                    &model_class,
                    &sizes,
                    &run.rule,
                    threads,
                    &run.peak,
                    &peers,
                )?;
                Ok(GenerateModel {
                    model: model.clone(),
                    config: config.as_ref().map(|c| c.name.clone()),
                    model_class,
                    checkpoint: checkpoint.dir.clone(),
                    digest: checkpoint.digest.clone(),
                    sizes,
                })
            });
            match result {
                Ok(result) => run.models.push(result),
                Err(error) => {
                    eprintln!("bench: {model}: not run: {error}");
                    run.not_run.push((model.clone(), error.to_string()));
                }
            }
            // On disk after every model: a run stopped midway keeps what it measured.
            run.pending.remove(0);
            write_run(&dir, &run.bench_id, &hfzoo::results::bench_generate_page::html(&run), &run)?;
        }
        return Ok(Finished::Generate(run));
    }
    let mut run = BenchRun {
        bench_id: format!("bench-{started_at_ms}-{}", std::process::id()),
        environment: runtime::results::record::run_info(&args.hardware.join(",")),
        started_at_ms,
        peak,
        rule: plan.rule,
        threads,
        models: Vec::new(),
        not_run: Vec::new(),
        pending: args.model.clone(),
    };
    let dir = args.output.clone().unwrap_or_else(|| bench_core::run::bench_dir(&runtime::paths::results_dir()));
    for (model, config) in args.model.iter().zip(&configs) {
        let cases = cases_of(model, &hardware)?;
        let checkpoint = match &args.checkpoint {
            Some(source) => skills::checkpoint::Checkpoint::open(source).map(|c| (c, false)),
            None => {
                default_checkpoint(cases[0], config.as_ref(), &runtime::paths::cache_root().join("bench-checkpoints"))
                    .map(|c| (c, true))
            }
        };
        let name = config.as_ref().map(|c| c.name.as_str());
        // One model that cannot run here (too large, a broken checkpoint) leaves the others to run.
        match checkpoint
            .and_then(|(checkpoint, default_size)| run_model(&cache, &cases, &checkpoint, default_size, name, &plan))
        {
            Ok(result) => run.models.push(result),
            Err(error) => {
                eprintln!("bench: {model}: not run: {error}");
                run.not_run.push((model.clone(), error.to_string()));
            }
        }
        // On disk after every model: a run stopped midway keeps what it measured.
        run.pending.remove(0);
        write_run(&dir, &run.bench_id, &hfzoo::results::bench_page::html(&run), &run)?;
    }
    Ok(Finished::Forward(run))
}

/// Writes a run's page `<dir>/<id>.html`, then its document `<dir>/<id>.json` last and whole
/// (`hfzoo ingest` takes every `.json` there), and says where.
fn write_run(dir: &std::path::Path, id: &str, page_html: &str, document: &impl serde::Serialize) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let page = dir.join(format!("{id}.html"));
    std::fs::write(&page, page_html).map_err(|e| format!("cannot write {}: {e}", page.display()))?;
    let path = write_document(dir, id, document)?;
    eprintln!(
        "bench: wrote {} and {} (`cargo run -p hfzoo -- ingest` moves the run into the results database)",
        path.display(),
        page.display()
    );
    Ok(())
}

/// Writes `document` as `<dir>/<id>.json`, whole (a temporary file renamed); returns its path.
fn write_document(
    dir: &std::path::Path,
    id: &str,
    document: &impl serde::Serialize,
) -> Result<std::path::PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(format!("{id}.json"));
    let partial = dir.join(format!("{id}.json.partial"));
    let text = serde_json::to_string_pretty(document).map_err(|e| e.to_string())?;
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(finished) => {
            let not_run = match &finished {
                Finished::Forward(run) => {
                    print!("{}", hfzoo::results::bench_table::markdown(run));
                    run.not_run.len()
                }
                Finished::Generate(run) => {
                    print!("{}", bench_core::generate_table::markdown(run));
                    run.not_run.len()
                }
            };
            // A model that could not run is a failure of the run, after the others are reported.
            if not_run == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
