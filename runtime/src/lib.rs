//! The thin runtime every generated module compiles against.
//!
//! It detects hardware, builds and caches artifacts through the Python exporter, runs real
//! inference with libtorch (tch), checks outputs against the eager PyTorch reference,
//! measures, and records results (spool files, then DuckDB). It never reads metadata or
//! templates: generated modules hand it their spec as constants.

pub mod artifacts;
pub mod backend;
pub mod check;
pub mod error;
pub mod hardware;
pub mod measure;
pub mod paths;
pub mod results;
pub mod session;
pub mod spec;
pub mod suite;

pub use error::{Error, Result};
pub use hardware::{detect, Detection, Hardware};
pub use session::Session;
pub use spec::{Case, Constant, DType, Dim, DimRef, Expected, ModelSpec, TensorSpec, Tolerance};
/// Tensors as the typed skills take and return them.
pub use tch::Tensor;
