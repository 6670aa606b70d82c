//! # gue-bench
//!
//! The GUE and GUE+ genome-understanding benchmark of DNABERT-2
//! (arXiv:2306.15006) as a library, independent of any model:
//!
//! - [`registry`]: the 36 datasets described by `datasets.toml` ([`Registry`], [`TaskSpec`]);
//! - [`data`]: loading CSV/TSV/Parquet splits ([`load_task`], [`read_split`], [`TaskData`]);
//! - [`validate`]: content checks naming file and row ([`ValidationReport`]);
//! - [`metrics`]: accuracy, macro F1/precision/recall and MCC exactly as scikit-learn;
//! - [`runner`]: tasks x seeds driving a [`FineTuner`], resumable via `results.jsonl`;
//! - [`report`]: `report.md` in the paper's layout and a `report.png` bar chart.
//!
//! ```
//! let reg = gue_bench::Registry::embedded().unwrap();
//! let t = reg.lookup("prom/prom_core_tata").unwrap();
//! assert_eq!(t.max_length, Some(20));
//! assert_eq!(reg.tasks().len(), 36);
//! ```

#![deny(missing_docs)]

pub mod atomic;
#[cfg(feature = "plots")]
pub mod chart;
pub mod data;
pub mod error;
pub mod metrics;
pub mod registry;
pub mod report;
pub mod runner;
pub mod table;
pub mod validate;

pub use data::{
    DATA_ROOT_ENV, Label, LoadedTask, Split, SplitName, TaskData, data_root, load_task, read_split,
};
pub use error::{DataError, MetricError, RegistryError, RunnerError};
pub use metrics::Metrics;
pub use registry::{Benchmark, InputKind, MetricKind, Published, Registry, Rows, TaskSpec};
pub use runner::{
    FineTuner, RunRecord, RunResult, RunSummary, RunnerConfig, TuneError, run_benchmark,
};
pub use validate::{Issue, Severity, ValidationReport};
