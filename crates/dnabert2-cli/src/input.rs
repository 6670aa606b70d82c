//! Input sequences, streamed one record at a time: FASTA and FASTQ (plain, .gz, .xz, .zst,
//! .bz2; compression detected from the content), CSV/TSV with a `sequence` column (and `id`
//! when present), or one sequence per line. `-` reads stdin (FASTA when it starts with `>`,
//! FASTQ with `@`, else one sequence per line).
//!
//! `--windows W --stride S` turns each FASTA contig into sliding windows (see [`windows`]).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::error::{CliError, Result, io_err};

/// One input sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its id: the FASTA/FASTQ id, the `id` column, `seq{N}` (1-based), or for genome
    /// windows `chrom:start-end`.
    pub id: String,
    /// The sequence as written.
    pub seq: String,
    /// For genome windows: contig and 0-based half-open span (BED coordinates).
    pub window: Option<(String, u64, u64)>,
}

impl Record {
    /// A record that is not a genome window.
    pub fn new(id: String, seq: String) -> Self {
        Self {
            id,
            seq,
            window: None,
        }
    }
}

/// A stream of records in file order.
pub type Records = Box<dyn Iterator<Item = Result<Record>>>;

fn input_err(path: &Path, line: Option<usize>, message: impl Into<String>) -> CliError {
    CliError::Input {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Every record of `path` in file order (at least one).
pub fn read(path: &Path) -> Result<Vec<Record>> {
    let records = open(path)?.collect::<Result<Vec<_>>>()?;
    if records.is_empty() {
        return Err(input_err(path, None, "no sequences"));
    }
    Ok(records)
}

/// Kinds of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fasta,
    Fastq,
    Table,
    Lines,
}

fn kind_of(path: &Path) -> Kind {
    let name = path.to_string_lossy();
    if dna_bpe::fasta::is_fasta_name(&name) {
        Kind::Fasta
    } else if dna_bpe::fasta::has_extension(&name, &["fastq", "fq"]) {
        Kind::Fastq
    } else if dna_bpe::fasta::has_extension(&name, &["csv", "tsv"]) {
        Kind::Table
    } else {
        Kind::Lines
    }
}

/// Streams the records of `path` (`-`: stdin).
pub fn open(path: &Path) -> Result<Records> {
    let owned = path.to_path_buf();
    if path == Path::new("-") {
        let mut reader = dna_bpe::fasta::decompress(std::io::stdin()).map_err(io_err("-"))?;
        let first = reader
            .fill_buf()
            .map_err(io_err("-"))?
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .copied();
        return Ok(match first {
            Some(b'>') => fasta(
                dna_bpe::fasta::Reader::new(reader, "-")
                    .map_err(|e| input_err(path, None, e.to_string()))?,
                owned,
            ),
            Some(b'@') => fastq(reader, owned),
            _ => lines(reader, owned),
        });
    }
    Ok(match kind_of(path) {
        Kind::Fasta => fasta(
            dna_bpe::fasta::Reader::from_path(path)
                .map_err(|e| input_err(path, None, e.to_string()))?,
            owned,
        ),
        Kind::Fastq => fastq(
            dna_bpe::fasta::open(path).map_err(|e| input_err(path, None, e.to_string()))?,
            owned,
        ),
        Kind::Table => table(path)?,
        Kind::Lines => lines(
            dna_bpe::fasta::open(path).map_err(|e| input_err(path, None, e.to_string()))?,
            owned,
        ),
    })
}

fn fasta(reader: dna_bpe::fasta::Reader, path: PathBuf) -> Records {
    Box::new(reader.enumerate().map(move |(i, rec)| {
        let n = i + 1;
        let rec = rec.map_err(|e| input_err(&path, None, format!("record {n}: {e}")))?;
        let seq = String::from_utf8(rec.seq)
            .map_err(|_| input_err(&path, None, format!("record {n} ({}) is not text", rec.id)))?;
        if seq.is_empty() {
            return Err(input_err(
                &path,
                None,
                format!("record {n} ({}) is empty", rec.id),
            ));
        }
        Ok(Record::new(rec.id, seq))
    }))
}

/// FASTQ: four lines per record (`@id`, sequence, `+`, qualities of the same length).
fn fastq(reader: Box<dyn BufRead + Send>, path: PathBuf) -> Records {
    let mut lines = reader.lines().enumerate();
    Box::new(std::iter::from_fn(move || {
        let mut next = || lines.next().map(|(i, l)| (i + 1, l));
        // Skip blank lines between records.
        let (n, head) = loop {
            match next()? {
                (_, Ok(l)) if l.trim().is_empty() => continue,
                (n, l) => break (n, l),
            }
        };
        let mut get = |what: &str| -> Result<String> {
            match next() {
                Some((_, Ok(l))) => Ok(l.trim_end().to_string()),
                Some((m, Err(e))) => Err(input_err(&path, Some(m), e.to_string())),
                None => Err(input_err(
                    &path,
                    Some(n),
                    format!("record truncated: no {what} line"),
                )),
            }
        };
        let record = (|| {
            let head = head.map_err(|e| input_err(&path, Some(n), e.to_string()))?;
            let id = head
                .strip_prefix('@')
                .ok_or_else(|| input_err(&path, Some(n), "FASTQ record must start with `@`"))?
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            let seq = get("sequence")?;
            let plus = get("`+`")?;
            if !plus.starts_with('+') {
                return Err(input_err(
                    &path,
                    Some(n + 2),
                    format!("record {id}: expected the `+` line"),
                ));
            }
            let qual = get("quality")?;
            if qual.len() != seq.len() {
                return Err(input_err(
                    &path,
                    Some(n + 3),
                    format!(
                        "record {id}: {} quality values for {} bases",
                        qual.len(),
                        seq.len()
                    ),
                ));
            }
            if seq.is_empty() {
                return Err(input_err(
                    &path,
                    Some(n + 1),
                    format!("record {id} is empty"),
                ));
            }
            Ok(Record::new(id, seq))
        })();
        Some(record)
    }))
}

fn lines(reader: Box<dyn BufRead + Send>, path: PathBuf) -> Records {
    let mut count = 0usize;
    Box::new(reader.lines().enumerate().filter_map(move |(i, line)| {
        let line = match line {
            Ok(l) => l,
            Err(e) => return Some(Err(input_err(&path, Some(i + 1), e.to_string()))),
        };
        let s = line.trim();
        if s.is_empty() {
            return None;
        }
        if s.contains(|c: char| c.is_whitespace() || c == ',') {
            return Some(Err(input_err(
                &path,
                Some(i + 1),
                "one sequence per line expected (use .csv/.tsv for tables, .fa for FASTA)",
            )));
        }
        count += 1;
        Some(Ok(Record::new(format!("seq{count}"), s.to_string())))
    }))
}

fn table(path: &Path) -> Result<Records> {
    let (h, rows) =
        gue_bench::table::stream(path).map_err(|e| input_err(path, None, e.to_string()))?;
    let id_col = h.col("id");
    let path = path.to_path_buf();
    let mut count = 0usize;
    Ok(Box::new(rows.map(move |row| {
        let (i, line) = row.map_err(|e| input_err(&path, None, e.to_string()))?;
        let f = gue_bench::table::split_fields(&line, h.sep);
        let seq = f
            .get(h.seq1)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| input_err(&path, Some(i + 1), "missing sequence"))?;
        count += 1;
        let id = id_col
            .and_then(|c| f.get(c).filter(|s| !s.is_empty()).cloned())
            .unwrap_or_else(|| format!("seq{count}"));
        Ok(Record::new(id, seq.clone()))
    })))
}

