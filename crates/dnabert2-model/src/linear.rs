//! The swappable linear layer: [`LinearLayer`], implemented for burn's [`Linear`].
//!
//! Every projection of the encoder that LoRA may target (`Wqkv`, `attention.output.dense`,
//! `gated_layers`, `wo`) has type parameter `L: LinearLayer<B>`, defaulting to [`Linear`].
//! Another crate can swap them with [`crate::BertModel::map_linears`] without this crate
//! knowing what the replacement does.

use burn::module::{Module, ModuleDisplay, Param};
use burn::nn::Linear;
use burn::prelude::*;

/// A linear map `y = x W + b` usable inside the encoder.
pub trait LinearLayer<B: Backend>: Module<B> + ModuleDisplay {
    /// Applies the layer to the last dimension of `x`.
    fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D>;
    /// The effective weight in burn layout `[d_in, d_out]` (e.g. LoRA merged), used for saving.
    fn effective_weight(&self) -> Tensor<B, 2>;
    /// The effective bias `[d_out]`, if any.
    fn effective_bias(&self) -> Option<Tensor<B, 1>>;
}

/// Applies `f`, a map of the last dimension, to `x` `[..., d_in]` viewed as rows
/// `[N, d_in]`, and gives the result back in `x`'s leading shape.
///
/// Why: burn 0.21's linear backward (`linear_weight_backward`, used by every backend) takes
/// a `[B, S, d_in]` input as a batched matmul, so the weight gradient is first computed per
/// batch row as `[B, d_in, d_out]` and then summed: for the 117M model's `gated_layers` at
/// 32 x 128 that is a 576 MiB temporary per layer (more than wgpu's largest buffer) and B
/// small GEMMs instead of one. On rows it is one `[d_in, N] x [N, d_out]` GEMM.
///
/// ```
/// use burn::prelude::*;
/// use dnabert2_model::backend::CpuBackend;
/// let x = Tensor::<CpuBackend, 3>::ones([2, 3, 4], &Default::default());
/// let y = dnabert2_model::linear::on_rows(x, |rows| rows.sum_dim(1));
/// assert_eq!(y.dims(), [2, 3, 1]);
/// ```
pub fn on_rows<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    f: impl FnOnce(Tensor<B, 2>) -> Tensor<B, 2>,
) -> Tensor<B, D> {
    let mut dims = x.dims();
    let d_in = dims[D - 1];
    let rows: usize = dims[..D - 1].iter().product();
    let y = f(x.reshape([rows, d_in]));
    dims[D - 1] = y.dims()[1];
    y.reshape(dims)
}

impl<B: Backend> LinearLayer<B> for Linear<B> {
    fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        on_rows(x, |rows| Linear::forward(self, rows))
    }
    fn effective_weight(&self) -> Tensor<B, 2> {
        self.weight.val()
    }
    fn effective_bias(&self) -> Option<Tensor<B, 1>> {
        self.bias.as_ref().map(|b| b.val())
    }
}

/// A plain [`Linear`] holding `l`'s effective (e.g. LoRA-merged) weight and bias.
pub fn merged_linear<B: Backend, L: LinearLayer<B>>(l: &L) -> Linear<B> {
    Linear {
        weight: Param::from_tensor(l.effective_weight().detach()),
        bias: l.effective_bias().map(|b| Param::from_tensor(b.detach())),
    }
}

/// A [`Linear`] with HF initialisation: weight ~ N(0, std), bias 0.
pub fn init_linear<B: Backend>(
    d_in: usize,
    d_out: usize,
    bias: bool,
    std: f64,
    device: &B::Device,
) -> Linear<B> {
    Linear {
        weight: crate::init::normal([d_in, d_out], std, device),
        bias: bias.then(|| crate::init::zeros([d_out], device)),
    }
}
