//! CTC output to text, as `Wav2Vec2CTCTokenizer.decode` does: the best token of each frame,
//! repeats collapsed, the blank (pad) token dropped, the word delimiter as a space.

use std::collections::HashMap;

use serde_json::Value;

use crate::checkpoint::Checkpoint;
use runtime::error::{Error, Result};

/// A CTC vocabulary (`vocab.json`) with its pad and word-delimiter tokens.
#[derive(Debug, Clone)]
pub struct CtcDecoder {
    tokens: HashMap<i64, String>,
    pad: String,
    delimiter: String,
    lower_case: bool,
}

impl CtcDecoder {
    /// The CTC tokenizer of `checkpoint` (`vocab.json` and `tokenizer_config.json`).
    pub fn open(checkpoint: &Checkpoint) -> Result<Self> {
        let path = checkpoint.dir.join("vocab.json");
        let vocab = checkpoint.json("vocab.json")?.ok_or_else(|| Error::Checkpoint { path: path.clone(), message: "missing: CTC transcription reads the tokenizer's vocabulary (`processor.save_pretrained(dir)` writes it)".into() })?;
        let map = vocab
            .as_object()
            .ok_or_else(|| Error::Checkpoint { path: path.clone(), message: "is not a map of token to id".into() })?;
        let tokens: HashMap<i64, String> =
            map.iter().filter_map(|(token, id)| id.as_i64().map(|id| (id, token.clone()))).collect();
        let settings = checkpoint.json("tokenizer_config.json")?.unwrap_or(Value::Null);
        let named = |key: &str, default: &str| match settings.get(key) {
            Some(Value::String(token)) => token.clone(),
            Some(Value::Object(token)) => token.get("content").and_then(Value::as_str).unwrap_or(default).to_string(),
            _ => default.to_string(),
        };
        if let Some(limit) = checkpoint.config_number("vocab_size").filter(|limit| tokens.keys().any(|id| id >= limit))
        {
            return Err(Error::Checkpoint {
                path,
                message: format!(
                    "has ids beyond config.json's vocab_size {limit}: the vocabulary belongs to another model"
                ),
            });
        }
        Ok(Self {
            tokens,
            pad: named("pad_token", "<pad>"),
            delimiter: named("word_delimiter_token", "|"),
            lower_case: settings.get("do_lower_case").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// The text of one utterance's best token per frame.
    pub fn decode(&self, ids: &[i64]) -> String {
        let mut text = String::new();
        let mut previous = None;
        for id in ids {
            if previous == Some(*id) {
                continue;
            }
            previous = Some(*id);
            let token = self.tokens.get(id).map_or("", String::as_str);
            if token == self.pad {
                continue;
            }
            text.push_str(if token == self.delimiter { " " } else { token });
        }
        let text = text.trim().to_string();
        if self.lower_case {
            text.to_lowercase()
        } else {
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_repeats_drops_blanks_and_spaces_words() {
        let tokens =
            [(0, "<pad>"), (1, "|"), (2, "a"), (3, "b")].map(|(id, t)| (id, t.to_string())).into_iter().collect();
        let decoder = CtcDecoder { tokens, pad: "<pad>".into(), delimiter: "|".into(), lower_case: false };
        // a a <pad> a b | | b <pad> -> "aa" (the blank separates the repeat), "ab", space, "b".
        assert_eq!(decoder.decode(&[2, 2, 0, 2, 3, 1, 1, 3, 0]), "aab b");
        assert_eq!(decoder.decode(&[1, 0, 1]), "", "delimiters alone strip to nothing");
    }
}
