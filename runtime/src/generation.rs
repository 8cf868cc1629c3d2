//! The generation cell: greedy decoding with the cache on an engine, judged against
//! transformers' `generate` on the same weights and prompts.
//!
//! The artifact (`torchscript-generate`, `runtime/exporter/generation_export.py`) holds two
//! steps traced from one wrapper: prefill (prompt ids and mask in; the last position's logits
//! and every layer's keys and values out) and decode (one id per row, the grown mask and the
//! previous keys and values in; the same out). Its references are `generate`'s chosen ids and
//! each step's logits, with the logits' tolerance derived from measured float32 error.
//!
//! The rule, per input set:
//! - with the cache, the engine must choose `generate`'s ids at every step, and each step's
//!   logits must lie within the tolerance;
//! - without the cache (prefill run on the whole grown sequence each step) it must choose the
//!   same ids, within the same tolerance;
//! - where ids diverge, forced decoding (the reference's ids fed through the cache) says
//!   whether the engine still computes the same logits: the verdict names the first diverging
//!   step and row and the top-1 agreement of forced decoding. A divergence at a step where the
//!   reference's own margin between the two ids is within twice the tolerance, with forced
//!   decoding inside the tolerance everywhere, is a measured near-tie (`chaotic`), not a pass.

use std::time::Instant;

use crate::artifact_check::Failure;
use crate::artifacts::{Artifact, ArtifactCache, ArtifactFormat, OutputTolerance};
use crate::backend::{Backend, LoadedModel};
use crate::check::sci;
use crate::error::{Error, Result};
use crate::forward_guard::checked_run;
use crate::measure::Measurement;
use crate::spec::{Case, Cow, Expected, InputSet};
use crate::tensor::{read_safetensors, HostTensor};
use crate::{Category, FailureCategory, Hardware};

/// The reference names in the artifact's `reference_<set>.safetensors`: `generate`'s ids and
/// logits, and eager PyTorch's without the cache.
const TOKENS: &str = "tokens";
const LOGITS: &str = "logits";
const TOKENS_UNCACHED: &str = "tokens_uncached";
const LOGITS_UNCACHED: &str = "logits_uncached";

/// The two traced steps of a generation artifact, loaded by one engine.
pub struct Steps {
    prefill: Box<dyn LoadedModel>,
    decode: Box<dyn LoadedModel>,
    /// An encoder-decoder model's decoder prompt (`generate`'s start ids, the manifest's
    /// `decoder_start`): its prefill takes the encoder's prompt and these, and its mask (the
    /// encoder's) does not grow. None for a decoder-only model.
    decoder_start: Option<Vec<i64>>,
}

impl Steps {
    /// Loads `prefill/` and `decode/` of a generation artifact with `backend`: each folder holds
    /// one step in the forward format the engine loads (TorchScript, or ONNX whose folder's
    /// manifest names the graph's inputs, fed in that order).
    pub fn load(backend: &dyn Backend, hardware: Hardware, artifact: &Artifact) -> Result<Self> {
        if artifact.format == ArtifactFormat::OpenvinoGenerate {
            // One stateful model: the engine pairs a prefill that starts an empty cache with a
            // decode that continues it; both take the ids and the mask.
            let names = ["input_ids", "attention_mask"];
            return Self::pair(
                backend.load_steps(hardware, &[(artifact, &names), (artifact, &names)])?,
                backend,
                artifact,
            );
        }
        let format = match artifact.format {
            ArtifactFormat::TorchScriptGenerate => ArtifactFormat::TorchScript,
            ArtifactFormat::OnnxGenerate => ArtifactFormat::Onnx,
            other => {
                return Err(Error::Artifact {
                    path: artifact.dir.clone(),
                    message: format!(
                        "a generation cell loads torchscript-generate, onnx-generate or openvino-generate artifacts, not {}",
                        other.id()
                    ),
                })
            }
        };
        let step = |name: &str| -> Result<(Artifact, Vec<String>)> {
            let part = Artifact {
                dir: artifact.dir.join(name),
                format,
                key: format!("{}-{name}", artifact.key),
                ..artifact.clone()
            };
            // What a caller feeds, in order (the graph's own inputs, which the engine maps by
            // name, may leave one out).
            let names: Vec<String> = match format {
                ArtifactFormat::Onnx => part
                    .manifest()?
                    .export
                    .and_then(|e| e.get("step_inputs").cloned())
                    .and_then(|v| serde_json::from_value(v).ok())
                    .ok_or_else(|| Error::Artifact {
                        path: part.manifest_path(),
                        message: "names no graph inputs; export the artifact again".into(),
                    })?,
                _ => Vec::new(),
            };
            Ok((part, names))
        };
        let (prefill, decode) = (step("prefill")?, step("decode")?);
        fn names(part: &(Artifact, Vec<String>)) -> Vec<&str> {
            part.1.iter().map(String::as_str).collect()
        }
        let (prefill_names, decode_names) = (names(&prefill), names(&decode));
        let loaded = backend.load_steps(hardware, &[(&prefill.0, &prefill_names), (&decode.0, &decode_names)])?;
        Self::pair(loaded, backend, artifact)
    }

