//! Inference engines behind one trait. Torch (tch) serves cpu, cuda, rocm and mps today;
//! OpenVINO, ONNX Runtime (QNN) and the browser (WebGPU, WebNN) implement the same trait later.
//!
//! Tensors cross the trait as the runtime's own [`HostTensor`]; each backend converts to and
//! from its engine's types inside its own folder, and loads the [`Artifact`] of its format.

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
}

/// An inference engine for one or more hardware ids.
pub trait Backend: Sync {
    /// Short name (`torch`).
    fn name(&self) -> &'static str;

    /// The artifact format it loads (part of the artifact key).
    fn format(&self) -> ArtifactFormat;

    /// Loads an artifact of its format onto the hardware's device.
    fn load(&self, hardware: Hardware, artifact: &Artifact) -> Result<Box<dyn LoadedModel>>;

    /// Seeds the engine's global random generator, for models that draw random numbers in
    /// their forward (`run_seed`); engines without one ignore it.
    fn seed(&self, _seed: u64) {}

    /// Engine settings that shape results (threads, executor), recorded with each result.
    fn settings(&self) -> Vec<Measurement> {
        Vec::new()
    }
}

/// The backend that runs `hardware`, if this build has one.
pub fn for_hardware(hardware: Hardware) -> Option<&'static dyn Backend> {
    match hardware {
        Hardware::Cpu | Hardware::Cuda | Hardware::Rocm | Hardware::Mps => Some(&torch::TorchBackend),
        Hardware::Openvino | Hardware::Qnn | Hardware::Webnn | Hardware::Webgpu => None,
    }
}
