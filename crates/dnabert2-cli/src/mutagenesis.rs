//! `dnabert2 mutagenesis`: in-silico saturation mutagenesis. Every position x the three
//! other bases; the effect is the change of a fine-tuned classifier's class probability
//! (`p(mutant) - p(sequence)`), or for a base model the masked-LM log-likelihood ratio of
//! the substitution ([`dnabert2_model::score::llr`]). A long table, and a heatmap PNG
//! (position x base) with `--plot`.

use std::path::{Path, PathBuf};

use dnabert2_model::{BertForMaskedLM, score};
use dnabert2_train::predict::Predictor;

use crate::commands::{B, device};
use crate::error::{CliError, Result, io_err};
use crate::input::{self, Record};
use crate::models::{self, Heads};

/// Flags of `dnabert2 mutagenesis`.
#[derive(Debug, clap::Args)]
pub struct MutagenesisArgs {
    /// A fine-tuned classifier (probability effects) or a model with the MLM head (LLR).
    #[arg(long)]
    model: String,
    /// One sequence on the command line.
    #[arg(long, conflicts_with = "input", required_unless_present = "input")]
    sequence: Option<String>,
    /// Sequences (FASTA, CSV/TSV, one per line; `-` for stdin).
    #[arg(long)]
    input: Option<PathBuf>,
    /// TSV: id, position (1-based), ref, alt, effect.
    #[arg(long)]
    output: PathBuf,
    /// Heatmap (position x base) of the first sequence.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Class whose probability change is reported (default: 1 for two classes, else the
    /// class the sequence is predicted as).
    #[arg(long)]
    class: Option<usize>,
}

const BASES: [char; 4] = ['A', 'C', 'G', 'T'];

/// `(0-based position, substituted base, effect)`.
type Effect = (usize, char, f64);

/// How effects are computed.
enum Scorer {
    Classifier(Box<Predictor<B>>, Option<usize>),
    Mlm(Box<BertForMaskedLM<B>>, Box<dna_bpe::Tokenizer>),
}

impl Scorer {
    fn load(model: &str, class: Option<usize>) -> Result<Self> {
        let m = models::load(model)?;
        match m.heads {
            Heads::Classifier(p) => Ok(Self::Classifier(p, class)),
            Heads::Mlm(mlm) => Ok(Self::Mlm(mlm, Box::new(m.tokenizer))),
            Heads::Encoder(_) => Err(CliError::Usage(format!(
                "{}: the model has neither a classifier nor the MLM head; mutagenesis needs one",
                m.dir.display()
            ))),
        }
    }

    /// `(alt, effect)` for every substitution at every position of `seq`, position-major.
    fn effects(&self, seq: &str) -> Result<Vec<Effect>> {
        let upper = seq.to_ascii_uppercase();
        let muts: Vec<(usize, char)> = upper
            .char_indices()
            .flat_map(|(i, r)| BASES.iter().filter(move |&&b| b != r).map(move |&b| (i, b)))
            .collect();
        let mutant = |i: usize, b: char| {
            let mut m = upper.clone();
            m.replace_range(i..i + 1, &b.to_string());
            m
        };
        match self {
            Self::Classifier(p, class) => {
                let base = p
                    .scores(std::slice::from_ref(&upper), None)?
                    .pop()
                    .unwrap_or_default();
                let k = class.unwrap_or(if p.num_labels == 2 {
                    1
                } else {
                    base.iter()
                        .enumerate()
                        .fold(0, |b, (j, &v)| if v > base[b] { j } else { b })
                });
                if k >= p.num_labels {
                    return Err(CliError::Usage(format!(
                        "--class {k}: the model has {} classes",
                        p.num_labels
                    )));
                }
                let mut out = Vec::with_capacity(muts.len());
                for chunk in muts.chunks(64) {
                    let seqs: Vec<String> = chunk.iter().map(|&(i, b)| mutant(i, b)).collect();
                    for (&(i, b), s) in chunk.iter().zip(p.scores(&seqs, None)?) {
                        out.push((i, b, s[k] as f64 - base[k] as f64));
                    }
                }
                Ok(out)
            }
            Self::Mlm(m, tok) => {
                let alts: Vec<String> = muts.iter().map(|&(i, b)| mutant(i, b)).collect();
                let pairs: Vec<_> = muts
                    .iter()
                    .zip(&alts)
                    .map(|(&(i, _), alt)| ((upper.as_str(), i..i + 1), (alt.as_str(), i..i + 1)))
                    .collect();
                let llrs = score::llrs(m, tok, &pairs, 32, &device())?;
                Ok(muts
                    .iter()
                    .zip(llrs)
                    .map(|(&(i, b), l)| (i, b, l))
                    .collect())
            }
        }
    }
}

