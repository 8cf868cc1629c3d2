//! Raw input to model inputs, as the checkpoint's own processor files say: text through the
//! `tokenizers` crate from `tokenizer.json`, images from `preprocessor_config.json` with
//! Pillow's resampling, WAV files through a raw-waveform or log-mel feature extractor; and CTC output
//! back to text.

pub mod audio;
pub mod ctc;
pub mod image;
pub mod image_prompt;
pub mod resample;
pub mod spectrogram;
pub mod text;
pub mod tiles;
pub mod video;

use serde_json::Value;

use crate::checkpoint::Checkpoint;
use runtime::error::Result;

/// A processor's settings and the file they came from: `preprocessor_config.json`, else the
/// `nested` section (`image_processor`, `feature_extractor`) of `processor_config.json`, where
/// transformers 5 saves a multimodal processor's parts.
pub fn settings(checkpoint: &Checkpoint, nested: &str) -> Result<Option<(Value, String)>> {
    if let Some(config) = checkpoint.json(image::CONFIG_FILE)? {
        return Ok(Some((config, checkpoint.dir.join(image::CONFIG_FILE).display().to_string())));
    }
    let file = image_prompt::PROCESSOR_FILE;
    let section = checkpoint.json(file)?.and_then(|processor| processor.get(nested).cloned());
    Ok(section.map(|config| (config, format!("{} (`{nested}`)", checkpoint.dir.join(file).display()))))
}
