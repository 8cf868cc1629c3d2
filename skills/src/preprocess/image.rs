//! Image files to `pixel_values` as the checkpoint's `preprocessor_config.json` says, in the
//! order and arithmetic of the Python image processors' PIL backend: convert to RGB, resize
//! (to a fixed size, or the shortest edge to a length) with the configured PIL filter, center
//! crop, rescale (in float64, then float32), normalise per channel (in float32), channels first.

use std::path::Path;

use serde_json::Value;

use super::resample::{resize, Filter, Rgb8};
use super::tiles::AnyResolution;
use crate::checkpoint::Checkpoint;
use runtime::error::{Error, Result};
use runtime::tensor::HostTensor;

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
    /// The shorter side to `shortest`, unless the longer would pass `longest`: then the longer to
    /// `longest` (DETR's `get_size_with_aspect_ratio`).
    ShortestLongest {
        /// The shorter side's length.
        shortest: usize,
        /// The most the longer side may be.
        longest: usize,
    },
}

/// Padding of a batch to one size (bottom and right, with zeros after normalising), with a
/// `pixel_mask` marking each image's own pixels (`do_pad` of DETR-style processors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadTo {
    /// The largest height and width in the batch.
    Largest,
    /// This (height, width) (`pad_size`).
    Size(usize, usize),
}

/// Prepared images: `pixel_values`, and where the processor pads, `pixel_mask` and each image's
/// size before padding.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// `[batch, 3, height, width]` float32.
    pub pixel_values: HostTensor,
    /// `[batch, height, width]` int64, 1 on each image's pixels and 0 on padding (padding processors only).
    pub pixel_mask: Option<HostTensor>,
    /// Each file's (height, width) as read, before any resize.
    pub original_sizes: Vec<(usize, usize)>,
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
    /// Padding of the batch to one size, with a pixel mask, if any.
    pub pad: Option<PadTo>,
    /// Any-resolution tiling (`image_grid_pinpoints`: LLaVA-NeXT), if any.
    pub tiles: Option<AnyResolution>,
    source: String,
}

/// The `do_*` steps the preprocessing does (`do_convert_rgb` always; `do_convert_annotations`
/// touches only training annotations).
const DONE_STEPS: [&str; 7] =
    ["do_resize", "do_center_crop", "do_rescale", "do_normalize", "do_convert_rgb", "do_pad", "do_convert_annotations"];

/// ViT's defaults (transformers' `IMAGENET_STANDARD_MEAN`/`_STD`) for keys a file leaves out.
const STANDARD: [f64; 3] = [0.5, 0.5, 0.5];

impl ImageProcessor {
    /// The image processor of `checkpoint` (`preprocessor_config.json`).
    pub fn open(checkpoint: &Checkpoint) -> Result<Self> {
        match super::settings(checkpoint, "image_processor")? {
            Some((config, source)) => Self::from_config(&config, &source),
            None => Err(Error::Checkpoint {
                path: checkpoint.dir.join(CONFIG_FILE),
                message: format!("missing, and no `image_processor` in {} either: image skills read the image processor's settings (`AutoImageProcessor.from_pretrained(..).save_pretrained(dir)` writes them)", super::image_prompt::PROCESSOR_FILE),
            }),
        }
    }

