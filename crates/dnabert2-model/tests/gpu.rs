//! The fused ALiBi attention kernels on wgpu (`--features wgpu`; on a machine without a GPU,
//! Mesa's software Vulkan: `apt-get install mesa-vulkan-drivers`, `XDG_RUNTIME_DIR` set).
//!
//! Forward and gradients of the kernel against burn's explicit ops on the same device over a
//! table of shapes with padded rows, then the upstream fixtures through the whole model.

use crate::parity::check;
use crate::train_step::{Path, train_step_matches_pytorch};

use burn::backend::Autodiff;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::softmax;
use dnabert2_model::attention::{DeviceBias, attention_bias};
use dnabert2_model::gpu_attention;

type W = burn::backend::Wgpu;
type WAd = Autodiff<W>;

/// Serialises the tests of this module: one wgpu device, and lavapipe is slow enough that
/// parallel tests only contend.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// burn's explicit attention on `qkv` `[B, S, 3D]`: dense bias, scores, softmax.
fn explicit<Bk: Backend>(qkv: Tensor<Bk, 3>, mask: Tensor<Bk, 2, Int>, h: usize) -> Tensor<Bk, 3> {
    let [b, s, d3] = qkv.dims();
    let d = d3 / 3 / h;
    let bias = attention_bias(mask, h);
    let parts: Vec<_> = qkv
        .chunk(3, 2)
        .into_iter()
        .map(|t| t.reshape([b, s, h, d]).swap_dims(1, 2))
        .collect();
    let scores =
        parts[0].clone().matmul(parts[1].clone().swap_dims(2, 3)) / (d as f64).sqrt() + bias;
    softmax(scores, 3)
        .matmul(parts[2].clone())
        .swap_dims(1, 2)
        .reshape([b, s, h * d])
}

fn host(t: Tensor<W, 3>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec::<f32>().unwrap()
}

/// Largest |a - b|; NaN if either side has a NaN (so NaN fails every bound).
fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, |m, d| {
            if d.is_nan() || m.is_nan() {
                f32::NAN
            } else {
                m.max(d)
            }
        })
}

/// `(b, s, h, d)`: every B 1-4, H 1/6/12, head dim 8/32/64 and S 1, 7, 63, 64, 65, 300, 1100
/// appears; the last sequence of each batch is padded.
const SHAPES: &[(usize, usize, usize, usize)] = &[
    (1, 1, 1, 8),
    (2, 7, 6, 32),
    (3, 63, 12, 8),
    (4, 64, 1, 64),
    (2, 65, 6, 64),
    (1, 300, 12, 32),
    (2, 1100, 6, 64),
    (4, 65, 12, 64),
];

fn mask_for(b: usize, s: usize) -> Vec<i64> {
    let mut keep = vec![1i64; b * s];
    if b > 1 {
        // Last sequence: keep 60% (at least 1) of its tokens.
        let real = (s * 3 / 5).max(1);
        keep[(b - 1) * s + real..].iter_mut().for_each(|k| *k = 0);
    }
    keep
}

