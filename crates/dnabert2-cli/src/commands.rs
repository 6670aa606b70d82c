//! The subcommands: flags -> library calls -> files. No model or data logic lives here.

use std::path::PathBuf;

use burn::module::Module;
use dnabert2_model::embed::{EmbedOptions, Embedder, Pooling};
use dnabert2_model::pretrained;

use crate::error::{CliError, Result, io_err};
use crate::{input, output, seq};

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
    let records = input::read(&a.input)?;
    let mut text = String::new();
    for (i, r) in records.iter().enumerate() {
        let enc = tok.encode(&r.seq).map_err(|e| CliError::Input {
            path: a.input.clone(),
            line: Some(i + 1),
            message: format!("{}: {e}", r.id),
        })?;
        let row = serde_json::json!({
            "id": r.id, "ids": enc.ids(), "tokens": tok.tokens(&enc), "offsets": enc.offsets(),
        });
        text.push_str(&row.to_string());
        text.push('\n');
    }
    dna_bpe::atomic::ensure_parent(&a.output)
        .and_then(|()| dna_bpe::atomic::write(&a.output, text.as_bytes()))
        .map_err(io_err(&a.output))?;
    eprintln!("{} sequences -> {}", records.len(), a.output.display());
    Ok(())
}

/// Pooling choices of `--pooling`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PoolingArg {
    /// Mean over all tokens, [CLS] and [SEP] included (upstream's recipe).
    Mean,
    /// Mean over the sequence's own tokens, without [CLS]/[SEP].
    MeanNoSpecial,
    /// The [CLS] vector.
    Cls,
    /// Element-wise max over all tokens.
    Max,
}

/// Strand choices of `--strand`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Strand {
    /// The sequence as given.
    Forward,
    /// Mean of the sequence's and its reverse complement's embeddings (strand-symmetric).
    Average,
    /// Both vectors, concatenated (forward first): 2 x hidden columns.
    Both,
}

/// Flags of `dnabert2 embed`.
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// Model directory or hub id.
    #[arg(long)]
    model: String,
    /// FASTA (.fa/.fasta/.fna, plain/.gz/.xz), CSV/TSV with `sequence` (and `id`), or one
    /// sequence per line; `-` for stdin.
    #[arg(long)]
    input: PathBuf,
    /// `.npy` (+ `.npy.ids.txt`), `.safetensors` (ids in the metadata), `.parquet` (id,
    /// length_bp, n_tokens, embedding) or `.tsv`.
    #[arg(long)]
    output: PathBuf,
    /// How token vectors become one vector.
    #[arg(long, value_enum, default_value_t = PoolingArg::Mean)]
    pooling: PoolingArg,
    /// Strand handling.
    #[arg(long, value_enum, default_value_t = Strand::Forward)]
    strand: Strand,
    /// Longest chunk in tokens ([CLS]/[SEP] included); longer sequences are chunked.
    #[arg(long, default_value_t = 512)]
    max_tokens: usize,
    /// Tokens shared by consecutive chunks (their vectors are averaged).
    #[arg(long, default_value_t = 64)]
    overlap: usize,
    /// Sequences (chunks) per forward batch.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Process shard K of N (`K/N`, 1-based): a contiguous, deterministic 1/N of the records,
    /// so the N outputs concatenate to the unsharded output. Default: from
    /// `SLURM_ARRAY_TASK_ID` / `SLURM_ARRAY_TASK_COUNT` when set, else everything.
    #[arg(long)]
    shard: Option<String>,
    /// One `[L, D]` block per sequence (the vector of the token covering each base) instead
    /// of one pooled vector; written as safetensors keyed by id (`.safetensors` output only).
    #[arg(long)]
    per_nucleotide: bool,
}

/// `(k, n)` (0-based k) of `--shard K/N` or the SLURM array variables.
fn shard_of(flag: Option<&str>) -> Result<Option<(usize, usize)>> {
    let parse = |k: &str, n: &str, what: &str| -> Result<(usize, usize)> {
        match (k.trim().parse::<usize>(), n.trim().parse::<usize>()) {
            (Ok(k), Ok(n)) if n >= 1 && (1..=n).contains(&k) => Ok((k - 1, n)),
            _ => Err(CliError::Usage(format!(
                "{what}: expected K/N with 1 <= K <= N"
            ))),
        }
    };
    if let Some(f) = flag {
        let (k, n) = f
            .split_once('/')
            .ok_or_else(|| CliError::Usage(format!("--shard {f}: expected K/N")))?;
        return parse(k, n, &format!("--shard {f}")).map(Some);
    }
    match (
        std::env::var("SLURM_ARRAY_TASK_ID"),
        std::env::var("SLURM_ARRAY_TASK_COUNT"),
    ) {
        // SLURM task ids are 0-based by convention (--array=0-(N-1)).
        (Ok(k), Ok(n)) => {
            let k1 = k
                .trim()
                .parse::<usize>()
                .map(|k| (k + 1).to_string())
                .unwrap_or(k);
            parse(&k1, &n, "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT").map(Some)
        }
        _ => Ok(None),
    }
}

