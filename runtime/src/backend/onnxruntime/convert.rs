//! Conversions between the runtime's host tensors and ONNX Runtime values: the ort backend's border.

use ort::session::SessionInputValue;
use ort::value::{DynValue, Tensor, TensorElementType, ValueType};

use super::engine_error;
use crate::error::{Error, Result};
use crate::tensor::{DType, HostTensor};

/// A host tensor copied into an ONNX Runtime tensor.
pub fn to_ort(tensor: &HostTensor) -> Result<SessionInputValue<'static>> {
    let shape: Vec<i64> = tensor.shape().to_vec();
    let bytes = tensor.bytes();
    let value: DynValue = match tensor.dtype() {
        DType::Float32 => {
            Tensor::from_array((shape, from_le::<4, f32>(bytes, f32::from_le_bytes))).map_err(engine_error)?.into_dyn()
        }
        DType::Int64 => {
            Tensor::from_array((shape, from_le::<8, i64>(bytes, i64::from_le_bytes))).map_err(engine_error)?.into_dyn()
        }
        DType::Int32 => {
            Tensor::from_array((shape, from_le::<4, i32>(bytes, i32::from_le_bytes))).map_err(engine_error)?.into_dyn()
        }
        DType::Bool => Tensor::from_array((shape, bytes.iter().map(|b| *b != 0).collect::<Vec<bool>>()))
            .map_err(engine_error)?
            .into_dyn(),
        other => return Err(Error::Mismatch(format!("the qnn backend does not feed {other:?} inputs"))),
    };
    Ok(SessionInputValue::from(value))
}

fn from_le<const N: usize, T>(bytes: &[u8], convert: fn([u8; N]) -> T) -> Vec<T> {
    bytes.chunks_exact(N).map(|chunk| convert(chunk.try_into().expect("chunk of N bytes"))).collect()
}

/// An ONNX Runtime output copied into a host tensor.
pub fn from_ort(value: ort::value::DynValueRef<'_>) -> Result<HostTensor> {
    let ValueType::Tensor { ty, .. } = value.dtype() else {
        return Err(Error::Mismatch("model returned a non-tensor output".into()));
    };
    match ty {
        TensorElementType::Float32 => extract::<f32>(&value),
        TensorElementType::Int64 => extract::<i64>(&value),
        TensorElementType::Int32 => extract::<i32>(&value),
        TensorElementType::Bool => extract::<bool>(&value),
        other => Err(Error::Mismatch(format!(
            "model returned a {other:?} tensor, which the runtime's host tensors do not hold"
        ))),
    }
}

fn extract<T: ort::value::PrimitiveTensorElementType + crate::tensor::Element + Clone>(
    value: &ort::value::DynValueRef<'_>,
) -> Result<HostTensor> {
    let (shape, data) = value.try_extract_tensor::<T>().map_err(engine_error)?;
    Ok(HostTensor::new(shape, data.to_vec())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_with_no_elements_cross_both_ways() {
        super::super::library::environment().expect("ONNX Runtime is installed by scripts/setup.sh");
        for shape in [vec![0i64, 4], vec![2, 0, 3]] {
            let host = HostTensor::new(&shape, Vec::<f32>::new()).unwrap();
            let fed = to_ort(&host).unwrap();
            assert_eq!(from_ort(fed.view()).unwrap(), host, "shape {shape:?}");
            // What a model hands out: a tensor ONNX Runtime allocated with no elements.
            let made = Tensor::from_array((shape.clone(), Vec::<i64>::new())).unwrap().into_dyn();
            let back = from_ort(made.view()).unwrap();
            assert_eq!((back.shape(), back.dtype(), back.numel()), (shape.as_slice(), DType::Int64, 0));
        }
    }
}