#[test]
fn kernel_forward_and_gradients_match_explicit_path() {
    let _guard = serial();
    let device = Default::default();
    assert!(gpu_attention::applies::<W>() && gpu_attention::applies::<WAd>());
    for &(b, s, h, d) in SHAPES {
        let tag = format!("B={b} S={s} H={h} d={d}");
        let keep = mask_for(b, s);
        let mask = Tensor::<WAd, 2, Int>::from_data(TensorData::new(keep, [b, s]), &device);
        let bias = DeviceBias::new(mask.clone(), h);
        let qkv =
            Tensor::<WAd, 3>::random([b, s, 3 * h * d], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<WAd, 3>::random([b, s, h * d], Distribution::Normal(0.0, 1.0), &device);

        let q1 = qkv.clone().require_grad();
        let want = explicit(q1.clone(), mask, h);
        let g_want = (want.clone() * w.clone()).sum().backward();
        let g_want = host(q1.grad(&g_want).expect("explicit grad"));

        let q2 = qkv.require_grad();
        let got = gpu_attention::attention(q2.clone(), &bias, h).expect("the kernel applies");
        let g_got = (got.clone() * w).sum().backward();
        let g_got = host(q2.grad(&g_got).expect("kernel grad"));

        let fwd = max_abs(&host(got.inner()), &host(want.inner()));
        let bwd = max_abs(&g_got, &g_want);
        println!("{tag}: forward {fwd:.2e}, d qkv {bwd:.2e}");
        assert!(fwd <= 1e-4, "{tag}: forward differs by {fwd}");
        assert!(bwd <= 1e-4, "{tag}: d qkv differs by {bwd}");
    }
}

/// The inference backend (no autodiff) takes the same kernel.
#[test]
fn kernel_on_the_inference_backend() {
    let _guard = serial();
    let device = Default::default();
    let (b, s, h, d) = (2, 130, 12, 64);
    let keep = mask_for(b, s);
    let mask = Tensor::<W, 2, Int>::from_data(TensorData::new(keep, [b, s]), &device);
    let bias = DeviceBias::new(mask.clone(), h);
    let qkv = Tensor::<W, 3>::random([b, s, 3 * h * d], Distribution::Normal(0.0, 1.0), &device);
    let want = explicit(qkv.clone(), mask, h);
    let got = gpu_attention::attention(qkv, &bias, h).expect("the kernel applies");
    let err = max_abs(&host(got), &host(want));
    assert!(err <= 1e-4, "forward differs by {err}");
}

#[test]
fn tiny12_fixture_on_wgpu() {
    let _guard = serial();
    check::<W>("tiny12", "model.safetensors", Default::default());
}

#[test]
fn tiny8_fixture_on_wgpu() {
    let _guard = serial();
    check::<W>("tiny8", "model.safetensors", Default::default());
}

#[test]
fn tiny8_train_step_on_wgpu() {
    let _guard = serial();
    train_step_matches_pytorch::<W>(Path::Masked);
    train_step_matches_pytorch::<W>(Path::FullLogits);
}

/// A device failure is an error, never a result: an allocation beyond the device's buffer
/// limit (wgpu's default max buffer is 256 MiB; this asks for 1.6 GB) must surface from
/// `read_back` (and `sync`) instead of handing back whatever the buffers held.
#[test]
fn device_allocation_failure_is_an_error() {
    let _guard = serial();
    let device = Default::default();
    dnabert2_model::error::watch_device_failures();
    let big = Tensor::<W, 2>::ones([20_000, 20_000], &device);
    let reduced = big.sum_dim(1).reshape([20_000]);
    let got = dnabert2_model::error::read_back::<W, 1, _, f32>(reduced, "row sums");
    match got {
        Err(dnabert2_model::ModelError::Device { what, message }) => {
            assert_eq!(what, "row sums");
            assert!(!message.is_empty());
        }
        Err(e) => panic!("expected a device error, got {e}"),
        Ok(v) => panic!(
            "a 1.6 GB buffer on wgpu produced a result ({} values)",
            v.len()
        ),
    }
    // Consumed: the device works again for what fits.
    let small = Tensor::<W, 1>::ones([4], &device);
    let v = dnabert2_model::error::read_back::<W, 1, _, f32>(small, "small").unwrap();
    assert_eq!(v, [1.0; 4]);
}

/// f16 inputs (fp32 accumulation inside), forward and `d qkv`, against the f32 explicit path
/// on the same rounded inputs, within f16's rounding. (WGSL has no bf16; the bf16 kernel
/// runs on CUDA only.)
#[test]
fn kernel_f16_inputs() {
    let _guard = serial();
    let device = Default::default();
    let (f16, f32) = (burn::tensor::DType::F16, burn::tensor::DType::F32);
    for &(b, s, h, d) in &[(2, 130, 6, 64), (3, 65, 12, 32)] {
        let tag = format!("f16 B={b} S={s} H={h} d={d}");
        let keep = mask_for(b, s);
        let mask = Tensor::<WAd, 2, Int>::from_data(TensorData::new(keep, [b, s]), &device);
        let bias = DeviceBias::new(mask.clone(), h);
        let qkv =
            Tensor::<WAd, 3>::random([b, s, 3 * h * d], Distribution::Normal(0.0, 1.0), &device)
                .cast(f16);
        let w = Tensor::<WAd, 3>::random([b, s, h * d], Distribution::Normal(0.0, 1.0), &device);

        let q1 = qkv.clone().cast(f32).detach().require_grad();
        let want = explicit(q1.clone(), mask, h);
        let g_want = (want.clone() * w.clone()).sum().backward();
        let g_want = host(q1.grad(&g_want).expect("explicit grad"));

        let q2 = qkv.require_grad();
        let got = gpu_attention::attention(q2.clone(), &bias, h).expect("lavapipe has f16");
        assert_eq!(got.dtype(), f16);
        let g_got = (got.clone().cast(f32) * w).sum().backward();
        let g_got = q2.grad(&g_got).expect("kernel grad");
        assert_eq!(g_got.dtype(), f16);
        let g_got = host(g_got);

        let fwd = max_abs(&host(got.inner()), &host(want.inner()));
        let scale = g_want.iter().fold(1.0f32, |m, g| m.max(g.abs()));
        let bwd = max_abs(&g_got, &g_want) / scale;
        println!("{tag}: forward {fwd:.2e}, d qkv {bwd:.2e} of max |g| {scale:.1}");
        // f16 keeps 11 significant bits: 2e-3 is a few output roundings.
        assert!(fwd <= 2e-3, "{tag}: forward differs by {fwd}");
        assert!(
            bwd <= 4e-3,
            "{tag}: d qkv differs by {bwd} (relative to its max)"
        );
    }
}
