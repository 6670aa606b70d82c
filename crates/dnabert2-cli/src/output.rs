//! Embedding outputs, streamed batch by batch and chosen by the output's extension:
//! - `.npy`: `[N, D]` little-endian f32 in input order, ids one per line in `OUT.ids.txt`;
//! - `.safetensors`: tensor `embeddings` `[N, D]` f32, ids in the metadata (`ids`, JSON);
//!   per nucleotide, one `[L, D]` tensor per sequence keyed by id;
//! - `.parquet`: `id`, `length_bp`, `n_tokens`, `embedding` (fixed-size list of f32), one
//!   row group per batch; per nucleotide, rows of `id`, `position` (1-based), `embedding`;
//! - `.tsv`: a header `id\tdim0\t...` (per nucleotide `id\tposition\tdim0...`).
//!
//! Genome windows add `chrom`, `start`, `end` columns (BED coordinates) to parquet and TSV.
//! Every file appears only when complete (written to a temporary file, then renamed), so an
//! interrupted run leaves the old output or none.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use dna_bpe::atomic::Staged;
use dnabert2_model::safetensors_out::SafetensorsWriter;
use polars::prelude::*;

use crate::error::{CliError, Result, io_err};
use crate::input::Record;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// NumPy `.npy` plus `.ids.txt`.
    Npy,
    /// safetensors with ids in the metadata.
    Safetensors,
    /// Tab-separated text.
    Tsv,
    /// Parquet.
    Parquet,
}

impl Format {
    /// The format of `path` by extension.
    pub fn of(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("npy") => Ok(Self::Npy),
            Some("safetensors") => Ok(Self::Safetensors),
            Some("tsv") => Ok(Self::Tsv),
            Some("parquet") => Ok(Self::Parquet),
            _ => Err(CliError::Usage(format!(
                "{}: output must end in .npy, .safetensors, .parquet or .tsv",
                path.display()
            ))),
        }
    }
}

/// The side file holding the ids of an `.npy` output (`emb.npy.ids.txt`).
pub fn ids_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".ids.txt");
    PathBuf::from(s)
}

/// One pooled output row.
pub struct Row<'a> {
    /// The input record.
    pub rec: &'a Record,
    /// Tokens of the sequence (`[CLS]`/`[SEP]` included).
    pub n_tokens: u32,
    /// Its vector (`dim` values).
    pub vector: &'a [f32],
}

/// What one sink writes.
enum Kind {
    Npy {
        out: Staged,
        ids: Staged,
    },
    Tsv {
        out: Staged,
    },
    Parquet(ParquetRows),
    Safetensors {
        w: SafetensorsWriter,
        ids: Vec<String>,
    },
}

/// A streaming writer of embeddings (see the module docs); [`Sink::finish`] publishes.
pub struct Sink {
    path: PathBuf,
    kind: Kind,
    dim: usize,
    per_base: bool,
    windows: bool,
    rows: u64,
}

/// A `.npy` header of exactly 128 bytes, so the final row count can overwrite the
/// placeholder written first.
fn npy_header(n: u64, d: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {d}), }}");
    let mut h = b"\x93NUMPY\x01\x00".to_vec();
    h.extend_from_slice(&118u16.to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.resize(127, b' ');
    h.push(b'\n');
    h
}

fn staged(path: &Path) -> Result<Staged> {
    dna_bpe::atomic::ensure_parent(path)
        .and_then(|()| Staged::create(path))
        .map_err(io_err(path))
}

impl Sink {
    /// Opens a sink for rows of `dim` values; `per_base`: one block per sequence;
    /// `windows`: the records are genome windows (coordinate columns).
    pub fn create(path: &Path, dim: usize, per_base: bool, windows: bool) -> Result<Self> {
        let kind = match Format::of(path)? {
            Format::Npy if per_base => {
                return Err(CliError::Usage(
                    "--per-nucleotide gives one [L, D] block per sequence: write .safetensors, \
                     .parquet or .tsv"
                        .into(),
                ));
            }
            Format::Npy => {
                let mut out = staged(path)?;
                out.file()
                    .write_all(&npy_header(0, dim))
                    .map_err(io_err(path))?;
                Kind::Npy {
                    out,
                    ids: staged(&ids_path(path))?,
                }
            }
            Format::Tsv => {
                let mut out = staged(path)?;
                let mut head = String::from("id");
                if windows {
                    head.push_str("\tchrom\tstart\tend");
                }
                if per_base {
                    head.push_str("\tposition");
                }
                for j in 0..dim {
                    head.push_str(&format!("\tdim{j}"));
                }
                writeln!(out.file(), "{head}").map_err(io_err(path))?;
                Kind::Tsv { out }
            }
            Format::Parquet => Kind::Parquet(ParquetRows::create(path)?),
            Format::Safetensors => Kind::Safetensors {
                w: SafetensorsWriter::create(path)?,
                ids: Vec::new(),
            },
        };
        Ok(Self {
            path: path.to_path_buf(),
            kind,
            dim,
            per_base,
            windows,
            rows: 0,
        })
    }

