//! Criterion benches of the 117M config with random weights on the CPU backend chosen by
//! features: forward tokens/s at 8x128, 1x1024, 1x4096 and one MLM training step (forward,
//! backward, AdamW) at 8x128. Each forward case also runs as `..._burn_op`: the same forward
//! through burn's fused attention op with a `[B, H, S, S]` bias instead of the CPU kernel
//! (`ForwardOptions::tensor_attention`), to compare the two in one run. Prints the ratio to the upstream anchors (PyTorch, fp32, 2
//! threads, /work/shared/reference/ANCHORS.md).
//!
//! `cargo bench -p dnabert2-model` (add `-- forward_1x4096` etc. to filter).

use std::time::Duration;

use burn::backend::Autodiff;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use dnabert2_model::backend::CpuBackend as B;
use dnabert2_model::{BertConfig, BertForMaskedLM, BertInput, BertModel, ForwardOptions};

/// Upstream tokens/s anchors.
const ANCHORS: [(&str, f64); 4] = [
    ("forward_8x128", 453.0),
    ("forward_1x1024", 248.0),
    ("forward_1x4096", 96.0),
    ("train_step_8x128", 123.0),
];

fn random_input<Bk: Backend>(b: usize, s: usize, device: &Bk::Device) -> BertInput<Bk> {
    let ids = Tensor::<Bk, 2>::random([b, s], Distribution::Uniform(5.0, 4096.0), device).int();
    BertInput::new(ids, Tensor::ones([b, s], device))
}

fn report(name: &str, secs: f64, tokens: usize) {
    let tps = tokens as f64 / secs;
    let anchor = ANCHORS
        .iter()
        .find(|(n, _)| *n == name.trim_end_matches("_burn_op"))
        .map(|a| a.1)
        .unwrap_or(f64::NAN);
    println!(
        "{name}: {secs:.3} s/iter, {tps:.1} tokens/s, ratio vs upstream {:.2}x",
        tps / anchor
    );
}

fn timed(
    name: &str,
    tokens: usize,
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    mut step: impl FnMut(),
) {
    let mut times = Vec::new();
    // DNABERT2_BENCH_RUNS=n: skip criterion's 10 samples, time 1 warm-up + n runs (median);
    // for the slow cases on a 2-core box. The first CLI argument, if any, must name the case
    // exactly (so one process runs one case, for its peak RSS).
    if let Ok(n) = std::env::var("DNABERT2_BENCH_RUNS") {
        let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
        if filter.is_some_and(|f| name != f) {
            return;
        }
        step();
        for _ in 0..n.parse::<usize>().unwrap_or(2).max(1) {
            let t = std::time::Instant::now();
            step();
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        report(name, times[times.len() / 2], tokens);
        return;
    }
    g.throughput(Throughput::Elements(tokens as u64));
    g.bench_function(name, |bench| {
        bench.iter_custom(|iters| {
            let t = std::time::Instant::now();
            for _ in 0..iters {
                step();
            }
            let e = t.elapsed();
            times.push(e.as_secs_f64() / iters as f64);
            e
        })
    });
    if !times.is_empty() {
        times.sort_by(f64::total_cmp);
        report(name, times[times.len() / 2], tokens);
    }
}

fn group(c: &mut Criterion) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group("dnabert2_model");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(5));
    g
}

/// Forward passes; the model is built lazily so a filtered run holds only what it measures
/// (for whole-process peak RSS with `/usr/bin/time -v`).
fn forward(c: &mut Criterion) {
    let device = Default::default();
    let cfg = BertConfig::preset("base").expect("preset");
    let mut model: Option<BertModel<B>> = None;
    let mut g = group(c);
    for (b, s) in [(8usize, 128usize), (1, 1024), (1, 4096)] {
        for tensor_attention in [false, true] {
            let suffix = if tensor_attention { "_burn_op" } else { "" };
            let name = format!("forward_{b}x{s}{suffix}");
            let opts = ForwardOptions {
                tensor_attention,
                ..Default::default()
            };
            let mut input: Option<BertInput<B>> = None;
            timed(&name, b * s, &mut g, || {
                let m = model.get_or_insert_with(|| BertModel::<B>::init(&cfg, false, &device));
                let x = input.get_or_insert_with(|| random_input::<B>(b, s, &device));
                let _ = m
                    .forward_with(x.clone(), opts)
                    .last_hidden_state
                    .into_data();
            });
        }
    }
    g.finish();
}

/// One MLM step: forward, backward, AdamW, 15% of positions labelled.
fn train_step(c: &mut Criterion) {
    type AD = Autodiff<B>;
    let device = Default::default();
    let cfg = BertConfig::preset("base").expect("preset");
    let mut model: Option<BertForMaskedLM<AD>> = None;
    let mut optim = AdamWConfig::new().init::<AD, BertForMaskedLM<AD>>();
    let (b, s) = (8, 128);
    let mut batch = None;
    let mut g = group(c);
    timed("train_step_8x128", b * s, &mut g, || {
        let (input, labels) = batch.get_or_insert_with(|| {
            let input = random_input::<AD>(b, s, &device);
            let sel = Tensor::<AD, 2>::random([b, s], Distribution::Uniform(0.0, 1.0), &device)
                .lower_elem(0.15);
            let labels = input.input_ids.clone().mask_fill(sel.bool_not(), -100);
            (input, labels)
        });
        let m = model
            .take()
            .unwrap_or_else(|| BertForMaskedLM::<AD>::init(&cfg, &device));
        let loss = m.forward_masked(input.clone(), labels.clone()).loss;
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        let m = optim.step(1e-4, m, grads);
        let _ = m.cls.decoder_bias.val().into_data();
        model = Some(m);
    });
    g.finish();
}

criterion_group!(benches, forward, train_step);
criterion_main!(benches);
