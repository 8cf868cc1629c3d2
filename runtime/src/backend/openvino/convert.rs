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
///
/// A tensor with no elements is never asked for its data: OpenVINO hands out a null pointer
/// for it, which the openvino crate turns into a slice (undefined behaviour; in a debug build
/// an abort that no `catch_unwind` holds, which once killed the whole zoo's run).
pub fn to_openvino(tensor: &HostTensor) -> Result<Tensor> {
    let shape = Shape::new(tensor.shape()).map_err(engine_error)?;
    let mut out = Tensor::new(element_type_of(tensor.dtype()), &shape).map_err(engine_error)?;
    let bytes = tensor.bytes();
    if bytes.is_empty() && out.get_byte_size().map_err(engine_error)? == 0 {
        return Ok(out);
    }
    let data = out.get_raw_data_mut().map_err(engine_error)?;
    if data.len() != bytes.len() {
        return Err(Error::Engine {
            engine: "openvino",
            message: format!(
                "tensor of shape {:?} holds {} bytes, the input has {}",
                tensor.shape(),
                data.len(),
                bytes.len()
            ),
        });
    }
    data.copy_from_slice(bytes);
    Ok(out)
}

/// An OpenVINO tensor copied into a host tensor (one with no elements without touching its
/// data pointer, which is null: see [`to_openvino`]).
pub fn from_openvino(tensor: &Tensor) -> Result<HostTensor> {
    let element = tensor.get_element_type().map_err(engine_error)?;
    let dtype = dtype_of(element).ok_or_else(|| {
        Error::Mismatch(format!("model returned a {element:?} tensor, which the runtime's host tensors do not hold"))
    })?;
    let shape = tensor.get_shape().map_err(engine_error)?;
    if tensor.get_byte_size().map_err(engine_error)? == 0 {
        return Ok(HostTensor::from_le_bytes(dtype, shape.get_dimensions(), &[])?);
    }
    let bytes = tensor.get_raw_data().map_err(engine_error)?;
    Ok(HostTensor::from_le_bytes(dtype, shape.get_dimensions(), bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenVINO library, loaded once (the tests need its C API to make tensors).
    fn loaded() {
        super::super::library::detect().expect("OpenVINO is installed by scripts/setup.sh");
    }

    #[test]
    fn tensors_with_no_elements_cross_both_ways() {
        loaded();
        for shape in [vec![0i64, 4], vec![2, 0, 3], vec![0]] {
            let host = HostTensor::new(&shape, Vec::<f32>::new()).unwrap();
            let engine = to_openvino(&host).unwrap();
            assert_eq!(from_openvino(&engine).unwrap(), host, "shape {shape:?}");
            // What a model hands out: a tensor the engine allocated with no elements.
            let made = Tensor::new(ElementType::I64, &Shape::new(&shape).unwrap()).unwrap();
            let back = from_openvino(&made).unwrap();
            assert_eq!((back.shape(), back.dtype(), back.numel()), (shape.as_slice(), DType::Int64, 0));
        }
    }

    /// An ONNX graph whose output has no elements: `x[:, 0:0]` of an input with dynamic dimensions
    /// (a dynamic output is allocated by the engine at run time, as the IR route's outputs are).
    fn empty_output_model(dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("empty.onnx");
        let script = format!(
            "import onnx\nfrom onnx import helper, TensorProto\n\
             c = lambda n, v: helper.make_node('Constant', [], [n], value=helper.make_tensor(n, TensorProto.INT64, [1], [v]))\n\
             g = helper.make_graph([c('s', 0), c('e', 0), c('a', 1), helper.make_node('Slice', ['x', 's', 'e', 'a'], ['y'])], 'g',\n\
               [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['b', 'n'])], [helper.make_tensor_value_info('y', TensorProto.FLOAT, ['b', 'm'])])\n\
             onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)]), {:?})\n",
            path.display().to_string()
        );
        let output = std::process::Command::new(crate::paths::python())
            .arg("-c")
            .arg(script)
            .output()
            .expect("the venv's python (scripts/setup.sh)");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        path
    }

    #[test]
    fn a_model_output_with_no_elements_converts_as_the_backend_reads_outputs() {
        loaded();
        let dir = tempfile::tempdir().unwrap();
        let model = empty_output_model(dir.path());
        let output = super::super::library::with_core(|core| {
            let model = core.read_model_from_file(&model.display().to_string(), "").map_err(engine_error)?;
            let mut compiled = core.compile_model(&model, openvino::DeviceType::CPU).map_err(engine_error)?;
            let mut request = compiled.create_infer_request().map_err(engine_error)?;
            let x = to_openvino(&HostTensor::new(&[2, 3], vec![1f32; 6]).unwrap())?;
            request.set_input_tensor_by_index(0, &x).map_err(engine_error)?;
            request.infer().map_err(engine_error)?;
            // What the backend's forward does with every output.
            from_openvino(&request.get_output_tensor_by_index(0).map_err(engine_error)?)
        })
        .unwrap();
        assert_eq!((output.shape(), output.numel()), (&[2i64, 0][..], 0));
    }

    #[test]
    fn tensors_with_elements_round_trip() {
        loaded();
        let host = HostTensor::new(&[2, 2], vec![1.5f32, -2.0, 0.25, 8.0]).unwrap();
        assert_eq!(from_openvino(&to_openvino(&host).unwrap()).unwrap(), host);
    }
}