/// Sliding windows of `width` bases every `stride` bases over each record (a contig), in
/// contig order: `[0, W)`, `[S, S+W)`, ...; where the last full window stops short of the
/// contig's end, one more window ends exactly at the end (so every base is covered), and
/// contigs shorter than `width` give one window of the whole contig. Windows made only of
/// `N` (assembly gaps) are dropped and counted in `skipped`. Ids are `chrom:start-end`
/// (0-based, end exclusive: BED coordinates).
pub fn windows(
    records: Records,
    width: usize,
    stride: usize,
    skipped: std::rc::Rc<std::cell::Cell<u64>>,
) -> Records {
    Box::new(records.flat_map(move |rec| -> Records {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        let len = rec.seq.len();
        let mut starts: Vec<usize> = (0..)
            .map(|k| k * stride)
            .take_while(|&s| s + width <= len)
            .collect();
        match starts.last() {
            None => starts.push(0),
            Some(&s) if s + width < len => starts.push(len - width),
            _ => {}
        }
        let skipped = skipped.clone();
        let seq = std::rc::Rc::new(rec.seq);
        let chrom = rec.id;
        Box::new(starts.into_iter().filter_map(move |s| {
            let e = (s + width).min(len);
            let text = &seq[s..e];
            if text.bytes().all(|b| b == b'N' || b == b'n') {
                skipped.set(skipped.get() + 1);
                return None;
            }
            Some(Ok(Record {
                id: format!("{chrom}:{s}-{e}"),
                seq: text.to_string(),
                window: Some((chrom.clone(), s as u64, e as u64)),
            }))
        }))
    }))
}
