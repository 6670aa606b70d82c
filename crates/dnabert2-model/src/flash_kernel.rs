//! The CubeCL kernels of fused ALiBi attention (FlashAttention-2 style), compiled for wgpu
//! and CUDA. The burn wiring (tile sizes, launches, the autodiff node) is in
//! [`crate::gpu_attention`].
//!
//! Score of query `i` and key `j` in head `h` of sequence `b`:
//! `q_i . k_j / sqrt(d) - slope_h * |i - j| + key_bias[b, j]`. The slopes (`[H]`, negated) and
//! the key bias (`[B, S]`: 0 at real keys, -10000 at padded keys) are small tensors: no
//! `[B, H, S, S]` tensor is ever allocated.
//!
//! Layout: `qkv` is the fused `Wqkv` output `[B, S, 3 * H * d]` read in place (Q, K, V of
//! head `h` at column offsets `h * d`, `H * d + h * d` and `2 * H * d + h * d`); the context
//! is written as `[B, S, H * d]` and the gradient as `[B, S, 3 * H * d]`, so neither pass has
//! head split or merge copies.
//!
//! Every kernel runs one cube per (`tile` rows, head, sequence), one unit per row, and
//! streams the other side of the score matrix through shared memory in tiles of `tile` rows.
//! Inputs may be f32, f16 or bf16 (`F`); everything inside is f32 (shared tiles,
//! accumulators, the online softmax), results are cast back to `F`.
//! - [`flash_forward`]: online softmax over key tiles; writes the context and the row
//!   log-sum-exp `[B, H, S]` (f32) that the backward recomputes probabilities from.
//! - [`flash_backward_dq`]: per query row, `dQ_i = scale * sum_j dS_ij k_j` with
//!   `P_ij = exp(s_ij - lse_i)`, `dS_ij = P_ij (dO_i . v_j - dO_i . O_i)`.
//! - [`flash_backward_dkdv`]: per key row, `dV_j = sum_i P_ij dO_i` and
//!   `dK_j = scale * sum_i dS_ij q_i`.
//!
//! The two backward kernels write disjoint columns of `dqkv`, each element exactly once.

// Kernel bodies are expanded by `#[cube]`, which knows a subset of Rust: the integer helpers
// clippy suggests (`abs_diff`, `div_ceil`) are not among them.
#![allow(clippy::manual_abs_diff, clippy::manual_div_ceil)]

use cubecl::prelude::*;

/// The absolute distance `|i - j|` as f32.
#[cube]
fn distance(i: usize, j: usize) -> f32 {
    let dist = if i > j { i - j } else { j - i };
    f32::cast_from(dist as u32)
}

/// `exp(x)` for `x <= 0`, exactly 0 below -80 (where f32's exp underflows anyway).
/// Software rasterisers (Mesa's lavapipe) return garbage for exp of very negative
/// arguments (seen from about -116 down): the -1e30 start of the running max, and ALiBi
/// scores of distant keys in long sequences, reach them.
#[cube]
fn exp_neg(x: f32) -> f32 {
    let mut y = f32::new(0.0);
    if x > f32::new(-80.0) {
        y = x.exp();
    }
    y
}

