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
pub mod video;
