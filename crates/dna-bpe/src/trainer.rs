//! Genome-scale BPE trainer, merge-for-merge identical to Hugging Face
//! `tokenizers`' `BpeTrainer` with the DNABERT-2 recipe.
//!
//! Training has two stages:
//!
//! 1. **Word counting** ([`WordCounts`]): FASTA or plain-text files are
//!    streamed (plain, `.gz`, `.xz`) and cut into words, which are counted in a
//!    hash map. FASTA sequences are upper-cased and split at non-ACGT runs (each
//!    ACGT run is one word); text lines go through the `Whitespace`
//!    pre-tokenizer (`\w+|[^\w\s]+`) exactly like HF.
//! 2. **Merging** ([`train`]): the unique words are laid out in one symbol
//!    arena, every pair keeps a list of its occurrences, and a merge touches
//!    only the occurrences of the merged pair. This removes the quadratic
//!    behaviour of HF on long words (tokenizers issue #1313) while replaying
//!    HF's exact bookkeeping (see `trainer/merge.rs`), so on every corpus HF
//!    finishes the vocabulary and merges are identical.
//!
//! ```
//! use dna_bpe::trainer::{train, TrainerConfig, WordCounts};
//!
//! let mut words = WordCounts::new();
//! for line in ["ACGTACGT ACGA", "TTACGTAA"] {
//!     words.add_text(line);
//! }
//! let config = TrainerConfig { vocab_size: 12, ..TrainerConfig::default() };
//! let bpe = train(&words, &config).unwrap();
//! assert_eq!(&bpe.vocab[..9], ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "A", "C", "G", "T"]);
//! assert_eq!(bpe.merges[0], ("A".to_string(), "C".to_string()));
//! assert_eq!(bpe.vocab.len(), 12);
//! ```

mod arena;
mod input;
mod merge;
mod words;
mod wordset;

use std::path::{Path, PathBuf};

pub use input::{CorpusOptions, InputFormat};
pub use words::WordCounts;

/// The special tokens of the DNABERT-2 recipe, in id order.
pub const DEFAULT_SPECIAL_TOKENS: [&str; 5] = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"];

/// Options of the merge stage (the HF `BpeTrainer` options DNABERT-2 uses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainerConfig {
    /// Target vocabulary size, special tokens and alphabet included.
    pub vocab_size: usize,
    /// A pair must occur at least this often (weighted by word counts) to be merged.
    pub min_frequency: u64,
    /// Special tokens; they get the first ids, in this order (duplicates dropped).
    pub special_tokens: Vec<String>,
    /// Longest token (in characters) a merge may create; `None` is unlimited.
    /// Same rule as HF: a pair is only counted when the sum of its lengths is below this.
    pub max_token_length: Option<usize>,
    /// Show an indicatif progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub show_progress: bool,
}

impl Default for TrainerConfig {
    /// The DNABERT-2 recipe: vocab 4096, the five BERT specials, no minimum
    /// frequency, unlimited token length, no progress bar.
    fn default() -> Self {
        TrainerConfig {
            vocab_size: 4096,
            min_frequency: 0,
            special_tokens: DEFAULT_SPECIAL_TOKENS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            max_token_length: None,
            show_progress: false,
        }
    }
}

/// Errors of the trainer.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading a FASTA file failed (the inner error names file and line).
    #[error(transparent)]
    Fasta(#[from] crate::fasta::FastaError),
    /// A plain-text corpus line is not valid UTF-8.
    #[error("{path}:{line}: text line is not valid UTF-8")]
    InvalidUtf8 {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
    },
    /// No input file was found under the given paths.
    #[error("no input files found under {0:?}")]
    NoInput(Vec<PathBuf>),
    /// The unique words hold more characters than the 32-bit symbol arena can
    /// address (about 4.2e9 in all, 2.1e9 in one word).
    #[error("corpus too large: {0} characters (limits: 4.2e9 in unique words, 2.1e9 in one word)")]
    CorpusTooLarge(u64),
    /// Converting the result into a [`crate::Tokenizer`] or writing it failed.
    #[error(transparent)]
    Tokenizer(#[from] crate::Error),
}

/// Result of training: an id-ordered vocabulary and rank-ordered merges, the
/// parts of a BPE `tokenizer.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainedBpe {
    /// Token strings, indexed by id: special tokens, the alphabet sorted by
    /// code point, then merged tokens in creation order.
    pub vocab: Vec<String>,
    /// Merges in rank order (HF keeps the last rank of a pair merged twice).
    pub merges: Vec<(String, String)>,
    /// The special tokens trained with (written as HF added tokens).
    pub special_tokens: Vec<String>,
    /// Figures about the run.
    pub stats: TrainStats,
}

