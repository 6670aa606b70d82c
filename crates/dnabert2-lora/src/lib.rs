//! LoRA fine-tuning for DNABERT-2 on burn, with adapter files in the Hugging Face PEFT layout.
//!
//! burn has no LoRA of its own. This crate provides [`LoraLinear`] (a frozen base
//! [`burn::nn::Linear`] plus a trainable low-rank [`LoraAdapter`]) implementing the model
//! crate's [`dnabert2_model::LinearLayer`], and swaps it in through
//! `BertForSequenceClassification::map_linears`; the model crate knows nothing about LoRA.
//!
//! - [`apply_lora`]: adapters on the chosen [`LoraTarget`]s (`Wqkv`, `dense` =
//!   `attention.output.dense`, `gated_layers`, `wo`), everything else frozen except the task
//!   head (pooler + classifier). Unknown targets are errors: upstream's PEFT default
//!   `query,value` matches nothing in DNABERT-2 (fused `Wqkv`).
//! - [`peft::save_adapter`] / [`peft::load_adapter`]: `adapter_config.json` +
//!   `adapter_model.safetensors` with PEFT key names, loadable by `PeftModel.from_pretrained`.
//! - [`merge_lora`] / [`save_merged`]: fold `W + (alpha/r) A B` and export a plain HF
//!   checkpoint.
//! - [`trainable_params`], [`expected_trainable_params`]: what the optimizer sees.
//!
//! Frozen parameters do not require gradients, so burn's optimizers (which update only
//! parameters present in `GradientsParams`) leave them bit-identical.
//!
//! ```
//! use dnabert2_lora::{apply_lora, merge_lora, LoraConfig};
//! use dnabert2_model::{BertConfig, BertForSequenceClassification};
//! type B = burn::backend::Autodiff<burn::backend::Flex>;
//! let cfg = BertConfig::preset("tiny").unwrap();
//! let base = BertForSequenceClassification::<B>::init(&cfg, &Default::default());
//! let lora = apply_lora(base, &LoraConfig::from_cli(8, 16.0, 0.05, "Wqkv,dense,gated_layers,wo").unwrap()).unwrap();
//! // ... train ...
//! let plain: BertForSequenceClassification<B> = merge_lora(lora);
//! # let _ = plain;
//! ```

pub mod apply;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod error;
pub mod layer;
pub mod merge;
pub mod peft;

pub use apply::{
    LoraClassifier, LoraEncoder, adapter_param_count, apply_lora, apply_lora_encoder,
    expected_trainable_params, mark_trainable, target_dims, total_params, trainable_params,
};
pub use config::{LoraConfig, LoraTarget, parse_targets};
pub use error::{LoraError, Result};
pub use layer::{LoraAdapter, LoraLinear};
pub use merge::{merge_lora, merge_lora_encoder, save_merged};
pub use peft::{AdapterConfig, load_adapter, save_adapter};
