//! The image placeholder of a LLaVA-style prompt: each `<image>` of the text becomes as many
//! image tokens as the vision tower gives features for one image, before tokenizing (as
//! `LlavaProcessor` does), so the model scatters the image's features into those positions.

use serde_json::Value;

use super::image::ImageProcessor;
use super::text::TextProcessor;
use super::tiles::AnyResolution;
use crate::checkpoint::Checkpoint;
use runtime::error::{Error, Result};

/// Where LLaVA-style processors keep their settings (`patch_size`, `image_token`, ...).
pub const PROCESSOR_FILE: &str = "processor_config.json";

/// A checkpoint's image placeholder and how many tokens each image takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePrompt {
    /// The placeholder a prompt holds once per image (`<image>`).
    pub token: String,
    /// Its id in the tokenizer, which is the model's `image_token_index`.
    pub token_id: i64,
    /// Tokens per image: (height / patch) x (width / patch) + additional tokens, less one for the
    /// `default` feature selection (which drops the CLS feature).
    pub count: usize,
    /// Any-resolution tiling (LLaVA-NeXT), whose count depends on each image's size.
    pub tiles: Option<Tiled>,
}

/// What an any-resolution prompt's count of image tokens depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tiled {
    /// The tiling.
    pub tiles: AnyResolution,
    /// The vision tower's patch size.
    pub patch: usize,
    /// CLS and other extra tokens per view.
    pub additional: usize,
    /// Whether the `default` feature selection drops the CLS feature.
    pub default_selection: bool,
}

impl ImagePrompt {
    /// The placeholder of `checkpoint`, from `processor_config.json` (`patch_size`,
    /// `num_additional_image_tokens`, `vision_feature_select_strategy`, `image_token`) and the
    /// size `images` prepares; checked against the tokenizer and `config.json`.
    pub fn open(checkpoint: &Checkpoint, images: &ImageProcessor, text: &TextProcessor) -> Result<Self> {
        let path = checkpoint.dir.join(PROCESSOR_FILE);
        let settings = checkpoint.json(PROCESSOR_FILE)?.ok_or_else(|| Error::Checkpoint {
            path: path.clone(),
            message: "missing: a LLaVA-style skill reads the processor's patch size and image token from it (`AutoProcessor.from_pretrained(..).save_pretrained(dir)` writes it)".into(),
        })?;
        let invalid = |message: String| Error::Checkpoint { path: path.clone(), message };
        let patch = settings
            .get("patch_size")
            .and_then(Value::as_u64)
            .filter(|p| *p > 0)
            .ok_or_else(|| invalid("has no `patch_size` above 0".into()))? as usize;
        let additional = settings.get("num_additional_image_tokens").and_then(Value::as_u64).unwrap_or(0) as usize;
        let strategy = settings.get("vision_feature_select_strategy").and_then(Value::as_str).unwrap_or("default");
        let token = settings.get("image_token").and_then(Value::as_str).unwrap_or("<image>").to_string();
        let (height, width) = images.output_size().ok_or_else(|| {
            invalid("its image processor gives no fixed size, so the number of image tokens would vary".into())
        })?;
        let count = (height / patch) * (width / patch) + additional;
        let count = if strategy == "default" {
            count.checked_sub(1).ok_or_else(|| invalid("gives no image tokens".into()))?
        } else {
            count
        };
        let token_id = text
            .token_id(&token)
            .ok_or_else(|| invalid(format!("names the image token `{token}`, which the tokenizer does not have")))?;
        let tiles = images.tiles.clone().map(|tiles| Tiled {
            tiles,
            patch,
            additional,
            default_selection: strategy == "default",
        });
        let config_path = checkpoint.dir.join("config.json");
        if let Some(index) = checkpoint
            .config_number("image_token_index")
            .or_else(|| checkpoint.config_number("image_token_id"))
            .filter(|index| *index != token_id)
        {
            return Err(Error::Checkpoint { path: config_path, message: format!("has image_token_index {index}, but the tokenizer's `{token}` is {token_id}: the tokenizer belongs to another model") });
        }
        if let Some(length) =
            checkpoint.config_number("image_seq_length").filter(|length| tiles.is_none() && *length as usize != count)
        {
            return Err(Error::Checkpoint {
                path: config_path,
                message: format!("has image_seq_length {length}, but {PROCESSOR_FILE} gives {count} tokens per image ({height}x{width} images, patch {patch}, {additional} additional, `{strategy}` selection): the processor belongs to another model"),
            });
        }
        Ok(Self { token, token_id, count, tiles })
    }

    /// Image tokens for an image of (height, width): the fixed count, or the tiling's.
    pub fn count_for(&self, size: (usize, usize)) -> usize {
        match &self.tiles {
            Some(tiled) => tiled.tiles.token_count(size, tiled.patch, tiled.additional, tiled.default_selection),
            None => self.count,
        }
    }

    /// `prompt` with its one placeholder expanded to [`ImagePrompt::count`] of them; a prompt
    /// with none or several is refused (each prompt goes with one image).
    pub fn expand(&self, prompt: &str) -> Result<String> {
        self.expand_to(prompt, self.count)
    }

    /// `prompt` with its one placeholder expanded to `count` of them.
    pub fn expand_to(&self, prompt: &str, count: usize) -> Result<String> {
        match prompt.matches(self.token.as_str()).count() {
            1 => Ok(prompt.replacen(self.token.as_str(), &self.token.repeat(count), 1)),
            found => Err(Error::Preprocess {
                what: "prompt".into(),
                message: format!("holds {found} `{}` placeholders; each prompt goes with one image and holds it once where the image belongs (\"USER: {} What is shown? ASSISTANT:\")", self.token, self.token),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_placeholder_becomes_one_token_per_image_feature() {
        let prompt = ImagePrompt { token: "<image>".into(), token_id: 7, count: 3, tiles: None };
        assert_eq!(
            prompt.expand("USER: <image>\nWhat? ASSISTANT:").unwrap(),
            "USER: <image><image><image>\nWhat? ASSISTANT:"
        );
        let none = prompt.expand("no image here").unwrap_err().to_string();
        assert!(none.contains("holds 0 `<image>`"), "{none}");
        assert!(prompt.expand("<image> and <image>").unwrap_err().to_string().contains("holds 2"));
    }
}
