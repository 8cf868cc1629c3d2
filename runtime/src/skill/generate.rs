//! Greedy decoding: the most likely next token, appended, until an end-of-sequence token or
//! the maximum length. Each step runs the whole sequence again (the traced graph keeps no
//! cache), which is exact and, for the lengths a skill generates, simple.

use serde_json::Value;

use super::task::Generated;
use super::Skill;
use crate::error::{Error, Result};
use crate::preprocess::text::Overflow;
use crate::tensor::HostTensor;

/// Decodes from `prompt`; `encoder_decoder` feeds the prompt to the encoder and grows the
/// decoder's ids from `decoder_start_token_id`, else the prompt itself grows.
pub fn greedy(skill: &Skill, prompt: &str, max_new_tokens: usize, overflow: Overflow, encoder_decoder: bool) -> Result<Generated> {
    let text = skill.text()?;
    let encoded = text.encode(&[prompt], overflow)?;
    let prompt_ids = encoded.input_ids.as_i64().unwrap_or_default().to_vec();
    let eos = end_tokens(skill);
    let max_length = text.max_length();
    let mut tokens: Vec<i64> = Vec::new();
    let start = if encoder_decoder { vec![decoder_start(skill)?] } else { Vec::new() };
    let mut stopped = "max-new-tokens";
    for _ in 0..max_new_tokens {
        let grown: Vec<i64> = if encoder_decoder { start.iter().chain(&tokens).copied().collect() } else { prompt_ids.iter().chain(&tokens).copied().collect() };
        if grown.len() > max_length {
            stopped = "max-length";
            break;
        }
        let row = |ids: &[i64]| HostTensor::new(&[1, ids.len() as i64], ids.to_vec());
        let logits = if encoder_decoder {
            let e = encoded.clone();
            skill.forward(vec![("input_ids", e.input_ids), ("attention_mask", e.attention_mask), ("token_type_ids", e.token_type_ids), ("decoder_input_ids", row(&grown)?)])?
        } else {
            let length = grown.len() as i64;
            skill.forward(vec![("input_ids", row(&grown)?), ("attention_mask", HostTensor::full(&[1, length], 1_i64)?), ("token_type_ids", HostTensor::full(&[1, length], 0_i64)?)])?
        };
        let next = last_argmax(&logits)?;
        tokens.push(next);
        if eos.contains(&next) {
            stopped = "eos";
            break;
        }
    }
    let shown: Vec<i64> = tokens.iter().copied().filter(|t| !eos.contains(t)).collect();
    Ok(Generated { text: text.decode(&shown)?, tokens, stopped })
}

/// The index of the largest logit of the last position (`[1, seq, vocab]`); the first on a tie,
/// as `torch.argmax` gives it.
fn last_argmax(logits: &HostTensor) -> Result<i64> {
    let values = logits.as_f32().ok_or_else(|| Error::Tensor(format!("logits must be float32, got {:?}", logits.dtype())))?;
    let vocab = logits.shape().last().copied().unwrap_or(0) as usize;
    if vocab == 0 || values.len() < vocab {
        return Err(Error::Tensor(format!("logits of shape {:?} hold no vocabulary axis", logits.shape())));
    }
    let last = &values[values.len() - vocab..];
    let mut best = 0;
    for (index, value) in last.iter().enumerate() {
        if *value > last[best] {
            best = index;
        }
    }
    Ok(best as i64)
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

/// The decoder's first id (`decoder_start_token_id`, from the generation config or config).
fn decoder_start(skill: &Skill) -> Result<i64> {
    let generation = skill.checkpoint.json("generation_config.json")?;
    let key = "decoder_start_token_id";
    generation
        .as_ref()
        .and_then(|g| g.get(key))
        .and_then(Value::as_i64)
        .or_else(|| skill.checkpoint.config.get(key).and_then(Value::as_i64))
        .ok_or_else(|| Error::Checkpoint { path: skill.checkpoint.dir.join("config.json"), message: format!("has no `{key}`: an encoder-decoder model needs it to start decoding") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_first_largest_logit_of_the_last_position() {
        let logits = HostTensor::new(&[1, 2, 3], vec![9.0_f32, 0.0, 0.0, 1.0, 3.0, 3.0]).unwrap();
        assert_eq!(last_argmax(&logits).unwrap(), 1);
        assert!(last_argmax(&HostTensor::new(&[1, 0], Vec::<f32>::new()).unwrap()).is_err());
    }
}
