//! # dna-bpe
//!
//! DNABERT-2's byte-pair-encoding tokenizer, bit-identical to Hugging Face
//! `tokenizers` on the released `tokenizer.json`, and a BPE trainer that works at
//! genome scale. This crate has no burn dependency.
//!
//! Encoder side: [`Tokenizer`] loads/saves HF `tokenizer.json` (BPE kind), encodes
//! single sequences, pairs and parallel batches with offsets, truncation and
//! padding, and decodes. [`Tokenizer::dnabert2`] is the released DNABERT-2
//! tokenizer, embedded. Training side: [`fasta`] and [`trainer`].
//!
//! ```
//! let tok = dna_bpe::Tokenizer::dnabert2();
//! let enc = tok.encode("ACGTN").unwrap();
//! assert_eq!(enc.ids(), &[1, 5, 6, 1049, 0, 2]);
//! assert_eq!(tok.tokens(&enc), ["[CLS]", "A", "C", "GT", "[UNK]", "[SEP]"]);
//! ```
//!
//! ## Differences from upstream you can opt into
//! Upstream turns every lowercase (soft-masked) base and every `N` into `[UNK]`.
//! [`DnaNormalization`] (off by default) uppercases and collapses ambiguous runs;
//! see its docs.

mod added;
mod bpe;
mod encoding;
mod error;
mod json;
mod merge;
mod normalize;
mod post;
mod pretok;
mod tokenizer;

pub mod atomic;
pub mod faidx;
pub mod fasta;
pub mod progress;
pub mod seq;
pub mod trainer;

/// Runs the code blocks of the crate README as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use added::AddedToken;
pub use encoding::{Direction, Encoding, Padding, PaddingStrategy, Truncation, TruncationStrategy};
pub use error::{Error, Result};
pub use normalize::{AmbiguityPolicy, DnaNormalization};
pub use pretok::PreTokenizer;
pub use tokenizer::{DNABERT2_SPECIALS, Tokenizer};
pub use trainer::{CorpusOptions, TrainError, TrainedBpe, TrainerConfig, WordCounts};
