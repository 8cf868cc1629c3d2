//! A benchmark run: the machine's peak once, then for each model and size every hardware's
//! cell and the Python peers on the same artifact's inputs, as one document.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cell::{self, CellStatus, Size};
use crate::peak::Peak;
use crate::published::PublishedConfig;
use crate::python::{self, PeerAnswer, PeerFiles, PeerStatus};
use crate::stats::{Rule, Summary};
use runtime::artifacts::{ArtifactCache, ArtifactFormat};
use runtime::error::{Error, Result};
use runtime::spec::{Case, InputSet};
use skills::checkpoint::Checkpoint;

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Batch sizes.
    pub batches: Vec<i64>,
    /// Sequence lengths (for models that take text; others run once per batch).
    pub seqs: Vec<i64>,
    /// Python peers by name (`eager`, `compile`, `onnxruntime`, `openvino`).
    pub peers: Vec<String>,
    /// Threads every engine uses.
    pub threads: i64,
    /// The timing rule.
    pub rule: Rule,
    /// Seconds of audio for models that take a raw waveform.
    pub audio_seconds: i64,
}

/// One model's results at one size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SizeResult {
    /// The size.
    pub size: Size,
    /// Each hardware's cell (`cpu`, `openvino`).
    pub cells: Vec<(String, CellStatus)>,
    /// The peers and the FLOP count, when any cell passed; else why not.
    pub peers: std::result::Result<PeerAnswer, String>,
}

/// One model's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelResult {
    /// Model type.
    pub model: String,
    /// The checkpoint directory and digest.
    pub checkpoint: PathBuf,
    /// Its content digest.
    pub digest: String,
    /// Whether it was made here from the published configuration with random weights.
    pub default_size: bool,
    /// The published configuration it was made at (`--config`, [`crate::published`]); none:
    /// its config class's default size, or the user's checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Each size.
    pub sizes: Vec<SizeResult>,
}

