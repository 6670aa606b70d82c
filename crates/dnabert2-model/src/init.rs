//! Parameter initialisation, with a *deferred* mode for loading checkpoints.
//!
//! Every random or constant tensor the model's `init` functions create goes through
//! [`normal`] or [`zeros`]. Normally they allocate and draw at once (HF initialisation,
//! in construction order, so a seeded init is reproducible). Inside [`deferred`], they
//! instead return lazy placeholders ([`Param::uninitialized`]) that know their shape and
//! device but hold no memory: the checkpoint loader builds the model skeleton this way and
//! burn-store's applier replaces every placeholder with the file's tensor, so loading the
//! 117M model allocates its weights once instead of twice. A placeholder that is never
//! replaced materialises as zeros; the loader reports such tensors as missing instead.

use std::cell::Cell;

use burn::module::{Param, ParamId};
use burn::prelude::*;
use burn::tensor::{Distribution, Shape};

thread_local! {
    static DEFERRED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `build` with every [`normal`]/[`zeros`] call returning a lazy placeholder.
pub(crate) fn deferred<T>(build: impl FnOnce() -> T) -> T {
    let before = DEFERRED.with(|d| d.replace(true));
    let out = build();
    DEFERRED.with(|d| d.set(before));
    out
}

fn placeholder<B: Backend, const D: usize>(
    shape: [usize; D],
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    Param::uninitialized(
        ParamId::new(),
        move |device, require_grad| {
            let t = Tensor::zeros(shape, device);
            if require_grad { t.require_grad() } else { t }
        },
        device.clone(),
        true,
        Shape::new(shape),
    )
}

/// A parameter drawn from N(0, `std`) (HF `_init_weights`), or a placeholder when deferred.
pub(crate) fn normal<B: Backend, const D: usize>(
    shape: [usize; D],
    std: f64,
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    if DEFERRED.with(Cell::get) {
        return placeholder(shape, device);
    }
    Param::from_tensor(Tensor::random(
        shape,
        Distribution::Normal(0.0, std),
        device,
    ))
}

/// A zero parameter, or a placeholder when deferred.
pub(crate) fn zeros<B: Backend, const D: usize>(
    shape: [usize; D],
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    if DEFERRED.with(Cell::get) {
        return placeholder(shape, device);
    }
    Param::from_tensor(Tensor::zeros(shape, device))
}
