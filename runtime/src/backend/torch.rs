//! The torch backend: TorchScript modules through libtorch (tch) on cpu, cuda, rocm and mps.

use std::path::Path;

use tch::{CModule, IValue, Tensor};

use super::{Backend, LoadedModel};
use crate::error::{Error, Result};
use crate::Hardware;

/// libtorch through tch.
pub struct TorchBackend;

/// A TorchScript module on one device.
pub struct TorchModel {
    module: CModule,
    device: tch::Device,
}

impl Backend for TorchBackend {
    fn name(&self) -> &'static str {
        "torch"
    }

    fn format(&self) -> &'static str {
        crate::artifacts::FORMAT
    }

    fn load(&self, hardware: Hardware, artifact: &Path) -> Result<Box<dyn LoadedModel>> {
        let device = hardware.torch_device().ok_or_else(|| Error::HardwareAbsent { hardware: hardware.id(), reason: "not a torch backend".into() })?;
        profiling_executor();
        let mut module = CModule::load_on_device(artifact, device)?;
        module.set_eval();
        Ok(Box::new(TorchModel { module, device }))
    }
}

impl LoadedModel for TorchModel {
    fn forward(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>> {
        let values: Vec<IValue> = inputs.into_iter().map(|t| IValue::Tensor(t.to_device(self.device))).collect();
        let result = tch::no_grad(|| self.module.forward_is(&values))?;
        flatten(result)
    }

    fn synchronize(&self) {
        if let tch::Device::Cuda(index) = self.device {
            tch::Cuda::synchronize(index as i64);
        }
    }
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
fn flatten(value: IValue) -> Result<Vec<Tensor>> {
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
