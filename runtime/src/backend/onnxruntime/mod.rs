//! The ONNX Runtime backend for Qualcomm QNN: the QNN execution provider on the HTP backend,
//! with `session.disable_cpu_ep_fallback = 1`, so a graph that does not fit QNN entirely is an
//! error, never a pass on ONNX Runtime's CPU kernels. ONNX Runtime is loaded at run time from
//! the project venv (`ort` with `load-dynamic`; never the crate's own binary download).
//! Everything that names an `ort` type lives in this folder.
//!
//! Precision: QNN's HTP runs float32 graphs in fp16 (`enable_htp_fp16_precision`, on by
//! default, kept on: the HTP has no float32 datapath). Checks on `qnn` therefore compare with
//! fp16's tolerance ([`FP16_RELATIVE`]), stated with every result.
//! Shapes: QNN takes static shapes only; the backend loads the `onnx-static` artifact, one
//! graph per input set, and runs the graph whose shapes the inputs have.

mod convert;
pub mod library;

use std::sync::Mutex;

use ort::session::Session;

use super::{Backend, LoadedModel};
use crate::artifacts::{Artifact, ArtifactFormat, StaticGraph};
use crate::error::{Error, Result};
use crate::hardware::Detection;
use crate::measure::Measurement;
use crate::tensor::HostTensor;
use crate::Hardware;

/// Relative tolerance of fp16 arithmetic on the HTP (about 2^-10, with headroom for a few
/// accumulated roundings): added to every checked output's tolerance on `qnn`.
pub const FP16_RELATIVE: f64 = 1e-2;

/// ONNX Runtime with the QNN execution provider.
pub struct QnnBackend;

/// One static-shape graph per input set, each in its own QNN session.
pub struct QnnModel {
    graphs: Vec<Graph>,
}

struct Graph {
    /// The file and the input shapes the graph was compiled for.
    graph: StaticGraph,
    /// For each session input (in session order), the index of the spec input it takes.
    inputs: Vec<usize>,
    session: Mutex<Session>,
}

/// An ONNX Runtime error as the runtime's.
pub(crate) fn engine_error(error: impl std::fmt::Display) -> Error {
    Error::Engine { engine: "onnxruntime", message: error.to_string() }
}

impl Backend for QnnBackend {
    fn name(&self) -> &'static str {
        "onnxruntime-qnn"
    }

    fn formats(&self) -> &'static [ArtifactFormat] {
        &[ArtifactFormat::OnnxStatic]
    }

    fn detect(&self, hardware: Hardware) -> Detection {
        match library::detect() {
            Ok((device, version)) => Detection::new(
                hardware,
                true,
                device,
                version,
                "a Qualcomm HTP device, QNN's HTP backend and ONNX Runtime are present".to_string(),
            ),
            Err(reason) => Detection::new(hardware, false, String::new(), String::new(), reason),
        }
    }

    fn load(&self, hardware: Hardware, artifact: &Artifact, input_names: &[&str]) -> Result<Box<dyn LoadedModel>> {
        if hardware != Hardware::Qnn {
            return Err(Error::HardwareAbsent { hardware: hardware.id(), reason: "not a QNN backend".into() });
        }
        if artifact.format != ArtifactFormat::OnnxStatic {
            return Err(Error::Artifact {
                path: artifact.dir.clone(),
                message: format!("the qnn backend loads onnx-static artifacts, not {}", artifact.format.id()),
            });
        }
        let htp = library::htp_backend().map_err(|reason| Error::HardwareAbsent { hardware: "qnn", reason })?;
        let mut graphs = Vec::new();
        for graph in artifact.static_graphs(input_names)? {
            let session = library::qnn_session(&graph.file, &htp)?;
            let inputs = session
                .inputs()
                .iter()
                .map(|outlet| {
                    input_names.iter().position(|n| *n == outlet.name()).ok_or_else(|| {
                        engine_error(format!("graph input `{}` is none of the spec's inputs", outlet.name()))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            graphs.push(Graph { graph, inputs, session: Mutex::new(session) });
        }
        Ok(Box::new(QnnModel { graphs }))
    }

    fn precision_relative(&self) -> f64 {
        FP16_RELATIVE
    }

    fn settings(&self) -> Vec<Measurement> {
        vec![
            Measurement::new("qnn_htp_fp16", 1.0, "flag"),
            Measurement::new("tolerance_fp16_relative", FP16_RELATIVE, "rel"),
        ]
    }
}

impl LoadedModel for QnnModel {
    fn forward(&self, inputs: &[HostTensor]) -> Result<Vec<HostTensor>> {
        let graph = self.graphs.iter().find(|g| g.graph.fits(inputs)).ok_or_else(|| {
            Error::Mismatch(format!(
                "QNN takes static shapes: no graph of this artifact was compiled for input shapes {:?}",
                inputs.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>()
            ))
        })?;
        let values = graph.inputs.iter().map(|&i| convert::to_ort(&inputs[i])).collect::<Result<Vec<_>>>()?;
        let mut session = graph.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let outputs = session.run(values.as_slice()).map_err(engine_error)?;
        outputs.values().map(convert::from_ort).collect()
    }
}
