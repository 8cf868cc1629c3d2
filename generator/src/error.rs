//! The generator's error type and compiler-style diagnostics.

use std::fmt;
use std::path::PathBuf;

/// Result alias for the generator.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One problem found in an input file, pointing at file, line, column and field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// File as shown to the user (relative to the repository root).
    pub file: String,
    /// 1-based line, 0 if unknown.
    pub line: usize,
    /// 1-based column, 0 if unknown.
    pub column: usize,
    /// Dotted field path, e.g. `inputs[1].shape`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if self.line > 0 {
            writeln!(f, "  --> {}:{}:{}", self.file, self.line, self.column.max(1))?;
        } else {
            writeln!(f, "  --> {}", self.file)?;
        }
        if !self.field.is_empty() {
            writeln!(f, "   = field: {}", self.field)?;
        }
        if !self.hint.is_empty() {
            writeln!(f, "   = hint: {}", self.hint)?;
        }
        Ok(())
    }
}

/// Every problem found in one pass, so a user fixes them all at once.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.0 {
            writeln!(f, "{diagnostic}")?;
        }
        write!(f, "{} problem(s) found", self.0.len())
    }
}

/// Everything that can go wrong in the generator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Metadata failed to parse or validate.
    #[error("{0}")]
    Metadata(Diagnostics),
    /// A file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Which file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The DuckDB template store failed.
    #[error("template store {}: {message}", path.display())]
    Store {
        /// Database file.
        path: PathBuf,
        /// What failed, with a hint.
        message: String,
    },
    /// No template exists with that name.
    #[error("no template named `{0}` in the store (see `generator templates list`)")]
    UnknownTemplate(String),
    /// A family template would win over a hardware template that it does not extend, losing
    /// the hardware template's blocks.
    #[error("template `{selected}` outranks `{shadowed}` for model `{model}` on `{hardware}` and does not extend it, so `{shadowed}`'s blocks would be lost; write `{combined}` (it wins over both), or make `{selected}` extend `{shadowed}`")]
    TemplateShadowed {
        /// The family template selection chose.
        selected: String,
        /// The hardware template it hides.
        shadowed: String,
        /// The model.
        model: String,
        /// The hardware.
        hardware: String,
        /// The family+hardware template that would resolve it.
        combined: String,
    },
    /// A template failed to render for a model.
    #[error("template `{template}` failed for model `{model}` on `{hardware}`: {message}")]
    Render {
        /// Selected template.
        template: String,
        /// Model type.
        model: String,
        /// Hardware id.
        hardware: String,
        /// Tera's error chain.
        message: String,
    },
    /// A template rendered something that is not valid Rust.
    #[error("{origin} rendered invalid Rust at line {line}: {message}\n  {line} | {source_line}")]
    InvalidRust {
        /// "template `T` for model `M` on `H`".
        origin: String,
        /// Line in the rendered output.
        line: usize,
        /// That line of rendered output.
        source_line: String,
        /// syn's message.
        message: String,
    },
    /// `--check` found files that differ from what the generator would write.
    #[error("generated code is stale:\n{}\nrun `cargo run -p generator -- --all` to regenerate", .0.join("\n"))]
    Stale(Vec<String>),
    /// A command-line selection names nothing.
    #[error("{0}")]
    Selection(String),
    /// `metadata harvest` failed.
    #[error("harvest: {0}")]
    Harvest(String),
}

impl Error {
    /// Wraps an I/O error with the action and path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}
