//! `dnabert2 score-variants`: zero-shot variant effects from a VCF and a reference genome.
//!
//! For each VCF record and each ALT (SNVs and short indels), the reference window of
//! `--window` bases centred on the variant and the same window with REF replaced by ALT are
//! scored with the library ([`dnabert2_model::score`]): the masked-LM log-likelihood ratio
//! over the bases that differ (each window tokenised on its own), and the cosine and L2
//! distance between the two windows' mean-pooled embeddings. `--strand average` averages
//! each score with the one of the reverse-complemented windows, so a variant and its
//! reverse-complemented context score the same.
//!
//! Which scores a model gives: the LLR needs the MLM head (`NA` otherwise); a fine-tuned
//! classifier adds `delta_prob_K` (ALT minus REF window probability of class K; regression:
//! `delta_prediction`); every model gives the embedding distances.
//!
//! Genome access: an uncompressed FASTA with a `samtools faidx` index (`genome.fa.fai`) is
//! read a window at a time; otherwise the FASTA (plain or compressed) is streamed once,
//! holding one contig at a time, and the rows are written in VCF order at the end. Variants
//! are scored in batches of 32 (masked-LM head only at the masked tokens).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use dnabert2_model::embed::{EmbedOptions, Embedder, Pooling};
use dnabert2_model::score;

use crate::commands::device;
use crate::error::{CliError, Result, io_err};
use crate::models::{self, Heads};
use dna_bpe::seq::reverse_complement;

/// Flags of `dnabert2 score-variants`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// A model with the MLM head (e.g. the released DNABERT-2-117M), directory or hub id.
    #[arg(long)]
    model: String,
    /// Reference genome FASTA (plain, .gz, .xz, .zst, .bz2); contig names must match the
    /// VCF's CHROM. With `REF.fai` beside an uncompressed file, only the windows are read.
    #[arg(long)]
    reference: PathBuf,
    /// Variants (VCF, plain or compressed); one output row per (record, ALT), in VCF order.
    #[arg(long)]
    vcf: PathBuf,
    /// TSV with a header: chrom, pos, ref, alt, llr, cosine_distance, l2_distance (and
    /// delta_prob_K for a classifier).
    #[arg(long)]
    output: PathBuf,
    /// Window length in bases, centred on the variant.
    #[arg(long, default_value_t = 1024)]
    window: usize,
    /// `average`: mean of the forward and reverse-complement scores.
    #[arg(long, value_enum, default_value_t = StrandMode::Forward)]
    strand: StrandMode,
    /// Skip (and count) records whose REF does not match the genome instead of failing.
    #[arg(long)]
    skip_mismatch: bool,
}

/// `--strand` of `score-variants`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StrandMode {
    /// The genome's forward strand.
    Forward,
    /// Mean of forward and reverse-complement scores.
    Average,
}

/// One (record, ALT) to score.
struct Variant {
    line: usize,
    chrom: String,
    pos: usize,
    reference: String,
    alt: String,
}

fn vcf_err(path: &Path, line: usize, message: impl Into<String>) -> CliError {
    CliError::Input {
        path: path.to_path_buf(),
        line: Some(line),
        message: message.into(),
    }
}

fn is_bases(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b"ACGTNacgtn".contains(&b))
}

/// The VCF's (record, ALT) pairs; symbolic or breakend ALTs are skipped and counted.
fn read_vcf(path: &Path) -> Result<(Vec<Variant>, usize)> {
    let reader = dna_bpe::fasta::open(path).map_err(|e| vcf_err(path, 0, e.to_string()))?;
    let (mut out, mut symbolic) = (Vec::new(), 0);
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(io_err(path))?;
        let n = i + 1;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 5 {
            return Err(vcf_err(
                path,
                n,
                format!(
                    "{} tab-separated fields, need at least 5 (CHROM POS ID REF ALT)",
                    f.len()
                ),
            ));
        }
        let pos: usize =
            f[1].parse().ok().filter(|&p| p >= 1).ok_or_else(|| {
                vcf_err(path, n, format!("POS `{}` is not a 1-based position", f[1]))
            })?;
        if !is_bases(f[3]) {
            return Err(vcf_err(
                path,
                n,
                format!("REF `{}` is not a base sequence", f[3]),
            ));
        }
        for alt in f[4].split(',') {
            if !is_bases(alt) {
                symbolic += 1; // <DEL>, *, ., breakends: not scorable as sequence
                continue;
            }
            out.push(Variant {
                line: n,
                chrom: f[0].to_string(),
                pos,
                reference: f[3].to_string(),
                alt: alt.to_string(),
            });
        }
    }
    Ok((out, symbolic))
}

