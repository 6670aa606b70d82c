//! Typed errors of this crate. Every variant names the file it concerns and,
//! where one exists, the line or data row.

use std::path::PathBuf;

use thiserror::Error;

/// Errors reading or checking the dataset registry (`datasets.toml`).
#[derive(Debug, Error)]
pub enum RegistryError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// Registry file.
        file: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The TOML did not parse or did not match the schema.
    #[error("{file}:{line}: {message}")]
    Parse {
        /// Registry file.
        file: PathBuf,
        /// 1-based line of the offending value (0 if unknown).
        line: usize,
        /// Parser message.
        message: String,
    },
    /// A task entry parsed but is inconsistent.
    #[error("{file}:{line}: task {task}: {message}")]
    Invalid {
        /// Registry file.
        file: PathBuf,
        /// 1-based line of the task's `[[task]]` header.
        line: usize,
        /// `group/name` of the task.
        task: String,
        /// What is wrong.
        message: String,
    },
    /// No task has this path or name.
    #[error("{file}: no task named {key:?}")]
    UnknownTask {
        /// Registry file.
        file: PathBuf,
        /// The key looked up.
        key: String,
    },
    /// A short name matches several tasks.
    #[error("{file}: task name {key:?} is ambiguous; use one of {candidates:?}")]
    AmbiguousTask {
        /// Registry file.
        file: PathBuf,
        /// The key looked up.
        key: String,
        /// Full paths that match.
        candidates: Vec<String>,
    },
}

/// Errors reading one split file (structural problems: the file cannot be used).
#[derive(Debug, Error)]
pub enum DataError {
    /// The file could not be opened or parsed by the CSV/Parquet reader.
    #[error("{file}: {message}")]
    Read {
        /// Data file.
        file: PathBuf,
        /// Reader message.
        message: String,
    },
    /// The file has no header / no content.
    #[error("{file}: file is empty")]
    Empty {
        /// Data file.
        file: PathBuf,
    },
    /// The header does not contain the expected columns.
    #[error("{file}:1: expected columns {expected:?}, found {found:?}")]
    Columns {
        /// Data file.
        file: PathBuf,
        /// Column names required.
        expected: Vec<String>,
        /// Column names present.
        found: Vec<String>,
    },
    /// A cell is missing or a label is not a non-negative integer.
    #[error("{file}: data row {row} (line {line}): {message}")]
    Row {
        /// Data file.
        file: PathBuf,
        /// 1-based data row (header excluded).
        row: usize,
        /// 1-based line in a CSV/TSV file (row + 1 for the header).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A line of a CSV/TSV file is malformed (header without the needed columns, ...).
    #[error("{file}:{line}: {message}")]
    Line {
        /// Data file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The extension is not one of csv, tsv, parquet.
    #[error("{file}: unsupported extension (expected .csv, .tsv or .parquet)")]
    Format {
        /// Data file.
        file: PathBuf,
    },
}

/// Errors computing metrics.
#[derive(Debug, Error, PartialEq)]
pub enum MetricError {
    /// No examples.
    #[error("metrics need at least one example")]
    Empty,
    /// `y_true` and `y_pred` differ in length.
    #[error("length mismatch: {y_true} true labels vs {y_pred} predictions")]
    Length {
        /// Number of true labels.
        y_true: usize,
        /// Number of predictions (or logit rows).
        y_pred: usize,
    },
    /// Logits length is not a multiple of the class count, or no classes.
    #[error("logits of length {len} do not split into rows of {num_classes} classes")]
    Shape {
        /// Length of the flat logits slice.
        len: usize,
        /// Classes per row.
        num_classes: usize,
    },
    /// A logit is NaN.
    #[error("logit row {row} contains NaN")]
    NaN {
        /// 0-based row.
        row: usize,
    },
}

/// Errors of the benchmark runner and report writer.
#[derive(Debug, Error)]
pub enum RunnerError {
    /// Registry lookup failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A file could not be written or read.
    #[error("{file}: {source}")]
    Io {
        /// File concerned.
        file: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// `results.jsonl` has a line that is not a run record.
    #[error("{file}:{line}: bad result record: {message}")]
    Results {
        /// Results file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// Parser message.
        message: String,
    },
    /// The chart could not be drawn.
    #[error("{file}: chart: {message}")]
    Chart {
        /// PNG file.
        file: PathBuf,
        /// Backend message.
        message: String,
    },
}
