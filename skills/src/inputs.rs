//! Which inputs a skill's preprocessing fills, what a model type gets (`infer --preprocessing`),
//! and the fixed sizes a checkpoint's processors give its inputs.

use serde_json::Value;

use super::case::{self, Axis};
use crate::checkpoint::Checkpoint;
use crate::preprocess::image::ImageProcessor;
use crate::preprocess::spectrogram::{LogMelProcessor, Style};
use runtime::error::{Error, Result};
use runtime::tensor::HostTensor;

/// The inputs the text preprocessing feeds.
pub const TEXT_INPUTS: [&str; 4] = ["input_ids", "attention_mask", "token_type_ids", "decoder_input_ids"];
/// The input the image preprocessing feeds.
pub const IMAGE_INPUT: &str = case::PIXELS;
/// The mask of each image's own pixels in a padded batch (DETR-style processors).
pub const MASK_INPUT: &str = "pixel_mask";
/// The input the raw-waveform preprocessing feeds.
pub const AUDIO_INPUT: &str = "input_values";
/// The input the log-mel preprocessing feeds.
pub const FEATURES_INPUT: &str = "input_features";

/// The inputs text preprocessing fills from an encoding.
pub fn text_inputs(encoded: crate::preprocess::text::EncodedText) -> Vec<(&'static str, HostTensor)> {
    vec![
        ("input_ids", encoded.input_ids),
        ("attention_mask", encoded.attention_mask),
        ("token_type_ids", encoded.token_type_ids),
    ]
}

/// The inputs whose trailing axes the checkpoint's processors size: `pixel_values` (and
/// `pixel_mask`) from the image processor, with frames and channels ahead for a video model;
/// `input_features` from the log-mel feature extractor.
pub fn sized_inputs(
    spec: &runtime::spec::ModelSpec,
    checkpoint: &Checkpoint,
    image: Option<&ImageProcessor>,
    mel: Option<&LogMelProcessor>,
) -> Result<Vec<(&'static str, Vec<Axis>)>> {
    let mut sized = Vec::new();
    if let Some(processor) = image {
        let mut axes = image_axes(processor, checkpoint)?;
        if takes_video(spec) {
            axes.splice(0..0, [Axis::Fixed(frames(checkpoint)?), Axis::Fixed(3)]);
        }
        if spec.inputs.iter().any(|input| input.name == MASK_INPUT) {
            sized.push((MASK_INPUT, axes.clone()));
        }
        sized.push((IMAGE_INPUT, axes));
    }
    if let Some(processor) = mel {
        sized.push((FEATURES_INPUT, feature_axes(processor, checkpoint)?));
    }
    Ok(sized)
}

/// The (height, width) axes of prepared images: fixed where the processor gives one size (the
/// model's `image_size`, or its vision config's, must agree); dynamic `height` and `width` where
/// it pads each batch to its own canvas (DETR-style).
pub fn image_axes(processor: &ImageProcessor, checkpoint: &Checkpoint) -> Result<Vec<Axis>> {
    let Some(size) = processor.output_size() else {
        if let Some((size, varied)) = processor.canvas_sizes() {
            return Ok(["height", "width"].into_iter().map(|name| Axis::Varies { name, size, varied }).collect());
        }
        return Err(Error::Checkpoint {
            path: checkpoint.dir.join(crate::preprocess::image::CONFIG_FILE),
            message: "resizes to a size that varies with each image (shortest edge, no crop, no padding): the traced model takes one fixed size".into(),
        });
    };
    let declared = checkpoint
        .config
        .get("image_size")
        .or_else(|| checkpoint.config.get("vision_config").and_then(|v| v.get("image_size")))
        .and_then(Value::as_u64);
    if let Some(model) = declared.filter(|n| (*n as usize, *n as usize) != size) {
        return Err(Error::Checkpoint {
            path: checkpoint.dir.join(crate::preprocess::image::CONFIG_FILE),
            message: format!("prepares {}x{} images, but config.json's image_size is {model}: the processor belongs to another model", size.1, size.0),
        });
    }
    Ok(vec![Axis::Fixed(size.0), Axis::Fixed(size.1)])
}

