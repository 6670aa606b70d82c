//! Zero-shot scores of sequence changes with the masked-LM head.
//!
//! **Span log-likelihood.** For a sequence and a span of bases in it (a variant's REF or ALT
//! bases), the sequence is tokenised on its own, every token whose base range overlaps the
//! span is replaced by `[MASK]` at once, and the score is the sum over those tokens of
//! `log P(true token | unmasked context)`. BPE boundaries differ between a reference and an
//! alternative sequence, so each is scored with its own tokenisation over its own span; the
//! variant's log-likelihood ratio is `LLR = LL(alt, alt span) - LL(ref, ref span)`. It is 0
//! for a sequence against itself and changes sign when REF and ALT are swapped.
//!
//! ```
//! use dnabert2_model::{BertConfig, BertForMaskedLM, backend::CpuBackend as B, score};
//! let cfg = BertConfig::new(32, 1, 4, 64);
//! let model = BertForMaskedLM::<B>::init(&cfg, &Default::default());
//! let tok = dna_bpe::Tokenizer::dnabert2();
//! let s = "ACGTAGCATCGGATCTATCTATCGACACTTGG";
//! let ll = score::span_log_likelihood(&model, &tok, s, 10..11, &Default::default()).unwrap();
//! assert!(ll < 0.0);
//! let llr = score::llr(&model, &tok, (s, 10..11), (s, 10..11), &Default::default()).unwrap();
//! assert_eq!(llr, 0.0);
//! ```

use std::ops::Range;

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use dna_bpe::Tokenizer;

use crate::error::{ModelError, Result};
use crate::heads::BertForMaskedLM;
use crate::input::BertInput;
use crate::linear::LinearLayer;

/// Sum of `log P(true token)` over the tokens of `seq` overlapping bases `span`, all masked
/// at once (see the module docs).
pub fn span_log_likelihood<B: Backend, L: LinearLayer<B>>(
    model: &BertForMaskedLM<B, L>,
    tok: &Tokenizer,
    seq: &str,
    span: Range<usize>,
    device: &B::Device,
) -> Result<f64> {
    Ok(span_log_likelihoods(model, tok, &[(seq, span)], 1, device)?[0])
}

/// A sequence with its bases' span: the unit the scores are defined on.
pub type Span<'a> = (&'a str, Range<usize>);

/// Masked ids and the `(position, true id)` of each masked token.
type Masked = (Vec<u32>, Vec<(usize, u32)>);

/// The masked ids of `seq` and the `(position, true id)` of each masked token.
fn masked(tok: &Tokenizer, seq: &str, span: &Range<usize>) -> Result<Masked> {
    let enc = tok
        .encode(seq)
        .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
    let mask_id = tok
        .mask_id()
        .ok_or_else(|| ModelError::Tokenizer("the tokenizer has no [MASK] token".into()))?;
    let mut ids = enc.ids().to_vec();
    let n = ids.len();
    // Tokens overlapping the span (specials have the empty range (0, 0) and never overlap;
    // an empty span, e.g. a pure insertion point, takes the token holding that position).
    let covered: Vec<(usize, u32)> = (1..n.saturating_sub(1))
        .filter(|&i| {
            let (s, e) = enc.offsets()[i];
            if span.is_empty() {
                s <= span.start && span.start < e
            } else {
                s < span.end && span.start < e
            }
        })
        .map(|i| (i, ids[i]))
        .collect();
    if covered.is_empty() {
        return Err(ModelError::InvalidInput(format!(
            "no token covers bases {span:?} of a {}-base sequence",
            seq.len()
        )));
    }
    for &(i, _) in &covered {
        ids[i] = mask_id;
    }
    Ok((ids, covered))
}

