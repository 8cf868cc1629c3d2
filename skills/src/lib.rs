//! Skills on real checkpoints: a checkpoint directory (or a hub id in the local cache),
//! exported once per content into the checkpoint cache, run on any hardware the generated
//! crate has a case for, from raw text, image and WAV files to what the task means (an
//! embedding, labels, image-text similarity, a transcript, generated text).
//!
//! `Skill::load(&generated::cpu::bert::CASE, "path/to/checkpoint")`; the same call with
//! `generated::openvino::bert::CASE` runs it on OpenVINO.
//!
//! Its own crate, apart from the runtime the generated modules link: tokenizers, image
//! decoding, WAV files and the FFT stay out of every build of the zoo, and an edit here
//! changes no verdict digest (the digest hashes the runtime's sources only).

pub mod cached;
pub mod case;
pub mod checkpoint;
pub mod detect;
pub mod generate;
pub mod inputs;
pub mod labels;
pub mod pooling;
pub mod preprocess;
pub mod sessions;
pub mod similarity;
pub mod task;

use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use crate::checkpoint::Checkpoint;
use crate::preprocess::audio::{read_wav, WaveformProcessor};
use crate::preprocess::ctc::CtcDecoder;
use crate::preprocess::image::{read_image, ImageProcessor, Prepared};
use crate::preprocess::image_prompt::ImagePrompt;
use crate::preprocess::spectrogram::LogMelProcessor;
use crate::preprocess::text::{Overflow, TextProcessor};
pub use inputs::preprocessing;
use inputs::{text_inputs, AUDIO_INPUT, FEATURES_INPUT, IMAGE_INPUT, MASK_INPUT};
use labels::labels;
pub use pooling::Pooling;
use runtime::artifacts::ArtifactCache;
use runtime::error::{Error, Result};
use runtime::session::backend_for;
use runtime::spec::Case;
use runtime::tensor::HostTensor;
pub use task::{DetectedObject, Generated, Label, Task, TaskOutput};

/// The least score a detection keeps unless the caller says otherwise (transformers'
/// object-detection pipeline's default).
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// A checkpoint loaded on one hardware with its processors (tokenizer, image processor,
/// feature extractor, CTC vocabulary: whichever its inputs and task need).
pub struct Skill {
    case: Case,
    sessions: sessions::Sessions,
    text: Option<TextProcessor>,
    image: Option<ImageProcessor>,
    image_prompt: Option<ImagePrompt>,
    /// Frames per video, for a model that takes videos (`pixel_values` of 5 axes).
    frames: Option<usize>,
    audio: Option<WaveformProcessor>,
    mel: Option<LogMelProcessor>,
    ctc: Option<CtcDecoder>,
    traced: task::Traced,
    checkpoint: Checkpoint,
    /// Milliseconds from `load` to a session ready to run (export on first use included).
    pub load_ms: f64,
    /// How the artifact was reached (`ran openvino-ir ...` after a failed route), if not the first.
    pub route_note: Option<String>,
    /// The steps with the cache of a generating skill, opened on first use.
    generation: cached::CachedSteps,
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
    /// Videos, each a folder of frame images (PNG or JPEG, in file-name order).
    pub videos: &'a [&'a Path],
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

    /// Videos (frame folders) alone.
    pub fn videos(videos: &'a [&'a Path]) -> Self {
        Self { videos, ..Self::default() }
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
    /// The least score a detection keeps (default 0.5, as transformers' object-detection pipeline).
    pub threshold: Option<f32>,
}

impl Skill {
    /// Opens `source` (a checkpoint directory or a hub id in the local Hugging Face cache)
    /// for `case`'s model and hardware, exporting its artifact on first use.
    pub fn load(case: &'static Case, source: &str) -> Result<Self> {
        Self::load_with(case, source, &ArtifactCache::new(runtime::paths::checkpoint_cache_dir()))
    }

