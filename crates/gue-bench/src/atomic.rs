//! Atomic file writes as [`RunnerError`]s: the workspace's one implementation is
//! [`dna_bpe::atomic`] (temporary file, fsync, rename, fsync of the directory).

use std::path::Path;

use crate::error::RunnerError;

/// Replace `path` with `bytes` atomically (readers see the old or the new file,
/// never a partial one). Creates the parent directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunnerError> {
    dna_bpe::atomic::ensure_parent(path)
        .and_then(|()| dna_bpe::atomic::write(path, bytes))
        .map_err(|source| RunnerError::Io {
            file: path.to_path_buf(),
            source,
        })
}
