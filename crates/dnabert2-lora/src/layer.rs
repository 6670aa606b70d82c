//! [`LoraLinear`]: a frozen base [`Linear`] plus an optional low-rank adapter
//! [`LoraAdapter`], implementing the model crate's [`LinearLayer`].

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::linear;
use dnabert2_model::LinearLayer;

/// The trainable low-rank update `s * dropout(x) A B` of one linear.
///
/// Stored in burn's `x W` layout: `a` is `[d_in, r]`, `b` is `[r, d_out]`. PEFT files hold the
/// transposes (`lora_A.weight` `[r, d_in]`, `lora_B.weight` `[d_out, r]`); see
/// [`crate::peft`].
#[derive(Module, Debug)]
pub struct LoraAdapter<B: Backend> {
    /// `A` `[d_in, r]`, kaiming-uniform at init (PEFT: `U(-1/sqrt(d_in), 1/sqrt(d_in))`).
    pub a: Param<Tensor<B, 2>>,
    /// `B` `[r, d_out]`, zeros at init so the adapted model starts equal to the base.
    pub b: Param<Tensor<B, 2>>,
    /// Dropout on the adapter input (identity when the probability is 0 or not training).
    pub dropout: Dropout,
    /// The scale `alpha / r` (or `alpha / sqrt(r)` with rsLoRA).
    pub scaling: f64,
}

impl<B: Backend> LoraAdapter<B> {
    /// A fresh adapter: `A` kaiming-uniform as PEFT's `kaiming_uniform_(a=sqrt(5))` (bound
    /// `1/sqrt(d_in)`), `B` zeros; both require gradients.
    pub fn init(
        d_in: usize,
        d_out: usize,
        r: usize,
        scaling: f64,
        dropout: f64,
        device: &B::Device,
    ) -> Self {
        let bound = 1.0 / (d_in as f64).sqrt();
        Self {
            a: Param::from_tensor(Tensor::random(
                [d_in, r],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            b: Param::from_tensor(Tensor::zeros([r, d_out], device)),
            dropout: DropoutConfig::new(dropout).init(),
            scaling,
        }
    }

    /// The rank r.
    pub fn rank(&self) -> usize {
        self.a.dims()[1]
    }

    /// The update `s * dropout(x) A B` on the last dimension of `x`.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let h = linear(self.dropout.forward(x), self.a.val(), None);
        linear(h, self.b.val(), None) * self.scaling
    }

    /// The dense update `s * A B` `[d_in, d_out]`.
    pub fn delta_weight(&self) -> Tensor<B, 2> {
        self.a.val().matmul(self.b.val()) * self.scaling
    }
}

/// A linear with a frozen base and, when targeted, a LoRA adapter.
///
/// Every swappable linear of a LoRA model has this type; non-targeted ones have
/// `adapter: None` and behave exactly like their base.
#[derive(Module, Debug)]
pub struct LoraLinear<B: Backend> {
    /// The pretrained linear (frozen by [`crate::apply_lora`]).
    pub base: Linear<B>,
    /// The adapter, if this linear is a target.
    pub adapter: Option<LoraAdapter<B>>,
}

impl<B: Backend> LoraLinear<B> {
    /// Wraps `base` without an adapter.
    pub fn plain(base: Linear<B>) -> Self {
        Self {
            base,
            adapter: None,
        }
    }

    /// Wraps `base` with a fresh adapter of rank `r`.
    pub fn with_adapter(base: Linear<B>, r: usize, scaling: f64, dropout: f64) -> Self {
        let [d_in, d_out] = base.weight.dims();
        let device = base.weight.device();
        let adapter = LoraAdapter::init(d_in, d_out, r, scaling, dropout, &device);
        Self {
            base,
            adapter: Some(adapter),
        }
    }

    /// The same layer with the adapter (if any) marked as requiring gradients.
    pub fn with_trainable_adapter(self) -> Self {
        Self {
            base: self.base,
            adapter: self.adapter.map(|ad| LoraAdapter {
                a: ad.a.set_require_grad(true),
                b: ad.b.set_require_grad(true),
                ..ad
            }),
        }
    }

    /// `[d_in, d_out]` of the base weight.
    pub fn dims(&self) -> [usize; 2] {
        self.base.weight.dims()
    }

    /// The plain [`Linear`] with the adapter folded into the weight (`W + s A B`); the bias is
    /// unchanged. Without an adapter this is the base itself.
    pub fn merged(self) -> Linear<B> {
        match &self.adapter {
            None => self.base,
            Some(_) => {
                let weight = self.effective_weight().detach();
                Linear {
                    weight: Param::from_tensor(weight),
                    bias: self.base.bias,
                }
            }
        }
    }
}

impl<B: Backend> LinearLayer<B> for LoraLinear<B> {
    fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        // On rows: one GEMM per weight gradient (see `on_rows`).
        dnabert2_model::linear::on_rows(x, |x| match &self.adapter {
            None => self.base.forward(x),
            Some(ad) => self.base.forward(x.clone()) + ad.forward(x),
        })
    }

    fn effective_weight(&self) -> Tensor<B, 2> {
        match &self.adapter {
            None => self.base.weight.val(),
            Some(ad) => self.base.weight.val() + ad.delta_weight(),
        }
    }

    fn effective_bias(&self) -> Option<Tensor<B, 1>> {
        self.base.bias.as_ref().map(|b| b.val())
    }
}
