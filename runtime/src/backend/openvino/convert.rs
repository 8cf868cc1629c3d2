//! Conversions between the runtime's host tensors and OpenVINO tensors: the OpenVINO backend's border.

use openvino::{ElementType, Shape, Tensor};

use super::engine_error;
use crate::error::{Error, Result};
use crate::tensor::{DType, HostTensor};

fn element_type_of(dtype: DType) -> ElementType {
    match dtype {
        DType::Int64 => ElementType::I64,
        DType::Int32 => ElementType::I32,
        DType::Uint8 => ElementType::U8,
        DType::Int8 => ElementType::I8,
        DType::Bool => ElementType::Boolean,
        DType::Float16 => ElementType::F16,
        DType::BFloat16 => ElementType::Bf16,
        DType::Float32 => ElementType::F32,
        DType::Float64 => ElementType::F64,
    }
}

fn dtype_of(element: ElementType) -> Option<DType> {
    Some(match element {
        ElementType::I64 => DType::Int64,
        ElementType::I32 => DType::Int32,
        ElementType::U8 => DType::Uint8,
        ElementType::I8 => DType::Int8,
        ElementType::Boolean => DType::Bool,
        ElementType::F16 => DType::Float16,
        ElementType::Bf16 => DType::BFloat16,
        ElementType::F32 => DType::Float32,
        ElementType::F64 => DType::Float64,
        _ => return None,
    })
}

/// A host tensor copied into a new OpenVINO tensor.
pub fn to_openvino(tensor: &HostTensor) -> Result<Tensor> {
    let shape = Shape::new(tensor.shape()).map_err(engine_error)?;
    let mut out = Tensor::new(element_type_of(tensor.dtype()), &shape).map_err(engine_error)?;
    let bytes = tensor.bytes();
    let data = out.get_raw_data_mut().map_err(engine_error)?;
    if data.len() != bytes.len() {
        return Err(Error::Engine { engine: "openvino", message: format!("tensor of shape {:?} holds {} bytes, the input has {}", tensor.shape(), data.len(), bytes.len()) });
    }
    data.copy_from_slice(bytes);
    Ok(out)
}

/// An OpenVINO tensor copied into a host tensor.
pub fn from_openvino(tensor: &Tensor) -> Result<HostTensor> {
    let element = tensor.get_element_type().map_err(engine_error)?;
    let dtype = dtype_of(element).ok_or_else(|| Error::Mismatch(format!("model returned a {element:?} tensor, which the runtime's host tensors do not hold")))?;
    let shape = tensor.get_shape().map_err(engine_error)?;
    let bytes = tensor.get_raw_data().map_err(engine_error)?;
    HostTensor::from_le_bytes(dtype, shape.get_dimensions(), bytes)
}
