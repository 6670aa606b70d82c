//! The subcommands: flags -> library calls -> files. No model or data logic lives here.

use std::io::Write;
use std::path::PathBuf;

use burn::module::Module;
use dnabert2_model::pretrained;

use crate::error::{CliError, Result, io_err};
use crate::{input, output};

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
    /// `.csv`/`.tsv` (id, label, prob_0, ...) or `.parquet` (the same columns).
    #[arg(long)]
    output: PathBuf,
    /// Sequences per forward batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// `average`: mean of the probabilities of each sequence and its reverse complement
    /// (test-time strand augmentation).
    #[arg(long, value_enum, default_value_t = PredictStrand::Forward)]
    strand: PredictStrand,
}

/// `--strand` of `predict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PredictStrand {
    /// The sequences as given.
    Forward,
    /// Mean over both strands.
    Average,
}

/// Rows per parquet row group of `predict`.
const PREDICT_GROUP: usize = 8192;

/// Writes the predictions of a fine-tuned model (the library's prediction loop).
pub fn predict(a: PredictArgs) -> Result<()> {
    use dnabert2_train::predict::{PredictOptions, Predictor, predict_each, predict_file};
    let dir = pretrained::resolve(&a.model)?;
    let opts = PredictOptions {
        batch_size: a.batch_size,
        strand_average: a.strand == PredictStrand::Average,
        ..Default::default()
    };
    let parquet = a
        .output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if !parquet {
        let s = predict_file::<B>(&dir, &a.input, &a.output, &opts, &device())?;
        eprintln!(
            "{} rows x {} outputs -> {}",
            s.rows,
            s.num_labels,
            s.output.display()
        );
        return Ok(());
    }
    let predictor = Predictor::<B>::load(&dir, None, &device())?;
    let names: Vec<String> = predictor.header().split(',').map(String::from).collect();
    let mut pq = output::ParquetRows::create(&a.output)?;
    let mut buf: Vec<(String, Vec<f32>)> = Vec::new();
    let flush = |pq: &mut output::ParquetRows, buf: &mut Vec<(String, Vec<f32>)>| -> Result<()> {
        use polars::prelude::Column;
        let mut cols = vec![
            Column::new(
                names[0].as_str().into(),
                buf.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ),
            if predictor.problem == dnabert2_train::finetune::Problem::Regression {
                Column::new(
                    names[1].as_str().into(),
                    buf.iter().map(|(_, p)| p[0]).collect::<Vec<_>>(),
                )
            } else {
                Column::new(
                    names[1].as_str().into(),
                    buf.iter()
                        .map(|(_, p)| predictor.label(p))
                        .collect::<Vec<_>>(),
                )
            },
        ];
        for (k, name) in names.iter().enumerate().skip(2) {
            cols.push(Column::new(
                name.as_str().into(),
                buf.iter().map(|(_, p)| p[k - 2]).collect::<Vec<_>>(),
            ));
        }
        buf.clear();
        pq.write(cols)
    };
    let mut failed = None;
    let rows = predict_each(&predictor, &a.input, &opts, |id, p| {
        buf.push((id.to_string(), p.to_vec()));
        if buf.len() >= PREDICT_GROUP
            && let Err(e) = flush(&mut pq, &mut buf)
        {
            failed = Some(e);
            return Err(dnabert2_train::TrainError::Config(
                "parquet write failed".into(),
            ));
        }
        Ok(())
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let rows = rows?;
    if !buf.is_empty() {
        flush(&mut pq, &mut buf)?;
    }
    pq.finish()?;
    eprintln!(
        "{rows} rows x {} outputs -> {}",
        predictor.num_labels,
        a.output.display()
    );
    Ok(())
}
