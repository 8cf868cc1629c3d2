//! The runtime's own host tensor: the type that crosses every engine-neutral boundary
//! (backends, sessions, checks, typed skills, the browser's wire). Each engine converts to and from it inside its
//! own backend folder, so no engine type (tch, OpenVINO, ONNX Runtime) leaks out of it.
//!
//! Data is contiguous, row-major and typed; it sits behind an `Arc`, so clones and views of a
//! whole tensor are free, and an engine that can borrow host memory (ONNX Runtime, OpenVINO)
//! may wrap [`HostTensor::bytes`] without a copy. libtorch may write into its inputs, so the
//! torch backend copies.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Result alias for host tensors.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong building, using, reading or writing a host tensor (the runtime's error
/// carries each with the same message).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A host tensor was built or used inconsistently.
    #[error("tensor: {0}")]
    Tensor(String),
    /// A file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Which file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A tensor file is unreadable.
    #[error("artifact {}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// Wraps an I/O error with the action and path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}

/// Element type of a host tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// 64-bit signed integers.
    Int64,
    /// 32-bit signed integers.
    Int32,
    /// 8-bit unsigned integers.
    Uint8,
    /// 8-bit signed integers.
    Int8,
    /// Booleans, one byte each.
    Bool,
    /// IEEE half floats (raw bits).
    Float16,
    /// bfloat16 (raw bits).
    BFloat16,
    /// 32-bit floats.
    Float32,
    /// 64-bit floats.
    Float64,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Int64 | DType::Float64 => 8,
            DType::Int32 | DType::Float32 => 4,
            DType::Float16 | DType::BFloat16 => 2,
            DType::Uint8 | DType::Int8 | DType::Bool => 1,
        }
    }

    /// The safetensors spelling (`F32`, `I64`, ...).
    pub fn safetensors_name(self) -> &'static str {
        match self {
            DType::Int64 => "I64",
            DType::Int32 => "I32",
            DType::Uint8 => "U8",
            DType::Int8 => "I8",
            DType::Bool => "BOOL",
            DType::Float16 => "F16",
            DType::BFloat16 => "BF16",
            DType::Float32 => "F32",
            DType::Float64 => "F64",
        }
    }

    fn from_safetensors(dtype: safetensors::Dtype) -> Option<DType> {
        use safetensors::Dtype as S;
        Some(match dtype {
            S::I64 => DType::Int64,
            S::I32 => DType::Int32,
            S::U8 => DType::Uint8,
            S::I8 => DType::Int8,
            S::BOOL => DType::Bool,
            S::F16 => DType::Float16,
            S::BF16 => DType::BFloat16,
            S::F32 => DType::Float32,
            S::F64 => DType::Float64,
            _ => return None,
        })
    }
}

