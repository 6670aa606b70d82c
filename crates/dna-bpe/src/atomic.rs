//! Crash-safe file writes, shared by every crate of the workspace.
//!
//! The new content goes to a temporary file in the destination's directory, which is
//! flushed to disk (`fsync`) and renamed over the destination; on Unix the directory is
//! flushed too, so the rename itself survives a power cut. A reader, or a run killed
//! half-way, sees the old file or the new one, never a torn one; a failed write leaves no
//! temporary file behind.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("sub/out.txt");
//! assert!(dna_bpe::atomic::write(&path, b"hello").is_err()); // no such directory
//! dna_bpe::atomic::ensure_parent(&path).unwrap();
//! dna_bpe::atomic::write(&path, b"hello").unwrap();
//! dna_bpe::atomic::write_with(&path, |tmp| std::fs::write(tmp, b"again")).unwrap();
//! assert_eq!(std::fs::read(&path).unwrap(), b"again");
//! assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
//! ```

use std::io;
use std::path::Path;

/// Atomically replaces `path` with `bytes`. The parent directory must exist (see
/// [`ensure_parent`]).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |tmp| std::fs::write(tmp, bytes))
}

/// The directory `path` lives in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Creates `path`'s parent directory (and its parents) if missing.
pub fn ensure_parent(path: &Path) -> io::Result<()> {
    std::fs::create_dir_all(parent(path))
}

/// Atomically replaces `path` with whatever `fill` writes to the temporary path it is
/// given (for writers that want a path, such as a safetensors store).
pub fn write_with(path: &Path, fill: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let dir = parent(path);
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    // Keep the extension last: some writers pick the format from it (PNG encoders).
    let suffix = match path.extension() {
        Some(ext) => format!(".tmp.{}", ext.to_string_lossy()),
        None => ".tmp".into(),
    };
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(&suffix)
        .tempfile_in(dir)?
        .into_temp_path();
    fill(&tmp)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}
