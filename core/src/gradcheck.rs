//! Numerical gradients by central difference, `(f(θ + h) − f(θ − h)) / 2h`: slow, simple and
//! independent of backpropagation, hence the check on it.

use crate::layer::{Layer, Tensor};

/// The course's step.
pub const H: f32 = 1e-4;

/// Add `delta` to the `index`-th trainable parameter of `net` (visit order).
fn nudge<L: Layer>(net: &mut L, index: usize, delta: f32) {
    let mut seen = 0;
    net.visit(&mut |t: Tensor<'_>| {
        if !t.kind.trainable() {
            return;
        }
        if let Some(v) = index.checked_sub(seen).and_then(|i| t.value.get_mut(i)) {
            *v += delta;
        }
        seen += t.value.len();
    });
}

/// `∂f/∂θᵢ` for every trainable parameter of `net`, into `grad` (`L::PARAMS` floats). `f`
/// evaluates the loss (in f64 where f32 would be too coarse); each parameter is restored
/// after its two evaluations.
pub fn numerical_gradient<L: Layer>(
    net: &mut L,
    h: f32,
    mut f: impl FnMut(&mut L) -> f64,
    grad: &mut [f32],
) {
    for (i, g) in grad.iter_mut().enumerate().take(L::PARAMS) {
        nudge(net, i, h);
        let plus = f(net);
        nudge(net, i, -2.0 * h);
        let minus = f(net);
        nudge(net, i, h);
        *g = ((plus - minus) / (2.0 * h as f64)) as f32;
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
        grad[i] = ((plus - minus) / (2.0 * h as f64)) as f32;
    }
}

/// Largest `|a − b| / max(|a|, |b|, floor)` over two gradients: the usual closeness measure,
/// with `floor` keeping near-zero entries from dominating.
pub fn max_relative_error(a: &[f32], b: &[f32], floor: f32) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(floor))
        .fold(0.0, f32::max)
}