/// Typed, contiguous element storage (aligned for its type, unlike a byte vector).
#[derive(Debug, Clone, PartialEq)]
enum Data {
    I64(Vec<i64>),
    I32(Vec<i32>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    Bool(Vec<bool>),
    F16(Vec<u16>),
    BF16(Vec<u16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// A contiguous, row-major tensor in host memory.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    shape: Vec<i64>,
    data: Arc<Data>,
}

/// Element types a [`HostTensor`] can be built from.
pub trait Element: Copy {
    /// The matching dtype.
    const DTYPE: DType;
    /// A tensor of these values (the count already checked against the shape).
    fn build(shape: Vec<i64>, values: Vec<Self>) -> HostTensor;
}

macro_rules! element {
    ($ty:ty, $dtype:ident, $variant:ident) => {
        impl Element for $ty {
            const DTYPE: DType = DType::$dtype;
            fn build(shape: Vec<i64>, values: Vec<Self>) -> HostTensor {
                HostTensor { shape, data: Arc::new(Data::$variant(values)) }
            }
        }
    };
}
element!(i64, Int64, I64);
element!(i32, Int32, I32);
element!(u8, Uint8, U8);
element!(i8, Int8, I8);
element!(bool, Bool, Bool);
element!(f32, Float32, F32);
element!(f64, Float64, F64);

fn element_count(shape: &[i64]) -> Result<usize> {
    shape.iter().try_fold(1usize, |count, &dim| {
        usize::try_from(dim)
            .ok()
            .and_then(|d| count.checked_mul(d))
            .ok_or_else(|| Error::Tensor(format!("invalid shape {shape:?}")))
    })
}

impl HostTensor {
    /// A tensor from values in row-major order; the count must match the shape.
    pub fn new<T: Element>(shape: &[i64], values: Vec<T>) -> Result<Self> {
        let count = element_count(shape)?;
        if values.len() != count {
            return Err(Error::Tensor(format!("shape {shape:?} holds {count} elements, got {} values", values.len())));
        }
        Ok(T::build(shape.to_vec(), values))
    }

    /// A tensor of `shape` with every element `value`.
    pub fn full<T: Element>(shape: &[i64], value: T) -> Result<Self> {
        Self::new(shape, vec![value; element_count(shape)?])
    }

    /// A tensor from little-endian bytes of `dtype` (what safetensors and most engines hand out).
    pub fn from_le_bytes(dtype: DType, shape: &[i64], bytes: &[u8]) -> Result<Self> {
        let count = element_count(shape)?;
        // Shapes come from outside (the page, a file): a product past usize is an error, not a wrap.
        let needed = count.checked_mul(dtype.size()).ok_or_else(|| {
            Error::Tensor(format!("{dtype:?} tensor of shape {shape:?} is larger than memory can address"))
        })?;
        if bytes.len() != needed {
            return Err(Error::Tensor(format!(
                "{dtype:?} tensor of shape {shape:?} needs {needed} bytes, got {}",
                bytes.len()
            )));
        }
        let data = match dtype {
            DType::Int64 => Data::I64(copied(bytes, count)),
            DType::Int32 => Data::I32(copied(bytes, count)),
            DType::Uint8 => Data::U8(bytes.to_vec()),
            DType::Int8 => Data::I8(copied(bytes, count)),
            // Any non-zero byte is true (a bool's bytes must be 0 or 1 in Rust).
            DType::Bool => Data::Bool(bytes.iter().map(|b| *b != 0).collect()),
            DType::Float16 => Data::F16(copied(bytes, count)),
            DType::BFloat16 => Data::BF16(copied(bytes, count)),
            DType::Float32 => Data::F32(copied(bytes, count)),
            DType::Float64 => Data::F64(copied(bytes, count)),
        };
        Ok(Self { shape: shape.to_vec(), data: Arc::new(data) })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match &*self.data {
            Data::I64(_) => DType::Int64,
            Data::I32(_) => DType::Int32,
            Data::U8(_) => DType::Uint8,
            Data::I8(_) => DType::Int8,
            Data::Bool(_) => DType::Bool,
            Data::F16(_) => DType::Float16,
            Data::BF16(_) => DType::BFloat16,
            Data::F32(_) => DType::Float32,
            Data::F64(_) => DType::Float64,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[i64] {
        &self.shape
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        match &*self.data {
            Data::I64(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::U8(v) => v.len(),
            Data::I8(v) => v.len(),
            Data::Bool(v) => v.len(),
            Data::F16(v) | Data::BF16(v) => v.len(),
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
        }
    }

    /// The elements as little-endian bytes, borrowed (host byte order is little-endian on
    /// every platform the project runs on; checked at compile time below).
    pub fn bytes(&self) -> &[u8] {
        fn raw<T>(values: &[T]) -> &[u8] {
            // SAFETY: plain-old-data element types without padding; the slice covers exactly
            // the vector's initialised elements and lives as long as `values`.
            unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values)) }
        }
        match &*self.data {
            Data::I64(v) => raw(v),
            Data::I32(v) => raw(v),
            Data::U8(v) => v,
            Data::I8(v) => raw(v),
            Data::Bool(v) => raw(v),
            Data::F16(v) | Data::BF16(v) => raw(v),
            Data::F32(v) => raw(v),
            Data::F64(v) => raw(v),
        }
    }

    /// The `f32` elements, if that is the dtype.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &*self.data {
            Data::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The `i64` elements, if that is the dtype.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &*self.data {
            Data::I64(v) => Some(v),
            _ => None,
        }
    }

    /// Every element as `f64` (exact for every dtype but 64-bit integers beyond 2^53).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &*self.data {
            Data::I64(v) => v.iter().map(|x| *x as f64).collect(),
            Data::I32(v) => v.iter().map(|x| f64::from(*x)).collect(),
            Data::U8(v) => v.iter().map(|x| f64::from(*x)).collect(),
            Data::I8(v) => v.iter().map(|x| f64::from(*x)).collect(),
            Data::Bool(v) => v.iter().map(|x| f64::from(u8::from(*x))).collect(),
            Data::F16(v) => v.iter().map(|x| f64::from(f16_to_f32(*x))).collect(),
            Data::BF16(v) => v.iter().map(|x| f64::from(f32::from_bits(u32::from(*x) << 16))).collect(),
            Data::F32(v) => v.iter().map(|x| f64::from(*x)).collect(),
            Data::F64(v) => v.clone(),
        }
    }

    /// The first `keep` entries along `axis` (a copy).
    pub fn narrow(&self, axis: usize, keep: i64) -> Result<Self> {
        let Some(&size) = self.shape.get(axis) else {
            return Err(Error::Tensor(format!("axis {axis} out of range for shape {:?}", self.shape)));
        };
        if keep < 0 || keep > size {
            return Err(Error::Tensor(format!("cannot keep {keep} of {size} entries on axis {axis}")));
        }
        let inner: usize = self.shape[axis + 1..].iter().product::<i64>() as usize;
        let (size, keep_n) = (size as usize, keep as usize);
        let pick = |index: usize| (index / inner) % size < keep_n;
        let mut shape = self.shape.clone();
        shape[axis] = keep;
        let data = match &*self.data {
            Data::I64(v) => Data::I64(filter(v, pick)),
            Data::I32(v) => Data::I32(filter(v, pick)),
            Data::U8(v) => Data::U8(filter(v, pick)),
            Data::I8(v) => Data::I8(filter(v, pick)),
            Data::Bool(v) => Data::Bool(filter(v, pick)),
            Data::F16(v) => Data::F16(filter(v, pick)),
            Data::BF16(v) => Data::BF16(filter(v, pick)),
            Data::F32(v) => Data::F32(filter(v, pick)),
            Data::F64(v) => Data::F64(filter(v, pick)),
        };
        Ok(Self { shape, data: Arc::new(data) })
    }

    /// A copy with the `f32` element at flat `index` changed by `delta` (tests of the checks).
    pub fn with_f32_offset(&self, index: usize, delta: f32) -> Result<Self> {
        let mut values = self
            .as_f32()
            .ok_or_else(|| Error::Tensor(format!("with_f32_offset needs Float32, got {:?}", self.dtype())))?
            .to_vec();
        let value = values
            .get_mut(index)
            .ok_or_else(|| Error::Tensor(format!("index {index} out of range for {} elements", self.numel())))?;
        *value += delta;
        Self::new(&self.shape, values)
    }
}

