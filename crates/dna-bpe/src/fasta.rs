//! Streaming FASTA reading from plain, gzip (`.gz`, also multi-member/bgzip),
//! xz (`.xz`), Zstandard (`.zst`) and bzip2 (`.bz2`) files.
//!
//! Compression is detected from the first bytes of the file (magic numbers),
//! not from the file name. Records are yielded one at a time, so memory is
//! bounded by the longest single record. Sequences are returned as they are
//! in the file (case and `N` runs preserved); [`acgt_segments`] cuts them into
//! the ACGT runs the BPE trainer and the corpus builder use.
//!
//! ```
//! use dna_bpe::fasta::{Reader, acgt_segments};
//!
//! let data = b">chr1 test contig\nACGTNNacgt\r\nTTGA\n\n>chr2\nGGCC\n";
//! let reader = Reader::new(&data[..], "<memory>").unwrap();
//! let records: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
//! assert_eq!(records[0].id, "chr1");
//! assert_eq!(records[0].description, "test contig");
//! assert_eq!(records[0].seq, b"ACGTNNacgtTTGA");
//! let segs: Vec<&[u8]> = acgt_segments(&records[0].seq, 1, true).collect();
//! assert_eq!(segs, vec![&b"ACGT"[..], &b"acgtTTGA"[..]]);
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// File-name endings recognised as FASTA by [`collect_files`] (each also with
/// a [`COMPRESSED_SUFFIXES`] ending appended).
pub const FASTA_EXTENSIONS: &[&str] = &["fa", "fasta", "fna", "fas", "ffn", "frn", "mfa"];

/// Compression endings file names may carry (`x.fa.gz`); the format itself is detected
/// from the content.
pub const COMPRESSED_SUFFIXES: &[&str] = &[".gz", ".bgz", ".xz", ".zst", ".bz2"];

/// Errors of FASTA reading and file discovery; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum FastaError {
    /// The file or folder could not be opened or listed.
    #[error("{path}: cannot open: {source}")]
    Open {
        /// The path that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Reading (or decompressing) failed, e.g. a truncated gzip/xz stream.
    #[error("{path}:{line}: read error near byte offset {offset}: {source}")]
    Read {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number (of the decompressed text) where reading stopped.
        line: u64,
        /// Byte offset in the decompressed stream.
        offset: u64,
        /// The underlying I/O or decompression error.
        #[source]
        source: std::io::Error,
    },
    /// A sequence line appeared before the first `>` header.
    #[error(
        "{path}:{line}: sequence data before the first '>' header (byte offset {offset}); not a FASTA file?"
    )]
    SequenceBeforeHeader {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Byte offset of the line in the decompressed stream.
        offset: u64,
    },
    /// A `>` header line with no identifier.
    #[error("{path}:{line}: empty FASTA header (byte offset {offset})")]
    EmptyHeader {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Byte offset of the line in the decompressed stream.
        offset: u64,
    },
    /// A header line that is not valid UTF-8.
    #[error("{path}:{line}: header is not valid UTF-8 (byte offset {offset})")]
    InvalidHeader {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Byte offset of the line in the decompressed stream.
        offset: u64,
    },
    /// A sequence line containing a byte that is not a printable ASCII character.
    #[error(
        "{path}:{line}:{column}: invalid byte 0x{byte:02x} in sequence (byte offset {offset}); binary or corrupt file?"
    )]
    InvalidByte {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// 1-based column (byte) in the line.
        column: u64,
        /// Byte offset of the bad byte in the decompressed stream.
        offset: u64,
        /// The offending byte.
        byte: u8,
    },
}

/// Shorthand for results of this module.
pub type Result<T> = std::result::Result<T, FastaError>;

/// One FASTA record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Identifier: the header up to the first whitespace, without the `>`.
    pub id: String,
    /// The rest of the header after the identifier, trimmed (may be empty).
    pub description: String,
    /// The sequence with line breaks and whitespace removed, case preserved.
    pub seq: Vec<u8>,
}

/// Compression format of a stream, detected from its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (also multi-member / bgzip).
    Gzip,
    /// xz.
    Xz,
    /// Zstandard.
    Zstd,
    /// bzip2.
    Bzip2,
}

impl Compression {
    /// Detects the format from the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.len() >= 4 && head.starts_with(b"BZh") && (b'1'..=b'9').contains(&head[3]) {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }
}

