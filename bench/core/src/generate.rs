//! Generation benchmarks (`bench --generate`): time to first token for a prompt and decode
//! tokens per second with the cache, on a generation artifact exported at the cell's size. A
//! cell is timed only after the generation check passed on both prompts with the cache (every id
//! equal to transformers' `generate`, every step's logits within the derived tolerance:
//! `runtime::generation::check`; not without the cache, n² work at real size: the zoo's tiny
//! cells check that); the peers ([`PEERS`]) are timed beside it on the same weights and prompt,
//! their ids compared with the reference first. Decode is bound by
//! memory bandwidth at batch 1 (every token reads every weight once), so each decode rate is
//! also given as GB/s of weights read and its share of the machine's measured read bandwidth.

use std::cell::RefCell;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cell::{self, Size};
use crate::peak::Peak;
use crate::python;
use crate::stats::{timed, Rule, Summary};
use export_request::ExportRequest;
use runtime::artifacts::ArtifactCache;
use runtime::error::{Error, Result};
use runtime::generation::{self, Judgement, Reference, Steps};
use runtime::measure::process_peak_rss_mib;
use runtime::session::backend_for;
use runtime::spec::{Case, Cow, Expected, InputSet};
use skills::checkpoint::Checkpoint;

/// The timing rule of a generation cell: one run is a whole decoding (seconds at real size), so
/// one warm-up run and 5 timed ones (2 with `--quick`) instead of the forward rule's hundred.
pub fn rule(quick: bool) -> Rule {
    let runs = if quick { 2 } else { 5 };
    Rule {
        window: 1,
        tolerance: 1.0,
        max_windows: 1,
        warmup_seconds: 0.0,
        min_runs: runs,
        max_runs: runs,
        seconds: 0.0,
    }
}

/// One generation size: the prompt's rows and tokens, and the tokens generated per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateSize {
    /// Rows (the batch).
    pub batch: i64,
    /// Prompt tokens per row.
    pub prompt: i64,
    /// New tokens per row.
    pub new_tokens: usize,
}

/// What one engine measured at one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationTiming {
    /// Time to first token: the prefill step on the prompt, ms.
    pub ttft: Summary,
    /// One decode step (a token per row), ms: each run's decode time over its steps.
    pub decode_step: Summary,
    /// New tokens per second over all rows during decode, at the median step.
    pub tokens_per_s: f64,
    /// Weights read per second during decode at the median step (every step reads every weight
    /// once), GB/s.
    pub weights_gbs: f64,
    /// That rate's share of the machine's measured read bandwidth (`Peak::weight_read_gbs`).
    pub bandwidth_share: f64,
}

impl GenerationTiming {
    /// The figures from per-run prefill and decode times (ms) of `size`, for weights of
    /// `weight_bytes` on a machine of `peak`.
    pub fn of(prefill_ms: &[f64], decode_ms: &[f64], size: GenerateSize, weight_bytes: u64, peak: &Peak) -> Self {
        let steps = size.new_tokens.saturating_sub(1).max(1) as f64;
        let per_step: Vec<f64> = decode_ms.iter().map(|ms| ms / steps).collect();
        let decode_step = Summary::of(&per_step);
        let step_s = decode_step.p50 / 1e3;
        let weights_gbs = weight_bytes as f64 / step_s / 1e9;
        Self {
            ttft: Summary::of(prefill_ms),
            decode_step,
            tokens_per_s: size.batch as f64 / step_s,
            weights_gbs,
            bandwidth_share: weights_gbs / peak.weight_read_gbs(),
        }
    }
}