impl ModelResult {
    /// The model type, with the published configuration it was made at (`llama (SmolLM2-135M)`).
    pub fn label(&self) -> String {
        crate::published::label(&self.model, self.config.as_deref())
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchRun {
    /// `bench-<started_at_ms>-<process id>`: the run's name in the results database and its files.
    pub bench_id: String,
    /// The machine, commit and versions (as a suite run records them).
    pub environment: runtime::results::record::RunInfo,
    /// When it started, ms since the Unix epoch.
    pub started_at_ms: i64,
    /// The machine's measured peak.
    pub peak: Peak,
    /// The timing rule.
    pub rule: Rule,
    /// Threads every engine used.
    pub threads: i64,
    /// Each model.
    pub models: Vec<ModelResult>,
    /// Models that could not be benchmarked here, with why (too large for this machine, no checkpoint).
    pub not_run: Vec<(String, String)>,
    /// Models not reached yet: the document is rewritten after every model, so a run stopped
    /// midway keeps the models before; empty once the run has finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
}

/// What a run's table and page say of a model in its `pending` list.
pub const NOT_REACHED: &str = "not reached: the run stopped, or is still running, before it";

/// The folder under a results folder where `bench` writes its runs (`<id>.json`, the
/// database's pending documents, and `<id>.html`, the run's page).
pub fn bench_dir(results: &Path) -> PathBuf {
    results.join("bench")
}

/// The checkpoint of `base` at `config` (a published configuration; none: its config class's
/// defaults), random weights of its model class, made under `dir` on first use.
pub fn default_checkpoint(base: &Case, config: Option<&PublishedConfig>, dir: &Path) -> Result<Checkpoint> {
    let request: serde_json::Value = serde_json::from_str(&base.spec.request_json).map_err(|source| Error::Json {
        context: format!("the exporter request of `{}`", base.spec.model_type),
        source,
    })?;
    let config_class = request.get("config_class").and_then(|v| v.as_str()).ok_or_else(|| {
        Error::InvalidArgument(format!("the request of `{}` names no config class", base.spec.model_type))
    })?;
    let versions = format!("transformers-{}", runtime::paths::python_package_version("transformers"));
    let size = config.map(|c| format!("-{}", c.name)).unwrap_or_default();
    let out = dir.join(format!("{}-{}{size}-{versions}", base.spec.model_type, base.spec.model_class));
    if !out.join("config.json").is_file() {
        std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
        let what = match config {
            Some(c) => format!("{config_class} at {} ({}, {})", c.name, c.parameters, c.source),
            None => format!("the default {config_class}"),
        };
        eprintln!("bench: making {} ({what} with random {} weights)", out.display(), base.spec.model_class);
        // The export holds the model, a float64 copy and the traced file: about four times the weights.
        let room = available_memory_bytes().map(|bytes| bytes / 4);
        let fields = serde_json::Value::Object(config.map(|c| c.config.clone()).unwrap_or_default());
        python::make_checkpoint(config_class, &base.spec.model_class, &fields, &out, room)?;
    }
    Checkpoint::open(&out.display().to_string())
}

/// Memory available to new work (`MemAvailable`), if the system says.
fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text.lines().find(|l| l.starts_with("MemAvailable:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The sizes of `plan` for `base`: every batch × sequence where it takes text (no longer than its
/// positions allow: `max_positions`), with `plan.audio_seconds` of audio where it takes a waveform.
pub fn sizes(plan: &Plan, base: &Case, max_positions: Option<i64>) -> Vec<Size> {
    let takes_text =
        base.spec.inputs.iter().any(|input| input.name == "input_ids" || input.name == "decoder_input_ids");
    let seconds = cell::audio_dim(base).map(|_| plan.audio_seconds);
    let mut sizes = Vec::new();
    for &batch in &plan.batches {
        if takes_text {
            for &seq in &plan.seqs {
                let size = Size { batch, seq: Some(max_positions.map_or(seq, |limit| seq.min(limit))), seconds };
                if !sizes.contains(&size) {
                    sizes.push(size);
                }
            }
        } else {
            sizes.push(Size { batch, seq: None, seconds });
        }
    }
    sizes
}

/// Runs every size of one model on `cases` (one per hardware, same model type).
pub fn run_model(
    cache: &ArtifactCache,
    cases: &[&'static Case],
    checkpoint: &Checkpoint,
    default_size: bool,
    config: Option<&str>,
    plan: &Plan,
) -> Result<ModelResult> {
    let base = cases.first().ok_or_else(|| Error::InvalidArgument("no hardware to benchmark on".into()))?;
    checkpoint.expect_model_type(base.spec.model_type)?;
    let cache = cell::checkpoint_cache(cache, checkpoint);
    let mut results = Vec::new();
    let limit = cell::max_positions(checkpoint);
    if let Some(limit) = limit.filter(|limit| plan.seqs.iter().any(|seq| seq > limit)) {
        eprintln!("bench: {}: texts of at most {limit} tokens (its max_position_embeddings)", base.spec.model_type);
    }
    for size in sizes(plan, base, limit) {
        let label = format!(
            "{} batch {}{}{}",
            base.spec.model_type,
            size.batch,
            size.seq.map(|s| format!(" seq {s}")).unwrap_or_default(),
            size.seconds.map(|s| format!(" {s} s of audio")).unwrap_or_default()
        );
        let mut cells = Vec::new();
        let mut files = PeerFiles::default();
        let mut passed = None;
        for base_case in cases {
            let hardware = base_case.hardware.id();
            eprintln!("bench: {label} on {hardware}: export (first time at this size) and check against eager PyTorch");
            let case = cell::cell_case(base_case, checkpoint, size)?;
            let (status, artifact) = cell::measure(&cache, &case, &plan.rule)?;
            match &status {
                CellStatus::Measured(m) => {
                    eprintln!("bench: {label} on {hardware}: p50 {:.3} ms ({} runs)", m.ours.p50, m.ours.runs)
                }
                CellStatus::Refused { verdict, reason } => {
                    eprintln!("bench: {label} on {hardware}: {verdict}, not timed: {reason}")
                }
            }
            if let Some(artifact) = artifact {
                if base_case.hardware == runtime::Hardware::Openvino {
                    files.openvino = Some(artifact.model());
                    if artifact.format == ArtifactFormat::Onnx {
                        files.onnx = Some(artifact.model());
                    }
                }
                passed.get_or_insert((case, artifact));
            }
            cells.push((hardware.to_string(), status));
        }
        let peers = match &passed {
            Some((case, artifact)) => {
                eprintln!("bench: {label}: Python peers ({})", plan.peers.join(", "));
                let model = python::Model {
                    checkpoint: &checkpoint.dir,
                    digest: &checkpoint.digest,
                    request: &case.spec.request_json,
                    inputs: &artifact.inputs(InputSet::A),
                };
                python::run_peers(
                    &model,
                    &artifact.reference(InputSet::A),
                    &artifact.dir.join("manifest.json"),
                    &files,
                    &plan.peers,
                    plan.threads,
                    &plan.rule,
                )
                .map_err(|e| e.to_string())
            }
            None => Err("no cell passed its checks: nothing to compare the peers with".into()),
        };
        results.push(SizeResult { size, cells, peers });
    }
    Ok(ModelResult {
        model: base.spec.model_type.to_string(),
        checkpoint: checkpoint.dir.clone(),
        digest: checkpoint.digest.clone(),
        default_size,
        config: config.map(str::to_string),
        sizes: results,
    })
}

/// One engine's timing in a size's comparison: ours on a hardware, or a peer.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `runtime cpu`, `runtime openvino`, `eager`, `compile`, `onnxruntime`, `openvino-python`.
    pub engine: String,
    /// Its latency summary.
    pub summary: Summary,
    /// Load (or compile) time, ms.
    pub load_ms: Option<f64>,
    /// First inference, ms.
    pub first_ms: Option<f64>,
    /// Peak resident memory of its process after it, MiB.
    pub peak_rss_mib: Option<f64>,
    /// The runtime's cost over the bare engine call (the runtime's cells only).
    pub overhead: Option<f64>,
}

/// The engine name of a Python peer in comparisons (`openvino` is `openvino-python`, apart
/// from the runtime's own OpenVINO cell).
pub fn peer_engine(name: &str) -> String {
    if name == "openvino" {
        "openvino-python".to_string()
    } else {
        name.to_string()
    }
}

impl SizeResult {
    /// Every engine that ran and matched, with its summary: the runtime's cells, then the peers.
    pub fn entries(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self
            .cells
            .iter()
            .filter_map(|(hardware, status)| match status {
                CellStatus::Measured(m) => Some(Entry {
                    engine: format!("runtime {hardware}"),
                    summary: m.ours,
                    load_ms: Some(m.load_ms),
                    first_ms: Some(m.first_ms),
                    peak_rss_mib: m.peak_rss_mib,
                    overhead: m.overhead(),
                }),
                CellStatus::Refused { .. } => None,
            })
            .collect();
        if let Ok(answer) = &self.peers {
            for (name, peer) in
                answer.peers.iter().filter(|(_, peer)| peer.status == PeerStatus::Ok && !peer.samples.is_empty())
            {
                entries.push(Entry {
                    engine: peer_engine(name),
                    summary: Summary::of(&peer.samples),
                    load_ms: peer.load_ms,
                    first_ms: peer.first_ms,
                    peak_rss_mib: peer.peak_rss_mib,
                    overhead: None,
                });
            }
        }
        entries
    }

    /// The fastest engine by median latency.
    pub fn winner(&self) -> Option<Entry> {
        self.entries().into_iter().min_by(|a, b| a.summary.p50.total_cmp(&b.summary.p50))
    }
}

/// Achieved GFLOP/s of `flops` per inference at a median of `p50_ms`.
pub fn gflops(flops: u64, p50_ms: f64) -> f64 {
    flops as f64 / (p50_ms / 1e3) / 1e9
}