/// [`span_log_likelihood`] of many `(sequence, span)` pairs, `batch_size` sequences per
/// forward pass (padding does not change real tokens' outputs). The MLM head runs only at
/// the masked positions, not over every token.
pub fn span_log_likelihoods<B: Backend, L: LinearLayer<B>, S: AsRef<str>>(
    model: &BertForMaskedLM<B, L>,
    tok: &Tokenizer,
    items: &[(S, Range<usize>)],
    batch_size: usize,
    device: &B::Device,
) -> Result<Vec<f64>> {
    let prepared = items
        .iter()
        .map(|(s, span)| masked(tok, s.as_ref(), span))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(items.len());
    for batch in prepared.chunks(batch_size.max(1)) {
        let rows: Vec<Vec<u32>> = batch.iter().map(|(ids, _)| ids.clone()).collect();
        let input = BertInput::<B>::from_ids(&rows, device)?;
        let [b, width] = input.dims();
        let hidden = model.bert.forward(input); // [b, width, D]
        let d = hidden.dims()[2];
        let flat_rows: Vec<i64> = batch
            .iter()
            .enumerate()
            .flat_map(|(r, (_, cov))| cov.iter().map(move |&(i, _)| (r * width + i) as i64))
            .collect();
        let m = flat_rows.len();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(flat_rows, [m]), device);
        let picked = hidden
            .reshape([b * width, d])
            .select(0, idx)
            .reshape([1, m, d]);
        let logits = model
            .cls
            .forward(picked, model.bert.embeddings.word_embeddings.weight.val());
        let v = logits.dims()[2];
        let lp = log_softmax(logits.reshape([m, v]), 1);
        let truth: Vec<i64> = batch
            .iter()
            .flat_map(|(_, cov)| cov.iter().map(|&(_, t)| t as i64))
            .collect();
        let truth = Tensor::<B, 2, Int>::from_data(TensorData::new(truth, [m, 1]), device);
        let got: Vec<f64> = crate::error::read_back(lp.gather(1, truth), "log-likelihoods")?;
        let mut k = 0;
        for (_, cov) in batch {
            out.push(got[k..k + cov.len()].iter().sum());
            k += cov.len();
        }
    }
    Ok(out)
}

/// `LL(alt) - LL(ref)` of two `(sequence, span)` pairs (see the module docs).
pub fn llr<B: Backend, L: LinearLayer<B>>(
    model: &BertForMaskedLM<B, L>,
    tok: &Tokenizer,
    reference: (&str, Range<usize>),
    alternative: (&str, Range<usize>),
    device: &B::Device,
) -> Result<f64> {
    Ok(llrs(model, tok, &[(reference, alternative)], 2, device)?[0])
}

/// [`llr`] of many `(reference, alternative)` pairs, batched; a pair whose two sides are
/// equal scores exactly 0.
pub fn llrs<B: Backend, L: LinearLayer<B>>(
    model: &BertForMaskedLM<B, L>,
    tok: &Tokenizer,
    pairs: &[(Span<'_>, Span<'_>)],
    batch_size: usize,
    device: &B::Device,
) -> Result<Vec<f64>> {
    let items: Vec<Span<'_>> = pairs
        .iter()
        .filter(|(r, a)| r != a)
        .flat_map(|(r, a)| [r.clone(), a.clone()])
        .collect();
    let ll = span_log_likelihoods(model, tok, &items, batch_size, device)?;
    let mut k = 0;
    Ok(pairs
        .iter()
        .map(|(r, a)| {
            if r == a {
                0.0
            } else {
                k += 2;
                ll[k - 1] - ll[k - 2]
            }
        })
        .collect())
}

/// Cosine distance `1 - cos(a, b)` and L2 distance of two vectors.
pub fn distances(a: &[f32], b: &[f32]) -> (f64, f64) {
    let (mut dot, mut na, mut nb, mut l2) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        dot += x * y;
        na += x * x;
        nb += y * y;
        l2 += (x - y) * (x - y);
    }
    let cos = if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    };
    (1.0 - cos, l2.sqrt())
}
