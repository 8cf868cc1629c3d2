//! How well each image, video or audio file matches each text, for contrastive models
//! (CLIP: `logits_per_image`; X-CLIP: `logits_per_video`; CLAP: `logits_per_audio`).

use std::path::Path;

use super::inputs::{text_inputs, FEATURES_INPUT, IMAGE_INPUT};
use super::labels::softmax;
use super::{generate, Input, Skill, Task, TaskOutput};
use crate::preprocess::text::Overflow;
use runtime::error::{Error, Result};
use runtime::tensor::HostTensor;

impl Skill {
    /// How well each item of `input` (its images, videos or audio files, whichever the model
    /// takes) matches each of its texts: the model's `logits_per_*` row, its softmax over the
    /// texts, and the best text of each item.
    pub fn similarity(&self, input: Input<'_>, overflow: Overflow) -> Result<TaskOutput> {
        self.expect(Task::Similarity)?;
        let texts = input.texts;
        let encoded = self.text()?.encode(texts, overflow)?;
        let (name, items) = self.similarity_items(input)?;
        let output = self.traced.outputs.first().copied().unwrap_or("logits");
        // Texts and items share the traced graph's batch axis, so each item runs beside every
        // text as copies of itself; row 0 of the logits is that item's.
        let values = items.as_f32().ok_or_else(|| Error::Tensor(format!("`{name}` must be float32")))?;
        let count = items.shape().first().copied().unwrap_or(0).max(1) as usize;
        let mut rows = Vec::with_capacity(count);
        for item in values.chunks((values.len() / count).max(1)) {
            let mut shape = items.shape().to_vec();
            shape[0] = texts.len() as i64;
            let mut inputs = text_inputs(encoded.clone());
            inputs.push((name, HostTensor::new(&shape, item.repeat(texts.len()))?));
            let logits = self.forward(inputs)?;
            let row = logits
                .as_f32()
                .ok_or_else(|| Error::Tensor(format!("{output} must be float32, got {:?}", logits.dtype())))?;
            let first = row.get(..texts.len()).ok_or_else(|| {
                Error::Mismatch(format!("{output} holds {} values for {} texts", row.len(), texts.len()))
            })?;
            rows.push(first.to_vec());
        }
        let probabilities: Vec<Vec<f32>> = rows.iter().map(|row| softmax(row)).collect();
        let best = probabilities
            .iter()
            .map(|row| generate::argmax(row, &[]).unwrap_or(0))
            .map(|index| texts.get(index).map_or_else(String::new, |t| (*t).to_string()))
            .collect();
        Ok(TaskOutput::Similarity { logits: rows, probabilities, best })
    }

    /// The prepared items the texts are scored against, with their input's name.
    fn similarity_items(&self, input: Input<'_>) -> Result<(&'static str, HostTensor)> {
        let only = |given: &[&Path], what: &str| -> Result<()> {
            if given.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "`{}` scores texts against {what}: give at least one",
                    self.case.spec.model_type
                )));
            }
            Ok(())
        };
        if self.frames.is_some() {
            only(input.videos, "videos (folders of frames)")?;
            return Ok((IMAGE_INPUT, self.video_values(input.videos)?));
        }
        if self.mel.is_some() {
            only(input.audio, "audio files")?;
            return Ok((FEATURES_INPUT, self.input_features(input.audio)?));
        }
        only(input.images, "images")?;
        Ok((IMAGE_INPUT, self.pixel_values(input.images)?))
    }
}
