//! [`Tokenizer`]: load, encode, decode, save.

use crate::added::{AddedToken, AddedVocab, Piece};
use crate::bpe::Bpe;
use crate::encoding::{Encoding, Padding, Truncation, pad_encodings, truncate_encodings};
use crate::error::{Error, Result};
use crate::json;
use crate::merge::Scratch;
use crate::normalize::{AmbiguityPolicy, DnaNormalization, is_ambiguous};
use crate::post::PostProcessor;
use crate::pretok::PreTokenizer;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::borrow::Cow;
use std::cell::RefCell;
use std::path::Path;

/// The released DNABERT-2-117M `tokenizer.json`, embedded in the crate.
const DNABERT2_JSON: &str = include_str!("../data/dnabert2-117m-tokenizer.json");

/// The DNABERT-2 special tokens, in id order of the released tokenizer.
pub const DNABERT2_SPECIALS: [&str; 5] = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"];

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A BPE tokenizer that reads and writes Hugging Face `tokenizer.json` files and
/// encodes exactly like Hugging Face `tokenizers` (ids, type ids, offsets,
/// truncation, padding) for the DNABERT-2 recipe: Whitespace pre-tokenizer,
/// rank-ordered BPE merges, one `[UNK]` per unknown character, added special
/// tokens matched literally in the input, and a `[CLS] $A [SEP]` template.
///
/// ```
/// use dna_bpe::Tokenizer;
/// let tok = Tokenizer::dnabert2();
/// let enc = tok.encode("ACGTAGCATCGGATCTATCTATCGACACTTGGTTATCGATCTACGAGCATCTCGTTAGC").unwrap();
/// assert_eq!(
///     enc.ids(),
///     &[1, 5, 194, 32, 757, 1239, 2092, 294, 24, 359, 88, 93, 32, 75, 77, 19, 2]
/// );
/// assert_eq!(tok.decode(&enc.ids()[..4], false), "[CLS] A CGTA GCA");
/// ```
#[derive(Clone, Debug)]
pub struct Tokenizer {
    model: Bpe,
    added: AddedVocab,
    pre_tokenizer: PreTokenizer,
    post: Option<PostProcessor>,
    truncation: Option<Truncation>,
    padding: Option<Padding>,
    normalization: DnaNormalization,
    decoder: Value,
}

impl std::str::FromStr for Tokenizer {
    type Err = Error;
    /// Same as [`Tokenizer::from_json_str`].
    fn from_str(s: &str) -> Result<Self> {
        Tokenizer::from_json_str(s)
    }
}

impl Tokenizer {
    /// The released DNABERT-2-117M tokenizer (embedded; no file needed).
    ///
    /// ```
    /// let tok = dna_bpe::Tokenizer::dnabert2();
    /// assert_eq!(tok.vocab_size(), 4096);
    /// assert_eq!(tok.encode("ACGT").unwrap().ids(), &[1, 5, 6, 1049, 2]);
    /// ```
    pub fn dnabert2() -> Tokenizer {
        // Parsed once per process; the embedded file is covered by the crate's tests,
        // so this cannot fail at run time.
        static EMBEDDED: std::sync::LazyLock<Tokenizer> = std::sync::LazyLock::new(|| {
            Tokenizer::from_parts(
                json::parse(DNABERT2_JSON, "<embedded dnabert2-117m tokenizer.json>")
                    .expect("embedded DNABERT-2 tokenizer.json parses"),
            )
            .expect("embedded DNABERT-2 tokenizer.json is consistent")
        });
        EMBEDDED.clone()
    }

