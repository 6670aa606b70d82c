//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong when configuring, loading or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The config file could not be read.
    #[error("cannot read config {path}: {source}")]
    ConfigIo {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The config file is not valid JSON for [`crate::BertConfig`].
    #[error("cannot parse config {path}: {source}")]
    ConfigParse {
        /// The file (empty when parsed from a string).
        path: PathBuf,
        /// The JSON error, with line and column.
        source: serde_json::Error,
    },
    /// The config is well-formed JSON but describes an impossible model.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// A checkpoint file could not be read or parsed.
    #[error("cannot read checkpoint {path}: {message}")]
    CheckpointRead {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A tensor the model needs is not in the checkpoint.
    #[error("checkpoint {path}: missing tensor `{key}`")]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The HF key name.
        key: String,
    },
    /// The checkpoint holds tensors the model does not use.
    #[error("checkpoint {path}: unexpected tensor(s) {keys:?}")]
    UnexpectedTensors {
        /// The file.
        path: PathBuf,
        /// The HF key names.
        keys: Vec<String>,
    },
    /// A tensor has the wrong shape for the config.
    #[error("checkpoint {path}: tensor `{key}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The HF key name.
        key: String,
        /// Shape in the file.
        found: Vec<usize>,
        /// Shape the config implies.
        expected: Vec<usize>,
    },
    /// A tensor has a dtype we cannot convert to float.
    #[error("checkpoint {path}: tensor `{key}` has unsupported dtype {dtype}")]
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The HF key name.
        key: String,
        /// The dtype as text.
        dtype: String,
    },
    /// A model directory or hub id could not be resolved.
    #[error("model `{model}`: {message}")]
    ModelNotFound {
        /// What was asked for (path or hub id).
        model: String,
        /// Where it was looked for and what to do.
        message: String,
    },
    /// No checkpoint file was found in a model directory.
    #[error("no model.safetensors or pytorch_model.bin in {0}")]
    NoCheckpoint(PathBuf),
    /// Writing a file failed.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The input batch is malformed (ragged rows, empty batch, bad ids).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