/// Forward: `out[b, i, h*d..]` = softmax-weighted sum of values, `lse[b, h, i]` = row
/// log-sum-exp of the scores.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn flash_forward<F: Float>(
    qkv: &Tensor<F>,
    key_bias: &Tensor<f32>,
    neg_slopes: &Tensor<f32>,
    out: &mut Tensor<F>,
    lse: &mut Tensor<f32>,
    seq: u32,
    heads: u32,
    scale: f32,
    #[comptime] tile: usize,
    #[comptime] head_dim: usize,
    #[define(F)] _dtype: StorageType,
) {
    let s = seq as usize;
    let n_heads = heads as usize;
    let d_model = n_heads * head_dim;
    let row = 3 * d_model;
    let b = CUBE_POS_Z as usize;
    let h = CUBE_POS_Y as usize;
    let u = UNIT_POS_X as usize;
    let i = CUBE_POS_X as usize * tile + u;
    let valid = i < s;
    let slope = neg_slopes[h];

    let mut q_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut acc_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut k_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut v_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut p_sh = SharedMemory::<f32>::new(tile * tile);
    let mut kb_sh = SharedMemory::<f32>::new(tile);

    // Own query row, pre-scaled; own accumulator (no other unit touches either).
    #[unroll]
    for c in 0..head_dim {
        let mut qv = 0.0f32;
        if valid {
            qv = f32::cast_from(qkv[(b * s + i) * row + h * head_dim + c]) * scale;
        }
        q_sh[u * head_dim + c] = qv;
        acc_sh[u * head_dim + c] = 0.0f32;
    }

    // Below every real score (|q.k| / sqrt(d), -slope * S, -10000).
    let mut m = f32::new(-1.0e30);
    let mut l = 0.0f32;
    let n_tiles = (s + tile - 1) / tile;
    for t in 0..n_tiles {
        let k0 = t * tile;
        // Everyone is done with the previous tile before it is overwritten.
        sync_cube();
        let mut idx = u;
        while idx < tile * head_dim {
            let j = k0 + idx / head_dim;
            let c = idx % head_dim;
            let mut kv = 0.0f32;
            let mut vv = 0.0f32;
            if j < s {
                let base = (b * s + j) * row + h * head_dim + c;
                kv = f32::cast_from(qkv[base + d_model]);
                vv = f32::cast_from(qkv[base + 2 * d_model]);
            }
            k_sh[idx] = kv;
            v_sh[idx] = vv;
            idx += tile;
        }
        let mut kb = 0.0f32;
        if k0 + u < s {
            kb = key_bias[b * s + k0 + u];
        }
        kb_sh[u] = kb;
        sync_cube();

        if valid {
            let mut tile_max = f32::new(-1.0e30);
            for jj in 0..tile {
                let j = k0 + jj;
                let mut score = f32::new(-1.0e30);
                if j < s {
                    let mut dot = 0.0f32;
                    #[unroll]
                    for c in 0..head_dim {
                        dot += q_sh[u * head_dim + c] * k_sh[jj * head_dim + c];
                    }
                    score = dot + slope * distance(i, j) + kb_sh[jj];
                }
                p_sh[u * tile + jj] = score;
                if score > tile_max {
                    tile_max = score;
                }
            }
            let mut m_new = m;
            if tile_max > m {
                m_new = tile_max;
            }
            let correction = exp_neg(m - m_new);
            l *= correction;
            #[unroll]
            for c in 0..head_dim {
                acc_sh[u * head_dim + c] *= correction;
            }
            for jj in 0..tile {
                if k0 + jj < s {
                    let p = exp_neg(p_sh[u * tile + jj] - m_new);
                    l += p;
                    #[unroll]
                    for c in 0..head_dim {
                        acc_sh[u * head_dim + c] += p * v_sh[jj * head_dim + c];
                    }
                }
            }
            m = m_new;
        }
    }

    if valid {
        let inv = f32::new(1.0) / l;
        #[unroll]
        for c in 0..head_dim {
            out[(b * s + i) * d_model + h * head_dim + c] =
                F::cast_from(acc_sh[u * head_dim + c] * inv);
        }
        lse[(b * n_heads + h) * s + i] = m + l.ln();
    }
}

