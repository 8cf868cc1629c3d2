//! Compares outputs with the eager PyTorch reference: shapes, finiteness, and each output's
//! tolerance as the exporter derived it from measured float32 error. The rule is stated once
//! in `runtime/exporter/parity_rule.json`; `runtime/exporter/parity.py` is its Python side
//! (the exporter and the harvester's probe), and both are tested on `parity_cases.json`.

use export_request::Category;

use crate::artifacts::{OutputStatus, OutputTolerance, Parity};
use crate::error::{Error, Result};
use crate::spec::{InputSet, ModelSpec};
use crate::tensor::HostTensor;

/// How one output compared.
#[derive(Debug, Clone)]
pub struct OutputDiff {
    /// Output name.
    pub name: String,
    /// Largest |actual - reference|.
    pub max_abs: f64,
    /// Largest |actual - reference| / |reference| (where the reference is non-zero).
    pub max_rel: f64,
    /// Whether its values were compared.
    pub status: OutputStatus,
}

/// The verdict wordings of `runtime/exporter/parity_rule.json` (`verdicts`), shared with the
/// Python side.
fn verdict_wording(category: Category) -> &'static str {
    static RULE: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    let rule = RULE.get_or_init(|| {
        serde_json::from_str(include_str!("../exporter/parity_rule.json")).expect("parity_rule.json is JSON")
    });
    rule["verdicts"][category.id()].as_str().expect("parity_rule.json words every verdict")
}

