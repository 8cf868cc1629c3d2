//! The error type of the command line and the results store.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the results store, its reports and the command line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runtime failed (export, detection, inference, the cache).
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
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
    /// A results shard failed validation and was not imported.
    #[error("shard {} rejected, nothing of it imported:\n  - {}", dir.display(), reasons.join("\n  - "))]
    ShardRejected {
        /// The shard directory.
        dir: PathBuf,
        /// Every problem found.
        reasons: Vec<String>,
    },
    /// A comparison found regressions (the command exits non-zero).
    #[error("{0} regression(s)")]
    Regression(usize),
    /// The results database failed.
    #[error("results database {}: {message}", path.display())]
    Database {
        /// Database file.
        path: PathBuf,
        /// What failed, with a hint.
        message: String,
    },
    /// The results database is held by another process.
    #[error("results database {} is locked by another process ({detail}); results stay in the spool and `cargo run -p hfzoo -- ingest` adds them later", path.display())]
    DatabaseLocked {
        /// Database file.
        path: PathBuf,
        /// DuckDB's message.
        detail: String,
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

impl Error {
    /// Wraps an I/O error with the action and path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}
