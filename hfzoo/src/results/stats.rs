//! The statistics behind `hfzoo compare`: medians and the two-sided Mann-Whitney U test on
//! the stored latency samples, so that a change counts only beyond run-to-run noise.

/// Median of unsorted samples (`NaN` when empty).
pub fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Two-sided p-value of the Mann-Whitney U test that `a` and `b` come from one distribution:
/// the normal approximation with tie correction and continuity correction. `None` when a
/// side is empty or every sample is equal (nothing to test).
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> Option<f64> {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mut all: Vec<(f64, bool)> = a.iter().map(|v| (*v, true)).chain(b.iter().map(|v| (*v, false))).collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Average ranks over ties; collect the tie term sum(t^3 - t).
    let (mut rank_sum_a, mut ties, mut i) = (0.0, 0.0, 0);
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let count = (j - i + 1) as f64;
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_a += rank * all[i..=j].iter().filter(|(_, from_a)| *from_a).count() as f64;
        ties += count * count * count - count;
        i = j + 1;
    }
    let u = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let n = n1 + n2;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if variance <= 0.0 {
        return None;
    }
    let z = ((u - n1 * n2 / 2.0).abs() - 0.5).max(0.0) / variance.sqrt();
    Some((2.0 * normal_upper_tail(z)).min(1.0))
}

/// P(Z > z) for a standard normal Z (Abramowitz-Stegun 7.1.26 via erfc; error below 1.5e-7).
fn normal_upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    0.5 * poly * (-x * x).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn separated_samples_are_significant_and_mixed_ones_are_not() {
        let base: Vec<f64> = (0..10).map(|i| 1.0 + 0.01 * f64::from(i)).collect();
        let slow: Vec<f64> = base.iter().map(|v| v + 1.0).collect();
        // Completely separated samples of 10 and 10: z = 3.74, p = 1.8e-4.
        let p = mann_whitney_p(&base, &slow).unwrap();
        assert!((p - 1.8e-4).abs() < 0.2e-4, "{p}");
        let interleaved: Vec<f64> = base.iter().map(|v| v + 0.005).collect();
        assert!(mann_whitney_p(&base, &interleaved).unwrap() > 0.5);
    }

    #[test]
    fn constant_or_empty_samples_cannot_be_tested() {
        assert_eq!(mann_whitney_p(&[1.0, 1.0], &[1.0, 1.0]), None);
        assert_eq!(mann_whitney_p(&[], &[1.0]), None);
    }

    #[test]
    fn the_normal_tail_matches_known_values() {
        assert!((normal_upper_tail(0.0) - 0.5).abs() < 1e-6);
        assert!((normal_upper_tail(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_upper_tail(3.290_527) - 0.0005).abs() < 1e-6);
    }
}
