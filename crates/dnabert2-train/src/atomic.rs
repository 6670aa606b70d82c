//! Crash-safe file writes as [`TrainError`]s, plus JSON helpers. The one implementation
//! is [`dna_bpe::atomic`]: a temporary file in the destination's directory, flushed to
//! disk, renamed over the destination. A reader (or a run killed half-way) sees either
//! the old file or the new one, never a torn one.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("state.json");
//! dnabert2_train::atomic::write_json(&path, &serde_json::json!({"step": 3})).unwrap();
//! assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\n  \"step\": 3\n}");
//! ```

use std::path::Path;

use crate::error::{Result, TrainError, io_err};

/// Atomically replaces `path` with `bytes`.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    dna_bpe::atomic::write(path, bytes).map_err(io_err(path))
}

/// Atomically replaces `path` with `value` as pretty-printed JSON.
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| TrainError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_bytes(path, text.as_bytes())
}

/// Reads and parses a JSON file, naming the file in errors.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|source| TrainError::Json {
        path: path.to_path_buf(),
        source,
    })
}