/// A variant's window: `[start, end)` of the contig, `--window` bases (or the REF when
/// longer) centred on the variant and shifted inside the contig near its ends.
fn window_span(contig_len: usize, v: &Variant, w: usize) -> (usize, usize) {
    let (p0, r) = (v.pos - 1, v.reference.len());
    let start = p0.saturating_sub(w.saturating_sub(r) / 2);
    let end = (start + w.max(r)).min(contig_len);
    (end.saturating_sub(w.max(r)).min(p0), end)
}

/// The reference and alternative windows with the variant's span in each.
struct Windows {
    reference: String,
    ref_span: std::ops::Range<usize>,
    alt: String,
    alt_span: std::ops::Range<usize>,
}

/// The windows of `v` from the contig's bases `[start, ..)` in `text`.
fn windows(text: &[u8], start: usize, v: &Variant) -> Windows {
    let text = String::from_utf8_lossy(text).to_ascii_uppercase();
    let (off, r) = (v.pos - 1 - start, v.reference.len());
    let alt_text = format!(
        "{}{}{}",
        &text[..off],
        v.alt.to_ascii_uppercase(),
        &text[off + r..]
    );
    Windows {
        ref_span: off..off + r,
        alt_span: off..off + v.alt.len(),
        reference: text,
        alt: alt_text,
    }
}

/// The windows of the reverse-complemented context.
fn reversed(w: &Windows) -> Windows {
    let flip = |len: usize, s: &std::ops::Range<usize>| len - s.end..len - s.start;
    Windows {
        ref_span: flip(w.reference.len(), &w.ref_span),
        alt_span: flip(w.alt.len(), &w.alt_span),
        reference: reverse_complement(&w.reference),
        alt: reverse_complement(&w.alt),
    }
}

/// Why a variant gets no row.
enum Skip {
    Mismatch,
    MostlyN,
}

/// Checks `v` against its contig window and builds its windows.
fn prepare(
    a: &ScoreArgs,
    v: &Variant,
    text: &[u8],
    start: usize,
) -> Result<std::result::Result<Windows, Skip>> {
    let off = v.pos - 1 - start;
    let genome_ref =
        String::from_utf8_lossy(&text[off..off + v.reference.len()]).to_ascii_uppercase();
    if genome_ref != v.reference.to_ascii_uppercase() {
        if a.skip_mismatch {
            return Ok(Err(Skip::Mismatch));
        }
        return Err(vcf_err(
            &a.vcf,
            v.line,
            format!(
                "REF `{}` does not match the genome's `{genome_ref}` at {}:{} (--skip-mismatch skips such records)",
                v.reference, v.chrom, v.pos
            ),
        ));
    }
    let n = text.iter().filter(|&&b| b == b'N' || b == b'n').count();
    if 2 * n > text.len() {
        return Ok(Err(Skip::MostlyN));
    }
    Ok(Ok(windows(text, start, v)))
}

/// A position past the contig's end, as the VCF line's error.
fn past_end(a: &ScoreArgs, v: &Variant, len: usize) -> CliError {
    vcf_err(
        &a.vcf,
        v.line,
        format!(
            "{}:{} is past the end of the contig ({len} bases)",
            v.chrom, v.pos
        ),
    )
}

/// What one pair of windows scores on one strand.
struct Scores {
    /// LLR (NaN without the MLM head).
    llr: f64,
    /// Mean-pooled embedding of the reference window.
    reference: Vec<f32>,
    /// Mean-pooled embedding of the alternative window.
    alt: Vec<f32>,
    /// Classifier output changes (empty without a classifier).
    deltas: Vec<f64>,
}

/// The model and what it scores.
struct Scorer {
    loaded: models::Loaded,
    embed_opts: EmbedOptions,
}

/// Variants scored per batch of forward passes.
const CHUNK: usize = 32;

impl Scorer {
    /// Extra TSV columns: classifier deltas.
    fn header(&self) -> String {
        let mut h = String::from("chrom\tpos\tref\talt\tllr\tcosine_distance\tl2_distance");
        if let Heads::Classifier(p) = &self.loaded.heads {
            if p.problem == dnabert2_train::finetune::Problem::Regression {
                h.push_str("\tdelta_prediction");
            } else {
                for k in 0..p.num_labels {
                    h.push_str(&format!("\tdelta_prob_{k}"));
                }
            }
        }
        h
    }

