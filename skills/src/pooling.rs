//! Sentence embeddings from token states, with the pooling a checkpoint declares:
//! sentence-transformers' `modules.json` (its Pooling module's `config.json`, and whether a
//! Normalize module follows), else mean pooling without normalisation.

use serde_json::Value;

use crate::checkpoint::Checkpoint;
use runtime::error::{Error, Result};
use runtime::tensor::HostTensor;

/// One way to pool token states into a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The first token's state (`[CLS]`).
    Cls,
    /// The largest value of each feature over the attended tokens.
    Max,
    /// The mean over the attended tokens.
    Mean,
    /// The sum over the attended tokens divided by the square root of their count.
    MeanSqrtLen,
}

impl Mode {
    /// The name sentence-transformers and the JSON output use.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Cls => "cls",
            Mode::Max => "max",
            Mode::Mean => "mean",
            Mode::MeanSqrtLen => "mean-sqrt-len",
        }
    }

    /// Parses a name (`cls`, `max`, `mean`, `mean-sqrt-len`).
    pub fn from_name(name: &str) -> Option<Self> {
        [Mode::Cls, Mode::Max, Mode::Mean, Mode::MeanSqrtLen].into_iter().find(|m| m.name() == name)
    }
}

/// The pooling of a checkpoint: its modes (concatenated in this order, as
/// sentence-transformers does) and whether vectors are normalised to unit length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pooling {
    /// Modes, concatenated.
    pub modes: Vec<Mode>,
    /// Scale each vector to unit L2 norm.
    pub normalize: bool,
}

impl Default for Pooling {
    fn default() -> Self {
        Self { modes: vec![Mode::Mean], normalize: false }
    }
}

/// sentence-transformers' Pooling config keys, in its concatenation order.
const MODE_KEYS: [(&str, Mode); 4] = [
    ("pooling_mode_cls_token", Mode::Cls),
    ("pooling_mode_max_tokens", Mode::Max),
    ("pooling_mode_mean_tokens", Mode::Mean),
    ("pooling_mode_mean_sqrt_len_tokens", Mode::MeanSqrtLen),
];

