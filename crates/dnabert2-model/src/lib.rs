//! The DNABERT-2 encoder on burn, bit-faithful to the released Hugging Face checkpoint.
//!
//! - [`BertConfig`]: HF `config.json`, presets `tiny` / `small` / `base`.
//! - [`BertModel`], [`BertForMaskedLM`], [`BertForSequenceClassification`]: generic over the
//!   backend `B` and over the type `L` of the four LoRA-targetable linears
//!   (`Wqkv`, `attention.output.dense`, `gated_layers`, `wo`), default burn's `Linear`.
//!   Swap them with `map_linears(|hf_name, linear| ...)`.
//! - [`checkpoint`]: load HF `pytorch_model.bin` / `model.safetensors`, save safetensors.
//! - [`embed`]: pooled, chunked and per-nucleotide embeddings.
//!
//! Attention (`attention.rs`) takes ALiBi and the key mask in one of two forms, chosen once
//! per forward:
//! - on burn-flex and burn-ndarray in f32, inference and training alike, the CPU kernels
//!   ([`cpu_attention`]): ALiBi from `H` slopes and a `[B, S]` key mask, no `[B, H, S, S]`
//!   tensor, with a fused backward (custom autodiff op) for training;
//! - everywhere else (GPU backends, half precision, `ForwardOptions::tensor_attention`) one
//!   additive bias `[B, H, S, S]` for burn's fused `attention` op, which `Autodiff`
//!   differentiates through its composed fallback (matmul, softmax, matmul).
//!
//! `ForwardOptions::output_attentions` switches to an explicit matmul-softmax path that also
//! returns the probabilities. [`BertForMaskedLM::forward_masked`] runs the MLM head only at
//! labelled positions, as upstream does in pretraining. The train-step fixture test checks
//! loss and every gradient on all these paths.
//!
//! Faithfulness notes: the `[UNK]` (id 0 = `pad_token_id`) embedding row keeps PyTorch's
//! `padding_idx` semantics (no gradient from its lookups, the tied decoder still updates it);
//! GELU is the exact erf form built from differentiable ops, so its gradient is exact on every
//! backend; output rows at pad positions are exact zeros; MLM loss ignores labels <= 0.
//!
//! Precision: f32 is the tested path (max abs error vs the PyTorch fixtures <= 4e-6).
//! [`precision::cast_module`] runs the forward in f16 / bf16 (errors bounded in
//! `tests/precision.rs`; docs/PERFORMANCE.md); the CPU kernels are f32-only.
//!
//! ```
//! use dnabert2_model::{BertConfig, BertForMaskedLM, BertInput, backend::CpuBackend as B};
//! let cfg = BertConfig::new(32, 1, 4, 64);
//! let device = Default::default();
//! let model = BertForMaskedLM::<B>::init(&cfg, &device);
//! let x = BertInput::<B>::from_ids(&[vec![1, 5, 6, 2], vec![1, 7, 2]], &device).unwrap();
//! let out = model.forward(x);
//! assert_eq!(out.logits.dims(), [2, 4, 4096]);
//! ```

pub mod attention;
pub mod backend;
pub mod checkpoint;
pub mod config;
pub mod cpu_attention;
mod cpu_autodiff;
pub mod embed;
pub mod embeddings;
pub mod encoder;
pub mod error;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod flash_kernel;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub mod gpu_attention;
pub mod heads;
pub mod hf_names;
mod init;
pub mod input;
mod layer_norm;
pub mod linear;
pub mod loss;
pub mod mlp;
pub mod model;
pub mod precision;
pub mod pretrained;
pub mod safetensors_out;
pub mod score;

pub use config::BertConfig;
pub use error::{ModelError, Result};
pub use heads::{
    BertForMaskedLM, BertForSequenceClassification, BertLmHead, BertPooler, MaskedLmOutput,
    MlmOutput, ProblemType,
};
pub use input::{BertInput, TOKENIZER_PAD_ID};
pub use linear::LinearLayer;
pub use model::{BertModel, BertOutput, ForwardOptions};

/// The crate README's examples, run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