/// Little-endian bytes copied into a typed vector in one block (a memcpy: engines hand out
/// outputs this way, and an element-wise parse is slow in unoptimised builds).
fn copied<T: Numeric>(bytes: &[u8], count: usize) -> Vec<T> {
    assert_eq!(bytes.len(), count * std::mem::size_of::<T>(), "checked by the caller");
    let mut values: Vec<T> = vec![T::ZERO; count];
    // SAFETY: `values` owns `count * size_of::<T>()` initialised bytes, `bytes` has exactly that
    // many, the regions are distinct, and every bit pattern is a valid `T` (plain numbers); the
    // host is little-endian (asserted at compile time below), as the bytes are.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), values.as_mut_ptr().cast::<u8>(), bytes.len()) };
    values
}

/// Plain numeric types for which every bit pattern is a valid value.
trait Numeric: Copy {
    const ZERO: Self;
}

macro_rules! numeric {
    ($($ty:ty),*) => { $(impl Numeric for $ty { const ZERO: Self = 0 as $ty; })* };
}
numeric!(i64, i32, i8, u16, f32, f64);

fn filter<T: Copy>(values: &[T], pick: impl Fn(usize) -> bool) -> Vec<T> {
    values.iter().enumerate().filter(|(i, _)| pick(*i)).map(|(_, v)| *v).collect()
}

/// IEEE half bits to f32 (subnormals, infinities and NaN included).
fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exponent = u32::from((bits >> 10) & 0x1f);
    let mantissa = u32::from(bits & 0x3ff);
    let magnitude = match (exponent, mantissa) {
        (0, 0) => 0,
        (0, m) => {
            let value = (m as f32) * 2f32.powi(-24);
            return if sign != 0 { -value } else { value };
        }
        (0x1f, m) => 0x7f80_0000 | (m << 13),
        (e, m) => ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(sign | magnitude)
}

// The byte views above assume little-endian hosts (x86-64, aarch64).
const _: () = assert!(cfg!(target_endian = "little"), "HostTensor::bytes assumes a little-endian host");

