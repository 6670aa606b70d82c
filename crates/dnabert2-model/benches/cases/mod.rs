//! The benchmark cases, shared by the criterion bench (`benches/model.rs`) and the
//! one-case-per-process runner (`examples/bench_case.rs`, driven by `cargo xtask bench cpu`).
//!
//! Names: `forward_BxS` (117M encoder, eval forward), `forward_BxS_burn_op` (the same through
//! burn's attention op with a `[B, H, S, S]` bias), `train_step_BxS[_burn_op]` (117M MLM
//! step: 15% of positions labelled, forward, loss, backward, AdamW), `finetune_small_BxS` (`small` preset
//! classification step: pooler + classifier, cross-entropy, backward, AdamW) and `sgemm_N`
//! (one N x N x N f32 matrix product on the backend: the machine's matmul ceiling).
//!
//! [`prepare`] builds a case on the CPU backend in f32; [`prepare_on`] on any backend and
//! precision (the GPU bench: `bench_case --backend cuda --precision bf16`; weights and
//! activations are cast, the optimizer runs on the cast weights).
#![allow(dead_code)]

use burn::backend::Autodiff;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use dnabert2_model::backend::CpuBackend as B;
use dnabert2_model::precision::{Precision, cast_module};
use dnabert2_model::{
    BertConfig, BertForMaskedLM, BertForSequenceClassification, BertInput, BertModel,
    ForwardOptions,
};

/// One prepared case: `step()` runs one iteration and waits for its result.
pub struct Case {
    /// The case name.
    pub name: String,
    /// Tokens per step (0 for `sgemm`).
    pub tokens: usize,
    /// Model FLOPs per step (matmuls and attention; forward 2 per MAC, training 3x that).
    pub flops: f64,
    /// One iteration.
    pub step: Box<dyn FnMut()>,
}

/// The default case list of `cargo xtask bench cpu` and the criterion bench.
pub const DEFAULT_CASES: [&str; 7] = [
    "sgemm_2048",
    "forward_8x128",
    "forward_1x1024",
    "forward_1x4096",
    "train_step_8x128",
    "train_step_2x1024",
    "finetune_small_32x128",
];

fn dims(spec: &str) -> Option<(usize, usize)> {
    let (b, s) = spec.split_once('x')?;
    Some((b.parse().ok()?, s.parse().ok()?))
}

fn random_input<Bk: Backend>(b: usize, s: usize, device: &Bk::Device) -> BertInput<Bk> {
    let ids = Tensor::<Bk, 2>::random([b, s], Distribution::Uniform(5.0, 4096.0), device).int();
    BertInput::new(ids, Tensor::ones([b, s], device))
}

/// Forward FLOPs of the encoder for `b` sequences of `s` tokens.
pub fn encoder_flops(cfg: &BertConfig, b: usize, s: usize) -> f64 {
    let (d, i) = (cfg.hidden_size as f64, cfg.intermediate_size as f64);
    let per_token_macs = 3.0 * d * d + d * d + d * 2.0 * i + i * d;
    let attn_macs = 2.0 * s as f64 * d; // q k^T and p v, per token
    2.0 * cfg.num_hidden_layers as f64 * (b * s) as f64 * (per_token_macs + attn_macs)
}

/// Builds the case `name` on the CPU backend in f32, or says what names exist.
pub fn prepare(name: &str) -> Result<Case, String> {
    prepare_on::<B>(name, Precision::F32, Default::default())
}

