//! Inference engines behind one trait. Torch (tch) serves cpu, cuda, rocm and mps; OpenVINO
//! serves openvino; ONNX Runtime serves qnn; the browser (WebGPU, WebNN) implements the same
//! trait later.
//!
//! Tensors cross the trait as the runtime's own [`HostTensor`]; each backend converts to and
//! from its engine's types inside its own folder, and loads the [`Artifact`] of its format.

pub mod onnxruntime;
pub mod openvino;
pub mod torch;

use crate::artifacts::{Artifact, ArtifactFormat};
use crate::error::Result;
use crate::measure::Measurement;
use crate::tensor::HostTensor;
use crate::Hardware;

/// A model a backend has loaded onto a device, ready to run (from several threads at once:
/// sessions of one artifact share it, [`crate::session`]).
pub trait LoadedModel: Send + Sync {
    /// Runs on validated inputs in spec order; returns every output in spec order.
    fn forward(&self, inputs: &[HostTensor]) -> Result<Vec<HostTensor>>;

    /// Waits for queued device work, so timings measure completed inference.
    fn synchronize(&self) {}

    /// Facts of this load that shape its measurements (a compiled model read from a cache),
    /// recorded with the result beside `load_ms`.
    fn load_facts(&self) -> Vec<Measurement> {
        Vec::new()
    }
}

/// An inference engine for one or more hardware ids.
pub trait Backend: Sync {
    /// Short name (`torch`).
    fn name(&self) -> &'static str;

    /// The artifact formats it loads, in order of preference: a case uses the first whose
    /// export succeeded (the others are fallbacks for models the first cannot represent).
    fn formats(&self) -> &'static [ArtifactFormat];

    /// The preferred format (part of the artifact key).
    fn format(&self) -> ArtifactFormat {
        self.formats()[0]
    }

    /// Loads an artifact of one of its formats onto the hardware's device; `input_names` are
    /// the spec's inputs in order (formats may drop inputs the graph does not use).
    fn load(&self, hardware: Hardware, artifact: &Artifact, input_names: &[&str]) -> Result<Box<dyn LoadedModel>>;

    /// Seeds the engine's global random generator, for models that draw random numbers in
    /// their forward (`run_seed`); engines without one ignore it.
    fn seed(&self, _seed: u64) {}

    /// Relative error the engine's arithmetic adds on top of float32's (fp16 on QNN's HTP);
    /// 0 for engines that compute in float32.
    fn precision_relative(&self) -> f64 {
        0.0
    }

    /// Engine settings that shape results (threads, executor), recorded with each result.
    fn settings(&self) -> Vec<Measurement> {
        Vec::new()
    }
}

/// The backend that runs `hardware`, if this build has one.
pub fn for_hardware(hardware: Hardware) -> Option<&'static dyn Backend> {
    match hardware {
        Hardware::Cpu | Hardware::Cuda | Hardware::Rocm | Hardware::Mps => Some(&torch::TorchBackend),
        Hardware::Openvino => Some(&openvino::OpenvinoBackend),
        Hardware::Qnn => Some(&onnxruntime::QnnBackend),
        Hardware::Webnn | Hardware::Webgpu => None,
    }
}
