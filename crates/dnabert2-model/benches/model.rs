//! Criterion benches of the cases in `cases/mod.rs` on the CPU backend chosen by features:
//! the 117M encoder forward at 8x128, 1x1024, 1x4096 (each also `_burn_op`: burn's attention
//! op with a `[B, H, S, S]` bias instead of the CPU kernel), the 117M MLM training step at
//! 8x128 and 2x1024, the `small` preset's fine-tuning step and the backend's sgemm.
//!
//! `cargo bench -p dnabert2-model` (add `-- train_step` etc. to filter). Ratios against the
//! PyTorch reference come only from `cargo xtask bench cpu`, which runs both side by side.

mod cases;

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

fn all(c: &mut Criterion) {
    let mut g = c.benchmark_group("dnabert2_model");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(5));
    let mut names: Vec<String> = cases::DEFAULT_CASES.iter().map(|s| s.to_string()).collect();
    names.extend(
        ["forward_8x128", "forward_1x1024", "forward_1x4096"].map(|n| format!("{n}_burn_op")),
    );
    // A case is built only when its name passes criterion's filter, so a filtered run holds
    // only the model it measures.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    for name in names {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let mut case = cases::prepare(&name).expect("known case");
        if case.tokens > 0 {
            g.throughput(Throughput::Elements(case.tokens as u64));
        }
        g.bench_function(&name, |bench| bench.iter(|| (case.step)()));
    }
    g.finish();
}

criterion_group!(benches, all);
criterion_main!(benches);