/// A number as the verdicts write it: Python's `.3e` (`2.705e+00`), `nan` when absent.
pub fn sci(value: Option<f64>) -> String {
    let Some(value) = value.filter(|v| v.is_finite()) else {
        return match value {
            Some(v) if v.is_infinite() => if v > 0.0 { "inf" } else { "-inf" }.to_string(),
            _ => "nan".to_string(),
        };
    };
    let text = format!("{value:.3e}");
    let (mantissa, exponent) = text.split_once('e').expect("`e` formatting has an exponent");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    format!("{mantissa}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs())
}

/// The failure category of an artifact whose outputs cannot be checked: `chaotic` when some
/// output is, `no-signal` when no output carries any; `None` when the check means something.
/// Worded as `parity_rule.json` says; the shared cases test both implementations.
pub fn verdict(parity: &Parity) -> Option<(Category, String)> {
    let (chaotic, no_signal) = (Category::Chaotic, Category::NoSignal);
    if let Some((name, o)) = parity.outputs.iter().find(|(_, o)| o.status == OutputStatus::Chaotic) {
        let text = verdict_wording(chaotic)
            .replace("{name}", name)
            .replace("{float32_error}", &sci(o.float32_error))
            .replace("{scale}", &sci(Some(o.scale)));
        return Some((chaotic, text));
    }
    if !parity.outputs.is_empty() && parity.outputs.values().all(|o| o.status == OutputStatus::NoSignal) {
        let name = parity.outputs.keys().next().map(String::as_str).unwrap_or("?");
        return Some((no_signal, verdict_wording(no_signal).replace("{name}", name)));
    }
    None
}

/// Where `actual` breaks `|actual - reference| <= abs + rel * |reference|`: the index of the
/// worst element, or `None` when every element passes. Both slices have the same length.
pub fn worst_violation(actual: &[f64], reference: &[f64], abs: f64, rel: f64) -> Option<usize> {
    let mut worst: Option<(usize, f64)> = None;
    for (index, (a, r)) in actual.iter().zip(reference).enumerate() {
        let excess = (a - r).abs() - (abs + rel * r.abs());
        // NaN never passes.
        if (excess > 0.0 || excess.is_nan()) && worst.is_none_or(|(_, w)| excess > w || excess.is_nan()) {
            worst = Some((index, if excess.is_nan() { f64::INFINITY } else { excess }));
        }
    }
    worst.map(|(index, _)| index)
}

/// The tolerances for an engine whose arithmetic adds relative error `relative` (fp16 on QNN's
/// HTP): every checked output also allows `relative` of its value and of its scale.
pub fn widened(mut parity: Parity, relative: f64) -> Parity {
    if relative > 0.0 {
        for output in parity.outputs.values_mut().filter(|o| o.status == OutputStatus::Checked) {
            output.rel += relative;
            output.abs = output.abs.max(relative * output.scale);
        }
    }
    parity
}

/// Compares `actual` (spec order) with `reference` (name -> tensor) for input set `a` or `b`.
pub fn compare(
    spec: &ModelSpec,
    set: InputSet,
    actual: &[HostTensor],
    reference: &[(String, HostTensor)],
    parity: &Parity,
) -> Result<Vec<OutputDiff>> {
    let varied = set == InputSet::B;
    let mut diffs = Vec::new();
    for (output, got) in spec.outputs.iter().zip(actual) {
        let want = reference
            .iter()
            .find(|(name, _)| *name == output.name)
            .map(|(_, t)| t)
            .ok_or_else(|| Error::Mismatch(format!("set {set}: reference has no output `{}`", output.name)))?;
        let tolerance = parity.outputs.get(&*output.name).ok_or_else(|| {
            Error::Mismatch(format!("the artifact's manifest has no tolerance for output `{}`", output.name))
        })?;
        let declared = spec.resolve(&output.shape, varied);
        let fits =
            got.shape().len() == declared.len() && got.shape().iter().zip(&declared).all(|(g, d)| *d == -1 || g == d);
        if !fits {
            return Err(Error::Mismatch(format!(
                "set {set}: output `{}` has shape {:?}, the spec declares {declared:?}",
                output.name,
                got.shape()
            )));
        }
        if got.shape() != want.shape() {
            return Err(Error::Mismatch(format!(
                "set {set}: output `{}` has shape {:?}, the reference {:?}",
                output.name,
                got.shape(),
                want.shape()
            )));
        }
        diffs.push(diff(&output.name, got, want, tolerance, set)?);
    }
    Ok(diffs)
}

/// Element-wise check of one tensor against its reference under its derived tolerance.
pub fn diff(
    name: &str,
    got: &HostTensor,
    want: &HostTensor,
    tolerance: &OutputTolerance,
    set: InputSet,
) -> Result<OutputDiff> {
    let actual = got.to_f64_vec();
    let reference = want.to_f64_vec();
    if actual.iter().any(|v| !v.is_finite()) {
        return Err(Error::Mismatch(format!("set {set}: output `{name}` contains NaN or infinity")));
    }
    let max_abs = actual.iter().zip(&reference).map(|(a, r)| (a - r).abs()).fold(0.0, f64::max);
    let max_rel = actual
        .iter()
        .zip(&reference)
        .filter(|(_, r)| **r != 0.0)
        .map(|(a, r)| (a - r).abs() / r.abs())
        .fold(0.0, f64::max);
    let (abs, rel) = match tolerance.status {
        OutputStatus::Exact => (0.0, 0.0),
        OutputStatus::Checked => (tolerance.abs, tolerance.rel),
        // Nothing to compare (or nothing reliable): shape and finiteness were checked.
        OutputStatus::NoSignal | OutputStatus::Chaotic => {
            return Ok(OutputDiff { name: name.into(), max_abs, max_rel, status: tolerance.status })
        }
    };
    if let Some(worst) = worst_violation(&actual, &reference, abs, rel) {
        let derived = match tolerance.float32_error {
            Some(error) => format!("derived from the float32 error {error:.2e} at scale {:.2e}", tolerance.scale),
            None if tolerance.status == OutputStatus::Exact => "integers must be equal".to_string(),
            None => format!("fallback: a share of the scale {:.2e}", tolerance.scale),
        };
        return Err(Error::Mismatch(format!(
            "set {set}: output `{name}` differs from the eager PyTorch reference: max abs diff {max_abs:.3e}, max rel diff {max_rel:.3e}, tolerance abs {abs:.2e} + rel {rel:.1e} ({derived}; worst element at flat index {worst}: got {:.6e}, reference {:.6e})",
            actual[worst], reference[worst],
        )));
    }
    Ok(OutputDiff { name: name.into(), max_abs, max_rel, status: tolerance.status })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::spec::{Cow, DimRef, TensorSpec};

    static OUTPUTS: [TensorSpec; 1] = [TensorSpec::new("y", None, &[DimRef::Fixed(2), DimRef::Fixed(2)])];
    static SPEC: ModelSpec = ModelSpec {
        model_type: "unit",
        display_name: "unit",
        family: "other",
        modality: &[],
        task: "test",
        config_class: "C",
        model_class: Cow::Borrowed("M"),
        checkpoint: "",
        source: "metadata/models/unit.yaml",
        key_model: false,
        dims: Cow::Borrowed(&[]),
        inputs: Cow::Borrowed(&[]),
        outputs: Cow::Borrowed(&OUTPUTS),
        constants: Cow::Borrowed(&[]),
        run_seed: None,
        request_json: Cow::Borrowed("{}"),
    };

    fn parity(status: OutputStatus, abs: f64) -> Parity {
        let entry = OutputTolerance { status, abs, rel: 0.0, scale: 4.0, float32_error: Some(abs / 16.0) };
        Parity {
            rule: 1,
            method: crate::artifacts::ParityMethod::Float64,
            fallback_reason: None,
            outputs: BTreeMap::from([("y".to_string(), entry)]),
        }
    }

    fn reference() -> Vec<(String, HostTensor)> {
        vec![("y".to_string(), HostTensor::new(&[2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap())]
    }

    fn tensor(values: [f32; 4]) -> HostTensor {
        HostTensor::new(&[2, 2], values.to_vec()).unwrap()
    }

    #[test]
    fn within_tolerance_passes_and_reports_diffs() {
        let diffs = compare(
            &SPEC,
            InputSet::A,
            &[tensor([1.0, 2.0, 3.0, 4.000005])],
            &reference(),
            &parity(OutputStatus::Checked, 1e-5),
        )
        .unwrap();
        assert!(diffs[0].max_abs > 4e-6 && diffs[0].max_abs < 6e-6, "{:?}", diffs);
    }

    #[test]
    fn out_of_tolerance_fails_with_the_diff_and_where_the_tolerance_came_from() {
        let message = compare(
            &SPEC,
            InputSet::B,
            &[tensor([1.0, 2.0, 3.5, 4.0])],
            &reference(),
            &parity(OutputStatus::Checked, 1e-5),
        )
        .unwrap_err()
        .to_string();
        assert!(message.contains("max abs diff 5.000e-1") && message.contains("flat index 2"), "{message}");
        assert!(message.contains("derived from the float32 error"), "{message}");
    }

    #[test]
    fn a_change_of_one_hundredth_in_one_value_fails() {
        let reference = reference();
        let changed = reference[0].1.with_f32_offset(1, 1e-2).unwrap();
        let tolerances = parity(OutputStatus::Checked, 16.0 * 5e-7);
        assert!(compare(&SPEC, InputSet::A, &[reference[0].1.clone()], &reference, &tolerances).is_ok());
        let message = compare(&SPEC, InputSet::A, &[changed], &reference, &tolerances).unwrap_err().to_string();
        assert!(message.contains("flat index 1"), "{message}");
    }

    #[test]
    fn wrong_shape_and_nan_fail() {
        let wide = HostTensor::new(&[1, 4], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let tolerances = parity(OutputStatus::Checked, 1e-5);
        assert!(compare(&SPEC, InputSet::A, &[wide], &reference(), &tolerances)
            .unwrap_err()
            .to_string()
            .contains("shape [1, 4]"));
        let nan = tensor([1.0, f32::NAN, 3.0, 4.0]);
        assert!(compare(&SPEC, InputSet::A, &[nan], &reference(), &tolerances)
            .unwrap_err()
            .to_string()
            .contains("NaN"));
    }

    #[test]
    fn chaotic_and_silent_outputs_are_not_passes() {
        let chaotic = parity(OutputStatus::Chaotic, 1.0);
        assert_eq!(verdict(&chaotic).map(|(c, _)| c), Some(Category::Chaotic));
        assert_eq!(verdict(&parity(OutputStatus::NoSignal, 0.0)).map(|(c, _)| c), Some(Category::NoSignal));
        assert!(verdict(&parity(OutputStatus::Checked, 1e-6)).is_none());
    }

    #[test]
    fn numbers_are_written_as_python_writes_them() {
        assert_eq!(sci(Some(2.705)), "2.705e+00");
        assert_eq!(sci(Some(0.06868)), "6.868e-02");
        assert_eq!(sci(Some(-1.5e-120)), "-1.500e-120");
        assert_eq!(sci(None), "nan");
    }

    #[test]
    fn the_shared_verdict_cases_hold() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("exporter/parity_cases.json");
        let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let cases = cases["verdict_cases"].as_array().unwrap();
        assert!(cases.len() >= 5);
        for case in cases {
            let outputs = case["outputs"].as_object().unwrap().iter().map(|(name, o)| {
                let mut o = o.clone();
                o["abs"] = 0.0.into();
                o["rel"] = 0.0.into();
                (name.clone(), serde_json::from_value(o).unwrap())
            });
            let parity = Parity {
                rule: 1,
                method: crate::artifacts::ParityMethod::Float64,
                fallback_reason: None,
                outputs: outputs.collect(),
            };
            let got = verdict(&parity);
            assert_eq!(got.as_ref().map(|(c, _)| c.id()), case["category"].as_str(), "case {}", case["name"]);
            if let Some(message) = case["message"].as_str() {
                assert_eq!(got.map(|(_, m)| m).as_deref(), Some(message), "case {}", case["name"]);
            }
        }
    }

    #[test]
    fn the_shared_parity_cases_hold() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("exporter/parity_cases.json");
        let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let cases = cases["cases"].as_array().unwrap();
        assert!(cases.len() >= 8);
        for case in cases {
            let values = |key: &str| -> Vec<f64> {
                let raw = case[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap());
                // As the Python side does: float cases in float32, integer cases exactly.
                if case["integer"].as_bool() == Some(true) {
                    raw.collect()
                } else {
                    raw.map(|v| f64::from(v as f32)).collect()
                }
            };
            let (abs, rel) = if case["integer"].as_bool() == Some(true) {
                (0.0, 0.0)
            } else {
                (case["abs"].as_f64().unwrap(), case["rel"].as_f64().unwrap())
            };
            let passes = worst_violation(&values("actual"), &values("reference"), abs, rel).is_none();
            assert_eq!(passes, case["passes"].as_bool().unwrap(), "case {}", case["name"]);
        }
    }
}
