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
    /// The device failed while computing a result (allocation beyond its limits, a kernel
    /// launch, a lost device): the result does not exist, so nothing may be written.
    #[error("device error while computing {what}: {message}")]
    Device {
        /// The result being read back.
        what: String,
        /// The backend's report.
        message: String,
    },
}

/// Reads `t` back to the host as `T` values (`f32`, `f64`, `i64`, ...), or the device error
/// that kept it from being computed. Every result the libraries hand to a writer goes through
/// here: burn's `into_data` would return whatever the buffer held after a failed kernel.
///
/// ```
/// use burn::backend::Flex;
/// use burn::prelude::*;
///
/// let t = Tensor::<Flex, 1>::from_floats([1.0, 2.0], &Default::default());
/// let v: Vec<f32> = dnabert2_model::error::read_back(t, "example").unwrap();
/// assert_eq!(v, [1.0, 2.0]);
/// ```
pub fn read_back<B, const D: usize, K, T>(
    t: burn::prelude::Tensor<B, D, K>,
    what: &str,
) -> Result<Vec<T>>
where
    B: burn::prelude::Backend,
    K: burn::tensor::BasicOps<B>,
    T: burn::tensor::Element,
{
    let device_error = |message: String| ModelError::Device {
        what: what.to_string(),
        message,
    };
    let data = t.try_into_data().map_err(|e| device_error(e.to_string()))?;
    data.convert::<T>()
        .into_vec::<T>()
        .map_err(|e| device_error(format!("{e:?}")))
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
