//! Embedding outputs, chosen by the output's extension:
//! - `.npy`: `[N, D]` little-endian f32 in input order, ids one per line in `OUT.ids.txt`;
//! - `.safetensors`: tensor `embeddings` `[N, D]` f32, ids in the metadata (`ids`, JSON);
//! - `.tsv`: a header `id\tdim0\t...`, one row per sequence.
//!
//! Every file is written atomically.

use std::path::{Path, PathBuf};

use dnabert2_model::checkpoint::{TensorMap, write_safetensors_with};

use crate::error::{CliError, Result, io_err};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// NumPy `.npy` plus `.ids.txt`.
    Npy,
    /// safetensors with ids in the metadata.
    Safetensors,
    /// Tab-separated text.
    Tsv,
    /// Parquet: `id`, `length_bp`, `n_tokens`, `embedding` (fixed-size list of f32).
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

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    dna_bpe::atomic::ensure_parent(path)
        .and_then(|()| dna_bpe::atomic::write(path, bytes))
        .map_err(io_err(path))
}

/// Per-row facts some formats store beside the vector.
pub struct RowInfo {
    /// Sequence length in bases.
    pub length_bp: Vec<u32>,
    /// Tokens of the sequence ([CLS]/[SEP] included).
    pub n_tokens: Vec<u32>,
}

/// Writes `rows` (`ids.len()` rows of `dim` values) to `path` in its format.
pub fn write_matrix(
    path: &Path,
    ids: &[String],
    rows: &[f32],
    dim: usize,
    info: &RowInfo,
) -> Result<()> {
    match Format::of(path)? {
        Format::Parquet => write_parquet(path, ids, rows, dim, info),
        Format::Npy => {
            write(path, &npy_bytes(rows, ids.len(), dim))?;
            let mut text = ids.join("\n");
            text.push('\n');
            write(&ids_path(path), text.as_bytes())
        }
        Format::Safetensors => {
            let tensors =
                TensorMap::from([("embeddings".into(), (vec![ids.len(), dim], rows.to_vec()))]);
            let ids = serde_json::to_string(ids).unwrap_or_default();
            Ok(write_safetensors_with(&tensors, path, &[("ids", ids)])?)
        }
        Format::Tsv => {
            let mut text = String::from("id");
            for j in 0..dim {
                text.push_str(&format!("\tdim{j}"));
            }
            text.push('\n');
            for (i, id) in ids.iter().enumerate() {
                text.push_str(id);
                for v in &rows[i * dim..(i + 1) * dim] {
                    text.push_str(&format!("\t{v}"));
                }
                text.push('\n');
            }
            write(path, text.as_bytes())
        }
    }
}

fn write_parquet(
    path: &Path,
    ids: &[String],
    rows: &[f32],
    dim: usize,
    info: &RowInfo,
) -> Result<()> {
    use polars::prelude::*;
    let bad = |e: PolarsError| CliError::Usage(format!("{}: {e}", path.display()));
    let flat = Series::new("embedding".into(), rows);
    let list = flat
        .reshape_array(&[
            ReshapeDimension::Infer,
            ReshapeDimension::new_dimension(dim as u64),
        ])
        .map_err(bad)?;
    let mut df = DataFrame::new(vec![
        Column::new("id".into(), ids),
        Column::new("length_bp".into(), &info.length_bp),
        Column::new("n_tokens".into(), &info.n_tokens),
        list.into(),
    ])
    .map_err(bad)?;
    dna_bpe::atomic::ensure_parent(path).map_err(io_err(path))?;
    let mut failed = None;
    dna_bpe::atomic::write_with(path, |tmp| {
        let file = std::fs::File::create(tmp)?;
        if let Err(e) = ParquetWriter::new(file).finish(&mut df) {
            failed = Some(e.to_string());
            return Err(std::io::Error::other("parquet writer failed"));
        }
        Ok(())
    })
    .map_err(|e| match failed.take() {
        Some(m) => CliError::Usage(format!("{}: {m}", path.display())),
        None => CliError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })
}

/// Writes one `[L, D]` f32 tensor per `(id, rows)` to a safetensors file keyed by id (ids
/// must be unique).
pub fn write_blocks(path: &Path, blocks: &[(String, Vec<Vec<f32>>)]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    if let Some((id, _)) = blocks.iter().find(|(id, _)| !seen.insert(id.as_str())) {
        return Err(CliError::Usage(format!(
            "id `{id}` appears twice: per-nucleotide output is keyed by id"
        )));
    }
    let tensors: TensorMap = blocks
        .iter()
        .map(|(id, rows)| {
            let d = rows.first().map_or(0, Vec::len);
            (id.clone(), (vec![rows.len(), d], rows.concat()))
        })
        .collect();
    Ok(write_safetensors_with(&tensors, path, &[])?)
}

/// A NumPy v1.0 `.npy` file of a C-order `[n, d]` little-endian f32 array.
pub fn npy_bytes(rows: &[f32], n: usize, d: usize) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {d}), }}");
    // magic (6) + version (2) + header length (2) + header, padded with spaces to a
    // multiple of 64 and ended by a newline.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + rows.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in rows {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
