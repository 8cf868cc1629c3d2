//! Image files to `pixel_values` as the checkpoint's `preprocessor_config.json` says, in the
//! order and arithmetic of the Python image processors' PIL backend: convert to RGB, resize
//! (to a fixed size, or the shortest edge to a length) with the configured PIL filter, center
//! crop, rescale (in float64, then float32), normalise per channel (in float32), channels first.

use std::path::Path;

use serde_json::Value;

use super::resample::{resize, Filter, Rgb8};
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::tensor::HostTensor;

/// The configuration file of image processors.
pub const CONFIG_FILE: &str = "preprocessor_config.json";

/// Where a resize goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeTo {
    /// Exactly `height` x `width`.
    Exact {
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
    },
    /// The shorter side to this length, the longer in proportion (truncated, as transformers does).
    ShortestEdge(usize),
}

/// A checkpoint's image processor.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageProcessor {
    /// The resize and its filter, if any.
    pub resize: Option<(ResizeTo, Filter)>,
    /// The center crop (`height`, `width`), if any.
    pub crop: Option<(usize, usize)>,
    /// The rescale factor (1/255 usually), if any.
    pub rescale: Option<f64>,
    /// Per-channel mean and standard deviation, if normalising.
    pub normalize: Option<([f32; 3], [f32; 3])>,
    source: String,
}

/// ViT's defaults (transformers' `IMAGENET_STANDARD_MEAN`/`_STD`) for keys a file leaves out.
const STANDARD: [f64; 3] = [0.5, 0.5, 0.5];

impl ImageProcessor {
    /// The image processor of `checkpoint` (`preprocessor_config.json`).
    pub fn open(checkpoint: &Checkpoint) -> Result<Self> {
        let path = checkpoint.dir.join(CONFIG_FILE);
        let config = checkpoint.json(CONFIG_FILE)?.ok_or_else(|| Error::Checkpoint {
            path: path.clone(),
            message: "missing: image skills read the image processor's settings (`AutoImageProcessor.from_pretrained(..).save_pretrained(dir)` writes them)".into(),
        })?;
        Self::from_config(&config, &path.display().to_string())
    }

    /// The processor a parsed `preprocessor_config.json` describes; `source` names it in errors.
    pub fn from_config(config: &Value, source: &str) -> Result<Self> {
        let invalid = |message: String| Error::Preprocess { what: source.to_string(), message };
        let flag = |key: &str, default: bool| config.get(key).and_then(Value::as_bool).unwrap_or(default);
        for unsupported in ["do_pad", "do_reduce_labels", "do_convert_grayscale"] {
            if flag(unsupported, false) {
                return Err(invalid(format!("sets `{unsupported}`, which this runtime's image preprocessing does not do yet")));
            }
        }
        let cropping = flag("do_center_crop", false);
        let resize = if flag("do_resize", true) {
            let filter_id = config.get("resample").and_then(Value::as_i64).unwrap_or(2);
            let filter = Filter::from_pil(filter_id).ok_or_else(|| invalid(format!("`resample` {filter_id} is no PIL filter (0 to 5)")))?;
            let to = match config.get("size") {
                Some(Value::Number(n)) => {
                    let n = n.as_u64().unwrap_or(0) as usize;
                    // A bare number: the shortest edge where a crop follows (CLIP), else a square.
                    if cropping { ResizeTo::ShortestEdge(n) } else { ResizeTo::Exact { height: n, width: n } }
                }
                Some(Value::Object(size)) => {
                    let get = |key: &str| size.get(key).and_then(Value::as_u64).map(|v| v as usize);
                    match (get("height"), get("width"), get("shortest_edge"), get("longest_edge")) {
                        (Some(height), Some(width), _, _) => ResizeTo::Exact { height, width },
                        (_, _, Some(edge), None) => ResizeTo::ShortestEdge(edge),
                        _ => return Err(invalid(format!("`size` {} is not one this runtime resizes to yet (height and width, or shortest_edge alone)", Value::Object(size.clone())))),
                    }
                }
                _ => return Err(invalid("has `do_resize` but no `size`".into())),
            };
            Some((to, filter))
        } else {
            None
        };
        let crop = if cropping {
            match config.get("crop_size") {
                Some(Value::Number(n)) => Some((n.as_u64().unwrap_or(0) as usize, n.as_u64().unwrap_or(0) as usize)),
                Some(Value::Object(size)) => match (size.get("height").and_then(Value::as_u64), size.get("width").and_then(Value::as_u64)) {
                    (Some(h), Some(w)) => Some((h as usize, w as usize)),
                    _ => return Err(invalid("`crop_size` needs height and width".into())),
                },
                _ => return Err(invalid("has `do_center_crop` but no `crop_size`".into())),
            }
        } else {
            None
        };
        let zero = match resize {
            Some((ResizeTo::Exact { height, width }, _)) => height == 0 || width == 0,
            Some((ResizeTo::ShortestEdge(edge), _)) => edge == 0,
            None => false,
        } || crop.is_some_and(|(h, w)| h == 0 || w == 0);
        if zero {
            return Err(invalid("resizes or crops to a size of 0".into()));
        }
        let rescale = flag("do_rescale", true).then(|| config.get("rescale_factor").and_then(Value::as_f64).unwrap_or(1.0 / 255.0));
        let normalize = if flag("do_normalize", true) {
            let triple = |key: &str| -> Result<[f32; 3]> {
                match config.get(key) {
                    None => Ok(STANDARD.map(|v| v as f32)),
                    Some(Value::Number(n)) => Ok([n.as_f64().unwrap_or(0.0) as f32; 3]),
                    Some(Value::Array(list)) if list.len() == 3 => Ok([0, 1, 2].map(|i| list[i].as_f64().unwrap_or(0.0) as f32)),
                    Some(other) => Err(invalid(format!("`{key}` must be three numbers (one per RGB channel), got {other}"))),
                }
            };
            Some((triple("image_mean")?, triple("image_std")?))
        } else {
            None
        };
        Ok(Self { resize, crop, rescale, normalize, source: source.to_string() })
    }

