//! The training step, shared by pretraining and fine-tuning:
//! data -> forward -> loss -> backward -> (accumulate) -> [all-reduce] -> clip -> optimizer step.
//!
//! A step is a list of parts (micro-batches). For each part the caller's `forward` returns
//! the part's loss **already weighted by its share of the step** (so the sum over parts is the
//! step's loss, as one big batch would give) plus whatever it wants to log. [`accumulate`]
//! runs the parts and sums their gradients; a data-parallel run then sums gradients and loss
//! over the workers ([`crate::distributed`]); [`apply`] checks the loss is finite *before*
//! anything is updated, then [`HfAdamW`] clips by the global norm and steps once.
//! [`train_step`] is the two back to back, for one worker.

use burn::module::AutodiffModule;
use burn::optim::{GradientsAccumulator, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use crate::error::{Result, TrainError};
use crate::optim::HfAdamW;

/// What one step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// The step's loss (sum of the parts' weighted losses, over every worker).
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// The learning rate used.
    pub lr: f64,
}

/// The summed gradients and loss of one worker's parts of a step, with the per-part values
/// `forward` produced.
pub struct Accumulated<S> {
    /// Gradients summed over the parts.
    pub grads: GradientsParams,
    /// The sum of the parts' weighted losses.
    pub loss: f64,
    /// What `forward` returned for each part, in order.
    pub outs: Vec<S>,
}

/// Forward and backward over `parts`, summing the gradients.
pub fn accumulate<B, M, P, S>(
    model: &M,
    parts: impl IntoIterator<Item = P>,
    mut forward: impl FnMut(&M, &P) -> Result<(Tensor<B, 1>, S)>,
) -> Result<Accumulated<S>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let mut accum = GradientsAccumulator::<M>::new();
    let (mut loss, mut outs) = (0.0f64, Vec::new());
    for part in parts {
        let (weighted, out) = forward(model, &part)?;
        // Through read_back: a failed GPU kernel (this part's forward, or the previous
        // step's backward and update) is an error here, not a stale number.
        let value = dnabert2_model::error::read_back::<B, 1, _, f64>(weighted.clone(), "loss")?;
        loss += value.first().copied().unwrap_or(f64::NAN);
        let grads = GradientsParams::from_grads(weighted.backward(), model);
        accum.accumulate(model, grads);
        outs.push(out);
    }
    Ok(Accumulated {
        grads: accum.grads(),
        loss,
        outs,
    })
}

/// The optimizer step at index `step` with learning rate `lr`, given the step's (reduced)
/// gradients and loss. A non-finite loss stops before the update with
/// [`TrainError::NonFiniteLoss`].
pub fn apply<B, M>(
    model: M,
    optim: &mut HfAdamW<B, M>,
    step: u64,
    lr: f64,
    grads: GradientsParams,
    loss: f64,
) -> Result<(M, StepStats)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    if !loss.is_finite() {
        return Err(TrainError::NonFiniteLoss { step, loss, lr });
    }
    let model = optim.step(lr, model, grads);
    let stats = StepStats {
        loss,
        grad_norm: optim.last_grad_norm(),
        lr,
    };
    Ok((model, stats))
}

/// One optimizer step of a single worker: [`accumulate`] then [`apply`].
pub fn train_step<B, M, P, S>(
    model: M,
    optim: &mut HfAdamW<B, M>,
    step: u64,
    lr: f64,
    parts: impl IntoIterator<Item = P>,
    forward: impl FnMut(&M, &P) -> Result<(Tensor<B, 1>, S)>,
) -> Result<(M, StepStats, Vec<S>)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let acc = accumulate(&model, parts, forward)?;
    let (model, stats) = apply(model, optim, step, lr, acc.grads, acc.loss)?;
    Ok((model, stats, acc.outs))
}