/// The fixed axes of log-mel features (`[mel bins, frames]`, CLAP's `[1, frames, mel bins]`):
/// the model's `num_mel_bins` (or its audio config's) must agree, and a Whisper encoder's
/// `max_source_positions` is half the frames (its second convolution strides by 2).
pub fn feature_axes(processor: &LogMelProcessor, checkpoint: &Checkpoint) -> Result<Vec<Axis>> {
    let path = checkpoint.dir.join("config.json");
    let declared = checkpoint
        .config_number("num_mel_bins")
        .or_else(|| checkpoint.config.get("audio_config").and_then(|a| a.get("num_mel_bins")).and_then(Value::as_i64));
    if let Some(bins) = declared.filter(|b| *b as usize != processor.mel_bins) {
        return Err(Error::Checkpoint { path, message: format!("has num_mel_bins {bins}, but the feature extractor computes {} mel bins: the extractor belongs to another model", processor.mel_bins) });
    }
    let whisper = processor.style == Style::Whisper;
    if let Some(positions) =
        checkpoint.config_number("max_source_positions").filter(|p| whisper && (*p as usize) * 2 != processor.frames())
    {
        return Err(Error::Checkpoint {
            path,
            message: format!(
                "has max_source_positions {positions}, which takes {} frames, but the feature extractor gives {}",
                positions * 2,
                processor.frames()
            ),
        });
    }
    if checkpoint.config.get("audio_config").and_then(|a| a.get("enable_fusion")).and_then(Value::as_bool) == Some(true)
    {
        return Err(Error::Checkpoint { path, message: "is a fused CLAP model (`enable_fusion`), which takes `is_longer` and four mel channels: only unfused models are run so far".into() });
    }
    Ok(processor.feature_shape().into_iter().map(Axis::Fixed).collect())
}

/// The named axis of video frames in `pixel_values` (`[batch, frames, 3, height, width]`).
pub const FRAMES_DIM: &str = "frames";

/// Whether `spec` takes videos: `pixel_values` of 5 axes whose second is its frames (named so,
/// or a video model's: `video` among its modalities).
pub fn takes_video(spec: &runtime::spec::ModelSpec) -> bool {
    let video_model = spec.modality.contains(&"video");
    spec.inputs.iter().any(|input| {
        input.name == IMAGE_INPUT
            && input.shape.len() == 5
            && (input.shape[1].name() == Some(FRAMES_DIM) || video_model)
    })
}

/// Frames per video of a video model: `num_frames` of its vision config (or its config).
pub fn frames(checkpoint: &Checkpoint) -> Result<usize> {
    let vision = checkpoint.config.get("vision_config").and_then(|v| v.get("num_frames")).and_then(Value::as_u64);
    vision
        .or_else(|| checkpoint.config.get("num_frames").and_then(Value::as_u64))
        .filter(|n| *n > 0)
        .map(|n| n as usize)
        .ok_or_else(|| Error::Checkpoint {
            path: checkpoint.dir.join("config.json"),
            message: "has no `num_frames` (in `vision_config` or at the top): a video model's frames per video".into(),
        })
}

/// The preprocessing a model type's skill gets on a checkpoint (`text`, `image` or
/// `text+image`), or why it has none yet: the first input no processor of the runtime fills.
pub fn preprocessing(spec: &runtime::spec::ModelSpec) -> std::result::Result<&'static str, String> {
    // Text the user gives (a decoder's own ids alone are generated, not given).
    let text = spec.inputs.iter().any(|input| input.name == "input_ids");
    // Video frames, image tiles and flattened patches come as `pixel_values` too, of other ranks
    // than one image's [batch, 3, height, width].
    let video = takes_video(spec);
    let tiled = super::task::TILED_MODELS.contains(&spec.model_type);
    if tiled {
        return Ok("text+image (any-resolution tiles)");
    }
    if let Some(video) = spec.inputs.iter().find(|input| input.name == IMAGE_INPUT && input.shape.len() != 4 && !video)
    {
        return Err(format!(
            "`{}` takes `{}` of {} axes (video frames, image tiles or flattened patches), which needs a processor for that layout; skills on checkpoints prepare single images [batch, 3, height, width] so far (`infer --preprocessing` lists every model type)",
            spec.model_type,
            video.name,
            video.shape.len()
        ));
    }
    let image = spec.inputs.iter().any(|input| input.name == IMAGE_INPUT);
    let masked = image && spec.inputs.iter().any(|input| input.name == MASK_INPUT);
    let audio = spec.inputs.iter().any(|input| input.name == AUDIO_INPUT);
    let log_mel = spec.inputs.iter().any(|input| input.name == FEATURES_INPUT);
    let filled = |name: &str| {
        TEXT_INPUTS.contains(&name)
            || [IMAGE_INPUT, AUDIO_INPUT, FEATURES_INPUT].contains(&name)
            || (masked && name == MASK_INPUT)
    };
    let Some(input) = spec.inputs.iter().find(|input| !filled(&input.name)) else {
        if log_mel {
            return Ok(if text {
                "text+log-mel (Whisper's or CLAP's extractor)"
            } else {
                "log-mel (Whisper's or CLAP's extractor)"
            });
        }
        if video {
            return Ok(if text { "text+video (frame folders)" } else { "video (frame folders)" });
        }
        return Ok(match (text, image, audio) {
            (true, true, _) if masked => "text+image (padded, with pixel_mask)",
            (false, true, _) if masked => "image (padded, with pixel_mask)",
            (true, true, _) => "text+image",
            (false, true, _) => "image",
            (false, false, true) => "audio",
            (true, false, true) => "text+audio",
            _ => "text",
        });
    };
    let processor = match &*input.name {
        name if name.contains("pixel_values_videos") || name.contains("video") => "a video processor",
        name if name.contains("pixel") || name.contains("image") => {
            "an image input beyond `pixel_values` (sizes, grids, masks)"
        }
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
