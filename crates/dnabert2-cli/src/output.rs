//! Embedding outputs, chosen by the output's extension:
//! - `.npy`: `[N, D]` little-endian f32 in input order, ids one per line in `OUT.ids.txt`;
//! - `.safetensors`: tensor `embeddings` `[N, D]` f32, ids in the metadata (`ids`, JSON);
//! - `.tsv`: a header `id\tdim0\t...`, one row per sequence.
//!
//! Every file is written atomically.

use std::path::{Path, PathBuf};

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
            _ => Err(CliError::Usage(format!(
                "{}: output must end in .npy, .safetensors or .tsv",
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

/// Writes `rows` (`ids.len()` rows of `dim` values) to `path` in its format.
pub fn write_matrix(path: &Path, ids: &[String], rows: &[f32], dim: usize) -> Result<()> {
    match Format::of(path)? {
        Format::Npy => {
            write(path, &npy_bytes(rows, ids.len(), dim))?;
            let mut text = ids.join("\n");
            text.push('\n');
            write(&ids_path(path), text.as_bytes())
        }
        Format::Safetensors => {
            let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![ids.len(), dim],
                &bytes,
            )
            .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
            let meta = std::collections::HashMap::from([
                ("format".to_string(), "pt".to_string()),
                (
                    "ids".to_string(),
                    serde_json::to_string(ids).unwrap_or_default(),
                ),
            ]);
            let buf = safetensors::tensor::serialize([("embeddings", view)], &Some(meta))
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
            write(path, &buf)
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

/// Writes one `[L, D]` f32 tensor per `(id, rows)` to a safetensors file keyed by id (ids
/// must be unique).
pub fn write_blocks(path: &Path, blocks: &[(String, Vec<Vec<f32>>)]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    if let Some((id, _)) = blocks.iter().find(|(id, _)| !seen.insert(id.as_str())) {
        return Err(CliError::Usage(format!(
            "id `{id}` appears twice: per-nucleotide output is keyed by id"
        )));
    }
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = blocks
        .iter()
        .map(|(id, rows)| {
            let d = rows.first().map_or(0, Vec::len);
            let b = rows
                .iter()
                .flatten()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            (id.clone(), b, vec![rows.len(), d])
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(k, b, shape)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b)
                .map(|v| (k.clone(), v))
                .map_err(|e| CliError::Usage(format!("{}: {k}: {e}", path.display())))
        })
        .collect::<Result<Vec<_>>>()?;
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    let buf = safetensors::tensor::serialize(views, &Some(meta))
        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    write(path, &buf)
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
