//! The browser driver's error type (the runtime carries each variant with the same message).

use std::path::PathBuf;

/// Result alias for the browser driver.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The engine name the browser's errors carry (`browser: ...`).
pub const ENGINE: &str = "browser";

/// Everything that can go wrong driving the browser.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The browser or its page failed to start, load or run something.
    #[error("browser: {0}")]
    Engine(String),
    /// The browser or its page took longer than its time limit.
    #[error("browser: timeout: {0}")]
    Timeout(String),
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
    /// JSON could not be written.
    #[error("{context}: {source}")]
    Json {
        /// What was being encoded.
        context: String,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// A tensor the page sent does not fit its header.
    #[error(transparent)]
    Tensor(#[from] host_tensor::Error),
}

impl Error {
    /// Wraps an I/O error with the action and path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}
