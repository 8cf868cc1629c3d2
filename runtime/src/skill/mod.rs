//! Skills on real checkpoints: a checkpoint directory (or a hub id in the local cache),
//! exported once per content into the checkpoint cache, run on any hardware the generated
//! crate has a case for, from raw text to what the task means (an embedding, labels, text).
//!
//! `Skill::load(&generated::cpu::bert::CASE, "path/to/checkpoint")`; the same call with
//! `generated::openvino::bert::CASE` runs it on OpenVINO.

pub mod case;
pub mod generate;
pub mod pooling;
pub mod task;

use std::time::Instant;

use serde_json::Value;

use crate::artifacts::ArtifactCache;
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::preprocess::text::{Overflow, TextProcessor};
use crate::session::{backend_for, Session};
use crate::spec::Case;
use crate::tensor::HostTensor;
pub use pooling::Pooling;
pub use task::{Generated, Label, Task, TaskOutput};

/// The inputs a text skill feeds (any other input of the model is refused at load).
const TEXT_INPUTS: [&str; 4] = ["input_ids", "attention_mask", "token_type_ids", "decoder_input_ids"];

/// A checkpoint loaded on one hardware with its tokenizer.
pub struct Skill {
    case: &'static Case,
    session: Session,
    text: TextProcessor,
    traced: task::Traced,
    checkpoint: Checkpoint,
    /// Milliseconds from `load` to a session ready to run (export on first use included).
    pub load_ms: f64,
    /// How the artifact was reached (`ran openvino-ir ...` after a failed route), if not the first.
    pub route_note: Option<String>,
}

/// Options of one call.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Texts longer than the model takes: refused (default) or truncated.
    pub overflow: Overflow,
    /// The pooling of embeddings, instead of what the checkpoint declares.
    pub pooling: Option<Pooling>,
    /// Only the `k` best labels.
    pub top_k: Option<usize>,
    /// The most tokens generated per input (default 20).
    pub max_new_tokens: Option<usize>,
}

impl Skill {
    /// Opens `source` (a checkpoint directory or a hub id in the local Hugging Face cache)
    /// for `case`'s model and hardware, exporting its artifact on first use.
    pub fn load(case: &'static Case, source: &str) -> Result<Self> {
        Self::load_with(case, source, &ArtifactCache::new(crate::paths::checkpoint_cache_dir()))
    }

    /// [`Skill::load`] with artifacts in `cache` (its exporter becomes the checkpoint exporter).
    pub fn load_with(case: &'static Case, source: &str, cache: &ArtifactCache) -> Result<Self> {
        let started = Instant::now();
        let spec = case.spec;
        let backend = backend_for(case)?;
        preprocessing(spec).map_err(Error::InvalidArgument)?;
        let checkpoint = Checkpoint::open(source)?;
        checkpoint.expect_model_type(spec.model_type)?;
        let text = TextProcessor::open(&checkpoint)?;
        let traced = task::traced(spec, &checkpoint)?;
        let request = case::request(spec, &checkpoint, &traced)?;
        let checkpoint_case = case::leak(case, request, &traced)?;
        let cache = cache.clone().with_exporter(crate::paths::checkpoint_exporter());
        let route = crate::route::choose(&cache, checkpoint_case, backend)?;
        let session = Session::load(checkpoint_case, &route.artifact)?;
        Ok(Self { case: checkpoint_case, session, text, traced, checkpoint, load_ms: started.elapsed().as_secs_f64() * 1e3, route_note: route.left })
    }

    /// The task, from the checkpoint's saved class.
    pub fn task(&self) -> &Task {
        &self.traced.task
    }