    /// Whether the model is an encoder-decoder one (its decoder starts from `decoder_start`).
    pub fn encoder_decoder(&self) -> bool {
        self.decoder_start.is_some()
    }

    /// An encoder-decoder's decoder start ids, as the artifact's `generate` began from.
    pub fn decoder_start(&self) -> Option<&[i64]> {
        self.decoder_start.as_deref()
    }

    /// The prefill step's inputs: the prompt, and an encoder-decoder's decoder ids so far
    /// (`decoded`, one row per prompt row) after its start ids.
    fn prefill_inputs(&self, ids: &HostTensor, mask: &HostTensor, decoded: &[Vec<i64>]) -> Result<Vec<HostTensor>> {
        let mut inputs = vec![ids.clone(), mask.clone()];
        if let Some(start) = &self.decoder_start {
            let length = start.len() + decoded.first().map_or(0, Vec::len);
            let rows: Vec<i64> = decoded.iter().flat_map(|row| start.iter().chain(row).copied()).collect();
            inputs.push(HostTensor::new(&[decoded.len() as i64, length as i64], rows)?);
        }
        Ok(inputs)
    }

    /// The prefill and decode steps of what `backend.load_steps` loaded.
    fn pair(loaded: Vec<Box<dyn LoadedModel>>, backend: &dyn Backend, artifact: &Artifact) -> Result<Self> {
        let mut loaded = loaded.into_iter();
        match (loaded.next(), loaded.next()) {
            (Some(prefill), Some(decode)) => Ok(Self { prefill, decode, decoder_start: decoder_start(artifact)? }),
            _ => Err(Error::Artifact {
                path: artifact.dir.clone(),
                message: format!("the {} backend loaded fewer than its two steps", backend.name()),
            }),
        }
    }
}

/// The manifest's `decoder_start` (an encoder-decoder artifact's), checked to be ids.
fn decoder_start(artifact: &Artifact) -> Result<Option<Vec<i64>>> {
    let Some(value) = artifact.manifest()?.export.and_then(|e| e.get("decoder_start").cloned()) else {
        return Ok(None);
    };
    match serde_json::from_value::<Vec<i64>>(value) {
        Ok(ids) if !ids.is_empty() => Ok(Some(ids)),
        _ => Err(Error::Artifact {
            path: artifact.manifest_path(),
            message: "`export.decoder_start` is not a list of ids; export the artifact again".into(),
        }),
    }
}

/// What one decoding produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Rows (the batch).
    pub batch: usize,
    /// Steps taken (new tokens per row).
    pub steps: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// The id at each step, `[batch, steps]` row-major: chosen (greedy) or fed (forced).
    pub tokens: Vec<i64>,
    /// Each step's logits, `[batch, steps, vocab]` row-major.
    pub logits: Vec<f32>,
    /// Token positions the engine computed, over all rows and steps: linear in the new tokens
    /// with the cache, quadratic without.
    pub processed: usize,
}

impl Decoded {
    /// The logits of `row` at `step`.
    pub fn step_logits(&self, row: usize, step: usize) -> &[f32] {
        let at = (row * self.steps + step) * self.vocab;
        &self.logits[at..at + self.vocab]
    }
}

/// What picks each step's id: the engine's own largest logit, the reference's ids, or the caller.
#[derive(Clone, Copy)]
pub enum Feed<'a> {
    /// Greedy: the largest logit (the first on a tie, as `torch.argmax`).
    Greedy,
    /// Forced: the ids given, `[batch, steps]` row-major.
    Forced(&'a [i64]),
    /// Chosen by the caller from (step, one row's logits): a skill's suppressed tokens.
    Chosen(&'a dyn Fn(usize, &[f32]) -> i64),
}

impl std::fmt::Debug for Feed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Feed::Greedy => f.write_str("Greedy"),
            Feed::Forced(ids) => write!(f, "Forced({} ids)", ids.len()),
            Feed::Chosen(_) => f.write_str("Chosen"),
        }
    }
}

