//! Conversions between the runtime's host tensors and tch tensors: the torch backend's border.

use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::tensor::{DType, HostTensor};

fn kind_of(dtype: DType) -> Kind {
    match dtype {
        DType::Int64 => Kind::Int64,
        DType::Int32 => Kind::Int,
        DType::Uint8 => Kind::Uint8,
        DType::Int8 => Kind::Int8,
        DType::Bool => Kind::Bool,
        DType::Float16 => Kind::Half,
        DType::BFloat16 => Kind::BFloat16,
        DType::Float32 => Kind::Float,
        DType::Float64 => Kind::Double,
    }
}

fn dtype_of(kind: Kind) -> Option<DType> {
    Some(match kind {
        Kind::Int64 => DType::Int64,
        Kind::Int => DType::Int32,
        Kind::Uint8 => DType::Uint8,
        Kind::Int8 => DType::Int8,
        Kind::Bool => DType::Bool,
        Kind::Half => DType::Float16,
        Kind::BFloat16 => DType::BFloat16,
        Kind::Float => DType::Float32,
        Kind::Double => DType::Float64,
        _ => return None,
    })
}

/// A host tensor copied into a new CPU tensor (libtorch may write into its inputs, so it does
/// not borrow the host tensor's shared memory).
pub fn to_tch(tensor: &HostTensor) -> Result<Tensor> {
    Tensor::f_from_data_size(tensor.bytes(), tensor.shape(), kind_of(tensor.dtype())).map_err(super::engine_error)
}

/// A tch tensor (any device, any layout) copied into a host tensor.
pub fn from_tch(tensor: &Tensor) -> Result<HostTensor> {
    let kind = tensor.kind();
    let dtype = dtype_of(kind).ok_or_else(|| {
        Error::Mismatch(format!("model returned a {kind:?} tensor, which the runtime's host tensors do not hold"))
    })?;
    let host = tensor.to_device(tch::Device::Cpu).contiguous();
    let mut bytes = vec![0u8; host.numel() * dtype.size()];
    host.f_copy_data_u8(&mut bytes, host.numel()).map_err(super::engine_error)?;
    Ok(HostTensor::from_le_bytes(dtype, &host.size(), &bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_tensors_survive_a_trip_through_tch() {
        let cases = [
            HostTensor::new(&[2, 3], vec![1.5f32, -2.0, 0.0, 3.25, 1e-8, -7.0]).unwrap(),
            HostTensor::new(&[3], vec![-1i64, 0, 1 << 40]).unwrap(),
            HostTensor::new(&[2], vec![true, false]).unwrap(),
            HostTensor::new(&[0, 4], Vec::<f32>::new()).unwrap(),
        ];
        for tensor in cases {
            assert_eq!(from_tch(&to_tch(&tensor).unwrap()).unwrap(), tensor);
        }
    }

    #[test]
    fn a_strided_view_comes_back_contiguous() {
        let t = Tensor::from_slice(&[1f32, 2.0, 3.0, 4.0, 5.0, 6.0]).reshape([2, 3]).transpose(0, 1);
        let host = from_tch(&t).unwrap();
        assert_eq!(host.shape(), &[3, 2]);
        assert_eq!(host.as_f32().unwrap(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
