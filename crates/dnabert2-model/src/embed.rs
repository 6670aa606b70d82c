//! Sequence embeddings: pooling, length-sorted batching, long-sequence chunking with overlap,
//! and per-nucleotide vectors through the tokenizer's offsets.
//!
//! Padding never changes real tokens' outputs (the key mask is `-10000`, whose `exp`
//! underflows to exactly 0 in f32), so batching and sorting give the same vectors as one
//! sequence at a time.

use burn::prelude::*;
use dna_bpe::Tokenizer;

use crate::error::{ModelError, Result};
use crate::input::BertInput;
use crate::linear::LinearLayer;
use crate::model::BertModel;

/// How to reduce token vectors `[S, D]` to one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooling {
    /// Mean over the attention mask, `[CLS]` and `[SEP]` included (upstream's recipe).
    #[default]
    Mean,
    /// Mean over real tokens without `[CLS]` (first) and `[SEP]` (last real token).
    MeanNoSpecial,
    /// The `[CLS]` vector.
    Cls,
    /// Element-wise max over real tokens.
    Max,
}

/// Which hidden states become the token vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layer {
    /// The last layer's output (what the model returns).
    #[default]
    Last,
    /// One entry of HF's `hidden_states` (`num_layers + 1` tensors: 0 is the embedding
    /// output, `k` the output of layer `k`); negative counts from the end (`-1` = last).
    Index(i64),
    /// Every entry of `hidden_states`, concatenated along the feature axis
    /// (`(num_layers + 1) * hidden` values per token, embedding output first).
    All,
}

impl std::str::FromStr for Layer {
    type Err = String;
    /// `last`, `all`, or an index (`-1`, `0`, `6`).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "last" | "-1" => Ok(Layer::Last),
            "all" => Ok(Layer::All),
            t => t.parse::<i64>().map(Layer::Index).map_err(|_| {
                format!("layer `{s}`: expected an index (-1 = last, 0 = embeddings) or `all`")
            }),
        }
    }
}

/// Options of [`Embedder`].
#[derive(Debug, Clone, Copy)]
pub struct EmbedOptions {
    /// Pooling for [`Embedder::embed`].
    pub pooling: Pooling,
    /// Hidden states to use.
    pub layer: Layer,
    /// Most sequences (chunks) per forward batch.
    pub batch_size: usize,
    /// Most padded tokens (`rows x longest row`) per forward batch; 0: no limit. Sorted
    /// batches of short sequences then hold many rows and long ones few, at a bounded
    /// activation size.
    pub batch_tokens: usize,
    /// Longest chunk in tokens, `[CLS]`/`[SEP]` included; longer sequences are chunked.
    pub max_tokens: usize,
    /// Tokens shared by consecutive chunks (their vectors are averaged).
    pub overlap: usize,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            pooling: Pooling::Mean,
            layer: Layer::Last,
            batch_size: 16,
            batch_tokens: 0,
            max_tokens: 512,
            overlap: 64,
        }
    }
}

/// Token-level output for one sequence.
#[derive(Debug, Clone)]
pub struct TokenEmbeddings {
    /// Token ids, `[CLS]` first and `[SEP]` last.
    pub ids: Vec<u32>,
    /// Base-pair span of each token in the input (`(0, 0)` for specials).
    pub offsets: Vec<(usize, usize)>,
    /// One vector per token (`ids.len() * dim` values, row-major).
    pub vectors: Vec<f32>,
    /// Hidden size.
    pub dim: usize,
}

impl TokenEmbeddings {
    /// Vector of token `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }
}

/// Embeds DNA sequences with a model and the DNABERT-2 tokenizer.
pub struct Embedder<'a, B: Backend, L: LinearLayer<B>> {
    model: &'a BertModel<B, L>,
    tokenizer: &'a Tokenizer,
    opts: EmbedOptions,
    device: B::Device,
}

impl<'a, B: Backend, L: LinearLayer<B>> Embedder<'a, B, L> {
    /// Creates an embedder; fails on options that cannot chunk (`max_tokens < 3`,
    /// `overlap >= max_tokens - 2`, `batch_size == 0`) and on a layer index the model does
    /// not have.
    pub fn new(
        model: &'a BertModel<B, L>,
        tokenizer: &'a Tokenizer,
        opts: EmbedOptions,
        device: &B::Device,
    ) -> Result<Self> {
        if opts.max_tokens < 3 || opts.overlap + 2 >= opts.max_tokens || opts.batch_size == 0 {
            return Err(ModelError::InvalidInput(format!(
                "bad embed options: max_tokens {} overlap {} batch_size {}",
                opts.max_tokens, opts.overlap, opts.batch_size
            )));
        }
        if let Layer::Index(i) = opts.layer {
            let n = model.encoder.layer.len() as i64 + 1;
            if !(-n..n).contains(&i) {
                return Err(ModelError::InvalidInput(format!(
                    "layer {i}: the model has hidden states 0..={} (0 = embeddings; -1 = last)",
                    n - 1
                )));
            }
        }
        Ok(Self {
            model,
            tokenizer,
            opts,
            device: device.clone(),
        })
    }

