//! Inference engines behind one trait. Torch (tch) serves cpu, cuda, rocm and mps; OpenVINO
//! serves openvino; ONNX Runtime serves qnn; the browser (onnxruntime-web in headless
//! Chromium) serves webgpu and webnn.
//!
//! An engine is one folder here and one cargo feature of the runtime (named as the folder);
//! `hardware.yaml`'s `engine` column says which hardware it serves. Tensors cross the trait as
//! the runtime's own [`HostTensor`]; each backend detects its hardware, converts to and from
//! its engine's types inside its own folder, and loads the [`Artifact`] of its format.

#[cfg(feature = "browser")]
pub mod browser;
#[cfg(feature = "onnxruntime")]
pub mod onnxruntime;
#[cfg(feature = "openvino")]
pub mod openvino;
#[cfg(feature = "torch")]
pub mod torch;

mod detection;

pub use detection::{detect, detect_all, detection_fault};

use crate::artifacts::{Artifact, ArtifactFormat};
use crate::error::Result;
use crate::hardware::Detection;
use crate::measure::Measurement;
use crate::tensor::HostTensor;
use crate::{Engine, Hardware};

/// One engine call on inputs converted beforehand ([`LoadedModel::bare`]).
pub type BareCall<'a> = Box<dyn FnMut() -> Result<()> + 'a>;

/// A model a backend has loaded onto a device, ready to run (from several threads at once:
/// sessions of one artifact share it, [`crate::session`]).
pub trait LoadedModel: Send + Sync {
    /// Runs on validated inputs in spec order; returns every output in spec order.
    fn forward(&self, inputs: &[HostTensor]) -> Result<Vec<HostTensor>>;

    /// Waits for queued device work, so timings measure completed inference.
    fn synchronize(&self) {}

    /// The engine's own call on `inputs`, converted to the engine's types once: what `forward`
    /// costs without the runtime's validation and conversions (the benchmark's baseline for the
    /// runtime's overhead). `None` where the backend has no such call.
    fn bare<'a>(&'a self, _inputs: &[HostTensor]) -> Result<Option<BareCall<'a>>> {
        Ok(None)
    }

    /// Facts of this load that shape its measurements (a compiled model read from a cache),
    /// recorded with the result beside `load_ms`.
    fn load_facts(&self) -> Vec<Measurement> {
        Vec::new()
    }
}

/// An inference engine for one or more hardware ids.
pub trait Backend: Sync {
    /// Short name (`torch`), also its folder and its cargo feature.
    fn name(&self) -> &'static str;

    /// Whether `hardware` is usable now: device, version and the reason, never a panic.
    fn detect(&self, hardware: Hardware) -> Detection;

    /// Why detection could not tell, where the hardware's software is there but failed (a
    /// browser that would not start): a failure of the cell's environment, never a skip.
    fn detection_fault(&self, _hardware: Hardware) -> Option<String> {
        None
    }

    /// True when the engine runs the traced module itself, so a failure to load or run it is
    /// the artifact format's (or the trace's) limit; false when it runs a file the exporter
    /// already checked on both input sets, so a failure is the engine's (`backend`).
    fn failure_blames_format(&self) -> bool {
        false
    }

    /// The artifact formats it loads, in order of preference: a case uses the first whose
    /// export succeeded (the others are fallbacks for models the first cannot represent).
    fn formats(&self) -> &'static [ArtifactFormat];

    /// The formats a generation cell runs on this engine, in order of preference; none where the
    /// engine has no generation route yet.
    fn generation_formats(&self) -> &'static [ArtifactFormat] {
        &[]
    }

    /// The preferred format (part of the artifact key).
    fn format(&self) -> ArtifactFormat {
        self.formats()[0]
    }

    /// Loads an artifact of one of its formats onto the hardware's device; `input_names` are
    /// the spec's inputs in order (formats may drop inputs the graph does not use).
    fn load(&self, hardware: Hardware, artifact: &Artifact, input_names: &[&str]) -> Result<Box<dyn LoadedModel>>;

    /// Loads the steps of one artifact that a run alternates between (a generation's prefill and
    /// decode), each with the inputs a caller feeds it; one model per step, in order. Engines
    /// that hold several models at once more cheaply together (one browser page) override it.
    fn load_steps(&self, hardware: Hardware, steps: &[(&Artifact, &[&str])]) -> Result<Vec<Box<dyn LoadedModel>>> {
        steps.iter().map(|(artifact, names)| self.load(hardware, artifact, names)).collect()
    }

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

/// The backend that runs `hardware`, if this build has its engine (its cargo feature).
pub fn for_hardware(hardware: Hardware) -> Option<&'static dyn Backend> {
    match hardware.engine() {
        #[cfg(feature = "torch")]
        Engine::Torch => Some(&torch::TorchBackend),
        #[cfg(feature = "openvino")]
        Engine::Openvino => Some(&openvino::OpenvinoBackend),
        #[cfg(feature = "onnxruntime")]
        Engine::Onnxruntime => Some(&onnxruntime::QnnBackend),
        #[cfg(feature = "browser")]
        Engine::Browser => browser::for_hardware(hardware).map(|b| b as &'static dyn Backend),
        #[allow(unreachable_patterns)] // every engine's feature on
        _ => None,
    }
}

/// Every engine the runtime has a folder (and a cargo feature) for, built or not.
pub const ENGINE_FOLDERS: &[Engine] = &[Engine::Torch, Engine::Openvino, Engine::Onnxruntime, Engine::Browser];
