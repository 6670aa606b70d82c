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
    watch_device_failures();
    let data = t.try_into_data().map_err(|e| device_error(e.to_string()))?;
    if let Some(failure) = device_failure::<B>() {
        return Err(device_error(failure));
    }
    data.convert::<T>()
        .into_vec::<T>()
        .map_err(|e| device_error(format!("{e:?}")))
}

/// Waits for every queued kernel on `device` and reports a device failure, if any: call it
/// before publishing results that were read back without [`read_back`].
pub fn check_device<B: burn::prelude::Backend>(device: &B::Device, what: &str) -> Result<()> {
    watch_device_failures();
    let device_error = |message: String| ModelError::Device {
        what: what.to_string(),
        message,
    };
    B::sync(device).map_err(|e| device_error(e.to_string()))?;
    match device_failure::<B>() {
        Some(failure) => Err(device_error(failure)),
        None => Ok(()),
    }
}

/// Panics of cubecl's device-service threads (named `DSU-*` / `DSD-*`), oldest first.
static DEVICE_FAILURES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Installs (once per process) a panic hook that records panics of cubecl's device-service
/// threads before running the previous hook. cubecl reports some device failures only that
/// way: wgpu's `can't allocate buffer of size: N` unwraps inside the server thread, which
/// dies while the caller goes on and reads back buffers that were never computed (a silent
/// wrong result). [`read_back`] and [`check_device`] turn a recorded failure into
/// [`ModelError::Device`]. Called by every forward pass of the model; idempotent.
pub fn watch_device_failures() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("");
            if name.starts_with("DSU-") || name.starts_with("DSD-") {
                let message = info
                    .payload()
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| info.payload().downcast_ref::<&str>().copied())
                    .unwrap_or("panic without a message");
                if let Ok(mut failures) = DEVICE_FAILURES.lock() {
                    failures.push(format!("device thread {name}: {message}"));
                }
            }
            previous(info);
        }));
    });
}

/// Takes the recorded device failures when `B` is a GPU backend (CPU backends have no
/// device threads, so a GPU failure elsewhere in the process is never blamed on them).
#[cfg_attr(
    not(any(feature = "wgpu", feature = "cuda")),
    allow(clippy::extra_unused_type_parameters)
)]
fn device_failure<B: burn::prelude::Backend>() -> Option<String> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if crate::gpu_attention::applies::<B>() {
        let mut failures = DEVICE_FAILURES.lock().ok()?;
        if failures.is_empty() {
            return None;
        }
        return Some(std::mem::take(&mut *failures).join("; "));
    }
    None
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