/// Wraps `inner` in the right decompressor after sniffing its magic bytes.
///
/// Returns a buffered reader over the decompressed bytes.
pub fn decompress<R: Read + Send + 'static>(inner: R) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut buffered = BufReader::with_capacity(1 << 16, inner);
    let head = buffered.fill_buf()?;
    let out: Box<dyn BufRead + Send> = match Compression::detect(head) {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(buffered),
        )),
        Compression::Xz => Box::new(BufReader::with_capacity(
            1 << 16,
            liblzma::bufread::XzDecoder::new_multi_decoder(buffered),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            1 << 16,
            zstd::stream::read::Decoder::with_buffer(buffered)?,
        )),
        Compression::Bzip2 => Box::new(BufReader::with_capacity(
            1 << 16,
            bzip2::bufread::MultiBzDecoder::new(buffered),
        )),
    };
    Ok(out)
}

/// Opens a file (plain, gzip, xz, zstd or bzip2, by magic bytes) as a buffered reader of
/// its decompressed bytes.
pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).map_err(|source| FastaError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    decompress(file).map_err(|source| FastaError::Read {
        path: path.to_path_buf(),
        line: 1,
        offset: 0,
        source,
    })
}

/// Streaming FASTA reader: an iterator of [`Record`]s.
///
/// After the first error the iterator is fused (returns `None`).
pub struct Reader {
    inner: Box<dyn BufRead + Send>,
    path: PathBuf,
    line: u64,
    offset: u64,
    buf: Vec<u8>,
    /// Header of the record being read (id, description), once seen.
    pending: Option<(String, String)>,
    done: bool,
}

impl Reader {
    /// Opens a FASTA file; compression is detected from its magic bytes.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Reader> {
        let path = path.as_ref();
        let inner = open(path)?;
        Ok(Self::from_bufread(inner, path))
    }

    /// Reads FASTA from any byte source (compression detected); `name` is
    /// used in error messages.
    pub fn new<R: Read + Send + 'static>(inner: R, name: impl AsRef<Path>) -> Result<Reader> {
        let name = name.as_ref();
        let inner = decompress(inner).map_err(|source| FastaError::Read {
            path: name.to_path_buf(),
            line: 1,
            offset: 0,
            source,
        })?;
        Ok(Self::from_bufread(inner, name))
    }

    fn from_bufread(inner: Box<dyn BufRead + Send>, path: &Path) -> Reader {
        Reader {
            inner,
            path: path.to_path_buf(),
            line: 0,
            offset: 0,
            buf: Vec::with_capacity(256),
            pending: None,
            done: false,
        }
    }

    /// The path (or name) this reader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn parse_header(&self, line: &[u8], line_offset: u64) -> Result<(String, String)> {
        let text = std::str::from_utf8(&line[1..]).map_err(|_| FastaError::InvalidHeader {
            path: self.path.clone(),
            line: self.line,
            offset: line_offset,
        })?;
        let text = text.trim();
        let (id, desc) = match text.find(char::is_whitespace) {
            Some(i) => (&text[..i], text[i..].trim()),
            None => (text, ""),
        };
        if id.is_empty() {
            return Err(FastaError::EmptyHeader {
                path: self.path.clone(),
                line: self.line,
                offset: line_offset,
            });
        }
        Ok((id.to_string(), desc.to_string()))
    }

    fn next_record(&mut self) -> Result<Option<Record>> {
        let mut seq: Vec<u8> = Vec::new();
        loop {
            self.buf.clear();
            let line_offset = self.offset;
            let n = self
                .inner
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| FastaError::Read {
                    path: self.path.clone(),
                    line: self.line + 1,
                    offset: self.offset,
                    source,
                })?;
            if n == 0 {
                // End of input: emit the last record, if any.
                return Ok(self.pending.take().map(|(id, description)| Record {
                    id,
                    description,
                    seq,
                }));
            }
            self.line += 1;
            self.offset += n as u64;
            let mut line: &[u8] = &self.buf;
            while let [rest @ .., b'\n' | b'\r'] = line {
                line = rest;
            }
            if line.first() == Some(&b'>') {
                let header = self.parse_header(line, line_offset)?;
                if let Some((id, description)) = self.pending.replace(header) {
                    return Ok(Some(Record {
                        id,
                        description,
                        seq,
                    }));
                }
                continue;
            }
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            if self.pending.is_none() {
                return Err(FastaError::SequenceBeforeHeader {
                    path: self.path.clone(),
                    line: self.line,
                    offset: line_offset,
                });
            }
            for (col, &b) in line.iter().enumerate() {
                if b.is_ascii_graphic() {
                    seq.push(b);
                } else if b == b' ' || b == b'\t' || b == b'\r' {
                    continue;
                } else {
                    return Err(FastaError::InvalidByte {
                        path: self.path.clone(),
                        line: self.line,
                        column: col as u64 + 1,
                        offset: line_offset + col as u64,
                        byte: b,
                    });
                }
            }
        }
    }
}

impl Iterator for Reader {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Iterator over the ACGT runs of a sequence; see [`acgt_segments`].
pub struct AcgtSegments<'a> {
    seq: &'a [u8],
    pos: usize,
    min_len: usize,
    case_insensitive: bool,
}

