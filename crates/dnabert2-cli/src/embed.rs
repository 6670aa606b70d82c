//! `dnabert2 embed`: one vector per sequence (or per base), streamed.
//!
//! Records are read in groups of `--sort-window` sequences, or fewer when their token
//! vectors would pass [`GROUP_BYTES`]; the library length-sorts each group into
//! token-budgeted batches and the group's vectors are written in input order before the next
//! group is read, so memory is bounded by the group, not the input.

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;

use dnabert2_model::embed::{EmbedOptions, Embedder, Layer, Pooling, TokenEmbeddings};
use dnabert2_model::precision::{Precision, cast_module};
use dnabert2_model::pretrained;

use crate::commands::{B, device};
use crate::error::{CliError, Result};
use crate::input::{self, Record, Records};
use crate::output::{self, Row, Sink};

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
pub enum Strand {
    /// The sequence as given.
    Forward,
    /// Mean of the sequence's and its reverse complement's vectors (strand-symmetric: a
    /// sequence and its reverse complement get bit-identical vectors).
    Average,
    /// Both vectors, concatenated (forward first): 2 x hidden columns.
    Both,
}

/// Flags of `dnabert2 embed`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  dnabert2 embed --model DIR --input seqs.fa --output emb.npy
  dnabert2 embed --model DIR --input seqs.csv --output emb.parquet --pooling cls --strand average
  dnabert2 embed --model DIR --input genome.fa.gz --windows 1000 --stride 500 --output win.parquet
  sbatch --array=0-99 --wrap 'dnabert2 embed --model DIR --input genome.fa.gz --windows 1000 \\
      --stride 1000 --output win.$SLURM_ARRAY_TASK_ID.npy'   # 100 shards, concatenated in order")]
pub struct EmbedArgs {
    /// Model directory or hub id.
    #[arg(long)]
    model: String,
    /// FASTA/FASTQ (plain, .gz, .xz, .zst, .bz2), CSV/TSV with `sequence` (and `id`), or
    /// one sequence per line; `-` for stdin.
    #[arg(long)]
    input: PathBuf,
    /// `.npy` (+ `.npy.ids.txt`), `.safetensors` (ids in the metadata), `.parquet` (id,
    /// length_bp, n_tokens, embedding) or `.tsv`.
    #[arg(long)]
    output: PathBuf,
    /// How token vectors become one vector.
    #[arg(long, value_enum, default_value_t = PoolingArg::Mean)]
    pooling: PoolingArg,
    /// Hidden states: `-1` (last), an index of HF's `hidden_states` (0 = embedding output,
    /// k = layer k; negative from the end), or `all` (every one, concatenated).
    #[arg(long, default_value = "-1", allow_hyphen_values = true)]
    layer: String,
    /// Strand handling.
    #[arg(long, value_enum, default_value_t = Strand::Forward)]
    strand: Strand,
    /// One `[L, D]` block per sequence (the vector of the token covering each base) instead
    /// of one pooled vector: safetensors keyed by id, or parquet/TSV rows of (id, position,
    /// vector).
    #[arg(long)]
    per_nucleotide: bool,
    /// Longest chunk in tokens ([CLS]/[SEP] included); longer sequences are chunked.
    #[arg(long, default_value_t = 512)]
    max_tokens: usize,
    /// Tokens shared by consecutive chunks (their vectors are averaged).
    #[arg(long, default_value_t = 64)]
    overlap: usize,
    /// Most padded tokens per forward batch (rows x longest row).
    #[arg(long, default_value_t = 4096)]
    batch_tokens: usize,
    /// Most sequences (chunks) per forward batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Sequences read, length-sorted and embedded together before being written in input
    /// order (bounds memory on inputs of any size; groups are also capped at about 96 MB of
    /// token vectors).
    #[arg(long, default_value_t = 1024)]
    sort_window: usize,
    /// Parameter and activation precision.
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Process shard K of N (`K/N`, 1-based): a contiguous, deterministic 1/N of the records,
    /// so the N outputs concatenate to the unsharded output. Default: from
    /// `SLURM_ARRAY_TASK_ID` / `SLURM_ARRAY_TASK_COUNT` when set, else everything.
    #[arg(long)]
    shard: Option<String>,
    /// Embed sliding windows of W bases over each FASTA contig instead of whole records
    /// (ids `chrom:start-end`, 0-based end-exclusive; all-N windows are skipped).
    #[arg(long, value_name = "W")]
    windows: Option<usize>,
    /// Step between window starts (default: W, i.e. tiling).
    #[arg(long, value_name = "S", requires = "windows")]
    stride: Option<usize>,
}