/// Runs the mutagenesis and writes the table (and the heatmap).
pub fn mutagenesis(a: MutagenesisArgs) -> Result<()> {
    let records = match (&a.sequence, &a.input) {
        (Some(s), _) => vec![Record::new("seq1".into(), s.trim().to_string())],
        (None, Some(p)) => input::read(p)?,
        (None, None) => return Err(CliError::Usage("give --sequence or --input".into())),
    };
    if let Some(bad) = records
        .iter()
        .find(|r| !r.seq.bytes().all(|b| b"ACGTNacgtn".contains(&b)))
    {
        return Err(CliError::Usage(format!(
            "sequence `{}` has characters other than A, C, G, T, N",
            bad.id
        )));
    }
    let scorer = Scorer::load(&a.model, a.class)?;
    let mut text = String::from("id\tposition\tref\talt\teffect\n");
    let mut first: Option<(String, Vec<Effect>)> = None;
    for r in &records {
        let effects = scorer.effects(&r.seq)?;
        let upper: Vec<char> = r.seq.to_ascii_uppercase().chars().collect();
        for &(i, b, e) in &effects {
            text.push_str(&format!("{}\t{}\t{}\t{b}\t{e:.6}\n", r.id, i + 1, upper[i]));
        }
        first.get_or_insert_with(|| (r.seq.to_ascii_uppercase(), effects));
    }
    dna_bpe::atomic::ensure_parent(&a.output)
        .and_then(|()| dna_bpe::atomic::write(&a.output, text.as_bytes()))
        .map_err(io_err(&a.output))?;
    if let (Some(png), Some((seq, effects))) = (&a.plot, &first) {
        heatmap(png, seq, effects)?;
    }
    eprintln!("{} sequence(s) -> {}", records.len(), a.output.display());
    Ok(())
}

/// Position x base heatmap: red raises the score, blue lowers it, white is no change (the
/// sequence's own base).
fn heatmap(path: &Path, seq: &str, effects: &[Effect]) -> Result<()> {
    use plotters::prelude::*;
    let font = gue_bench::chart::register_font();
    let n = seq.len();
    let max = effects.iter().map(|e| e.2.abs()).fold(1e-12, f64::max);
    let cell = (900 / n.max(1)).clamp(2, 24) as u32;
    let size = (cell * n as u32 + 120, cell * 4 + 110);
    let err = |e: String| CliError::Usage(format!("{}: {e}", path.display()));
    let mut drawn = Ok(());
    dna_bpe::atomic::ensure_parent(path)
        .and_then(|()| {
            dna_bpe::atomic::write_with(path, |tmp| {
                drawn = (|| {
                    let root = BitMapBackend::new(tmp, size).into_drawing_area();
                    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
                    let mut chart = ChartBuilder::on(&root)
                        .caption(
                            format!("in-silico mutagenesis (|max| {max:.3})"),
                            (font, 16),
                        )
                        .margin(10)
                        .x_label_area_size(30)
                        .y_label_area_size(30)
                        .build_cartesian_2d(0..n, (0..4usize).into_segmented())
                        .map_err(|e| err(e.to_string()))?;
                    chart
                        .configure_mesh()
                        .disable_mesh()
                        .y_label_formatter(&|y| match y {
                            SegmentValue::CenterOf(i) => {
                                BASES.get(*i).map_or(String::new(), |b| b.to_string())
                            }
                            _ => String::new(),
                        })
                        .x_desc("position")
                        .label_style((font, 12))
                        .draw()
                        .map_err(|e| err(e.to_string()))?;
                    let color = |v: f64| {
                        let t = (v / max).clamp(-1.0, 1.0);
                        let fade = |t: f64| (255.0 * (1.0 - t.abs())) as u8;
                        if t >= 0.0 {
                            RGBColor(255, fade(t), fade(t))
                        } else {
                            RGBColor(fade(t), fade(t), 255)
                        }
                    };
                    chart
                        .draw_series(effects.iter().map(|&(i, b, v)| {
                            let y = BASES.iter().position(|&c| c == b).unwrap_or(0);
                            Rectangle::new(
                                [
                                    (i, SegmentValue::Exact(y)),
                                    (i + 1, SegmentValue::Exact(y + 1)),
                                ],
                                color(v).filled(),
                            )
                        }))
                        .map_err(|e| err(e.to_string()))?;
                    root.present().map_err(|e| err(e.to_string()))
                })();
                drawn
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| std::io::Error::other(e.to_string()))
            })
        })
        .or_else(|e| if drawn.is_err() { Ok(()) } else { Err(e) })
        .map_err(io_err(path))?;
    drawn
}
