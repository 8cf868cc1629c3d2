//! Any-resolution tiling as LLaVA-NeXT's image processor does it: the grid resolution that keeps
//! most of the image (`select_best_resolution`), the image resized into it keeping its aspect and
//! centred on black, cut into square tiles, after one view of the whole image squashed to the
//! tile size; and how many image tokens that gives (`LlavaNextProcessor._get_number_of_features`).

use serde_json::Value;

use super::resample::{resize, Filter, Rgb8};

/// A checkpoint's any-resolution settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnyResolution {
    /// The grid resolutions (height, width) an image may be fitted into (`image_grid_pinpoints`).
    pub pinpoints: Vec<(usize, usize)>,
    /// The (height, width) of the whole-image view (`size`: height and width, or the shortest edge squared).
    pub base: (usize, usize),
    /// The side of a square tile (`crop_size`'s height, else the size's).
    pub tile: usize,
    /// The filter of every resize (`resample`).
    pub filter: Filter,
}

impl AnyResolution {
    /// The tiling of `grid` (`image_grid_pinpoints`: [height, width] pairs) into `tile`-pixel
    /// tiles after a `base` whole-image view, resized with `filter`; the error says what is wrong.
    pub fn from_grid(
        grid: &Value,
        base: (usize, usize),
        tile: usize,
        filter: Filter,
    ) -> std::result::Result<Self, String> {
        let pair = |v: &Value| -> Option<(usize, usize)> {
            let list = v.as_array().filter(|l| l.len() == 2)?;
            Some((list[0].as_u64()? as usize, list[1].as_u64()? as usize)).filter(|(h, w)| *h > 0 && *w > 0)
        };
        let pinpoints =
            grid.as_array().map(|list| list.iter().map(pair).collect::<Option<Vec<_>>>()).unwrap_or_default();
        let pinpoints = pinpoints
            .filter(|p| !p.is_empty())
            .ok_or_else(|| format!("`image_grid_pinpoints` must be [height, width] pairs above 0, got {grid}"))?;
        if tile == 0 || pinpoints.iter().any(|(h, w)| h % tile != 0 || w % tile != 0) {
            return Err(format!("a grid resolution of `image_grid_pinpoints` is no multiple of the {tile}-pixel tile"));
        }
        Ok(Self { pinpoints, base, tile, filter })
    }

    /// The grid resolution for an image of `(height, width)`: the most of the image kept, then the least space wasted.
    pub fn best_resolution(&self, (height, width): (usize, usize)) -> (usize, usize) {
        let mut best = self.pinpoints[0];
        let (mut most, mut least_wasted) = (0_usize, usize::MAX);
        for &(h, w) in &self.pinpoints {
            let scale = (w as f64 / width as f64).min(h as f64 / height as f64);
            let (dw, dh) = ((width as f64 * scale) as usize, (height as f64 * scale) as usize);
            let effective = (dw * dh).min(width * height);
            let wasted = w * h - effective;
            if effective > most || (effective == most && wasted < least_wasted) {
                (most, least_wasted, best) = (effective, wasted, (h, w));
            }
        }
        best
    }

    /// The whole-image view, then the tiles in row-major order: what each patch of `pixel_values` shows.
    pub fn tiles(&self, image: &Rgb8) -> Vec<Rgb8> {
        let (target_h, target_w) = self.best_resolution((image.height, image.width));
        let (new_h, new_w) = fit((image.height, image.width), (target_h, target_w));
        let resized = resize(image, new_w, new_h, self.filter);
        // Centred on black (zeros before rescaling), the odd pixel after.
        let (top, left) = ((target_h - new_h) / 2, (target_w - new_w) / 2);
        let mut canvas = vec![0_u8; target_h * target_w * 3];
        for row in 0..new_h {
            let to = ((top + row) * target_w + left) * 3;
            canvas[to..to + new_w * 3].copy_from_slice(&resized.pixels[row * new_w * 3..(row + 1) * new_w * 3]);
        }
        let mut views = vec![resize(image, self.base.1, self.base.0, self.filter)];
        for y in (0..target_h).step_by(self.tile) {
            for x in (0..target_w).step_by(self.tile) {
                let mut pixels = Vec::with_capacity(self.tile * self.tile * 3);
                for row in y..y + self.tile {
                    pixels.extend_from_slice(&canvas[(row * target_w + x) * 3..(row * target_w + x + self.tile) * 3]);
                }
                views.push(Rgb8 { width: self.tile, height: self.tile, pixels });
            }
        }
        views
    }

