//! Fine-tuning DNABERT-2 on labelled sequences with the GUE protocol (upstream `train.py` + HF Trainer; docs/GUE.md lists it side by side).
//!
//! - [`data`]: `train/dev/test` CSV splits; single or pair input; class, real or
//!   multi-hot labels ([`TaskSplits`]);
//! - [`encode`]: tokenising once, padded batches;
//! - [`objective`]: cross-entropy (optionally class-weighted), MSE, BCE;
//! - [`evaluate`]: dev/test loss and metrics;
//! - [`options`]: [`FinetuneOptions`] (GUE defaults) and [`ModelSource`];
//! - [`train`]: the loop ([`finetune`], [`finetune_with`]);
//! - [`lora`]: full or LoRA fine-tuning in one call ([`finetune_source`]), writing the
//!   PEFT adapter directory of LoRA runs.
//!
//! The loop keeps the checkpoint with the **lowest dev loss** (evaluated every
//! `eval_every` steps and after the last step), writes it to the output directory as a
//! Hugging Face-style model (`config.json` with `num_labels`/`id2label` +
//! `model.safetensors` with the pooler and classifier) and reports the test metrics of
//! that checkpoint in `test_metrics.json`. The output directory can be passed back
//! as `--model` for prediction or further fine-tuning.

pub mod data;
pub mod encode;
pub mod evaluate;
pub mod lora;
pub mod objective;
pub mod options;
pub mod train;

pub use data::{Examples, Problem, Targets, TaskSplits};
pub use evaluate::EvalResult;
pub use lora::{ADAPTER_DIR, finetune_source};
pub use options::{ClassWeights, FinetuneOptions, ModelSource};
pub use train::{
    BestModel, FinetuneSummary, RunSettings, TEST_METRICS_JSON, build_classifier, finetune,
    finetune_with,
};
