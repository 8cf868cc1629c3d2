//! Raw input to model inputs, as the checkpoint's own processor files say: text through the
//! `tokenizers` crate from `tokenizer.json`, images from `preprocessor_config.json` with
//! Pillow's resampling.

pub mod image;
pub mod resample;
pub mod text;
