//! Raw input to model inputs, as the checkpoint's own processor files say (text today, through
//! the `tokenizers` crate from `tokenizer.json`).

pub mod text;
