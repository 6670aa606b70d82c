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
    let enc = tok
        .encode(seq)
        .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
    let mask_id = tok
        .mask_id()
        .ok_or_else(|| ModelError::Tokenizer("the tokenizer has no [MASK] token".into()))?;
    let ids = enc.ids().to_vec();
    let n = ids.len();
    // Tokens overlapping the span (specials have the empty range (0, 0) and never overlap;
    // an empty span, e.g. a pure insertion point, takes the token holding that position).
    let covered: Vec<usize> = (1..n.saturating_sub(1))
        .filter(|&i| {
            let (s, e) = enc.offsets()[i];
            if span.is_empty() {
                s <= span.start && span.start < e
            } else {
                s < span.end && span.start < e
            }
        })
        .collect();
    if covered.is_empty() {
        return Err(ModelError::InvalidInput(format!(
            "no token covers bases {span:?} of a {}-base sequence",
            seq.len()
        )));
    }
    let mut masked = ids.clone();
    for &i in &covered {
        masked[i] = mask_id;
    }
    let input = BertInput::<B>::from_ids(&[masked], device)?;
    let logits = model.forward(input).logits; // [1, n, V]
    let v = logits.dims()[2];
    let lp = log_softmax(logits.reshape([n, v]), 1);
    let rows: Vec<i64> = covered.iter().map(|&i| i as i64).collect();
    let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [covered.len()]), device);
    let truth: Vec<i64> = covered.iter().map(|&i| ids[i] as i64).collect();
    let truth = Tensor::<B, 2, Int>::from_data(TensorData::new(truth, [covered.len(), 1]), device);
    let picked = lp.select(0, idx).gather(1, truth);
    Ok(picked.sum().into_scalar().elem::<f64>())
}

/// `LL(alt) - LL(ref)` of two `(sequence, span)` pairs (see the module docs).
pub fn llr<B: Backend, L: LinearLayer<B>>(
    model: &BertForMaskedLM<B, L>,
    tok: &Tokenizer,
    reference: (&str, Range<usize>),
    alternative: (&str, Range<usize>),
    device: &B::Device,
) -> Result<f64> {
    if reference == alternative {
        return Ok(0.0);
    }
    let r = span_log_likelihood(model, tok, reference.0, reference.1, device)?;
    let a = span_log_likelihood(model, tok, alternative.0, alternative.1, device)?;
    Ok(a - r)
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
