//! ALiBi attention kernels for the CPU backends: forward and backward.
//!
//! burn's fused `attention` op takes the ALiBi term as a materialised `[B, H, S, S]` bias
//! tensor, and burn-flex runs it on one thread. These kernels are what the model uses instead
//! on burn-flex / burn-ndarray (f32):
//!
//! - q, k and v are read in place from the fused `Wqkv` output `[B, S, 3 * D]` through
//!   strided matrix multiplies, and the context is written straight into `[B, S, D]`: none of
//!   the head split / merge copies of the tensor path;
//! - the bias `-slope_h * |i - j|` plus the key mask (`-10000` at padded keys, as upstream) is
//!   computed on the fly from `H` slopes and a `[B, S]` mask row: **no `[B, H, S, S]` tensor**;
//! - forward work items are (batch, head, block of query rows), spread over rayon's pool; each
//!   holds one `[rows, S]` score block (at most [`SCORE_BLOCK_ELEMS`] floats) and computes an
//!   exact (not online) softmax per row, so results match the tensor path to float rounding;
//! - the backward ([`alibi_attention_backward`]) recomputes the probabilities block by block
//!   from the row log-sum-exp the forward saved (FlashAttention-2's scheme), one work item
//!   per (batch, head).
//!
//! Inference calls [`alibi_attention`] directly when [`applies`]; training on
//! `Autodiff<Flex>` / `Autodiff<NdArray>` reaches both kernels through the custom autodiff op
//! in `cpu_autodiff.rs`. Attention maps (`output_attentions`) and the GPU backends use burn
//! ops (see `attention.rs`).

use std::any::TypeId;

use burn::prelude::*;
use rayon::prelude::*;

/// Upper bound on one work item's score block, in floats (4 MiB): `rows * S <= this`.
pub(crate) const SCORE_BLOCK_ELEMS: usize = 1 << 20;

/// Query rows per work item for sequence length `seq`: up to 128, fewer for long inputs so
/// one score block stays under [`SCORE_BLOCK_ELEMS`], never fewer than 8.
pub(crate) fn query_block(seq: usize) -> usize {
    (SCORE_BLOCK_ELEMS / seq.max(1))
        .clamp(8, 128)
        .min(seq.max(1))
}

/// Whether this kernel replaces burn's attention op for backend `B` on `device`: an f32 CPU
/// backend (burn-flex or burn-ndarray) that does not track gradients.
pub fn applies<B: Backend>(device: &B::Device) -> bool {
    if B::ad_enabled(device) {
        return false;
    }
    let id = TypeId::of::<B>();
    #[cfg(feature = "flex")]
    if id == TypeId::of::<burn::backend::Flex>() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    if id == TypeId::of::<burn::backend::NdArray>() {
        return true;
    }
    let _ = id;
    false
}

/// The values of a tensor on the host as f32 (a copy on CPU backends).
pub(crate) fn host_f32<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("converted to f32 above")
}

/// Shapes of one attention call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    /// Batch size `B`.
    pub batch: usize,
    /// Sequence length `S`.
    pub seq: usize,
    /// Number of heads `H`.
    pub heads: usize,
    /// Head size `d` (`D = H * d`).
    pub head_dim: usize,
}

impl Dims {
    /// Asserts the kernels' input lengths: `qkv` `[B, S, 3D]`, `key_bias` `[B, S]`,
    /// `neg_slopes` `[H]`.
    fn check(&self, qkv: &[f32], key_bias: &[f32], neg_slopes: &[f32]) {
        let d_model = self.heads * self.head_dim;
        assert_eq!(qkv.len(), self.batch * self.seq * 3 * d_model, "qkv length");
        assert_eq!(key_bias.len(), self.batch * self.seq, "key bias length");
        assert_eq!(neg_slopes.len(), self.heads, "slopes length");
    }
}

/// Raw output pointer shared by the work items; each writes a disjoint set of elements.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: work items write disjoint (row, head) blocks of the output (see `alibi_attention`).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer (a method, so closures capture the `Send` wrapper, not the raw field).
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Symmetric-ALiBi self-attention from the fused projection.
///
/// `qkv` is `[B, S, 3 * D]` (q, k, v for all heads per row, as `Wqkv` produces them),
/// `key_bias` is `[B, S]` (added to every score of that key: 0 or -10000), `neg_slopes` is
/// `[H]` holding `-slope_h`. Returns the context `[B, S, D]` (heads concatenated per row).
///
/// # Panics
/// When a slice length does not match `dims` (an internal invariant; the model builds them).
pub(crate) fn alibi_attention(
    qkv: &[f32],
    key_bias: &[f32],
    neg_slopes: &[f32],
    dims: Dims,
) -> Vec<f32> {
    attention_forward(qkv, key_bias, neg_slopes, dims, None)
}

