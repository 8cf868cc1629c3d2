//! What a checkpoint's skill computes, decided by the class `save_pretrained` saved
//! (`architectures` in `config.json`), and what it returns.

use serde::Serialize;

use crate::checkpoint::Checkpoint;
use runtime::error::{Error, Result};
use runtime::spec::ModelSpec;

/// The task a checkpoint's skill performs.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// A base model: one vector per text, pooled from `last_hidden_state`.
    Embed,
    /// A classification head: labels with scores from `id2label`.
    Classify,
    /// A CTC head over audio frames: text by the best token of each frame.
    Transcribe,
    /// A contrastive model (CLIP, X-CLIP, CLAP): how well each image, video or audio file matches each text.
    Similarity,
    /// A DETR-style detection head: labels with scores and boxes, per query above a threshold.
    Detect,
    /// A language-model head: text by greedy decoding.
    Generate {
        /// Encoder-decoder (the decoder's ids are an input) rather than decoder-only.
        encoder_decoder: bool,
    },
}

/// The model class and outputs the exporter traces for a task.
#[derive(Debug, Clone, PartialEq)]
pub struct Traced {
    /// The task.
    pub task: Task,
    /// transformers model class loaded with `from_pretrained`.
    pub model_class: String,
    /// The outputs the task reads (the first is the main one).
    pub outputs: Vec<&'static str>,
}

/// Model types that generate text from a prompt holding an image placeholder, expanded to one
/// token per image feature (`LlavaProcessor`; [`crate::preprocess::image_prompt`]).
pub const IMAGE_PROMPT_MODELS: [&str; 2] = ["llava", "llava_next"];

/// Model types whose images come as any-resolution tiles with their `image_sizes`
/// ([`crate::preprocess::tiles`]).
pub const TILED_MODELS: [&str; 1] = ["llava_next"];

/// Model types whose detection heads score each query with a softmax over the labels and a
/// last "no object" class, boxes as (center x, center y, width, height) relative to the image
/// (`DetrImageProcessor.post_process_object_detection`).
pub const SOFTMAX_DETECTORS: [&str; 2] = ["detr", "table-transformer"];

/// The outputs of contrastive models scoring each image, video or audio file against each text.
pub const SIMILARITY_OUTPUTS: [&str; 3] = ["logits_per_image", "logits_per_video", "logits_per_audio"];

/// The class suffixes of classification heads.
const CLASSIFIERS: [&str; 4] =
    ["ForSequenceClassification", "ForImageClassification", "ForAudioClassification", "ForVideoClassification"];

/// The task of `checkpoint` for a `spec` skill: its saved class's head where the skill
/// supports it, else the spec's base model (a head the skill does not use is left out).
pub fn traced(spec: &ModelSpec, checkpoint: &Checkpoint) -> Result<Traced> {
    let saved = checkpoint.architecture().unwrap_or(&spec.model_class);
    let takes_decoder_ids = spec.inputs.iter().any(|input| input.name == "decoder_input_ids");
    let traced =
        |task, model_class: &str, output| Traced { task, model_class: model_class.to_string(), outputs: vec![output] };
    if saved.ends_with("ForObjectDetection") && SOFTMAX_DETECTORS.contains(&spec.model_type) {
        return Ok(Traced {
            task: Task::Detect,
            model_class: saved.to_string(),
            outputs: vec!["logits", "pred_boxes"],
        });
    }
    if saved.ends_with("ForCTC") {
        return Ok(traced(Task::Transcribe, saved, "logits"));
    }
    if CLASSIFIERS.iter().any(|suffix| saved.ends_with(suffix)) {
        return Ok(traced(Task::Classify, saved, "logits"));
    }
    if saved.ends_with("ForCausalLM") || saved.ends_with("LMHeadModel") {
        return Ok(traced(Task::Generate { encoder_decoder: takes_decoder_ids }, saved, "logits"));
    }
    if saved.ends_with("ForConditionalGeneration") && IMAGE_PROMPT_MODELS.contains(&spec.model_type) {
        return Ok(traced(Task::Generate { encoder_decoder: false }, saved, "logits"));
    }
    if saved.ends_with("ForConditionalGeneration") && takes_decoder_ids {
        return Ok(traced(Task::Generate { encoder_decoder: true }, saved, "logits"));
    }
    if let Some(output) = SIMILARITY_OUTPUTS
        .into_iter()
        .find(|name| spec.outputs.iter().any(|o| o.name == *name))
        .filter(|_| saved == spec.model_class)
    {
        return Ok(traced(Task::Similarity, &spec.model_class, output));
    }
    if spec.model_class.ends_with("Model") && spec.outputs.iter().any(|o| o.name == "last_hidden_state") {
        return Ok(traced(Task::Embed, &spec.model_class, "last_hidden_state"));
    }
    Err(Error::Checkpoint {
        path: checkpoint.dir.join("config.json"),
        message: format!(
            "saves a `{saved}`; the `{}` skill embeds with a base model, classifies with a *ForSequenceClassification, *ForImageClassification, *ForAudioClassification or *ForVideoClassification head, transcribes with a *ForCTC head, scores images against texts with a CLIP-style model, detects objects with a DETR-style head, or generates with a causal, encoder-decoder or LLaVA-style image-text LM head, and this is none of them",
            spec.model_type
        ),
    })
}