/// The index of the largest value, the first on a tie (as `torch.argmax`).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (index, value) in values.iter().enumerate() {
        if *value > values[best] {
            best = index;
        }
    }
    best
}

/// `[batch, length]` int64 with one more column.
fn append_column(tensor: &HostTensor, column: &[i64]) -> Result<HostTensor> {
    let values = tensor.as_i64().ok_or_else(|| Error::Tensor(format!("expected int64, got {:?}", tensor.dtype())))?;
    let (batch, length) = match tensor.shape() {
        [b, l] => (*b as usize, *l as usize),
        shape => return Err(Error::Tensor(format!("expected [batch, length], got {shape:?}"))),
    };
    if column.len() != batch {
        return Err(Error::Tensor(format!("{} values for a column of {batch} rows", column.len())));
    }
    let mut grown = Vec::with_capacity(batch * (length + 1));
    for (row, value) in column.iter().enumerate() {
        grown.extend_from_slice(&values[row * length..(row + 1) * length]);
        grown.push(*value);
    }
    Ok(HostTensor::new(&[batch as i64, length as i64 + 1], grown)?)
}

/// The `[batch, vocab]` float32 logits of a step's first output.
fn step_logits(outputs: &[HostTensor], batch: usize) -> Result<(&[f32], usize)> {
    let logits = outputs.first().ok_or_else(|| Error::Mismatch("a generation step returned nothing".into()))?;
    let values =
        logits.as_f32().ok_or_else(|| Error::Tensor(format!("logits must be float32, got {:?}", logits.dtype())))?;
    match logits.shape() {
        [b, v] if *b as usize == batch && *v > 0 => Ok((values, *v as usize)),
        shape => Err(Error::Mismatch(format!("a step's logits have shape {shape:?}, expected [{batch}, vocab]"))),
    }
}

/// Collects steps into a [`Decoded`].
struct Collector {
    batch: usize,
    vocab: usize,
    per_step_tokens: Vec<Vec<i64>>,
    per_step_logits: Vec<Vec<f32>>,
    processed: usize,
}

impl Collector {
    fn new(batch: usize) -> Self {
        Self { batch, vocab: 0, per_step_tokens: Vec::new(), per_step_logits: Vec::new(), processed: 0 }
    }

    /// Takes a step's logits and picks its ids by `feed`.
    fn step(&mut self, outputs: &[HostTensor], feed: Feed<'_>, total: usize) -> Result<Vec<i64>> {
        let (values, vocab) = step_logits(outputs, self.batch)?;
        if self.vocab != 0 && vocab != self.vocab {
            return Err(Error::Mismatch(format!(
                "the vocabulary changed from {} to {vocab} between steps",
                self.vocab
            )));
        }
        self.vocab = vocab;
        let step = self.per_step_tokens.len();
        let chosen: Vec<i64> = (0..self.batch)
            .map(|row| match feed {
                Feed::Greedy => argmax(&values[row * vocab..(row + 1) * vocab]) as i64,
                Feed::Forced(ids) => ids[row * total + step],
                Feed::Chosen(choose) => choose(step, &values[row * vocab..(row + 1) * vocab]),
            })
            .collect();
        self.per_step_tokens.push(chosen.clone());
        self.per_step_logits.push(values.to_vec());
        Ok(chosen)
    }

    fn finish(self) -> Decoded {
        let (batch, vocab, steps) = (self.batch, self.vocab, self.per_step_tokens.len());
        let mut tokens = vec![0; batch * steps];
        let mut logits = vec![0.0; batch * steps * vocab];
        for step in 0..steps {
            for row in 0..batch {
                tokens[row * steps + step] = self.per_step_tokens[step][row];
                let at = (row * steps + step) * vocab;
                logits[at..at + vocab].copy_from_slice(&self.per_step_logits[step][row * vocab..(row + 1) * vocab]);
            }
        }
        Decoded { batch, steps, vocab, tokens, logits, processed: self.processed }
    }
}

/// The batch and prompt length of `ids` (`[batch, length]`), checking `mask` has its shape
/// and a forced feed holds `new_tokens` ids per row.
fn prompt_shape(ids: &HostTensor, mask: &HostTensor, new_tokens: usize, feed: Feed<'_>) -> Result<(usize, usize)> {
    let (batch, length) = match ids.shape() {
        [b, l] if *b > 0 && *l > 0 => (*b as usize, *l as usize),
        shape => return Err(Error::Tensor(format!("prompt ids must be [batch, length] and non-empty, got {shape:?}"))),
    };
    if mask.shape() != ids.shape() {
        return Err(Error::Tensor(format!("the mask has shape {:?}, the ids {:?}", mask.shape(), ids.shape())));
    }
    if let Feed::Forced(forced) = feed {
        if forced.len() != batch * new_tokens {
            return Err(Error::Tensor(format!("{} forced ids for {batch} rows of {new_tokens} steps", forced.len())));
        }
    }
    Ok((batch, length))
}