impl Pooling {
    /// What the checkpoint declares, or mean pooling when it declares nothing.
    pub fn of(checkpoint: &Checkpoint) -> Result<Self> {
        let Some(modules) = checkpoint.json("modules.json")? else { return Ok(Self::default()) };
        let path = checkpoint.dir.join("modules.json");
        let list = modules
            .as_array()
            .ok_or_else(|| Error::Checkpoint { path: path.clone(), message: "is not a list of modules".into() })?;
        let kind = |module: &Value| module.get("type").and_then(Value::as_str).unwrap_or("").to_string();
        let normalize = list.iter().any(|m| kind(m).ends_with(".Normalize"));
        let Some(pooling) = list.iter().find(|m| kind(m).ends_with(".Pooling")) else {
            return Ok(Self { normalize, ..Self::default() });
        };
        let folder = pooling.get("path").and_then(Value::as_str).unwrap_or("");
        let config_name = format!("{folder}/config.json");
        let config = checkpoint.json(&config_name)?.ok_or_else(|| Error::Checkpoint {
            path: checkpoint.dir.join(&config_name),
            message: "missing; modules.json names a Pooling module there".into(),
        })?;
        let modes: Vec<Mode> = MODE_KEYS
            .iter()
            .filter(|(key, _)| config.get(*key).and_then(Value::as_bool) == Some(true))
            .map(|(_, mode)| *mode)
            .collect();
        if modes.is_empty() {
            let other: Vec<&str> = config
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, v)| k.starts_with("pooling_mode") && v.as_bool() == Some(true))
                        .map(|(k, _)| k.as_str())
                        .collect()
                })
                .unwrap_or_default();
            return Err(Error::Checkpoint {
                path: checkpoint.dir.join(&config_name),
                message: format!(
                    "declares no pooling this skill computes (cls, max, mean, mean_sqrt_len); it asks for {other:?}"
                ),
            });
        }
        Ok(Self { modes, normalize })
    }

    /// The modes' names joined by `+`.
    pub fn name(&self) -> String {
        self.modes.iter().map(|m| m.name()).collect::<Vec<_>>().join("+")
    }

    /// One vector per row of `states` (`[batch, seq, hidden]`), over the tokens `mask`
    /// (`[batch, seq]`) marks.
    pub fn apply(&self, states: &HostTensor, mask: &HostTensor) -> Result<Vec<Vec<f32>>> {
        let shape = states.shape();
        let values = states
            .as_f32()
            .ok_or_else(|| Error::Tensor(format!("token states must be float32, got {:?}", states.dtype())))?;
        let mask = mask.to_f64_vec();
        let [batch, seq, hidden] = [0, 1, 2].map(|i| shape.get(i).copied().unwrap_or(0) as usize);
        if shape.len() != 3 || seq == 0 || mask.len() != batch * seq || values.len() != batch * seq * hidden {
            return Err(Error::Tensor(format!(
                "pooling needs states [batch, seq, hidden] and a mask [batch, seq]; got {shape:?} and {} mask values",
                mask.len()
            )));
        }
        let mut vectors = Vec::with_capacity(batch);
        for row in 0..batch {
            let token = |t: usize| &values[(row * seq + t) * hidden..(row * seq + t + 1) * hidden];
            let attended: Vec<usize> = (0..seq).filter(|t| mask[row * seq + t] > 0.0).collect();
            let count = attended.len().max(1) as f32;
            let mut vector = Vec::with_capacity(hidden * self.modes.len());
            for mode in &self.modes {
                match mode {
                    Mode::Cls => vector.extend_from_slice(token(0)),
                    Mode::Max => vector.extend(
                        (0..hidden).map(|h| attended.iter().map(|t| token(*t)[h]).fold(f32::NEG_INFINITY, f32::max)),
                    ),
                    Mode::Mean | Mode::MeanSqrtLen => {
                        let divisor = if *mode == Mode::Mean { count } else { count.sqrt() };
                        vector
                            .extend((0..hidden).map(|h| attended.iter().map(|t| token(*t)[h]).sum::<f32>() / divisor));
                    }
                }
            }
            if self.normalize {
                // torch.nn.functional.normalize: divide by max(norm, 1e-12).
                let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                vector.iter_mut().for_each(|v| *v /= norm);
            }
            vectors.push(vector);
        }
        Ok(vectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states() -> (HostTensor, HostTensor) {
        // Two rows of three tokens, hidden 2; the second row's last token is padding.
        let values = vec![1.0_f32, 2.0, 3.0, 4.0, 5.0, 6.0, /* row 2 */ -1.0, 0.0, 1.0, 2.0, 100.0, 100.0];
        (HostTensor::new(&[2, 3, 2], values).unwrap(), HostTensor::new(&[2, 3], vec![1_i64, 1, 1, 1, 1, 0]).unwrap())
    }

    #[test]
    fn pools_over_attended_tokens_as_computed_by_hand() {
        let (states, mask) = states();
        let pooled = |modes: Vec<Mode>, normalize| Pooling { modes, normalize }.apply(&states, &mask).unwrap();
        assert_eq!(pooled(vec![Mode::Mean], false), vec![vec![3.0, 4.0], vec![0.0, 1.0]]);
        assert_eq!(pooled(vec![Mode::Cls], false), vec![vec![1.0, 2.0], vec![-1.0, 0.0]]);
        assert_eq!(
            pooled(vec![Mode::Max], false),
            vec![vec![5.0, 6.0], vec![1.0, 2.0]],
            "padding (100) is never the max"
        );
        let sqrt = pooled(vec![Mode::MeanSqrtLen], false);
        assert!(
            (sqrt[0][0] - 9.0 / 3f32.sqrt()).abs() < 1e-6 && (sqrt[1][1] - 2.0 / 2f32.sqrt()).abs() < 1e-6,
            "{sqrt:?}"
        );
        let joined = pooled(vec![Mode::Cls, Mode::Mean], true);
        let norm = (1.0f32 + 4.0 + 9.0 + 16.0).sqrt();
        assert_eq!(joined[0], vec![1.0 / norm, 2.0 / norm, 3.0 / norm, 4.0 / norm]);
    }

    #[test]
    fn reads_sentence_transformers_modules() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"model_type": "bert"}"#).unwrap();
        std::fs::write(dir.path().join("model.safetensors"), "w").unwrap();
        let open = || Checkpoint::open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(Pooling::of(&open()).unwrap(), Pooling::default(), "nothing declared: mean, not normalised");
        std::fs::write(
            dir.path().join("modules.json"),
            r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
        )
        .unwrap();
        let missing = Pooling::of(&open()).unwrap_err().to_string();
        assert!(missing.contains("1_Pooling/config.json") && missing.contains("missing"), "{missing}");
        std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
        std::fs::write(
            dir.path().join("1_Pooling/config.json"),
            r#"{"word_embedding_dimension": 2, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#,
        )
        .unwrap();
        assert_eq!(Pooling::of(&open()).unwrap(), Pooling { modes: vec![Mode::Cls], normalize: true });
        std::fs::write(dir.path().join("1_Pooling/config.json"), r#"{"pooling_mode_weightedmean_tokens": true}"#)
            .unwrap();
        let unsupported = Pooling::of(&open()).unwrap_err().to_string();
        assert!(unsupported.contains("pooling_mode_weightedmean_tokens"), "{unsupported}");
    }
}