/// A generation cell of the runtime: timed, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum GenerationStatus {
    /// Generated transformers' ids with the cache on both prompts, then timed.
    Measured {
        /// The artifact's format.
        route: String,
        /// Its key in the cache.
        artifact_key: String,
        /// The timings.
        timing: GenerationTiming,
        /// This process's peak resident memory after the cell, MiB (process-wide).
        peak_rss_mib: Option<f64>,
        /// The exporter process's own peak resident memory, MiB, where this run exported the
        /// artifact (absent: it was in the cache).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        export_peak_rss_mib: Option<f64>,
    },
    /// Not timed: the export or the check failed.
    Refused {
        /// `unsupported` (no artifact), `failed` or `chaotic` (the check).
        verdict: String,
        /// Why.
        reason: String,
    },
}

/// A peer beside the cells: its script's answer and the figures from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratePeer {
    /// What the script answered.
    #[serde(flatten)]
    pub answer: python::GenerateAnswer,
    /// The figures, where it was timed: a run's decode is its whole generation less the median
    /// prefill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<GenerationTiming>,
}

impl GeneratePeer {
    /// The figures of `answer` at `size`, for weights of `weight_bytes` on a machine of `peak`.
    pub fn of(answer: python::GenerateAnswer, size: GenerateSize, weight_bytes: u64, peak: &Peak) -> Self {
        let timing =
            (answer.status == "ok" && !answer.prefill_ms.is_empty() && !answer.generate_ms.is_empty()).then(|| {
                let prefill = Summary::of(&answer.prefill_ms).p50;
                let decode: Vec<f64> = answer.generate_ms.iter().map(|ms| (ms - prefill).max(0.0)).collect();
                GenerationTiming::of(&answer.prefill_ms, &decode, size, weight_bytes, peak)
            });
        Self { answer, timing }
    }
}

/// Every generation peer `bench --generate` knows, in the order of its tables: transformers'
/// `generate` from the exporter's environment, then [`python::ENVIRONMENT_PEERS`].
pub const PEERS: [&str; 4] = ["transformers", "optimum-intel", "openvino-genai", "onnxruntime-genai"];

/// What a table calls a peer.
pub fn peer_label(peer: &str) -> &str {
    match peer {
        "transformers" => "transformers generate (eager)",
        "optimum-intel" => "optimum-intel OVModelForCausalLM",
        "openvino-genai" => "OpenVINO GenAI LLMPipeline",
        "onnxruntime-genai" => "onnxruntime-genai",
        other => other,
    }
}

/// Checks peer names against [`PEERS`].
pub fn check_peers(peers: &[String]) -> Result<()> {
    match peers.iter().find(|p| !PEERS.contains(&p.as_str())) {
        Some(unknown) => {
            Err(Error::InvalidArgument(format!("unknown generation peer `{unknown}` (one of: {})", PEERS.join(", "))))
        }
        None => Ok(()),
    }
}

/// One peer beside the cells of one size: its answer and figures, or why it did not run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerResult {
    /// Its name (one of [`PEERS`]).
    pub peer: String,
    /// Its answer, or why it did not run (`skipped: ...` where its environment is absent).
    pub outcome: std::result::Result<GeneratePeer, String>,
}

/// One size of one model: each hardware's cell and each peer on the same weights and prompt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerationSizeResult {
    /// The size.
    pub size: GenerateSize,
    /// Each hardware's cell.
    pub cells: Vec<(String, GenerationStatus)>,
    /// Each peer.
    pub peers: Vec<PeerResult>,
}

impl GenerationSizeResult {
    /// The decode step's median ms of a measured cell on `hardware`.
    pub fn cell_step(&self, hardware: &str) -> Option<f64> {
        self.cells.iter().find(|(h, _)| h == hardware).and_then(|(_, status)| match status {
            GenerationStatus::Measured { timing, .. } => Some(timing.decode_step.p50),
            GenerationStatus::Refused { .. } => None,
        })
    }

    /// The decode step's median ms of a timed `peer`.
    pub fn peer_step(&self, peer: &str) -> Option<f64> {
        self.peers
            .iter()
            .find(|p| p.peer == peer)
            .and_then(|p| p.outcome.as_ref().ok())
            .and_then(|p| p.timing.as_ref())
            .map(|t| t.decode_step.p50)
    }
}

