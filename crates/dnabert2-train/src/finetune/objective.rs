//! Loss of a batch for each problem type, and turning logits into probabilities.
//!
//! Single-label: cross-entropy, optionally class-weighted with PyTorch's
//! `CrossEntropyLoss(weight=w)` semantics (`sum_i w[y_i] nll_i / sum_i w[y_i]`).
//! Regression: MSE on the single output. Multi-label: BCE-with-logits.

use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};
use dnabert2_model::loss;

use super::data::{Problem, Targets};

/// Loss `[1]` of `logits` `[N, C]` against the targets of `rows`.
pub fn batch_loss<B: Backend>(
    logits: Tensor<B, 2>,
    targets: &Targets,
    rows: &[usize],
    class_weights: Option<&[f32]>,
) -> Tensor<B, 1> {
    let device = logits.device();
    let [n, c] = logits.dims();
    match targets {
        Targets::Class(y) => {
            let labels: Vec<i64> = rows.iter().map(|&r| y[r] as i64).collect();
            let labels = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [n]), &device);
            match class_weights {
                None => loss::cross_entropy(logits, labels),
                Some(w) => {
                    let wy: Vec<f32> = rows
                        .iter()
                        .map(|&r| w.get(y[r] as usize).copied().unwrap_or(1.0))
                        .collect();
                    let wy = Tensor::<B, 1>::from_data(TensorData::new(wy, [n]), &device);
                    loss::weighted_cross_entropy(logits, labels, wy)
                }
            }
        }
        Targets::Real(y) => {
            let t: Vec<f32> = rows.iter().map(|&r| y[r]).collect();
            let t = Tensor::<B, 1>::from_data(TensorData::new(t, [n]), &device);
            loss::mse(logits.reshape([n]), t)
        }
        Targets::Multi(y) => {
            let t: Vec<f32> = rows.iter().flat_map(|&r| y[r].iter().copied()).collect();
            let t = Tensor::<B, 2>::from_data(TensorData::new(t, [n, c]), &device);
            loss::bce_with_logits(logits, t)
        }
    }
}

/// Probabilities from logits: softmax (single-label), sigmoid (multi-label), identity
/// (regression: the predicted value).
pub fn scores<B: Backend>(logits: Tensor<B, 2>, problem: Problem) -> Tensor<B, 2> {
    match problem {
        Problem::SingleLabel => softmax(logits, 1),
        Problem::MultiLabel => sigmoid(logits),
        Problem::Regression => logits,
    }
}

/// Balanced class weights `n / (k * count_c)` (scikit-learn's `"balanced"`), 0-count classes get 1.
pub fn balanced_weights(labels: &[u32], num_classes: usize) -> Vec<f32> {
    let mut counts = vec![0usize; num_classes];
    for &y in labels {
        if let Some(c) = counts.get_mut(y as usize) {
            *c += 1;
        }
    }
    let n = labels.len() as f32;
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                1.0
            } else {
                n / (num_classes as f32 * c as f32)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_matches_sklearn() {
        // sklearn compute_class_weight("balanced", classes=[0,1], y=[0,0,0,1]) = [0.667, 2.0]
        let w = balanced_weights(&[0, 0, 0, 1], 2);
        assert!((w[0] - 2.0 / 3.0).abs() < 1e-6 && (w[1] - 2.0).abs() < 1e-6);
    }

    #[test]
    fn uniform_weights_equal_plain_cross_entropy() {
        type B = dnabert2_model::backend::CpuBackend;
        let dev = Default::default();
        let logits = Tensor::<B, 2>::from_data(
            TensorData::new(vec![0.3f32, -1.0, 2.0, 0.5, 0.1, 0.1], [3, 2]),
            &dev,
        );
        let t = Targets::Class(vec![1, 0, 1]);
        let plain: f32 = batch_loss(logits.clone(), &t, &[0, 1, 2], None).into_scalar();
        let w: f32 = batch_loss(logits, &t, &[0, 1, 2], Some(&[2.0, 2.0])).into_scalar();
        assert!((plain - w).abs() < 1e-6);
        // Hand value: mean of -log softmax picks.
        let ls = |a: f32, b: f32, k: usize| {
            let m = a.max(b);
            let z = ((a - m).exp() + (b - m).exp()).ln() + m;
            z - [a, b][k]
        };
        let want = (ls(0.3, -1.0, 1) + ls(2.0, 0.5, 0) + ls(0.1, 0.1, 1)) / 3.0;
        assert!((plain - want).abs() < 1e-5, "{plain} vs {want}");
    }
}
