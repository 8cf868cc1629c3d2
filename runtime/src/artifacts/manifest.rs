//! What the exporter writes into `manifest.json` beside an artifact, as typed data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Whether the exporter built an artifact, as `status` says in `manifest.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManifestStatus {
    /// Built and checked on both input sets.
    Ok,
    /// Not built: the manifest holds the error, its category and whether it may not repeat.
    Error,
    /// A fallback format left unbuilt because the preferred one was written and checked
    /// (`runtime/exporter/export.py`, `record_not_needed`).
    NotNeeded,
}

/// An artifact's manifest: a built artifact (`ok`) or a recorded failure (`error`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Built or not.
    pub status: ManifestStatus,
    /// Artifact key.
    #[serde(default)]
    pub key: String,
    /// Model type.
    #[serde(default)]
    pub model_type: String,
    /// The artifact's format (`torchscript`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<super::ArtifactFormat>,
    /// The model file inside the artifact directory (`model.pt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Failure category as the metadata spells it (`build`, `torchscript`, `timeout`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<export_request::Category>,
    /// A failure that may not repeat (a time-out, a crash): retried by the next run.
    #[serde(default)]
    pub transient: bool,
    /// First line of the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How the model file was written: the exporter (`torchscript-opset17`, `dynamo-opset18`,
    /// `openvino-pytorch-frontend-2026.4.1`, ...) and its timings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<serde_json::Value>,
    /// Tolerances and verdicts per output, derived from measured float32 error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<Parity>,
}

/// The comparison rule's numbers for one artifact (see `runtime/exporter/parity_rule.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Parity {
    /// Version of the rule that derived them.
    pub rule: u32,
    /// How the tolerances were derived.
    pub method: ParityMethod,
    /// Why float64 did not run, for `fallback`.
    #[serde(default)]
    pub fallback_reason: Option<String>,
    /// Per output name.
    pub outputs: BTreeMap<String, OutputTolerance>,
}

/// How an artifact's tolerances were derived, as `parity.method` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParityMethod {
    /// Measured: the float32 eager outputs against a float64 reference.
    Float64,
    /// The rule's fixed fallback, because float64 did not run (`fallback_reason` says why).
    Fallback,
}

/// One output's tolerance and whether it can be checked.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct OutputTolerance {
    /// `checked`, `exact` (integers), `chaotic` or `no-signal`.
    pub status: OutputStatus,
    /// Absolute part.
    pub abs: f64,
    /// Relative part.
    pub rel: f64,
    /// Largest |reference|.
    pub scale: f64,
    /// Largest |float32 - float64| eager difference; absent for the fallback and integers.
    #[serde(default)]
    pub float32_error: Option<f64>,
}

/// Whether an output's comparison means anything.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OutputStatus {
    /// Compared within the derived tolerance.
    Checked,
    /// Integers or booleans: compared for equality.
    Exact,
    /// float32 rounding alone moves it by a share of its size: no backend can match it reliably.
    Chaotic,
    /// Every value is zero (floats) or one value everywhere (integers): the comparison would
    /// accept anything.
    NoSignal,
}

#[cfg(test)]
mod tests {
    use super::super::ArtifactFormat;
    use super::*;

    /// The ids the exporter writes parse into the typed fields, and an unknown one is refused.
    #[test]
    fn status_format_and_category_read_as_the_exporter_writes_them() {
        for format in ArtifactFormat::ALL {
            assert_eq!(serde_json::to_value(format).unwrap(), format.id());
        }
        let manifest: Manifest = serde_json::from_str(
            r#"{"status": "error", "format": "openvino-ir", "category": "onnx-export", "transient": false}"#,
        )
        .unwrap();
        assert_eq!(manifest.status, ManifestStatus::Error);
        assert_eq!(manifest.format, Some(ArtifactFormat::OpenvinoIr));
        assert_eq!(manifest.category, Some(export_request::Category::OnnxExport));
        let skipped: Manifest = serde_json::from_str(r#"{"status": "not-needed", "format": "onnx-static"}"#).unwrap();
        assert_eq!((skipped.status, skipped.format), (ManifestStatus::NotNeeded, Some(ArtifactFormat::OnnxStatic)));
        let error = serde_json::from_str::<Manifest>(r#"{"status": "fine"}"#).unwrap_err().to_string();
        assert!(error.contains("unknown variant `fine`"), "{error}");
    }
}