/// One label and its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    /// The label's name (`id2label`), or its index when the config names none.
    pub label: String,
    /// Its index in the logits.
    pub index: usize,
    /// Softmax probability (sigmoid for a multi-label head).
    pub score: f32,
}

/// One detected object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectedObject {
    /// The label's name (`id2label`), or its index when the config names none.
    pub label: String,
    /// Its index in the logits.
    pub index: usize,
    /// Softmax probability of the label.
    pub score: f32,
    /// The box in the original image's pixels: top-left x, top-left y, bottom-right x, bottom-right y.
    #[serde(rename = "box")]
    pub bounds: [f32; 4],
}

/// Text generated for one prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generated {
    /// The decoded new tokens, special tokens left out.
    pub text: String,
    /// The new token ids.
    pub tokens: Vec<i64>,
    /// Why it stopped: `eos`, `max-new-tokens` or `max-length`.
    pub stopped: &'static str,
    /// Token positions the engine computed: the prompt once and one per new token with the
    /// cache (linear), the whole grown sequence at every step without it (quadratic).
    #[serde(skip)]
    pub processed: usize,
    /// Whether the keys and values were carried between steps (the engine's generation route).
    pub cached: bool,
}

/// What a skill returns for its inputs, as the task means it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "task", rename_all = "kebab-case")]
pub enum TaskOutput {
    /// One vector per input text.
    Embeddings {
        /// The pooling applied (`mean`, `cls`, `max`, `mean-sqrt-len`, joined by `+`).
        pooling: String,
        /// Whether each vector was scaled to unit length.
        normalized: bool,
        /// The vectors.
        vectors: Vec<Vec<f32>>,
    },
    /// Labels by descending score, per input.
    Labels {
        /// For each input, every label (or the top k).
        labels: Vec<Vec<Label>>,
    },
    /// How well each image matches each text (CLIP-style zero-shot), per image.
    Similarity {
        /// `logits_per_image`: one row per image, one column per text.
        logits: Vec<Vec<f32>>,
        /// Softmax of each row over the texts.
        probabilities: Vec<Vec<f32>>,
        /// The best-matching text of each image.
        best: Vec<String>,
    },
    /// Objects per image, by descending score.
    Detections {
        /// The least score kept.
        threshold: f32,
        /// For each image, the detected objects.
        objects: Vec<Vec<DetectedObject>>,
    },
    /// Text per audio file, from a CTC head.
    Transcripts {
        /// One text per file.
        texts: Vec<String>,
    },
    /// Generated text per input.
    Text {
        /// For each input, what was generated.
        generated: Vec<Generated>,
    },
}