    /// [`Skill::load`] with artifacts in `cache` (its exporter becomes the checkpoint exporter).
    pub fn load_with(case: &'static Case, source: &str, cache: &ArtifactCache) -> Result<Self> {
        let started = Instant::now();
        let spec = &case.spec;
        backend_for(case)?;
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
        let frames = if inputs::takes_video(spec) { Some(inputs::frames(&checkpoint)?) } else { None };
        let sized = inputs::sized_inputs(spec, &checkpoint, image.as_ref(), mel.as_ref())?;
        let ctc = if traced.task == Task::Transcribe { Some(CtcDecoder::open(&checkpoint)?) } else { None };
        let image_prompt = match (&image, &text) {
            (Some(images), Some(text)) if generates && task::IMAGE_PROMPT_MODELS.contains(&spec.model_type) => {
                Some(ImagePrompt::open(&checkpoint, images, text)?)
            }
            _ => None,
        };
        let shaping = case::Shaping {
            sized,
            image_tokens: image_prompt.as_ref().map(|prompt| (prompt.token_id, prompt.count)),
            constants: Vec::new(),
        };
        // Any-resolution tiling bakes each image's size into the trace: sessions per size, on first use.
        let per_size = image_prompt.as_ref().is_some_and(|prompt| prompt.tiles.is_some());
        let (sessions, checkpoint_case) =
            sessions::Sessions::open(case, &checkpoint, &traced, shaping, cache, per_size)?;
        let route_note = sessions.route_note.clone();
        Ok(Self {
            case: checkpoint_case,
            sessions,
            text,
            image,
            image_prompt,
            frames,
            audio,
            mel,
            ctc,
            traced,
            checkpoint,
            load_ms: started.elapsed().as_secs_f64() * 1e3,
            route_note,
            generation: cached::CachedSteps::default(),
        })
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
                let vectors = if self.audio.is_some() {
                    self.embed_audio(input.audio, &pooling)?
                } else {
                    self.embed_with(texts, options.overflow, &pooling)?
                };
                Ok(TaskOutput::Embeddings { pooling: pooling.name(), normalized: pooling.normalize, vectors })
            }
            Task::Classify if self.audio.is_some() => {
                Ok(TaskOutput::Labels { labels: self.classify_audio(input.audio, options.top_k)? })
            }
            Task::Transcribe => Ok(TaskOutput::Transcripts { texts: self.transcribe(input.audio)? }),
            Task::Classify if self.frames.is_some() => {
                Ok(TaskOutput::Labels { labels: self.classify_videos(input.videos, options.top_k)? })
            }
            Task::Classify if self.image.is_some() => {
                Ok(TaskOutput::Labels { labels: self.classify_images(input.images, options.top_k)? })
            }
            Task::Classify => Ok(TaskOutput::Labels { labels: self.classify(texts, options.overflow, options.top_k)? }),
            Task::Similarity => self.similarity(input, options.overflow),
            Task::Detect => {
                let threshold = options.threshold.unwrap_or(DEFAULT_THRESHOLD);
                Ok(TaskOutput::Detections { threshold, objects: self.detect(input.images, threshold)? })
            }
            Task::Generate { .. } if self.mel.is_some() => {
                let max = options.max_new_tokens.unwrap_or(20);
                let generated =
                    input.audio.iter().map(|path| self.transcribe_audio(path, max)).collect::<Result<_>>()?;
                Ok(TaskOutput::Text { generated })
            }
            Task::Generate { .. } if self.image_prompt.is_some() => {
                if texts.len() != input.images.len() {
                    return Err(Error::InvalidArgument(format!("give one prompt per image (each holding the image placeholder once): got {} prompts and {} images", texts.len(), input.images.len())));
                }
                let max = options.max_new_tokens.unwrap_or(20);
                let generated = texts
                    .iter()
                    .zip(input.images)
                    .map(|(text, image)| self.describe_image(text, image, max, options.overflow))
                    .collect::<Result<_>>()?;
                Ok(TaskOutput::Text { generated })
            }
            Task::Generate { .. } => {
                let max = options.max_new_tokens.unwrap_or(20);
                let generated =
                    texts.iter().map(|text| self.generate(text, max, options.overflow)).collect::<Result<_>>()?;
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

    /// The objects in each image file whose score passes `threshold`, best first, with boxes
    /// in the file's pixels. The images run as one batch, padded to one size with `pixel_mask`
    /// where the processor pads (as the Python processor batches them).
    pub fn detect(&self, images: &[&Path], threshold: f32) -> Result<Vec<Vec<DetectedObject>>> {
        self.expect(Task::Detect)?;
        let prepared = self.prepare_images(images)?;
        let mut inputs = vec![(IMAGE_INPUT, prepared.pixel_values)];
        if self.case.spec.inputs.iter().any(|input| input.name == MASK_INPUT) {
            let mask = match prepared.pixel_mask {
                Some(mask) => mask,
                None => {
                    let shape = inputs[0].1.shape();
                    HostTensor::full(&[shape[0], shape[2], shape[3]], 1_i64)?
                }
            };
            inputs.push((MASK_INPUT, mask));
        }
        let [logits, boxes]: [HostTensor; 2] = self
            .forward_all(inputs)?
            .try_into()
            .map_err(|_| Error::Mismatch("a detection head must give logits and pred_boxes".into()))?;
        detect::detections(&logits, &boxes, &prepared.original_sizes, &self.checkpoint.config, threshold)
    }

    /// Labels by descending score for each video (a folder of frames).
    pub fn classify_videos(&self, videos: &[&Path], top_k: Option<usize>) -> Result<Vec<Vec<Label>>> {
        self.expect(Task::Classify)?;
        let logits = self.forward(vec![(IMAGE_INPUT, self.video_values(videos)?)])?;
        labels(&logits, &self.checkpoint.config, self.multi_label(), top_k)
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
                let values = logits
                    .as_f32()
                    .ok_or_else(|| Error::Tensor(format!("logits must be float32, got {:?}", logits.dtype())))?;
                let vocab = logits.shape().last().copied().unwrap_or(1).max(1) as usize;
                let ids: Vec<i64> =
                    values.chunks(vocab).map(|frame| generate::argmax(frame, &[]).unwrap_or(0) as i64).collect();
                Ok(decoder.decode(&ids))
            })
            .collect()
    }

    /// `input_values` of WAV files, as the checkpoint's feature extractor prepares them.
    pub fn input_values(&self, audio: &[&Path]) -> Result<HostTensor> {
        let processor = self
            .audio
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument(format!("`{}` takes no audio", self.case.spec.model_type)))?;
        let waves = audio.iter().map(|path| read_wav(path)).collect::<Result<Vec<_>>>()?;
        processor.prepare(&waves)
    }

    /// `pixel_values` of image files, as the checkpoint's image processor prepares them.
    pub fn pixel_values(&self, images: &[&Path]) -> Result<HostTensor> {
        Ok(self.prepare_images(images)?.pixel_values)
    }

    /// `pixel_values` of videos (folders of frame images), `[videos, frames, 3, height, width]`,
    /// each frame as the checkpoint's image processor prepares it.
    pub fn video_values(&self, videos: &[&Path]) -> Result<HostTensor> {
        let (Some(processor), Some(frames)) = (self.image.as_ref(), self.frames) else {
            return Err(Error::InvalidArgument(format!("`{}` takes no video", self.case.spec.model_type)));
        };
        crate::preprocess::video::prepare(processor, videos, frames)
    }

    /// Image files as the checkpoint's image processor prepares them: `pixel_values`, and
    /// `pixel_mask` where it pads.
    pub fn prepare_images(&self, images: &[&Path]) -> Result<Prepared> {
        let processor = self
            .image
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument(format!("`{}` takes no image", self.case.spec.model_type)))?;
        let decoded = images.iter().map(|path| read_image(path)).collect::<Result<Vec<_>>>()?;
        processor.prepare_batch(&decoded)
    }

    fn multi_label(&self) -> bool {
        self.checkpoint.config.get("problem_type").and_then(Value::as_str) == Some("multi_label_classification")
    }

    fn text(&self) -> Result<&TextProcessor> {
        self.text
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument(format!("`{}` takes no text", self.case.spec.model_type)))
    }

    /// Text generated from `prompt` by greedy decoding, at most `max_new_tokens` tokens.
    pub fn generate(&self, prompt: &str, max_new_tokens: usize, overflow: Overflow) -> Result<Generated> {
        let Task::Generate { encoder_decoder } = self.traced.task else {
            return Err(self.wrong_task("generate"));
        };
        if self.mel.is_some() {
            return Err(Error::InvalidArgument(format!(
                "`{}` generates from audio: use `transcribe_audio`",
                self.case.spec.model_type
            )));
        }
        if self.image_prompt.is_some() {
            return Err(Error::InvalidArgument(format!(
                "`{}` generates from an image and a prompt: use `describe_image`",
                self.case.spec.model_type
            )));
        }
        generate::greedy(self, generate::Source::Text(prompt, overflow, Vec::new()), max_new_tokens, encoder_decoder)
    }

    /// Text generated from `prompt` about the image file `image` by a LLaVA-style model: the
    /// prompt's one image placeholder is expanded to a token per image feature, and greedy
    /// decoding runs with the image's `pixel_values` at each step, at most `max_new_tokens` tokens.
    pub fn describe_image(
        &self,
        prompt: &str,
        image: &Path,
        max_new_tokens: usize,
        overflow: Overflow,
    ) -> Result<Generated> {
        let placeholder = self.image_prompt.as_ref().ok_or_else(|| self.wrong_task("describe an image"))?;
        let Some(tiled) = &placeholder.tiles else {
            let expanded = placeholder.expand(prompt)?;
            let pixels = self.pixel_values(&[image])?;
            return generate::greedy(
                self,
                generate::Source::Text(&expanded, overflow, vec![(IMAGE_INPUT, pixels)]),
                max_new_tokens,
                false,
            );
        };
        // Any resolution: the whole view and the tiles as patches of one image, with its size.
        let processor = self
            .image
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument(format!("`{}` takes no image", self.case.spec.model_type)))?;
        let decoded = read_image(image)?;
        let views = processor.prepare(&tiled.tiles.tiles(&decoded))?;
        let mut shape = vec![1_i64];
        shape.extend_from_slice(views.shape());
        let pixels = HostTensor::new(&shape, views.as_f32().unwrap_or_default().to_vec())?;
        let sizes = HostTensor::new(&[1, 2], vec![decoded.height as i64, decoded.width as i64])?;
        let expanded = placeholder.expand_to(prompt, placeholder.count_for((decoded.height, decoded.width)))?;
        generate::greedy(
            self,
            generate::Source::Text(&expanded, overflow, vec![(IMAGE_INPUT, pixels), (sessions::SIZES_INPUT, sizes)]),
            max_new_tokens,
            false,
        )
    }

    /// The prompt a LLaVA-style model tokenizes: its image placeholder expanded.
    pub fn image_prompt(&self) -> Option<&ImagePrompt> {
        self.image_prompt.as_ref()
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
        let processor = self.mel.as_ref().ok_or_else(|| {
            Error::InvalidArgument(format!("`{}` takes no log-mel features", self.case.spec.model_type))
        })?;
        let waves = audio.iter().map(|path| read_wav(path)).collect::<Result<Vec<_>>>()?;
        processor.prepare(&waves)
    }

    /// The checkpoint's steps with the cache, exported on first use; `None` where the engine has
    /// no generation route or the model's cache cannot be carried as tensors.
    fn cached_steps(&self) -> Result<std::sync::Arc<Option<runtime::generation::Steps>>> {
        self.generation.get(&self.case, &self.traced.model_class, self.sessions.cache())
    }

    /// Runs the traced model on named inputs (put in spec order), returning its first output.
    fn forward(&self, named: Vec<(&'static str, HostTensor)>) -> Result<HostTensor> {
        let outputs = self.forward_all(named)?;
        outputs
            .into_iter()
            .next()
            .ok_or_else(|| Error::Mismatch(format!("`{}` returned no output", self.case.spec.model_type)))
    }

    /// Runs the traced model on named inputs (put in spec order), returning every output.
    fn forward_all(&self, mut named: Vec<(&'static str, HostTensor)>) -> Result<Vec<HostTensor>> {
        let mut inputs = Vec::with_capacity(self.case.spec.inputs.len());
        for input in self.case.spec.inputs.iter() {
            let index = named.iter().position(|(name, _)| *name == input.name);
            let tensor = index.map(|i| named.swap_remove(i).1);
            inputs.push(tensor.ok_or_else(|| Error::InvalidInput {
                model: self.case.spec.model_type,
                message: format!(
                    "the skill has no value for `{}` in this task (give it its text or image)",
                    input.name
                ),
            })?);
        }
        let sizes_at = self.case.spec.inputs.iter().position(|input| input.name == sessions::SIZES_INPUT);
        self.sessions.run(inputs, sizes_at, |size| self.size_shaping(size))
    }

    /// A per-size export of an any-resolution model: its patches, tile and image tokens.
    fn size_shaping(&self, (height, width): (i64, i64)) -> Result<sessions::SizeShaping> {
        let prompt = self
            .image_prompt
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument(format!("`{}` has no image prompt", self.case.spec.model_type)))?;
        let tiled = prompt.tiles.as_ref().ok_or_else(|| {
            Error::InvalidArgument(format!("`{}` does not tile its images", self.case.spec.model_type))
        })?;
        let size = (height.max(1) as usize, width.max(1) as usize);
        let (best_h, best_w) = tiled.tiles.best_resolution(size);
        let tile = tiled.tiles.tile;
        Ok(sessions::SizeShaping {
            patches: 1 + (best_h / tile) * (best_w / tile),
            tile,
            image_tokens: (prompt.token_id, prompt.count_for(size)),
        })
    }

    fn expect(&self, task: Task) -> Result<()> {
        if self.traced.task == task {
            Ok(())
        } else {
            Err(self.wrong_task(match task {
                Task::Embed => "embed",
                Task::Classify => "classify",
                Task::Transcribe => "transcribe",
                Task::Similarity => "score images, videos or audio against texts",
                Task::Detect => "detect objects",
                Task::Generate { .. } => "generate",
            }))
        }
    }

    fn wrong_task(&self, asked: &str) -> Error {
        Error::InvalidArgument(format!(
            "cannot {asked} with {}: it saves a `{}`, whose skill task is {:?}",
            self.checkpoint.source,
            self.checkpoint.architecture().unwrap_or(&self.case.spec.model_class),
            self.traced.task
        ))
    }
}
