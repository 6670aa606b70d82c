//! Loss functions matching PyTorch: masked-LM cross-entropy (labels <= 0 ignored),
//! cross-entropy, MSE and BCE-with-logits, all mean-reduced.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Weighted mean cross-entropy of `logits` `[N, C]` against `labels` `[N]` with one weight
/// per row (`[N]`): `sum_i w_i nll_i / sum_i w_i`, PyTorch's `CrossEntropyLoss(weight=...)`
/// when `w_i` is the weight of row i's class. Returns `[1]`; 0 when every weight is 0.
pub fn weighted_cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
    weights: Tensor<B, 1>,
) -> Tensor<B, 1> {
    let [n, c] = logits.dims();
    let lp = log_softmax(logits, 1);
    let idx = labels.clamp(0, c as i64 - 1).reshape([n, 1]);
    let picked = lp.gather(1, idx).reshape([n]);
    let total = weights.clone().sum().clamp_min(1e-12);
    (picked * weights).sum().neg() / total
}

/// Mean cross-entropy of `logits` `[N, C]` against `labels` `[N]`, counting only rows where
/// `valid` `[N]` (float 0/1) is 1. Returns `[1]`; 0 when no row is valid.
pub fn masked_cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
    valid: Tensor<B, 1>,
) -> Tensor<B, 1> {
    weighted_cross_entropy(logits, labels, valid)
}

/// Upstream MLM loss: cross-entropy over positions with label > 0 (so -100 and `[UNK]`=0
/// are ignored). `logits` `[B, S, V]`, `labels` `[B, S]`.
pub fn mlm_loss<B: Backend>(logits: Tensor<B, 3>, labels: Tensor<B, 2, Int>) -> Tensor<B, 1> {
    let [b, s, v] = logits.dims();
    let labels = labels.reshape([b * s]);
    let valid = labels.clone().greater_elem(0).float();
    masked_cross_entropy(logits.reshape([b * s, v]), labels, valid)
}

/// Mean cross-entropy over all rows (`torch.nn.CrossEntropyLoss`).
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> Tensor<B, 1> {
    let [n, _] = logits.dims();
    let valid = Tensor::ones([n], &logits.device());
    masked_cross_entropy(logits, labels, valid)
}

/// Mean squared error (`torch.nn.MSELoss`), shapes must match.
pub fn mse<B: Backend, const D: usize>(pred: Tensor<B, D>, target: Tensor<B, D>) -> Tensor<B, 1> {
    (pred - target).powi_scalar(2).mean()
}

/// Mean binary cross-entropy with logits (`torch.nn.BCEWithLogitsLoss`), numerically stable.
pub fn bce_with_logits<B: Backend>(logits: Tensor<B, 2>, target: Tensor<B, 2>) -> Tensor<B, 1> {
    let softplus = (logits.clone().abs().neg().exp() + 1.0).log();
    (logits.clone().clamp_min(0.0) - logits * target + softplus).mean()
}
