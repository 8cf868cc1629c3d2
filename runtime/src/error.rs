//! The runtime's error type.

use std::path::PathBuf;

/// Result alias for the runtime.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The hardware is absent; carries the detected reason.
    #[error("{hardware} is not available: {reason}")]
    HardwareAbsent {
        /// Hardware id.
        hardware: &'static str,
        /// Why (detected).
        reason: String,
    },
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
    /// A command-line argument names something that does not exist.
    #[error("{0}")]
    InvalidArgument(String),
    /// The exporter could not run at all.
    #[error("exporter failed to run: {0}")]
    Exporter(String),
    /// The exporter ran but could not build this model.
    #[error("export of `{model}` failed ({category}): {error}{hint}")]
    Export {
        /// Model type.
        model: String,
        /// The failure category the exporter recorded (`build`, `torchscript`, ...), or the
        /// environment's for a transient failure of the machine.
        category: crate::FailureCategory,
        /// First line of the Python error.
        error: String,
        /// How to retry a cached failure (empty for a fresh one).
        hint: String,
    },
    /// An artifact is missing or unreadable.
    #[error("artifact {}: {message}", path.display())]
    Artifact {
        /// Artifact path.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An inference engine failed to load or run a model.
    #[error("{engine}: {message}")]
    Engine {
        /// Engine name (`libtorch`).
        engine: &'static str,
        /// The engine's message.
        message: String,
    },
    /// An inference engine took longer than its time limit to load or run a model.
    #[error("{engine}: timeout: {message}")]
    Timeout {
        /// Engine name (`browser`).
        engine: &'static str,
        /// What took too long, the limit and how to change it.
        message: String,
    },
    /// A host tensor was built or used inconsistently.
    #[error("tensor: {0}")]
    Tensor(String),
    /// Inputs do not fit the model's spec.
    #[error("invalid input for `{model}`: {message}")]
    InvalidInput {
        /// Model type.
        model: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Outputs differ from the reference or break the spec.
    #[error("{0}")]
    Mismatch(String),
    /// The engine fails an ONNX file that ONNX Runtime ran and matched when it was exported
    /// (so the engine is at fault, not the model or its export), and every later route failed too.
    #[error("ONNX Runtime runs this ONNX file and matches (the exporter's check); {error}{later}")]
    EngineOnly {
        /// The engine's failure on the ONNX file.
        error: Box<Error>,
        /// The later routes' failures (`; then the openvino-ir route: ...`), or nothing.
        later: String,
    },
    /// A checkpoint directory (or hub id) is missing, incomplete or of another model.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The directory or file at fault.
        path: PathBuf,
        /// What is wrong and what would fix it.
        message: String,
    },
    /// Raw input (text, an image, a WAV file) could not be turned into model inputs.
    #[error("{what}: {message}")]
    Preprocess {
        /// What was being prepared (`tokenizer`, `text`, ...).
        what: String,
        /// What is wrong and what would fix it.
        message: String,
    },
    /// JSON could not be read or written.
    #[error("{context}: {source}")]
    Json {
        /// What was being parsed.
        context: String,
        /// serde_json's error.
        source: serde_json::Error,
    },
}

impl From<host_tensor::Error> for Error {
    fn from(error: host_tensor::Error) -> Error {
        match error {
            host_tensor::Error::Tensor(message) => Error::Tensor(message),
            host_tensor::Error::Io { action, path, source } => Error::Io { action, path, source },
            host_tensor::Error::File { path, message } => Error::Artifact { path, message },
        }
    }
}

#[cfg(feature = "browser")]
impl From<browser_driver::Error> for Error {
    fn from(error: browser_driver::Error) -> Error {
        match error {
            browser_driver::Error::Engine(message) => Error::Engine { engine: browser_driver::ENGINE, message },
            browser_driver::Error::Timeout(message) => Error::Timeout { engine: browser_driver::ENGINE, message },
            browser_driver::Error::Io { action, path, source } => Error::Io { action, path, source },
            browser_driver::Error::Json { context, source } => Error::Json { context, source },
            browser_driver::Error::Tensor(error) => error.into(),
        }
    }
}

impl Error {
    /// Wraps an I/O error with the action and path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}
