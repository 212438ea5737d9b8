//! Batch normalisation of a batch laid out sample-major `(n, C, S)`: `n` samples, `C` channels,
//! `S` positions per channel (`S = 1` after a dense layer, `H·W` after a convolution). Each
//! channel is normalised over its `n·S` values:
//! `x̂ = (x − μ) / √(σ² + ε)`, `y = γ x̂ + β`, with the biased variance and `ε = 1e-7` (the course).
//!
//! Loops run channel by channel, so `1/√(σ² + ε)` is taken once per channel without a scratch
//! buffer; within a channel each sample's `S` values are contiguous.

use core::ops::Range;

/// Added to the variance before the square root.
pub const EPS: f32 = 1e-7;
/// Weight of the old value in the running averages: `running = 0.9·running + 0.1·batch`.
pub const MOMENTUM: f32 = 0.9;

/// `n` samples of `c` channels of `s` values each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BnShape {
    pub n: usize,
    pub c: usize,
    pub s: usize,
}

impl BnShape {
    /// Where sample `i`'s values of channel `ch` lie.
    fn plane(&self, i: usize, ch: usize) -> Range<usize> {
        let at = (i * self.c + ch) * self.s;
        at..at + self.s
    }

    /// Values per channel, `n·S`.
    fn count(&self) -> usize {
        self.n * self.s
    }

    /// All floats, `n·C·S`.
    fn len(&self) -> usize {
        self.n * self.c * self.s
    }
}

/// The per-channel statistics and learned scale and shift a normalisation uses.
#[derive(Clone, Copy, Debug)]
pub struct Norm<'a> {
    pub mean: &'a [f32],
    pub var: &'a [f32],
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    /// Whether `mean` and `var` are the batch's own statistics, so that they depend on `x` and
    /// the gradient flows through them; `false` for fixed (running) statistics.
    pub from_batch: bool,
}

/// `1 / √(σ² + ε)`.
fn inv_std(var: f32) -> f32 {
    1.0 / libm::sqrtf(var + EPS)
}

/// Per-channel mean and biased variance of `x` (two passes, for accuracy when the mean is far
/// from zero). Writes `c` entries of each.
pub fn bn_stats(shape: BnShape, x: &[f32], mean: &mut [f32], var: &mut [f32]) {
    let x = &x[..shape.len()];
    let scale = 1.0 / shape.count().max(1) as f32;
    for ((ch, m), v) in mean[..shape.c]
        .iter_mut()
        .enumerate()
        .zip(&mut var[..shape.c])
    {
        let sum: f32 = (0..shape.n)
            .map(|i| x[shape.plane(i, ch)].iter().sum::<f32>())
            .sum();
        *m = sum * scale;
        let sq = |i| {
            x[shape.plane(i, ch)]
                .iter()
                .map(|xi| (xi - *m) * (xi - *m))
                .sum::<f32>()
        };
        *v = (0..shape.n).map(sq).sum::<f32>() * scale;
    }
}

/// `y = γ (x − μ) / √(σ² + ε) + β` per channel.
pub fn bn_normalize(shape: BnShape, norm: &Norm<'_>, x: &[f32], y: &mut [f32]) {
    let (x, y) = (&x[..shape.len()], &mut y[..shape.len()]);
    for ch in 0..shape.c {
        let (m, beta) = (norm.mean[ch], norm.beta[ch]);
        let a = norm.gamma[ch] * inv_std(norm.var[ch]);
        for i in 0..shape.n {
            let at = shape.plane(i, ch);
            for (yi, xi) in y[at.clone()].iter_mut().zip(&x[at]) {
                *yi = a * (xi - m) + beta;
            }
        }
    }
}

/// `running = MOMENTUM·running + (1 − MOMENTUM)·batch`, element-wise.
pub fn bn_update_running(running: &mut [f32], batch: &[f32]) {
    for (r, b) in running.iter_mut().zip(batch) {
        *r = MOMENTUM * *r + (1.0 - MOMENTUM) * b;
    }
}

