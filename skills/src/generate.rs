//! Greedy decoding: the most likely next token, appended, until an end-of-sequence token or
//! the maximum length. A text prompt (of a decoder-only model, or an encoder-decoder's encoder)
//! runs with the cache where the engine has a generation route (`runtime::generation`: the
//! prompt once, then one position per new token); otherwise (audio and image prompts, caches
//! that are more than keys and values) each step runs the whole sequence again, which is exact
//! and quadratic.

use serde_json::Value;

use super::task::Generated;
use super::Skill;
use crate::preprocess::text::Overflow;
use runtime::error::{Error, Result};
use runtime::tensor::HostTensor;

/// Inputs by name.
type Named = Vec<(&'static str, HostTensor)>;

/// What the decoder conditions on: a text prompt, or an encoder's inputs (audio features).
pub enum Source<'a> {
    /// A text: the prompt of a decoder-only model, or the encoder's input; with other inputs
    /// every step takes as they are (a LLaVA-style model's `pixel_values`).
    Text(&'a str, Overflow, Named),
    /// Named encoder inputs (`input_features`); the text is decoded from `decoder_start_token_id`.
    Encoder(Named),
}

/// Decodes greedily from `source`; `encoder_decoder` grows the decoder's ids from its start
/// (`decoder_prompt`), else the prompt itself grows. Tokens `suppress_tokens` names never
/// come, nor `begin_suppress_tokens` first (the generation config's, as transformers applies them).
pub fn greedy(skill: &Skill, source: Source<'_>, max_new_tokens: usize, encoder_decoder: bool) -> Result<Generated> {
    let text = skill.text()?;
    let (encoder, prompt_ids, along): (Named, Vec<i64>, Named) = match source {
        Source::Text(prompt, overflow, along) => {
            let encoded = text.encode(&[prompt], overflow)?;
            let ids = encoded.input_ids.as_i64().unwrap_or_default().to_vec();
            let inputs = vec![
                ("input_ids", encoded.input_ids),
                ("attention_mask", encoded.attention_mask),
                ("token_type_ids", encoded.token_type_ids),
            ];
            if encoder_decoder {
                (inputs.into_iter().chain(along).collect(), ids, Vec::new())
            } else {
                (Vec::new(), ids, along)
            }
        }
        Source::Encoder(inputs) => (inputs, Vec::new(), Vec::new()),
    };
    let eos = end_tokens(skill);
    let (suppress, begin_suppress) =
        (generation_list(skill, "suppress_tokens"), generation_list(skill, "begin_suppress_tokens"));
    let max_length = text.max_length();
    let start = if encoder_decoder { decoder_prompt(skill)? } else { Vec::new() };
    if along.is_empty() && !prompt_ids.is_empty() {
        if let Some(steps) = skill.cached_steps()?.as_ref() {
            if encoder_decoder && steps.decoder_start() != Some(start.as_slice()) {
                return Err(Error::Mismatch(format!(
                    "the generation steps start the decoder from {:?}, the checkpoint's generation config from {start:?}",
                    steps.decoder_start()
                )));
            }
            // The sequence that grows: the decoder's from its start ids, else the prompt.
            let grown_from = if encoder_decoder { start.len() } else { prompt_ids.len() };
            return with_cache(
                text,
                steps,
                (&prompt_ids, grown_from),
                max_new_tokens,
                max_length,
                &eos,
                (&suppress, &begin_suppress),
            );
        }
    }
    let mut tokens: Vec<i64> = Vec::new();
    let mut processed = 0;
    let mut stopped = "max-new-tokens";
    for step in 0..max_new_tokens {
        let grown: Vec<i64> = if encoder_decoder {
            start.iter().chain(&tokens).copied().collect()
        } else {
            prompt_ids.iter().chain(&tokens).copied().collect()
        };
        if grown.len() > max_length {
            stopped = "max-length";
            break;
        }
        let row = |ids: &[i64]| HostTensor::new(&[1, ids.len() as i64], ids.to_vec());
        processed += grown.len();
        let logits = if encoder_decoder {
            let mut inputs = encoder.clone();
            inputs.push(("decoder_input_ids", row(&grown)?));
            skill.forward(inputs)?
        } else {
            let length = grown.len() as i64;
            let mut inputs = vec![
                ("input_ids", row(&grown)?),
                ("attention_mask", HostTensor::full(&[1, length], 1_i64)?),
                ("token_type_ids", HostTensor::full(&[1, length], 0_i64)?),
            ];
            inputs.extend(along.iter().cloned());
            skill.forward(inputs)?
        };
        let banned: Vec<i64> =
            suppress.iter().chain(if step == 0 { begin_suppress.iter() } else { [].iter() }).copied().collect();
        let next = last_argmax(&logits, &banned)?;
        tokens.push(next);
        if eos.contains(&next) {
            stopped = "eos";
            break;
        }
    }
    let shown: Vec<i64> = tokens.iter().copied().filter(|t| !eos.contains(t)).collect();
    Ok(Generated { text: text.decode(&shown)?, tokens, stopped, processed, cached: false })
}

/// Greedy decoding of a text prompt with the cache: the same choices as the loop without it
/// (suppressed tokens, the end-of-sequence stop, the maximum length of the sequence that grows,
/// `grown_from` ids long at the start), each new token computed once.
fn with_cache(
    text: &crate::preprocess::text::TextProcessor,
    steps: &runtime::generation::Steps,
    (prompt, grown_from): (&[i64], usize),
    max_new_tokens: usize,
    max_length: usize,
    eos: &[i64],
    (suppress, begin_suppress): (&[i64], &[i64]),
) -> Result<Generated> {
    // As the loop without the cache: a step runs while the sequence so far fits the maximum length.
    let fits = (max_length + 1).saturating_sub(grown_from);
    let budget = max_new_tokens.min(fits);
    if budget == 0 {
        let stopped = if max_new_tokens == 0 { "max-new-tokens" } else { "max-length" };
        return Ok(Generated { text: String::new(), tokens: Vec::new(), stopped, processed: 0, cached: true });
    }
    let choose = |step: usize, logits: &[f32]| -> i64 {
        let banned: Vec<i64> = suppress.iter().chain(if step == 0 { begin_suppress } else { &[] }).copied().collect();
        argmax(logits, &banned).map_or(-1, |best| best as i64)
    };
    let ids = HostTensor::new(&[1, prompt.len() as i64], prompt.to_vec())?;
    let mask = HostTensor::full(&[1, prompt.len() as i64], 1_i64)?;
    let stop = |chosen: &[i64]| chosen.iter().any(|t| eos.contains(t) || *t < 0);
    let decoded = runtime::generation::decode_cached_until(
        steps,
        &ids,
        &mask,
        budget,
        runtime::generation::Feed::Chosen(&choose),
        &stop,
    )?;
    let tokens = decoded.tokens;
    if tokens.contains(&-1) {
        return Err(Error::Tensor("every token is suppressed".into()));
    }
    let stopped = match tokens.last() {
        Some(last) if eos.contains(last) => "eos",
        _ if tokens.len() == max_new_tokens => "max-new-tokens",
        _ => "max-length",
    };
    let shown: Vec<i64> = tokens.iter().copied().filter(|t| !eos.contains(t)).collect();
    Ok(Generated { text: text.decode(&shown)?, tokens, stopped, processed: decoded.processed, cached: true })
}

/// The index of the largest logit of the last position (`[1, seq, vocab]`), `banned` ids left
/// out; the first on a tie, as `torch.argmax` gives it.
fn last_argmax(logits: &HostTensor, banned: &[i64]) -> Result<i64> {
    let values =
        logits.as_f32().ok_or_else(|| Error::Tensor(format!("logits must be float32, got {:?}", logits.dtype())))?;
    let vocab = logits.shape().last().copied().unwrap_or(0) as usize;
    if vocab == 0 || values.len() < vocab {
        return Err(Error::Tensor(format!("logits of shape {:?} hold no vocabulary axis", logits.shape())));
    }
    let last = &values[values.len() - vocab..];
    argmax(last, banned).map(|b| b as i64).ok_or_else(|| Error::Tensor("every token is suppressed".into()))
}

/// The index of the largest value, `banned` indices left out; the first on a tie, as
/// `torch.argmax` gives it. `None` when every index is banned (or `values` is empty).
pub(crate) fn argmax(values: &[f32], banned: &[i64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (index, value) in values.iter().enumerate() {
        if banned.contains(&(index as i64)) {
            continue;
        }
        if best.is_none_or(|b| *value > values[b]) {
            best = Some(index);
        }
    }
    best
}

/// The end-of-sequence ids: `generation_config.json`'s, else `config.json`'s (a number or a list).
fn end_tokens(skill: &Skill) -> Vec<i64> {
    let from = |value: Option<&Value>| -> Vec<i64> {
        match value {
            Some(Value::Number(n)) => n.as_i64().into_iter().collect(),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_i64).collect(),
            _ => Vec::new(),
        }
    };
    let generation = skill.checkpoint.json("generation_config.json").ok().flatten();
    let declared = from(generation.as_ref().and_then(|g| g.get("eos_token_id")));
    if declared.is_empty() {
        from(skill.checkpoint.config.get("eos_token_id"))
    } else {
        declared
    }
}

/// A list of ids of the generation config (`suppress_tokens`), else of config.json; empty if none.
fn generation_list(skill: &Skill, key: &str) -> Vec<i64> {
    let generation = skill.checkpoint.json("generation_config.json").ok().flatten();
    let value = generation
        .as_ref()
        .and_then(|g| g.get(key))
        .filter(|v| !v.is_null())
        .or_else(|| skill.checkpoint.config.get(key));
    value.and_then(Value::as_array).map(|list| list.iter().filter_map(Value::as_i64).collect()).unwrap_or_default()
}

/// The decoder's first ids: `decoder_start_token_id`, then Whisper's `<|notimestamps|>` where the
/// generation config names one. A multilingual Whisper (language detection, task tokens) is
/// refused: its prompt is not built yet.
fn decoder_prompt(skill: &Skill) -> Result<Vec<i64>> {
    let generation = skill.checkpoint.json("generation_config.json")?;
    if generation.as_ref().and_then(|g| g.get("is_multilingual")).and_then(Value::as_bool) == Some(true) {
        return Err(Error::Checkpoint {
            path: skill.checkpoint.dir.join("generation_config.json"),
            message: "is a multilingual Whisper's: its prompt (language detection, task tokens) is not built yet; an English-only checkpoint (`*.en`) works".into(),
        });
    }
    let mut prompt = vec![decoder_start(skill)?];
    if let Some(token) = generation.as_ref().and_then(|g| g.get("no_timestamps_token_id")).and_then(Value::as_i64) {
        prompt.push(token);
    }
    Ok(prompt)
}

/// The decoder's first id (`decoder_start_token_id`, from the generation config or config).
fn decoder_start(skill: &Skill) -> Result<i64> {
    let generation = skill.checkpoint.json("generation_config.json")?;
    let key = "decoder_start_token_id";
    generation
        .as_ref()
        .and_then(|g| g.get(key))
        .and_then(Value::as_i64)
        .or_else(|| skill.checkpoint.config.get(key).and_then(Value::as_i64))
        .ok_or_else(|| Error::Checkpoint {
            path: skill.checkpoint.dir.join("config.json"),
            message: format!("has no `{key}`: an encoder-decoder model needs it to start decoding"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_first_largest_logit_of_the_last_position() {
        let logits = HostTensor::new(&[1, 2, 3], vec![9.0_f32, 0.0, 0.0, 1.0, 3.0, 3.0]).unwrap();
        assert_eq!(last_argmax(&logits, &[]).unwrap(), 1);
        assert_eq!(last_argmax(&logits, &[1]).unwrap(), 2, "a suppressed token never comes");
        assert!(last_argmax(&logits, &[0, 1, 2]).is_err());
        assert!(last_argmax(&HostTensor::new(&[1, 0], Vec::<f32>::new()).unwrap(), &[]).is_err());
    }
}
