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

/// A fresh temporary name beside `path`. The file is created by its writer, so it gets the
/// process's normal permissions (a pre-created temp file would be 0600). The extension
/// stays last: some writers pick the format from it (PNG encoders).
fn temp_path(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    parent(path).join(format!(".{name}.{}-{n}.tmp{ext}", std::process::id()))
}

/// Flushes `tmp` and renames it over `path`, then flushes the directory.
fn publish(tmp: &Path, path: &Path) -> io::Result<()> {
    std::fs::File::open(tmp)?.sync_all()?;
    std::fs::rename(tmp, path)?;
    #[cfg(unix)]
    std::fs::File::open(parent(path))?.sync_all()?;
    Ok(())
}

/// Atomically replaces `path` with whatever `fill` writes to the temporary path it is
/// given (for writers that want a path, such as a safetensors store).
pub fn write_with(path: &Path, fill: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = fill(&tmp).and_then(|()| publish(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A file written incrementally (streaming outputs) that replaces its destination only on
/// [`Staged::commit`]; dropped uncommitted (an error, a panic), its temporary file is
/// removed and the destination is untouched.
///
/// ```
/// use std::io::Write;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("rows.tsv");
/// let mut out = dna_bpe::atomic::Staged::create(&path).unwrap();
/// writeln!(out.file(), "a\t1").unwrap();
/// assert!(!path.exists());
/// out.commit().unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\t1\n");
/// drop(dna_bpe::atomic::Staged::create(&path).unwrap()); // abandoned: old file kept
/// assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
/// ```
#[derive(Debug)]
pub struct Staged {
    tmp: std::path::PathBuf,
    dest: std::path::PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl Staged {
    /// Creates the temporary file beside `path` (the parent directory must exist).
    pub fn create(path: &Path) -> io::Result<Self> {
        let tmp = temp_path(path);
        let file = std::fs::File::create(&tmp)?;
        Ok(Self {
            tmp,
            dest: path.to_path_buf(),
            file: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// The buffered temporary file.
    pub fn file(&mut self) -> &mut std::io::BufWriter<std::fs::File> {
        self.file
            .as_mut()
            .expect("a Staged file is only taken by commit")
    }

    /// The temporary file's path (for writers that reopen it).
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Flushes the file and atomically renames it over the destination.
    pub fn commit(mut self) -> io::Result<()> {
        if let Some(f) = self.file.take() {
            f.into_inner().map_err(|e| e.into_error())?;
        }
        publish(&self.tmp, &self.dest)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.file.take().is_some() || self.tmp.exists() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
