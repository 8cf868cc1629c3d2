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

use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use crate::artifacts::ArtifactCache;
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::preprocess::audio::{read_wav, WaveformProcessor};
use crate::preprocess::ctc::CtcDecoder;
use crate::preprocess::image::{read_image, ImageProcessor};
use crate::preprocess::spectrogram::LogMelProcessor;
use crate::preprocess::text::{Overflow, TextProcessor};
use crate::session::{backend_for, Session};
use crate::spec::Case;
use crate::tensor::HostTensor;
pub use pooling::Pooling;
pub use task::{Generated, Label, Task, TaskOutput};

/// The inputs the text preprocessing feeds.
const TEXT_INPUTS: [&str; 4] = ["input_ids", "attention_mask", "token_type_ids", "decoder_input_ids"];
/// The input the image preprocessing feeds.
const IMAGE_INPUT: &str = case::PIXELS;
/// The input the raw-waveform preprocessing feeds.
const AUDIO_INPUT: &str = "input_values";
/// The input the log-mel preprocessing feeds.
const FEATURES_INPUT: &str = "input_features";

/// A checkpoint loaded on one hardware with its tokenizer.
pub struct Skill {
    case: &'static Case,
    session: Session,
    text: Option<TextProcessor>,
    image: Option<ImageProcessor>,
    audio: Option<WaveformProcessor>,
    mel: Option<LogMelProcessor>,
    ctc: Option<CtcDecoder>,
    traced: task::Traced,
    checkpoint: Checkpoint,
    /// Milliseconds from `load` to a session ready to run (export on first use included).
    pub load_ms: f64,
    /// How the artifact was reached (`ran openvino-ir ...` after a failed route), if not the first.
    pub route_note: Option<String>,
}

/// Raw input of one call: texts, image files, or both (CLIP-style models), or WAV files.
#[derive(Debug, Clone, Copy, Default)]
pub struct Input<'a> {
    /// Texts.
    pub texts: &'a [&'a str],
    /// Image files (PNG or JPEG).
    pub images: &'a [&'a Path],
    /// Audio files (WAV).
    pub audio: &'a [&'a Path],
}

