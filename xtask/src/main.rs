//! `cargo xtask <command>`: thin orchestration over the workspace libraries.
//!
//! Each subcommand lives in its own module and only parses flags and calls
//! library functions:
//! - `pretrain` ([`pretrain`]): MLM pretraining from FASTA (dnabert2-train).
//! - `finetune`, `predict`, `gue`: fine-tuning, prediction and GUE runs.
//! - `bench` ([`bench`]): `bench cpu`, our CPU cases beside the PyTorch reference.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod bench_distributed;
mod bench_embed;
mod bench_gpu;
mod finetune;
mod gue;
mod predict;
mod pretrain;

/// DNABERT-2 in Rust: workspace tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pretrain a DNABERT-2 MLM from FASTA files or folders.
    Pretrain(pretrain::Args),
    /// Fine-tune a classifier on DIR/{train,dev,test}.csv (GUE protocol).
    Finetune(finetune::Args),
    /// Predict labels and class probabilities for a CSV or FASTA file.
    Predict(predict::Args),
    /// Fine-tune and evaluate on GUE tasks x seeds (resumable), write report.md.
    Gue(gue::Args),
    /// Benchmarks beside the references (`bench cpu`: ours vs the in-repo PyTorch encoder).
    Bench(bench::Args),
}

/// Backend names of `--backend` (each also the xtask feature that compiles it in) and
/// whether this binary has it.
const BACKENDS: [(&str, bool); 5] = [
    ("flex", cfg!(feature = "flex")),
    ("ndarray", cfg!(feature = "ndarray")),
    ("wgpu", cfg!(feature = "wgpu")),
    ("cuda", cfg!(feature = "cuda")),
    ("tch", cfg!(feature = "tch")),
];

/// xtask's own manifest, so the rebuild works from any working directory.
const MANIFEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");

/// Set in the rebuilt child so it never rebuilds again.
const REBUILT: &str = "DNABERT2_XTASK_REBUILT";

/// `cargo xtask pretrain --backend cuda` on a default build: the backend's feature is not
/// compiled in, so rebuild xtask with it (`cargo run --release -p xtask --features cuda`)
/// and run the same command there. `None` when this binary has what the command asks for.
fn rerun_with_backend(args: &[String]) -> Option<ExitCode> {
    let sub = args.get(1)?;
    if !["pretrain", "finetune", "predict", "gue"].contains(&sub.as_str()) {
        return None; // `bench gpu --backend` names a build target, not this binary's backend
    }
    let name = args
        .iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix("--backend") {
            Some("") => args.get(i + 1).cloned(),
            Some(v) => v.strip_prefix('=').map(str::to_string),
            None => None,
        })?;
    let &(feature, compiled) = BACKENDS.iter().find(|(n, _)| *n == name)?;
    if compiled {
        return None;
    }
    if std::env::var_os(REBUILT).is_some() {
        eprintln!(
            "error: --backend {name}: this xtask was rebuilt with `--features {feature}` and still lacks it"
        );
        return Some(ExitCode::FAILURE);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "xtask was built without the `{feature}` feature: running `cargo run --release -p xtask \
         --features {feature} -- {}` (the first build of a GPU backend takes minutes)",
        args[1..].join(" ")
    );
    let status = std::process::Command::new(cargo)
        .args(["run", "--release", "--manifest-path", MANIFEST])
        .args(["-p", "xtask", "--features", feature, "--"])
        .args(&args[1..])
        .env(REBUILT, "1")
        .status();
    Some(match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(s.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: could not run cargo to rebuild xtask with `{feature}`: {e}");
            ExitCode::FAILURE
        }
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(code) = rerun_with_backend(&args) {
        return code;
    }
    let cli = Cli::parse();
    dnabert2_train::console::init();
    dnabert2_model::backend::keep_freed_memory();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Pretrain(args) => pretrain::run(args),
        Command::Finetune(args) => finetune::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Gue(args) => gue::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