    /// The scores of each pair of windows on one strand.
    fn strand_scores(&self, ws: &[&Windows]) -> Result<Vec<Scores>> {
        let llrs = match &self.loaded.heads {
            Heads::Mlm(m) => {
                let pairs: Vec<_> = ws
                    .iter()
                    .map(|w| {
                        (
                            (w.reference.as_str(), w.ref_span.clone()),
                            (w.alt.as_str(), w.alt_span.clone()),
                        )
                    })
                    .collect();
                score::llrs(m, &self.loaded.tokenizer, &pairs, CHUNK, &device())?
            }
            _ => vec![f64::NAN; ws.len()],
        };
        let texts: Vec<&str> = ws
            .iter()
            .flat_map(|w| [w.reference.as_str(), w.alt.as_str()])
            .collect();
        let embedder = Embedder::new(
            self.loaded.encoder(),
            &self.loaded.tokenizer,
            self.embed_opts,
            &device(),
        )?;
        let emb = embedder.embed(&texts)?;
        let deltas: Vec<Vec<f64>> = match &self.loaded.heads {
            Heads::Classifier(p) => {
                let owned: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
                let s = p.scores(&owned, None)?;
                s.chunks(2)
                    .map(|c| {
                        c[1].iter()
                            .zip(&c[0])
                            .map(|(a, r)| (a - r) as f64)
                            .collect()
                    })
                    .collect()
            }
            _ => vec![Vec::new(); ws.len()],
        };
        Ok(llrs
            .into_iter()
            .zip(emb.chunks(2))
            .zip(deltas)
            .map(|((llr, e), deltas)| Scores {
                llr,
                reference: e[0].clone(),
                alt: e[1].clone(),
                deltas,
            })
            .collect())
    }

    /// One TSV row per prepared variant (strand-averaged when asked).
    fn rows(&self, batch: &[(&Variant, Windows)], strand: StrandMode) -> Result<Vec<String>> {
        let fwd: Vec<&Windows> = batch.iter().map(|(_, w)| w).collect();
        let mut scores = self.strand_scores(&fwd)?;
        if strand == StrandMode::Average {
            let rev: Vec<Windows> = fwd.iter().map(|w| reversed(w)).collect();
            let rev_refs: Vec<&Windows> = rev.iter().collect();
            let back = self.strand_scores(&rev_refs)?;
            let mean32 = |a: &[f32], b: &[f32]| -> Vec<f32> {
                a.iter().zip(b).map(|(x, y)| (x + y) / 2.0).collect()
            };
            for (s, b) in scores.iter_mut().zip(back) {
                s.llr = (s.llr + b.llr) / 2.0;
                s.reference = mean32(&s.reference, &b.reference);
                s.alt = mean32(&s.alt, &b.alt);
                s.deltas = s
                    .deltas
                    .iter()
                    .zip(&b.deltas)
                    .map(|(x, y)| (x + y) / 2.0)
                    .collect();
            }
        }
        Ok(batch
            .iter()
            .zip(scores)
            .map(
                |(
                    (v, _),
                    Scores {
                        llr,
                        reference,
                        alt,
                        deltas,
                    },
                )| {
                    let (cos, l2) = score::distances(&reference, &alt);
                    let llr = if llr.is_nan() {
                        "NA".to_string()
                    } else {
                        format!("{llr:.6}")
                    };
                    let mut row = format!(
                        "{}\t{}\t{}\t{}\t{llr}\t{cos:.6e}\t{l2:.6}",
                        v.chrom, v.pos, v.reference, v.alt
                    );
                    for d in deltas {
                        row.push_str(&format!("\t{d:.6}"));
                    }
                    row
                },
            )
            .collect())
    }
}

/// Counts of what was skipped.
#[derive(Default)]
struct Skipped {
    mismatched: usize,
    mostly_n: usize,
}

/// Scores the prepared variants of `pending` into `rows` and empties it.
fn flush(
    scorer: &Scorer,
    a: &ScoreArgs,
    pending: &mut Vec<(usize, Windows)>,
    variants: &[Variant],
    rows: &mut [Option<String>],
    bar: &dna_bpe::progress::Bar,
) -> Result<()> {
    let (idx, ws): (Vec<usize>, Vec<Windows>) = pending.drain(..).unzip();
    let batch: Vec<(&Variant, Windows)> = idx.iter().map(|&i| &variants[i]).zip(ws).collect();
    for (i, row) in idx.into_iter().zip(scorer.rows(&batch, a.strand)?) {
        rows[i] = Some(row);
    }
    bar.inc(batch.len() as u64);
    Ok(())
}

