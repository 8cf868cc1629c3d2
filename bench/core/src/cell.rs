//! One benchmark cell: a checkpoint on one hardware at one batch and sequence size, exported
//! at exactly that size (its first input set is the cell's input, checked against eager
//! PyTorch like every case), then timed through the runtime and through the bare engine call.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use export_request::{ExportRequest, InputFill, RequestDim};

use crate::stats::{timed, timed_pair, Rule, Samples, Summary};
use runtime::artifacts::read_inputs;
use runtime::artifacts::{Artifact, ArtifactCache};
use runtime::error::{Error, Result};
use runtime::measure::{process_peak_rss_mib, Measurement};
use runtime::session::{backend_for, Session};
use runtime::spec::{Case, InputSet};
use runtime::suite::{evaluate_in, Outcome};
use skills::case::{self, Axis, Shaping};
use skills::checkpoint::Checkpoint;
use skills::inputs;
use skills::preprocess::image::ImageProcessor;
use skills::preprocess::spectrogram::LogMelProcessor;
use skills::task;

/// The size of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    /// Batch.
    pub batch: i64,
    /// Tokens per text (every dimension that is the last axis of token ids), if the model takes text.
    pub seq: Option<i64>,
    /// Seconds of audio, if the model takes a raw waveform.
    #[serde(default)]
    pub seconds: Option<i64>,
}

/// The dimension of a raw waveform's samples, if the model takes one (`input_values`' last axis).
pub fn audio_dim(base: &Case) -> Option<&str> {
    base.spec
        .inputs
        .iter()
        .find(|input| input.name == inputs::AUDIO_INPUT)
        .and_then(|input| input.shape.last())
        .and_then(|dim| dim.name())
}

/// The dimensions the sequence length sets: the last axis of every token-id input.
fn sequence_dims(request: &ExportRequest) -> Vec<String> {
    let mut dims: Vec<String> = request
        .inputs
        .iter()
        .filter(|input| matches!(input.fill, InputFill::TokenIds { .. }))
        .filter_map(|input| input.shape.last()?.name().map(str::to_string))
        .collect();
    dims.sort();
    dims.dedup();
    dims
}

/// The inputs the checkpoint's processors size, as a skill sizes them: images (with frames for
/// a video model, and the pixel mask), log-mel features. A checkpoint without a processor file
/// gets images at its config's `image_size` (top-level or in its `vision_config`).
fn processor_shaping(base: &Case, checkpoint: &Checkpoint) -> Result<Vec<(&'static str, Vec<Axis>)>> {
    let spec = &base.spec;
    let takes = |name: &str| spec.inputs.iter().any(|input| input.name == name);
    let has_processor = checkpoint.file(skills::preprocess::image::CONFIG_FILE).is_some()
        || checkpoint.file(skills::preprocess::image_prompt::PROCESSOR_FILE).is_some();
    if has_processor {
        let image = if takes(inputs::IMAGE_INPUT) { Some(ImageProcessor::open(checkpoint)?) } else { None };
        let mel = if takes(inputs::FEATURES_INPUT) { Some(LogMelProcessor::open(checkpoint)?) } else { None };
        return inputs::sized_inputs(spec, checkpoint, image.as_ref(), mel.as_ref());
    }
    let four_axes =
        spec.inputs.iter().find(|input| input.name == case::PIXELS).is_some_and(|input| input.shape.len() == 4);
    let config = &checkpoint.config;
    let size = config
        .get("image_size")
        .or_else(|| config.get("vision_config").and_then(|v| v.get("image_size")))
        .and_then(Value::as_u64);
    Ok(match (four_axes, size) {
        (true, Some(size)) => vec![(case::PIXELS, vec![Axis::Fixed(size as usize), Axis::Fixed(size as usize)])],
        _ => Vec::new(),
    })
}

/// The samples of `seconds` of audio at the checkpoint's feature extractor's sampling rate
/// (16 kHz where it names none).
fn audio_samples(checkpoint: &Checkpoint, seconds: i64) -> i64 {
    let rate = checkpoint
        .json(skills::preprocess::image::CONFIG_FILE)
        .ok()
        .flatten()
        .and_then(|c| c.get("sampling_rate").and_then(Value::as_i64))
        .unwrap_or(16_000);
    rate * seconds
}

/// The longest text the model's positions allow (`max_position_embeddings`, top-level or in its
/// `text_config`), if it has a limit.
pub fn max_positions(checkpoint: &Checkpoint) -> Option<i64> {
    let config = &checkpoint.config;
    config
        .get("max_position_embeddings")
        .or_else(|| config.get("text_config").and_then(|t| t.get("max_position_embeddings")))
        .and_then(Value::as_i64)
}