/// Backward, query side: `dqkv[b, i, h*d..]` (the dQ columns) from the saved `out`, `lse`
/// and the incoming gradient `grad` `[B, S, H * d]`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn flash_backward_dq<F: Float>(
    qkv: &Tensor<F>,
    key_bias: &Tensor<f32>,
    neg_slopes: &Tensor<f32>,
    out: &Tensor<F>,
    grad: &Tensor<F>,
    lse: &Tensor<f32>,
    dqkv: &mut Tensor<F>,
    seq: u32,
    heads: u32,
    scale: f32,
    #[comptime] tile: usize,
    #[comptime] head_dim: usize,
    #[define(F)] _dtype: StorageType,
) {
    let s = seq as usize;
    let n_heads = heads as usize;
    let d_model = n_heads * head_dim;
    let row = 3 * d_model;
    let b = CUBE_POS_Z as usize;
    let h = CUBE_POS_Y as usize;
    let u = UNIT_POS_X as usize;
    let i = CUBE_POS_X as usize * tile + u;
    let valid = i < s;
    let slope = neg_slopes[h];

    let mut q_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut do_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut dq_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut k_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut v_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut kb_sh = SharedMemory::<f32>::new(tile);

    // Own row: scaled q, dO, and D_i = dO_i . O_i.
    let mut delta = 0.0f32;
    let mut row_lse = 0.0f32;
    #[unroll]
    for c in 0..head_dim {
        let mut qv = 0.0f32;
        let mut dov = 0.0f32;
        if valid {
            qv = f32::cast_from(qkv[(b * s + i) * row + h * head_dim + c]) * scale;
            let o = (b * s + i) * d_model + h * head_dim + c;
            dov = f32::cast_from(grad[o]);
            delta += dov * f32::cast_from(out[o]);
        }
        q_sh[u * head_dim + c] = qv;
        do_sh[u * head_dim + c] = dov;
        dq_sh[u * head_dim + c] = 0.0f32;
    }
    if valid {
        row_lse = lse[(b * n_heads + h) * s + i];
    }

    let n_tiles = (s + tile - 1) / tile;
    for t in 0..n_tiles {
        let k0 = t * tile;
        sync_cube();
        let mut idx = u;
        while idx < tile * head_dim {
            let j = k0 + idx / head_dim;
            let c = idx % head_dim;
            let mut kv = 0.0f32;
            let mut vv = 0.0f32;
            if j < s {
                let base = (b * s + j) * row + h * head_dim + c;
                kv = f32::cast_from(qkv[base + d_model]);
                vv = f32::cast_from(qkv[base + 2 * d_model]);
            }
            k_sh[idx] = kv;
            v_sh[idx] = vv;
            idx += tile;
        }
        let mut kb = 0.0f32;
        if k0 + u < s {
            kb = key_bias[b * s + k0 + u];
        }
        kb_sh[u] = kb;
        sync_cube();

        if valid {
            for jj in 0..tile {
                let j = k0 + jj;
                if j < s {
                    let mut dot = 0.0f32;
                    let mut dp = 0.0f32;
                    #[unroll]
                    for c in 0..head_dim {
                        dot += q_sh[u * head_dim + c] * k_sh[jj * head_dim + c];
                        dp += do_sh[u * head_dim + c] * v_sh[jj * head_dim + c];
                    }
                    let score = dot + slope * distance(i, j) + kb_sh[jj];
                    let p = exp_neg(score - row_lse);
                    let ds = p * (dp - delta) * scale;
                    #[unroll]
                    for c in 0..head_dim {
                        dq_sh[u * head_dim + c] += ds * k_sh[jj * head_dim + c];
                    }
                }
            }
        }
    }

    if valid {
        #[unroll]
        for c in 0..head_dim {
            dqkv[(b * s + i) * row + h * head_dim + c] = F::cast_from(dq_sh[u * head_dim + c]);
        }
    }
}

