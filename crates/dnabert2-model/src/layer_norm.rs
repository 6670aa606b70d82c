//! LayerNorm over the last axis on host f32 rows, forward and backward: the kernels behind
//! the fused layer-norm autodiff op of the CPU backends (`cpu_autodiff.rs`). Statistics are
//! accumulated in f64, as burn's and PyTorch's CPU kernels do, so results match them to
//! float rounding.

use rayon::prelude::*;

/// Rows per rayon task.
const ROWS: usize = 32;

/// `y = x_hat * gamma + beta` with `x_hat = (x - mean) * rstd`, `rstd = 1 / sqrt(var + eps)`
/// per row of width `gamma.len()`. Returns `(y, x_hat, rstd)`.
pub(crate) fn forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = gamma.len();
    let n = x.len() / d;
    let mut y = vec![0f32; x.len()];
    let mut x_hat = vec![0f32; x.len()];
    let mut rstd = vec![0f32; n];
    y.par_chunks_mut(d * ROWS)
        .zip(x_hat.par_chunks_mut(d * ROWS))
        .zip(rstd.par_chunks_mut(ROWS))
        .zip(x.par_chunks(d * ROWS))
        .for_each(|(((ys, hs), rs), xs)| {
            for (((y, h), r), x) in ys
                .chunks_exact_mut(d)
                .zip(hs.chunks_exact_mut(d))
                .zip(rs.iter_mut())
                .zip(xs.chunks_exact(d))
            {
                let mean = x.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
                let var = x
                    .iter()
                    .map(|&v| {
                        let c = v as f64 - mean;
                        c * c
                    })
                    .sum::<f64>()
                    / d as f64;
                let inv = (1.0 / (var + eps as f64).sqrt()) as f32;
                *r = inv;
                let mean = mean as f32;
                for c in 0..d {
                    let xh = (x[c] - mean) * inv;
                    h[c] = xh;
                    y[c] = xh * gamma[c] + beta[c];
                }
            }
        });
    (y, x_hat, rstd)
}

/// Gradients of [`forward`] given `dy`: `(dx, dgamma, dbeta)` with
/// `dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat))`, `g = dy * gamma`.
pub(crate) fn backward(
    x_hat: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = gamma.len();
    let mut dx = vec![0f32; x_hat.len()];
    let partial: Vec<(Vec<f64>, Vec<f64>)> = dx
        .par_chunks_mut(d * ROWS)
        .zip(x_hat.par_chunks(d * ROWS))
        .zip(dy.par_chunks(d * ROWS))
        .zip(rstd.par_chunks(ROWS))
        .map(|(((dxs, hs), dys), rs)| {
            let (mut dg, mut db) = (vec![0f64; d], vec![0f64; d]);
            for (((dx, h), dy), &r) in dxs
                .chunks_exact_mut(d)
                .zip(hs.chunks_exact(d))
                .zip(dys.chunks_exact(d))
                .zip(rs)
            {
                let (mut s1, mut s2) = (0f64, 0f64);
                for c in 0..d {
                    let g = (dy[c] * gamma[c]) as f64;
                    s1 += g;
                    s2 += g * h[c] as f64;
                    dg[c] += (dy[c] * h[c]) as f64;
                    db[c] += dy[c] as f64;
                }
                let (m1, m2) = ((s1 / d as f64) as f32, (s2 / d as f64) as f32);
                for c in 0..d {
                    dx[c] = r * (dy[c] * gamma[c] - m1 - h[c] * m2);
                }
            }
            (dg, db)
        })
        .collect();
    let (mut dgamma, mut dbeta) = (vec![0f64; d], vec![0f64; d]);
    for (dg, db) in partial {
        for c in 0..d {
            dgamma[c] += dg[c];
            dbeta[c] += db[c];
        }
    }
    let f = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
    (dx, f(dgamma), f(dbeta))
}
