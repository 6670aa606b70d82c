//! Self-attention with symmetric ALiBi: slopes, the shared additive bias, and the fused
//! `Wqkv` attention block.
//!
//! Scores are `q k^T / sqrt(d) + bias`, where the bias `[B, H, S, S]` holds
//! `-slope_h * |i - j|` plus the key mask `(1 - mask) * -10000`. The bias is built once per
//! forward ([`attention_bias`]) and shared by every layer.

use std::sync::Arc;

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use crate::config::BertConfig;
use crate::cpu_attention;
use crate::cpu_autodiff;
use crate::linear::{LinearLayer, init_linear};
use crate::precision::cast_to;

/// ALiBi slopes for `n_heads` heads (upstream `_get_alibi_head_slopes`).
///
/// Power of two n: `start = 2^(-8/n)`, `slope_k = start^(k+1)`. Otherwise, with c the largest
/// power of two below n: the c slopes for c heads, then the even-indexed slopes for 2c heads,
/// first n - c of them.
///
/// ```
/// let s = dnabert2_model::attention::alibi_slopes(12);
/// assert_eq!(s[0], 0.5);
/// assert_eq!(s[8], 2f64.powf(-0.5));
/// ```
pub fn alibi_slopes(n_heads: usize) -> Vec<f64> {
    fn pow2(n: usize) -> Vec<f64> {
        let start = 2f64.powf(-8.0 / n as f64);
        (1..=n).map(|k| start.powi(k as i32)).collect()
    }
    if n_heads == 0 {
        return Vec::new();
    }
    if n_heads.is_power_of_two() {
        return pow2(n_heads);
    }
    let c = 1usize << (usize::BITS - 1 - n_heads.leading_zeros());
    let mut slopes = pow2(c);
    slopes.extend(pow2(2 * c).into_iter().step_by(2).take(n_heads - c));
    slopes
}

/// Builds the additive attention bias `[B, H, S, S]`: ALiBi `-slope_h*|i-j|` plus the key
/// mask `(1 - mask) * -10000`. `mask` is `[B, S]` with 1 for real tokens.
pub fn attention_bias<B: Backend>(mask: Tensor<B, 2, Int>, n_heads: usize) -> Tensor<B, 4> {
    dense_bias(key_bias(mask), n_heads)
}

/// The additive key mask `(1 - mask) * -10000` `[B, S]` of a 0/1 `mask`.
fn key_bias<B: Backend>(mask: Tensor<B, 2, Int>) -> Tensor<B, 2> {
    (mask.float().neg() + 1.0) * -10000.0
}

/// `-slope_h` per head as a `[H]` tensor.
fn neg_slopes<B: Backend>(n_heads: usize, device: &B::Device) -> Tensor<B, 1> {
    let slopes: Vec<f32> = alibi_slopes(n_heads).iter().map(|&v| -(v as f32)).collect();
    Tensor::from_data(TensorData::new(slopes, [n_heads]), device)
}

/// ALiBi for `n_heads` heads plus the key bias `[B, S]`, as one `[B, H, S, S]` tensor.
fn dense_bias<B: Backend>(key_bias: Tensor<B, 2>, n_heads: usize) -> Tensor<B, 4> {
    let [b, s] = key_bias.dims();
    let device = key_bias.device();
    let pos = Tensor::<B, 1, Int>::arange(0..s as i64, &device).float();
    let dist = (pos.clone().reshape([s, 1]) - pos.reshape([1, s])).abs();
    let slopes = neg_slopes::<B>(n_heads, &device);
    let alibi = dist.reshape([1, 1, s, s]) * slopes.reshape([1, n_heads, 1, 1]);
    alibi + key_bias.reshape([b, 1, 1, s])
}

/// The `[B, S]` 0/1 mask behind a [`AttentionBias::Slopes`] key bias (for the rare layer that
/// needs the dense bias after all: attention dropout in training).
fn key_mask_tensor<B: Backend>(
    bias: &AttentionBias<B>,
    b: usize,
    s: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    let keep: Vec<i64> = match bias {
        AttentionBias::Slopes { key_bias, .. } => {
            key_bias.iter().map(|&k| i64::from(k == 0.0)).collect()
        }
        AttentionBias::Dense(_) | AttentionBias::Device(_) => vec![1; b * s],
    };
    Tensor::from_data(TensorData::new(keep, [b, s]), device)
}

