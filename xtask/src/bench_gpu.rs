//! `cargo xtask bench gpu`: prepares (and optionally runs) the GPU comparison of
//! `benches/gpu/run.sh`: ours with the fused ALiBi kernel, ours through burn's attention op,
//! the in-repo PyTorch reference with SDPA + bias (f32 and bf16 autocast) and PyTorch flash
//! attention without bias, forward and MLM training step, tokens/s, device memory and MFU.
//!
//! The device machine has CUDA and PyTorch but no Rust, so this builds `bench_case` here with
//! `--features cuda`, strips it into `target/gpu-bench/` and prints the one command to run
//! there (carry `target/gpu-bench`). `--run` runs the script on this machine instead (with
//! `--backend wgpu` on Mesa's software Vulkan: a plumbing check, not a measurement).

use std::path::PathBuf;
use std::process::Command;

use crate::bench::workspace_root;

/// Flags of `cargo xtask bench gpu`.
#[derive(Debug, clap::Args)]
pub struct GpuArgs {
    /// Backend the binary is built for and run on: cuda (the measurement) or wgpu.
    #[arg(long, default_value = "cuda")]
    backend: String,
    /// Run benches/gpu/run.sh here after building (small shapes with `--smoke`).
    #[arg(long)]
    run: bool,
    /// With --run: tiny shapes and one timed iteration (checks the plumbing end to end).
    #[arg(long)]
    smoke: bool,
    /// Where results.{jsonl,json,md} go with --run.
    #[arg(long, default_value = "runs/bench-gpu")]
    out: PathBuf,
}

/// Builds and strips the GPU `bench_case`; runs the script with `--run`.
pub fn gpu(args: GpuArgs) -> Result<(), Box<dyn std::error::Error>> {
    let feature = match args.backend.as_str() {
        "cuda" | "wgpu" => args.backend.clone(),
        other => return Err(format!("--backend {other}: expected cuda or wgpu").into()),
    };
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("bench gpu: building bench_case --features {feature} (release)");
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "-p",
            "dnabert2-model",
            "--example",
            "bench_case",
        ])
        .args(["--features", &feature])
        .status()?;
    if !status.success() {
        return Err(format!("building bench_case --features {feature} failed ({status})").into());
    }
    let built = crate::bench::target_dir(&root).join("release/examples/bench_case");
    let dir = root.join("target/gpu-bench");
    std::fs::create_dir_all(&dir)?;
    let bin = dir.join("bench_case");
    std::fs::copy(&built, &bin).map_err(|e| format!("copy {}: {e}", built.display()))?;
    match Command::new("strip").arg(&bin).status() {
        Ok(s) if s.success() => {}
        _ => eprintln!("bench gpu: strip unavailable; carrying the unstripped binary"),
    }
    let size = std::fs::metadata(&bin)?.len();
    eprintln!(
        "bench gpu: {} ({:.1} MiB, --backend {feature})",
        bin.display(),
        size as f64 / (1 << 20) as f64
    );
    if !args.run {
        println!(
            "on the device machine (carry target/gpu-bench), about 7 minutes:\n  \
             OUT=$OUT bash benches/gpu/run.sh\n\
             results: $OUT/results.md, results.json, results.jsonl"
        );
        return Ok(());
    }
    let mut c = Command::new("bash");
    c.current_dir(&root)
        .arg("benches/gpu/run.sh")
        .env("OUT", root.join(&args.out))
        .env("BIN", &bin)
        .env("BACKEND", &feature);
    if feature == "wgpu" {
        c.env("DEVICE", "cpu");
    }
    if args.smoke {
        c.env("FORWARD", "2x64")
            .env("TRAIN", "2x32")
            .env("RUNS", "1")
            .env("PRECISIONS", "f32");
    }
    let status = c.status()?;
    if !status.success() {
        return Err(format!("benches/gpu/run.sh failed ({status})").into());
    }
    Ok(())
}