    /// The (height, width) every prepared image has, where fixed (a crop, or an exact resize).
    pub fn output_size(&self) -> Option<(usize, usize)> {
        self.crop.or(match self.resize {
            Some((ResizeTo::Exact { height, width }, _)) => Some((height, width)),
            _ => None,
        })
    }

    /// Prepares images into `pixel_values`, `[batch, 3, height, width]` float32.
    pub fn prepare(&self, images: &[Rgb8]) -> Result<HostTensor> {
        if images.is_empty() {
            return Err(Error::Preprocess { what: "image".into(), message: "no image given".into() });
        }
        let mut values = Vec::new();
        let mut size = None;
        for image in images {
            let (height, width, channels_first) = self.prepare_one(image)?;
            if size.is_some_and(|s| s != (height, width)) {
                return Err(Error::Preprocess { what: self.source.clone(), message: "gives images of different sizes, which cannot share a batch: give one image at a time".into() });
            }
            size = Some((height, width));
            values.extend(channels_first);
        }
        let (height, width) = size.unwrap_or((0, 0));
        HostTensor::new(&[images.len() as i64, 3, height as i64, width as i64], values)
    }

    fn prepare_one(&self, image: &Rgb8) -> Result<(usize, usize, Vec<f32>)> {
        let mut image = image.clone();
        if let Some((to, filter)) = self.resize {
            let (height, width) = match to {
                ResizeTo::Exact { height, width } => (height, width),
                ResizeTo::ShortestEdge(edge) => shortest_edge(image.height, image.width, edge),
            };
            image = resize(&image, width, height, filter);
        }
        if let Some((height, width)) = self.crop {
            image = center_crop(&image, height, width).ok_or_else(|| Error::Preprocess {
                what: self.source.clone(),
                message: format!("the image is {}x{} after resizing, smaller than the {width}x{height} crop", image.width, image.height),
            })?;
        }
        let plane = image.width * image.height;
        let mut out = vec![0.0_f32; plane * 3];
        for (index, pixel) in image.pixels.chunks_exact(3).enumerate() {
            for channel in 0..3 {
                let mut value = match self.rescale {
                    Some(factor) => (f64::from(pixel[channel]) * factor) as f32,
                    None => f32::from(pixel[channel]),
                };
                if let Some((mean, std)) = self.normalize {
                    value = (value - mean[channel]) / std[channel];
                }
                out[channel * plane + index] = value;
            }
        }
        Ok((image.height, image.width, out))
    }
}

/// (height, width) with the shorter side `edge` and the longer in proportion, truncated.
fn shortest_edge(height: usize, width: usize, edge: usize) -> (usize, usize) {
    let (short, long) = if width <= height { (width, height) } else { (height, width) };
    let new_long = (edge as f64 * long as f64 / short as f64) as usize;
    if width <= height {
        (new_long, edge)
    } else {
        (edge, new_long)
    }
}