/// Attention-probability dropout needs the probabilities, so with it the GPU backends run
/// the explicit `[B, H, S, S]` path: said once per process.
fn warn_dropout_fallback() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        log::warn!(
            "attention_probs_dropout_prob > 0 in training: the fused GPU attention kernel has no \
             dropout, so attention runs the explicit O(S^2) path (the released config has 0)"
        );
    });
}

/// How the layers of one forward receive the ALiBi + key-mask term.
#[derive(Debug, Clone)]
pub enum AttentionBias<B: Backend> {
    /// One `[B, H, S, S]` tensor ([`attention_bias`]) for burn's fused attention op (or the
    /// explicit softmax path), built once per forward and shared by every layer.
    Dense(Tensor<B, 4>),
    /// What the CPU kernel ([`crate::cpu_attention`]) needs instead: `-slope_h` per head and
    /// the additive key mask `[B, S]`. No `[B, H, S, S]` tensor exists.
    Slopes {
        /// `[B * S]`: 0 at real keys, -10000 at padded keys.
        key_bias: Arc<Vec<f32>>,
        /// `[H]`: minus the ALiBi slope of each head.
        neg_slopes: Arc<Vec<f32>>,
    },
    /// What the GPU kernels ([`crate::gpu_attention`], CubeCL backends) need: the same two
    /// terms as device tensors. No `[B, H, S, S]` tensor exists.
    Device(DeviceBias<B>),
}

/// The key bias and slopes of [`AttentionBias::Device`], on the device.
#[derive(Debug, Clone)]
pub struct DeviceBias<B: Backend> {
    /// `[B, S]` f32: 0 at real keys, -10000 at padded keys.
    pub key_bias: Tensor<B, 2>,
    /// `[H]` f32: minus the ALiBi slope of each head.
    pub neg_slopes: Tensor<B, 1>,
}

impl<B: Backend> DeviceBias<B> {
    /// The key bias of a 0/1 `mask` `[B, S]` and the slopes of `n_heads` heads, on the
    /// mask's device.
    pub fn new(mask: Tensor<B, 2, Int>, n_heads: usize) -> Self {
        let device = mask.device();
        Self {
            key_bias: key_bias(mask),
            neg_slopes: neg_slopes(n_heads, &device),
        }
    }
}

/// The GPU kernels where they apply; `Err(qkv)` elsewhere (or without a GPU feature).
fn gpu_kernel<B: Backend>(
    qkv: Tensor<B, 3>,
    bias: &DeviceBias<B>,
    heads: usize,
) -> Result<Tensor<B, 3>, Tensor<B, 3>> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    return crate::gpu_attention::attention(qkv, bias, heads);
    #[cfg(not(any(feature = "wgpu", feature = "cuda")))]
    {
        let _ = (bias, heads);
        Err(qkv)
    }
}

/// Whether `B` is a GPU backend with the fused kernels and `dtype` one they take.
#[cfg_attr(
    not(any(feature = "wgpu", feature = "cuda")),
    allow(clippy::extra_unused_type_parameters)
)]
fn gpu_applies<B: Backend>(dtype: DType) -> bool {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    return crate::gpu_attention::applies::<B>() && crate::gpu_attention::supports_dtype(dtype);
    #[cfg(not(any(feature = "wgpu", feature = "cuda")))]
    {
        let _ = dtype;
        false
    }
}