    /// Image tokens of an image of `(height, width)` with tiles of `(tile, tile)` pixels seen in
    /// `patch`-pixel patches: the unpadded grid's features, a newline per row, the whole view's
    /// patches and `additional` (CLS) tokens, less one for the `default` feature selection.
    pub fn token_count(
        &self,
        (height, width): (usize, usize),
        patch: usize,
        additional: usize,
        default_selection: bool,
    ) -> usize {
        let (best_h, best_w) = self.best_resolution((height, width));
        let (scale_h, scale_w) = (best_h / self.tile, best_w / self.tile);
        let (patches_h, patches_w) = (self.tile / patch, self.tile / patch);
        let (mut current_h, mut current_w) = (patches_h * scale_h, patches_w * scale_w);
        let original_aspect = width as f64 / height as f64;
        let current_aspect = current_w as f64 / current_h as f64;
        if original_aspect > current_aspect {
            let new_h = round7(height as f64 * (current_w as f64 / width as f64)) as usize;
            current_h -= (current_h - new_h) / 2 * 2;
        } else {
            let new_w = round7(width as f64 * (current_h as f64 / height as f64)) as usize;
            current_w -= (current_w - new_w) / 2 * 2;
        }
        let count = current_h * current_w + current_h + patches_h * patches_w + additional;
        count - usize::from(default_selection)
    }
}

/// Python's `round(x, 7)`, near enough for `int()` after it: to seven decimals.
fn round7(value: f64) -> f64 {
    (value * 1e7).round() / 1e7
}

/// (height, width) of an image resized to fill `target` on one side keeping its aspect
/// (transformers' `get_patch_output_size`).
fn fit((height, width): (usize, usize), (target_h, target_w): (usize, usize)) -> (usize, usize) {
    let (scale_w, scale_h) = (target_w as f64 / width as f64, target_h as f64 / height as f64);
    if scale_w < scale_h {
        (((height as f64 * scale_w).ceil() as usize).min(target_h), target_w)
    } else {
        (target_h, ((width as f64 * scale_h).ceil() as usize).min(target_w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llava_next() -> AnyResolution {
        AnyResolution {
            pinpoints: vec![(336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008)],
            base: (336, 336),
            tile: 336,
            filter: Filter::Bicubic,
        }
    }

    #[test]
    fn the_best_resolution_keeps_most_of_the_image_as_computed_by_hand() {
        let any = llava_next();
        // 480x640 (h, w): 336x672 keeps 336*448 (scale 0.7), 672x672 keeps all 307200: the latter.
        assert_eq!(any.best_resolution((480, 640)), (672, 672));
        // A wide 200x900: 336x1008 keeps 1008*224 > 200*900 = 180000, so all of it, wasting the least.
        assert_eq!(any.best_resolution((200, 900)), (336, 1008));
        assert_eq!(fit((480, 640), (672, 672)), (504, 672), "ceil(480 * 1.05) = 504");
    }

    #[test]
    fn tiles_are_the_whole_view_then_the_grid_row_by_row() {
        let any = AnyResolution { pinpoints: vec![(4, 8)], base: (4, 4), tile: 4, filter: Filter::Nearest };
        // A 2x8 white image fits 4x8 at 2x8 rows... scaled to width 8: 2 rows high, centred: row 1 and 2.
        let image = Rgb8 { width: 8, height: 2, pixels: vec![255; 2 * 8 * 3] };
        let views = any.tiles(&image);
        assert_eq!(views.len(), 3, "the whole view and two tiles");
        let rows = |view: &Rgb8| (0..4).map(|r| view.pixels[r * 12]).collect::<Vec<_>>();
        assert_eq!(rows(&views[1]), [0, 255, 255, 0], "centred on black");
        assert_eq!(rows(&views[2]), [0, 255, 255, 0]);
        // LLaVA-NeXT 336 tiles, 14-pixel patches, a 480x640 image: 672x672 grid, 48x48 patches
        // unpadded to 48 wide by 36 high (480/640 of 48), + 36 newlines + 24*24 + 1 CLS - 1.
        assert_eq!(llava_next().token_count((480, 640), 14, 1, true), 48 * 36 + 36 + 576);
    }
}