/// Writes one embedding per input sequence, in input order.
pub fn embed(a: EmbedArgs) -> Result<()> {
    let format = output::Format::of(&a.output)?;
    let mut records = input::read(&a.input)?;
    if let Some((k, n)) = shard_of(a.shard.as_deref())? {
        let len = records.len();
        records = records.drain(len * k / n..len * (k + 1) / n).collect();
        log::info!("shard {}/{n}: {} of {len} records", k + 1, records.len());
    }
    if a.per_nucleotide {
        return per_nucleotide(&a, &records);
    }
    let p = pretrained::load::<B>(&a.model, &device())?;
    let opts = EmbedOptions {
        pooling: match a.pooling {
            PoolingArg::Mean => Pooling::Mean,
            PoolingArg::MeanNoSpecial => Pooling::MeanNoSpecial,
            PoolingArg::Cls => Pooling::Cls,
            PoolingArg::Max => Pooling::Max,
        },
        batch_size: a.batch_size,
        max_tokens: a.max_tokens,
        overlap: a.overlap,
    };
    let embedder = Embedder::new(p.encoder(), &p.tokenizer, opts, &device())?;
    let d = p.config.hidden_size;
    let cols = if a.strand == Strand::Both { 2 * d } else { d };
    let bar = dna_bpe::progress::Bar::new(
        records.len() as u64,
        "embed {bar:30} {pos}/{len} sequences [{elapsed_precise}<{eta_precise}]",
        true,
    );
    let mut rows = Vec::with_capacity(records.len() * cols);
    for chunk in records.chunks(1024) {
        let seqs: Vec<&str> = chunk.iter().map(|r| r.seq.as_str()).collect();
        let fwd = embedder
            .embed(&seqs)
            .map_err(|e| input_error(&a.input, chunk, e))?;
        let rev = match a.strand {
            Strand::Forward => None,
            _ => {
                let rc: Vec<String> = seqs.iter().map(|s| seq::reverse_complement(s)).collect();
                Some(
                    embedder
                        .embed(&rc)
                        .map_err(|e| input_error(&a.input, chunk, e))?,
                )
            }
        };
        for (i, f) in fwd.iter().enumerate() {
            match (&rev, a.strand) {
                (Some(r), Strand::Average) => {
                    rows.extend(f.iter().zip(&r[i]).map(|(x, y)| (x + y) / 2.0));
                }
                (Some(r), _) => {
                    rows.extend_from_slice(f);
                    rows.extend_from_slice(&r[i]);
                }
                (None, _) => rows.extend_from_slice(f),
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let info = output::RowInfo {
        length_bp: records.iter().map(|r| r.seq.len() as u32).collect(),
        n_tokens: records
            .iter()
            .map(|r| {
                p.tokenizer
                    .encode(&r.seq)
                    .map_or(0, |e| e.ids().len() as u32)
            })
            .collect(),
    };
    output::write_matrix(&a.output, &ids, &rows, cols, &info)?;
    eprintln!(
        "{} sequences -> {} ({} x {cols}, {:?})",
        records.len(),
        a.output.display(),
        ids.len(),
        format
    );
    Ok(())
}

/// `--per-nucleotide`: one `[L, D]` tensor per record in a safetensors file keyed by id.
fn per_nucleotide(a: &EmbedArgs, records: &[input::Record]) -> Result<()> {
    if output::Format::of(&a.output)? != output::Format::Safetensors {
        return Err(CliError::Usage(
            "--per-nucleotide writes one [L, D] block per sequence: use a .safetensors output"
                .into(),
        ));
    }
    if a.strand != Strand::Forward {
        return Err(CliError::Usage(
            "--per-nucleotide supports --strand forward only".into(),
        ));
    }
    let p = pretrained::load::<B>(&a.model, &device())?;
    let opts = EmbedOptions {
        batch_size: a.batch_size,
        max_tokens: a.max_tokens,
        overlap: a.overlap,
        ..Default::default()
    };
    let embedder = Embedder::new(p.encoder(), &p.tokenizer, opts, &device())?;
    let mut blocks = Vec::with_capacity(records.len());
    for r in records {
        let rows = embedder
            .per_nucleotide(&r.seq)
            .map_err(|e| input_error(&a.input, std::slice::from_ref(r), e))?;
        blocks.push((r.id.clone(), rows));
    }
    output::write_blocks(&a.output, &blocks)?;
    eprintln!(
        "{} sequences -> {} (per nucleotide)",
        records.len(),
        a.output.display()
    );
    Ok(())
}

/// A library error while embedding `chunk` of `path`, as an input error when it is one.
fn input_error(
    path: &std::path::Path,
    chunk: &[input::Record],
    e: dnabert2_model::ModelError,
) -> CliError {
    match e {
        dnabert2_model::ModelError::Tokenizer(m) | dnabert2_model::ModelError::InvalidInput(m) => {
            CliError::Input {
                path: path.to_path_buf(),
                line: None,
                message: format!(
                    "in records {}..{}: {m}",
                    chunk.first().map_or("", |r| r.id.as_str()),
                    chunk.last().map_or("", |r| r.id.as_str())
                ),
            }
        }
        other => CliError::Model(other),
    }
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
