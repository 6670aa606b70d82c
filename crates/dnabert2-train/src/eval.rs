//! Held-out evaluation: a fixed set of masked windows (same windows and masks
//! at every evaluation), the model's masked-token loss and accuracy on it, and
//! the unigram baseline on the same masked positions.
//!
//! The unigram baseline predicts every masked token from the training split's
//! token frequencies alone (add-one smoothed over the regular tokens): its loss
//! is the mean `-ln p(token)` and its accuracy the frequency of the most
//! common token. A model below the baseline loss has learnt context.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::batch::MlmBatch;
use crate::corpus::{Split, TokenCorpus, WindowSampler};
use crate::error::Result;
use crate::mlm::{IGNORE_INDEX, MaskingConfig};
use crate::rng::{Stream, rng_for};

/// Loss and accuracy over masked positions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MlmScore {
    /// Mean cross-entropy (nats) over masked positions.
    pub loss: f64,
    /// Fraction of masked positions whose arg-max prediction is the label.
    pub accuracy: f64,
    /// Number of masked positions scored.
    pub masked: u64,
}

/// The fixed held-out batches.
#[derive(Debug, Clone)]
pub struct EvalSet {
    /// Batches of at most the training micro-batch size.
    pub batches: Vec<MlmBatch>,
}

impl EvalSet {
    /// Draws `windows` held-out windows (and their masks) deterministically from `seed`.
    pub fn new(
        corpus: &TokenCorpus,
        max_len: usize,
        windows: usize,
        batch_size: usize,
        masking: &MaskingConfig,
        seed: u64,
    ) -> Result<Self> {
        let sampler = WindowSampler::new(corpus, Split::Eval, max_len)?;
        let mut batches = Vec::new();
        let mut left = windows.max(1);
        let mut i = 0;
        while left > 0 {
            let rows = left.min(batch_size.max(1));
            let mut rng = rng_for(seed, Stream::Eval, 0, i);
            batches.push(MlmBatch::sample(&sampler, rows, masking, &mut rng));
            left -= rows;
            i += 1;
        }
        Ok(Self { batches })
    }

    /// Total masked positions.
    pub fn num_masked(&self) -> usize {
        self.batches.iter().map(MlmBatch::num_masked).sum()
    }

    /// The unigram baseline on this set given training-split `counts` (per id).
    pub fn unigram_baseline(&self, counts: &[u64], first_regular_id: u32) -> MlmScore {
        let regular = &counts[(first_regular_id as usize).min(counts.len())..];
        let total: u64 = regular.iter().sum();
        let denom = (total + regular.len() as u64) as f64;
        let argmax = regular
            .iter()
            .enumerate()
            .max_by_key(|&(_, c)| *c)
            .map_or(0, |(i, _)| i as i64 + i64::from(first_regular_id));
        let (mut nll, mut correct, mut n) = (0.0f64, 0u64, 0u64);
        for b in &self.batches {
            for &l in b.labels.iter().filter(|&&l| l != IGNORE_INDEX) {
                let c = counts.get(l as usize).copied().unwrap_or(0);
                nll -= ((c + 1) as f64 / denom).ln();
                correct += u64::from(l == argmax);
                n += 1;
            }
        }
        MlmScore {
            loss: nll / n.max(1) as f64,
            accuracy: correct as f64 / n.max(1) as f64,
            masked: n,
        }
    }
}

/// [`batch_stats`] of a [`dnabert2_model::BertForMaskedLM::forward_masked`] output (logits
/// `[N, V]` and labels `[N]` at the labelled positions only).
pub fn masked_stats<B: Backend>(out: dnabert2_model::MaskedLmOutput<B>) -> (f64, u64, u64) {
    let masked = out.labels.dims()[0];
    let correct = if masked == 0 {
        0
    } else {
        let pred = out.logits.argmax(1).reshape([masked]);
        pred.equal(out.labels)
            .int()
            .sum()
            .into_scalar()
            .elem::<i64>()
    };
    let loss = out.loss.into_scalar().elem::<f64>();
    (loss * masked as f64, correct as u64, masked as u64)
}

/// Summed loss (times masked count) and correct predictions of one batch,
/// as scalars: `(loss_sum, correct, masked)`.
pub fn batch_stats<B: Backend>(
    loss: Tensor<B, 1>,
    logits: Tensor<B, 3>,
    labels: Tensor<B, 2, Int>,
) -> (f64, u64, u64) {
    let valid = labels.clone().greater_elem(0);
    let pred = logits.argmax(2).squeeze_dim::<2>(2);
    let correct = pred
        .equal(labels)
        .bool_and(valid.clone())
        .int()
        .sum()
        .into_scalar()
        .elem::<i64>();
    let masked = valid.int().sum().into_scalar().elem::<i64>();
    let loss = loss.into_scalar().elem::<f64>();
    (loss * masked as f64, correct as u64, masked as u64)
}

/// The model's score on `set` (no dropout: pass `model.valid()`).
pub fn evaluate<B: Backend>(
    model: &dnabert2_model::BertForMaskedLM<B>,
    set: &EvalSet,
    device: &B::Device,
) -> Result<MlmScore> {
    Ok(MlmScore::from_sums(evaluate_shard(
        model, set, device, 0, 1,
    )?))
}

/// One worker's part of [`evaluate`]: batches `index`, `index + count`, ... of `set`, as
/// `[loss sum, correct, masked]` (sum these over the workers, then [`MlmScore::from_sums`]).
pub fn evaluate_shard<B: Backend>(
    model: &dnabert2_model::BertForMaskedLM<B>,
    set: &EvalSet,
    device: &B::Device,
    index: usize,
    count: usize,
) -> Result<[f64; 3]> {
    let mut sums = [0.0f64; 3];
    for b in set.batches.iter().skip(index).step_by(count.max(1)) {
        let (input, labels) = b.to_tensors::<B>(device)?;
        let (l, c, m) = masked_stats(model.forward_masked(input, labels));
        sums[0] += l;
        sums[1] += c as f64;
        sums[2] += m as f64;
    }
    dnabert2_model::error::check_device::<B>(device, "held-out evaluation")?;
    Ok(sums)
}

impl MlmScore {
    /// The score from `[loss sum, correct, masked]` over the masked positions.
    pub fn from_sums([loss_sum, correct, masked]: [f64; 3]) -> Self {
        let n = masked.max(1.0);
        Self {
            loss: loss_sum / n,
            accuracy: correct / n,
            masked: masked.round() as u64,
        }
    }
}