/// Decodes `new_tokens` per row with the cache: prefill once, then one decode step per token,
/// each fed the previous step's keys and values.
pub fn decode_cached(
    steps: &Steps,
    ids: &HostTensor,
    mask: &HostTensor,
    new_tokens: usize,
    feed: Feed<'_>,
) -> Result<Decoded> {
    decode_cached_until(steps, ids, mask, new_tokens, feed, &|_| false)
}

/// [`decode_cached`] that ends early once `stop` says so of a step's chosen ids (one per row):
/// a skill's end-of-sequence token.
pub fn decode_cached_until(
    steps: &Steps,
    ids: &HostTensor,
    mask: &HostTensor,
    new_tokens: usize,
    feed: Feed<'_>,
    stop: &dyn Fn(&[i64]) -> bool,
) -> Result<Decoded> {
    decode_cached_clocked(steps, ids, mask, new_tokens, feed, stop, &mut None)
}

/// Wall time of one cached decoding's two phases.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseTimes {
    /// The prefill step on the prompt, up to its logits (time to first token).
    pub prefill: std::time::Duration,
    /// Every decode step after it (`new_tokens - 1` of them), with choosing each id.
    pub decode: std::time::Duration,
}

/// [`decode_cached`] (greedy, every step) that also measures its prefill and decode phases: what
/// a generation benchmark times.
pub fn decode_cached_timed(
    steps: &Steps,
    ids: &HostTensor,
    mask: &HostTensor,
    new_tokens: usize,
) -> Result<(Decoded, PhaseTimes)> {
    let mut times = Some(PhaseTimes::default());
    let decoded = decode_cached_clocked(steps, ids, mask, new_tokens, Feed::Greedy, &|_| false, &mut times)?;
    Ok((decoded, times.unwrap_or_default()))
}

/// The cached decoding loop, filling `times` where asked.
fn decode_cached_clocked(
    steps: &Steps,
    ids: &HostTensor,
    mask: &HostTensor,
    new_tokens: usize,
    feed: Feed<'_>,
    stop: &dyn Fn(&[i64]) -> bool,
    times: &mut Option<PhaseTimes>,
) -> Result<Decoded> {
    let (batch, length) = prompt_shape(ids, mask, new_tokens, feed)?;
    let mut collector = Collector::new(batch);
    let mut mask = mask.clone();
    let began = std::time::Instant::now();
    let mut outputs = steps.prefill.forward(&steps.prefill_inputs(ids, &mask, &vec![Vec::new(); batch])?)?;
    steps.prefill.synchronize();
    let prefilled = std::time::Instant::now();
    collector.processed += batch * (length + steps.decoder_start.as_ref().map_or(0, Vec::len));
    for step in 0..new_tokens {
        let chosen = collector.step(&outputs, feed, new_tokens)?;
        if step + 1 == new_tokens || stop(&chosen) {
            break;
        }
        if !steps.encoder_decoder() {
            mask = append_column(&mask, &vec![1; batch])?;
        }
        let mut inputs = Vec::with_capacity(outputs.len() + 1);
        inputs.push(HostTensor::new(&[batch as i64, 1], chosen)?);
        inputs.push(mask.clone());
        inputs.extend(outputs.drain(1..));
        outputs = steps.decode.forward(&inputs)?;
        collector.processed += batch;
    }
    steps.decode.synchronize();
    if let Some(times) = times {
        times.prefill = prefilled - began;
        times.decode = prefilled.elapsed();
    }
    Ok(collector.finish())
}

/// Decodes `new_tokens` per row without the cache: the prefill step run on the whole grown
/// sequence at every step (what the skills did before the cache; its work grows as n²). An
/// encoder-decoder's decoder ids grow instead of the prompt, its encoder run again each time.
pub fn decode_uncached(steps: &Steps, ids: &HostTensor, mask: &HostTensor, new_tokens: usize) -> Result<Decoded> {
    let (batch, _) = prompt_shape(ids, mask, new_tokens, Feed::Greedy)?;
    let mut collector = Collector::new(batch);
    let (mut ids, mut mask) = (ids.clone(), mask.clone());
    let mut decoded = vec![Vec::new(); batch];
    for step in 0..new_tokens {
        let inputs = steps.prefill_inputs(&ids, &mask, &decoded)?;
        // The prompt's positions and, for an encoder-decoder, its decoder's (its third input).
        collector.processed += ids.numel() + inputs.get(2).map_or(0, HostTensor::numel);
        let outputs = steps.prefill.forward(&inputs)?;
        let chosen = collector.step(&outputs, Feed::Greedy, new_tokens)?;
        if step + 1 == new_tokens {
            break;
        }
        if steps.encoder_decoder() {
            decoded.iter_mut().zip(&chosen).for_each(|(row, id)| row.push(*id));
        } else {
            ids = append_column(&ids, &chosen)?;
            mask = append_column(&mask, &vec![1; batch])?;
        }
    }
    Ok(collector.finish())
}

