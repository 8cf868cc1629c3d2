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
