//! Tensors as they cross loopback HTTP between the runtime and the page, in both directions:
//! binary, never JSON arrays of numbers.
//!
//! A message is a little-endian `u32` header length, a JSON header listing each tensor's name,
//! dtype (onnxruntime-web's spelling), dimensions, byte offset and byte length, then the data
//! region. The region starts at a multiple of 8 and each tensor's offset is a multiple of 8, so
//! the page views it as a typed array (`BigInt64Array` needs 8) without a copy. `page.js`
//! reads and writes the same layout.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};
use host_tensor::{DType, HostTensor};

/// One tensor's entry in the header.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Entry {
    name: String,
    dtype: String,
    dims: Vec<i64>,
    offset: usize,
    length: usize,
}

/// onnxruntime-web's name of a dtype, or `None` for dtypes it has no tensor type for.
pub fn web_dtype(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::Int64 => "int64",
        DType::Int32 => "int32",
        DType::Uint8 => "uint8",
        DType::Int8 => "int8",
        DType::Bool => "bool",
        DType::Float16 => "float16",
        DType::Float32 => "float32",
        DType::Float64 => "float64",
        DType::BFloat16 => return None,
    })
}

fn dtype_of(name: &str) -> Option<DType> {
    [DType::Int64, DType::Int32, DType::Uint8, DType::Int8, DType::Bool, DType::Float16, DType::Float32, DType::Float64]
        .into_iter()
        .find(|dtype| web_dtype(*dtype) == Some(name))
}

const fn aligned(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Named tensors as one binary message.
pub fn encode(tensors: &[(&str, &HostTensor)]) -> Result<Vec<u8>> {
    let mut entries = Vec::with_capacity(tensors.len());
    let mut offset = 0;
    for (name, tensor) in tensors {
        let dtype = web_dtype(tensor.dtype()).ok_or_else(|| {
            Error::Engine(format!(
                "input `{name}` is {:?}, which onnxruntime-web has no tensor type for",
                tensor.dtype()
            ))
        })?;
        let length = tensor.bytes().len();
        entries.push(Entry {
            name: (*name).to_string(),
            dtype: dtype.into(),
            dims: tensor.shape().to_vec(),
            offset,
            length,
        });
        offset = aligned(offset + length);
    }
    let header = serde_json::to_vec(&entries)
        .map_err(|source| Error::Json { context: "encode the tensor header".into(), source })?;
    let start = aligned(4 + header.len());
    let mut out = Vec::with_capacity(start + offset);
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.resize(start, b' ');
    for ((_, tensor), entry) in tensors.iter().zip(&entries) {
        out.resize(start + entry.offset, 0);
        out.extend_from_slice(tensor.bytes());
    }
    Ok(out)
}

/// The tensors of one binary message, in message order.
pub fn decode(message: &[u8]) -> Result<Vec<(String, HostTensor)>> {
    let bad = |why: String| Error::Engine(format!("the page sent a malformed tensor message: {why}"));
    let length = message
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| bad("shorter than its header length".into()))?;
    let header = message
        .get(4..4 + length)
        .ok_or_else(|| bad(format!("header of {length} bytes runs past the message ({} bytes)", message.len())))?;
    let entries: Vec<Entry> = serde_json::from_slice(header).map_err(|e| bad(format!("header: {e}")))?;
    let data = message.get(aligned(4 + length)..).unwrap_or_default();
    entries
        .into_iter()
        .map(|entry| {
            let dtype = dtype_of(&entry.dtype)
                .ok_or_else(|| bad(format!("`{}` has unknown dtype `{}`", entry.name, entry.dtype)))?;
            let bytes = entry
                .offset
                .checked_add(entry.length)
                .and_then(|end| data.get(entry.offset..end))
                .ok_or_else(|| bad(format!("`{}` runs past the data", entry.name)))?;
            Ok((entry.name, HostTensor::from_le_bytes(dtype, &entry.dims, bytes)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_of_every_web_dtype_survive_a_round_trip_aligned_to_eight_bytes() {
        let ids = HostTensor::new(&[2, 3], vec![1i64, -2, 3, i64::MAX, 5, 6]).unwrap();
        let mask = HostTensor::new(&[3], vec![true, false, true]).unwrap();
        let values = HostTensor::new(&[1, 2], vec![0.5f32, -1.25]).unwrap();
        let empty = HostTensor::new::<f32>(&[0, 4], vec![]).unwrap();
        let message = encode(&[("ids", &ids), ("mask", &mask), ("values", &values), ("empty", &empty)]).unwrap();
        let length = u32::from_le_bytes(message[..4].try_into().unwrap()) as usize;
        let entries: Vec<Entry> = serde_json::from_slice(&message[4..4 + length]).unwrap();
        assert!(entries.iter().all(|e| e.offset % 8 == 0), "{entries:?}");
        assert_eq!(entries[2].dtype, "float32");
        let back = decode(&message).unwrap();
        let names: Vec<&str> = back.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["ids", "mask", "values", "empty"]);
        assert_eq!(back[0].1, ids);
        assert_eq!(back[1].1, mask);
        assert_eq!(back[2].1, values);
        assert_eq!(back[3].1.shape(), &[0, 4]);
    }

    #[test]
    fn a_malformed_message_is_an_error_naming_what_is_wrong() {
        assert!(decode(&[1, 0]).unwrap_err().to_string().contains("shorter than its header length"));
        assert!(decode(&[200, 0, 0, 0, b'[']).unwrap_err().to_string().contains("runs past the message"));
        let mut message = encode(&[("x", &HostTensor::new(&[4], vec![1.0f32; 4]).unwrap())]).unwrap();
        message.truncate(message.len() - 3);
        assert!(decode(&message).unwrap_err().to_string().contains("`x` runs past the data"));
        let bf16 = HostTensor::from_le_bytes(DType::BFloat16, &[1], &[0, 0]).unwrap();
        assert!(encode(&[("h", &bf16)]).unwrap_err().to_string().contains("no tensor type"));
    }
}
