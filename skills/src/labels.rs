//! Labels with scores from a classification head's logits, named by `id2label`.

use serde_json::Value;

use super::task::Label;
use runtime::error::{Error, Result};
use runtime::tensor::HostTensor;

/// Softmax of one row.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// Softmax (or sigmoid) scores of `logits` (`[batch, labels]`) named by `id2label`, best first.
pub fn labels(logits: &HostTensor, config: &Value, multi_label: bool, top_k: Option<usize>) -> Result<Vec<Vec<Label>>> {
    let values =
        logits.as_f32().ok_or_else(|| Error::Tensor(format!("logits must be float32, got {:?}", logits.dtype())))?;
    let width = logits.shape().last().copied().unwrap_or(0).max(1) as usize;
    let names = config.get("id2label").and_then(Value::as_object);
    values
        .chunks(width)
        .map(|row| {
            let scores: Vec<f32> =
                if multi_label { row.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect() } else { softmax(row) };
            let mut labels: Vec<Label> = scores
                .iter()
                .enumerate()
                .map(|(index, score)| Label {
                    label: names
                        .and_then(|n| n.get(&index.to_string()))
                        .and_then(Value::as_str)
                        .map_or_else(|| index.to_string(), str::to_string),
                    index,
                    score: *score,
                })
                .collect();
            labels.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
            labels.truncate(top_k.unwrap_or(usize::MAX));
            Ok(labels)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_scored_and_named_as_computed_by_hand() {
        let logits = HostTensor::new(&[2, 3], vec![0.0_f32, 1.0, 2.0, 5.0, 5.0, 0.0]).unwrap();
        let config = serde_json::json!({"id2label": {"0": "negative", "1": "neutral", "2": "positive"}});
        let rows = labels(&logits, &config, false, None).unwrap();
        let total = 1.0 + 1f32.exp() + 2f32.exp();
        assert_eq!(rows[0][0], Label { label: "positive".into(), index: 2, score: 2f32.exp() / total });
        assert_eq!(rows[0][2].label, "negative");
        assert_eq!(rows[1].iter().map(|l| l.index).collect::<Vec<_>>(), [0, 1, 2], "a tie keeps index order");
        let top = labels(&logits, &serde_json::json!({}), true, Some(1)).unwrap();
        assert_eq!(
            top[0],
            vec![Label { label: "2".into(), index: 2, score: 1.0 / (1.0 + (-2f32).exp()) }],
            "no id2label: the index; multi-label: sigmoid"
        );
    }
}
