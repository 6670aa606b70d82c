//! `dnabert2 score-variants`: zero-shot variant effects from a VCF and a reference genome.
//!
//! For each VCF record and each ALT (SNVs and short indels), the reference window of
//! `--window` bases centred on the variant and the same window with REF replaced by ALT are
//! scored with the library ([`dnabert2_model::score`]): the masked-LM log-likelihood ratio
//! over the bases that differ (each window tokenised on its own), and the cosine and L2
//! distance between the two windows' mean-pooled embeddings. `--strand average` averages
//! each score with the one of the reverse-complemented windows, so a variant and its
//! reverse-complemented context score the same.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use dnabert2_model::embed::{EmbedOptions, Embedder, Pooling};
use dnabert2_model::{BertForMaskedLM, pretrained, score};

use crate::commands::{B, device};
use crate::error::{CliError, Result, io_err};
use dna_bpe::seq::reverse_complement;

/// Flags of `dnabert2 score-variants`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// A model with the MLM head (e.g. the released DNABERT-2-117M), directory or hub id.
    #[arg(long)]
    model: String,
    /// Reference genome FASTA (plain, .gz, .xz); contig names must match the VCF's CHROM.
    #[arg(long)]
    reference: PathBuf,
    /// Variants (VCF, plain or compressed); one output row per (record, ALT), in VCF order.
    #[arg(long)]
    vcf: PathBuf,
    /// TSV with a header: chrom, pos, ref, alt, llr, cosine_distance, l2_distance.
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

/// Every contig of the reference, by id.
fn read_genome(path: &Path) -> Result<HashMap<String, Vec<u8>>> {
    let reader = dna_bpe::fasta::Reader::from_path(path).map_err(|e| CliError::Input {
        path: path.to_path_buf(),
        line: None,
        message: e.to_string(),
    })?;
    let mut out = HashMap::new();
    for (i, rec) in reader.enumerate() {
        let rec = rec.map_err(|e| CliError::Input {
            path: path.to_path_buf(),
            line: Some(i + 1),
            message: e.to_string(),
        })?;
        out.insert(rec.id, rec.seq);
    }
    Ok(out)
}

/// The reference and alternative windows with the variant's span in each.
struct Windows {
    reference: String,
    ref_span: std::ops::Range<usize>,
    alt: String,
    alt_span: std::ops::Range<usize>,
}

fn windows(contig: &[u8], v: &Variant, w: usize) -> Windows {
    let (p0, r) = (v.pos - 1, v.reference.len());
    let start = p0.saturating_sub(w.saturating_sub(r) / 2);
    let end = (start + w.max(r)).min(contig.len());
    let start = end.saturating_sub(w.max(r)).min(p0);
    let text = String::from_utf8_lossy(&contig[start..end]).to_ascii_uppercase();
    let off = p0 - start;
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

/// `(llr, cosine distance, l2 distance)` of one pair of windows.
fn score_windows(
    mlm: &BertForMaskedLM<B>,
    embedder: &Embedder<'_, B, burn::nn::Linear<B>>,
    tok: &dna_bpe::Tokenizer,
    w: &Windows,
) -> Result<(f64, Vec<f32>, Vec<f32>)> {
    let llr = score::llr(
        mlm,
        tok,
        (&w.reference, w.ref_span.clone()),
        (&w.alt, w.alt_span.clone()),
        &device(),
    )?;
    let mut e = embedder.embed(&[w.reference.as_str(), w.alt.as_str()])?;
    let alt = e.pop().unwrap_or_default();
    let reference = e.pop().unwrap_or_default();
    Ok((llr, reference, alt))
}

/// Scores every (record, ALT) of the VCF and writes the TSV.
pub fn score_variants(a: ScoreArgs) -> Result<()> {
    let (mlm, tokenizer, _) = pretrained::load_masked_lm::<B>(&a.model, &device())?;
    let mlm = &mlm;
    let genome = read_genome(&a.reference)?;
    let (variants, symbolic) = read_vcf(&a.vcf)?;
    let opts = EmbedOptions {
        pooling: Pooling::Mean,
        ..Default::default()
    };
    let embedder = Embedder::new(&mlm.bert, &tokenizer, opts, &device())?;
    let bar = dna_bpe::progress::Bar::new(
        variants.len() as u64,
        "score {bar:30} {pos}/{len} variants [{elapsed_precise}<{eta_precise}]",
        true,
    );
    let mut text = String::from("chrom\tpos\tref\talt\tllr\tcosine_distance\tl2_distance\n");
    let (mut mismatched, mut skipped_n, mut written) = (0usize, 0usize, 0usize);
    for v in &variants {
        bar.inc(1);
        let contig = genome.get(&v.chrom).ok_or_else(|| {
            vcf_err(
                &a.vcf,
                v.line,
                format!("contig `{}` is not in {}", v.chrom, a.reference.display()),
            )
        })?;
        let (p0, r) = (v.pos - 1, v.reference.len());
        if p0 + r > contig.len() {
            return Err(vcf_err(
                &a.vcf,
                v.line,
                format!(
                    "{}:{} is past the end of the contig ({} bases)",
                    v.chrom,
                    v.pos,
                    contig.len()
                ),
            ));
        }
        let genome_ref = String::from_utf8_lossy(&contig[p0..p0 + r]).to_ascii_uppercase();
        if genome_ref != v.reference.to_ascii_uppercase() {
            if a.skip_mismatch {
                mismatched += 1;
                continue;
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
        let w = windows(contig, v, a.window);
        let n_frac =
            w.reference.bytes().filter(|&b| b == b'N').count() as f64 / w.reference.len() as f64;
        if n_frac > 0.5 {
            skipped_n += 1;
            continue;
        }
        let (mut llr, mut er, mut ea) = score_windows(mlm, &embedder, &tokenizer, &w)?;
        if a.strand == StrandMode::Average {
            let (l2, r2, a2) = score_windows(mlm, &embedder, &tokenizer, &reversed(&w))?;
            llr = (llr + l2) / 2.0;
            er = er.iter().zip(&r2).map(|(x, y)| (x + y) / 2.0).collect();
            ea = ea.iter().zip(&a2).map(|(x, y)| (x + y) / 2.0).collect();
        }
        let (cos, l2) = score::distances(&er, &ea);
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{llr:.6}\t{cos:.6e}\t{l2:.6}\n",
            v.chrom, v.pos, v.reference, v.alt
        ));
        written += 1;
    }
    bar.finish_and_clear();
    dna_bpe::atomic::ensure_parent(&a.output)
        .and_then(|()| dna_bpe::atomic::write(&a.output, text.as_bytes()))
        .map_err(io_err(&a.output))?;
    eprintln!(
        "{written} variants scored -> {}; skipped: {mismatched} REF mismatches, {symbolic} symbolic ALTs, {skipped_n} windows mostly N",
        a.output.display()
    );
    Ok(())
}
