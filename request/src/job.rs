//! The export job: what the runtime sends `runtime/exporter/export.py` on stdin, one document
//! per exporter process (`{"jobs": [...]}`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ExportRequest;

/// What one exporter process is sent: the jobs it runs in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportBatch {
    /// The jobs, in order.
    pub jobs: Vec<ExportJob>,
}

/// One model, built once and exported to each of its artifacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportJob {
    /// The torch device the model and its references run on (`cpu`, `cuda`).
    pub device: String,
    /// The model's exporter request.
    pub request: ExportRequest,
    /// The artifacts to write.
    pub artifacts: Vec<JobArtifact>,
}

/// One artifact of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobArtifact {
    /// The format's id (`torchscript`, `onnx`, `openvino-ir`, ...).
    pub format: String,
    /// The artifact's key.
    pub key: String,
    /// The folder it is published to.
    pub dir: PathBuf,
    /// The format whose artifact, once written and checked, makes this one unnecessary (the
    /// exporter then writes a `not-needed` manifest); `null` for none.
    pub fallback_for: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_reads_as_the_exporter_reads_it() {
        let request = crate::tests::sample();
        let batch = ExportBatch {
            jobs: vec![ExportJob {
                device: "cpu".into(),
                request: request.clone(),
                artifacts: vec![JobArtifact {
                    format: "onnx-static".into(),
                    key: "k".into(),
                    dir: "/cache/x".into(),
                    fallback_for: None,
                }],
            }],
        };
        let json = serde_json::to_value(&batch).unwrap();
        assert_eq!(json["jobs"][0]["device"], "cpu");
        assert_eq!(json["jobs"][0]["request"]["version"], crate::VERSION);
        assert_eq!(json["jobs"][0]["artifacts"][0]["dir"], "/cache/x");
        assert!(json["jobs"][0]["artifacts"][0]["fallback_for"].is_null(), "written as null: export.py indexes it");
        assert_eq!(serde_json::from_value::<ExportBatch>(json).unwrap(), batch);
    }
}