impl<B: Backend> AttentionBias<B> {
    /// Picks the representation for `mask` `[B, S]` and activations of `dtype`, unless
    /// `dense` (attention maps requested, or burn's op forced):
    /// [`AttentionBias::Slopes`] when a CPU kernel applies (f32 activations on burn-flex or
    /// burn-ndarray, with or without `Autodiff`), [`AttentionBias::Device`] on the GPU
    /// backends with the fused kernels (f32, f16 or bf16 activations on wgpu or CUDA, with or
    /// without `Autodiff`); [`AttentionBias::Dense`] (in `dtype`) otherwise.
    pub fn new(mask: Tensor<B, 2, Int>, n_heads: usize, dense: bool, dtype: DType) -> Self {
        crate::error::watch_device_failures();
        let device = mask.device();
        if !dense && gpu_applies::<B>(dtype) {
            return Self::Device(DeviceBias::new(mask, n_heads));
        }
        let kernel = cpu_attention::applies::<B>(&device) || cpu_autodiff::applies::<B>();
        if dense || dtype != DType::F32 || !kernel {
            let bias = attention_bias(mask, n_heads);
            return Self::Dense(cast_to(bias, dtype));
        }
        let key_bias = cpu_attention::host_f32((mask.float().neg() + 1.0) * -10000.0);
        let neg_slopes = alibi_slopes(n_heads).iter().map(|&v| -(v as f32)).collect();
        Self::Slopes {
            key_bias: Arc::new(key_bias),
            neg_slopes: Arc::new(neg_slopes),
        }
    }
}

/// The attention block of one layer (HF `attention`): `self.Wqkv`, then `output.dense`,
/// dropout, residual and `output.LayerNorm`.
#[derive(Module, Debug)]
pub struct BertAttention<B: Backend, L: Module<B> = Linear<B>> {
    /// Fused Q, K, V projection `[D -> 3D]` (HF `attention.self.Wqkv`).
    pub wqkv: L,
    /// Output projection (HF `attention.output.dense`).
    pub dense: L,
    /// Post-LayerNorm (HF `attention.output.LayerNorm`).
    pub layer_norm: LayerNorm<B>,
    /// Dropout on attention probabilities (applied only on the explicit path).
    pub attn_dropout: Dropout,
    /// Hidden dropout after `dense`.
    pub dropout: Dropout,
    /// Number of heads.
    pub num_heads: usize,
}

impl<B: Backend> BertAttention<B> {
    /// Random HF-style init.
    pub fn init(cfg: &BertConfig, device: &B::Device) -> Self {
        let d = cfg.hidden_size;
        let std = cfg.initializer_range;
        Self {
            wqkv: init_linear(d, 3 * d, true, std, device),
            dense: init_linear(d, d, true, std, device),
            layer_norm: LayerNormConfig::new(d)
                .with_epsilon(cfg.layer_norm_eps)
                .init(device),
            attn_dropout: DropoutConfig::new(cfg.attention_probs_dropout_prob).init(),
            dropout: DropoutConfig::new(cfg.hidden_dropout_prob).init(),
            num_heads: cfg.num_attention_heads,
        }
    }
}