/// A generation case of `base` on `checkpoint` at `size`, generating with `model_class`.
pub fn generation_case(base: &Case, checkpoint: &Checkpoint, size: GenerateSize, model_class: &str) -> Result<Case> {
    let forward = cell::cell_case(base, checkpoint, Size { batch: size.batch, seq: Some(size.prompt), seconds: None })?;
    let request = ExportRequest::parse(&forward.spec.request_json)
        .and_then(|request| request.generation(model_class, u32::try_from(size.new_tokens).unwrap_or(u32::MAX)))
        // With the cache only: decoding without it is n² work at real size (hours at Qwen2-0.5B
        // with 128 new tokens); the zoo's generation cells check it at tiny size.
        .map(ExportRequest::cached_only)
        .map_err(|why| Error::Mismatch(format!("the generation request of `{}`: {why}", base.spec.model_type)))?;
    let mut spec = (*forward.spec).clone();
    spec.model_class = Cow::Owned(model_class.to_string());
    spec.request_json = Cow::Owned(request.to_canonical_json());
    Ok(Case { spec: Cow::Owned(spec), hardware: base.hardware, expected: Expected::Pass })
}

/// The bytes of the checkpoint's weights (its safetensors files): what each decode step reads.
pub fn weight_bytes(checkpoint: &Checkpoint) -> Result<u64> {
    let entries = std::fs::read_dir(&checkpoint.dir).map_err(Error::io("read", &checkpoint.dir))?;
    let mut total = 0;
    for entry in entries.flatten() {
        if entry.path().extension().is_some_and(|e| e == "safetensors") {
            total += entry.metadata().map_err(Error::io("read", entry.path()))?.len();
        }
    }
    if total == 0 {
        return Err(Error::InvalidArgument(format!("{} holds no .safetensors weights", checkpoint.dir.display())));
    }
    Ok(total)
}