/// Named tensors of a safetensors file, in file order.
pub fn read_safetensors(path: &Path) -> Result<Vec<(String, HostTensor)>> {
    let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
    let invalid = |message: String| Error::File { path: path.to_path_buf(), message };
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| invalid(format!("not a valid safetensors file: {e:?}")))?;
    let mut named: Vec<(String, HostTensor)> = Vec::new();
    let mut names: Vec<String> = file.names().into_iter().cloned().collect();
    names.sort();
    for name in names {
        let view = file.tensor(&name).map_err(|e| invalid(format!("tensor `{name}`: {e:?}")))?;
        let dtype = DType::from_safetensors(view.dtype())
            .ok_or_else(|| invalid(format!("tensor `{name}` has the unsupported dtype {:?}", view.dtype())))?;
        let shape: Vec<i64> = view.shape().iter().map(|d| *d as i64).collect();
        named.push((
            name.clone(),
            HostTensor::from_le_bytes(dtype, &shape, view.data())
                .map_err(|e| invalid(format!("tensor `{name}`: {e}")))?,
        ));
    }
    Ok(named)
}

/// Writes named tensors as a safetensors file (atomically: a sibling, then a rename).
pub fn write_safetensors(path: &Path, tensors: &[(String, HostTensor)]) -> Result<()> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, tensor) in tensors {
        let end = offset + tensor.bytes().len();
        header.insert(name.clone(), serde_json::json!({"dtype": tensor.dtype().safetensors_name(), "shape": tensor.shape(), "data_offsets": [offset, end]}));
        offset = end;
    }
    let mut header = serde_json::Value::Object(header).to_string().into_bytes();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for (_, tensor) in tensors {
        out.extend_from_slice(tensor.bytes());
    }
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, out).map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io("rename", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_must_match_their_values() {
        assert!(HostTensor::new(&[2, 3], vec![0f32; 6]).is_ok());
        let error = HostTensor::new(&[2, 3], vec![0f32; 5]).unwrap_err().to_string();
        assert!(error.contains("holds 6 elements, got 5"), "{error}");
        assert!(HostTensor::new(&[-1], vec![0i64]).is_err());
    }

    #[test]
    fn bytes_round_trip_for_every_dtype() {
        let cases = [
            HostTensor::new(&[2], vec![-3i64, 1 << 40]).unwrap(),
            HostTensor::new(&[2], vec![-3i32, 7]).unwrap(),
            HostTensor::new(&[3], vec![true, false, true]).unwrap(),
            HostTensor::new(&[2, 2], vec![1.5f32, -0.25, 3.0, f32::MAX]).unwrap(),
            HostTensor::new(&[1], vec![std::f64::consts::PI]).unwrap(),
        ];
        for tensor in cases {
            let back = HostTensor::from_le_bytes(tensor.dtype(), tensor.shape(), tensor.bytes()).unwrap();
            assert_eq!(back, tensor);
        }
    }

    #[test]
    fn a_shape_whose_byte_count_overflows_is_an_error() {
        // 2^61 elements fit a usize, their 8-byte size does not: no wrap to a small count.
        let error = HostTensor::from_le_bytes(DType::Float64, &[1 << 31, 1 << 30], &[]).unwrap_err().to_string();
        assert!(error.contains("larger than memory can address"), "{error}");
        let error = HostTensor::from_le_bytes(DType::Float32, &[i64::MAX, 4], &[]).unwrap_err().to_string();
        assert!(error.contains("invalid shape"), "{error}");
    }

    #[test]
    fn half_floats_convert_exactly() {
        let half =
            HostTensor::from_le_bytes(DType::Float16, &[4], &[0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c]).unwrap();
        let values = half.to_f64_vec();
        assert_eq!(&values[..2], &[1.0, -2.0]);
        assert_eq!(values[2], 2f64.powi(-24));
        assert!(values[3].is_infinite());
    }

    #[test]
    fn narrow_keeps_a_prefix_of_one_axis() {
        let t = HostTensor::new(&[2, 3, 2], (0..12).map(|x| x as f32).collect()).unwrap();
        let cut = t.narrow(1, 2).unwrap();
        assert_eq!(cut.shape(), &[2, 2, 2]);
        assert_eq!(cut.as_f32().unwrap(), &[0.0, 1.0, 2.0, 3.0, 6.0, 7.0, 8.0, 9.0]);
        assert!(t.narrow(3, 1).is_err() && t.narrow(1, 4).is_err());
    }

    #[test]
    fn safetensors_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        let tensors = vec![
            ("a".to_string(), HostTensor::new(&[2, 2], vec![1f32, 2.0, 3.0, 4.0]).unwrap()),
            ("b".to_string(), HostTensor::new(&[3], vec![5i64, 6, 7]).unwrap()),
        ];
        write_safetensors(&path, &tensors).unwrap();
        assert_eq!(read_safetensors(&path).unwrap(), tensors);
        std::fs::write(&path, b"garbage").unwrap();
        let error = read_safetensors(&path).unwrap_err().to_string();
        assert!(error.contains("not a valid safetensors file"), "{error}");
    }
}