impl<B: Backend, L: LinearLayer<B>> BertAttention<B, L> {
    /// Attention block on `x` `[B, S, D]` with the shared ALiBi + mask term `bias`.
    ///
    /// With [`AttentionBias::Slopes`] the CPU kernels run (fused forward, and on the autodiff
    /// CPU backends the fused backward). With [`AttentionBias::Dense`] burn's fused
    /// `attention` op runs, or the explicit matmul-softmax path when `want_probs` (the
    /// probabilities `[B, H, S, S]` are then returned) or attention dropout is active in
    /// training.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        bias: &AttentionBias<B>,
        want_probs: bool,
    ) -> (Tensor<B, 3>, Option<Tensor<B, 4>>) {
        let [b, s, _] = x.dims();
        let h = self.num_heads;
        let qkv = self.wqkv.forward(x.clone());
        let (ctx, probs) = match bias {
            AttentionBias::Slopes {
                key_bias,
                neg_slopes,
            } if !self.explicit_dropout(&qkv.device()) => {
                (self.kernel_attention(qkv, key_bias, neg_slopes), None)
            }
            AttentionBias::Slopes { .. } => {
                let mask = key_mask_tensor(bias, b, s, &qkv.device());
                let dense = attention_bias(mask, h);
                self.tensor_attention(qkv, dense, want_probs)
            }
            AttentionBias::Device(dev) => {
                let qkv = if self.explicit_dropout(&qkv.device()) {
                    warn_dropout_fallback();
                    qkv
                } else {
                    match gpu_kernel(qkv, dev, h) {
                        Ok(ctx) => return self.finish(ctx, x, None),
                        Err(qkv) => qkv,
                    }
                };
                let dense = cast_to(dense_bias(dev.key_bias.clone(), h), qkv.dtype());
                self.tensor_attention(qkv, dense, want_probs)
            }
            AttentionBias::Dense(bias) => self.tensor_attention(qkv, bias.clone(), want_probs),
        };
        self.finish(ctx, x, probs)
    }

    /// Output projection, dropout, residual and LayerNorm after the attention itself.
    fn finish(
        &self,
        ctx: Tensor<B, 3>,
        x: Tensor<B, 3>,
        probs: Option<Tensor<B, 4>>,
    ) -> (Tensor<B, 3>, Option<Tensor<B, 4>>) {
        let out = self.dense.forward(ctx);
        let out = self.dropout.forward(out);
        (cpu_autodiff::norm(&self.layer_norm, out + x), probs)
    }

    /// Whether attention-probability dropout is active (training with p > 0): only the
    /// explicit softmax path applies it.
    fn explicit_dropout(&self, device: &B::Device) -> bool {
        B::ad_enabled(device) && self.attn_dropout.prob > 0.0
    }

    /// The CPU kernels (see [`AttentionBias::Slopes`]): `qkv` `[B, S, 3D]` to the context
    /// `[B, S, D]`, with gradients on the autodiff CPU backends.
    fn kernel_attention(
        &self,
        qkv: Tensor<B, 3>,
        key_bias: &Arc<Vec<f32>>,
        neg_slopes: &Arc<Vec<f32>>,
    ) -> Tensor<B, 3> {
        let h = self.num_heads;
        let qkv = match cpu_autodiff::attention(qkv, key_bias, neg_slopes, h) {
            Ok(ctx) => return ctx,
            Err(qkv) => qkv,
        };
        let [b, s, d3] = qkv.dims();
        let device = qkv.device();
        let dims = cpu_attention::Dims {
            batch: b,
            seq: s,
            heads: h,
            head_dim: d3 / 3 / h,
        };
        let qkv = cpu_attention::host_f32(qkv);
        let ctx = cpu_attention::alibi_attention(&qkv, key_bias, neg_slopes, dims);
        Tensor::from_data(TensorData::new(ctx, [b, s, d3 / 3]), &device)
    }

    /// burn-op attention: `qkv` `[B, S, 3D]` to context `[B, S, D]` through the fused
    /// `attention` op, or the explicit softmax when probabilities are wanted or attention
    /// dropout is active in training.
    fn tensor_attention(
        &self,
        qkv: Tensor<B, 3>,
        bias: Tensor<B, 4>,
        want_probs: bool,
    ) -> (Tensor<B, 3>, Option<Tensor<B, 4>>) {
        let [b, s, d3] = qkv.dims();
        let d_model = d3 / 3;
        let h = self.num_heads;
        let d = d_model / h;
        let mut parts = qkv.chunk(3, 2).into_iter();
        let mut split = || {
            parts
                .next()
                .map(|t| t.reshape([b, s, h, d]).swap_dims(1, 2))
                .expect("chunk(3) yields three parts")
        };
        let (q, k, v) = (split(), split(), split());
        let explicit = want_probs || self.explicit_dropout(&q.device());
        let (ctx, probs) = if explicit {
            let scores = q.matmul(k.swap_dims(2, 3)) / (d as f64).sqrt() + bias;
            let probs = softmax(scores, 3);
            let ctx = self.attn_dropout.forward(probs.clone()).matmul(v);
            (ctx, want_probs.then_some(probs))
        } else {
            let ctx = attention(q, k, v, None, Some(bias), AttentionModuleOptions::default());
            (ctx, None)
        };
        (ctx.swap_dims(1, 2).reshape([b, s, d_model]), probs)
    }
}
