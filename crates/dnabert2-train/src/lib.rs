//! # dnabert2-train
//!
//! Training machinery for DNABERT-2 on burn.
//!
//! Shared building blocks (also used by fine-tuning):
//! - [`checkpoint`]: atomic checkpoint directories, keep-last-N + best,
//!   burn records of model and optimizer for exact resumption;
//! - [`schedule`]: linear warmup then linear decay (HF-compatible);
//! - [`metrics_log`]: append-only JSONL metrics (`metrics.jsonl`);
//! - [`plot`]: PNG line charts (plotters, embedded font);
//! - [`rng`]: counter-based seeding so a run is a pure function of `(seed, step)`;
//! - [`atomic`]: crash-safe file writes; [`error`]: [`TrainError`].
//!
//! Pretraining (masked-language modelling from FASTA):
//! - [`corpus`]: FASTA -> memory-mapped `u16` token shards + manifest, random windows;
//! - [`mlm`]: the BERT 80/10/10 masking; [`batch`]: padded masked batches;
//! - [`eval`]: held-out masked loss/accuracy and the unigram baseline;
//! - [`pretrain`]: the training loop; [`curves`]: `curves.png` of a run.
//!
//! Precision: training runs in f32. burn 0.21's CPU backends (flex, ndarray)
//! have no bf16/f16 matmul path worth using; on GPU backends a half-precision
//! float type can be chosen through the backend type parameter
//! (e.g. `Autodiff<Cuda<half::bf16>>`), which this crate does not restrict.

pub mod atomic;
pub mod backends;
pub mod batch;
pub mod checkpoint;
pub mod console;
pub mod corpus;
pub mod curves;
pub mod distributed;
pub mod error;
pub mod eval;
pub mod finetune;
pub mod gue;
pub mod init_from;
pub mod metrics_log;
pub mod mlm;
pub mod optim;
pub mod plot;
pub mod predict;
pub mod pretrain;
pub mod rng;
pub mod schedule;
pub mod step;

pub use error::{Result, TrainError};
pub use pretrain::{Budget, PretrainConfig, PretrainSummary, pretrain, pretrain_distributed};

/// The crate README's examples, run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
