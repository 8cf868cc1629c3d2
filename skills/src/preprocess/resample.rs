//! Resizing 8-bit RGB images as Pillow's `Image.resize` does (the resampling the Python image
//! processors' PIL backend runs): separable convolution, the horizontal pass first, with the
//! filter widened by the scale when shrinking (antialiasing), coefficients in 22-bit fixed
//! point, each pass rounded to 8 bits. Ported from the algorithm of Pillow's
//! `libImaging/Resample.c` so that the pixels agree exactly, not approximately.

/// A resampling filter, numbered as PIL's `Image.Resampling` (and `resample` in
/// `preprocessor_config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// 0: the nearest pixel.
    Nearest,
    /// 1: Lanczos, three lobes.
    Lanczos,
    /// 2: triangle.
    Bilinear,
    /// 3: cubic, a = -0.5.
    Bicubic,
    /// 4: box.
    Box,
    /// 5: Hamming-windowed sinc.
    Hamming,
}

impl Filter {
    /// The filter PIL numbers `id`.
    pub fn from_pil(id: i64) -> Option<Self> {
        [Filter::Nearest, Filter::Lanczos, Filter::Bilinear, Filter::Bicubic, Filter::Box, Filter::Hamming]
            .get(usize::try_from(id).ok()?)
            .copied()
    }

    fn support(self) -> f64 {
        match self {
            Filter::Nearest | Filter::Box => 0.5,
            Filter::Bilinear | Filter::Hamming => 1.0,
            Filter::Bicubic => 2.0,
            Filter::Lanczos => 3.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let sinc = |x: f64| if x == 0.0 { 1.0 } else { (x * std::f64::consts::PI).sin() / (x * std::f64::consts::PI) };
        match self {
            Filter::Nearest | Filter::Box => f64::from(u8::from(x > -0.5 && x <= 0.5)),
            Filter::Bilinear => (1.0 - x.abs()).max(0.0),
            Filter::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let t = x * std::f64::consts::PI;
                    // Pillow writes the window's constants as C floats.
                    t.sin() / t * (f64::from(0.54_f32) + f64::from(0.46_f32) * t.cos())
                }
            }
            Filter::Bicubic => {
                let (a, x) = (-0.5, x.abs());
                if x < 1.0 {
                    ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * a
                } else {
                    0.0
                }
            }
            Filter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

/// An 8-bit RGB image, row-major, three bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb8 {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height * width * 3` bytes.
    pub pixels: Vec<u8>,
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// For each output position: the first input index, and the fixed-point weights from there.
fn coefficients(in_size: usize, out_size: usize, filter: Filter) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter.support() * filter_scale;
    (0..out_size)
        .map(|out| {
            let center = (out as f64 + 0.5) * scale;
            let first = ((center - support + 0.5) as i64).max(0) as usize;
            let last = ((center + support + 0.5) as i64).min(in_size as i64).max(first as i64) as usize;
            let weights: Vec<f64> =
                (first..last).map(|x| filter.weight((x as f64 - center + 0.5) / filter_scale)).collect();
            let total: f64 = weights.iter().sum();
            let fixed = weights
                .iter()
                .map(|w| {
                    let w = if total != 0.0 { w / total } else { *w };
                    let scaled = w * f64::from(1_u32 << PRECISION_BITS);
                    (if scaled < 0.0 { scaled - 0.5 } else { scaled + 0.5 }) as i32
                })
                .collect();
            (first, fixed)
        })
        .collect()
}

/// One pass along rows (`horizontal`) or columns, to `out_size` along that axis.
fn pass(image: &Rgb8, out_size: usize, filter: Filter, horizontal: bool) -> Rgb8 {
    let in_size = if horizontal { image.width } else { image.height };
    let (width, height) = if horizontal { (out_size, image.height) } else { (image.width, out_size) };
    let mut pixels = vec![0_u8; width * height * 3];
    let nearest = filter == Filter::Nearest;
    let taps = if nearest { Vec::new() } else { coefficients(in_size, out_size, filter) };
    let scale = in_size as f64 / out_size as f64;
    for y in 0..height {
        for x in 0..width {
            let out = if horizontal { x } else { y };
            let source = |i: usize| if horizontal { (y * image.width + i) * 3 } else { (i * image.width + x) * 3 };
            let target = (y * width + x) * 3;
            if nearest {
                let i = (((out as f64 + 0.5) * scale) as usize).min(in_size - 1);
                pixels[target..target + 3].copy_from_slice(&image.pixels[source(i)..source(i) + 3]);
                continue;
            }
            let (first, weights) = &taps[out];
            for channel in 0..3 {
                let mut sum: i64 = 1 << (PRECISION_BITS - 1);
                for (offset, weight) in weights.iter().enumerate() {
                    sum += i64::from(image.pixels[source(first + offset) + channel]) * i64::from(*weight);
                }
                pixels[target + channel] = (sum >> PRECISION_BITS).clamp(0, 255) as u8;
            }
        }
    }
    Rgb8 { width, height, pixels }
}

/// `image` resized to `width` x `height` with `filter`, as `PIL.Image.resize` gives it.
pub fn resize(image: &Rgb8, width: usize, height: usize, filter: Filter) -> Rgb8 {
    // Horizontal first, then vertical, each only where the size changes (as Pillow does;
    // its nearest filter samples `int((i + 0.5) * scale)` on each axis alike).
    let mut out = image.clone();
    if width != image.width {
        out = pass(&out, width, filter, true);
    }
    if height != image.height {
        out = pass(&out, height, filter, false);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_of_each_row_sum_to_one_in_fixed_point() {
        for filter in [Filter::Bilinear, Filter::Bicubic, Filter::Lanczos, Filter::Hamming, Filter::Box] {
            for (from, to) in [(83, 224), (400, 224), (224, 224), (5, 2)] {
                for (_, weights) in coefficients(from, to, filter) {
                    let sum: i64 = weights.iter().map(|w| i64::from(*w)).sum();
                    assert!(
                        (sum - (1 << PRECISION_BITS)).abs() <= weights.len() as i64,
                        "{filter:?} {from}->{to}: {sum}"
                    );
                }
            }
        }
    }

    #[test]
    fn halving_with_bilinear_averages_pairs_as_computed_by_hand() {
        // A row 0, 100, 200, 50 halved: each output pixel's triangle, widened by 2, covers
        // input pixels at distances 0.25 and 0.75 (weights 0.375 and 0.125 each side, normalised).
        let image = Rgb8 { width: 4, height: 1, pixels: [0_u8, 100, 200, 50].iter().flat_map(|v| [*v; 3]).collect() };
        let half = resize(&image, 2, 1, Filter::Bilinear);
        // out0 = (0*0.375 + 100*0.375 + 200*0.125) / 0.875 = 71.43 -> 71; out1 = (100*0.125 + 200*0.375 + 50*0.375) / 0.875 = 121.43 -> 121
        assert_eq!(half.pixels, [71, 71, 71, 121, 121, 121]);
        assert_eq!(resize(&image, 4, 1, Filter::Bicubic), image, "the same size is a copy");
        assert_eq!(Filter::from_pil(2), Some(Filter::Bilinear));
        assert_eq!(Filter::from_pil(7), None);
    }
}
