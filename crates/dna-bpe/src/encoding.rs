//! The result of encoding one input ([`Encoding`]) and the truncation and
//! padding settings applied to it.

use crate::error::{Error, Result};

/// Token ids and their companions for one input (one sequence or one pair).
///
/// All vectors have the same length. Offsets are byte spans into the input
/// string the token came from (the first or the second sequence of a pair):
/// for DNA, a byte is a base, so `offsets[i]` is the base-pair span of token
/// `i`. Special tokens and padding get `(0, 0)`, as in Hugging Face `tokenizers`.
///
/// ```
/// let tok = dna_bpe::Tokenizer::dnabert2();
/// let enc = tok.encode("ACGTN").unwrap();
/// assert_eq!(enc.ids(), &[1, 5, 6, 1049, 0, 2]);
/// assert_eq!(enc.offsets(), &[(0, 0), (0, 1), (1, 2), (2, 4), (4, 5), (0, 0)]);
/// assert_eq!(enc.special_tokens_mask(), &[1, 0, 0, 0, 0, 1]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoding {
    pub(crate) ids: Vec<u32>,
    pub(crate) type_ids: Vec<u32>,
    pub(crate) offsets: Vec<(usize, usize)>,
    pub(crate) special_tokens_mask: Vec<u32>,
    pub(crate) attention_mask: Vec<u32>,
}

impl Encoding {
    /// Token ids.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
    /// Token type (segment) ids: 0 for the first sequence, 1 for the second of a pair.
    pub fn type_ids(&self) -> &[u32] {
        &self.type_ids
    }
    /// Byte span `(start, end)` of each token in its input string; `(0, 0)` for specials and padding.
    pub fn offsets(&self) -> &[(usize, usize)] {
        &self.offsets
    }
    /// 1 for tokens added by the post-processor or by padding, 0 for tokens of the input.
    pub fn special_tokens_mask(&self) -> &[u32] {
        &self.special_tokens_mask
    }
    /// 1 for real tokens, 0 for padding.
    pub fn attention_mask(&self) -> &[u32] {
        &self.attention_mask
    }
    /// Number of tokens (padding included).
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    /// True when there are no tokens at all.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    /// Consumes the encoding, keeping only the ids.
    pub fn into_ids(self) -> Vec<u32> {
        self.ids
    }

    /// Appends one token.
    #[inline]
    pub(crate) fn push(&mut self, id: u32, type_id: u32, offsets: (usize, usize), special: bool) {
        self.ids.push(id);
        self.type_ids.push(type_id);
        self.offsets.push(offsets);
        self.special_tokens_mask.push(u32::from(special));
        self.attention_mask.push(1);
    }

    /// Appends all tokens of `other`.
    pub(crate) fn extend(&mut self, other: &Encoding) {
        self.ids.extend_from_slice(&other.ids);
        self.type_ids.extend_from_slice(&other.type_ids);
        self.offsets.extend_from_slice(&other.offsets);
        self.special_tokens_mask
            .extend_from_slice(&other.special_tokens_mask);
        self.attention_mask.extend_from_slice(&other.attention_mask);
    }

    /// Keeps at most `max_len` tokens, dropping from the end (`Right`) or the start (`Left`).
    pub(crate) fn truncate(&mut self, max_len: usize, direction: Direction) {
        let n = self.ids.len();
        if max_len >= n {
            return;
        }
        fn cut<T>(v: &mut Vec<T>, max_len: usize, direction: Direction) {
            match direction {
                Direction::Right => v.truncate(max_len),
                Direction::Left => {
                    let n = v.len();
                    v.drain(..n - max_len);
                }
            }
        }
        cut(&mut self.ids, max_len, direction);
        cut(&mut self.type_ids, max_len, direction);
        cut(&mut self.offsets, max_len, direction);
        cut(&mut self.special_tokens_mask, max_len, direction);
        cut(&mut self.attention_mask, max_len, direction);
    }

    /// Pads up to `target` tokens.
    pub(crate) fn pad(
        &mut self,
        target: usize,
        pad_id: u32,
        pad_type_id: u32,
        direction: Direction,
    ) {
        let n = self.ids.len();
        if n >= target {
            return;
        }
        let k = target - n;
        fn grow<T: Clone>(v: &mut Vec<T>, k: usize, value: T, direction: Direction) {
            match direction {
                Direction::Right => v.extend(std::iter::repeat_n(value, k)),
                Direction::Left => {
                    v.splice(0..0, std::iter::repeat_n(value, k));
                }
            }
        }
        grow(&mut self.ids, k, pad_id, direction);
        grow(&mut self.type_ids, k, pad_type_id, direction);
        grow(&mut self.offsets, k, (0, 0), direction);
        grow(&mut self.special_tokens_mask, k, 1, direction);
        grow(&mut self.attention_mask, k, 0, direction);
    }
}

/// Which end truncation cuts and padding fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// Cut / pad at the start.
    Left,
    /// Cut / pad at the end (the default, as in DNABERT-2).
    #[default]
    Right,
}

/// How a pair is shortened when it is too long.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TruncationStrategy {
    /// Shorten the longer sequence first, then both evenly (HF `LongestFirst`).
    #[default]
    LongestFirst,
    /// Shorten only the first sequence.
    OnlyFirst,
    /// Shorten only the second sequence.
    OnlySecond,
}