impl<'a> Iterator for AcgtSegments<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let is_base = |b: u8| match b {
            b'A' | b'C' | b'G' | b'T' => true,
            b'a' | b'c' | b'g' | b't' => self.case_insensitive,
            _ => false,
        };
        while self.pos < self.seq.len() {
            while self.pos < self.seq.len() && !is_base(self.seq[self.pos]) {
                self.pos += 1;
            }
            let start = self.pos;
            while self.pos < self.seq.len() && is_base(self.seq[self.pos]) {
                self.pos += 1;
            }
            if self.pos > start && self.pos - start >= self.min_len {
                return Some(&self.seq[start..self.pos]);
            }
        }
        None
    }
}

/// Splits `seq` at every non-ACGT byte and yields the runs of at least
/// `min_len` bases (`min_len` 0 behaves like 1: runs are never empty).
///
/// With `case_insensitive`, lowercase `acgt` count as bases (the slices keep
/// their case; upper-case them with `to_ascii_uppercase`); otherwise lowercase
/// bases split runs like `N` does.
///
/// ```
/// let segs: Vec<&[u8]> = dna_bpe::fasta::acgt_segments(b"NNACGTnAcGRTT", 2, false).collect();
/// assert_eq!(segs, vec![&b"ACGT"[..], &b"TT"[..]]);
/// ```
pub fn acgt_segments(seq: &[u8], min_len: usize, case_insensitive: bool) -> AcgtSegments<'_> {
    AcgtSegments {
        seq,
        pos: 0,
        min_len,
        case_insensitive,
    }
}

/// The ACGT runs of `seq` (case-insensitive) of at least `min_len` bases,
/// upper-cased: what the BPE trainer and the pretraining corpus builder use
/// as words.
///
/// ```
/// let segs: Vec<Vec<u8>> = dna_bpe::fasta::uppercase_acgt_segments(b"acgtNNAC", 1).collect();
/// assert_eq!(segs, vec![b"ACGT".to_vec(), b"AC".to_vec()]);
/// ```
pub fn uppercase_acgt_segments(seq: &[u8], min_len: usize) -> impl Iterator<Item = Vec<u8>> + '_ {
    acgt_segments(seq, min_len, true).map(|s| s.to_ascii_uppercase())
}

/// Whether a file name has one of the [`FASTA_EXTENSIONS`], optionally
/// followed by a [`COMPRESSED_SUFFIXES`] ending (case-insensitive).
pub fn is_fasta_name(name: &str) -> bool {
    has_extension(name, FASTA_EXTENSIONS)
}

/// Whether a file name ends in `.EXT` or `.EXT` plus a [`COMPRESSED_SUFFIXES`] ending for
/// one of `exts` (case-insensitive).
///
/// ```
/// use dna_bpe::fasta::has_extension;
/// assert!(has_extension("reads.FASTQ.zst", &["fastq", "fq"]));
/// assert!(has_extension("genome.fa.bz2", &["fa"]));
/// assert!(!has_extension("genome.fa.tar", &["fa"]));
/// ```
pub fn has_extension(name: &str, exts: &[&str]) -> bool {
    let lower = name.to_ascii_lowercase();
    let base = COMPRESSED_SUFFIXES
        .iter()
        .find_map(|s| lower.strip_suffix(s))
        .unwrap_or(&lower);
    match base.rsplit_once('.') {
        Some((stem, ext)) => !stem.is_empty() && exts.contains(&ext),
        None => false,
    }
}

/// Expands files and folders into a sorted, de-duplicated list of FASTA files.
///
/// Files given explicitly are kept whatever their name; folders are walked
/// recursively and contribute the files whose names pass [`is_fasta_name`].
/// The result is sorted (by path) so that training is deterministic.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    collect_files_matching(paths, is_fasta_name)
}

/// Like [`collect_files`] with a custom file-name filter for folder contents.
pub fn collect_files_matching(
    paths: &[PathBuf],
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| FastaError::Open {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(path, &keep, &mut out, 0)?;
        } else {
            out.push(path.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(
    dir: &Path,
    keep: &impl Fn(&str) -> bool,
    out: &mut Vec<PathBuf>,
    depth: usize,
) -> Result<()> {
    // Symlink loops would recurse forever; real corpora are never this deep.
    if depth > 64 {
        return Ok(());
    }
    let open_err = |source| FastaError::Open {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(open_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(open_err)?;
    entries.sort();
    for path in entries {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue; // dangling symlink
        };
        if meta.is_dir() {
            walk(&path, keep, out, depth + 1)?;
        } else if path.file_name().and_then(|n| n.to_str()).is_some_and(keep) {
            out.push(path);
        }
    }
    Ok(())
}