impl<'a> Input<'a> {
    /// Texts alone.
    pub fn text(texts: &'a [&'a str]) -> Self {
        Self { texts, ..Self::default() }
    }

    /// Images alone.
    pub fn images(images: &'a [&'a Path]) -> Self {
        Self { images, ..Self::default() }
    }

    /// Audio files alone.
    pub fn audio(audio: &'a [&'a Path]) -> Self {
        Self { audio, ..Self::default() }
    }
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
        let takes = |name: &str| spec.inputs.iter().any(|input| input.name == name);
        let traced = task::traced(spec, &checkpoint)?;
        let generates = matches!(traced.task, Task::Generate { .. });
        let text = if takes("input_ids") || generates { Some(TextProcessor::open(&checkpoint)?) } else { None };
        let image = if takes(IMAGE_INPUT) { Some(ImageProcessor::open(&checkpoint)?) } else { None };
        let audio = if takes(AUDIO_INPUT) { Some(WaveformProcessor::open(&checkpoint)?) } else { None };
        let mel = if takes(FEATURES_INPUT) { Some(LogMelProcessor::open(&checkpoint)?) } else { None };
        let mut fixed: Vec<(&'static str, Vec<usize>)> = Vec::new();
        if let Some(processor) = &image {
            let (height, width) = fixed_image_size(processor, &checkpoint)?;
            fixed.push((IMAGE_INPUT, vec![height, width]));
        }
        if let Some(processor) = &mel {
            fixed.push((FEATURES_INPUT, fixed_feature_size(processor, &checkpoint)?));
        }
        let ctc = if traced.task == Task::Transcribe { Some(CtcDecoder::open(&checkpoint)?) } else { None };
        let request = case::request(spec, &checkpoint, &traced, &fixed)?;
        let checkpoint_case = case::leak(case, request, &traced, &fixed)?;
        let cache = cache.clone().with_exporter(crate::paths::checkpoint_exporter());
        let route = crate::route::choose(&cache, checkpoint_case, backend)?;
        let session = Session::load(checkpoint_case, &route.artifact)?;
        Ok(Self { case: checkpoint_case, session, text, image, audio, mel, ctc, traced, checkpoint, load_ms: started.elapsed().as_secs_f64() * 1e3, route_note: route.left })
    }

    /// The task, from the checkpoint's saved class.
    pub fn task(&self) -> &Task {
        &self.traced.task
    }

    /// The checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The tokenizer, for a model that takes text.
    pub fn tokenizer(&self) -> Option<&TextProcessor> {
        self.text.as_ref()
    }

    /// The image processor, for a model that takes images.
    pub fn image_processor(&self) -> Option<&ImageProcessor> {
        self.image.as_ref()
    }

    /// Runs the task on `input`.
    pub fn run(&self, input: Input<'_>, options: &Options) -> Result<TaskOutput> {
        let texts = input.texts;
        match self.traced.task {
            Task::Embed => {
                let pooling = match &options.pooling {
                    Some(pooling) => pooling.clone(),
                    None => Pooling::of(&self.checkpoint)?,
                };
                let vectors = if self.audio.is_some() { self.embed_audio(input.audio, &pooling)? } else { self.embed_with(texts, options.overflow, &pooling)? };
                Ok(TaskOutput::Embeddings { pooling: pooling.name(), normalized: pooling.normalize, vectors })
            }
            Task::Classify if self.audio.is_some() => Ok(TaskOutput::Labels { labels: self.classify_audio(input.audio, options.top_k)? }),
            Task::Transcribe => Ok(TaskOutput::Transcripts { texts: self.transcribe(input.audio)? }),
            Task::Classify if self.image.is_some() => Ok(TaskOutput::Labels { labels: self.classify_images(input.images, options.top_k)? }),
            Task::Classify => Ok(TaskOutput::Labels { labels: self.classify(texts, options.overflow, options.top_k)? }),
            Task::Similarity => self.similarity(input.images, texts, options.overflow),
            Task::Generate { .. } if self.mel.is_some() => {
                let max = options.max_new_tokens.unwrap_or(20);
                let generated = input.audio.iter().map(|path| self.transcribe_audio(path, max)).collect::<Result<_>>()?;
                Ok(TaskOutput::Text { generated })
            }
            Task::Generate { .. } => {
                let max = options.max_new_tokens.unwrap_or(20);
                let generated = texts.iter().map(|text| self.generate(text, max, options.overflow)).collect::<Result<_>>()?;
                Ok(TaskOutput::Text { generated })
            }
        }
    }

    /// Token states of `texts` (`[batch, seq, hidden]`) and the attention mask.
    pub fn hidden_states(&self, texts: &[&str], overflow: Overflow) -> Result<(HostTensor, HostTensor)> {
        let encoded = self.text()?.encode(texts, overflow)?;
        let mask = encoded.attention_mask.clone();
        let states = self.forward(text_inputs(encoded))?;
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
        let encoded = self.text()?.encode(texts, overflow)?;
        let logits = self.forward(text_inputs(encoded))?;
        labels(&logits, &self.checkpoint.config, self.multi_label(), top_k)
    }

    /// Labels by descending score for each image file.
    pub fn classify_images(&self, images: &[&Path], top_k: Option<usize>) -> Result<Vec<Vec<Label>>> {
        self.expect(Task::Classify)?;
        let pixels = self.pixel_values(images)?;
        let logits = self.forward(vec![(IMAGE_INPUT, pixels)])?;
        labels(&logits, &self.checkpoint.config, self.multi_label(), top_k)
    }

    /// How well each image matches each text (`logits_per_image`, its softmax over the texts
    /// and the best text of each image).
    pub fn similarity(&self, images: &[&Path], texts: &[&str], overflow: Overflow) -> Result<TaskOutput> {
        self.expect(Task::Similarity)?;
        let encoded = self.text()?.encode(texts, overflow)?;
        let pixels = self.pixel_values(images)?;
        // Texts and images share the traced graph's batch axis, so each image runs beside
        // every text as copies of itself; row 0 of `logits_per_image` is that image's.
        let values = pixels.as_f32().unwrap_or_default();
        let shape = pixels.shape().to_vec();
        let per_image = values.len() / images.len().max(1);
        let mut rows = Vec::with_capacity(images.len());
        for image in values.chunks(per_image.max(1)) {
            let mut batch_shape = shape.clone();
            batch_shape[0] = texts.len() as i64;
            let copies = HostTensor::new(&batch_shape, image.repeat(texts.len()))?;
            let mut inputs = text_inputs(encoded.clone());
            inputs.push((IMAGE_INPUT, copies));
            let logits = self.forward(inputs)?;
            let row = logits.as_f32().ok_or_else(|| Error::Tensor(format!("logits_per_image must be float32, got {:?}", logits.dtype())))?;
            rows.push(row[..texts.len()].to_vec());
        }
        let probabilities: Vec<Vec<f32>> = rows.iter().map(|row| softmax(row)).collect();
        let best = probabilities
            .iter()
            .map(|row| row.iter().enumerate().fold(0, |best, (i, p)| if *p > row[best] { i } else { best }))
            .map(|index| texts.get(index).map_or_else(String::new, |t| (*t).to_string()))
            .collect();
        Ok(TaskOutput::Similarity { logits: rows, probabilities, best })
    }

    /// One vector per audio file: `pooling` over every frame of `last_hidden_state`.
    pub fn embed_audio(&self, audio: &[&Path], pooling: &Pooling) -> Result<Vec<Vec<f32>>> {
        self.expect(Task::Embed)?;
        let states = self.forward(vec![(AUDIO_INPUT, self.input_values(audio)?)])?;
        let [batch, frames] = [0, 1].map(|i| states.shape().get(i).copied().unwrap_or(0));
        pooling.apply(&states, &HostTensor::full(&[batch, frames], 1_i64)?)
    }

    /// Labels by descending score for each audio file.
    pub fn classify_audio(&self, audio: &[&Path], top_k: Option<usize>) -> Result<Vec<Vec<Label>>> {
        self.expect(Task::Classify)?;
        let logits = self.forward(vec![(AUDIO_INPUT, self.input_values(audio)?)])?;
        labels(&logits, &self.checkpoint.config, self.multi_label(), top_k)
    }

    /// The text of each audio file from a CTC head: the best token per frame, decoded. Files
    /// run one at a time (padding would add frames the model scores).
    pub fn transcribe(&self, audio: &[&Path]) -> Result<Vec<String>> {
        self.expect(Task::Transcribe)?;
        let decoder = self.ctc.as_ref().ok_or_else(|| self.wrong_task("transcribe"))?;
        audio
            .iter()
            .map(|path| {
                let logits = self.forward(vec![(AUDIO_INPUT, self.input_values(&[path])?)])?;
                let values = logits.as_f32().ok_or_else(|| Error::Tensor(format!("logits must be float32, got {:?}", logits.dtype())))?;
                let vocab = logits.shape().last().copied().unwrap_or(1).max(1) as usize;
                let ids: Vec<i64> = values.chunks(vocab).map(|frame| frame.iter().enumerate().fold(0, |best, (i, v)| if *v > frame[best] { i } else { best }) as i64).collect();
                Ok(decoder.decode(&ids))
            })
            .collect()
    }

    /// `input_values` of WAV files, as the checkpoint's feature extractor prepares them.
    pub fn input_values(&self, audio: &[&Path]) -> Result<HostTensor> {
        let processor = self.audio.as_ref().ok_or_else(|| Error::InvalidArgument(format!("`{}` takes no audio", self.case.spec.model_type)))?;
        let waves = audio.iter().map(|path| read_wav(path)).collect::<Result<Vec<_>>>()?;
        processor.prepare(&waves)
    }

    /// `pixel_values` of image files, as the checkpoint's image processor prepares them.
    pub fn pixel_values(&self, images: &[&Path]) -> Result<HostTensor> {
        let processor = self.image.as_ref().ok_or_else(|| Error::InvalidArgument(format!("`{}` takes no image", self.case.spec.model_type)))?;
        let decoded = images.iter().map(|path| read_image(path)).collect::<Result<Vec<_>>>()?;
        processor.prepare(&decoded)
    }

    fn multi_label(&self) -> bool {
        self.checkpoint.config.get("problem_type").and_then(Value::as_str) == Some("multi_label_classification")
    }

    fn text(&self) -> Result<&TextProcessor> {
        self.text.as_ref().ok_or_else(|| Error::InvalidArgument(format!("`{}` takes no text", self.case.spec.model_type)))
    }

    /// Text generated from `prompt` by greedy decoding, at most `max_new_tokens` tokens.
    pub fn generate(&self, prompt: &str, max_new_tokens: usize, overflow: Overflow) -> Result<Generated> {
        let Task::Generate { encoder_decoder } = self.traced.task else {
            return Err(self.wrong_task("generate"));
        };
        if self.mel.is_some() {
            return Err(Error::InvalidArgument(format!("`{}` generates from audio: use `transcribe_audio`", self.case.spec.model_type)));
        }
        generate::greedy(self, generate::Source::Text(prompt, overflow), max_new_tokens, encoder_decoder)
    }

    /// Text generated from an audio file by an encoder-decoder speech model (Whisper): log-mel
    /// features, then greedy decoding, at most `max_new_tokens` tokens.
    pub fn transcribe_audio(&self, audio: &Path, max_new_tokens: usize) -> Result<Generated> {
        let Task::Generate { encoder_decoder: true } = self.traced.task else {
            return Err(self.wrong_task("transcribe audio into generated text"));
        };
        let features = self.input_features(&[audio])?;
        generate::greedy(self, generate::Source::Encoder(vec![(FEATURES_INPUT, features)]), max_new_tokens, true)
    }

    /// `input_features` (log-mel) of WAV files, as the checkpoint's feature extractor computes them.
    pub fn input_features(&self, audio: &[&Path]) -> Result<HostTensor> {
        let processor = self.mel.as_ref().ok_or_else(|| Error::InvalidArgument(format!("`{}` takes no log-mel features", self.case.spec.model_type)))?;
        let waves = audio.iter().map(|path| read_wav(path)).collect::<Result<Vec<_>>>()?;
        processor.prepare(&waves)
    }

    /// Runs the traced model on named inputs (put in spec order), returning its one output.
    fn forward(&self, mut named: Vec<(&'static str, HostTensor)>) -> Result<HostTensor> {
        let mut inputs = Vec::with_capacity(self.case.spec.inputs.len());
        for input in self.case.spec.inputs {
            let index = named.iter().position(|(name, _)| *name == input.name);
            let tensor = index.map(|i| named.swap_remove(i).1);
            inputs.push(tensor.ok_or_else(|| Error::InvalidInput { model: self.case.spec.model_type, message: format!("the skill has no value for `{}` in this task (give it its text or image)", input.name) })?);
        }
        let [output] = self.session.run(inputs)?;
        Ok(output)
    }

    fn expect(&self, task: Task) -> Result<()> {
        if self.traced.task == task {
            Ok(())
        } else {
            Err(self.wrong_task(match task {
                Task::Embed => "embed",
                Task::Classify => "classify",
                Task::Transcribe => "transcribe",
                Task::Similarity => "score images against texts",
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

/// The inputs text preprocessing fills from an encoding.
fn text_inputs(encoded: crate::preprocess::text::EncodedText) -> Vec<(&'static str, HostTensor)> {
    vec![("input_ids", encoded.input_ids), ("attention_mask", encoded.attention_mask), ("token_type_ids", encoded.token_type_ids)]
}

/// The fixed (height, width) of prepared images: the model's `image_size` (or its vision
/// config's) must agree with the image processor's output.
fn fixed_image_size(processor: &ImageProcessor, checkpoint: &Checkpoint) -> Result<(usize, usize)> {
    let Some(size) = processor.output_size() else {
        return Err(Error::Checkpoint {
            path: checkpoint.dir.join(crate::preprocess::image::CONFIG_FILE),
            message: "resizes to a size that varies with each image (shortest edge, no crop): the traced model takes one fixed size".into(),
        });
    };
    let declared = checkpoint.config.get("image_size").or_else(|| checkpoint.config.get("vision_config").and_then(|v| v.get("image_size"))).and_then(Value::as_u64);
    if let Some(model) = declared.filter(|n| (*n as usize, *n as usize) != size) {
        return Err(Error::Checkpoint {
            path: checkpoint.dir.join(crate::preprocess::image::CONFIG_FILE),
            message: format!("prepares {}x{} images, but config.json's image_size is {model}: the processor belongs to another model", size.1, size.0),
        });
    }
    Ok(size)
}

/// The fixed [mel bins, frames] of log-mel features: the model's `num_mel_bins` must agree, and
/// a Whisper encoder's `max_source_positions` is half the frames (its second convolution strides by 2).
fn fixed_feature_size(processor: &LogMelProcessor, checkpoint: &Checkpoint) -> Result<Vec<usize>> {
    let path = checkpoint.dir.join(crate::preprocess::image::CONFIG_FILE);
    if let Some(bins) = checkpoint.config_number("num_mel_bins").filter(|b| *b as usize != processor.mel_bins) {
        return Err(Error::Checkpoint { path, message: format!("computes {} mel bins, but config.json's num_mel_bins is {bins}: the extractor belongs to another model", processor.mel_bins) });
    }
    if let Some(positions) = checkpoint.config_number("max_source_positions").filter(|p| (*p as usize) * 2 != processor.frames()) {
        return Err(Error::Checkpoint { path, message: format!("gives {} frames, but config.json's max_source_positions {positions} takes {}", processor.frames(), positions * 2) });
    }
    Ok(vec![processor.mel_bins, processor.frames()])
}

/// Softmax of one row.
fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// The preprocessing a model type's skill gets on a checkpoint (`text`, `image` or
/// `text+image`), or why it has none yet: the first input no processor of the runtime fills.
pub fn preprocessing(spec: &crate::spec::ModelSpec) -> std::result::Result<&'static str, String> {
    // Text the user gives (a decoder's own ids alone are generated, not given).
    let text = spec.inputs.iter().any(|input| input.name == "input_ids");
    // Video frames, image tiles and flattened patches come as `pixel_values` too, of other ranks
    // than one image's [batch, 3, height, width].
    if let Some(video) = spec.inputs.iter().find(|input| input.name == IMAGE_INPUT && input.shape.len() != 4) {
        return Err(format!(
            "`{}` takes `{}` of {} axes (video frames, image tiles or flattened patches), which needs a processor for that layout; skills on checkpoints prepare single images [batch, 3, height, width] so far (`infer --preprocessing` lists every model type)",
            spec.model_type,
            video.name,
            video.shape.len()
        ));
    }
    let image = spec.inputs.iter().any(|input| input.name == IMAGE_INPUT);
    let audio = spec.inputs.iter().any(|input| input.name == AUDIO_INPUT);
    let log_mel = spec.inputs.iter().any(|input| input.name == FEATURES_INPUT);
    let Some(input) = spec.inputs.iter().find(|input| !TEXT_INPUTS.contains(&input.name) && ![IMAGE_INPUT, AUDIO_INPUT, FEATURES_INPUT].contains(&input.name)) else {
        if log_mel {
            return Ok(if text { "text+log-mel (WhisperFeatureExtractor only)" } else { "log-mel (WhisperFeatureExtractor only)" });
        }
        return Ok(match (text, image, audio) {
            (true, true, _) => "text+image",
            (false, true, _) => "image",
            (false, false, true) => "audio",
            (true, false, true) => "text+audio",
            _ => "text",
        });
    };
    let processor = match input.name {
        name if name.contains("pixel_values_videos") || name.contains("video") => "a video processor",
        name if name.contains("pixel") || name.contains("image") => "an image input beyond `pixel_values` (sizes, grids, masks)",
        name if name.contains("audio") => "an audio feature extractor",
        _ => "a processor for it",
    };
    Err(format!(
        "`{}` takes `{}` ({} input), which needs {processor}; skills on checkpoints preprocess text, `pixel_values` images, `input_values` waveforms and Whisper's log-mel `input_features` so far (`infer --preprocessing` lists every model type)",
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
                softmax(row)
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
