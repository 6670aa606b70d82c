//! Built without the `distributed` feature: [`launch`] refuses more than one worker.

use std::sync::Arc;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;

use super::Cluster;
use super::control::Control;
use crate::error::{Result, TrainError};

/// Never constructed without the `distributed` feature.
pub struct Sync<B: AutodiffBackend>(std::marker::PhantomData<B>, std::convert::Infallible);

impl<B: AutodiffBackend> Sync<B> {
    /// Unreachable (no `Sync` exists).
    pub fn sum_values(&self, _: &mut [f64]) -> Result<()> {
        match self.1 {}
    }

    /// Unreachable (no `Sync` exists).
    pub fn all_reduce<M: AutodiffModule<B>>(
        &self,
        _: &M,
        _: GradientsParams,
        _: &mut [f64],
    ) -> Result<GradientsParams> {
        match self.1 {}
    }

    /// Unreachable (no `Sync` exists).
    pub fn finish(self) {
        match self.1 {}
    }
}

/// Always an error: several processes need the `distributed` feature.
pub fn start_orchestrator(_: u16) -> Result<()> {
    Err(TrainError::Config(
        "several processes need dnabert2-train's `distributed` feature".into(),
    ))
}

/// Always an error: several workers need the `distributed` feature.
pub fn launch<B, T, R>(
    _: &Cluster,
    devices: &[B::Device],
    _: Option<&Arc<Control>>,
    _: Vec<R>,
    _: impl Fn(usize, B::Device, Sync<B>, R) -> Result<T> + std::marker::Sync,
) -> Result<Vec<T>>
where
    B: AutodiffBackend,
{
    Err(TrainError::Config(format!(
        "{} workers need dnabert2-train's `distributed` feature (this build has one worker)",
        devices.len()
    )))
}
