//! Text to token ids with the checkpoint's `tokenizer.json` (the `tokenizers` crate, the same
//! library Python's fast tokenizers run), as `tokenizer(texts, padding=True, truncation=...)`
//! does: special tokens added, a batch padded to its longest text on the side
//! `tokenizer_config.json` names, an attention mask and token type ids.

use serde_json::Value;
use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection, TruncationParams,
    TruncationStrategy,
};

use crate::checkpoint::Checkpoint;
use runtime::error::{Error, Result};
use runtime::tensor::HostTensor;

/// What to do with a text longer than the model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Refuse it with an error naming the text and both lengths.
    #[default]
    Refuse,
    /// Cut it to the maximum (special tokens kept), as `truncation=True` does.
    Truncate,
}

/// A batch of encoded texts, `[batch, seq]` each.
#[derive(Debug, Clone)]
pub struct EncodedText {
    /// Token ids.
    pub input_ids: HostTensor,
    /// 1 for a token, 0 for padding.
    pub attention_mask: HostTensor,
    /// Segment ids from the tokenizer's post-processor.
    pub token_type_ids: HostTensor,
}

/// A checkpoint's tokenizer with the limits of its model.
pub struct TextProcessor {
    tokenizer: Tokenizer,
    /// The most tokens one text may have.
    max_length: usize,
    /// The model's vocabulary size (`config.json`), every id must be below it.
    vocab_size: Option<i64>,
    padding: Option<PaddingParams>,
    source: String,
}

/// Lengths at or above this are the "no limit" sentinels of `tokenizer_config.json`.
const NO_LIMIT: f64 = 1e9;