    /// The checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &TextProcessor {
        &self.text
    }

    /// Runs the task on `texts`.
    pub fn run(&self, texts: &[&str], options: &Options) -> Result<TaskOutput> {
        match self.traced.task {
            Task::Embed => {
                let pooling = match &options.pooling {
                    Some(pooling) => pooling.clone(),
                    None => Pooling::of(&self.checkpoint)?,
                };
                let vectors = self.embed_with(texts, options.overflow, &pooling)?;
                Ok(TaskOutput::Embeddings { pooling: pooling.name(), normalized: pooling.normalize, vectors })
            }
            Task::Classify => Ok(TaskOutput::Labels { labels: self.classify(texts, options.overflow, options.top_k)? }),
            Task::Generate { .. } => {
                let max = options.max_new_tokens.unwrap_or(20);
                let generated = texts.iter().map(|text| self.generate(text, max, options.overflow)).collect::<Result<_>>()?;
                Ok(TaskOutput::Text { generated })
            }
        }
    }

    /// Token states of `texts` (`[batch, seq, hidden]`) and the attention mask.
    pub fn hidden_states(&self, texts: &[&str], overflow: Overflow) -> Result<(HostTensor, HostTensor)> {
        let encoded = self.text.encode(texts, overflow)?;
        let mask = encoded.attention_mask.clone();
        let [states] = self.forward(encoded.input_ids, encoded.attention_mask, encoded.token_type_ids, None)?;
        Ok((states, mask))
    }

    /// One vector per text with `pooling`.
    pub fn embed_with(&self, texts: &[&str], overflow: Overflow, pooling: &Pooling) -> Result<Vec<Vec<f32>>> {
        self.expect(Task::Embed)?;
        let (states, mask) = self.hidden_states(texts, overflow)?;
        pooling.apply(&states, &mask)
    }

    /// Labels by descending score for each text.
    pub fn classify(&self, texts: &[&str], overflow: Overflow, top_k: Option<usize>) -> Result<Vec<Vec<Label>>> {
        self.expect(Task::Classify)?;
        let encoded = self.text.encode(texts, overflow)?;
        let [logits] = self.forward(encoded.input_ids, encoded.attention_mask, encoded.token_type_ids, None)?;
        let multi_label = self.checkpoint.config.get("problem_type").and_then(Value::as_str) == Some("multi_label_classification");
        labels(&logits, &self.checkpoint.config, multi_label, top_k)
    }

    /// Text generated from `prompt` by greedy decoding, at most `max_new_tokens` tokens.
    pub fn generate(&self, prompt: &str, max_new_tokens: usize, overflow: Overflow) -> Result<Generated> {
        let Task::Generate { encoder_decoder } = self.traced.task else {
            return Err(self.wrong_task("generate"));
        };
        generate::greedy(self, prompt, max_new_tokens, overflow, encoder_decoder)
    }

    /// Runs the traced model on the inputs the spec takes (spec order), returning its output.
    fn forward(&self, input_ids: HostTensor, attention_mask: HostTensor, token_type_ids: HostTensor, decoder_input_ids: Option<HostTensor>) -> Result<[HostTensor; 1]> {
        let mut named = [("input_ids", Some(input_ids)), ("attention_mask", Some(attention_mask)), ("token_type_ids", Some(token_type_ids)), ("decoder_input_ids", decoder_input_ids)];
        let mut inputs = Vec::with_capacity(self.case.spec.inputs.len());
        for input in self.case.spec.inputs {
            let slot = named.iter_mut().find(|(name, _)| *name == input.name).and_then(|(_, tensor)| tensor.take());
            inputs.push(slot.ok_or_else(|| Error::InvalidInput { model: self.case.spec.model_type, message: format!("the skill has no value for `{}` in this task", input.name) })?);
        }
        self.session.run(inputs)
    }

    fn expect(&self, task: Task) -> Result<()> {
        if self.traced.task == task {
            Ok(())
        } else {
            Err(self.wrong_task(match task {
                Task::Embed => "embed",
                Task::Classify => "classify",
                Task::Generate { .. } => "generate",
            }))
        }
    }

    fn wrong_task(&self, asked: &str) -> Error {
        Error::InvalidArgument(format!(
            "cannot {asked} with {}: it saves a `{}`, whose skill task is {:?}",
            self.checkpoint.source,
            self.checkpoint.architecture().unwrap_or(self.case.spec.model_class),
            self.traced.task
        ))
    }
}

/// The preprocessing a model type's skill gets on a checkpoint (`text`), or why it has none
/// yet: the first input no processor of the runtime fills.
pub fn preprocessing(spec: &crate::spec::ModelSpec) -> std::result::Result<&'static str, String> {
    let Some(input) = spec.inputs.iter().find(|input| !TEXT_INPUTS.contains(&input.name)) else { return Ok("text") };
    let processor = match input.name {
        name if name.contains("pixel_values_videos") || name.contains("video") => "a video processor",
        name if name.contains("pixel") || name.contains("image") => "an image processor (preprocessor_config.json)",
        name if name.contains("input_features") || name.contains("input_values") || name.contains("audio") => "an audio feature extractor",
        _ => "a processor for it",
    };
    Err(format!(
        "`{}` takes `{}` ({} input), which needs {processor}; skills on checkpoints preprocess text only so far (`infer --preprocessing` lists every model type)",
        spec.model_type,
        input.name,
        spec.modality.join(", ")
    ))
}

/// Softmax (or sigmoid) scores of `logits` (`[batch, labels]`) named by `id2label`, best first.
pub fn labels(logits: &HostTensor, config: &Value, multi_label: bool, top_k: Option<usize>) -> Result<Vec<Vec<Label>>> {
    let values = logits.as_f32().ok_or_else(|| Error::Tensor(format!("logits must be float32, got {:?}", logits.dtype())))?;
    let width = logits.shape().last().copied().unwrap_or(0).max(1) as usize;
    let names = config.get("id2label").and_then(Value::as_object);
    values
        .chunks(width)
        .map(|row| {
            let scores: Vec<f32> = if multi_label {
                row.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect()
            } else {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
                let sum: f32 = exps.iter().sum();
                exps.iter().map(|e| e / sum).collect()
            };
            let mut labels: Vec<Label> = scores
                .iter()
                .enumerate()
                .map(|(index, score)| Label { label: names.and_then(|n| n.get(&index.to_string())).and_then(Value::as_str).map_or_else(|| index.to_string(), str::to_string), index, score: *score })
                .collect();
            labels.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
            labels.truncate(top_k.unwrap_or(usize::MAX));
            Ok(labels)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_scored_and_named_as_computed_by_hand() {
        let logits = HostTensor::new(&[2, 3], vec![0.0_f32, 1.0, 2.0, 5.0, 5.0, 0.0]).unwrap();
        let config = serde_json::json!({"id2label": {"0": "negative", "1": "neutral", "2": "positive"}});
        let rows = labels(&logits, &config, false, None).unwrap();
        let total = 1.0 + 1f32.exp() + 2f32.exp();
        assert_eq!(rows[0][0], Label { label: "positive".into(), index: 2, score: 2f32.exp() / total });
        assert_eq!(rows[0][2].label, "negative");
        assert_eq!(rows[1].iter().map(|l| l.index).collect::<Vec<_>>(), [0, 1, 2], "a tie keeps index order");
        let top = labels(&logits, &serde_json::json!({}), true, Some(1)).unwrap();
        assert_eq!(top[0], vec![Label { label: "2".into(), index: 2, score: 1.0 / (1.0 + (-2f32).exp()) }], "no id2label: the index; multi-label: sigmoid");
    }
}