    /// Appends pooled rows, in order.
    pub fn push(&mut self, rows: &[Row<'_>]) -> Result<()> {
        let (path, dim) = (self.path.clone(), self.dim);
        match &mut self.kind {
            Kind::Npy { out, ids } => {
                for r in rows {
                    for v in r.vector {
                        out.file()
                            .write_all(&v.to_le_bytes())
                            .map_err(io_err(&path))?;
                    }
                    writeln!(ids.file(), "{}", r.rec.id).map_err(io_err(ids_path(&path)))?;
                }
            }
            Kind::Tsv { out } => {
                for r in rows {
                    let mut line = r.rec.id.clone();
                    if self.windows {
                        line.push_str(&coords(r.rec));
                    }
                    for v in r.vector {
                        line.push_str(&format!("\t{v}"));
                    }
                    writeln!(out.file(), "{line}").map_err(io_err(&path))?;
                }
            }
            Kind::Parquet(pq) => {
                let flat: Vec<f32> = rows.iter().flat_map(|r| r.vector.iter().copied()).collect();
                let mut cols = vec![
                    Column::new(
                        "id".into(),
                        rows.iter().map(|r| r.rec.id.as_str()).collect::<Vec<_>>(),
                    ),
                    Column::new(
                        "length_bp".into(),
                        rows.iter()
                            .map(|r| r.rec.seq.len() as u32)
                            .collect::<Vec<_>>(),
                    ),
                    Column::new(
                        "n_tokens".into(),
                        rows.iter().map(|r| r.n_tokens).collect::<Vec<_>>(),
                    ),
                ];
                if self.windows {
                    cols.extend(window_columns(rows.iter().map(|r| r.rec)));
                }
                cols.push(embedding_column(&path, flat, dim)?);
                pq.write(cols)?;
            }
            Kind::Safetensors { w, ids } => {
                let flat: Vec<f32> = rows.iter().flat_map(|r| r.vector.iter().copied()).collect();
                if ids.is_empty() {
                    w.push("embeddings", &[rows.len(), dim], &flat)?;
                } else {
                    w.extend_last(rows.len(), &flat)?;
                }
                ids.extend(rows.iter().map(|r| r.rec.id.clone()));
            }
        }
        self.rows += rows.len() as u64;
        Ok(())
    }

    /// Appends one per-nucleotide block (`rec.seq.len()` rows of `dim` values).
    pub fn push_block(&mut self, rec: &Record, block: &[f32]) -> Result<()> {
        let (path, dim) = (self.path.clone(), self.dim);
        let len = block.len() / dim.max(1);
        match &mut self.kind {
            Kind::Npy { .. } => {
                return Err(CliError::Usage(
                    ".npy holds one row per sequence; per-nucleotide blocks need another format"
                        .into(),
                ));
            }
            Kind::Tsv { out } => {
                let prefix = if self.windows {
                    format!("{}{}", rec.id, coords(rec))
                } else {
                    rec.id.clone()
                };
                for (p, row) in block.chunks(dim).enumerate() {
                    let mut line = format!("{prefix}\t{}", p + 1);
                    for v in row {
                        line.push_str(&format!("\t{v}"));
                    }
                    writeln!(out.file(), "{line}").map_err(io_err(&path))?;
                }
            }
            Kind::Parquet(pq) => {
                let mut cols = vec![Column::new("id".into(), vec![rec.id.as_str(); len])];
                if self.windows {
                    cols.extend(window_columns(std::iter::repeat_n(rec, len)));
                }
                cols.push(Column::new(
                    "position".into(),
                    (1..=len as u32).collect::<Vec<_>>(),
                ));
                cols.push(embedding_column(&path, block.to_vec(), dim)?);
                pq.write(cols)?;
            }
            Kind::Safetensors { w, ids } => {
                w.push(&rec.id, &[len, dim], block).map_err(|e| match e {
                    dnabert2_model::ModelError::Write { message, .. }
                        if message.contains("written twice") =>
                    {
                        CliError::Usage(format!(
                            "id `{}` appears twice: per-nucleotide safetensors output is keyed \
                             by id (use .parquet or .tsv)",
                            rec.id
                        ))
                    }
                    other => other.into(),
                })?;
                ids.push(rec.id.clone());
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Completes and publishes the output; returns the rows (sequences) written.
    pub fn finish(self) -> Result<u64> {
        let path = self.path;
        match self.kind {
            Kind::Npy { mut out, ids } => {
                let f = out.file();
                f.flush().map_err(io_err(&path))?;
                let inner = f.get_mut();
                inner.rewind().map_err(io_err(&path))?;
                inner
                    .write_all(&npy_header(self.rows, self.dim))
                    .map_err(io_err(&path))?;
                ids.commit().map_err(io_err(ids_path(&path)))?;
                out.commit().map_err(io_err(&path))?;
            }
            Kind::Tsv { out } => out.commit().map_err(io_err(&path))?,
            Kind::Parquet(pq) => pq.finish()?,
            Kind::Safetensors { w, ids } => {
                if self.per_base {
                    w.finish(&[])?;
                } else {
                    if ids.is_empty() {
                        return Err(CliError::Usage("no sequences to write".into()));
                    }
                    let ids = serde_json::to_string(&ids).unwrap_or_default();
                    w.finish(&[("ids", ids)])?;
                }
            }
        }
        Ok(self.rows)
    }
}

/// `\tchrom\tstart\tend` of a window record (empty cells otherwise).
fn coords(rec: &Record) -> String {
    match &rec.window {
        Some((c, s, e)) => format!("\t{c}\t{s}\t{e}"),
        None => "\t\t\t".into(),
    }
}

fn window_columns<'a>(recs: impl Iterator<Item = &'a Record> + Clone) -> [Column; 3] {
    let w = |r: &'a Record| r.window.as_ref();
    [
        Column::new(
            "chrom".into(),
            recs.clone()
                .map(|r| w(r).map_or("", |x| x.0.as_str()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "start".into(),
            recs.clone()
                .map(|r| w(r).map_or(0, |x| x.1))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "end".into(),
            recs.map(|r| w(r).map_or(0, |x| x.2)).collect::<Vec<_>>(),
        ),
    ]
}

fn polars_err(path: &Path) -> impl Fn(PolarsError) -> CliError + '_ {
    move |e| CliError::Usage(format!("{}: {e}", path.display()))
}

/// `flat` as a fixed-size-list column of `dim` f32 per row.
fn embedding_column(path: &Path, flat: Vec<f32>, dim: usize) -> Result<Column> {
    Ok(Series::new("embedding".into(), flat)
        .reshape_array(&[
            ReshapeDimension::Infer,
            ReshapeDimension::new_dimension(dim as u64),
        ])
        .map_err(polars_err(path))?
        .into())
}

/// A parquet file written one row group at a time, published on [`ParquetRows::finish`].
pub struct ParquetRows {
    path: PathBuf,
    out: Staged,
    writer: Option<Box<polars::io::parquet::write::BatchedWriter<std::fs::File>>>,
}

impl ParquetRows {
    /// Starts the file (its temporary file, beside `path`).
    pub fn create(path: &Path) -> Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            out: staged(path)?,
            writer: None,
        })
    }

    /// Writes one row group; the schema is the first group's.
    pub fn write(&mut self, cols: Vec<Column>) -> Result<()> {
        let path = self.path.clone();
        let df = DataFrame::new(cols).map_err(polars_err(&path))?;
        if self.writer.is_none() {
            // polars writes through its own handle on the staged temporary file.
            let file = self
                .out
                .file()
                .get_ref()
                .try_clone()
                .map_err(io_err(&path))?;
            self.writer = Some(Box::new(
                ParquetWriter::new(file)
                    .batched(df.schema())
                    .map_err(polars_err(&path))?,
            ));
        }
        if let Some(w) = self.writer.as_mut() {
            w.write_batch(&df).map_err(polars_err(&path))?;
        }
        Ok(())
    }

    /// Writes the footer and publishes the file.
    pub fn finish(self) -> Result<()> {
        let w = self
            .writer
            .ok_or_else(|| CliError::Usage("no rows to write".into()))?;
        w.finish().map_err(polars_err(&self.path))?;
        self.out.commit().map_err(io_err(&self.path))
    }
}
