//! Input sequences: FASTA (plain, .gz, .xz), CSV/TSV with a `sequence` column (and `id`
//! when present), or one sequence per line; `-` reads stdin (FASTA when it starts with `>`,
//! else one sequence per line).

use std::io::Read;
use std::path::Path;

use crate::error::{CliError, Result, io_err};

/// One input sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its id: the FASTA id, the `id` column, or `seq{N}` (1-based).
    pub id: String,
    /// The sequence as written.
    pub seq: String,
}

fn input_err(path: &Path, line: Option<usize>, message: impl Into<String>) -> CliError {
    CliError::Input {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Reads every record of `path` in file order.
pub fn read(path: &Path) -> Result<Vec<Record>> {
    let records = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(io_err("-"))?;
        if text.trim_start().starts_with('>') {
            fasta(Box::new(std::io::Cursor::new(text.into_bytes())), path)?
        } else {
            lines(&text, path)?
        }
    } else if dna_bpe::fasta::is_fasta_name(&path.to_string_lossy()) {
        let file = std::fs::File::open(path).map_err(io_err(path))?;
        fasta(Box::new(file), path)?
    } else if dna_bpe::fasta::has_extension(&path.to_string_lossy(), &["csv", "tsv"]) {
        table(path)?
    } else {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        lines(&text, path)?
    };
    if records.is_empty() {
        return Err(input_err(path, None, "no sequences"));
    }
    Ok(records)
}

fn fasta(inner: Box<dyn Read + Send>, path: &Path) -> Result<Vec<Record>> {
    let reader = dna_bpe::fasta::Reader::new(inner, path)
        .map_err(|e| input_err(path, None, e.to_string()))?;
    let mut out = Vec::new();
    for (i, rec) in reader.enumerate() {
        let rec =
            rec.map_err(|e| input_err(path, Some(i + 1), format!("record {}: {e}", i + 1)))?;
        let seq = String::from_utf8(rec.seq)
            .map_err(|_| input_err(path, Some(i + 1), format!("record {} is not text", i + 1)))?;
        if seq.is_empty() {
            return Err(input_err(
                path,
                Some(i + 1),
                format!("record {} ({}) is empty", i + 1, rec.id),
            ));
        }
        out.push(Record { id: rec.id, seq });
    }
    Ok(out)
}

fn lines(text: &str, path: &Path) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let s = line.trim();
        if s.is_empty() {
            continue;
        }
        if s.contains(|c: char| c.is_whitespace() || c == ',') {
            return Err(input_err(
                path,
                Some(i + 1),
                "one sequence per line expected (use .csv/.tsv for tables, .fa for FASTA)",
            ));
        }
        out.push(Record {
            id: format!("seq{}", out.len() + 1),
            seq: s.to_string(),
        });
    }
    Ok(out)
}

fn table(path: &Path) -> Result<Vec<Record>> {
    let table =
        gue_bench::table::Table::read(path).map_err(|e| input_err(path, None, e.to_string()))?;
    let h = &table.header;
    let id_col = h.col("id");
    let mut out = Vec::new();
    for (i, line) in table.rows() {
        let f = gue_bench::table::split_fields(line, h.sep);
        let seq = f
            .get(h.seq1)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| input_err(path, Some(i + 1), "missing sequence"))?;
        let id = id_col
            .and_then(|c| f.get(c).filter(|s| !s.is_empty()).cloned())
            .unwrap_or_else(|| format!("seq{}", out.len() + 1));
        out.push(Record {
            id,
            seq: seq.clone(),
        });
    }
    Ok(out)
}
