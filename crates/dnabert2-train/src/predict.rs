//! Prediction with a fine-tuned classifier: CSV/TSV or FASTA in, CSV out.
//!
//! Input: a CSV/TSV with a `sequence` column (or `seq1,seq2` for pair models; an `id`
//! column is used as the row id when present, else the 0-based row index), or FASTA
//! (`.fa`/`.fasta`/`.fna`/`.fas`, plain, `.gz` or `.xz`; the id is the record id).
//! Output, one row per input, written atomically:
//! - classification: `id,label,prob_0,...,prob_{n-1}` (softmax; `label` is the
//!   `id2label` name of the argmax);
//! - multi-label: `id,labels,prob_0,...` (sigmoid; `labels` = `;`-joined names >= 0.5);
//! - regression: `id,prediction`.
//!
//! The truncation length and input kind come from the model's `finetune.json`
//! (written by fine-tuning) unless overridden.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use dnabert2_model::BertConfig;
use dnabert2_model::checkpoint::load_classifier;
use dnabert2_model::heads::problem_type_of;

use crate::error::{Result, TrainError};
use crate::finetune::data::{Problem, Table, data_err, split_fields};
use crate::finetune::encode::{batch_input, encode_texts, tokenizer_for};
use crate::finetune::objective::scores;
use crate::finetune::options::ModelSource;
use crate::finetune::train::{RunSettings, tokenizer_of};

/// Prediction settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictOptions {
    /// Examples per forward pass.
    pub batch_size: usize,
    /// Truncation length override (default: the model's `finetune.json`, else none).
    pub max_len: Option<usize>,
    /// Test-time strand averaging: each output is the mean of the sequence's and its
    /// reverse complement's (pairs: both sequences reverse-complemented).
    pub strand_average: bool,
}

impl Default for PredictOptions {
    fn default() -> Self {
        Self {
            batch_size: 64,
            max_len: None,
            strand_average: false,
        }
    }
}

/// What [`predict_file`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictSummary {
    /// Rows written.
    pub rows: usize,
    /// Model outputs per row.
    pub num_labels: usize,
    /// The output file.
    pub output: PathBuf,
}

/// One input to classify.
#[derive(Debug, Clone)]
struct Item {
    id: String,
    a: String,
    b: Option<String>,
    line: usize,
}

/// Whether a path names a FASTA file ([`dna_bpe::fasta::FASTA_EXTENSIONS`], compression
/// suffixes ignored).
pub fn is_fasta(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| dna_bpe::fasta::is_fasta_name(&n.to_string_lossy().to_ascii_lowercase()))
}

fn read_csv_items(path: &Path, pair: bool) -> Result<Vec<Item>> {
    let table = Table::read(path)?;
    let h = &table.header;
    let lines = table.rows();
    if pair && h.seq2.is_none() {
        return Err(data_err(
            path,
            Some(1),
            "the model takes sequence pairs: the header needs `seq1,seq2`".into(),
        ));
    }
    let id_col = h.col("id");
    let mut out = Vec::new();
    for (row, (i, line)) in lines.enumerate() {
        let f = split_fields(line, h.sep);
        let get = |c: usize| -> Result<String> {
            f.get(c).filter(|s| !s.is_empty()).cloned().ok_or_else(|| {
                data_err(
                    path,
                    Some(i + 1),
                    format!("missing value for column `{}`", h.names[c]),
                )
            })
        };
        let a = get(h.seq1)?;
        let b = if pair {
            h.seq2.map(get).transpose()?
        } else {
            None
        };
        let id = id_col
            .and_then(|c| f.get(c).cloned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| row.to_string());
        out.push(Item {
            id,
            a,
            b,
            line: i + 1,
        });
    }
    Ok(out)
}

fn fasta_items(path: &Path) -> Result<impl Iterator<Item = Result<Item>> + use<>> {
    let reader =
        dna_bpe::fasta::Reader::from_path(path).map_err(|e| TrainError::Fasta(e.to_string()))?;
    Ok(reader.enumerate().map(|(i, r)| {
        let r = r.map_err(|e| TrainError::Fasta(e.to_string()))?;
        Ok(Item {
            id: r.id,
            a: String::from_utf8_lossy(&r.seq).into_owned(),
            b: None,
            line: i + 1,
        })
    }))
}