/// `generate`'s ids and logits for one input set, from the artifact.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The prompt ids, `[batch, length]`.
    pub ids: HostTensor,
    /// The prompt's left-padded mask.
    pub mask: HostTensor,
    /// `generate`'s chosen ids and each step's logits (`processed` is 0: not the engine's).
    pub generated: Decoded,
    /// Eager PyTorch's greedy decoding without the cache: `generate`'s ids for most models;
    /// another sequence where the model's own cached and uncached computations differ. None
    /// where the request left it out (`"uncached": false`: `bench --generate` at real size).
    pub uncached: Option<Decoded>,
}

impl Reference {
    /// Reads set `set` of a generation artifact.
    pub fn read(artifact: &Artifact, set: InputSet) -> Result<Self> {
        let take = |named: &mut Vec<(String, HostTensor)>, name: &str, path: &std::path::Path| {
            let at = named.iter().position(|(n, _)| n == name).ok_or_else(|| Error::Artifact {
                path: path.to_path_buf(),
                message: format!("holds no `{name}`; export the artifact again"),
            })?;
            Ok::<_, Error>(named.swap_remove(at).1)
        };
        let (inputs_path, reference_path) = (artifact.inputs(set), artifact.reference(set));
        let mut inputs = read_safetensors(&inputs_path)?;
        let mut reference = read_safetensors(&reference_path)?;
        let ids = take(&mut inputs, "input_ids", &inputs_path)?;
        let mask = take(&mut inputs, "attention_mask", &inputs_path)?;
        let carried = reference.iter().any(|(name, _)| name == TOKENS_UNCACHED);
        let mut decoded = |tokens_name: &str, logits_name: &str| -> Result<Decoded> {
            let tokens = take(&mut reference, tokens_name, &reference_path)?;
            let logits = take(&mut reference, logits_name, &reference_path)?;
            let (batch, steps, vocab) = match logits.shape() {
                [b, s, v] => (*b as usize, *s as usize, *v as usize),
                shape => {
                    return Err(Error::Artifact {
                        path: reference_path.clone(),
                        message: format!("`{logits_name}` has shape {shape:?}, expected [batch, steps, vocab]"),
                    })
                }
            };
            let bad = |what: &str| Error::Artifact {
                path: reference_path.clone(),
                message: format!("`{what}` does not fit [{batch}, {steps}]"),
            };
            let tokens = tokens.as_i64().filter(|t| t.len() == batch * steps).ok_or_else(|| bad(tokens_name))?.to_vec();
            let logits = logits.as_f32().ok_or_else(|| bad(logits_name))?.to_vec();
            Ok(Decoded { batch, steps, vocab, tokens, logits, processed: 0 })
        };
        let generated = decoded(TOKENS, LOGITS)?;
        let uncached = if carried { Some(decoded(TOKENS_UNCACHED, LOGITS_UNCACHED)?) } else { None };
        Ok(Self { ids, mask, generated, uncached })
    }
}

/// The verdict of one input set, or of the cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    /// Every id equal to `generate`'s, every step's logits within the tolerance.
    Matched,
    /// Ids diverge at a measured near-tie (`chaotic`), logits of forced decoding within the
    /// tolerance everywhere: the detail names the step and the margin.
    NearTie(String),
    /// The detail names the first divergence, or the worst logit.
    Failed(String),
}

/// The first (step, row) where `got`'s ids differ from `want`'s, earliest step first.
pub fn first_divergence(got: &Decoded, want: &Decoded) -> Option<(usize, usize)> {
    (0..want.steps)
        .flat_map(|step| (0..want.batch).map(move |row| (step, row)))
        .find(|&(step, row)| got.tokens.get(row * got.steps + step) != Some(&want.tokens[row * want.steps + step]))
}