/// Gradients of a normalisation given `dy = ∂E/∂y`: `∂E/∂β = Σ dy`, `∂E/∂γ = Σ dy·x̂` (per
/// channel, over samples and positions, overwriting `c` entries each) and, when `dx` is given,
/// `∂E/∂x`. With batch statistics (`norm.from_batch`) that is the course's formula, compacted:
/// `dx = γ/√(σ² + ε) · (dy − mean(dy) − x̂·mean(dy·x̂))`; with fixed statistics `x̂` is an affine
/// map of `x` and `dx = γ/√(σ² + ε) · dy`.
pub fn bn_backward(
    shape: BnShape,
    norm: &Norm<'_>,
    x: &[f32],
    dy: &[f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    mut dx: Option<&mut [f32]>,
) {
    let (x, dy) = (&x[..shape.len()], &dy[..shape.len()]);
    let scale = 1.0 / shape.count().max(1) as f32;
    for ch in 0..shape.c {
        let (m, a) = (norm.mean[ch], inv_std(norm.var[ch]));
        let (mut sum_dy, mut sum_dy_xhat) = (0.0, 0.0);
        for i in 0..shape.n {
            let at = shape.plane(i, ch);
            for (d, xi) in dy[at.clone()].iter().zip(&x[at]) {
                sum_dy += d;
                sum_dy_xhat += d * (xi - m) * a;
            }
        }
        dbeta[ch] = sum_dy;
        dgamma[ch] = sum_dy_xhat;
        let Some(dx) = dx.as_deref_mut() else {
            continue;
        };
        let g = norm.gamma[ch] * a;
        let (mean_dy, mean_dy_xhat) = if norm.from_batch {
            (sum_dy * scale, sum_dy_xhat * scale)
        } else {
            (0.0, 0.0)
        };
        for i in 0..shape.n {
            let at = shape.plane(i, ch);
            let dx = &mut dx[at.clone()];
            for ((dxi, d), xi) in dx.iter_mut().zip(&dy[at.clone()]).zip(&x[at]) {
                *dxi = g * (d - mean_dy - (xi - m) * a * mean_dy_xhat);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_each_channel() {
        // 3 samples, 2 channels, 2 positions.
        let shape = BnShape { n: 3, c: 2, s: 2 };
        let x: [f32; 12] = core::array::from_fn(|i| (i * i % 7) as f32 + 100.0);
        let (mut mean, mut var, mut y) = ([0.0; 2], [0.0; 2], [0.0; 12]);
        bn_stats(shape, &x, &mut mean, &mut var);
        let norm = Norm {
            mean: &mean,
            var: &var,
            gamma: &[1.0; 2],
            beta: &[0.0; 2],
            from_batch: true,
        };
        bn_normalize(shape, &norm, &x, &mut y);
        for ch in 0..2 {
            let vals: [f32; 6] = core::array::from_fn(|k| y[shape.plane(k / 2, ch)][k % 2]);
            let m = vals.iter().sum::<f32>() / 6.0;
            let v = vals.iter().map(|a| (a - m) * (a - m)).sum::<f32>() / 6.0;
            assert!(
                m.abs() < 1e-5 && (v - 1.0).abs() < 1e-4,
                "channel {ch}: {m} {v}"
            );
        }
        // dβ = Σ dy; with dy = γ-independent constant, dx vanishes under batch statistics.
        let (mut dg, mut db, mut dx) = ([0.0; 2], [0.0; 2], [1.0; 12]);
        bn_backward(
            shape,
            &norm,
            &x,
            &[2.0; 12],
            &mut dg,
            &mut db,
            Some(&mut dx),
        );
        assert_eq!(db, [12.0; 2]);
        assert!(dg.iter().all(|g| g.abs() < 1e-4));
        assert!(dx.iter().all(|d| d.abs() < 1e-3));
    }

    #[test]
    fn running_average() {
        let mut r = [1.0, 0.0];
        bn_update_running(&mut r, &[0.0, 1.0]);
        assert!(
            (r[0] - 0.9).abs() < 1e-6 && (r[1] - 0.1).abs() < 1e-6,
            "{r:?}"
        );
    }
}
