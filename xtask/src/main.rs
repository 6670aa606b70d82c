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

fn main() -> ExitCode {
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