/// Builds the case `name` on backend `Bk` (`device`) in `precision`.
pub fn prepare_on<Bk: Backend>(
    name: &str,
    precision: Precision,
    device: Bk::Device,
) -> Result<Case, String> {
    let bad = || {
        format!(
            "unknown case `{name}` (forward_BxS[_burn_op], train_step_BxS[_burn_op], \
             finetune_small_BxS, sgemm_N)"
        )
    };
    let dtype = precision.dtype();
    if let Some(n) = name.strip_prefix("sgemm_") {
        let n: usize = n.parse().map_err(|_| bad())?;
        let a =
            Tensor::<Bk, 2>::random([n, n], Distribution::Uniform(-1.0, 1.0), &device).cast(dtype);
        let b = a.clone().transpose();
        return Ok(Case {
            name: name.into(),
            tokens: 0,
            flops: 2.0 * (n * n * n) as f64,
            step: Box::new(move || {
                let _ = a.clone().matmul(b.clone()).slice([0..1, 0..1]).into_data();
            }),
        });
    }
    if let Some(rest) = name.strip_prefix("forward_") {
        let (spec, tensor_attention) = match rest.strip_suffix("_burn_op") {
            Some(s) => (s, true),
            None => (rest, false),
        };
        let (b, s) = dims(spec).ok_or_else(bad)?;
        let cfg = BertConfig::preset("base").map_err(|e| e.to_string())?;
        let model = cast_module(BertModel::<Bk>::init(&cfg, false, &device), precision);
        let input = random_input::<Bk>(b, s, &device);
        let opts = ForwardOptions {
            tensor_attention,
            ..Default::default()
        };
        return Ok(Case {
            name: name.into(),
            tokens: b * s,
            flops: encoder_flops(&cfg, b, s),
            step: Box::new(move || {
                let _ = model
                    .forward_with(input.clone(), opts)
                    .last_hidden_state
                    .into_data();
            }),
        });
    }
    if let Some(rest) = name.strip_prefix("train_step_") {
        type AD<Bk> = Autodiff<Bk>;
        let (spec, tensor_attention) = match rest.strip_suffix("_burn_op") {
            Some(s) => (s, true),
            None => (rest, false),
        };
        let opts = ForwardOptions {
            tensor_attention,
            ..Default::default()
        };
        let (b, s) = dims(spec).ok_or_else(bad)?;
        let cfg = BertConfig::preset("base").map_err(|e| e.to_string())?;
        let init = BertForMaskedLM::<AD<Bk>>::init(&cfg, &device);
        let mut model = Some(cast_module(init, precision));
        let mut optim = AdamWConfig::new()
            .with_beta_2(0.98)
            .with_epsilon(1e-6)
            .with_weight_decay(1e-5)
            .init::<AD<Bk>, BertForMaskedLM<AD<Bk>>>();
        let input = random_input::<AD<Bk>>(b, s, &device);
        let sel = Tensor::<AD<Bk>, 2>::random([b, s], Distribution::Uniform(0.0, 1.0), &device)
            .lower_elem(0.15);
        let labels = input.input_ids.clone().mask_fill(sel.bool_not(), -100);
        return Ok(Case {
            name: name.into(),
            tokens: b * s,
            flops: 3.0 * encoder_flops(&cfg, b, s),
            step: Box::new(move || {
                let Some(m) = model.take() else { return };
                let loss = m
                    .forward_masked_with(input.clone(), labels.clone(), opts)
                    .loss;
                let grads = GradientsParams::from_grads(loss.backward(), &m);
                let m = optim.step(1e-4, m, grads);
                let _ = m.cls.decoder_bias.val().slice(0..1).into_data();
                model = Some(m);
            }),
        });
    }
    if let Some(spec) = name.strip_prefix("finetune_small_") {
        type AD<Bk> = Autodiff<Bk>;
        let (b, s) = dims(spec).ok_or_else(bad)?;
        let cfg = BertConfig::preset("small")
            .map_err(|e| e.to_string())?
            .with_num_labels(2);
        let init = BertForSequenceClassification::<AD<Bk>>::init(&cfg, &device);
        let mut model = Some(cast_module(init, precision));
        let mut optim = AdamWConfig::new()
            .with_weight_decay(0.01)
            .init::<AD<Bk>, BertForSequenceClassification<AD<Bk>>>();
        let input = random_input::<AD<Bk>>(b, s, &device);
        let labels =
            Tensor::<AD<Bk>, 1>::random([b], Distribution::Uniform(0.0, 2.0), &device).int();
        return Ok(Case {
            name: name.into(),
            tokens: b * s,
            flops: 3.0 * encoder_flops(&cfg, b, s),
            step: Box::new(move || {
                let Some(m) = model.take() else { return };
                let loss = m.loss(m.forward(input.clone()), labels.clone());
                let grads = GradientsParams::from_grads(loss.backward(), &m);
                let m = optim.step(3e-5, m, grads);
                let _ = m.classifier.weight.val().slice([0..1, 0..1]).into_data();
                model = Some(m);
            }),
        });
    }
    Err(bad())
}

/// This process's peak resident set in bytes (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