impl TextProcessor {
    /// The tokenizer of `checkpoint` (`tokenizer.json`), checked against its model's config.
    pub fn open(checkpoint: &Checkpoint) -> Result<Self> {
        let path = checkpoint.file("tokenizer.json").ok_or_else(|| Error::Checkpoint {
            path: checkpoint.dir.join("tokenizer.json"),
            message: "missing: text skills read the fast tokenizer's file (`AutoTokenizer.from_pretrained(..).save_pretrained(dir)` writes it)".into(),
        })?;
        let tokenizer = Tokenizer::from_file(&path).map_err(|error| Error::Checkpoint {
            path: path.clone(),
            message: format!("is not a tokenizer the `tokenizers` library reads: {error}"),
        })?;
        let settings = checkpoint.json("tokenizer_config.json")?.unwrap_or(Value::Null);
        let vocab_size = checkpoint.config_number("vocab_size");
        let size = tokenizer.get_vocab_size(true) as i64;
        if let Some(limit) = vocab_size.filter(|limit| size > *limit) {
            return Err(Error::Checkpoint {
                path,
                message: format!("has {size} tokens but config.json's vocab_size is {limit}: the tokenizer belongs to another model (copy the checkpoint's own tokenizer files)"),
            });
        }
        let declared = settings
            .get("model_max_length")
            .and_then(Value::as_f64)
            .filter(|n| *n > 0.0 && *n < NO_LIMIT)
            .map(|n| n as usize);
        let positions = checkpoint.config_number("max_position_embeddings").filter(|n| *n > 0).map(|n| n as usize);
        let max_length = match (declared, positions) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(usize::MAX),
        };
        let padding = padding(&tokenizer, &settings, &path)?;
        Ok(Self { tokenizer, max_length, vocab_size, padding, source: path.display().to_string() })
    }

    /// The most tokens one text may have (`model_max_length`, capped by the model's positions).
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Encodes a batch of texts, padded to the longest.
    pub fn encode(&self, texts: &[&str], overflow: Overflow) -> Result<EncodedText> {
        if texts.is_empty() {
            return Err(Error::Preprocess { what: "text".into(), message: "no text given".into() });
        }
        let mut tokenizer = self.tokenizer.clone();
        let truncation =
            (overflow == Overflow::Truncate && self.max_length != usize::MAX).then_some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: self.max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            });
        tokenizer.with_truncation(truncation).map_err(|error| self.failed(error))?;
        tokenizer.with_padding(None);
        let encodings = tokenizer.encode_batch(texts.to_vec(), true).map_err(|error| self.failed(error))?;
        for (index, encoding) in encodings.iter().enumerate() {
            if encoding.len() > self.max_length {
                return Err(Error::Preprocess {
                    what: "text".into(),
                    message: format!("text {} is {} tokens, the model takes at most {}: shorten it, or choose truncation (`--truncate`, `Overflow::Truncate`)", index + 1, encoding.len(), self.max_length),
                });
            }
        }
        let longest = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut encodings = encodings;
        if encodings.iter().any(|e| e.len() != longest) {
            let params = self.padding.clone().ok_or_else(|| Error::Preprocess {
                what: "tokenizer".into(),
                message: format!("{} names no pad token, so texts of different lengths cannot share a batch: give one text at a time", self.source),
            })?;
            tokenizers::utils::padding::pad_encodings(&mut encodings, &params).map_err(|error| self.failed(error))?;
        }
        let seq = encodings.first().map_or(0, |e| e.len());
        let shape = [encodings.len() as i64, seq as i64];
        let column = |pick: fn(&tokenizers::Encoding) -> &[u32]| {
            encodings.iter().flat_map(|e| pick(e).iter().map(|v| i64::from(*v))).collect::<Vec<i64>>()
        };
        let ids = column(tokenizers::Encoding::get_ids);
        if let Some((limit, id)) =
            self.vocab_size.and_then(|limit| ids.iter().find(|id| **id >= limit).map(|id| (limit, *id)))
        {
            return Err(Error::Preprocess { what: "tokenizer".into(), message: format!("{} gave token id {id}, beyond the model's vocabulary ({limit}): the tokenizer belongs to another model", self.source) });
        }
        Ok(EncodedText {
            input_ids: HostTensor::new(&shape, ids)?,
            attention_mask: HostTensor::new(&shape, column(tokenizers::Encoding::get_attention_mask))?,
            token_type_ids: HostTensor::new(&shape, column(tokenizers::Encoding::get_type_ids))?,
        })
    }

    /// Token ids back to text, special tokens left out.
    pub fn decode(&self, ids: &[i64]) -> Result<String> {
        let ids: Vec<u32> = ids.iter().map(|id| u32::try_from(*id).unwrap_or(u32::MAX)).collect();
        self.tokenizer.decode(&ids, true).map_err(|error| self.failed(error))
    }

    /// The id of a token string, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<i64> {
        self.tokenizer.token_to_id(token).map(i64::from)
    }

    fn failed(&self, error: impl std::fmt::Display) -> Error {
        Error::Preprocess { what: "tokenizer".into(), message: format!("{}: {error}", self.source) }
    }
}

/// Padding as transformers applies it: the pad token of `tokenizer_config.json` (or the one
/// `tokenizer.json` declares), on the side `padding_side` names (right by default).
fn padding(tokenizer: &Tokenizer, settings: &Value, path: &std::path::Path) -> Result<Option<PaddingParams>> {
    let configured = tokenizer.get_padding().cloned();
    let named = match settings.get("pad_token") {
        Some(Value::String(token)) => Some(token.clone()),
        Some(Value::Object(token)) => token.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    };
    let token = named.or_else(|| configured.as_ref().map(|p| p.pad_token.clone()));
    let Some(token) = token else { return Ok(None) };
    let id = tokenizer.token_to_id(&token).ok_or_else(|| Error::Checkpoint {
        path: path.to_path_buf(),
        message: format!("has no id for the pad token `{token}` that tokenizer_config.json names"),
    })?;
    let direction = match settings.get("padding_side").and_then(Value::as_str) {
        Some("left") => PaddingDirection::Left,
        _ => PaddingDirection::Right,
    };
    let pad_type_id = configured.as_ref().map_or(0, |p| p.pad_type_id);
    Ok(Some(PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        direction,
        pad_to_multiple_of: None,
        pad_id: id,
        pad_type_id,
        pad_token: token,
    }))
}
