//! The workspace's one CSV/TSV table reader: fine-tuning splits, prediction input and
//! GUE task files all go through [`Table`], so every reader accepts the same files and
//! names the file and line in its errors.
//!
//! The separator is a tab for `.tsv` files (or a header with tabs and no commas), else a
//! comma; double quotes group a field (`""` escapes a quote); blank lines are skipped; a
//! UTF-8 byte-order mark is ignored; column names are matched case-insensitively.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("train.csv");
//! std::fs::write(&path, "Sequence,label\nACGT,1\n\n\"AC,GT\",0\n").unwrap();
//! let t = gue_bench::table::Table::read(&path).unwrap();
//! let rows: Vec<_> = t.rows().map(|(i, l)| (i + 1, gue_bench::table::split_fields(l, t.header.sep))).collect();
//! assert_eq!(rows[1], (4, vec!["AC,GT".to_string(), "0".to_string()]));
//! assert_eq!(t.header.col("label"), Some(1));
//! ```

use std::path::Path;

use crate::error::DataError;

/// A delimited text file (CSV or TSV): its parsed header and its text.
pub struct Table {
    /// The parsed header line.
    pub header: Header,
    text: String,
}

impl Table {
    /// Reads `path` and parses its first non-blank line as the header.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::Read {
            file: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let head = non_blank_lines(&text)
            .next()
            .ok_or_else(|| DataError::Empty {
                file: path.to_path_buf(),
            })?
            .1;
        let header = Header::parse(path, head)?;
        Ok(Table { header, text })
    }

    /// The non-blank data lines after the header, with their 0-based line index.
    pub fn rows(&self) -> impl Iterator<Item = (usize, &str)> {
        non_blank_lines(&self.text).skip(1)
    }
}

/// The data lines of a [`stream`]ed table: `(0-based line index, line)`.
pub type Rows = Box<dyn Iterator<Item = Result<(usize, String), DataError>>>;

/// Streams a table line by line (plain or compressed: gzip, xz, zstd, bzip2), for inputs too
/// large to hold: the parsed header and the non-blank data lines with their 0-based line
/// index, read on demand.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("seqs.tsv");
/// std::fs::write(&path, "id\tsequence\na\tACGT\n\nb\tGG\n").unwrap();
/// let (header, rows) = gue_bench::table::stream(&path).unwrap();
/// let rows: Vec<_> = rows.collect::<Result<_, _>>().unwrap();
/// assert_eq!((header.seq1, rows[1].0), (1, 3));
/// ```
pub fn stream(path: &Path) -> Result<(Header, Rows), DataError> {
    use std::io::BufRead;
    let read_err = |e: &dyn std::fmt::Display| DataError::Read {
        file: path.to_path_buf(),
        message: e.to_string(),
    };
    let reader = dna_bpe::fasta::open(path).map_err(|e| read_err(&e))?;
    let mut lines = reader
        .lines()
        .enumerate()
        .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()));
    let head = match lines.next() {
        None => {
            return Err(DataError::Empty {
                file: path.to_path_buf(),
            });
        }
        Some((_, l)) => l.map_err(|e| read_err(&e))?,
    };
    let header = Header::parse(path, &head)?;
    let file = path.to_path_buf();
    let rows = lines.map(move |(i, l)| {
        l.map(|l| (i, l)).map_err(|e| DataError::Read {
            file: file.clone(),
            message: format!("line {}: {e}", i + 1),
        })
    });
    Ok((header, Box::new(rows)))
}

fn non_blank_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
}

fn line_err(path: &Path, line: usize, message: String) -> DataError {
    DataError::Line {
        file: path.to_path_buf(),
        line,
        message,
    }
}

/// Splits one CSV/TSV line into fields (double quotes group, `""` escapes a quote).
pub fn split_fields(line: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == sep && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|f| f.trim().to_string()).collect()
}

/// The column layout of a split file's header.
#[derive(Debug, Clone)]
pub struct Header {
    /// Field separator (`,` or tab).
    pub sep: char,
    /// Lower-cased column names.
    pub names: Vec<String>,
    /// Column of the (first) sequence: `sequence`, `seq` or `seq1`.
    pub seq1: usize,
    /// Column of the second sequence of a pair (`seq2`).
    pub seq2: Option<usize>,
}

impl Header {
    /// Parses a header line; `sequence` (or `seq`) or `seq1`[,`seq2`] must be present.
    pub fn parse(path: &Path, line: &str) -> Result<Self, DataError> {
        let sep = if path.extension().is_some_and(|e| e == "tsv")
            || (line.contains('\t') && !line.contains(','))
        {
            '\t'
        } else {
            ','
        };
        let names: Vec<String> = split_fields(line.trim_start_matches('\u{feff}'), sep)
            .into_iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let col = |n: &str| names.iter().position(|c| c == n);
        let (seq1, seq2) = match (
            col("sequence").or_else(|| col("seq")),
            col("seq1"),
            col("seq2"),
        ) {
            (_, Some(a), Some(b)) => (a, Some(b)),
            (Some(a), _, _) => (a, None),
            (None, Some(a), None) => (a, None),
            _ => {
                return Err(line_err(
                    path,
                    1,
                    format!("header {names:?} has no `sequence` (or `seq1,seq2`) column"),
                ));
            }
        };
        Ok(Self {
            sep,
            names,
            seq1,
            seq2,
        })
    }

    /// Index of a named column.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|c| c == name)
    }
}