    /// The processor a parsed `preprocessor_config.json` describes; `source` names it in errors.
    pub fn from_config(config: &Value, source: &str) -> Result<Self> {
        let invalid = |message: String| Error::Preprocess { what: source.to_string(), message };
        let flag = |key: &str, default: bool| config.get(key).and_then(Value::as_bool).unwrap_or(default);
        // Any other step a processor turns on (image splitting, thumbnails, flipped channels,
        // an offset rescale, ...) would change the pixels: refused rather than left out.
        let unsupported = config.as_object().into_iter().flatten().find(|(key, value)| {
            let step = key.starts_with("do_") && !DONE_STEPS.contains(&key.as_str()) && value.as_bool() == Some(true);
            step || (key.as_str() == "offset" && value.as_bool() == Some(true))
        });
        if let Some((key, _)) = unsupported {
            return Err(invalid(format!("sets `{key}`, which the skills' image preprocessing does not do yet")));
        }
        let cropping = flag("do_center_crop", false);
        let resize = if flag("do_resize", true) {
            let filter_id = config.get("resample").and_then(Value::as_i64).unwrap_or(2);
            let filter = Filter::from_pil(filter_id)
                .ok_or_else(|| invalid(format!("`resample` {filter_id} is no PIL filter (0 to 5)")))?;
            let to = match config.get("size") {
                Some(Value::Number(n)) => {
                    let n = n.as_u64().unwrap_or(0) as usize;
                    // A bare number: the shortest edge where a crop follows (CLIP), else a square.
                    if cropping {
                        ResizeTo::ShortestEdge(n)
                    } else {
                        ResizeTo::Exact { height: n, width: n }
                    }
                }
                Some(Value::Object(size)) => {
                    let get = |key: &str| size.get(key).and_then(Value::as_u64).map(|v| v as usize);
                    match (get("height"), get("width"), get("shortest_edge"), get("longest_edge")) {
                        (Some(height), Some(width), _, _) => ResizeTo::Exact { height, width },
                        (_, _, Some(edge), None) => ResizeTo::ShortestEdge(edge),
                        (_, _, Some(shortest), Some(longest)) => ResizeTo::ShortestLongest { shortest, longest },
                        _ => return Err(invalid(format!("`size` {} is not one this runtime resizes to yet (height and width, shortest_edge, or shortest_edge with longest_edge)", Value::Object(size.clone())))),
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
                Some(Value::Object(size)) => {
                    match (size.get("height").and_then(Value::as_u64), size.get("width").and_then(Value::as_u64)) {
                        (Some(h), Some(w)) => Some((h as usize, w as usize)),
                        _ => return Err(invalid("`crop_size` needs height and width".into())),
                    }
                }
                _ => return Err(invalid("has `do_center_crop` but no `crop_size`".into())),
            }
        } else {
            None
        };
        let zero = match resize {
            Some((ResizeTo::Exact { height, width }, _)) => height == 0 || width == 0,
            Some((ResizeTo::ShortestEdge(edge), _)) => edge == 0,
            Some((ResizeTo::ShortestLongest { shortest, longest }, _)) => shortest == 0 || longest == 0,
            None => false,
        } || crop.is_some_and(|(h, w)| h == 0 || w == 0);
        if zero {
            return Err(invalid("resizes or crops to a size of 0".into()));
        }
        // Sizes come from a file of the checkpoint: an absurd one is refused, not allocated.
        let largest = match resize {
            Some((ResizeTo::Exact { height, width }, _)) => height.max(width),
            Some((ResizeTo::ShortestEdge(edge), _)) => edge,
            Some((ResizeTo::ShortestLongest { shortest, longest }, _)) => shortest.max(longest),
            None => 0,
        }
        .max(crop.map_or(0, |(h, w)| h.max(w)));
        if largest > MAX_EDGE {
            return Err(invalid(format!("resizes or crops to an edge of {largest} pixels, more than the {MAX_EDGE} this runtime prepares: check `size` and `crop_size`")));
        }
        let rescale = flag("do_rescale", true)
            .then(|| config.get("rescale_factor").and_then(Value::as_f64).unwrap_or(1.0 / 255.0));
        let normalize = if flag("do_normalize", true) {
            let triple = |key: &str| -> Result<[f32; 3]> {
                match config.get(key) {
                    None => Ok(STANDARD.map(|v| v as f32)),
                    Some(Value::Number(n)) => Ok([n.as_f64().unwrap_or(0.0) as f32; 3]),
                    Some(Value::Array(list)) if list.len() == 3 => {
                        Ok([0, 1, 2].map(|i| list[i].as_f64().unwrap_or(0.0) as f32))
                    }
                    Some(other) => {
                        Err(invalid(format!("`{key}` must be three numbers (one per RGB channel), got {other}")))
                    }
                }
            };
            Some((triple("image_mean")?, triple("image_std")?))
        } else {
            None
        };
        // With `image_grid_pinpoints` (LLaVA-NeXT), `do_pad` pads the count of tiles, not pixels.
        let pad = if flag("do_pad", false) && config.get("image_grid_pinpoints").is_none() {
            match config.get("pad_size") {
                None | Some(Value::Null) => Some(PadTo::Largest),
                Some(Value::Object(size)) => {
                    match (size.get("height").and_then(Value::as_u64), size.get("width").and_then(Value::as_u64)) {
                        (Some(h), Some(w)) if h > 0 && w > 0 && h as usize <= MAX_EDGE && w as usize <= MAX_EDGE => {
                            Some(PadTo::Size(h as usize, w as usize))
                        }
                        _ => {
                            return Err(invalid(format!(
                                "`pad_size` needs a height and a width above 0 and at most {MAX_EDGE}"
                            )))
                        }
                    }
                }
                Some(other) => {
                    return Err(invalid(format!("`pad_size` must be {{\"height\": H, \"width\": W}}, got {other}")))
                }
            }
        } else {
            None
        };
        let tiles = match config.get("image_grid_pinpoints") {
            None => None,
            Some(grid) => {
                // The whole view takes `size` (a shortest edge squared); a tile is `crop_size`'s height.
                let (base, filter) =
                    match resize {
                        Some((ResizeTo::Exact { height, width }, filter)) => ((height, width), filter),
                        Some((ResizeTo::ShortestEdge(edge), filter)) => ((edge, edge), filter),
                        _ => return Err(invalid(
                            "tiles with `image_grid_pinpoints` but has no `size` (height and width, or shortest_edge)"
                                .into(),
                        )),
                    };
                let crop_height =
                    config.get("crop_size").and_then(|c| c.get("height")).and_then(Value::as_u64).map(|h| h as usize);
                Some(
                    AnyResolution::from_grid(
                        grid,
                        base,
                        crop.map(|(h, _)| h).or(crop_height).unwrap_or(base.0),
                        filter,
                    )
                    .map_err(invalid)?,
                )
            }
        };
        Ok(Self { resize, crop, rescale, normalize, pad, tiles, source: source.to_string() })
    }

    /// Two canvas sizes (height and width alike) a padding processor's batches may take, for an
    /// export whose height and width vary: (the shortest edge, the longest), or the fixed pad size.
    pub fn canvas_sizes(&self) -> Option<(usize, usize)> {
        match (self.pad?, self.resize) {
            (PadTo::Size(height, width), _) => Some((height.min(width), height.max(width))),
            (PadTo::Largest, Some((ResizeTo::ShortestLongest { shortest, longest }, _))) => Some((shortest, longest)),
            (PadTo::Largest, Some((ResizeTo::Exact { height, width }, _))) => {
                Some((height.min(width), height.max(width)))
            }
            (PadTo::Largest, Some((ResizeTo::ShortestEdge(edge), _))) => Some((edge, edge + edge / 2)),
            (PadTo::Largest, None) => None,
        }
    }

    /// The (height, width) every prepared image has, where fixed (a crop, or an exact resize),
    /// and the processor does not pad.
    pub fn output_size(&self) -> Option<(usize, usize)> {
        if self.pad.is_some() {
            return None;
        }
        self.crop.or(match self.resize {
            Some((ResizeTo::Exact { height, width }, _)) => Some((height, width)),
            _ => None,
        })
    }

    /// Prepares images into `pixel_values`, `[batch, 3, height, width]` float32.
    pub fn prepare(&self, images: &[Rgb8]) -> Result<HostTensor> {
        Ok(self.prepare_batch(images)?.pixel_values)
    }

    /// Prepares images into `pixel_values`, padded to one size with a `pixel_mask` where the
    /// processor pads; without padding, every image must come out the same size.
    pub fn prepare_batch(&self, images: &[Rgb8]) -> Result<Prepared> {
        if images.is_empty() {
            return Err(Error::Preprocess { what: "image".into(), message: "no image given".into() });
        }
        let prepared = images.iter().map(|image| self.prepare_one(image)).collect::<Result<Vec<_>>>()?;
        let original_sizes = images.iter().map(|image| (image.height, image.width)).collect();
        let batch = images.len() as i64;
        let Some(pad) = self.pad else {
            let (height, width, _) = prepared[0];
            if prepared.iter().any(|(h, w, _)| (*h, *w) != (height, width)) {
                return Err(Error::Preprocess {
                    what: self.source.clone(),
                    message: "gives images of different sizes, which cannot share a batch: give one image at a time"
                        .into(),
                });
            }
            let values = prepared.into_iter().flat_map(|(_, _, values)| values).collect();
            return Ok(Prepared {
                pixel_values: HostTensor::new(&[batch, 3, height as i64, width as i64], values)?,
                pixel_mask: None,
                original_sizes,
            });
        };
        let (height, width) = match pad {
            PadTo::Size(height, width) => (height, width),
            PadTo::Largest => prepared.iter().fold((0, 0), |(h, w), (ph, pw, _)| (h.max(*ph), w.max(*pw))),
        };
        let mut values = vec![0.0_f32; images.len() * 3 * height * width];
        let mut mask = vec![0_i64; images.len() * height * width];
        for (index, (h, w, own)) in prepared.iter().enumerate() {
            if *h > height || *w > width {
                return Err(Error::Preprocess {
                    what: self.source.clone(),
                    message: format!("an image is {w}x{h} after resizing, larger than the {width}x{height} `pad_size`"),
                });
            }
            for channel in 0..3 {
                for row in 0..*h {
                    let to = ((index * 3 + channel) * height + row) * width;
                    let from = (channel * h + row) * w;
                    values[to..to + w].copy_from_slice(&own[from..from + w]);
                }
            }
            for row in 0..*h {
                let to = (index * height + row) * width;
                mask[to..to + w].fill(1);
            }
        }
        let (height, width) = (height as i64, width as i64);
        Ok(Prepared {
            pixel_values: HostTensor::new(&[batch, 3, height, width], values)?,
            pixel_mask: Some(HostTensor::new(&[batch, height, width], mask)?),
            original_sizes,
        })
    }

    fn prepare_one(&self, image: &Rgb8) -> Result<(usize, usize, Vec<f32>)> {
        let mut image = image.clone();
        if let Some((to, filter)) = self.resize {
            let (height, width) = match to {
                ResizeTo::Exact { height, width } => (height, width),
                ResizeTo::ShortestEdge(edge) => shortest_edge(image.height, image.width, edge),
                ResizeTo::ShortestLongest { shortest, longest } => {
                    shortest_within_longest(image.height, image.width, shortest, longest)
                }
            };
            image = resize(&image, width, height, filter);
        }
        if let Some((height, width)) = self.crop {
            image = center_crop(&image, height, width).ok_or_else(|| Error::Preprocess {
                what: self.source.clone(),
                message: format!(
                    "the image is {}x{} after resizing, smaller than the {width}x{height} crop",
                    image.width, image.height
                ),
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

/// (height, width) with the shorter side `shortest`, unless the longer would then pass
/// `longest`: then the shorter side is `round(longest * short / long)` and the longer follows from
/// it, truncated (transformers' `get_size_with_aspect_ratio`, float64 as Python's).
fn shortest_within_longest(height: usize, width: usize, shortest: usize, longest: usize) -> (usize, usize) {
    let (short, long) = (height.min(width) as f64, height.max(width) as f64);
    let mut size = shortest;
    let mut raw = None;
    if long / short * shortest as f64 > longest as f64 {
        let value = longest as f64 * short / long;
        raw = Some(value);
        size = round_half_even(value);
    }
    if (height <= width && height == size) || (width <= height && width == size) {
        return (height, width);
    }
    let scale = raw.unwrap_or(size as f64);
    if width < height {
        ((scale * height as f64 / width as f64) as usize, size)
    } else {
        (size, (scale * width as f64 / height as f64) as usize)
    }
}

/// Python's `round` on a non-negative float: half to even.
fn round_half_even(value: f64) -> usize {
    let floor = value.floor();
    let rounded = match value - floor {
        d if d > 0.5 => floor + 1.0,
        d if d < 0.5 => floor,
        _ if floor % 2.0 == 0.0 => floor,
        _ => floor + 1.0,
    };
    rounded as usize
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

/// The longest edge, in pixels, an image processor may resize, crop or pad to, and the
/// longest edge of an image file read (a decompression bomb is refused before it is decoded).
pub const MAX_EDGE: usize = 16_384;

/// Reads an image file (PNG or JPEG) as 8-bit RGB (alpha dropped, grey repeated, as PIL's
/// `convert("RGB")` does).
pub fn read_image(path: &Path) -> Result<Rgb8> {
    let failed = |message: String| Error::Preprocess { what: format!("image {}", path.display()), message };
    let reader = image::ImageReader::open(path).map_err(|e| failed(format!("cannot open: {e}")))?;
    let reader = reader.with_guessed_format().map_err(|e| failed(format!("cannot read: {e}")))?;
    if reader.format().is_none() {
        return Err(failed("is not an image this runtime reads (PNG or JPEG)".into()));
    }
    let mut reader = reader;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_EDGE as u32);
    limits.max_image_height = Some(MAX_EDGE as u32);
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|e| failed(format!("is not a readable PNG or JPEG of at most {MAX_EDGE} pixels an edge: {e}")))?;
    let rgb = decoded.to_rgb8();
    Ok(Rgb8 { width: rgb.width() as usize, height: rgb.height() as usize, pixels: rgb.into_raw() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_sizes_from_a_checkpoint_are_refused_before_anything_is_allocated() {
        for config in [
            serde_json::json!({"size": {"height": 100_000_000, "width": 32}}),
            serde_json::json!({"size": {"shortest_edge": 224}, "do_center_crop": true, "crop_size": {"height": 224, "width": 9_000_000}}),
            serde_json::json!({"do_pad": true, "size": {"height": 32, "width": 32}, "pad_size": {"height": 32, "width": 1_u64 << 40}}),
        ] {
            let error = ImageProcessor::from_config(&config, "preprocessor_config.json").unwrap_err().to_string();
            assert!(error.contains("16384"), "{config}: {error}");
        }
    }

    #[test]
    fn reads_clip_and_vit_settings_and_sizes_as_transformers_does() {
        let clip = serde_json::json!({"do_resize": true, "size": {"shortest_edge": 224}, "resample": 3, "do_center_crop": true, "crop_size": {"height": 224, "width": 224},
            "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]});
        let processor = ImageProcessor::from_config(&clip, "clip").unwrap();
        assert_eq!(processor.resize, Some((ResizeTo::ShortestEdge(224), Filter::Bicubic)));
        assert_eq!(processor.output_size(), Some((224, 224)));
        assert_eq!(shortest_edge(480, 640, 224), (224, 298), "640 * 224 / 480 = 298.67, truncated");
        assert_eq!(shortest_edge(640, 480, 224), (298, 224));
        let vit =
            ImageProcessor::from_config(&serde_json::json!({"size": {"height": 32, "width": 32}}), "vit").unwrap();
        assert_eq!(vit.output_size(), Some((32, 32)));
        assert_eq!(vit.normalize, Some(([0.5; 3], [0.5; 3])), "ViT's defaults for keys left out");
        let detr = ImageProcessor::from_config(
            &serde_json::json!({"do_pad": true, "size": {"shortest_edge": 800, "longest_edge": 1333}}),
            "detr",
        )
        .unwrap();
        assert_eq!(detr.resize, Some((ResizeTo::ShortestLongest { shortest: 800, longest: 1333 }, Filter::Bilinear)));
        assert_eq!(
            (detr.pad, detr.output_size(), detr.canvas_sizes()),
            (Some(PadTo::Largest), None, Some((800, 1333)))
        );
        let fixed = ImageProcessor::from_config(&serde_json::json!({"do_pad": true, "pad_size": {"height": 96, "width": 64}, "size": {"height": 8, "width": 8}}), "x").unwrap();
        assert_eq!(fixed.pad, Some(PadTo::Size(96, 64)));
        let bad = ImageProcessor::from_config(
            &serde_json::json!({"do_pad": true, "pad_size": {"height": 0}, "size": {"height": 8, "width": 8}}),
            "x",
        )
        .unwrap_err()
        .to_string();
        assert!(bad.contains("pad_size"), "{bad}");
        for step in ["do_image_splitting", "do_flip_channel_order", "offset"] {
            let error =
                ImageProcessor::from_config(&serde_json::json!({step: true, "size": {"height": 8, "width": 8}}), "x")
                    .unwrap_err()
                    .to_string();
            assert!(error.contains(step), "{error}");
        }
        assert!(
            ImageProcessor::from_config(
                &serde_json::json!({"do_image_splitting": false, "size": {"height": 8, "width": 8}}),
                "x"
            )
            .is_ok(),
            "a step turned off is fine"
        );
    }

    #[test]
    fn the_shortest_edge_gives_way_to_the_longest_as_detr_resizes() {
        // 480x640 to 800: the long side would be 1066.67 <= 1333, so 800 x int(800 * 640 / 480).
        assert_eq!(shortest_within_longest(480, 640, 800, 1333), (800, 1066));
        // 300x1000: 1000 / 300 * 800 = 2666 > 1333, so the short side is round(1333 * 300 / 1000) = round(399.9) = 400
        // and the long int(399.9 * 1000 / 300) = int(1333.0) = 1333.
        assert_eq!(shortest_within_longest(300, 1000, 800, 1333), (400, 1333));
        assert_eq!(shortest_within_longest(1000, 300, 800, 1333), (1333, 400));
        // Already the size: unchanged.
        assert_eq!(shortest_within_longest(800, 900, 800, 1333), (800, 900));
        assert_eq!([0.5, 1.5, 2.5, 2.4, 2.6].map(round_half_even), [0, 2, 2, 2, 3], "Python rounds half to even");
    }

    #[test]
    fn pads_a_batch_bottom_right_with_a_mask_of_each_images_pixels() {
        let image =
            |width: usize, height: usize, value: u8| Rgb8 { width, height, pixels: vec![value; width * height * 3] };
        let processor = ImageProcessor {
            resize: None,
            crop: None,
            rescale: None,
            normalize: None,
            pad: Some(PadTo::Largest),
            tiles: None,
            source: "t".into(),
        };
        let prepared = processor.prepare_batch(&[image(3, 2, 10), image(2, 3, 20)]).unwrap();
        assert_eq!(prepared.pixel_values.shape(), [2, 3, 3, 3]);
        assert_eq!(prepared.original_sizes, [(2, 3), (3, 2)]);
        let mask = prepared.pixel_mask.unwrap();
        assert_eq!(mask.to_f64_vec(), [1., 1., 1., 1., 1., 1., 0., 0., 0., 1., 1., 0., 1., 1., 0., 1., 1., 0.]);
        let values = prepared.pixel_values.as_f32().unwrap();
        assert_eq!(
            values[..9],
            [10., 10., 10., 10., 10., 10., 0., 0., 0.],
            "first image, first channel: two rows of 3, then padding"
        );
        assert_eq!(
            values[27..36],
            [20., 20., 0., 20., 20., 0., 20., 20., 0.],
            "second image, first channel: a padded column"
        );
        let fixed = ImageProcessor { pad: Some(PadTo::Size(2, 2)), ..processor };
        let error = fixed.prepare_batch(&[image(3, 2, 1)]).unwrap_err().to_string();
        assert!(error.contains("pad_size"), "{error}");
    }

    #[test]
    fn crops_the_center_and_normalises_channels_first() {
        // A 4x2 image (width 4): columns 0..4 hold 0, 51, 102, 153 in every channel.
        let image = Rgb8 {
            width: 4,
            height: 2,
            pixels: (0..2).flat_map(|_| [0_u8, 51, 102, 153].into_iter().flat_map(|v| [v, v, v])).collect(),
        };
        let processor = ImageProcessor {
            resize: None,
            crop: Some((2, 2)),
            rescale: Some(1.0 / 255.0),
            normalize: Some(([0.5; 3], [0.5; 3])),
            pad: None,
            tiles: None,
            source: "t".into(),
        };
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
