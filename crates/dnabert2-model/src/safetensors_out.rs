//! A safetensors file written tensor by tensor, for outputs too large to hold in memory
//! (embeddings of millions of sequences, one per-nucleotide block per sequence).
//!
//! Tensor data is appended to a spill file as it arrives; [`SafetensorsWriter::finish`]
//! writes the header (which must come first and lists every tensor) and then the data into
//! the destination, atomically. Memory holds only the header entries. Files read back with
//! the `safetensors` crate and Python's `safetensors.safe_open`.
//!
//! ```
//! use dnabert2_model::safetensors_out::SafetensorsWriter;
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("emb.safetensors");
//! let mut w = SafetensorsWriter::create(&path).unwrap();
//! w.push("a", &[2, 2], &[1.0, 2.0, 3.0, 4.0]).unwrap();
//! w.push("b", &[1, 2], &[5.0, 6.0]).unwrap();
//! w.finish(&[("ids", r#"["a","b"]"#.to_string())]).unwrap();
//! let bytes = std::fs::read(&path).unwrap();
//! let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
//! assert_eq!(st.tensor("b").unwrap().shape(), &[1, 2]);
//! assert_eq!(st.tensor("b").unwrap().data(), &[5.0f32, 6.0].map(f32::to_le_bytes).concat()[..]);
//! ```

use std::collections::HashSet;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result};

/// Streams f32 tensors into a safetensors file (see the module docs).
pub struct SafetensorsWriter {
    path: PathBuf,
    spill: std::io::BufWriter<std::fs::File>,
    entries: Vec<(String, Vec<usize>, u64, u64)>,
    names: HashSet<String>,
    offset: u64,
}

fn err(path: &Path, m: impl ToString) -> ModelError {
    ModelError::Write {
        path: path.to_path_buf(),
        message: m.to_string(),
    }
}

impl SafetensorsWriter {
    /// Starts a file at `path` (parent directories are created; the spill file lives in the
    /// same directory and is removed when done or dropped).
    pub fn create(path: &Path) -> Result<Self> {
        dna_bpe::atomic::ensure_parent(path).map_err(|e| err(path, e))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let spill = tempfile::tempfile_in(dir).map_err(|e| err(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            spill: std::io::BufWriter::with_capacity(1 << 20, spill),
            entries: Vec::new(),
            names: HashSet::new(),
            offset: 0,
        })
    }

    /// Appends tensor `name` of `shape` (row-major f32 `data`); names must be unique.
    pub fn push(&mut self, name: &str, shape: &[usize], data: &[f32]) -> Result<()> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(err(
                &self.path,
                format!("tensor `{name}`: shape {shape:?} but {} values", data.len()),
            ));
        }
        if !self.names.insert(name.to_string()) {
            return Err(err(&self.path, format!("tensor `{name}` written twice")));
        }
        for v in data {
            self.spill
                .write_all(&v.to_le_bytes())
                .map_err(|e| err(&self.path, e))?;
        }
        let end = self.offset + 4 * data.len() as u64;
        self.entries
            .push((name.to_string(), shape.to_vec(), self.offset, end));
        self.offset = end;
        Ok(())
    }

    /// Appends raw f32 values to the tensor pushed last, growing its first dimension by
    /// `rows` (for one `[N, D]` matrix written in row batches).
    pub fn extend_last(&mut self, rows: usize, data: &[f32]) -> Result<()> {
        let path = self.path.clone();
        let Some(last) = self.entries.last_mut() else {
            return Err(err(&path, "extend_last before any push"));
        };
        let row: usize = last.1.iter().skip(1).product();
        if rows * row != data.len() {
            return Err(err(
                &path,
                format!("{rows} rows of {row} but {} values", data.len()),
            ));
        }
        for v in data {
            self.spill
                .write_all(&v.to_le_bytes())
                .map_err(|e| err(&path, e))?;
        }
        last.1[0] += rows;
        last.3 += 4 * data.len() as u64;
        self.offset = last.3;
        Ok(())
    }

    /// Writes header (`format: pt` plus `metadata`) and data to the destination atomically.
    pub fn finish(self, metadata: &[(&str, String)]) -> Result<()> {
        let path = self.path;
        let mut meta = serde_json::Map::new();
        meta.insert("format".into(), "pt".into());
        for (k, v) in metadata {
            meta.insert((*k).into(), v.clone().into());
        }
        let mut header = serde_json::Map::new();
        header.insert("__metadata__".into(), meta.into());
        for (name, shape, a, b) in &self.entries {
            header.insert(
                name.clone(),
                serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [a, b]}),
            );
        }
        let mut json = serde_json::Value::Object(header).to_string();
        // The data must start at a multiple of 8 bytes.
        json.push_str(&" ".repeat((8 - json.len() % 8) % 8));
        let mut spill = self
            .spill
            .into_inner()
            .map_err(|e| err(&path, e.into_error()))?;
        spill.rewind().map_err(|e| err(&path, e))?;
        dna_bpe::atomic::write_with(&path, |tmp| {
            let mut out = std::io::BufWriter::new(std::fs::File::create(tmp)?);
            out.write_all(&(json.len() as u64).to_le_bytes())?;
            out.write_all(json.as_bytes())?;
            std::io::copy(&mut spill, &mut out)?;
            out.flush()
        })
        .map_err(|e| err(&path, e))
    }
}