/// Backward, key side: `dqkv[b, j, H*d + h*d..]` (dK) and `dqkv[b, j, 2*H*d + h*d..]` (dV).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn flash_backward_dkdv<F: Float>(
    qkv: &Tensor<F>,
    key_bias: &Tensor<f32>,
    neg_slopes: &Tensor<f32>,
    out: &Tensor<F>,
    grad: &Tensor<F>,
    lse: &Tensor<f32>,
    dqkv: &mut Tensor<F>,
    seq: u32,
    heads: u32,
    scale: f32,
    #[comptime] tile: usize,
    #[comptime] head_dim: usize,
    #[define(F)] _dtype: StorageType,
) {
    let s = seq as usize;
    let n_heads = heads as usize;
    let d_model = n_heads * head_dim;
    let row = 3 * d_model;
    let b = CUBE_POS_Z as usize;
    let h = CUBE_POS_Y as usize;
    let u = UNIT_POS_X as usize;
    let j = CUBE_POS_X as usize * tile + u;
    let valid = j < s;
    let slope = neg_slopes[h];

    let mut k_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut v_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut dk_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut dv_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut q_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut do_sh = SharedMemory::<f32>::new(tile * head_dim);
    let mut lse_sh = SharedMemory::<f32>::new(tile);
    let mut delta_sh = SharedMemory::<f32>::new(tile);

    // Own key and value rows, own accumulators.
    let mut kb = 0.0f32;
    #[unroll]
    for c in 0..head_dim {
        let mut kv = 0.0f32;
        let mut vv = 0.0f32;
        if valid {
            let base = (b * s + j) * row + h * head_dim + c;
            kv = f32::cast_from(qkv[base + d_model]);
            vv = f32::cast_from(qkv[base + 2 * d_model]);
        }
        k_sh[u * head_dim + c] = kv;
        v_sh[u * head_dim + c] = vv;
        dk_sh[u * head_dim + c] = 0.0f32;
        dv_sh[u * head_dim + c] = 0.0f32;
    }
    if valid {
        kb = key_bias[b * s + j];
    }

    let n_tiles = (s + tile - 1) / tile;
    for t in 0..n_tiles {
        let i0 = t * tile;
        sync_cube();
        let mut idx = u;
        while idx < tile * head_dim {
            let i = i0 + idx / head_dim;
            let c = idx % head_dim;
            let mut qv = 0.0f32;
            let mut dov = 0.0f32;
            if i < s {
                qv = f32::cast_from(qkv[(b * s + i) * row + h * head_dim + c]) * scale;
                dov = f32::cast_from(grad[(b * s + i) * d_model + h * head_dim + c]);
            }
            q_sh[idx] = qv;
            do_sh[idx] = dov;
            idx += tile;
        }
        // D_i = dO_i . O_i and lse_i of query row i0 + u.
        let mut delta = 0.0f32;
        let mut row_lse = 0.0f32;
        if i0 + u < s {
            let o = (b * s + i0 + u) * d_model + h * head_dim;
            #[unroll]
            for c in 0..head_dim {
                delta += f32::cast_from(grad[o + c]) * f32::cast_from(out[o + c]);
            }
            row_lse = lse[(b * n_heads + h) * s + i0 + u];
        }
        delta_sh[u] = delta;
        lse_sh[u] = row_lse;
        sync_cube();

        if valid {
            for ii in 0..tile {
                let i = i0 + ii;
                if i < s {
                    let mut dot = 0.0f32;
                    let mut dp = 0.0f32;
                    #[unroll]
                    for c in 0..head_dim {
                        dot += q_sh[ii * head_dim + c] * k_sh[u * head_dim + c];
                        dp += do_sh[ii * head_dim + c] * v_sh[u * head_dim + c];
                    }
                    let score = dot + slope * distance(i, j) + kb;
                    let p = exp_neg(score - lse_sh[ii]);
                    let ds = p * (dp - delta_sh[ii]);
                    #[unroll]
                    for c in 0..head_dim {
                        dv_sh[u * head_dim + c] += p * do_sh[ii * head_dim + c];
                        // q_sh holds scale * q, so this is scale * dS * q.
                        dk_sh[u * head_dim + c] += ds * q_sh[ii * head_dim + c];
                    }
                }
            }
        }
    }

    if valid {
        let base = (b * s + j) * row + h * head_dim;
        #[unroll]
        for c in 0..head_dim {
            dqkv[base + d_model + c] = F::cast_from(dk_sh[u * head_dim + c]);
            dqkv[base + 2 * d_model + c] = F::cast_from(dv_sh[u * head_dim + c]);
        }
    }
}
