//! Numerical gradients by central difference, `(f(θ + h) − f(θ − h)) / 2h`: slow, simple and
//! independent of backpropagation, hence the check on it.

use crate::layer::{Layer, Tensor};

/// The course's step.
pub const H: f32 = 1e-4;

/// Set the `index`-th trainable parameter of `net` (visit order) to `set(old)`; returns `old`.
fn replace<L: Layer>(net: &mut L, index: usize, set: impl Fn(f32) -> f32) -> f32 {
    let (mut seen, mut old) = (0, 0.0);
    net.visit(&mut |t: Tensor<'_>| {
        if !t.kind.trainable() {
            return;
        }
        if let Some(v) = index.checked_sub(seen).and_then(|i| t.value.get_mut(i)) {
            old = *v;
            *v = set(old);
        }
        seen += t.value.len();
    });
    old
}

/// The central difference over the step really taken: `x ± h` is rounded to `f32`, so the
/// distance between the two points is not exactly `2h` (for `x = 3`, `h = 1e-4` it is off by
/// ~1e-3 relative, which would show as a gradient error). Where `h` is below half an ulp of
/// `x` (|x| ≳ 1700 for h = 1e-4) no step is taken and the result is NaN, not a false 0.
fn central(plus: f64, minus: f64, x: f32, h: f32) -> f32 {
    ((plus - minus) / ((x + h) as f64 - (x - h) as f64)) as f32
}

/// `∂f/∂θᵢ` for every trainable parameter of `net`, into `grad` (`L::PARAMS` floats). `f`
/// evaluates the loss (in f64 where f32 would be too coarse); each parameter is restored,
/// bit for bit, after its two evaluations.
pub fn numerical_gradient<L: Layer>(
    net: &mut L,
    h: f32,
    mut f: impl FnMut(&mut L) -> f64,
    grad: &mut [f32],
) {
    for (i, g) in grad.iter_mut().enumerate().take(L::PARAMS) {
        let old = replace(net, i, |v| v + h);
        let plus = f(net);
        replace(net, i, |_| old - h);
        let minus = f(net);
        replace(net, i, |_| old);
        *g = central(plus, minus, old, h);
    }
}

/// `∂f/∂xᵢ` for every element of `x`, into `grad`; `x` is restored.
pub fn numerical_input_gradient(
    x: &mut [f32],
    h: f32,
    mut f: impl FnMut(&[f32]) -> f64,
    grad: &mut [f32],
) {
    for i in 0..x.len().min(grad.len()) {
        let old = x[i];
        x[i] = old + h;
        let plus = f(x);
        x[i] = old - h;
        let minus = f(x);
        x[i] = old;
        grad[i] = central(plus, minus, old, h);
    }
}

/// Largest `|a − b| / max(|a|, |b|, floor)` over two gradients: the usual closeness measure,
/// with `floor` keeping near-zero entries from dominating. A NaN or infinite entry on either
/// side counts as an infinite error (`f32::max` alone would skip a NaN and pass it).
pub fn max_relative_error(a: &[f32], b: &[f32], floor: f32) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let e = (x - y).abs() / x.abs().max(y.abs()).max(floor);
            if e.is_nan() || !x.is_finite() || !y.is_finite() {
                f32::INFINITY
            } else {
                e
            }
        })
        .fold(0.0, f32::max)
}