/// Token vectors (and per-base rows) a group may hold, whatever `--sort-window` says: the
/// library keeps every token vector of the group until it is pooled. A single longer record
/// is still embedded alone.
const GROUP_BYTES: usize = 96 << 20;

/// Estimated bytes a record's vectors take while its group is embedded: its tokens (about
/// 4.5 bases each with DNABERT-2's BPE, rounded up to 1 per 4) times the vector width, both
/// strands when asked, plus the per-base rows of `--per-nucleotide`.
fn group_cost(len: usize, dim: usize, cols: usize, strands: usize, per_base: bool) -> usize {
    let tokens = len / 4 + 2;
    4 * (tokens * dim * strands + if per_base { len * cols } else { 0 })
}

/// `(k, n)` (0-based k) of `--shard K/N` or the SLURM array variables.
pub fn shard_of(flag: Option<&str>) -> Result<Option<(usize, usize)>> {
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

impl EmbedArgs {
    /// The input records (windows when asked), `skipped` counting all-N windows.
    fn records(&self, skipped: &Rc<Cell<u64>>) -> Result<Records> {
        let records = input::open(&self.input)?;
        Ok(match self.windows {
            Some(w) => {
                let s = self.stride.unwrap_or(w);
                if w == 0 || s == 0 {
                    return Err(CliError::Usage(
                        "--windows and --stride must be >= 1".into(),
                    ));
                }
                input::windows(records, w, s, skipped.clone())
            }
            None => records,
        })
    }
}

// Long by design: flag checks, model set-up, the shard range, then the one read-embed-write
// loop; splitting it would scatter the order and memory invariants.
/// Writes one embedding per input sequence (or per base), in input order.
pub fn embed(a: EmbedArgs) -> Result<()> {
    let layer: Layer = a.layer.parse().map_err(CliError::Usage)?;
    output::Format::of(&a.output)?;
    let skipped = Rc::new(Cell::new(0));
    // A first pass counts the records: the shard bounds need it, and the bar shows an ETA.
    let total = if a.input.as_os_str() == "-" {
        None
    } else {
        Some(
            a.records(&Rc::new(Cell::new(0)))?
                .try_fold(0usize, |n, r| r.map(|_| n + 1))?,
        )
    };
    let (lo, hi) = match (shard_of(a.shard.as_deref())?, total) {
        (None, _) => (0, usize::MAX),
        (Some(_), None) => {
            return Err(CliError::Usage(
                "--shard needs a file input (stdin cannot be read twice)".into(),
            ));
        }
        (Some((k, n)), Some(len)) => {
            log::info!(
                "shard {}/{n}: records {}..{} of {len}",
                k + 1,
                len * k / n,
                len * (k + 1) / n
            );
            (len * k / n, len * (k + 1) / n)
        }
    };
    if total == Some(0) {
        return Err(CliError::Input {
            path: a.input.clone(),
            line: None,
            message: "no sequences".into(),
        });
    }
    let mut records = a.records(&skipped)?.skip(lo).take(hi - lo).peekable();

    let p = pretrained::load::<B>(&a.model, &device())?;
    let encoder = cast_module(p.encoder().clone(), a.precision);
    let opts = EmbedOptions {
        pooling: match a.pooling {
            PoolingArg::Mean => Pooling::Mean,
            PoolingArg::MeanNoSpecial => Pooling::MeanNoSpecial,
            PoolingArg::Cls => Pooling::Cls,
            PoolingArg::Max => Pooling::Max,
        },
        layer,
        batch_size: a.batch_size,
        batch_tokens: a.batch_tokens,
        max_tokens: a.max_tokens,
        overlap: a.overlap,
    };
    let embedder = Embedder::new(&encoder, &p.tokenizer, opts, &device())?;
    let d = embedder.dim();
    let cols = if a.strand == Strand::Both { 2 * d } else { d };
    let mut sink = Sink::create(&a.output, cols, a.per_nucleotide, a.windows.is_some())?;
    eprintln!(
        "embed: {} ({}), layer {}, pooling {:?}, strand {:?}, {:?}, {} columns{}",
        p.dir.display(),
        p.heads(),
        a.layer,
        opts.pooling,
        a.strand,
        a.precision,
        cols,
        if a.per_nucleotide { " per base" } else { "" }
    );
    let bar = dna_bpe::progress::Bar::new(
        total.map_or(0, |t| (t.min(hi) - lo) as u64),
        "embed {bar:30} {pos}/{len} sequences [{elapsed_precise}<{eta_precise}]",
        true,
    );
    let mut written = 0u64;
    while records.peek().is_some() {
        let mut group: Vec<Record> = Vec::new();
        let mut bytes = 0;
        let strands = if a.strand == Strand::Forward { 1 } else { 2 };
        while group.len() < a.sort_window.max(1) && bytes < GROUP_BYTES {
            match records.next() {
                Some(r) => {
                    let r = r?;
                    bytes += group_cost(r.seq.len(), d, cols, strands, a.per_nucleotide);
                    group.push(r);
                }
                None => break,
            }
        }
        let tokens = token_vectors(&embedder, &group, a.strand, &a.input)?;
        if a.per_nucleotide {
            for (i, r) in group.iter().enumerate() {
                let block = strand_combine(a.strand, d, &tokens, i, group.len(), |t| {
                    dnabert2_model::embed::per_base(t, r.seq.len())
                });
                sink.push_block(r, &block)?;
            }
        } else {
            let vectors: Vec<Vec<f32>> = (0..group.len())
                .map(|i| {
                    strand_combine(a.strand, d, &tokens, i, group.len(), |t| {
                        dnabert2_model::embed::pool_rows(t, opts.pooling)
                    })
                })
                .collect();
            let rows: Vec<Row<'_>> = group
                .iter()
                .zip(&vectors)
                .enumerate()
                .map(|(i, (rec, v))| Row {
                    rec,
                    n_tokens: tokens[i].ids.len() as u32,
                    vector: v,
                })
                .collect();
            sink.push(&rows)?;
        }
        written += group.len() as u64;
        bar.inc(group.len() as u64);
    }
    bar.finish_and_clear();
    if written == 0 {
        return Err(CliError::Usage(format!(
            "{}: no sequences to embed (empty shard or input)",
            a.input.display()
        )));
    }
    sink.finish()?;
    let gaps = skipped.get();
    eprintln!(
        "{written} sequences -> {} ({cols} columns){}",
        a.output.display(),
        if gaps > 0 {
            format!("; {gaps} all-N windows skipped")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Token vectors of the group's sequences, then (for `average`/`both`) of their reverse
/// complements, in one library call so both strands share batches.
fn token_vectors(
    embedder: &Embedder<'_, B, burn::nn::Linear<B>>,
    group: &[Record],
    strand: Strand,
    path: &std::path::Path,
) -> Result<Vec<TokenEmbeddings>> {
    let mut seqs: Vec<String> = group.iter().map(|r| r.seq.clone()).collect();
    if strand != Strand::Forward {
        seqs.extend(
            group
                .iter()
                .map(|r| dna_bpe::seq::reverse_complement(&r.seq)),
        );
    }
    embedder
        .token_embeddings(&seqs)
        .map_err(|e| input_error(path, group, e))
}

/// The output of sequence `i` from its forward (`tokens[i]`) and reverse-complement
/// (`tokens[n + i]`) token vectors: `f` maps token vectors to rows of `d` values (one
/// pooled row, or one row per base, which for the reverse strand are flipped back to the
/// forward strand's positions).
fn strand_combine(
    strand: Strand,
    d: usize,
    tokens: &[TokenEmbeddings],
    i: usize,
    n: usize,
    f: impl Fn(&TokenEmbeddings) -> Vec<f32>,
) -> Vec<f32> {
    let fwd = f(&tokens[i]);
    if strand == Strand::Forward {
        return fwd;
    }
    // Rows of the reverse strand in forward order: base j of the reverse complement is base
    // L-1-j of the forward strand (a pooled vector is one row, unchanged).
    let rev: Vec<f32> = f(&tokens[n + i])
        .chunks(d.max(1))
        .rev()
        .flatten()
        .copied()
        .collect();
    match strand {
        Strand::Average => fwd.iter().zip(&rev).map(|(x, y)| (x + y) / 2.0).collect(),
        _ => fwd
            .chunks(d)
            .zip(rev.chunks(d))
            .flat_map(|(x, y)| x.iter().chain(y).copied())
            .collect(),
    }
}

/// A library error while embedding `group` of `path`, as an input error when it is one.
fn input_error(
    path: &std::path::Path,
    group: &[Record],
    e: dnabert2_model::ModelError,
) -> CliError {
    match e {
        dnabert2_model::ModelError::Tokenizer(m) | dnabert2_model::ModelError::InvalidInput(m) => {
            CliError::Input {
                path: path.to_path_buf(),
                line: None,
                message: format!(
                    "in records {}..{}: {m}",
                    group.first().map_or("", |r| r.id.as_str()),
                    group.last().map_or("", |r| r.id.as_str())
                ),
            }
        }
        other => CliError::Model(other),
    }
}