    /// Loads a Hugging Face `tokenizer.json` (BPE model) from a file.
    ///
    /// Errors name the file, and for malformed JSON the line and column.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Tokenizer> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_parts(json::parse(&text, &path.display().to_string())?)
    }

    /// Loads a Hugging Face `tokenizer.json` (BPE model) from a string.
    ///
    /// ```
    /// let err = dna_bpe::Tokenizer::from_json_str("{\n  \"model\": [").unwrap_err();
    /// assert!(err.to_string().starts_with("<string>:2:"), "{err}");
    /// ```
    pub fn from_json_str(json: &str) -> Result<Tokenizer> {
        Self::from_parts(json::parse(json, "<string>")?)
    }

    /// Builds a tokenizer with the DNABERT-2 recipe from a trained vocabulary and merges.
    ///
    /// * `vocab`: token strings in id order (token `i` gets id `i`).
    /// * `merges`: `(left, right)` pairs in rank order; `left + right` must be in `vocab`.
    ///
    /// Whichever of `[UNK] [CLS] [SEP] [PAD] [MASK]` are in `vocab` become added special
    /// tokens; `[UNK]` (when present) is the unknown token; the pre-tokenizer is
    /// `Whitespace`; when both `[CLS]` and `[SEP]` exist the post-processor is the
    /// template `[CLS] $A [SEP]` / `[CLS] $A [SEP] $B:1 [SEP]:1`.
    ///
    /// ```
    /// use dna_bpe::Tokenizer;
    /// let vocab = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "A", "C", "G", "T", "AC", "ACG"];
    /// let vocab: Vec<String> = vocab.iter().map(|s| s.to_string()).collect();
    /// let merges = vec![("A".to_string(), "C".to_string()), ("AC".to_string(), "G".to_string())];
    /// let tok = Tokenizer::from_bpe_parts(vocab, merges).unwrap();
    /// assert_eq!(tok.encode("ACGTN").unwrap().ids(), &[1, 10, 8, 0, 2]);
    /// ```
    pub fn from_bpe_parts(vocab: Vec<String>, merges: Vec<(String, String)>) -> Result<Tokenizer> {
        let n = u32::try_from(vocab.len())
            .map_err(|_| Error::Invalid("vocabulary larger than u32::MAX".into()))?;
        let mut map = FxHashMap::default();
        map.reserve(vocab.len());
        for (id, token) in (0..n).zip(vocab) {
            if let Some(old) = map.insert(token, id) {
                return Err(Error::Invalid(format!(
                    "token with ids {old} and {id} appears twice in the vocabulary"
                )));
            }
        }
        let added: Vec<AddedToken> = DNABERT2_SPECIALS
            .iter()
            .filter_map(|s| {
                map.get(*s).map(|&id| AddedToken {
                    id,
                    content: s.to_string(),
                    special: true,
                    normalized: false,
                })
            })
            .collect();
        let unk_token = map.contains_key("[UNK]").then(|| "[UNK]".to_string());
        let post = match (map.get("[CLS]"), map.get("[SEP]")) {
            (Some(&cls), Some(&sep)) => Some(PostProcessor::bert(
                ("[CLS]".to_string(), cls),
                ("[SEP]".to_string(), sep),
            )),
            _ => None,
        };
        Self::from_parts(json::Parts {
            vocab: map,
            merges,
            unk_token,
            added,
            pre_tokenizer: PreTokenizer::Whitespace,
            post,
            truncation: None,
            padding: None,
            decoder: Value::Null,
        })
    }

    /// Whether the merge table allows the fast merge loop (see `merge.rs`).
    #[cfg(test)]
    pub(crate) fn model_is_monotone(&self) -> bool {
        self.model.monotone
    }

    fn from_parts(p: json::Parts) -> Result<Tokenizer> {
        let model = Bpe::new(p.vocab, p.merges, p.unk_token)?;
        for t in &p.added {
            if let Some(existing) = model.vocab.get(&t.content)
                && *existing != t.id
            {
                return Err(Error::Invalid(format!(
                    "added token {:?} has id {} but the vocabulary gives it id {existing}",
                    t.content, t.id
                )));
            }
        }
        Ok(Tokenizer {
            model,
            added: AddedVocab::new(p.added),
            pre_tokenizer: p.pre_tokenizer,
            post: p.post,
            truncation: p.truncation,
            padding: p.padding,
            normalization: DnaNormalization::default(),
            decoder: p.decoder,
        })
    }

    /// Serialises to Hugging Face `tokenizer.json` text (loadable by HF `tokenizers` and by this crate).
    ///
    /// The opt-in [`DnaNormalization`] is not part of the HF format and is not saved.
    pub fn to_json_string(&self) -> Result<String> {
        json::write(
            &self.model.vocab_r,
            &self.model.merges,
            self.model.unk.as_ref().map(|(t, _)| t.as_str()),
            &self.added.tokens,
            self.pre_tokenizer,
            self.post.as_ref(),
            self.truncation.as_ref(),
            self.padding.as_ref(),
            &self.decoder,
        )
    }

    /// Writes [`Tokenizer::to_json_string`] to `path` atomically ([`crate::atomic`]), so readers never see a half-written file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let text = self.to_json_string()?;
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        crate::atomic::write(path, text.as_bytes()).map_err(io)
    }

    // ------------------------------------------------------------ settings

    /// Sets (or clears) truncation. `max_length` counts the special tokens.
    ///
    /// Fails when `max_length` cannot even hold the special tokens of a single sequence.
    ///
    /// ```
    /// use dna_bpe::{Tokenizer, Truncation};
    /// let mut tok = Tokenizer::dnabert2();
    /// tok.set_truncation(Some(Truncation::new(4))).unwrap();
    /// // "ACGT" is A C GT: only two BPE tokens fit.
    /// assert_eq!(tok.encode("ACGT").unwrap().ids(), &[1, 5, 6, 2]);
    /// assert!(tok.set_truncation(Some(Truncation::new(1))).is_err());
    /// ```
    pub fn set_truncation(&mut self, truncation: Option<Truncation>) -> Result<()> {
        if let Some(t) = &truncation {
            let n = self.post.as_ref().map_or(0, |p| p.added_tokens(false));
            if t.max_length < n {
                return Err(Error::Truncation(format!(
                    "max_length {} is smaller than the {n} special tokens added to every input",
                    t.max_length
                )));
            }
        }
        self.truncation = truncation;
        Ok(())
    }

    /// Current truncation settings.
    pub fn truncation(&self) -> Option<&Truncation> {
        self.truncation.as_ref()
    }

    /// Sets (or clears) padding.
    ///
    /// ```
    /// use dna_bpe::{Padding, Tokenizer};
    /// let mut tok = Tokenizer::dnabert2();
    /// tok.set_padding(Some(Padding::default()));
    /// let batch = tok.encode_batch(&["ACGT", "A"]).unwrap();
    /// assert_eq!(batch[1].ids(), &[1, 5, 2, 3, 3]);
    /// assert_eq!(batch[1].attention_mask(), &[1, 1, 1, 0, 0]);
    /// ```
    pub fn set_padding(&mut self, padding: Option<Padding>) {
        self.padding = padding;
    }

    /// Current padding settings.
    pub fn padding(&self) -> Option<&Padding> {
        self.padding.as_ref()
    }

    /// Sets the opt-in DNA normalisation (see [`DnaNormalization`]); the default is none.
    pub fn set_normalization(&mut self, normalization: DnaNormalization) {
        self.normalization = normalization;
    }

    /// Current DNA normalisation.
    pub fn normalization(&self) -> DnaNormalization {
        self.normalization
    }

    // ------------------------------------------------------------ vocabulary

    /// Number of distinct token ids (model vocabulary plus added tokens outside it).
    pub fn vocab_size(&self) -> usize {
        self.model.vocab.len()
            + self
                .added
                .tokens
                .iter()
                .filter(|t| !self.model.vocab_r.contains_key(&t.id))
                .count()
    }

    /// Id of a token string (added tokens first, then the BPE vocabulary).
    ///
    /// ```
    /// let tok = dna_bpe::Tokenizer::dnabert2();
    /// assert_eq!(tok.token_to_id("[MASK]"), Some(4));
    /// assert_eq!(tok.token_to_id("GT"), Some(1049));
    /// ```
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.added
            .id_of(token)
            .or_else(|| self.model.vocab.get(token).copied())
    }

    /// Token string of an id (added tokens first, then the BPE vocabulary).
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.added
            .by_id(id)
            .map(|t| t.content.as_str())
            .or_else(|| self.model.vocab_r.get(&id).map(String::as_str))
    }

    /// The whole vocabulary (BPE model and added tokens) as token -> id.
    pub fn vocab(&self) -> FxHashMap<String, u32> {
        let mut v = self.model.vocab.clone();
        for t in &self.added.tokens {
            v.insert(t.content.clone(), t.id);
        }
        v
    }

    /// The merges in rank order.
    pub fn merges(&self) -> &[(String, String)] {
        &self.model.merges
    }

    /// The added tokens (`added_tokens` of `tokenizer.json`).
    pub fn added_tokens(&self) -> &[AddedToken] {
        &self.added.tokens
    }

    /// Ids of all special added tokens, sorted (`[0, 1, 2, 3, 4]` for DNABERT-2).
    pub fn special_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .added
            .tokens
            .iter()
            .filter(|t| t.special)
            .map(|t| t.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Pad id: from the padding settings if set, else the id of `[PAD]` (3 for DNABERT-2).
    pub fn pad_id(&self) -> Option<u32> {
        self.padding
            .as_ref()
            .map(|p| p.pad_id)
            .or_else(|| self.token_to_id("[PAD]"))
    }

    /// Id of the unknown token (`[UNK]` = 0 for DNABERT-2).
    pub fn unk_id(&self) -> Option<u32> {
        self.model.unk.as_ref().map(|(_, id)| *id)
    }

    /// Id of `[CLS]`.
    pub fn cls_id(&self) -> Option<u32> {
        self.token_to_id("[CLS]")
    }

    /// Id of `[SEP]`.
    pub fn sep_id(&self) -> Option<u32> {
        self.token_to_id("[SEP]")
    }

    /// Id of `[MASK]`.
    pub fn mask_id(&self) -> Option<u32> {
        self.token_to_id("[MASK]")
    }

    /// Token strings of an encoding (built on demand; encoding itself stores only ids).
    pub fn tokens(&self, encoding: &Encoding) -> Vec<String> {
        encoding
            .ids()
            .iter()
            .map(|&id| self.id_to_token(id).unwrap_or_default().to_string())
            .collect()
    }

    // ------------------------------------------------------------ encoding

    /// Encodes one sequence with special tokens (`[CLS] ... [SEP]`), then applies
    /// truncation and padding if they are set.
    pub fn encode(&self, text: &str) -> Result<Encoding> {
        self.encode_with(text, None, true)
    }

    /// Encodes a pair: `[CLS] a [SEP] b [SEP]`, type ids 0 for `a`'s part and 1 for `b [SEP]`.
    ///
    /// ```
    /// let tok = dna_bpe::Tokenizer::dnabert2();
    /// let enc = tok.encode_pair("ACGT", "A").unwrap();
    /// assert_eq!(enc.ids(), &[1, 5, 6, 1049, 2, 5, 2]);
    /// assert_eq!(enc.type_ids(), &[0, 0, 0, 0, 0, 1, 1]);
    /// ```
    pub fn encode_pair(&self, a: &str, b: &str) -> Result<Encoding> {
        self.encode_with(a, Some(b), true)
    }

    /// Encodes a sequence or pair, optionally without special tokens.
    pub fn encode_with(
        &self,
        a: &str,
        b: Option<&str>,
        add_special_tokens: bool,
    ) -> Result<Encoding> {
        let mut enc = self.encode_unpadded(a, b, add_special_tokens)?;
        if let Some(p) = &self.padding {
            pad_encodings(std::slice::from_mut(&mut enc), p);
        }
        Ok(enc)
    }

    /// Encodes many sequences in parallel (rayon), then pads them together if padding is set.
    /// Output order is input order.
    pub fn encode_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Encoding>> {
        let mut out: Vec<Encoding> = texts
            .par_iter()
            .map(|t| self.encode_unpadded(t.as_ref(), None, true))
            .collect::<Result<_>>()?;
        if let Some(p) = &self.padding {
            pad_encodings(&mut out, p);
        }
        Ok(out)
    }

    /// Encodes many inputs (each a sequence or a pair) in parallel, then pads them together.
    ///
    /// ```
    /// let tok = dna_bpe::Tokenizer::dnabert2();
    /// let batch = tok.encode_batch_with(&[("ACGT", None), ("A", Some("C"))], true).unwrap();
    /// assert_eq!(batch[1].ids(), &[1, 5, 2, 6, 2]);
    /// ```
    pub fn encode_batch_with<S: AsRef<str> + Sync>(
        &self,
        inputs: &[(S, Option<S>)],
        add_special_tokens: bool,
    ) -> Result<Vec<Encoding>> {
        let mut out: Vec<Encoding> = inputs
            .par_iter()
            .map(|(a, b)| {
                self.encode_unpadded(
                    a.as_ref(),
                    b.as_ref().map(AsRef::as_ref),
                    add_special_tokens,
                )
            })
            .collect::<Result<_>>()?;
        if let Some(p) = &self.padding {
            pad_encodings(&mut out, p);
        }
        Ok(out)
    }

    /// Like [`Tokenizer::encode_with`], but offsets count Unicode scalar values (chars)
    /// instead of bytes, as Python `tokenizers` reports them. Identical for ASCII (DNA).
    ///
    /// ```
    /// let tok = dna_bpe::Tokenizer::dnabert2();
    /// let enc = tok.encode_char_offsets("é ACGT", None, true).unwrap();
    /// assert_eq!(enc.offsets()[2], (2, 3)); // "A": byte offsets would be (3, 4)
    /// ```
    pub fn encode_char_offsets(
        &self,
        a: &str,
        b: Option<&str>,
        add_special_tokens: bool,
    ) -> Result<Encoding> {
        let mut enc = self.encode_inner(a, b, add_special_tokens, true)?;
        if let Some(p) = &self.padding {
            pad_encodings(std::slice::from_mut(&mut enc), p);
        }
        Ok(enc)
    }

    fn encode_unpadded(
        &self,
        a: &str,
        b: Option<&str>,
        add_special_tokens: bool,
    ) -> Result<Encoding> {
        self.encode_inner(a, b, add_special_tokens, false)
    }

    fn encode_inner(
        &self,
        a: &str,
        b: Option<&str>,
        add_special_tokens: bool,
        char_offsets: bool,
    ) -> Result<Encoding> {
        let mut ea = self.encode_sequence(a, 0);
        let mut eb = b.map(|b| self.encode_sequence(b, 1));
        if char_offsets {
            to_char_offsets(&mut ea, a);
            if let (Some(eb), Some(b)) = (eb.as_mut(), b) {
                to_char_offsets(eb, b);
            }
        }
        if let Some(t) = &self.truncation {
            let n_added = if add_special_tokens {
                self.post
                    .as_ref()
                    .map_or(0, |p| p.added_tokens(eb.is_some()))
            } else {
                0
            };
            let max = t.max_length.checked_sub(n_added).ok_or_else(|| {
                Error::Truncation(format!(
                    "max_length {} is smaller than the {n_added} special tokens of this input",
                    t.max_length
                ))
            })?;
            truncate_encodings(&mut ea, eb.as_mut(), max, t)?;
        }
        Ok(match &self.post {
            Some(p) => p.process(ea, eb, add_special_tokens),
            None => {
                if let Some(eb) = eb {
                    ea.extend(&eb);
                }
                ea
            }
        })
    }

    /// Splits on added tokens, pre-tokenizes and runs BPE; no specials, truncation or padding.
    fn encode_sequence(&self, text: &str, type_id: u32) -> Encoding {
        let mut enc = Encoding::default();
        // About 4.5 bp per token for DNA.
        let guess = text.len() / 4 + 2;
        enc.ids.reserve(guess);
        enc.offsets.reserve(guess);
        SCRATCH.with(|s| {
            let mut scratch = s.borrow_mut();
            self.added.split(text, |piece| match piece {
                Piece::Added(s, e, id) => {
                    enc.ids.push(id);
                    enc.offsets.push((s, e));
                }
                Piece::Text(s, e) => {
                    self.encode_text(&text[s..e], s, &mut scratch, &mut enc);
                }
            });
        });
        let n = enc.ids.len();
        enc.type_ids = vec![type_id; n];
        enc.special_tokens_mask = vec![0; n];
        enc.attention_mask = vec![1; n];
        enc
    }

    /// Normalises (opt-in), pre-tokenizes and BPE-encodes one text segment starting at byte `base`.
    fn encode_text(&self, segment: &str, base: usize, scratch: &mut Scratch, enc: &mut Encoding) {
        let norm = self.normalization;
        // ASCII uppercasing keeps every byte in place, so offsets stay valid.
        let text: Cow<str> = if norm.uppercase && segment.bytes().any(|b| b.is_ascii_lowercase()) {
            Cow::Owned(segment.to_ascii_uppercase())
        } else {
            Cow::Borrowed(segment)
        };
        let text = text.as_ref();
        self.pre_tokenizer.split(text, |s, e| {
            let word = &text[s..e];
            if norm.ambiguous == AmbiguityPolicy::Keep {
                self.model
                    .tokenize_word(word, base + s, scratch, &mut enc.ids, &mut enc.offsets);
                return;
            }
            let bytes = word.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                let start = i;
                let amb = is_ambiguous(bytes[i]);
                while i < bytes.len() && is_ambiguous(bytes[i]) == amb {
                    i += 1;
                }
                if !amb {
                    self.model.tokenize_word(
                        &word[start..i],
                        base + s + start,
                        scratch,
                        &mut enc.ids,
                        &mut enc.offsets,
                    );
                } else if norm.ambiguous == AmbiguityPolicy::UnkPerRun
                    && let Some(unk) = self.unk_id()
                {
                    enc.ids.push(unk);
                    enc.offsets.push((base + s + start, base + s + i));
                }
            }
        });
    }

    // ------------------------------------------------------------ decoding

    /// Joins token strings with single spaces (upstream has no decoder, so HF does exactly this).
    /// Unknown ids are skipped; with `skip_special_tokens`, special added tokens are too.
    ///
    /// ```
    /// let tok = dna_bpe::Tokenizer::dnabert2();
    /// assert_eq!(tok.decode(&[1, 5, 6, 1049, 0, 2], true), "A C GT");
    /// ```
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> String {
        self.decoded_tokens(ids, skip_special_tokens)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Concatenates token strings without separators, giving back the DNA sequence.
    ///
    /// ```
    /// let tok = dna_bpe::Tokenizer::dnabert2();
    /// let seq = "ACGTAGCATCGGATCTATCTATCG";
    /// let enc = tok.encode(seq).unwrap();
    /// assert_eq!(tok.decode_dna(enc.ids(), true), seq);
    /// ```
    pub fn decode_dna(&self, ids: &[u32], skip_special_tokens: bool) -> String {
        self.decoded_tokens(ids, skip_special_tokens).collect()
    }

    fn decoded_tokens<'a>(
        &'a self,
        ids: &'a [u32],
        skip_special: bool,
    ) -> impl Iterator<Item = &'a str> + 'a {
        ids.iter().filter_map(move |&id| {
            if let Some(t) = self.added.by_id(id) {
                return (!(skip_special && t.special)).then_some(t.content.as_str());
            }
            let tok = self.model.vocab_r.get(&id)?;
            // HF checks specialness by content, so a model token equal to a special is skipped too.
            if skip_special
                && self
                    .added
                    .tokens
                    .iter()
                    .any(|t| t.special && t.content == *tok)
            {
                return None;
            }
            Some(tok.as_str())
        })
    }
}

/// Rewrites byte offsets into char offsets of `text` (no-op for ASCII).
fn to_char_offsets(enc: &mut Encoding, text: &str) {
    if text.is_ascii() {
        return;
    }
    // chars[i] = number of chars before byte i (for every byte position, plus the end).
    let mut chars = vec![0usize; text.len() + 1];
    let mut n = 0;
    for (i, slot) in chars.iter_mut().enumerate() {
        *slot = n;
        if i < text.len() && text.is_char_boundary(i + 1) {
            n += 1;
        }
    }
    for o in &mut enc.offsets {
        *o = (chars[o.0.min(text.len())], chars[o.1.min(text.len())]);
    }
}