/// Truncation settings (HF `TruncationParams`).
///
/// `max_length` counts the special tokens the post-processor adds, so with
/// DNABERT-2's template a single sequence keeps `max_length - 2` BPE tokens.
/// Overflowing tokens are discarded (no overflow windows are produced); `stride`
/// is kept only so that saved files round-trip and must be below the budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// Maximum number of tokens, specials included.
    pub max_length: usize,
    /// How pairs are shortened.
    pub strategy: TruncationStrategy,
    /// Which end is cut.
    pub direction: Direction,
    /// HF overflow stride (must be smaller than the per-input budget; no overflow is returned).
    pub stride: usize,
}

impl Truncation {
    /// Right truncation to `max_length` tokens with the `LongestFirst` strategy.
    pub fn new(max_length: usize) -> Self {
        Truncation {
            max_length,
            strategy: TruncationStrategy::LongestFirst,
            direction: Direction::Right,
            stride: 0,
        }
    }
}

/// How long padded encodings become.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PaddingStrategy {
    /// Pad to the longest encoding of the batch.
    #[default]
    BatchLongest,
    /// Pad to exactly this many tokens (longer encodings are left alone).
    Fixed(usize),
}

/// Padding settings (HF `PaddingParams`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Padding {
    /// Target length.
    pub strategy: PaddingStrategy,
    /// Which end receives the pads.
    pub direction: Direction,
    /// Round the target length up to a multiple of this.
    pub pad_to_multiple_of: Option<usize>,
    /// Id of the pad token (`[PAD]` = 3 for DNABERT-2).
    pub pad_id: u32,
    /// Type id given to pads.
    pub pad_type_id: u32,
    /// The pad token string.
    pub pad_token: String,
}

impl Default for Padding {
    /// Batch-longest right padding with DNABERT-2's `[PAD]` = 3.
    fn default() -> Self {
        Padding {
            strategy: PaddingStrategy::BatchLongest,
            direction: Direction::Right,
            pad_to_multiple_of: None,
            pad_id: 3,
            pad_type_id: 0,
            pad_token: "[PAD]".to_string(),
        }
    }
}

// Long by design: HF's truncation strategies (longest-first, only-first/second, stride) as
// one match, mirroring tokenizers' own function.
/// Truncates `a` (and `b`) to `max_length` tokens in total, exactly like HF `truncate_encodings`.
pub(crate) fn truncate_encodings(
    a: &mut Encoding,
    b: Option<&mut Encoding>,
    max_length: usize,
    params: &Truncation,
) -> Result<()> {
    if max_length == 0 {
        a.truncate(0, params.direction);
        if let Some(b) = b {
            b.truncate(0, params.direction);
        }
        return Ok(());
    }
    let total = a.len() + b.as_ref().map_or(0, |b| b.len());
    if total <= max_length {
        return Ok(());
    }
    let to_remove = total - max_length;
    let check_stride = |n: usize| {
        if params.stride >= n && n > 0 {
            Err(Error::Truncation(format!(
                "stride {} must be smaller than the truncated length {n}",
                params.stride
            )))
        } else {
            Ok(())
        }
    };
    match params.strategy {
        TruncationStrategy::LongestFirst => match b {
            Some(b) => {
                let (mut n1, mut n2) = (a.len(), b.len());
                let swap = n1 > n2;
                if swap {
                    std::mem::swap(&mut n1, &mut n2);
                }
                if n1 > max_length {
                    n2 = n1;
                } else {
                    n2 = std::cmp::max(n1, max_length - n1);
                }
                if n1 + n2 > max_length {
                    n1 = max_length / 2;
                    n2 = n1 + max_length % 2;
                }
                if swap {
                    std::mem::swap(&mut n1, &mut n2);
                }
                if n1 < a.len() {
                    check_stride(n1)?;
                }
                if n2 < b.len() {
                    check_stride(n2)?;
                }
                a.truncate(n1, params.direction);
                b.truncate(n2, params.direction);
            }
            None => {
                check_stride(max_length)?;
                a.truncate(max_length, params.direction);
            }
        },
        TruncationStrategy::OnlyFirst | TruncationStrategy::OnlySecond => {
            let target = if params.strategy == TruncationStrategy::OnlyFirst {
                a
            } else {
                b.ok_or_else(|| {
                    Error::Truncation("OnlySecond truncation needs a pair of sequences".into())
                })?
            };
            let n = target.len();
            if n > to_remove {
                check_stride(n - to_remove)?;
                target.truncate(n - to_remove, params.direction);
            } else {
                return Err(Error::Truncation(format!(
                    "the sequence to truncate has {n} tokens but {to_remove} must be removed"
                )));
            }
        }
    }
    Ok(())
}

/// Pads every encoding of a batch, exactly like HF `pad_encodings`.
pub(crate) fn pad_encodings(encodings: &mut [Encoding], params: &Padding) {
    if encodings.is_empty() {
        return;
    }
    let mut target = match params.strategy {
        PaddingStrategy::Fixed(n) => n,
        PaddingStrategy::BatchLongest => encodings.iter().map(Encoding::len).max().unwrap_or(0),
    };
    if let Some(m) = params.pad_to_multiple_of
        && m > 0
        && target % m > 0
    {
        target += m - target % m;
    }
    for e in encodings {
        e.pad(target, params.pad_id, params.pad_type_id, params.direction);
    }
}
