//! The torch backend: TorchScript modules through libtorch (tch) on cpu, cuda, rocm and mps.
//! Everything that names a tch type lives in this folder.

mod convert;
mod detect;
pub mod peak;

use tch::{CModule, IValue};

use super::{Backend, LoadedModel};
use crate::artifacts::{Artifact, ArtifactFormat};
use crate::error::{Error, Result};
use crate::hardware::Detection;
use crate::measure::Measurement;
use crate::tensor::HostTensor;
use crate::Hardware;

/// libtorch through tch.
pub struct TorchBackend;

/// A TorchScript module on one device.
pub struct TorchModel {
    module: CModule,
    device: tch::Device,
}

/// The libtorch device of a torch hardware.
fn device_of(hardware: Hardware) -> Option<tch::Device> {
    match hardware {
        Hardware::Cpu => Some(tch::Device::Cpu),
        // A HIP build of libtorch exposes AMD GPUs through the CUDA device type.
        Hardware::Cuda | Hardware::Rocm => Some(tch::Device::Cuda(0)),
        Hardware::Mps => Some(tch::Device::Mps),
        _ => None,
    }
}

/// A libtorch error as the runtime's.
pub(crate) fn engine_error(error: tch::TchError) -> Error {
    Error::Engine { engine: "libtorch", message: error.to_string() }
}

impl Backend for TorchBackend {
    fn name(&self) -> &'static str {
        "torch"
    }

    fn formats(&self) -> &'static [ArtifactFormat] {
        &[ArtifactFormat::TorchScript]
    }

    fn generation_formats(&self) -> &'static [ArtifactFormat] {
        &[ArtifactFormat::TorchScriptGenerate]
    }

    fn detect(&self, hardware: Hardware) -> Detection {
        detect::detect(hardware)
    }

    fn failure_blames_format(&self) -> bool {
        true
    }

    fn load(&self, hardware: Hardware, artifact: &Artifact, _input_names: &[&str]) -> Result<Box<dyn LoadedModel>> {
        let device = device_of(hardware)
            .ok_or_else(|| Error::HardwareAbsent { hardware: hardware.id(), reason: "not a torch backend".into() })?;
        if artifact.format != ArtifactFormat::TorchScript {
            return Err(Error::Artifact {
                path: artifact.dir.clone(),
                message: format!("the torch backend loads torchscript artifacts, not {}", artifact.format.id()),
            });
        }
        threads();
        profiling_executor();
        let mut module = CModule::load_on_device(artifact.model(), device).map_err(engine_error)?;
        module.set_eval();
        Ok(Box::new(TorchModel { module, device }))
    }

    fn seed(&self, seed: u64) {
        tch::manual_seed(seed as i64);
    }

    fn settings(&self) -> Vec<Measurement> {
        vec![
            Measurement::new("torch_threads", threads() as f64, "count"),
            Measurement::new("jit_profiling_executor", f64::from(u8::from(profiling_executor())), "flag"),
        ]
    }
}

impl LoadedModel for TorchModel {
    fn forward(&self, inputs: &[HostTensor]) -> Result<Vec<HostTensor>> {
        let values = inputs
            .iter()
            .map(|t| convert::to_tch(t).map(|t| IValue::Tensor(t.to_device(self.device))))
            .collect::<Result<Vec<_>>>()?;
        let result = tch::no_grad(|| self.module.forward_is(&values)).map_err(engine_error)?;
        flatten(result)?.iter().map(convert::from_tch).collect()
    }

    fn bare<'a>(&'a self, inputs: &[HostTensor]) -> Result<Option<super::BareCall<'a>>> {
        let values = inputs
            .iter()
            .map(|t| convert::to_tch(t).map(|t| IValue::Tensor(t.to_device(self.device))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Box::new(move || {
            tch::no_grad(|| self.module.forward_is(&values)).map_err(engine_error)?;
            self.synchronize();
            Ok(())
        })))
    }

    fn synchronize(&self) {
        if let tch::Device::Cuda(index) = self.device {
            tch::Cuda::synchronize(index as i64);
        }
    }
}

/// Environment variable that sets libtorch's intra-op threads for the suite.
pub const THREADS_ENV: &str = "HFZOO_TORCH_THREADS";

/// Intra-op threads libtorch uses in this process (`HFZOO_TORCH_THREADS`, default 1).
///
/// The test harness already runs one case per core; libtorch's default of one thread per core
/// on top of that oversubscribes the machine and spends the time spinning in OpenMP. Set once
/// per process, before the first inference, and recorded with every measurement.
pub fn threads() -> i64 {
    static THREADS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        let threads =
            std::env::var(THREADS_ENV).ok().and_then(|v| v.parse().ok()).filter(|n: &i64| *n > 0).unwrap_or(1);
        tch::set_num_threads(threads as i32);
        threads
    })
}

/// Environment variable choosing TorchScript's graph executor: `legacy` (default) or `profiling`.
pub const JIT_EXECUTOR_ENV: &str = "HFZOO_JIT_EXECUTOR";

/// Whether TorchScript runs its profiling executor (`HFZOO_JIT_EXECUTOR=profiling`); set once
/// per process, before the first module loads.
///
/// The default is the legacy executor: it optimises each graph on its first run without the
/// profiling runs and shape re-specialisation of the profiling executor, which cost more than
/// the tiny models' inference (the warm CPU suite spent 60 s in first runs alone). Both run
/// the same TorchScript module; the parity checks decide either way.
pub fn profiling_executor() -> bool {
    static PROFILING: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PROFILING.get_or_init(|| {
        let value = std::env::var(JIT_EXECUTOR_ENV).unwrap_or_default();
        let profiling = match value.trim() {
            "" | "legacy" => false,
            "profiling" => true,
            other => {
                eprintln!("warning: {JIT_EXECUTOR_ENV}={other:?} is neither `legacy` nor `profiling`; using `legacy`");
                false
            }
        };
        tch::jit::set_profiling_mode(profiling);
        profiling
    })
}

/// Tensors of a TorchScript result: one tensor, a tuple or a list of them.
fn flatten(value: IValue) -> Result<Vec<tch::Tensor>> {
    match value {
        IValue::Tensor(t) => Ok(vec![t]),
        IValue::Tuple(items) | IValue::GenericList(items) => items
            .into_iter()
            .map(|item| match item {
                IValue::Tensor(t) => Ok(t),
                other => Err(Error::Mismatch(format!("model returned a non-tensor output: {other:?}"))),
            })
            .collect(),
        IValue::TensorList(list) => Ok(list),
        other => Err(Error::Mismatch(format!("model returned {other:?}, expected tensors"))),
    }
}