/// The worst logit excess over the tolerance up to `steps` (exclusive) and where: (excess,
/// step, row). Excess > 0 fails; a non-finite logit is an infinite excess.
fn worst_logit(got: &Decoded, want: &Decoded, tolerance: &OutputTolerance, steps: usize) -> (f64, usize, usize) {
    let mut worst = (f64::NEG_INFINITY, 0, 0);
    for step in 0..steps.min(got.steps).min(want.steps) {
        for row in 0..want.batch {
            for (a, r) in got.step_logits(row, step).iter().zip(want.step_logits(row, step)) {
                let (a, r) = (f64::from(*a), f64::from(*r));
                let excess = if a.is_finite() {
                    (a - r).abs() - (tolerance.abs + tolerance.rel * r.abs())
                } else {
                    f64::INFINITY
                };
                if excess > worst.0 {
                    worst = (excess, step, row);
                }
            }
        }
    }
    worst
}

/// Judges one decoding against the reference: ids first, then the logits before any
/// divergence; `forced` (the reference's ids fed through the same engine) explains a divergence.
pub fn judge(
    got: &Decoded,
    want: &Decoded,
    forced: Option<&Decoded>,
    tolerance: &OutputTolerance,
    what: &str,
) -> Judgement {
    if (got.batch, got.steps, got.vocab) != (want.batch, want.steps, want.vocab) {
        return Judgement::Failed(format!(
            "{what} gave [{}, {}] ids over {} logits, generate [{}, {}] over {}",
            got.batch, got.steps, got.vocab, want.batch, want.steps, want.vocab
        ));
    }
    let Some((step, row)) = first_divergence(got, want) else {
        let (excess, step, row) = worst_logit(got, want, tolerance, want.steps);
        return if excess > 0.0 {
            Judgement::Failed(format!(
                "{what}: every id matches generate's, but the logits of step {step} (row {row}) exceed the tolerance {} by {}",
                sci(Some(tolerance.abs)),
                sci(Some(excess))
            ))
        } else {
            Judgement::Matched
        };
    };
    let (wanted, chosen) = (want.tokens[row * want.steps + step], got.tokens[row * got.steps + step]);
    let reference = want.step_logits(row, step);
    let margin =
        f64::from(reference[wanted as usize]) - f64::from(reference.get(chosen as usize).copied().unwrap_or(f32::NAN));
    let mut detail = format!(
        "{what}: ids diverge from generate's at step {step} of row {row} (generate chose {wanted}, the engine {chosen}; generate's margin between them {})",
        sci(Some(margin))
    );
    let (before, _, _) = worst_logit(got, want, tolerance, step);
    if before > 0.0 {
        detail += &format!("; the logits before it already exceed the tolerance by {}", sci(Some(before)));
    }
    let Some(forced) = forced else { return Judgement::Failed(detail) };
    let agreeing = (0..want.steps)
        .flat_map(|s| (0..want.batch).map(move |r| (s, r)))
        .filter(|&(s, r)| argmax(forced.step_logits(r, s)) as i64 == want.tokens[r * want.steps + s])
        .count();
    let (excess, at_step, at_row) = worst_logit(forced, want, tolerance, want.steps);
    detail += &format!(
        "; forced decoding (generate's ids fed through the cache): top-1 agrees at {agreeing} of {} positions, worst logit excess {} (step {at_step}, row {at_row})",
        want.steps * want.batch,
        sci(Some(excess))
    );
    if margin.abs() <= 2.0 * tolerance.abs && excess <= 0.0 && before <= 0.0 {
        Judgement::NearTie(format!(
            "{detail}: a near-tie (margin within twice the tolerance {})",
            sci(Some(tolerance.abs))
        ))
    } else {
        Judgement::Failed(detail)
    }
}

