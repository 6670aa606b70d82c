//! The GEGLU feed-forward block (HF `mlp`): `gated_layers`, exact GELU on the first half,
//! `wo`, residual and post-LayerNorm.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::DType;

use crate::config::BertConfig;
use crate::cpu_attention::{self, exp};
use crate::cpu_autodiff;
use crate::linear::{LinearLayer, init_linear};
use rayon::prelude::*;

/// Exact (erf) GELU written with differentiable primitives, so its gradient is exact on
/// every backend (burn's default `gelu_backward` is the tanh approximation on some).
pub fn gelu_exact<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let cdf = (x.clone() / std::f64::consts::SQRT_2).erf() + 1.0;
    x * cdf * 0.5
}

/// GEGLU MLP: `x = layernorm(wo(dropout(gelu(g[:I]) * g[I:])) + x)` with `g = gated_layers(x)`.
#[derive(Module, Debug)]
pub struct BertGluMlp<B: Backend, L: Module<B> = Linear<B>> {
    /// `[D -> 2I]`, no bias (HF key `gated_layers`).
    pub gated_layers: L,
    /// `[I -> D]` with bias (HF key `wo`).
    pub wo: L,
    /// Post-LayerNorm (HF key `layernorm`, lowercase).
    pub layernorm: LayerNorm<B>,
    /// Hidden dropout.
    pub dropout: Dropout,
}

impl<B: Backend> BertGluMlp<B> {
    /// Random HF-style init.
    pub fn init(cfg: &BertConfig, device: &B::Device) -> Self {
        let (d, i, std) = (
            cfg.hidden_size,
            cfg.intermediate_size,
            cfg.initializer_range,
        );
        Self {
            gated_layers: init_linear(d, 2 * i, false, std, device),
            wo: init_linear(i, d, true, std, device),
            layernorm: LayerNormConfig::new(d)
                .with_epsilon(cfg.layer_norm_eps)
                .init(device),
            dropout: DropoutConfig::new(cfg.hidden_dropout_prob).init(),
        }
    }
}

impl<B: Backend, L: LinearLayer<B>> BertGluMlp<B, L> {
    /// Applies the block to `x` `[B, S, D]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let g = self.gated_layers.forward(x.clone());
        let y = if g.dtype() != DType::F32 {
            geglu(g)
        } else if cpu_attention::applies::<B>(&g.device()) {
            geglu_cpu(g)
        } else {
            cpu_autodiff::geglu(g).unwrap_or_else(geglu)
        };
        let y = self.wo.forward(self.dropout.forward(y));
        cpu_autodiff::norm(&self.layernorm, y + x)
    }
}

/// `gelu_exact(g[..., :I]) * g[..., I:]` with burn ops.
fn geglu<B: Backend>(g: Tensor<B, 3>) -> Tensor<B, 3> {
    let mut halves = g.chunk(2, 2).into_iter();
    let (gated, linear) = match (halves.next(), halves.next()) {
        (Some(a), Some(b)) => (a, b),
        _ => unreachable!("chunk(2) of an even width yields two halves"),
    };
    gelu_exact(gated) * linear
}

/// The same in one pass over the contiguous `[B, S, 2I]` buffer (CPU inference path, see
/// [`cpu_attention::applies`]): no strided half views, one vectorised `erf`.
fn geglu_cpu<B: Backend>(g: Tensor<B, 3>) -> Tensor<B, 3> {
    let [b, s, two_i] = g.dims();
    let device = g.device();
    let y = geglu_host(&cpu_attention::host_f32(g), two_i / 2);
    Tensor::from_data(TensorData::new(y, [b, s, two_i / 2]), &device)
}

/// Rows per rayon task of the host GEGLU loops.
const GEGLU_ROWS: usize = 16;

/// `y = gelu(a) * u` for every row `[a | u]` of `g` (rows of width `2 * i`).
pub(crate) fn geglu_host(g: &[f32], i: usize) -> Vec<f32> {
    let mut y = vec![0f32; g.len() / 2];
    y.par_chunks_mut(i * GEGLU_ROWS)
        .zip(g.par_chunks(2 * i * GEGLU_ROWS))
        .for_each(|(out, rows)| {
            for (out, row) in out.chunks_exact_mut(i).zip(rows.chunks_exact(2 * i)) {
                let (gate, up) = row.split_at(i);
                for ((o, &a), &u) in out.iter_mut().zip(gate).zip(up) {
                    *o = gelu(a) * u;
                }
            }
        });
    y
}

/// Gradient of [`geglu_host`]: `dg = [dy * u * gelu'(a) | dy * gelu(a)]`, with
/// `gelu'(a) = Phi(a) + a * phi(a)` (exact GELU's derivative).
pub(crate) fn geglu_backward_host(g: &[f32], dy: &[f32], i: usize) -> Vec<f32> {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    let mut dg = vec![0f32; g.len()];
    dg.par_chunks_mut(2 * i * GEGLU_ROWS)
        .zip(g.par_chunks(2 * i * GEGLU_ROWS))
        .zip(dy.par_chunks(i * GEGLU_ROWS))
        .for_each(|((dgs, rows), dys)| {
            for ((dg, row), dy) in dgs
                .chunks_exact_mut(2 * i)
                .zip(rows.chunks_exact(2 * i))
                .zip(dys.chunks_exact(i))
            {
                let (gate, up) = row.split_at(i);
                let (d_gate, d_up) = dg.split_at_mut(i);
                for c in 0..i {
                    let (a, u, d) = (gate[c], up[c], dy[c]);
                    let cdf = 0.5 * (1.0 + erf(a * std::f32::consts::FRAC_1_SQRT_2));
                    let pdf = INV_SQRT_2PI * exp(-0.5 * a * a);
                    d_gate[c] = d * u * (cdf + a * pdf);
                    d_up[c] = d * a * cdf;
                }
            }
        });
    dg
}

/// Exact GELU `a * Phi(a)` through [`erf`].
#[inline(always)]
fn gelu(a: f32) -> f32 {
    0.5 * a * (1.0 + erf(a * std::f32::consts::FRAC_1_SQRT_2))
}

/// `erf(x)`, branch-free (Abramowitz & Stegun 7.1.26: absolute error <= 1.5e-7 in exact
/// arithmetic, measured <= 6e-7 in f32 against an f64 reference) so the GEGLU
/// loop vectorises.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

#[cfg(test)]
mod tests {
    #[test]
    fn erf_is_within_a_and_s_bound() {
        let mut worst = 0.0f64;
        let mut x = -6.0f32;
        while x < 6.0 {
            // reference: erf from the tensor path's libm (f64)
            let want = libm_erf(x as f64);
            worst = worst.max((super::erf(x) as f64 - want).abs());
            x += 0.001;
        }
        assert!(worst < 6e-7, "worst abs error {worst}");
    }

    /// erf in f64 by its Taylor series (|x| < 3) or asymptotic complement (|x| >= 3).
    fn libm_erf(x: f64) -> f64 {
        if x.abs() >= 3.0 {
            // erfc(x) ~ e^{-x^2} / (x sqrt(pi)) (1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6))
            let a = x.abs();
            let x2 = a * a;
            let erfc = (-x2).exp() / (a * std::f64::consts::PI.sqrt())
                * (1.0 - 1.0 / (2.0 * x2) + 3.0 / (4.0 * x2 * x2) - 15.0 / (8.0 * x2 * x2 * x2));
            return (1.0 - erfc).copysign(x);
        }
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }
}
