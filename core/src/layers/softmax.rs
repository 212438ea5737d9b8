//! Softmax over the features of each sample, as a layer of its own (for use with plain
//! cross-entropy). Training a classifier is better served by the fused
//! [`crate::loss::Loss::SoftmaxCrossEntropy`], whose gradient is simply `(y − d) / B`.

use bytemuck::Zeroable;

use crate::layer::{signature, Layer, Mode, Plan};
use crate::math;

/// Softmax of `K` features.
#[derive(Clone, Copy, Zeroable)]
pub struct Softmax<const K: usize>;

/// `y = exp(x − max x) / Σ exp(x − max x)`. Subtracting the maximum keeps `exp` finite for any
/// finite input (inputs near ±1000 included) without changing the result.
pub fn softmax(x: &[f32], y: &mut [f32]) {
    softmax_rows(x, y, x.len());
}

/// [`softmax`] of each row of `k` entries of `x` into the same row of `y`. The exponentials of
/// all rows are taken in one pass ([`math::exp_in_place`]), then each row is summed in order
/// and scaled: the floats of a row at a time.
pub fn softmax_rows(x: &[f32], y: &mut [f32], k: usize) {
    if k == 0 {
        return;
    }
    let y = &mut y[..x.len() / k * k];
    for (xr, yr) in x.chunks_exact(k).zip(y.chunks_exact_mut(k)) {
        let max = xr.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        yr.iter_mut().zip(xr).for_each(|(yi, xi)| *yi = xi - max);
    }
    math::exp_in_place(y);
    for yr in y.chunks_exact_mut(k) {
        let inv = 1.0 / yr.iter().fold(0.0, |sum, yi| sum + yi);
        yr.iter_mut().for_each(|yi| *yi *= inv);
    }
}

impl<const K: usize> Layer for Softmax<K> {
    type In = [f32; K];
    type Out = [f32; K];
    const ZERO: Self = Self;
    const PARAMS: usize = 0;
    const STATE: usize = 0;
    const CACHE: Plan = Plan::ZERO;
    const WORK: Plan = Plan::ZERO;
    const INFER: Plan = Plan::ZERO;
    const SIGNATURE: u64 = signature(b"softmax", &[K]);

    fn forward(
        &self,
        x: &[[f32; K]],
        y: &mut [[f32; K]],
        _mode: Mode,
        _cache: &mut [f32],
        _work: &mut [f32],
    ) {
        softmax_rows(x.as_flattened(), y.as_flattened_mut(), K);
    }

    fn backward(
        &self,
        _x: &[[f32; K]],
        y: &[[f32; K]],
        dy: &[[f32; K]],
        dx: Option<&mut [[f32; K]]>,
        _grad: &mut [f32],
        _cache: &[f32],
        _work: &mut [f32],
    ) {
        // Jacobian-vector product: ∂E/∂xᵢ = yᵢ (∂E/∂yᵢ − Σⱼ ∂E/∂yⱼ yⱼ).
        let Some(dx) = dx else { return };
        for ((yr, dyr), dxr) in y.iter().zip(dy).zip(dx) {
            let s: f32 = yr.iter().zip(dyr).map(|(a, b)| a * b).sum();
            for ((d, yi), dyi) in dxr.iter_mut().zip(yr).zip(dyr) {
                *d = yi * (dyi - s);
            }
        }
    }
}