/// The whole cell on one engine: both input sets, with and without the cache (with it only
/// where the artifact carries no uncached reference).
pub fn check(steps: &Steps, artifact: &Artifact, tolerance: &OutputTolerance) -> Result<Judgement> {
    let mut near_ties = Vec::new();
    for set in InputSet::BOTH {
        let reference = Reference::read(artifact, set)?;
        let want = &reference.generated;
        let cached = decode_cached(steps, &reference.ids, &reference.mask, want.steps, Feed::Greedy)?;
        let forced = match first_divergence(&cached, want) {
            Some(_) => {
                Some(decode_cached(steps, &reference.ids, &reference.mask, want.steps, Feed::Forced(&want.tokens))?)
            }
            None => None,
        };
        let tied = match judge(&cached, want, forced.as_ref(), tolerance, &format!("set {set}, with the cache")) {
            Judgement::Matched => false,
            Judgement::NearTie(detail) => {
                near_ties.push(detail);
                true
            }
            failed => return Ok(failed),
        };
        // Checked with the cache only where the artifact carries no uncached reference.
        let Some(eager_uncached) = &reference.uncached else { continue };
        let uncached = decode_uncached(steps, &reference.ids, &reference.mask, want.steps)?;
        let without = match first_divergence(eager_uncached, want) {
            Some(_) => {
                format!("set {set}, without the cache (against eager PyTorch without it, which differs from generate)")
            }
            None => format!("set {set}, without the cache"),
        };
        match judge(&uncached, eager_uncached, None, tolerance, &without) {
            Judgement::Matched => {}
            // After a near-tie with the cache, the run without it must choose what the cached run chose.
            Judgement::Failed(_) if tied => {
                if let Judgement::Failed(detail) = judge(&uncached, &cached, None, tolerance, &without) {
                    return Ok(Judgement::Failed(format!("{detail} (against the run with the cache)")));
                }
            }
            other => return Ok(other),
        }
    }
    Ok(match near_ties.into_iter().next() {
        Some(detail) => Judgement::NearTie(detail),
        None => Judgement::Matched,
    })
}

/// A type's generation request as its generated spec module carries it.
#[derive(Debug)]
pub struct GenerationSpec {
    /// The class `generate` runs on (`LlamaForCausalLM`).
    pub model_class: &'static str,
    /// The generation request, canonical JSON (`generated/requests/generate/<type>.json`).
    pub request_json: &'static str,
}

/// A generation cell as a generated module declares it: the forward case it belongs to, the
/// type's generation spec, and the outcome its metadata expects.
#[derive(Debug)]
pub struct GenerationCase {
    /// The forward cell of the same type and hardware.
    pub case: &'static Case,
    /// The generation class and request.
    pub generation: &'static GenerationSpec,
    /// Expected outcome of this cell.
    pub expected: Expected,
}

impl GenerationCase {
    /// The cell as a [`Case`]: the forward spec with the generation class and request, whose
    /// `generate` field makes it a generation cell ([`Case::kind`]).
    pub fn to_case(&self) -> Case {
        let mut spec = (*self.case.spec).clone();
        spec.model_class = Cow::Borrowed(self.generation.model_class);
        spec.request_json = Cow::Borrowed(self.generation.request_json);
        Case { spec: Cow::Owned(spec), hardware: self.case.hardware, expected: self.expected }
    }
}

/// What a generation cell's check measured and where it ran.
pub struct Evaluated {
    /// The artifact's key, once one was exported.
    pub artifact_key: Option<String>,
    /// The format and exporter that ran.
    pub route: Option<String>,
    /// The measurements, or the failure with its category.
    pub checked: std::result::Result<Vec<Measurement>, Failure>,
}