/// The case of one cell: `base`'s spec with `checkpoint`'s exporter request, its batch and
/// sequence dimensions set to `size` (the varied input set one smaller, or one larger at 1),
/// images at the checkpoint's configured size.
pub fn cell_case(base: &Case, checkpoint: &Checkpoint, size: Size) -> Result<Case> {
    let traced = task::traced(&base.spec, checkpoint)?;
    let shaping = Shaping { sized: processor_shaping(base, checkpoint)?, ..Shaping::default() };
    let mut request = case::request(&base.spec, checkpoint, &traced, &shaping)?;
    let set = |dim: &mut RequestDim, to: i64| {
        let to = u32::try_from(to).unwrap_or(u32::MAX);
        dim.size = to;
        if dim.is_dynamic() {
            dim.varied = Some(if to > 1 { to - 1 } else { to + 1 });
        }
    };
    let seq_dims = sequence_dims(&request);
    if let Some(batch) = request.dims.get_mut("batch") {
        set(batch, size.batch);
    }
    if let (Some(seconds), Some(samples)) = (size.seconds, audio_dim(base)) {
        if let Some(dim) = request.dims.get_mut(samples) {
            set(dim, audio_samples(checkpoint, seconds));
        }
    }
    if let Some(seq) = size.seq {
        for name in &seq_dims {
            if let Some(dim) = request.dims.get_mut(name) {
                set(dim, seq);
            }
        }
    }
    Ok(case::checkpoint_case(base, &request, &traced, &shaping))
}

/// What a cell measured, or why it reports nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum CellStatus {
    /// Ran, matched eager PyTorch on both input sets, and was timed.
    Measured(Box<Measured>),
    /// Did not run or did not match: no timing is reported.
    Refused {
        /// The check's verdict (`failed`, `skipped`, `unsupported`).
        verdict: String,
        /// Why.
        reason: String,
    },
}

/// The timings of a cell that passed its checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The artifact's format and exporter.
    pub route: String,
    /// Its key in the cache.
    pub artifact_key: String,
    /// Loading the artifact into a session, ms.
    pub load_ms: f64,
    /// The first inference after loading, ms.
    pub first_ms: f64,
    /// Through the runtime (validation, conversions, the engine).
    pub ours: Summary,
    /// The runtime's timed samples.
    pub samples: Samples,
    /// The bare engine call on the same inputs, if the backend has one.
    pub bare: Option<Summary>,
    /// This process's peak resident memory after the cell, MiB (process-wide: it includes the cells before).
    pub peak_rss_mib: Option<f64>,
    /// The engine's settings and load facts (threads, executor, cache).
    pub settings: Vec<Measurement>,
}

impl Measured {
    /// The runtime's cost over the bare engine call: p50 ours / p50 bare − 1.
    pub fn overhead(&self) -> Option<f64> {
        self.bare.map(|bare| self.ours.p50 / bare.p50 - 1.0)
    }
}

/// The cache a checkpoint's cells export into, with the checkpoint exporter finding `checkpoint`.
pub fn checkpoint_cache(cache: &ArtifactCache, checkpoint: &Checkpoint) -> ArtifactCache {
    let dirs = json!({ checkpoint.digest.clone(): checkpoint.dir }).to_string();
    cache.clone().with_exporter(runtime::paths::checkpoint_exporter()).with_exporter_env(case::DIRS_ENV, dirs)
}

/// Checks `case` (export when missing, both input sets against eager PyTorch) and, only if
/// it passed, times it under `rule` through the runtime and the bare engine call. The
/// artifact it ran comes back for the peers.
pub fn measure(cache: &ArtifactCache, case: &Case, rule: &Rule) -> Result<(CellStatus, Option<Artifact>)> {
    let evaluation = evaluate_in(cache, case);
    if evaluation.outcome != Outcome::Passed {
        return Ok((
            CellStatus::Refused { verdict: evaluation.outcome.kind().id().into(), reason: evaluation.outcome.detail() },
            None,
        ));
    }
    let backend = backend_for(case)?;
    let artifact = runtime::route::choose(cache, case, backend)?.artifact;
    // The check loaded the artifact anew and ran the cell's input first: its load and first
    // inference are the cell's, and its model is still published for this session to share.
    let measured =
        |metric: &str| {
            evaluation.measurements.iter().find(|m| m.metric == metric).map(|m| m.value).ok_or_else(|| {
                Error::Mismatch(format!("the check of `{}` recorded no `{metric}`", case.spec.model_type))
            })
        };
    let (load_ms, first_ms) = (measured("load_ms")?, measured("first_inference_ms")?);
    let session = Session::load(case, &artifact)?;
    let inputs = read_inputs(case, &artifact, InputSet::A)?;
    let ours = || session.run_slice(&inputs).map(|_| session.synchronize());
    // The bare call runs alternately with ours, so that their ratio does not drift with the machine.
    let (samples, bare) = match session.bare(&inputs)? {
        Some(call) => {
            let (ours, bare) = timed_pair(rule, ours, call)?;
            (ours, Some(Summary::of(&bare.samples)))
        }
        None => (timed(rule, ours)?, None),
    };
    let mut settings = backend.settings();
    settings.extend(session.load_facts());
    let route = evaluation.route.unwrap_or_else(|| artifact.format.id().to_string());
    let measured = Measured {
        route,
        artifact_key: artifact.key.clone(),
        load_ms,
        first_ms,
        ours: Summary::of(&samples.samples),
        samples,
        bare,
        peak_rss_mib: process_peak_rss_mib(),
        settings,
    };
    Ok((CellStatus::Measured(Box::new(measured)), Some(artifact)))
}
