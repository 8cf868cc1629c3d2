//! Detections from a DETR-style head: a softmax over each query's labels with the last class
//! meaning "no object", boxes from (center x, center y, width, height) relative to the image to
//! corners in the original image's pixels, and the queries above a threshold
//! (`DetrImageProcessor.post_process_object_detection` with `target_sizes` the images' sizes).

use serde_json::Value;

use super::labels::softmax;
use super::task::DetectedObject;
use runtime::error::{Error, Result};
use runtime::tensor::HostTensor;

/// The objects of each image whose best label's score passes `threshold`, best first.
/// `logits` is `[batch, queries, labels + 1]`, `boxes` `[batch, queries, 4]`; `sizes` holds each
/// image's (height, width).
pub fn detections(
    logits: &HostTensor,
    boxes: &HostTensor,
    sizes: &[(usize, usize)],
    config: &Value,
    threshold: f32,
) -> Result<Vec<Vec<DetectedObject>>> {
    let (scores, corners) = (float(logits, "logits")?, float(boxes, "pred_boxes")?);
    let [batch, queries, classes] =
        [0, 1, 2].map(|axis| logits.shape().get(axis).copied().unwrap_or(0).max(0) as usize);
    if classes < 2 || batch != sizes.len() || boxes.shape() != [batch as i64, queries as i64, 4] {
        return Err(Error::Mismatch(format!("a detection head gives logits {:?} and pred_boxes {:?} for {} images; expected [images, queries, labels + 1] and [images, queries, 4]", logits.shape(), boxes.shape(), sizes.len())));
    }
    let names = config.get("id2label").and_then(Value::as_object);
    let name = |index: usize| {
        names
            .and_then(|n| n.get(&index.to_string()))
            .and_then(Value::as_str)
            .map_or_else(|| index.to_string(), str::to_string)
    };
    let mut images = Vec::with_capacity(batch);
    for (image, (height, width)) in sizes.iter().enumerate() {
        let (height, width) = (*height as f32, *width as f32);
        let mut objects = Vec::new();
        for query in 0..queries {
            let row = image * queries + query;
            let probabilities = softmax(&scores[row * classes..(row + 1) * classes]);
            let objects_only = &probabilities[..classes - 1];
            let Some(index) = super::generate::argmax(objects_only, &[]) else { continue };
            let score = objects_only[index];
            if score <= threshold {
                continue;
            }
            let [cx, cy, w, h]: [f32; 4] = corners[row * 4..row * 4 + 4].try_into().unwrap_or([0.0; 4]);
            let bounds =
                [(cx - 0.5 * w) * width, (cy - 0.5 * h) * height, (cx + 0.5 * w) * width, (cy + 0.5 * h) * height];
            objects.push(DetectedObject { label: name(index), index, score, bounds });
        }
        objects.sort_by(|a, b| b.score.total_cmp(&a.score));
        images.push(objects);
    }
    Ok(images)
}

/// The values of a float32 output, else an error naming it.
fn float<'a>(tensor: &'a HostTensor, name: &str) -> Result<&'a [f32]> {
    tensor.as_f32().ok_or_else(|| Error::Tensor(format!("`{name}` must be float32, got {:?}", tensor.dtype())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_queries_above_the_threshold_with_boxes_in_pixels_as_computed_by_hand() {
        // One 100x200 image (height 100, width 200), two queries, labels {cat, dog} + no-object.
        let logits = HostTensor::new(&[1, 2, 3], vec![2.0_f32, 0.0, 0.0, 0.0, 0.0, 5.0]).unwrap();
        let boxes = HostTensor::new(&[1, 2, 4], vec![0.5_f32, 0.5, 0.2, 0.4, 0.1, 0.1, 0.1, 0.1]).unwrap();
        let config = serde_json::json!({"id2label": {"0": "cat", "1": "dog"}});
        let found = detections(&logits, &boxes, &[(100, 200)], &config, 0.5).unwrap();
        let total = 2f32.exp() + 2.0;
        assert_eq!(found[0].len(), 1, "the second query is mostly no-object: {found:?}");
        let cat = &found[0][0];
        assert_eq!((cat.label.as_str(), cat.index), ("cat", 0));
        assert!((cat.score - 2f32.exp() / total).abs() < 1e-6);
        // Center (100, 50), size 40 x 40: corners (80, 30) to (120, 70).
        for (got, want) in cat.bounds.iter().zip([80.0, 30.0, 120.0, 70.0]) {
            assert!((got - want).abs() < 1e-4, "{:?}", cat.bounds);
        }
        assert_eq!(
            detections(&logits, &boxes, &[(100, 200)], &config, 0.0).unwrap()[0].len(),
            2,
            "threshold 0 keeps every query"
        );
        let error = detections(&logits, &boxes, &[(1, 1), (1, 1)], &config, 0.5).unwrap_err().to_string();
        assert!(error.contains("2 images"), "{error}");
    }
}
