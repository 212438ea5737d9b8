//! The update rules themselves, over one tensor and its slice of optimizer state.

use super::Rule;

/// Zero for magnitudes below the smallest normal `f32`. State that decays geometrically (the
/// moments of a weight whose gradient stays zero, such as one fed by an always-blank border
/// pixel) would otherwise sink into subnormals, which x86 computes tens of times slower; the
/// flush is explicit so the host and the device still compute the same floats.
fn flush(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE {
        0.0
    } else {
        x
    }
}

/// Update `w` from `g` by `rule` at step `t` (1-based), `state` holding this tensor's share of
/// the optimizer state (Adam: first moments, then second moments).
pub(super) fn apply(rule: Rule, t: u32, w: &mut [f32], g: &[f32], state: &mut [f32]) {
    match rule {
        Rule::Sgd { lr } => {
            for (wi, gi) in w.iter_mut().zip(g) {
                *wi -= lr * gi;
            }
        }
        Rule::Momentum { lr, momentum } => {
            for ((wi, gi), vi) in w.iter_mut().zip(g).zip(state) {
                *vi = flush(momentum * *vi - lr * gi);
                *wi += *vi;
            }
        }
        Rule::AdaGrad { lr, delta, .. } => {
            for ((wi, gi), hi) in w.iter_mut().zip(g).zip(state) {
                *hi += gi * gi;
                *wi -= lr * gi / (libm::sqrtf(*hi) + delta);
            }
        }
        Rule::RmsProp { lr, rho, delta } => {
            for ((wi, gi), hi) in w.iter_mut().zip(g).zip(state) {
                *hi = flush(rho * *hi + (1.0 - rho) * gi * gi);
                *wi -= lr * gi / (libm::sqrtf(*hi) + delta);
            }
        }
        Rule::Adam {
            lr,
            beta1,
            beta2,
            delta,
        } => {
            let t = t as f32;
            let lr_t = lr * libm::sqrtf(1.0 - libm::powf(beta2, t)) / (1.0 - libm::powf(beta1, t));
            let (m, v) = state.split_at_mut(w.len());
            for (((wi, gi), mi), vi) in w.iter_mut().zip(g).zip(m).zip(v) {
                *mi = flush(*mi + (1.0 - beta1) * (gi - *mi));
                *vi = flush(*vi + (1.0 - beta2) * (gi * gi - *vi));
                *wi -= lr_t * *mi / (libm::sqrtf(*vi) + delta);
            }
        }
    }
}
