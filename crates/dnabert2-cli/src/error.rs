//! The tool's errors: one line each, naming the file and the line, record or key.

use std::path::PathBuf;

/// What can go wrong in a command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input data.
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Input {
        /// The input file (`-` for stdin).
        path: PathBuf,
        /// 1-based line (CSV, plain) or record number (FASTA).
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// Flags that do not fit together.
    #[error("{0}")]
    Usage(String),
    /// Loading or running the model failed.
    #[error(transparent)]
    Model(#[from] dnabert2_model::ModelError),
    /// Prediction failed.
    #[error(transparent)]
    Train(#[from] dnabert2_train::TrainError),
}

/// Result of the tool's functions.
pub type Result<T> = std::result::Result<T, CliError>;

/// Maps an IO error to [`CliError::Io`] naming `path`.
pub fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CliError {
    let path = path.into();
    move |source| CliError::Io { path, source }
}
