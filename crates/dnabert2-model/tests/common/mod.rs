//! Shared test helpers: fixture paths, safetensors reading, comparisons.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::prelude::*;
use dnabert2_model::BertInput;
use dnabert2_model::backend::CpuBackend;

pub type B = CpuBackend;

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A fixture tensor: shape plus f32 or i64 values.
#[derive(Debug, Clone)]
pub enum Fx {
    F(Vec<usize>, Vec<f32>),
    I(Vec<usize>, Vec<i64>),
}

impl Fx {
    pub fn f32(&self) -> (&[usize], &[f32]) {
        match self {
            Fx::F(s, v) => (s, v),
            Fx::I(..) => panic!("expected f32 tensor"),
        }
    }
    pub fn i64(&self) -> (&[usize], &[i64]) {
        match self {
            Fx::I(s, v) => (s, v),
            Fx::F(..) => panic!("expected i64 tensor"),
        }
    }
}

/// Reads every tensor of a safetensors file.
pub fn read_st(rel: &str) -> BTreeMap<String, Fx> {
    let bytes = std::fs::read(fixture(rel)).expect("fixture exists");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    st.iter()
        .map(|(name, v)| {
            let shape = v.shape().to_vec();
            let t = match v.dtype() {
                safetensors::Dtype::F32 => Fx::F(
                    shape,
                    v.data()
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                ),
                safetensors::Dtype::I64 => Fx::I(
                    shape,
                    v.data()
                        .chunks_exact(8)
                        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                ),
                other => panic!("unexpected dtype {other:?}"),
            };
            (name.to_string(), t)
        })
        .collect()
}

/// Builds a [`BertInput`] from fixture keys `ids` / `mask`.
pub fn input<Bk: Backend>(
    fx: &BTreeMap<String, Fx>,
    ids: &str,
    mask: &str,
    device: &Bk::Device,
) -> BertInput<Bk> {
    let (shape, ids) = fx[ids].i64();
    let (_, mask) = fx[mask].i64();
    BertInput::from_flat(
        ids.to_vec(),
        mask.to_vec(),
        None,
        [shape[0], shape[1]],
        device,
    )
    .unwrap()
}

/// Max |a - b| between a tensor and fixture values, asserting shapes equal. NaN-aware: any
/// NaN on either side makes the result NaN (which fails every `e <= tol`); `f32::max` alone
/// would drop it and let a NaN model pass.
pub fn max_err<Bk: Backend, const D: usize>(t: Tensor<Bk, D>, expected: (&[usize], &[f32])) -> f32 {
    assert_eq!(&t.dims()[..], expected.0, "shape");
    let got = t.into_data().convert::<f32>().into_vec::<f32>().unwrap();
    max_abs_diff(&got, expected.1)
}

/// NaN-propagating max |a - b| over two equal-length slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths");
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

/// Asserts the max abs error is within `tol`, with a helpful message.
pub fn assert_close<Bk: Backend, const D: usize>(
    what: &str,
    t: Tensor<Bk, D>,
    expected: (&[usize], &[f32]),
    tol: f32,
) {
    let e = max_err(t, expected);
    eprintln!("{what}: max abs err {e:.3e}");
    assert!(
        e <= tol,
        "{what}: max abs err {e} > {tol} (NaN means a NaN value)"
    );
}
