//! Compares outputs with the eager PyTorch reference: shapes, finiteness, tolerance.

use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::spec::{ModelSpec, Tolerance};

/// How one output compared.
#[derive(Debug, Clone)]
pub struct OutputDiff {
    /// Output name.
    pub name: String,
    /// Largest |actual - reference|.
    pub max_abs: f64,
    /// Largest |actual - reference| / |reference| (where the reference is non-zero).
    pub max_rel: f64,
}

/// Compares `actual` (spec order) with `reference` (name -> tensor) for input set `a` or `b`.
pub fn compare(spec: &ModelSpec, set: char, actual: &[Tensor], reference: &[(String, Tensor)]) -> Result<Vec<OutputDiff>> {
    let varied = set == 'b';
    let mut diffs = Vec::new();
    for (output, got) in spec.outputs.iter().zip(actual) {
        let want = reference
            .iter()
            .find(|(name, _)| name == output.name)
            .map(|(_, t)| t)
            .ok_or_else(|| Error::Mismatch(format!("set {set}: reference has no output `{}`", output.name)))?;
        let got = got.to_device(tch::Device::Cpu).to_kind(Kind::Double);
        let want = want.to_kind(Kind::Double);
        let declared = spec.resolve(output.shape, varied);
        let fits = got.size().len() == declared.len() && got.size().iter().zip(&declared).all(|(g, d)| *d == -1 || g == d);
        if !fits {
            return Err(Error::Mismatch(format!("set {set}: output `{}` has shape {:?}, the spec declares {declared:?}", output.name, got.size())));
        }
        if got.size() != want.size() {
            return Err(Error::Mismatch(format!("set {set}: output `{}` has shape {:?}, the reference {:?}", output.name, got.size(), want.size())));
        }
        if got.isfinite().logical_not().any().int64_value(&[]) == 1 {
            return Err(Error::Mismatch(format!("set {set}: output `{}` contains NaN or infinity", output.name)));
        }
        diffs.push(diff(output.name, &got, &want, spec.tolerance, set)?);
    }
    Ok(diffs)
}

/// Element-wise tolerance check of one tensor against its reference.
pub fn diff(name: &str, got: &Tensor, want: &Tensor, tolerance: Tolerance, set: char) -> Result<OutputDiff> {
    if got.numel() == 0 {
        return Ok(OutputDiff { name: name.into(), max_abs: 0.0, max_rel: 0.0 });
    }
    let delta = (got - want).abs();
    let max_abs = delta.max().double_value(&[]);
    let nonzero = want.abs().gt(0.0);
    let max_rel = if nonzero.any().int64_value(&[]) == 1 {
        (&delta / want.abs().clamp_min(f64::MIN_POSITIVE)).masked_select(&nonzero).max().double_value(&[])
    } else {
        0.0
    };
    let allowed = want.abs() * tolerance.rel + tolerance.abs;
    let excess = (&delta - &allowed).max().double_value(&[]);
    if excess > 0.0 {
        let worst = (&delta - &allowed).argmax(None, false).int64_value(&[]);
        return Err(Error::Mismatch(format!(
            "set {set}: output `{name}` differs from the eager PyTorch reference: max abs diff {max_abs:.3e}, max rel diff {max_rel:.3e}, tolerance abs {:.1e} + rel {:.1e} (worst element at flat index {worst}: got {:.6e}, reference {:.6e})",
            tolerance.abs,
            tolerance.rel,
            got.flatten(0, -1).double_value(&[worst]),
            want.flatten(0, -1).double_value(&[worst]),
        )));
    }
    Ok(OutputDiff { name: name.into(), max_abs, max_rel })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{DimRef, TensorSpec};

    static OUTPUTS: [TensorSpec; 1] = [TensorSpec { name: "y", dtype: None, shape: &[DimRef::Fixed(2), DimRef::Fixed(2)] }];
    static SPEC: ModelSpec = ModelSpec {
        model_type: "unit",
        display_name: "unit",
        family: "other",
        modality: &[],
        task: "test",
        config_class: "C",
        model_class: "M",
        checkpoint: "",
        source: "metadata/models/unit.yaml",
        key_model: false,
        dims: &[],
        inputs: &[],
        outputs: &OUTPUTS,
        tolerance: Tolerance { abs: 1e-4, rel: 1e-4 },
        request_json: "{}",
    };

    fn reference() -> Vec<(String, Tensor)> {
        vec![("y".to_string(), Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]))]
    }

    #[test]
    fn within_tolerance_passes_and_reports_diffs() {
        let got = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.00005]).reshape([2, 2]);
        let diffs = compare(&SPEC, 'a', &[got], &reference()).unwrap();
        assert!(diffs[0].max_abs > 4e-5 && diffs[0].max_abs < 6e-5, "{:?}", diffs);
    }

    #[test]
    fn out_of_tolerance_fails_with_the_diff() {
        let got = Tensor::from_slice(&[1.0f32, 2.0, 3.5, 4.0]).reshape([2, 2]);
        let message = compare(&SPEC, 'b', &[got], &reference()).unwrap_err().to_string();
        assert!(message.contains("max abs diff 5.000e-1") && message.contains("flat index 2"), "{message}");
    }

    #[test]
    fn wrong_shape_and_nan_fail() {
        let wide = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([1, 4]);
        assert!(compare(&SPEC, 'a', &[wide], &reference()).unwrap_err().to_string().contains("shape [1, 4]"));
        let nan = Tensor::from_slice(&[1.0f32, f32::NAN, 3.0, 4.0]).reshape([2, 2]);
        assert!(compare(&SPEC, 'a', &[nan], &reference()).unwrap_err().to_string().contains("NaN"));
    }
}