    /// Width of the token vectors: the hidden size, times `num_layers + 1` for [`Layer::All`].
    pub fn dim(&self) -> usize {
        let d = self.model.embeddings.word_embeddings.weight.val().dims()[1];
        match self.opts.layer {
            Layer::All => d * (self.model.encoder.layer.len() + 1),
            _ => d,
        }
    }

    /// The selected hidden states `[B, S, dim]` of one batch.
    fn hidden(&self, input: BertInput<B>) -> Tensor<B, 3> {
        let n = self.model.encoder.layer.len() as i64 + 1;
        let pick = match self.opts.layer {
            Layer::Last => return self.model.forward(input),
            Layer::Index(i) if i == -1 || i == n - 1 => return self.model.forward(input),
            Layer::Index(i) => Some((if i < 0 { n + i } else { i }) as usize),
            Layer::All => None,
        };
        let opts = crate::model::ForwardOptions {
            output_hidden_states: true,
            ..Default::default()
        };
        let mut states = self
            .model
            .forward_with(input, opts)
            .hidden_states
            .unwrap_or_default();
        match pick {
            Some(k) => states.swap_remove(k),
            None => Tensor::cat(states, 2),
        }
    }

    /// Groups `order` (chunk indices sorted by decreasing length) into forward batches of at
    /// most `batch_size` rows and `batch_tokens` padded tokens.
    fn batches(&self, order: &[usize], len: impl Fn(usize) -> usize) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = Vec::new();
        let mut cur: Vec<usize> = Vec::new();
        for &i in order {
            // Sorted by decreasing length: the batch's first row is its longest.
            let widest = cur.first().map_or(len(i), |&f| len(f));
            let full = cur.len() == self.opts.batch_size
                || (self.opts.batch_tokens > 0
                    && !cur.is_empty()
                    && (cur.len() + 1) * widest > self.opts.batch_tokens);
            if full {
                out.push(std::mem::take(&mut cur));
            }
            cur.push(i);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    // Long by design: tokenize, chunk long inputs, length-sort, batch, forward and merge chunk
    // outputs back in input order: one pipeline whose order invariants are checked together.
    /// Token vectors for each sequence, in input order. Sequences longer than
    /// `max_tokens` are cut into overlapping chunks (each wrapped in `[CLS]`/`[SEP]`); a token
    /// seen by several chunks gets the mean of its vectors, and the `[CLS]`/`[SEP]` vectors are
    /// the means over chunks.
    pub fn token_embeddings<S: AsRef<str> + Sync>(
        &self,
        seqs: &[S],
    ) -> Result<Vec<TokenEmbeddings>> {
        let encs = self
            .tokenizer
            .encode_batch(seqs)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let (cls, sep) = (
            self.tokenizer.cls_id().unwrap_or(1),
            self.tokenizer.sep_id().unwrap_or(2),
        );
        // Chunks: (sequence index, start of the chunk's inner tokens, ids with specials).
        let inner_max = self.opts.max_tokens - 2;
        let step = inner_max - self.opts.overlap;
        let mut chunks: Vec<(usize, usize, Vec<u32>)> = Vec::new();
        let mut inners = Vec::with_capacity(encs.len());
        for (si, enc) in encs.iter().enumerate() {
            let ids = enc.ids();
            let inner: Vec<u32> = if ids.len() >= 2 && ids[0] == cls && ids[ids.len() - 1] == sep {
                ids[1..ids.len() - 1].to_vec()
            } else {
                ids.to_vec()
            };
            let mut start = 0;
            loop {
                let end = (start + inner_max).min(inner.len());
                let mut c = Vec::with_capacity(end - start + 2);
                c.push(cls);
                c.extend_from_slice(&inner[start..end]);
                c.push(sep);
                chunks.push((si, start, c));
                if end >= inner.len() {
                    break;
                }
                start += step;
            }
            inners.push(inner);
        }
        // Length-sorted batches.
        let mut order: Vec<usize> = (0..chunks.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(chunks[i].2.len()));
        let d = self.dim();
        let mut acc: Vec<Vec<f32>> = inners
            .iter()
            .map(|t| vec![0.0; (t.len() + 2) * d])
            .collect();
        let mut counts: Vec<Vec<f32>> = inners.iter().map(|t| vec![0.0; t.len() + 2]).collect();
        for batch in self.batches(&order, |i| chunks[i].2.len()) {
            let rows: Vec<Vec<u32>> = batch.iter().map(|&i| chunks[i].2.clone()).collect();
            let input = BertInput::<B>::from_ids(&rows, &self.device)?;
            let width = input.dims()[1];
            let h: Vec<f32> = crate::error::read_back(self.hidden(input), "embeddings")?;
            for (r, &ci) in batch.iter().enumerate() {
                let (si, start, ref ids) = chunks[ci];
                let n_inner = ids.len() - 2;
                let last = inners[si].len() + 1;
                for t in 0..ids.len() {
                    // Target row in the sequence: 0 = CLS, 1.. = inner tokens, last = SEP.
                    let target = if t == 0 {
                        0
                    } else if t == n_inner + 1 {
                        last
                    } else {
                        start + t
                    };
                    let src = &h[(r * width + t) * d..(r * width + t + 1) * d];
                    for (a, v) in acc[si][target * d..(target + 1) * d].iter_mut().zip(src) {
                        *a += v;
                    }
                    counts[si][target] += 1.0;
                }
            }
        }
        Ok(encs
            .iter()
            .enumerate()
            .map(|(si, enc)| {
                let mut v = std::mem::take(&mut acc[si]);
                for (row, &c) in v.chunks_mut(d).zip(&counts[si]) {
                    row.iter_mut().for_each(|x| *x /= c.max(1.0));
                }
                let mut ids = vec![cls];
                ids.extend_from_slice(&inners[si]);
                ids.push(sep);
                let mut offsets = enc.offsets().to_vec();
                if offsets.len() != ids.len() {
                    offsets = vec![(0, 0); ids.len()];
                }
                TokenEmbeddings {
                    ids,
                    offsets,
                    vectors: v,
                    dim: d,
                }
            })
            .collect())
    }

    /// One pooled vector per sequence (`opts.pooling`), in input order.
    pub fn embed<S: AsRef<str> + Sync>(&self, seqs: &[S]) -> Result<Vec<Vec<f32>>> {
        Ok(self
            .token_embeddings(seqs)?
            .iter()
            .map(|t| pool_rows(t, self.opts.pooling))
            .collect())
    }

    /// One vector per base of `seq`: each base gets the vector of the token covering it
    /// (bases no token covers, e.g. whitespace, get zeros).
    pub fn per_nucleotide(&self, seq: &str) -> Result<Vec<Vec<f32>>> {
        let t = self
            .token_embeddings(&[seq])?
            .pop()
            .ok_or_else(|| ModelError::InvalidInput("no output".into()))?;
        Ok(per_base(&t, seq.len())
            .chunks(t.dim.max(1))
            .map(<[f32]>::to_vec)
            .collect())
    }
}

/// `len` rows of `t.dim` values (row-major): row `i` is the vector of the token covering
/// base `i` through the tokenizer's offsets; bases no token covers get zeros.
pub fn per_base(t: &TokenEmbeddings, len: usize) -> Vec<f32> {
    let d = t.dim;
    let mut out = vec![0.0; len * d];
    for (i, &(s, e)) in t.offsets.iter().enumerate() {
        if i == 0 || i + 1 == t.ids.len() {
            continue;
        }
        for b in s..e.min(len) {
            out[b * d..(b + 1) * d].copy_from_slice(t.row(i));
        }
    }
    out
}

/// Pools one sequence's token rows (`[CLS]` first, `[SEP]` last): the crate's one pooling
/// implementation. `MeanNoSpecial` of a sequence with no regular token falls back to `Mean`.
pub fn pool_rows(t: &TokenEmbeddings, pooling: Pooling) -> Vec<f32> {
    let n = t.ids.len();
    let rows: Vec<usize> = match pooling {
        Pooling::Cls => return t.row(0).to_vec(),
        Pooling::Mean | Pooling::Max => (0..n).collect(),
        Pooling::MeanNoSpecial if n > 2 => (1..n - 1).collect(),
        Pooling::MeanNoSpecial => (0..n).collect(),
    };
    let mut out = vec![
        if pooling == Pooling::Max {
            f32::NEG_INFINITY
        } else {
            0.0
        };
        t.dim
    ];
    for &r in &rows {
        for (o, v) in out.iter_mut().zip(t.row(r)) {
            if pooling == Pooling::Max {
                *o = o.max(*v);
            } else {
                *o += v;
            }
        }
    }
    if pooling != Pooling::Max {
        out.iter_mut().for_each(|o| *o /= rows.len() as f32);
    }
    out
}
