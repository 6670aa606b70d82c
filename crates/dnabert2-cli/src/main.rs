//! `dnabert2`: DNABERT-2 models on your own files, without writing Rust.
//!
//! ```text
//! dnabert2 info --model zhihan1996/DNABERT-2-117M
//! dnabert2 tokenize --model DIR --input seqs.fa --output tokens.jsonl
//! dnabert2 embed --model DIR --input seqs.fa --output emb.npy [--pooling mean|mean-no-special|cls|max] [--strand forward|average|both]
//! dnabert2 predict --model FINETUNED_DIR --input seqs.fa --output preds.csv
//! dnabert2 score-variants --model DIR --reference genome.fa.gz --vcf variants.vcf --output scores.tsv
//! ```
//!
//! `--model` takes a model directory (HF download, HF cache snapshot, `cargo xtask pretrain`
//! output, fine-tuned dir) or a hub id resolved offline from the local HF cache. Inputs:
//! FASTA (plain, .gz, .xz), CSV/TSV with a `sequence` column (and `id`), or one sequence per
//! line; `-` reads stdin. Errors are one line naming the file and the line or record.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod embed;
mod error;
mod input;
mod models;
mod mutagenesis;
mod output;
mod variants;

/// DNABERT-2 on your files: model info, tokens, embeddings, predictions.
#[derive(Debug, Parser)]
#[command(name = "dnabert2", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  dnabert2 info --model zhihan1996/DNABERT-2-117M
  dnabert2 embed --model DIR --input seqs.fa --output emb.npy
  dnabert2 embed --model DIR --input seqs.csv --output emb.parquet --pooling cls --strand average
  dnabert2 embed --model DIR --input genome.fa.gz --windows 1000 --stride 500 --output win.parquet
  dnabert2 tokenize --model DIR --input seqs.fa --output tokens.jsonl
  dnabert2 predict --model FINETUNED_DIR --input seqs.fa --output preds.csv
  dnabert2 score-variants --model DIR --reference genome.fa.gz --vcf variants.vcf --output scores.tsv
  dnabert2 mutagenesis --model FINETUNED_DIR --sequence ACGT... --output ism.tsv --plot ism.png";

#[derive(Debug, Subcommand)]
enum Command {
    /// Config, parameter count, heads and tokenizer of a model.
    Info(commands::InfoArgs),
    /// Token ids, tokens and base-pair offsets of every input sequence (JSON lines).
    Tokenize(commands::TokenizeArgs),
    /// One embedding per sequence or per base (.npy + .ids.txt, .safetensors, .parquet, .tsv).
    Embed(embed::EmbedArgs),
    /// Class probabilities of a fine-tuned model for every input sequence (CSV).
    Predict(commands::PredictArgs),
    /// Zero-shot variant effects (MLM log-likelihood ratio, embedding distances) from a VCF.
    ScoreVariants(variants::ScoreArgs),
    /// In-silico saturation mutagenesis: every position x 3 substitutions (TSV, heatmap PNG).
    Mutagenesis(mutagenesis::MutagenesisArgs),
}

fn main() -> ExitCode {
    dnabert2_train::console::init();
    dnabert2_model::backend::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(a) => commands::info(a),
        Command::Tokenize(a) => commands::tokenize(a),
        Command::Embed(a) => embed::embed(a),
        Command::Predict(a) => commands::predict(a),
        Command::ScoreVariants(a) => variants::score_variants(a),
        Command::Mutagenesis(a) => mutagenesis::mutagenesis(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