// Long by design: the two genome access paths (indexed windows in VCF order; a streamed
// FASTA contig by contig) share the preparation, batching and ordered output written here.
/// Scores every (record, ALT) of the VCF and writes the TSV.
pub fn score_variants(a: ScoreArgs) -> Result<()> {
    let (variants, symbolic) = read_vcf(&a.vcf)?;
    let loaded = models::load(&a.model)?;
    let scorer = Scorer {
        loaded,
        embed_opts: EmbedOptions {
            pooling: Pooling::Mean,
            batch_size: 2 * CHUNK,
            ..Default::default()
        },
    };
    eprintln!(
        "score-variants: {} variants, window {} bp, strand {:?}, scores: llr{}, embedding distances{}",
        variants.len(),
        a.window,
        a.strand,
        if matches!(scorer.loaded.heads, Heads::Mlm(_)) {
            ""
        } else {
            " NA (no MLM head)"
        },
        if matches!(scorer.loaded.heads, Heads::Classifier(_)) {
            ", classifier deltas"
        } else {
            ""
        },
    );
    let bar = dna_bpe::progress::Bar::new(
        variants.len() as u64,
        "score {bar:30} {pos}/{len} variants [{elapsed_precise}<{eta_precise}]",
        true,
    );
    let mut rows: Vec<Option<String>> = vec![None; variants.len()];
    let mut skipped = Skipped::default();
    let mut pending: Vec<(usize, Windows)> = Vec::new();
    let mut take = |i: usize,
                    r: std::result::Result<Windows, Skip>,
                    pending: &mut Vec<(usize, Windows)>| match r {
        Ok(w) => pending.push((i, w)),
        Err(Skip::Mismatch) => skipped.mismatched += 1,
        Err(Skip::MostlyN) => skipped.mostly_n += 1,
    };
    let missing = |v: &Variant| {
        vcf_err(
            &a.vcf,
            v.line,
            format!("contig `{}` is not in {}", v.chrom, a.reference.display()),
        )
    };
    let indexed =
        dna_bpe::faidx::IndexedFasta::open(&a.reference).map_err(|e| CliError::Input {
            path: a.reference.clone(),
            line: None,
            message: e.to_string(),
        })?;
    if let Some(mut g) = indexed {
        log::info!(
            "{}: reading windows through its .fai index",
            a.reference.display()
        );
        for (i, v) in variants.iter().enumerate() {
            let len = g.len(&v.chrom).ok_or_else(|| missing(v))? as usize;
            if v.pos - 1 + v.reference.len() > len {
                return Err(past_end(&a, v, len));
            }
            let (s, e) = window_span(len, v, a.window);
            let text = g
                .fetch(&v.chrom, s as u64, e as u64)
                .map_err(|e| CliError::Input {
                    path: a.reference.clone(),
                    line: None,
                    message: e.to_string(),
                })?;
            take(i, prepare(&a, v, &text, s)?, &mut pending);
            if pending.len() >= CHUNK {
                flush(&scorer, &a, &mut pending, &variants, &mut rows, &bar)?;
            }
        }
    } else {
        // No index: stream the FASTA once, holding one contig at a time.
        let mut by_chrom: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, v) in variants.iter().enumerate() {
            by_chrom.entry(v.chrom.as_str()).or_default().push(i);
        }
        let reader =
            dna_bpe::fasta::Reader::from_path(&a.reference).map_err(|e| CliError::Input {
                path: a.reference.clone(),
                line: None,
                message: e.to_string(),
            })?;
        for rec in reader {
            let rec = rec.map_err(|e| CliError::Input {
                path: a.reference.clone(),
                line: None,
                message: e.to_string(),
            })?;
            let Some(idx) = by_chrom.remove(rec.id.as_str()) else {
                continue;
            };
            for i in idx {
                let v = &variants[i];
                if v.pos - 1 + v.reference.len() > rec.seq.len() {
                    return Err(past_end(&a, v, rec.seq.len()));
                }
                let (s, e) = window_span(rec.seq.len(), v, a.window);
                take(i, prepare(&a, v, &rec.seq[s..e], s)?, &mut pending);
                if pending.len() >= CHUNK {
                    flush(&scorer, &a, &mut pending, &variants, &mut rows, &bar)?;
                }
            }
            if by_chrom.is_empty() {
                break;
            }
        }
        if let Some(first) = by_chrom.values().filter_map(|idx| idx.first()).min() {
            return Err(missing(&variants[*first]));
        }
    }
    flush(&scorer, &a, &mut pending, &variants, &mut rows, &bar)?;
    bar.finish_and_clear();
    let mut text = scorer.header();
    text.push('\n');
    let mut written = 0;
    for row in rows.into_iter().flatten() {
        text.push_str(&row);
        text.push('\n');
        written += 1;
    }
    dna_bpe::atomic::ensure_parent(&a.output)
        .and_then(|()| dna_bpe::atomic::write(&a.output, text.as_bytes()))
        .map_err(io_err(&a.output))?;
    eprintln!(
        "{written} variants scored -> {}; skipped: {} REF mismatches, {symbolic} symbolic ALTs, {} windows mostly N",
        a.output.display(),
        skipped.mismatched,
        skipped.mostly_n
    );
    Ok(())
}
