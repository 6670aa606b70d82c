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
    // A fresh name in the same directory, created by `fill` itself so the file gets the
    // process's normal permissions (a pre-created temp file would be 0600). The extension
    // stays last: some writers pick the format from it (PNG encoders).
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}-{n}.tmp{ext}", std::process::id()));
    let result = (|| {
        fill(&tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}