/// [`alibi_attention`] that also returns the log-sum-exp of every score row, `[B, H, S]`,
/// which [`alibi_attention_backward`] recomputes the probabilities from.
pub(crate) fn alibi_attention_with_lse(
    qkv: &[f32],
    key_bias: &[f32],
    neg_slopes: &[f32],
    dims: Dims,
) -> (Vec<f32>, Vec<f32>) {
    let mut lse = vec![0f32; dims.batch * dims.heads * dims.seq];
    let out = attention_forward(qkv, key_bias, neg_slopes, dims, Some(&mut lse));
    (out, lse)
}

// Long by design: one blocked forward pass (scores, ALiBi + mask, exact row softmax, P V)
// kept together so the blocking and the numerics can be checked in one place.
fn attention_forward(
    qkv: &[f32],
    key_bias: &[f32],
    neg_slopes: &[f32],
    dims: Dims,
    lse: Option<&mut [f32]>,
) -> Vec<f32> {
    let Dims {
        batch,
        seq,
        heads,
        head_dim,
    } = dims;
    let d_model = heads * head_dim;
    dims.check(qkv, key_bias, neg_slopes);
    let mut out = vec![0f32; batch * seq * d_model];
    if out.is_empty() {
        return out;
    }
    let rows_per_item = query_block(seq);
    let blocks = seq.div_ceil(rows_per_item);
    let row_stride = (3 * d_model) as isize;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let out_ptr = OutPtr(out.as_mut_ptr());
    let lse_ptr = lse.map(|l| {
        assert_eq!(l.len(), batch * heads * seq, "lse length");
        OutPtr(l.as_mut_ptr())
    });
    (0..batch * heads * blocks)
        .into_par_iter()
        .for_each_init(Vec::<f32>::new, |scores, item| {
            let (b, h, blk) = (
                item / (heads * blocks),
                (item / blocks) % heads,
                item % blocks,
            );
            let q0 = blk * rows_per_item;
            let rows = rows_per_item.min(seq - q0);
            let seq_base = b * seq * 3 * d_model;
            let q = &qkv[seq_base + q0 * 3 * d_model + h * head_dim..];
            let k = &qkv[seq_base + d_model + h * head_dim..];
            let v = &qkv[seq_base + 2 * d_model + h * head_dim..];
            scores.resize(rows * seq, 0.0);
            // SAFETY (both calls): every index the strides reach lies inside the slices
            // above: rows q0..q0+rows (< S) and keys 0..S of batch b, columns
            // h*d..(h+1)*d of the q / k / v thirds; the destination is `scores`
            // (rows x S, row-major) and then the rows q0..q0+rows, columns h*d..(h+1)*d
            // of batch b's output, which no other item writes.
            unsafe {
                // scores[i, j] = scale * sum_c q[i, c] k[j, c]
                gemm::gemm(
                    rows,
                    seq,
                    head_dim,
                    scores.as_mut_ptr(),
                    1,
                    seq as isize,
                    false,
                    q.as_ptr(),
                    1,
                    row_stride,
                    k.as_ptr(),
                    row_stride,
                    1,
                    0.0,
                    scale,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            let kb = &key_bias[b * seq..(b + 1) * seq];
            for (i, row) in scores.chunks_exact_mut(seq).enumerate() {
                let l = softmax_row(row, kb, neg_slopes[h], (q0 + i) as f32);
                if let Some(p) = lse_ptr {
                    // SAFETY: row (b, h, q0 + i) of the [B, H, S] buffer, written by this
                    // item only.
                    unsafe { *p.get().add((b * heads + h) * seq + q0 + i) = l };
                }
            }
            unsafe {
                // out[q0 + i, h*d + c] = sum_j p[i, j] v[j, c]
                gemm::gemm(
                    rows,
                    head_dim,
                    seq,
                    out_ptr.get().add((b * seq + q0) * d_model + h * head_dim),
                    1,
                    d_model as isize,
                    false,
                    scores.as_ptr(),
                    1,
                    seq as isize,
                    v.as_ptr(),
                    1,
                    row_stride,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        });
    out
}

/// In place: `row[j] = softmax_j(row[j] + neg_slope * |query - j| + key_bias[j])`; returns
/// the row's log-sum-exp.
fn softmax_row(row: &mut [f32], key_bias: &[f32], neg_slope: f32, query: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { softmax_row_avx2(row, key_bias, neg_slope, query) };
    }
    softmax_row_generic(row, key_bias, neg_slope, query)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_row_avx2(row: &mut [f32], key_bias: &[f32], neg_slope: f32, query: f32) -> f32 {
    softmax_row_generic(row, key_bias, neg_slope, query)
}

/// Written over fixed-size chunks of [`LANES`] with per-lane max / sum accumulators, so the
/// compiler turns each chunk into SIMD (AVX2 + FMA through [`softmax_row_avx2`]).
#[inline(always)]
fn softmax_row_generic(row: &mut [f32], key_bias: &[f32], neg_slope: f32, query: f32) -> f32 {
    const L: usize = LANES;
    let n = row.len();
    let key_bias = &key_bias[..n];
    let full = n - n % L;
    let mut key = [0.0f32; L];
    for (l, k) in key.iter_mut().enumerate() {
        *k = l as f32;
    }
    let mut max = [f32::NEG_INFINITY; L];
    for (xs, kbs) in row[..full]
        .chunks_exact_mut(L)
        .zip(key_bias[..full].chunks_exact(L))
    {
        for l in 0..L {
            let x = xs[l] + neg_slope * (query - key[l]).abs() + kbs[l];
            xs[l] = x;
            max[l] = if x > max[l] { x } else { max[l] };
            key[l] += L as f32;
        }
    }
    let mut m = max
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    for j in full..n {
        row[j] += neg_slope * (query - j as f32).abs() + key_bias[j];
        m = if row[j] > m { row[j] } else { m };
    }
    let mut sum = [0.0f32; L];
    for xs in row[..full].chunks_exact_mut(L) {
        for l in 0..L {
            xs[l] = exp(xs[l] - m);
            sum[l] += xs[l];
        }
    }
    let mut total: f32 = sum.iter().sum();
    for x in &mut row[full..] {
        *x = exp(*x - m);
        total += *x;
    }
    let inv = 1.0 / total;
    for x in row.iter_mut() {
        *x *= inv;
    }
    m + total.ln()
}

// Long by design: the FA2-style backward is one numeric pass (recompute P from the saved
// log-sum-exp, dV, dP, dS, dQ, dK) that reads top to bottom against the math in the docs.
/// Gradient of [`alibi_attention`] with respect to `qkv` (FlashAttention-2's backward, on the
/// CPU): the probabilities are recomputed block by block from the saved row log-sum-exp `lse`
/// `[B, H, S]` ([`alibi_attention_with_lse`]), so no `[B, H, S, S]` tensor is stored or
/// allocated. `out` is the forward's context `[B, S, D]`, `d_out` its gradient; returns
/// `d_qkv` `[B, S, 3 * D]`.
///
/// With `P = softmax(S)`, `S = q k^T / sqrt(d) + bias`, `O = P v` and
/// `D_i = sum_c dO_ic O_ic`: `dV = P^T dO`, `dS = P * (dO v^T - D)`, `dQ = dS k / sqrt(d)`,
/// `dK = dS^T q / sqrt(d)`. Work items are (batch, head) pairs on rayon's pool; each owns its
/// head's columns of `d_qkv`, so no two items write the same element.
///
/// # Panics
/// When a slice length does not match `dims` (an internal invariant; the model builds them).
#[allow(clippy::too_many_arguments)]
pub(crate) fn alibi_attention_backward(
    qkv: &[f32],
    key_bias: &[f32],
    neg_slopes: &[f32],
    dims: Dims,
    out: &[f32],
    lse: &[f32],
    d_out: &[f32],
) -> Vec<f32> {
    let Dims {
        batch,
        seq,
        heads,
        head_dim,
    } = dims;
    let d_model = heads * head_dim;
    dims.check(qkv, key_bias, neg_slopes);
    assert_eq!(out.len(), batch * seq * d_model, "output length");
    assert_eq!(d_out.len(), out.len(), "output gradient length");
    assert_eq!(lse.len(), batch * heads * seq, "lse length");
    let mut d_qkv = vec![0f32; qkv.len()];
    if d_qkv.is_empty() {
        return d_qkv;
    }
    let rows_per_block = query_block(seq);
    let rs = (3 * d_model) as isize;
    let ds = d_model as isize;
    let s_is = seq as isize;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let grad_ptr = OutPtr(d_qkv.as_mut_ptr());
    (0..batch * heads).into_par_iter().for_each_init(
        || (Vec::<f32>::new(), Vec::<f32>::new(), Vec::<f32>::new()),
        |(p, dp, delta), item| {
            let (b, h) = (item / heads, item % heads);
            let base = b * seq * 3 * d_model + h * head_dim;
            let q = &qkv[base..];
            let k = &qkv[base + d_model..];
            let v = &qkv[base + 2 * d_model..];
            let o_base = b * seq * d_model + h * head_dim;
            let dout = &d_out[o_base..];
            // D_i = sum_c dO_ic O_ic for every query row of this (b, h).
            delta.clear();
            delta.extend((0..seq).map(|i| {
                let r = i * d_model;
                (0..head_dim)
                    .map(|c| dout[r + c] * out[o_base + r + c])
                    .sum::<f32>()
            }));
            let kb = &key_bias[b * seq..(b + 1) * seq];
            let row_lse = &lse[(b * heads + h) * seq..(b * heads + h + 1) * seq];
            let g = grad_ptr.get();
            for q0 in (0..seq).step_by(rows_per_block) {
                let rows = rows_per_block.min(seq - q0);
                p.resize(rows * seq, 0.0);
                dp.resize(rows * seq, 0.0);
                let q_r = &q[q0 * 3 * d_model..];
                let dout_r = &dout[q0 * d_model..];
                // SAFETY (all gemm calls): the strides stay inside batch b's rows and head h's
                // columns of the slices above (rows < S, columns < d); `p` and `dp` are
                // rows x S row-major; the destinations in `d_qkv` are batch b, head h's
                // columns of the q / k / v thirds, which only this item writes.
                unsafe {
                    // P = scale * Q_r K^T, then the bias and exp(. - lse).
                    gemm::gemm(
                        rows,
                        seq,
                        head_dim,
                        p.as_mut_ptr(),
                        1,
                        s_is,
                        false,
                        q_r.as_ptr(),
                        1,
                        rs,
                        k.as_ptr(),
                        rs,
                        1,
                        0.0,
                        scale,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                for (i, row) in p.chunks_exact_mut(seq).enumerate() {
                    probs_row(row, kb, neg_slopes[h], (q0 + i) as f32, row_lse[q0 + i]);
                }
                unsafe {
                    // dV += P^T dO_r
                    gemm::gemm(
                        seq,
                        head_dim,
                        rows,
                        g.add(base + 2 * d_model),
                        1,
                        rs,
                        true,
                        p.as_ptr(),
                        s_is,
                        1,
                        dout_r.as_ptr(),
                        1,
                        ds,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                    // dP = dO_r V^T
                    gemm::gemm(
                        rows,
                        seq,
                        head_dim,
                        dp.as_mut_ptr(),
                        1,
                        s_is,
                        false,
                        dout_r.as_ptr(),
                        1,
                        ds,
                        v.as_ptr(),
                        rs,
                        1,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                // dS = P * (dP - D_i), in place in dp.
                for (i, (dsr, pr)) in dp
                    .chunks_exact_mut(seq)
                    .zip(p.chunks_exact(seq))
                    .enumerate()
                {
                    let di = delta[q0 + i];
                    for (x, &pv) in dsr.iter_mut().zip(pr) {
                        *x = pv * (*x - di);
                    }
                }
                unsafe {
                    // dQ_r = scale * dS K
                    gemm::gemm(
                        rows,
                        head_dim,
                        seq,
                        g.add(base + q0 * 3 * d_model),
                        1,
                        rs,
                        false,
                        dp.as_ptr(),
                        1,
                        s_is,
                        k.as_ptr(),
                        1,
                        rs,
                        0.0,
                        scale,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                    // dK += scale * dS^T Q_r
                    gemm::gemm(
                        seq,
                        head_dim,
                        rows,
                        g.add(base + d_model),
                        1,
                        rs,
                        true,
                        dp.as_ptr(),
                        s_is,
                        1,
                        q_r.as_ptr(),
                        1,
                        rs,
                        1.0,
                        scale,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
        },
    );
    d_qkv
}

/// In place: `row[j] = exp(row[j] + neg_slope * |query - j| + key_bias[j] - lse)`, the
/// probabilities of one score row recomputed from its log-sum-exp.
fn probs_row(row: &mut [f32], key_bias: &[f32], neg_slope: f32, query: f32, lse: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { probs_row_avx2(row, key_bias, neg_slope, query, lse) };
    }
    probs_row_generic(row, key_bias, neg_slope, query, lse)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn probs_row_avx2(row: &mut [f32], key_bias: &[f32], neg_slope: f32, query: f32, lse: f32) {
    probs_row_generic(row, key_bias, neg_slope, query, lse)
}

#[inline(always)]
fn probs_row_generic(row: &mut [f32], key_bias: &[f32], neg_slope: f32, query: f32, lse: f32) {
    let key_bias = &key_bias[..row.len()];
    for (j, (x, &kb)) in row.iter_mut().zip(key_bias).enumerate() {
        *x = exp(*x + neg_slope * (query - j as f32).abs() + kb - lse);
    }
}

/// Chunk width of the softmax loops (two AVX2 registers, one AVX-512 register).
const LANES: usize = 16;

/// `e^x` for `x <= 0` with ~1 ulp error, branch-free so loops over it vectorise (Cephes
/// `expf`: `x = n ln2 + r`, degree-6 polynomial for `e^r`, `2^n` through the exponent bits).
/// Inputs below -87.3 return `e^-87.3` (~1e-38) instead of a subnormal or zero, which
/// changes a softmax by less than 1e-37.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding it rounds to the nearest integer and leaves that integer in the
    // low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    let pow2n = f32::from_bits(((t.to_bits() as i32 - MAGIC.to_bits() as i32 + 127) << 23) as u32);
    er * pow2n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_to_a_few_ulp() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 4e-7, "worst relative error {worst}");
        assert!(exp(-10_000.0) < 1e-37);
        assert_eq!(exp(0.0), 1.0);
    }

    /// The kernel against a direct evaluation of the same formula in f64.
    #[test]
    fn kernel_matches_reference_with_padding_and_odd_sizes() {
        let dims = Dims {
            batch: 2,
            seq: 37,
            heads: 3,
            head_dim: 5,
        };
        let d = dims.heads * dims.head_dim;
        let n = dims.batch * dims.seq * 3 * d;
        let qkv: Vec<f32> = (0..n)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let mut key_bias = vec![0.0f32; dims.batch * dims.seq];
        for kb in &mut key_bias[dims.seq + 30..] {
            *kb = -10_000.0; // second sequence: 30 real tokens, 7 pads
        }
        let neg_slopes = [-0.5f32, -0.25, -0.0625];
        let got = alibi_attention(&qkv, &key_bias, &neg_slopes, dims);
        let at = |b: usize, t: usize, c: usize| qkv[(b * dims.seq + t) * 3 * d + c] as f64;
        for b in 0..dims.batch {
            for h in 0..dims.heads {
                for i in 0..dims.seq {
                    let s: Vec<f64> = (0..dims.seq)
                        .map(|j| {
                            let dot: f64 = (0..dims.head_dim)
                                .map(|c| {
                                    at(b, i, h * dims.head_dim + c)
                                        * at(b, j, d + h * dims.head_dim + c)
                                })
                                .sum();
                            dot / (dims.head_dim as f64).sqrt()
                                + neg_slopes[h] as f64 * (i as f64 - j as f64).abs()
                                + key_bias[b * dims.seq + j] as f64
                        })
                        .collect();
                    let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
                    for c in 0..dims.head_dim {
                        let want: f64 = (0..dims.seq)
                            .map(|j| (s[j] - m).exp() / z * at(b, j, 2 * d + h * dims.head_dim + c))
                            .sum();
                        let g = got[(b * dims.seq + i) * d + h * dims.head_dim + c] as f64;
                        assert!(
                            (g - want).abs() < 1e-5,
                            "b{b} h{h} i{i} c{c}: {g} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// The backward kernel against the dense f64 formulas, with padding, odd sizes and more
    /// query rows than one block (S = 300 > 128), and the lse against the forward's rows.
    #[test]
    fn backward_matches_dense_reference() {
        let dims = Dims {
            batch: 2,
            seq: 300,
            heads: 2,
            head_dim: 3,
        };
        let (bsz, s, hn, hd) = (dims.batch, dims.seq, dims.heads, dims.head_dim);
        let d = hn * hd;
        let qkv: Vec<f32> = (0..bsz * s * 3 * d)
            .map(|i| ((i * 7919 % 1013) as f32 / 506.0) - 1.0)
            .collect();
        let d_out: Vec<f32> = (0..bsz * s * d)
            .map(|i| ((i * 104_729 % 997) as f32 / 498.0) - 1.0)
            .collect();
        let mut key_bias = vec![0.0f32; bsz * s];
        for kb in &mut key_bias[s + 250..] {
            *kb = -10_000.0;
        }
        let neg_slopes = [-0.5f32, -0.0625];
        let (out, lse) = alibi_attention_with_lse(&qkv, &key_bias, &neg_slopes, dims);
        assert_eq!(out, alibi_attention(&qkv, &key_bias, &neg_slopes, dims));
        let got = alibi_attention_backward(&qkv, &key_bias, &neg_slopes, dims, &out, &lse, &d_out);
        let at = |b: usize, t: usize, c: usize| qkv[(b * s + t) * 3 * d + c] as f64;
        let mut want = vec![0f64; qkv.len()];
        let scale = 1.0 / (hd as f64).sqrt();
        for b in 0..bsz {
            for h in 0..hn {
                let col = h * hd;
                // P [S, S] in f64
                let mut p = vec![0f64; s * s];
                for i in 0..s {
                    let row: Vec<f64> = (0..s)
                        .map(|j| {
                            let dot: f64 = (0..hd)
                                .map(|c| at(b, i, col + c) * at(b, j, d + col + c))
                                .sum();
                            dot * scale
                                + neg_slopes[h] as f64 * (i as f64 - j as f64).abs()
                                + key_bias[b * s + j] as f64
                        })
                        .collect();
                    let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = row.iter().map(|x| (x - m).exp()).sum();
                    let l = m + z.ln();
                    let got_l = lse[(b * hn + h) * s + i] as f64;
                    assert!(
                        (got_l - l).abs() < 1e-4,
                        "lse b{b} h{h} i{i}: {got_l} vs {l}"
                    );
                    for j in 0..s {
                        p[i * s + j] = (row[j] - l).exp();
                    }
                }
                let dout = |i: usize, c: usize| d_out[(b * s + i) * d + col + c] as f64;
                let o = |i: usize, c: usize| -> f64 {
                    (0..s)
                        .map(|j| p[i * s + j] * at(b, j, 2 * d + col + c))
                        .sum()
                };
                for i in 0..s {
                    let di: f64 = (0..hd).map(|c| dout(i, c) * o(i, c)).sum();
                    for j in 0..s {
                        let dpij: f64 = (0..hd)
                            .map(|c| dout(i, c) * at(b, j, 2 * d + col + c))
                            .sum();
                        let dsij = p[i * s + j] * (dpij - di);
                        for c in 0..hd {
                            want[(b * s + j) * 3 * d + 2 * d + col + c] +=
                                p[i * s + j] * dout(i, c);
                            want[(b * s + i) * 3 * d + col + c] +=
                                scale * dsij * at(b, j, d + col + c);
                            want[(b * s + j) * 3 * d + d + col + c] +=
                                scale * dsij * at(b, i, col + c);
                        }
                    }
                }
            }
        }
        let worst = got
            .iter()
            .zip(&want)
            .map(|(&g, &w)| (g as f64 - w).abs())
            .fold(0.0, |a: f64, e| {
                if e.is_nan() || a.is_nan() {
                    f64::NAN
                } else {
                    a.max(e)
                }
            });
        assert!(worst < 1e-5, "max abs error {worst}");
        assert!(
            want.iter().any(|w| w.abs() > 0.1),
            "the reference gradient is not trivial"
        );
    }

    #[test]
    fn query_block_bounds() {
        assert_eq!(query_block(1), 1);
        assert_eq!(query_block(100), 100);
        assert_eq!(query_block(4096), 128);
        assert_eq!(query_block(1 << 16), 16);
        assert_eq!(query_block(1 << 22), 8);
    }
}