fn label_names(cfg: &BertConfig, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            cfg.id2label
                .as_ref()
                .and_then(|m| m.get(&i.to_string()).cloned())
                .unwrap_or_else(|| i.to_string())
        })
        .collect()
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A fine-tuned classifier ready to score sequences: model, tokenizer (truncating as in
/// training), problem type and label names. [`predict_file`] and the CLI's mutagenesis both
/// score through [`Predictor::scores`].
pub struct Predictor<B: Backend> {
    model: dnabert2_model::BertForSequenceClassification<B>,
    tok: dna_bpe::Tokenizer,
    /// The problem type of the head.
    pub problem: Problem,
    /// Outputs per row.
    pub num_labels: usize,
    /// `id2label` names (or the class indices).
    pub names: Vec<String>,
    /// Whether the model takes sequence pairs.
    pub pair: bool,
    device: B::Device,
}

impl<B: Backend> Predictor<B> {
    /// Loads the classifier of `model_dir` (a fine-tuning output or any HF classifier dir);
    /// `max_len` overrides the truncation length recorded in its `finetune.json`.
    pub fn load(model_dir: &Path, max_len: Option<usize>, device: &B::Device) -> Result<Self> {
        let model_dir = &crate::checkpoint::resolve_model_dir(model_dir);
        let settings = RunSettings::read(model_dir)?;
        let (model, cfg) = load_classifier::<B>(model_dir, None, device)?;
        let n = model.num_labels;
        let max_len = max_len.or(settings.as_ref().and_then(|s| s.max_len));
        let tok = tokenizer_for(
            tokenizer_of(&ModelSource::Checkpoint(model_dir.to_path_buf()))?,
            max_len,
        )?;
        Ok(Self {
            problem: problem_type_of(&cfg),
            num_labels: n,
            names: label_names(&cfg, n),
            pair: settings.as_ref().is_some_and(|s| s.pair),
            model,
            tok,
            device: device.clone(),
        })
    }

    /// The fine-tuned encoder under the classifier (for embeddings of the same model).
    pub fn encoder(&self) -> &dnabert2_model::BertModel<B> {
        &self.model.bert
    }

    /// Class probabilities (softmax / sigmoid) or predicted values of one batch, one row
    /// of `num_labels` values per sequence (pairs when the model takes them).
    pub fn scores(&self, seq1: &[String], seq2: Option<&[String]>) -> Result<Vec<Vec<f32>>> {
        let (ids, types) = encode_texts(&self.tok, seq1, seq2)?;
        let idx: Vec<usize> = (0..ids.len()).collect();
        let x = batch_input::<B>(&ids, types.as_deref(), &idx, &self.device)?;
        let s: Vec<f32> = dnabert2_model::error::read_back(
            scores(self.model.forward(x), self.problem),
            "predictions",
        )?;
        Ok(s.chunks_exact(self.num_labels.max(1))
            .map(<[f32]>::to_vec)
            .collect())
    }

    /// The CSV header of a prediction file.
    pub fn header(&self) -> String {
        let mut header = vec!["id".to_string()];
        header.push(
            match self.problem {
                Problem::Regression => "prediction",
                Problem::SingleLabel => "label",
                Problem::MultiLabel => "labels",
            }
            .into(),
        );
        if self.problem != Problem::Regression {
            header.extend((0..self.num_labels).map(|i| format!("prob_{i}")));
        }
        header.join(",")
    }

    /// The predicted label of one output row: the argmax's name (single-label), the
    /// `;`-joined names >= 0.5 (multi-label), or the value (regression).
    pub fn label(&self, p: &[f32]) -> String {
        match self.problem {
            Problem::Regression => format!("{}", p[0]),
            Problem::SingleLabel => {
                let arg = p
                    .iter()
                    .enumerate()
                    .fold(0, |b, (j, &v)| if v > p[b] { j } else { b });
                self.names[arg].clone()
            }
            Problem::MultiLabel => p
                .iter()
                .enumerate()
                .filter(|(_, v)| **v >= 0.5)
                .map(|(j, _)| self.names[j].as_str())
                .collect::<Vec<_>>()
                .join(";"),
        }
    }

    /// One CSV row: id, label(s) or value, probabilities.
    pub fn row(&self, id: &str, p: &[f32]) -> String {
        let mut cells = vec![csv_cell(id), csv_cell(&self.label(p))];
        if self.problem != Problem::Regression {
            cells.extend(p.iter().map(|v| format!("{v}")));
        }
        cells.join(",")
    }
}

/// The input items of `input` for `predictor` (FASTA records or CSV/TSV rows).
fn items<B: Backend>(
    predictor: &Predictor<B>,
    input: &Path,
) -> Result<Box<dyn Iterator<Item = Result<Item>>>> {
    if is_fasta(input) {
        if predictor.pair {
            return Err(data_err(
                input,
                None,
                "the model takes sequence pairs; FASTA gives single sequences".into(),
            ));
        }
        Ok(Box::new(fasta_items(input)?))
    } else {
        Ok(Box::new(
            read_csv_items(input, predictor.pair)?.into_iter().map(Ok),
        ))
    }
}

/// Runs `predictor` over every item of `input` in batches, calling `row(id, outputs)` in
/// input order; returns the rows. The one prediction loop behind [`predict_file`] and the
/// CLI's other output formats.
pub fn predict_each<B: Backend>(
    predictor: &Predictor<B>,
    input: &Path,
    opts: &PredictOptions,
    mut row: impl FnMut(&str, &[f32]) -> Result<()>,
) -> Result<usize> {
    let (mut rows, mut items) = (0usize, items(predictor, input)?.peekable());
    while items.peek().is_some() {
        let batch: Vec<Item> = items
            .by_ref()
            .take(opts.batch_size.max(1))
            .collect::<Result<_>>()?;
        if let Some(bad) = batch.iter().find(|it| it.a.trim().is_empty()) {
            return Err(data_err(
                input,
                Some(bad.line),
                format!("empty sequence (id `{}`)", bad.id),
            ));
        }
        let seq1: Vec<String> = batch.iter().map(|it| it.a.clone()).collect();
        let seq2: Option<Vec<String>> = predictor.pair.then(|| {
            batch
                .iter()
                .map(|it| it.b.clone().unwrap_or_default())
                .collect()
        });
        let mut out = predictor.scores(&seq1, seq2.as_deref())?;
        if opts.strand_average {
            let rc = |v: &[String]| -> Vec<String> {
                v.iter()
                    .map(|s| dna_bpe::seq::reverse_complement(s))
                    .collect()
            };
            let back = predictor.scores(&rc(&seq1), seq2.as_deref().map(rc).as_deref())?;
            for (o, b) in out.iter_mut().zip(back) {
                o.iter_mut().zip(b).for_each(|(x, y)| *x = (*x + y) / 2.0);
            }
        }
        for (it, p) in batch.iter().zip(out) {
            row(&it.id, &p)?;
            rows += 1;
        }
    }
    Ok(rows)
}

/// Classifies every sequence of `input` with the model in `model_dir` and writes
/// `output` (CSV, atomically). Errors name the input file and line (CSV) or record
/// number (FASTA).
pub fn predict_file<B: Backend>(
    model_dir: &Path,
    input: &Path,
    output: &Path,
    opts: &PredictOptions,
    device: &B::Device,
) -> Result<PredictSummary> {
    let predictor = Predictor::<B>::load(model_dir, opts.max_len, device)?;
    let io = |e| TrainError::Io {
        path: output.to_path_buf(),
        source: e,
    };
    dna_bpe::atomic::ensure_parent(output).map_err(io)?;
    // Published only when every row is written; an error leaves no partial file.
    let mut out = dna_bpe::atomic::Staged::create(output).map_err(io)?;
    writeln!(out.file(), "{}", predictor.header()).map_err(io)?;
    let rows = predict_each(&predictor, input, opts, |id, p| {
        writeln!(out.file(), "{}", predictor.row(id, p)).map_err(io)
    })?;
    out.commit().map_err(io)?;
    Ok(PredictSummary {
        rows,
        num_labels: predictor.num_labels,
        output: output.to_path_buf(),
    })
}

/// [`predict_file`] on the inference backend of autodiff backend `B` (dropout off).
pub fn predict_file_with<B: burn::tensor::backend::AutodiffBackend>(
    model_dir: &Path,
    input: &Path,
    output: &Path,
    opts: &PredictOptions,
    device: &B::Device,
) -> Result<PredictSummary> {
    predict_file::<B::InnerBackend>(model_dir, input, output, opts, device)
}