/// Exports (or finds) `case`'s generation artifact, checks it, and only if it generated
/// transformers' ids on both prompts times a whole decoding of prompt set a under `rule`.
pub fn measure(
    cache: &ArtifactCache,
    case: &Case,
    rule: &Rule,
    weight_bytes: u64,
    peak: &Peak,
) -> Result<(GenerationStatus, Option<runtime::artifacts::Artifact>)> {
    let refused =
        |verdict: &str, reason: String| Ok((GenerationStatus::Refused { verdict: verdict.into(), reason }, None));
    let backend = backend_for(case)?;
    let formats = runtime::route::formats(case, backend);
    if formats.is_empty() {
        return refused("unsupported", format!("{} has no generation route", case.hardware.id()));
    }
    // The exporter (checkpoint_export.py) writes its own peak memory here when it runs.
    let peak_file = std::env::temp_dir().join(format!("hfzoo-export-peak-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&peak_file);
    let exporting = cache.clone().with_exporter_env(EXPORT_PEAK_FILE_ENV, peak_file.display().to_string());
    let artifact = exporting.ensure_first(case, formats);
    let export_peak_rss_mib = read_export_peak(&peak_file);
    let artifact = match artifact {
        Ok(artifact) => artifact,
        Err(error) => return refused("unsupported", error.to_string()),
    };
    let steps = Steps::load(backend, case.hardware, &artifact)?;
    let tolerance = *artifact.parity()?.outputs.get("logits").ok_or_else(|| Error::Artifact {
        path: artifact.manifest_path(),
        message: "has no tolerance for `logits`; export the artifact again".into(),
    })?;
    match generation::check(&steps, &artifact, &tolerance)? {
        Judgement::Matched => {}
        Judgement::NearTie(detail) => return refused("chaotic", detail),
        Judgement::Failed(detail) => return refused("failed", detail),
    }
    let reference = Reference::read(&artifact, InputSet::A)?;
    let new_tokens = reference.generated.steps;
    let phases = RefCell::new(Vec::new());
    let samples = timed(rule, || {
        let (_, times) = generation::decode_cached_timed(&steps, &reference.ids, &reference.mask, new_tokens)?;
        phases.borrow_mut().push(times);
        Ok(())
    })?;
    // The timed runs are the last ones (the first were warm-up).
    let phases = phases.into_inner();
    let timed_phases = &phases[phases.len() - samples.samples.len()..];
    let prefill: Vec<f64> = timed_phases.iter().map(|t| t.prefill.as_secs_f64() * 1e3).collect();
    let decode: Vec<f64> = timed_phases.iter().map(|t| t.decode.as_secs_f64() * 1e3).collect();
    let size = size_of(&reference, new_tokens)?;
    let timing = GenerationTiming::of(&prefill, &decode, size, weight_bytes, peak);
    Ok((
        GenerationStatus::Measured {
            route: artifact.format.id().to_string(),
            artifact_key: artifact.key.clone(),
            timing,
            peak_rss_mib: process_peak_rss_mib(),
            export_peak_rss_mib,
        },
        Some(artifact),
    ))
}

/// The variable checkpoint_export.py reads: a file to write its own peak memory to.
pub const EXPORT_PEAK_FILE_ENV: &str = "HFZOO_EXPORT_PEAK_FILE";

/// The exporter's peak memory from the file it wrote (and removes it), MiB; None where no
/// exporter ran.
fn read_export_peak(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let _ = std::fs::remove_file(path);
    serde_json::from_str::<serde_json::Value>(&text).ok()?.get("peak_rss_mib")?.as_f64()
}

/// The size a reference's prompt has.
fn size_of(reference: &Reference, new_tokens: usize) -> Result<GenerateSize> {
    match reference.ids.shape() {
        [batch, prompt] => Ok(GenerateSize { batch: *batch, prompt: *prompt, new_tokens }),
        shape => Err(Error::Tensor(format!("a prompt of shape {shape:?}, expected [batch, length]"))),
    }
}

/// Runs every size of one model on `cases` (one per hardware), generating with `model_class`,
/// with each of `peers` beside each size.
#[allow(clippy::too_many_arguments)]
pub fn run_model(
    cache: &ArtifactCache,
    cases: &[&'static Case],
    checkpoint: &Checkpoint,
    model_class: &str,
    sizes: &[GenerateSize],
    rule: &Rule,
    threads: i64,
    peak: &Peak,
    peers: &[String],
) -> Result<Vec<GenerationSizeResult>> {
    let base = cases.first().ok_or_else(|| Error::InvalidArgument("no hardware to benchmark on".into()))?;
    checkpoint.expect_model_type(base.spec.model_type)?;
    let cache = cell::checkpoint_cache(cache, checkpoint);
    let weights = weight_bytes(checkpoint)?;
    let mut results = Vec::new();
    for size in sizes {
        let label = format!(
            "{} generate batch {} prompt {} new {}",
            base.spec.model_type, size.batch, size.prompt, size.new_tokens
        );
        let mut cells = Vec::new();
        let mut passed = None;
        for base_case in cases {
            let hardware = base_case.hardware.id();
            eprintln!("bench: {label} on {hardware}: export (first time at this size), check against generate, time");
            let case = generation_case(base_case, checkpoint, *size, model_class)?;
            let (status, artifact) = measure(&cache, &case, rule, weights, peak)?;
            match &status {
                GenerationStatus::Measured { timing, .. } => eprintln!(
                    "bench: {label} on {hardware}: ttft {:.1} ms, decode {:.1} tokens/s ({:.0}% of the bandwidth bound)",
                    timing.ttft.p50,
                    timing.tokens_per_s,
                    timing.bandwidth_share * 100.0
                ),
                GenerationStatus::Refused { verdict, reason } => {
                    eprintln!("bench: {label} on {hardware}: {verdict}, not timed: {reason}")
                }
            }
            if let Some(artifact) = artifact {
                passed.get_or_insert((case, artifact));
            }
            cells.push((hardware.to_string(), status));
        }
        let peers = peers
            .iter()
            .map(|peer| {
                let outcome = match &passed {
                    Some((case, artifact)) => {
                        eprintln!("bench: {label}: {}", peer_label(peer));
                        run_peer(peer, checkpoint, case, artifact, threads, rule)
                            .map(|answer| GeneratePeer::of(answer, *size, weights, peak))
                            .map_err(|e| e.to_string())
                    }
                    None => Err("no cell passed its generation check: nothing to compare the peer with".into()),
                };
                PeerResult { peer: peer.clone(), outcome }
            })
            .collect();
        results.push(GenerationSizeResult { size: *size, cells, peers });
    }
    Ok(results)
}

/// Runs `peer` on the prompt and reference of a passed generation cell.
fn run_peer(
    peer: &str,
    checkpoint: &Checkpoint,
    case: &Case,
    artifact: &runtime::artifacts::Artifact,
    threads: i64,
    rule: &Rule,
) -> Result<python::GenerateAnswer> {
    let (inputs, reference) = (artifact.inputs(InputSet::A), artifact.reference(InputSet::A));
    if peer == "transformers" {
        return python::generate_peer(
            &checkpoint.dir,
            &checkpoint.digest,
            &case.spec.request_json,
            &inputs,
            &reference,
            threads,
            rule,
        );
    }
    let work = runtime::paths::cache_root().join("bench-peers").join(&checkpoint.digest);
    python::environment_peer(peer, &checkpoint.dir, &work, &inputs, &reference, threads, rule)
}

/// Where `bench --generate` writes its runs: `<results>/bench-generate/`, from where `hfzoo
/// ingest` takes them into the results database.
pub fn generate_dir(results: &Path) -> std::path::PathBuf {
    results.join("bench-generate")
}

/// One model's generation results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateModel {
    /// Model type.
    pub model: String,
    /// The published configuration it was made at, if any (`--config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// The class `generate` runs on (the type's `generation` section).
    pub model_class: String,
    /// The checkpoint directory.
    pub checkpoint: std::path::PathBuf,
    /// Its content digest.
    pub digest: String,
    /// Each size.
    pub sizes: Vec<GenerationSizeResult>,
}

impl GenerateModel {
    /// The model type, with its published configuration (`qwen2 (Qwen2-0.5B)`).
    pub fn label(&self) -> String {
        crate::published::label(&self.model, self.config.as_deref())
    }
}

/// A whole `bench --generate` run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateRun {
    /// `bench-generate-<started_at_ms>-<process id>`: its file's name.
    pub bench_id: String,
    /// The machine, commit and versions.
    pub environment: runtime::results::record::RunInfo,
    /// When it started, ms since the Unix epoch.
    pub started_at_ms: i64,
    /// The machine's measured peak (its copy bandwidth bounds decode).
    pub peak: Peak,
    /// The timing rule ([`rule`]).
    pub rule: Rule,
    /// Threads every engine used.
    pub threads: i64,
    /// Each model.
    pub models: Vec<GenerateModel>,
    /// Models that could not be benchmarked here, with why.
    pub not_run: Vec<(String, String)>,
    /// Models not reached yet: the document is rewritten after every model, so a run stopped
    /// midway keeps the models before; empty once the run has finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
}

/// The class a type's generation cell runs on, from its generation request
/// (`generated/requests/generate/<type>.json`, written by the generator from the metadata's
/// `generation` section).
pub fn generation_class(model_type: &str) -> Result<String> {
    let path = runtime::paths::root().join("generated/requests/generate").join(format!("{model_type}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::InvalidArgument(format!(
            "`{model_type}` has no generation request ({}: {e}): its metadata has no `generation` section, so it has no generation cell to benchmark",
            path.display()
        ))
    })?;
    let request: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| Error::Json { context: path.display().to_string(), source })?;
    request
        .get("model_class")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::Artifact { path, message: "names no `model_class`".into() })
}
