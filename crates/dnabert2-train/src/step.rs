//! The training step, shared by pretraining and fine-tuning:
//! data -> forward -> loss -> backward -> (accumulate) -> clip -> optimizer step.
//!
//! A step is a list of parts (micro-batches, each on one of the devices). For each part the
//! caller's `forward` returns the part's loss **already weighted by its share of the step**
//! (so the sum over parts is the step's loss, as one big batch would give) plus whatever it
//! wants to log. Gradients are accumulated per device, the loss is checked to be finite
//! *before* anything is updated, then [`HfAdamW`] clips by the global norm and steps once
//! (summing the devices' gradients when there are several).

use burn::module::AutodiffModule;
use burn::optim::{GradientsAccumulator, GradientsParams, MultiGradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::{AutodiffBackend, DeviceOps};

use crate::error::{Result, TrainError};
use crate::optim::HfAdamW;

/// What one step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// The step's loss (sum of the parts' weighted losses).
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// The learning rate used.
    pub lr: f64,
}

/// Runs one optimizer step at index `step` with learning rate `lr` over `parts`
/// (`(device index, part)`), returning the updated model, the step's stats and the
/// per-part values `forward` produced. A non-finite loss stops before the update with
/// [`TrainError::NonFiniteLoss`].
pub fn train_step<B, M, P, S>(
    model: M,
    optim: &mut HfAdamW<B, M>,
    step: u64,
    lr: f64,
    devices: &[B::Device],
    parts: impl IntoIterator<Item = (usize, P)>,
    mut forward: impl FnMut(&M, &P) -> Result<(Tensor<B, 1>, S)>,
) -> Result<(M, StepStats, Vec<S>)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let replicas: Vec<M> = match devices {
        [_] => vec![model.clone()],
        _ => devices.iter().map(|d| model.clone().fork(d)).collect(),
    };
    let mut accums: Vec<GradientsAccumulator<M>> = devices
        .iter()
        .map(|_| GradientsAccumulator::new())
        .collect();
    let (mut loss, mut outs) = (0.0f64, Vec::new());
    for (d, part) in parts {
        let (weighted, out) = forward(&replicas[d], &part)?;
        loss += weighted.clone().into_scalar().elem::<f64>();
        let grads = GradientsParams::from_grads(weighted.backward(), &replicas[d]);
        accums[d].accumulate(&replicas[d], grads);
        outs.push(out);
    }
    if !loss.is_finite() {
        return Err(TrainError::NonFiniteLoss { step, loss, lr });
    }
    let model = match devices {
        [_] => optim.step(lr, model, accums[0].grads()),
        _ => {
            let grads = accums
                .iter_mut()
                .zip(devices)
                .map(|(a, d)| (a.grads(), d.id()))
                .collect();
            optim.step_multi(lr, model, MultiGradientsParams { grads })
        }
    };
    let stats = StepStats {
        loss,
        grad_norm: optim.last_grad_norm(),
        lr,
    };
    Ok((model, stats, outs))
}
