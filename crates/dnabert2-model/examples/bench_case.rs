//! Runs one benchmark case in this process and prints one JSON line (the format of
//! `benches/torch_reference/bench.py`), so a driver can alternate implementations process by
//! process and read each one's own peak RSS. `cargo xtask bench cpu` builds and runs it.
//!
//! ```text
//! cargo run --release -p dnabert2-model --example bench_case -- --case forward_8x128 --runs 3
//! ```
//! Cases: see `benches/cases/mod.rs` (`forward_BxS[_burn_op]`, `train_step_BxS`,
//! `finetune_small_BxS`, `sgemm_N`). Threads: `RAYON_NUM_THREADS`.
//!
//! `--backend wgpu|cuda` (built with that feature) and `--precision f32|f16|bf16` run a case
//! on the GPU (`benches/gpu/run.sh`); the line then also has `gpu_reserved_bytes`, the
//! device memory cubecl's pools hold after the runs (they keep their high-water mark).

#[path = "../benches/cases/mod.rs"]
mod cases;

use std::time::Instant;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Time one dnabert2-model benchmark case (one JSON line on stdout)")]
struct Args {
    /// Case name, e.g. forward_8x128, train_step_8x128, finetune_small_32x128, sgemm_2048.
    #[arg(long, required_unless_present = "list")]
    case: Option<String>,
    /// Print the default case list, one per line, and exit.
    #[arg(long)]
    list: bool,
    /// Timed iterations after the warm-up.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Untimed warm-up iterations (a training step reaches its steady state, optimizer
    /// moments allocated and the heap at its high-water mark, after two).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Backend: cpu, wgpu or cuda (the latter two need their cargo feature).
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// Weights and activations: f32, f16 or bf16.
    #[arg(long, default_value = "f32")]
    precision: dnabert2_model::precision::Precision,
}

/// The case on the chosen backend, a probe of its device memory, and a check that no
/// kernel failed on the device (a failed GPU allocation must not be timed as a result).
type Prepared = (
    cases::Case,
    Box<dyn Fn() -> Option<u64>>,
    Box<dyn Fn() -> Result<(), String>>,
);

/// [`dnabert2_model::error::check_device`] on `Bk`'s default device.
fn device_check<Bk: burn::prelude::Backend>() -> Box<dyn Fn() -> Result<(), String>> {
    Box::new(|| {
        dnabert2_model::error::check_device::<Bk>(&Default::default(), "benchmark case")
            .map_err(|e| e.to_string())
    })
}

fn prepare(name: &str, args: &Args) -> Result<Prepared, String> {
    let p = args.precision;
    match args.backend.as_str() {
        "cpu" => Ok((
            cases::prepare_on::<dnabert2_model::backend::CpuBackend>(name, p, Default::default())?,
            Box::new(|| None),
            device_check::<dnabert2_model::backend::CpuBackend>(),
        )),
        #[cfg(feature = "wgpu")]
        "wgpu" => {
            use cubecl::Runtime;
            let case = cases::prepare_on::<burn::backend::Wgpu>(name, p, Default::default())?;
            let probe = || {
                let client = burn::backend::wgpu::WgpuRuntime::client(&Default::default());
                client.memory_usage().ok().map(|m| m.bytes_reserved)
            };
            Ok((case, Box::new(probe), device_check::<burn::backend::Wgpu>()))
        }
        #[cfg(feature = "cuda")]
        "cuda" => {
            use cubecl::Runtime;
            let case = cases::prepare_on::<burn::backend::Cuda>(name, p, Default::default())?;
            let probe = || {
                let client = cubecl::cuda::CudaRuntime::client(&Default::default());
                client.memory_usage().ok().map(|m| m.bytes_reserved)
            };
            Ok((case, Box::new(probe), device_check::<burn::backend::Cuda>()))
        }
        other => Err(format!(
            "--backend {other}: not built in (cpu, and wgpu/cuda with their feature)"
        )),
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if std::env::var_os("DNABERT2_DEFAULT_MALLOC").is_none() {
        dnabert2_model::backend::keep_freed_memory();
    }
    let Some(name) = args.case.clone().filter(|_| !args.list) else {
        for c in cases::DEFAULT_CASES {
            println!("{c}");
        }
        return std::process::ExitCode::SUCCESS;
    };
    let (mut case, gpu_reserved, check) = match prepare(&name, &args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    for _ in 0..args.warmup {
        (case.step)();
    }
    let mut secs = Vec::new();
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        (case.step)();
        secs.push(t.elapsed().as_secs_f64());
    }
    if let Err(e) = check() {
        eprintln!("error: {name}: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let mut sorted = secs.clone();
    sorted.sort_by(f64::total_cmp);
    let med = sorted[sorted.len() / 2];
    let line = serde_json::json!({
        "impl": "ours",
        "case": case.name,
        "secs": secs,
        "secs_median": med,
        "tokens_per_s": case.tokens as f64 / med,
        "gflops": case.flops / med / 1e9,
        "peak_rss_bytes": cases::peak_rss_bytes(),
        "threads": rayon::current_num_threads(),
        "backend": args.backend,
        "precision": format!("{:?}", args.precision).to_lowercase(),
        "gpu_reserved_bytes": gpu_reserved(),
    });
    println!("{line}");
    std::process::ExitCode::SUCCESS
}
