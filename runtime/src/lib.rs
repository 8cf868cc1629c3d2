//! The thin runtime every generated module compiles against.
//!
//! It detects hardware, builds and caches artifacts through the Python exporter, runs real
//! inference through its backends (libtorch via tch today), checks outputs against the eager
//! PyTorch reference, measures, and records results as spool files (the `hfzoo` crate ingests
//! them into its database). It never reads
//! metadata or templates: generated modules hand it their spec as constants.
//!
//! Tensors cross every boundary as the runtime's own [`HostTensor`]; engine types stay inside
//! their backend's folder (`backend/torch` for tch).

pub mod artifact_check;
pub mod artifacts;
pub mod backend;
pub mod cell_limit;
pub mod check;
pub mod crash;
pub mod error;
pub mod failure;
pub mod forward_guard;
pub mod generation;
pub mod hardware;
pub mod measure;
pub mod paths;
pub mod progress;
pub mod results;
pub mod route;
pub mod session;
pub mod spec;
pub mod suite;
pub mod verdict;

/// Host tensors (their own crate: the browser driver carries them too).
pub use host_tensor as tensor;

pub use backend::detect;
pub use error::{Error, Result};
pub use export_request::Category;
pub use failure::FailureCategory;
pub use hardware::{Detection, Engine, Hardware};
pub use session::Session;
pub use spec::{Case, CellKind, Constant, Cow, Dim, DimRef, Expected, InputSet, ModelSpec, TensorSpec};
pub use tensor::{DType, HostTensor};
