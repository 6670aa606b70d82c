//! Random access to an uncompressed FASTA file through its `samtools faidx` index
//! (`genome.fa.fai`), so a 3 Gbp genome is read a window at a time instead of whole.
//!
//! Each `.fai` line is `NAME  LENGTH  OFFSET  LINEBASES  LINEWIDTH` (tab-separated):
//! the contig's length in bases, the byte offset of its first base, bases per full line
//! and bytes per full line (with the line ending). [`write_index`] writes the same index.
//!
//! ```
//! use dna_bpe::faidx::{IndexedFasta, write_index};
//! let dir = tempfile::tempdir().unwrap();
//! let fa = dir.path().join("g.fa");
//! std::fs::write(&fa, ">chr1 desc\nACGTA\nCGTAC\nGG\n>chr2\nTTTT\n").unwrap();
//! write_index(&fa).unwrap();
//! assert_eq!(std::fs::read_to_string(dir.path().join("g.fa.fai")).unwrap(),
//!            "chr1\t12\t11\t5\t6\nchr2\t4\t32\t4\t5\n");
//! let mut g = IndexedFasta::open(&fa).unwrap().unwrap();
//! assert_eq!(g.len("chr1"), Some(12));
//! assert_eq!(g.fetch("chr1", 3, 11).unwrap(), b"TACGTACG");
//! assert!(g.fetch("chr1", 10, 13).is_err()); // past the end
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Errors of indexed FASTA access; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum FaidxError {
    /// Reading the FASTA or its index failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A malformed `.fai` line.
    #[error("{path}:{line}: {message}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A region outside the contig, or an unknown contig.
    #[error("{path}: {message}")]
    Region {
        /// The FASTA file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

type Result<T> = std::result::Result<T, FaidxError>;

#[derive(Debug, Clone)]
struct Entry {
    len: u64,
    offset: u64,
    line_bases: u64,
    line_width: u64,
}

/// An uncompressed FASTA opened with its `.fai` index.
#[derive(Debug)]
pub struct IndexedFasta {
    path: PathBuf,
    file: File,
    index: HashMap<String, Entry>,
}

fn fai_path(fasta: &Path) -> PathBuf {
    let mut s = fasta.as_os_str().to_owned();
    s.push(".fai");
    PathBuf::from(s)
}

impl IndexedFasta {
    /// Opens `fasta` with `fasta.fai`; `Ok(None)` when there is no index or the FASTA is
    /// compressed (its `.fai` offsets would be into the decompressed text).
    pub fn open(fasta: &Path) -> Result<Option<Self>> {
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| FaidxError::Io { path: p, source }
        };
        let fai = fai_path(fasta);
        if !fai.is_file() {
            return Ok(None);
        }
        let mut file = File::open(fasta).map_err(io(fasta))?;
        let mut head = [0u8; 6];
        let n = file.read(&mut head).map_err(io(fasta))?;
        if crate::fasta::Compression::detect(&head[..n]) != crate::fasta::Compression::None {
            log::info!(
                "{} is compressed: its .fai cannot be used for random access; reading it whole",
                fasta.display()
            );
            return Ok(None);
        }
        let mut index = HashMap::new();
        let text = std::fs::read_to_string(&fai).map_err(io(&fai))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let bad = |m: &str| FaidxError::Index {
                path: fai.clone(),
                line: i + 1,
                message: m.to_string(),
            };
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 5 {
                return Err(bad("expected NAME LENGTH OFFSET LINEBASES LINEWIDTH"));
            }
            let num = |k: usize| f[k].trim().parse::<u64>().map_err(|_| bad("not a number"));
            let e = Entry {
                len: num(1)?,
                offset: num(2)?,
                line_bases: num(3)?,
                line_width: num(4)?,
            };
            if e.line_bases == 0 || e.line_width < e.line_bases {
                return Err(bad("LINEBASES must be >= 1 and <= LINEWIDTH"));
            }
            index.insert(f[0].to_string(), e);
        }
        Ok(Some(Self {
            path: fasta.to_path_buf(),
            file,
            index,
        }))
    }

    /// Length of contig `name` in bases.
    pub fn len(&self, name: &str) -> Option<u64> {
        self.index.get(name).map(|e| e.len)
    }

    /// Whether the index lists no contig.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Bases `[start, end)` (0-based) of contig `name`, as written (case kept).
    pub fn fetch(&mut self, name: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        let region = |m: String| FaidxError::Region {
            path: self.path.clone(),
            message: m,
        };
        let e = self
            .index
            .get(name)
            .ok_or_else(|| region(format!("contig `{name}` is not in the index")))?
            .clone();
        if start > end || end > e.len {
            return Err(region(format!(
                "{name}:{start}-{end} is outside the contig ({} bases)",
                e.len
            )));
        }
        let byte = |pos: u64| e.offset + pos / e.line_bases * e.line_width + pos % e.line_bases;
        let (a, b) = (byte(start), byte(end));
        let mut raw = vec![0u8; (b - a) as usize];
        let io = |source| FaidxError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.seek(SeekFrom::Start(a)).map_err(io)?;
        self.file.read_exact(&mut raw).map_err(io)?;
        raw.retain(|c| !c.is_ascii_whitespace());
        if raw.len() as u64 != end - start {
            return Err(region(format!(
                "{name}:{start}-{end}: read {} bases; the .fai does not match the file",
                raw.len()
            )));
        }
        Ok(raw)
    }
}

/// Writes `fasta.fai` for an uncompressed FASTA whose records have lines of equal width
/// (except the last line of each record), as `samtools faidx` does.
pub fn write_index(fasta: &Path) -> Result<()> {
    let io = |source| FaidxError::Io {
        path: fasta.to_path_buf(),
        source,
    };
    let mut reader = BufReader::new(File::open(fasta).map_err(io)?);
    let mut out = String::new();
    // (name, len, offset, line_bases, line_width, saw a short line)
    let mut cur: Option<(String, u64, u64, u64, u64, bool)> = None;
    let (mut pos, mut line_no) = (0u64, 0usize);
    let mut line = Vec::new();
    let flush = |cur: &mut Option<(String, u64, u64, u64, u64, bool)>, out: &mut String| {
        if let Some((n, l, o, lb, lw, _)) = cur.take() {
            out.push_str(&format!("{n}\t{l}\t{o}\t{lb}\t{lw}\n"));
        }
    };
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(io)? as u64;
        if read == 0 {
            break;
        }
        line_no += 1;
        if line.first() == Some(&b'>') {
            flush(&mut cur, &mut out);
            let name = String::from_utf8_lossy(&line[1..])
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            cur = Some((name, 0, pos + read, 0, 0, false));
        } else if let Some(c) = cur.as_mut() {
            let bases = line.iter().filter(|b| !b.is_ascii_whitespace()).count() as u64;
            if bases > 0 {
                if c.5 || (c.3 > 0 && (bases > c.3 || read != c.4 && bases == c.3)) {
                    return Err(FaidxError::Index {
                        path: fasta.to_path_buf(),
                        line: line_no,
                        message: format!("record `{}` has lines of different widths", c.0),
                    });
                }
                if c.3 == 0 {
                    (c.3, c.4) = (bases, read);
                } else if bases < c.3 {
                    c.5 = true;
                }
                c.1 += bases;
            }
        }
        pos += read;
    }
    flush(&mut cur, &mut out);
    crate::atomic::write(&fai_path(fasta), out.as_bytes()).map_err(io)
}
