//! Shared helpers for the LoRA tests: tiny configs, random batches, parameter snapshots.
#![allow(dead_code)]

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use dnabert2_model::{BertConfig, BertInput};

/// Inference backend.
pub type B = dnabert2_model::backend::CpuBackend;
/// Training backend.
pub type AB = dnabert2_model::backend::CpuAutodiff;

/// A 2-layer D 32 model with a small vocabulary, dropout off.
pub fn small_cfg(layers: usize) -> BertConfig {
    let mut cfg = BertConfig::new(32, layers, 2, 64).with_dropout(0.0);
    cfg.vocab_size = 64;
    cfg
}

/// A deterministic pseudo-random batch of `n` rows (ragged lengths, so padding is exercised).
pub fn batch<Bk: Backend>(
    n: usize,
    len: usize,
    vocab: u32,
    seed: u64,
    device: &Bk::Device,
) -> BertInput<Bk> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let rows: Vec<Vec<u32>> = (0..n)
        .map(|i| {
            let l = len - (i % 3);
            let mut row = vec![1u32];
            row.extend((0..l - 2).map(|_| 5 + next() % (vocab - 5)));
            row.push(2);
            row
        })
        .collect();
    BertInput::from_ids(&rows, device).expect("valid batch")
}

/// Flat f32 data of a tensor.
pub fn data<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("f32 data")
}

/// Max abs difference; NaN on either side gives NaN (so `max_abs(..) < tol` fails).
pub fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, |m, e| {
            if m.is_nan() || e.is_nan() {
                f32::NAN
            } else {
                m.max(e)
            }
        })
}

/// Every float parameter in visiting order: (trainable?, data).
pub fn snapshot<Bk: Backend, M: Module<Bk>>(m: &M) -> Vec<(bool, Vec<f32>)> {
    struct V(Vec<(bool, Vec<f32>)>);
    impl<Bk: Backend> ModuleVisitor<Bk> for V {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<Bk, D>>) {
            let t = p.val();
            self.0.push((t.is_require_grad(), data(t)));
        }
    }
    let mut v = V(Vec::new());
    m.visit(&mut v);
    v.0
}
