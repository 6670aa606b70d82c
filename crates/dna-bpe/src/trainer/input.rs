//! Reading training corpora: FASTA or plain-text files and folders, streamed
//! and counted in parallel (one file per rayon task).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{TrainError, WordCounts};
use crate::fasta::{self, Reader};

/// How an input file is interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// FASTA if the name has a FASTA extension, text if it ends in `.txt`
    /// (optionally `.gz`/`.xz`), otherwise FASTA when the first non-blank
    /// byte is `>` and text if not.
    Auto,
    /// Always FASTA.
    Fasta,
    /// Always plain text, one sequence per line, `Whitespace` pre-tokenizer.
    Text,
}

/// How input files become words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorpusOptions {
    /// File interpretation.
    pub format: InputFormat,
    /// Upper-case FASTA sequences before splitting (lowercase soft-masked
    /// bases otherwise become split points).
    pub uppercase: bool,
    /// Cut FASTA sequences at non-ACGT runs, each ACGT run being one word;
    /// otherwise the whole sequence is one word.
    pub split_non_acgt: bool,
    /// Drop ACGT runs shorter than this (FASTA only; 0 or 1 keeps all).
    pub min_segment_len: usize,
}

impl Default for CorpusOptions {
    fn default() -> Self {
        CorpusOptions {
            format: InputFormat::Auto,
            uppercase: true,
            split_non_acgt: true,
            min_segment_len: 1,
        }
    }
}

/// File names kept from folders: FASTA, and `.txt` in text/auto mode.
fn wanted(name: &str, format: InputFormat) -> bool {
    match format {
        InputFormat::Fasta => fasta::is_fasta_name(name),
        InputFormat::Text | InputFormat::Auto => {
            fasta::is_fasta_name(name) || fasta::has_extension(name, &["txt"])
        }
    }
}

impl WordCounts {
    /// Counts the words of files and folders (recursive, sorted; see
    /// [`fasta::collect_files`]), one file per rayon task. With `progress`, an
    /// indicatif bar counts files on stderr.
    pub fn from_paths(
        paths: &[PathBuf],
        options: &CorpusOptions,
        progress: bool,
    ) -> Result<WordCounts, TrainError> {
        let files = fasta::collect_files_matching(paths, |n| wanted(n, options.format))?;
        if files.is_empty() {
            return Err(TrainError::NoInput(paths.to_vec()));
        }
        let bar = crate::progress::Bar::new(
            files.len() as u64,
            "[{elapsed_precise}] count words {wide_bar} {pos}/{len} files {msg}",
            progress,
        );
        let result = files
            .par_iter()
            .map(|path| {
                let mut words = WordCounts::new();
                words.add_file(path, options)?;
                bar.inc(1);
                Ok(words)
            })
            .try_reduce(WordCounts::new, |mut a, b| {
                a.merge(b);
                Ok(a)
            });
        bar.finish_and_clear();
        result
    }

    /// Counts the words of one file (plain, `.gz` or `.xz`).
    pub fn add_file(&mut self, path: &Path, options: &CorpusOptions) -> Result<(), TrainError> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_fasta = match options.format {
            InputFormat::Fasta => true,
            InputFormat::Text => false,
            InputFormat::Auto if fasta::is_fasta_name(name) => true,
            InputFormat::Auto if fasta::has_extension(name, &["txt"]) => false,
            InputFormat::Auto => {
                let mut reader = fasta::open(path)?;
                let head = reader
                    .fill_buf()
                    .map_err(|source| fasta::FastaError::Read {
                        path: path.to_path_buf(),
                        line: 1,
                        offset: 0,
                        source,
                    })?;
                head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'>')
            }
        };
        if is_fasta {
            for record in Reader::from_path(path)? {
                self.add_sequence(&record?.seq, options);
            }
            Ok(())
        } else {
            self.add_text_reader(fasta::open(path)?, path)
        }
    }

    /// Counts the words of a plain-text stream, one line at a time.
    pub fn add_text_reader(
        &mut self,
        mut reader: impl BufRead,
        path: &Path,
    ) -> Result<(), TrainError> {
        let mut buf = Vec::new();
        let mut line = 0u64;
        let mut offset = 0u64;
        loop {
            buf.clear();
            let n =
                reader
                    .read_until(b'\n', &mut buf)
                    .map_err(|source| fasta::FastaError::Read {
                        path: path.to_path_buf(),
                        line: line + 1,
                        offset,
                        source,
                    })?;
            if n == 0 {
                return Ok(());
            }
            line += 1;
            offset += n as u64;
            let text = std::str::from_utf8(&buf).map_err(|_| TrainError::InvalidUtf8 {
                path: path.to_path_buf(),
                line,
            })?;
            self.add_text(text);
        }
    }
}
