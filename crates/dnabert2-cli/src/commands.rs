//! The subcommands: flags -> library calls -> files. No model or data logic lives here.

use std::io::Write;
use std::path::PathBuf;

use burn::module::Module;
use dnabert2_model::pretrained;

use crate::error::{CliError, Result, io_err};
use crate::input;

#[cfg(feature = "cuda")]
pub(crate) type B = dnabert2_model::backend::Cuda;
#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
pub(crate) type B = dnabert2_model::backend::Wgpu;
#[cfg(all(feature = "flex", not(any(feature = "cuda", feature = "wgpu"))))]
pub(crate) type B = dnabert2_model::backend::CpuBackend;

pub(crate) fn device() -> <B as burn::tensor::backend::BackendTypes>::Device {
    Default::default()
}

/// Flags of `dnabert2 info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Model directory or hub id (resolved offline from the HF cache).
    #[arg(long)]
    model: String,
}

/// Prints the model's config, size, heads and tokenizer.
pub fn info(a: InfoArgs) -> Result<()> {
    let p = pretrained::load::<B>(&a.model, &device())?;
    let c = &p.config;
    println!("model        {}", p.dir.display());
    println!(
        "encoder      hidden {}, layers {}, heads {}, intermediate {} (GEGLU), vocab {}",
        c.hidden_size,
        c.num_hidden_layers,
        c.num_attention_heads,
        c.intermediate_size,
        c.vocab_size
    );
    let params = match &p.model {
        pretrained::Model::MaskedLm(m) => m.num_params(),
        pretrained::Model::Classifier(m) => m.num_params(),
        pretrained::Model::Encoder(m) => m.num_params(),
    };
    println!("parameters   {params}");
    println!("heads        {}", p.heads());
    println!(
        "tokenizer    {} tokens, {}",
        p.tokenizer.vocab_size(),
        if p.tokenizer_from_dir {
            "from the model's tokenizer.json"
        } else {
            "embedded DNABERT-2 tokenizer (no tokenizer.json in the model dir)"
        }
    );
    Ok(())
}

/// Flags of `dnabert2 tokenize`.
#[derive(Debug, clap::Args)]
pub struct TokenizeArgs {
    /// Model directory or hub id (its tokenizer.json is used).
    #[arg(long)]
    model: String,
    /// FASTA, CSV/TSV with a `sequence` column, or one sequence per line; `-` for stdin.
    #[arg(long)]
    input: PathBuf,
    /// JSON lines: `{"id", "ids", "tokens", "offsets"}` per sequence, in input order.
    #[arg(long)]
    output: PathBuf,
}

/// Writes the tokenization of every input sequence.
pub fn tokenize(a: TokenizeArgs) -> Result<()> {
    let dir = pretrained::resolve(&a.model)?;
    let tok_path = dir.join("tokenizer.json");
    let tok = if tok_path.is_file() {
        dna_bpe::Tokenizer::from_file(&tok_path).map_err(|e| CliError::Usage(e.to_string()))?
    } else {
        log::info!(
            "{} has no tokenizer.json: using the embedded DNABERT-2 tokenizer",
            dir.display()
        );
        dna_bpe::Tokenizer::dnabert2()
    };
    dna_bpe::atomic::ensure_parent(&a.output).map_err(io_err(&a.output))?;
    let mut out = dna_bpe::atomic::Staged::create(&a.output).map_err(io_err(&a.output))?;
    let mut n = 0usize;
    for r in input::open(&a.input)? {
        let r = r?;
        n += 1;
        let enc = tok.encode(&r.seq).map_err(|e| CliError::Input {
            path: a.input.clone(),
            line: None,
            message: format!("record {n} ({}): {e}", r.id),
        })?;
        let row = serde_json::json!({
            "id": r.id, "ids": enc.ids(), "tokens": tok.tokens(&enc), "offsets": enc.offsets(),
        });
        writeln!(out.file(), "{row}").map_err(io_err(&a.output))?;
    }
    if n == 0 {
        return Err(CliError::Input {
            path: a.input.clone(),
            line: None,
            message: "no sequences".into(),
        });
    }
    out.commit().map_err(io_err(&a.output))?;
    eprintln!("{n} sequences -> {}", a.output.display());
    Ok(())
}

/// Flags of `dnabert2 predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// A fine-tuned model directory (or hub id) with a classifier.
    #[arg(long)]
    model: String,
    /// FASTA or CSV/TSV with `sequence` (`seq1,seq2` for pair models) and optional `id`.
    #[arg(long)]
    input: PathBuf,
    /// CSV: id, predicted label, one probability column per class.
    #[arg(long)]
    output: PathBuf,
    /// Sequences per forward batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
}

/// Writes the predictions of a fine-tuned model (the library's prediction, unchanged).
pub fn predict(a: PredictArgs) -> Result<()> {
    let dir = pretrained::resolve(&a.model)?;
    let opts = dnabert2_train::predict::PredictOptions {
        batch_size: a.batch_size,
        ..Default::default()
    };
    let s =
        dnabert2_train::predict::predict_file::<B>(&dir, &a.input, &a.output, &opts, &device())?;
    eprintln!(
        "{} rows x {} outputs -> {}",
        s.rows,
        s.num_labels,
        s.output.display()
    );
    Ok(())
}