/// Exports (or finds) the cell's artifact, loads its steps on `backend` and checks both input
/// sets; a divergence is filed under the format's limit on a torch engine (the backend's
/// elsewhere), a measured near-tie under `chaotic`.
pub fn evaluate(cache: &ArtifactCache, case: &Case, backend: &dyn Backend) -> Evaluated {
    let artifact = match cache.ensure_first(case, crate::route::formats(case, backend)) {
        Ok(artifact) => artifact,
        Err(error) => return Evaluated { artifact_key: None, route: None, checked: Err(Failure::of_export(error)) },
    };
    let limit = if backend.failure_blames_format() { artifact.format.limit() } else { Category::Backend };
    let mut route = format!("{} via generate", artifact.format.id());
    // A model whose own cached and uncached decoding differ in eager PyTorch says so with its verdict.
    let diverges =
        artifact.manifest().ok().and_then(|m| m.export).and_then(|e| e.get("eager_without_cache_diverges").cloned());
    if let Some(serde_json::Value::Object(sets)) = diverges {
        let places: Vec<String> =
            sets.iter().map(|(set, at)| format!("set {set} step {} row {}", at["step"], at["row"])).collect();
        route += &format!(
            "; eager PyTorch without the cache chooses other ids than generate ({}), and the engine without the cache was held to those",
            places.join(", ")
        );
    }
    let checked = (|| {
        let tolerance = artifact
            .parity()
            .map_err(|e| Failure::new(FailureCategory::Environment, e))?
            .outputs
            .get(LOGITS)
            .copied()
            .ok_or_else(|| {
                Failure::new(
                    FailureCategory::Environment,
                    Error::Artifact {
                        path: artifact.manifest_path(),
                        message: "names no tolerance for `logits`; export it again".into(),
                    },
                )
            })?;
        let started = Instant::now();
        let steps = Steps::load(backend, case.hardware, &artifact).map_err(|e| Failure::new(limit, e))?;
        let load_ms = started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        let judged =
            checked_run(case, backend, || check(&steps, &artifact, &tolerance)).map_err(|e| Failure::new(limit, e))?;
        let check_ms = started.elapsed().as_secs_f64() * 1e3;
        match judged {
            Judgement::Matched => Ok(vec![
                Measurement::new("load_ms", load_ms, "ms"),
                Measurement::new("generation_check_ms", check_ms, "ms"),
                Measurement::new("logits_tolerance", tolerance.abs, "abs"),
            ]),
            Judgement::NearTie(detail) => Err(Failure::new(Category::Chaotic, Error::Mismatch(detail))),
            Judgement::Failed(detail) => Err(Failure::new(limit, Error::Mismatch(detail))),
        }
    })();
    Evaluated { artifact_key: Some(artifact.key.clone()), route: Some(route), checked }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::OutputStatus;

    fn decoded(tokens: Vec<i64>, logits: Vec<f32>, vocab: usize) -> Decoded {
        let batch = 1;
        let steps = tokens.len();
        Decoded { batch, steps, vocab, tokens, logits, processed: 0 }
    }

    fn tolerance(abs: f64) -> OutputTolerance {
        OutputTolerance { status: OutputStatus::Checked, abs, rel: 0.0, scale: 1.0, float32_error: Some(abs / 16.0) }
    }

    #[test]
    fn argmax_takes_the_first_of_equal_values() {
        assert_eq!(argmax(&[0.0, 3.0, 3.0, 1.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 1.0]), 0, "a NaN first is never replaced: a NaN logit is caught as an excess");
    }

    #[test]
    fn equal_ids_and_close_logits_match_and_a_far_logit_fails_naming_its_step() {
        let want = decoded(vec![1, 0], vec![0.0, 1.0, 2.0, 0.5], 2);
        let close = decoded(vec![1, 0], vec![0.0, 1.0 + 1e-7, 2.0, 0.5], 2);
        assert_eq!(judge(&close, &want, None, &tolerance(1e-6), "set a"), Judgement::Matched);
        let far = decoded(vec![1, 0], vec![0.0, 1.0, 2.0, 0.9], 2);
        let Judgement::Failed(detail) = judge(&far, &want, None, &tolerance(1e-6), "set a") else { panic!() };
        assert!(detail.contains("step 1 (row 0)"), "{detail}");
    }

    #[test]
    fn a_divergence_names_its_step_and_forced_decoding_tells_a_near_tie_from_a_wrong_engine() {
        // generate chose 1 then 0; the engine chose 1 then 1 (its step-1 logits nearly tie).
        let want = decoded(vec![1, 0], vec![0.0, 1.0, 0.500_001, 0.5], 2);
        let got = decoded(vec![1, 1], vec![0.0, 1.0, 0.5, 0.500_000_5], 2);
        let forced_close = decoded(vec![1, 0], vec![0.0, 1.0, 0.500_000_8, 0.5], 2);
        let Judgement::NearTie(detail) = judge(&got, &want, Some(&forced_close), &tolerance(1e-6), "set a") else {
            panic!()
        };
        assert!(detail.contains("step 1 of row 0") && detail.contains("generate chose 0, the engine 1"), "{detail}");
        assert!(detail.contains("top-1 agrees at 2 of 2"), "{detail}");
        // The same divergence where forced decoding is far off: a wrong engine.
        let forced_far = decoded(vec![1, 0], vec![0.3, 1.0, 0.2, 0.5], 2);
        let Judgement::Failed(detail) = judge(&got, &want, Some(&forced_far), &tolerance(1e-6), "set a") else {
            panic!()
        };
        assert!(detail.contains("top-1 agrees at 1 of 2"), "{detail}");
        // A clear margin is never a tie, whatever forced decoding says.
        let want_clear = decoded(vec![1, 0], vec![0.0, 1.0, 0.9, 0.1], 2);
        assert!(matches!(judge(&got, &want_clear, Some(&forced_close), &tolerance(1e-6), "a"), Judgement::Failed(_)));
    }

    #[test]
    fn a_column_is_appended_to_every_row() {
        let ids = HostTensor::new(&[2, 2], vec![1_i64, 2, 3, 4]).unwrap();
        let grown = append_column(&ids, &[9, 8]).unwrap();
        assert_eq!((grown.shape(), grown.as_i64().unwrap()), (&[2_i64, 3][..], &[1_i64, 2, 9, 3, 4, 8][..]));
        assert!(append_column(&ids, &[9]).is_err());
    }
}
