//! `cargo xtask predict`: classify a CSV/TSV or FASTA file with a fine-tuned model.

use std::path::PathBuf;

use dnabert2_train::predict::{PredictOptions, predict_file_with};

use crate::pretrain::{Backend, with_backend};

/// Flags of `cargo xtask predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fine-tuned model directory (the OUT of `cargo xtask finetune`).
    #[arg(long)]
    model: PathBuf,
    /// CSV/TSV with a `sequence` (or `seq1,seq2`) column, or FASTA (.fa/.fasta/.fna, .gz/.xz).
    #[arg(long)]
    input: PathBuf,
    /// Output CSV: id, predicted label, prob_0..prob_{n-1}.
    #[arg(long)]
    output: PathBuf,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Truncation length (default: the one used in fine-tuning).
    #[arg(long)]
    max_len: Option<usize>,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = crate::finetune::default_backend())]
    backend: Backend,
}

/// Runs the command.
pub fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let o = PredictOptions {
        batch_size: a.batch_size,
        max_len: a.max_len,
        ..Default::default()
    };
    let s = with_backend!(a.backend, |B, dev| predict_file_with::<B>(
        &a.model, &a.input, &a.output, &o, &dev
    )?);
    eprintln!(
        "wrote {} predictions ({} outputs each) to {}",
        s.rows,
        s.num_labels,
        s.output.display()
    );
    Ok(())
}