/// The centered `height` x `width` window (top and left rounded down), if the image holds it.
fn center_crop(image: &Rgb8, height: usize, width: usize) -> Option<Rgb8> {
    if height > image.height || width > image.width {
        return None;
    }
    let (top, left) = ((image.height - height) / 2, (image.width - width) / 2);
    let mut pixels = Vec::with_capacity(height * width * 3);
    for row in top..top + height {
        let start = (row * image.width + left) * 3;
        pixels.extend_from_slice(&image.pixels[start..start + width * 3]);
    }
    Some(Rgb8 { width, height, pixels })
}

/// Reads an image file (PNG or JPEG) as 8-bit RGB (alpha dropped, grey repeated, as PIL's
/// `convert("RGB")` does).
pub fn read_image(path: &Path) -> Result<Rgb8> {
    let failed = |message: String| Error::Preprocess { what: format!("image {}", path.display()), message };
    let reader = image::ImageReader::open(path).map_err(|e| failed(format!("cannot open: {e}")))?;
    let reader = reader.with_guessed_format().map_err(|e| failed(format!("cannot read: {e}")))?;
    if reader.format().is_none() {
        return Err(failed("is not an image this runtime reads (PNG or JPEG)".into()));
    }
    let decoded = reader.decode().map_err(|e| failed(format!("is not a readable PNG or JPEG: {e}")))?;
    let rgb = decoded.to_rgb8();
    Ok(Rgb8 { width: rgb.width() as usize, height: rgb.height() as usize, pixels: rgb.into_raw() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_clip_and_vit_settings_and_sizes_as_transformers_does() {
        let clip = serde_json::json!({"do_resize": true, "size": {"shortest_edge": 224}, "resample": 3, "do_center_crop": true, "crop_size": {"height": 224, "width": 224},
            "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]});
        let processor = ImageProcessor::from_config(&clip, "clip").unwrap();
        assert_eq!(processor.resize, Some((ResizeTo::ShortestEdge(224), Filter::Bicubic)));
        assert_eq!(processor.output_size(), Some((224, 224)));
        assert_eq!(shortest_edge(480, 640, 224), (224, 298), "640 * 224 / 480 = 298.67, truncated");
        assert_eq!(shortest_edge(640, 480, 224), (298, 224));
        let vit = ImageProcessor::from_config(&serde_json::json!({"size": {"height": 32, "width": 32}}), "vit").unwrap();
        assert_eq!(vit.output_size(), Some((32, 32)));
        assert_eq!(vit.normalize, Some(([0.5; 3], [0.5; 3])), "ViT's defaults for keys left out");
        let detr = ImageProcessor::from_config(&serde_json::json!({"size": {"shortest_edge": 800, "longest_edge": 1333}}), "detr").unwrap_err().to_string();
        assert!(detr.contains("longest_edge"), "{detr}");
        let pad = ImageProcessor::from_config(&serde_json::json!({"do_pad": true, "size": {"height": 8, "width": 8}}), "x").unwrap_err().to_string();
        assert!(pad.contains("do_pad"), "{pad}");
    }

    #[test]
    fn crops_the_center_and_normalises_channels_first() {
        // A 4x2 image (width 4): columns 0..4 hold 0, 51, 102, 153 in every channel.
        let image = Rgb8 { width: 4, height: 2, pixels: (0..2).flat_map(|_| [0_u8, 51, 102, 153].into_iter().flat_map(|v| [v, v, v])).collect() };
        let processor = ImageProcessor { resize: None, crop: Some((2, 2)), rescale: Some(1.0 / 255.0), normalize: Some(([0.5; 3], [0.5; 3])), source: "t".into() };
        let pixels = processor.prepare(&[image]).unwrap();
        assert_eq!(pixels.shape(), [1, 3, 2, 2]);
        // Columns 1 and 2 remain: 51/255 = 0.2 -> (0.2 - 0.5) / 0.5 = -0.6; 102/255 = 0.4 -> -0.2.
        let values = pixels.as_f32().unwrap();
        assert!((values[0] + 0.6).abs() < 1e-6 && (values[1] + 0.2).abs() < 1e-6, "{values:?}");
        assert_eq!(values[0..4], values[4..8], "every channel alike");
    }

    #[test]
    fn a_file_that_is_not_an_image_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.png");
        std::fs::write(&path, "plain text, not a PNG").unwrap();
        let error = read_image(&path).unwrap_err().to_string();
        assert!(error.contains("notes.png") && error.contains("PNG or JPEG"), "{error}");
        assert!(read_image(&dir.path().join("absent.png")).unwrap_err().to_string().contains("cannot open"));
    }
}
