//! Bridges to `dna_bpe`: FASTA and table discovery and streaming, A/C/G/T segmenting,
//! tokenizer loading and plain (special-token-free) encoding.
//!
//! Table inputs (CSV/TSV with a `sequence` column, or `seq1,seq2` for pairs; plain or
//! compressed) give one record per row and sequence column, named `row{N}` (`row{N}.2` for
//! the second of a pair), so the held-out split is drawn per row. Rows go through the same
//! cleaning as FASTA records: upper-cased, split at anything not A/C/G/T (an `N` cuts a
//! row in two), segments under the corpus's minimum length dropped; empty rows give no
//! tokens. Each row is then a unit of its own, so training windows never cross rows: rows
//! longer than the window are windowed, shorter ones are used whole.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use dna_bpe::Tokenizer;

use crate::error::{Result, TrainError};

/// Whether `path` is read as a table (CSV/TSV, possibly compressed) rather than FASTA.
pub fn is_table(path: &Path) -> bool {
    dna_bpe::fasta::has_extension(&path.to_string_lossy(), &["csv", "tsv"])
}

/// Expands files and folders into the sorted list of files to read: files given
/// explicitly are kept (FASTA, or CSV/TSV tables); folders are searched recursively for
/// FASTA files (`.fa/.fasta/.fna/...`, compressed or not) and for the training splits of
/// GUE-style task folders (`train.csv` / `train.tsv`; `dev` and `test` are never used, so
/// further pretraining on a benchmark does not see its evaluation rows).
pub fn collect_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if paths.is_empty() {
        return Err(TrainError::Config(
            "no corpus given (--corpus PATH...)".into(),
        ));
    }
    let keep = |name: &str| {
        let lower = name.to_ascii_lowercase();
        let train_split = ["train.csv", "train.tsv"].iter().any(|t| {
            lower == *t
                || dna_bpe::fasta::COMPRESSED_SUFFIXES
                    .iter()
                    .any(|c| lower == format!("{t}{c}"))
        });
        dna_bpe::fasta::is_fasta_name(name) || train_split
    };
    let files = dna_bpe::fasta::collect_files_matching(paths, keep)
        .map_err(|e| TrainError::Fasta(e.to_string()))?;
    if files.is_empty() {
        return Err(TrainError::Corpus(format!(
            "no FASTA files or train.csv/train.tsv tables found under {paths:?}"
        )));
    }
    files
        .into_iter()
        .map(|f| std::fs::canonicalize(&f).map_err(crate::error::io_err(&f)))
        .collect()
}

/// Loads `path` (a Hugging Face `tokenizer.json`) or, for `None`, the embedded
/// DNABERT-2 tokenizer; returns it with the SHA-256 of its canonical JSON.
pub fn load_tokenizer(path: Option<&Path>) -> Result<(Tokenizer, String)> {
    let tok = match path {
        Some(p) => Tokenizer::from_file(p)?,
        None => Tokenizer::dnabert2(),
    };
    let json = tok.to_json_string()?;
    let sha = super::build::hex(&Sha256::digest(json.as_bytes()));
    Ok((tok, sha))
}

/// Vocabulary size of a tokenizer as `u32`.
pub(super) fn vocab_size(tok: &Tokenizer) -> u32 {
    tok.vocab_size() as u32
}

/// Upper-cased A/C/G/T runs of `seq` (split at any other byte).
fn segments(seq: &[u8]) -> Vec<String> {
    dna_bpe::fasta::acgt_segments(seq, 1, true)
        .map(|s| String::from_utf8_lossy(&s.to_ascii_uppercase()).into_owned())
        .collect()
}

/// Streams the records of one FASTA file or table, calling `f(record id, segments)`
/// with the record's upper-cased A/C/G/T runs (split at any other byte).
pub(super) fn for_each_record(
    path: &Path,
    mut f: impl FnMut(&str, &[String]) -> Result<()>,
) -> Result<()> {
    if is_table(path) {
        let (header, rows) =
            gue_bench::table::stream(path).map_err(|e| TrainError::Corpus(e.to_string()))?;
        for row in rows {
            let (i, line) = row.map_err(|e| TrainError::Corpus(e.to_string()))?;
            let fields = gue_bench::table::split_fields(&line, header.sep);
            let cols = std::iter::once((header.seq1, String::new()))
                .chain(header.seq2.map(|c| (c, ".2".to_string())));
            for (col, suffix) in cols {
                let seq = fields.get(col).map_or("", String::as_str);
                f(&format!("row{}{suffix}", i + 1), &segments(seq.as_bytes()))?;
            }
        }
        return Ok(());
    }
    let reader =
        dna_bpe::fasta::Reader::from_path(path).map_err(|e| TrainError::Fasta(e.to_string()))?;
    for record in reader {
        let record = record.map_err(|e| TrainError::Fasta(e.to_string()))?;
        f(&record.id, &segments(&record.seq))?;
    }
    Ok(())
}

/// Token ids of an A/C/G/T string without `[CLS]`/`[SEP]`.
pub(super) fn encode_plain(tok: &Tokenizer, seq: &str) -> Result<Vec<u32>> {
    Ok(tok.encode_with(seq, None, false)?.into_ids())
}
