//! Inference engines behind one trait. Torch (tch) serves cpu, cuda, rocm and mps today;
//! OpenVINO, ONNX Runtime (QNN) and the browser (WebGPU, WebNN) implement the same trait later.
//!
//! Tensors cross the trait as `tch::Tensor` (the reference data is read with tch anyway); a
//! backend converts to its own types inside `forward`.

pub mod torch;

use std::path::Path;

use tch::Tensor;

use crate::error::Result;
use crate::Hardware;

/// A model a backend has loaded onto a device, ready to run.
pub trait LoadedModel {
    /// Runs on validated inputs in spec order; returns every output in spec order.
    fn forward(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>>;

    /// Waits for queued device work, so timings measure completed inference.
    fn synchronize(&self) {}
}

/// An inference engine for one or more hardware ids.
pub trait Backend: Sync {
    /// Short name (`torch`).
    fn name(&self) -> &'static str;

    /// The artifact format it loads (part of the artifact key).
    fn format(&self) -> &'static str;

    /// Loads an artifact of its format onto the hardware's device.
    fn load(&self, hardware: Hardware, artifact: &Path) -> Result<Box<dyn LoadedModel>>;
}

/// The backend that runs `hardware`, if this build has one.
pub fn for_hardware(hardware: Hardware) -> Option<&'static dyn Backend> {
    match hardware {
        Hardware::Cpu | Hardware::Cuda | Hardware::Rocm | Hardware::Mps => Some(&torch::TorchBackend),
        Hardware::Openvino | Hardware::Qnn | Hardware::Webnn | Hardware::Webgpu => None,
    }
}
