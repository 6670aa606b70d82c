//! The crate's error type: every failure names the file (and where it helps
//! the line, step or key) it concerns.

use std::path::PathBuf;

/// Everything that can go wrong while preparing data, training or writing
/// training artefacts.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading, writing or renaming a file or directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file we wrote earlier (manifest, checkpoint state, metrics) is malformed.
    #[error("{path}: malformed JSON: {source}")]
    Json {
        /// The file concerned.
        path: PathBuf,
        /// The parser error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// The tokenizer could not be loaded or failed on an input.
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] dna_bpe::Error),
    /// A FASTA input is unreadable or malformed.
    #[error("corpus: {0}")]
    Fasta(String),
    /// The corpus is unusable (no sequence, no training or no held-out data, ...).
    #[error("corpus: {0}")]
    Corpus(String),
    /// The token cache on disk does not match what it claims to hold.
    #[error("token cache {path}: {message}")]
    Cache {
        /// The cache file concerned.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A data-parallel run could not start, lost a worker or disagreed with itself
    /// (the message names the rank and what happened).
    #[error("distributed: {0}")]
    Distributed(String),
    /// The model crate failed (config, checkpoint load or save).
    #[error("model: {0}")]
    Model(#[from] dnabert2_model::ModelError),
    /// LoRA could not be applied or its adapter not saved.
    #[error("LoRA: {0}")]
    Lora(#[from] dnabert2_lora::LoraError),
    /// A burn record (optimizer state) could not be saved or loaded.
    #[error("{path}: optimizer state: {message}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// The recorder's message.
        message: String,
    },
    /// A checkpoint directory is incomplete or inconsistent with the run.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The loss became NaN or infinite; the last good checkpoint is kept.
    #[error(
        "non-finite loss ({loss}) at step {step} (lr {lr:.3e}); training stopped. \
         The last good checkpoint is untouched: lower --lr or raise --warmup and resume."
    )]
    NonFiniteLoss {
        /// Optimizer step at which it happened.
        step: u64,
        /// The loss value (NaN or +-inf).
        loss: f64,
        /// The learning rate of that step.
        lr: f64,
    },
    /// A labelled data or prediction input file is malformed (fine-tuning, predict).
    #[error("{path}{}: {message}", line.map(|l| format!(": line {l}")).unwrap_or_default())]
    Data {
        /// The file concerned.
        path: PathBuf,
        /// 1-based line (row) where it went wrong, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A command-line or config value is invalid.
    #[error("invalid setting: {0}")]
    Config(String),
    /// Drawing a plot failed.
    #[error("{path}: cannot draw plot: {message}")]
    Plot {
        /// The PNG being written.
        path: PathBuf,
        /// The drawing backend's message.
        message: String,
    },
}

/// Shorthand for `Result<T, TrainError>`.
pub type Result<T> = std::result::Result<T, TrainError>;

/// Adds the path to an I/O error.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
    let path = path.into();
    move |source| TrainError::Io { path, source }
}

impl From<gue_bench::DataError> for TrainError {
    /// Table errors become [`TrainError::Data`] with the file and, when known, the line.
    fn from(e: gue_bench::DataError) -> Self {
        use gue_bench::DataError as D;
        let message = e.to_string();
        let (path, line) = match e {
            D::Line { file, line, .. } | D::Row { file, line, .. } => (file, Some(line)),
            D::Columns { file, .. } => (file, Some(1)),
            D::Read { file, .. } | D::Empty { file } | D::Format { file } => (file, None),
        };
        TrainError::Data {
            path,
            line,
            message,
        }
    }
}
