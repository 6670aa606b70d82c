//! Backend comparison: the same DNABERT-2 encoder forward on every backend compiled in.
//!
//! ```text
//! cargo bench --bench backends                                   # CPU default (burn-flex)
//! cargo bench --bench backends --features ndarray                # flex vs ndarray, same run
//! cargo bench --bench backends --features wgpu,ndarray           # + wgpu (GPU or Mesa lavapipe)
//! cargo bench --bench backends --features cuda                   # + CUDA (needs the CUDA toolkit)
//! LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1 \
//!     cargo bench --bench backends --features ndarray,tch        # flex, ndarray, libtorch
//! ```
//!
//! Cases: `small` preset (D 256, 4 layers) at 8 x 128 tokens and the 117M `base` config at
//! 8 x 128, random weights, eval-mode forward of the encoder. Each case prints tokens/s and
//! the ratio to the first backend measured in the same run (the CPU default). Ratios against
//! PyTorch itself come from `cargo xtask bench cpu`. Set `DNABERT2_BACKENDS_BASE=0` to skip
//! the 117M case (slow on CPU). Building `tch`: docs/PERFORMANCE.md.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, criterion_group, criterion_main};
use dnabert2_model::{BertConfig, BertInput, BertModel};

thread_local! {
    /// tokens/s of the first backend per case, the reference for ratios.
    static FIRST: RefCell<Vec<(String, f64)>> = const { RefCell::new(Vec::new()) };
}

fn case<B: Backend>(c: &mut Criterion, backend: &str, preset: &str, device: B::Device) {
    let cfg = BertConfig::preset(preset).expect("built-in preset");
    let model = BertModel::<B>::init(&cfg, false, &device);
    let (b, s) = (8, 128);
    let ids = Tensor::<B, 2>::random([b, s], Distribution::Uniform(5.0, 4096.0), &device).int();
    let input = BertInput::new(ids, Tensor::ones([b, s], &device));
    let run = || {
        // Reading the result back forces lazy / asynchronous backends to finish.
        let out = model.forward(input.clone());
        out.sum().into_scalar();
    };
    run(); // warm-up (kernel compilation on GPU backends)
    let t = Instant::now();
    run();
    let secs = t.elapsed().as_secs_f64();
    let tps = (b * s) as f64 / secs;
    let key = format!("{preset}_8x128");
    let first = FIRST.with(|f| {
        let mut f = f.borrow_mut();
        match f.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => *v,
            None => {
                f.push((key.clone(), tps));
                tps
            }
        }
    });
    println!(
        "{backend:>8} {key}: {tps:8.1} tokens/s, {:.2}x the first backend",
        tps / first
    );
    let mut g = c.benchmark_group(format!("backends/{key}"));
    g.sample_size(10)
        .measurement_time(Duration::from_secs_f64((secs * 12.0).max(1.0)));
    g.bench_function(backend, |bench| bench.iter(run));
    g.finish();
}

fn cases<B: Backend>(c: &mut Criterion, backend: &str, device: B::Device) {
    case::<B>(c, backend, "small", device.clone());
    if std::env::var("DNABERT2_BACKENDS_BASE").as_deref() != Ok("0") {
        case::<B>(c, backend, "base", device);
    }
}

fn backends(c: &mut Criterion) {
    #[cfg(feature = "flex")]
    cases::<burn::backend::Flex>(c, "flex", Default::default());
    #[cfg(feature = "ndarray")]
    cases::<burn::backend::NdArray>(c, "ndarray", Default::default());
    #[cfg(feature = "wgpu")]
    cases::<burn::backend::Wgpu>(c, "wgpu", Default::default());
    #[cfg(feature = "cuda")]
    cases::<burn::backend::Cuda>(c, "cuda", Default::default());
    #[cfg(feature = "tch")]
    cases::<burn::backend::LibTorch>(c, "tch", Default::default());
}

criterion_group!(benches, backends);
criterion_main!(benches);