/// Figures about a training run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrainStats {
    /// Number of unique words.
    pub unique_words: usize,
    /// Characters (bases) in the corpus, counting repeated words every time.
    pub corpus_chars: u64,
    /// Merge steps performed, including repeated merges of the same pair.
    pub merge_steps: usize,
    /// Symbols left in the corpus (repeated words counted every time) after
    /// the training merges: `corpus_chars / corpus_symbols` is the training
    /// compression in characters per token.
    pub corpus_symbols: u64,
}

impl TrainedBpe {
    /// Builds a [`crate::Tokenizer`] with the DNABERT-2 recipe (HF format)
    /// from this vocabulary and these merges.
    pub fn to_tokenizer(&self) -> Result<crate::Tokenizer, TrainError> {
        Ok(crate::Tokenizer::from_bpe_parts(
            self.vocab.clone(),
            self.merges.clone(),
        )?)
    }

    /// The HF-format `tokenizer.json` text. The DNABERT-2 recipe's
    /// specials get their usual roles; any other special token is added to
    /// `added_tokens` (special, not normalized) so both libraries keep it whole.
    pub fn to_json_string(&self) -> Result<String, TrainError> {
        let json = self.to_tokenizer()?.to_json_string()?;
        let extra: Vec<(usize, &String)> = self
            .special_tokens
            .iter()
            .filter(|s| !crate::DNABERT2_SPECIALS.contains(&s.as_str()))
            .filter_map(|s| Some((self.vocab.iter().position(|v| v == s)?, s)))
            .collect();
        if extra.is_empty() {
            return Ok(json);
        }
        let bad = |e: serde_json::Error| crate::Error::Invalid(format!("tokenizer JSON: {e}"));
        let mut value: serde_json::Value = serde_json::from_str(&json).map_err(bad)?;
        if let Some(added) = value.get_mut("added_tokens").and_then(|a| a.as_array_mut()) {
            for (id, content) in extra {
                added.push(serde_json::json!({
                    "id": id, "content": content, "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false, "special": true
                }));
            }
            added.sort_by_key(|t| t["id"].as_u64());
        }
        Ok(serde_json::to_string_pretty(&value).map_err(bad)?)
    }

    /// Writes the HF-format `tokenizer.json` (atomically, [`crate::atomic`]).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), TrainError> {
        let path = path.as_ref();
        let json = self.to_json_string()?;
        let io = |source| {
            TrainError::Tokenizer(crate::Error::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        crate::atomic::write(path, json.as_bytes()).map_err(io)
    }
}

/// Trains a BPE model on counted words, replicating HF `BpeTrainer::do_train`.
pub fn train(words: &WordCounts, config: &TrainerConfig) -> Result<TrainedBpe, TrainError> {
    merge::train(merge::Input::Borrowed(words), config)
}

/// Like [`train`], but consumes the counts and frees them as soon as the
/// words are laid out in the arena (lower peak memory on genome-scale corpora).
pub fn train_owned(words: WordCounts, config: &TrainerConfig) -> Result<TrainedBpe, TrainError> {
    merge::train(merge::Input::Owned(words), config)
}

/// Counts the words of files and folders (see [`WordCounts::from_paths`]) and trains on them.
pub fn train_from_paths(
    paths: &[PathBuf],
    corpus: &CorpusOptions,
    config: &TrainerConfig,
) -> Result<TrainedBpe, TrainError> {
    let words = WordCounts::from_paths(paths, corpus, config.show_progress)?;
    train_owned(words, config)
}
