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

/// One update of `w` from `g` by `rule` at step `t` (1-based), `state` holding this tensor's
/// share of the optimizer state (Adam: first moments, then second moments).
///
/// With `WRITE = false` nothing is written: it returns whether every new weight and state
/// value would be finite, which also refuses every non-finite gradient: each rule's new values
/// take `g` through products and sums that keep a NaN or an infinity non-finite (even at a zero
/// rate or `β = 1`, `0·∞` is NaN), so no separate pass over the gradients is needed. With
/// `WRITE = true` it applies the update (and returns `true`). Both compute the same floats in
/// the same order, so a step can be checked whole before any of it is applied.
pub(super) fn apply<const WRITE: bool>(
    rule: Rule,
    t: u32,
    w: &mut [f32],
    g: &[f32],
    state: &mut [f32],
) -> bool {
    let mut ok = true;
    match rule {
        Rule::Sgd { lr } => {
            for (wi, gi) in w.iter_mut().zip(g) {
                let nw = *wi - lr * gi;
                commit::<WRITE>(&mut ok, wi, nw);
            }
        }
        Rule::Momentum { lr, momentum } => {
            for ((wi, gi), vi) in w.iter_mut().zip(g).zip(state) {
                let nv = flush(momentum * *vi - lr * gi);
                let nw = *wi + nv;
                commit::<WRITE>(&mut ok, vi, nv);
                commit::<WRITE>(&mut ok, wi, nw);
            }
        }
        Rule::AdaGrad { lr, delta, .. } => {
            for ((wi, gi), hi) in w.iter_mut().zip(g).zip(state) {
                let nh = *hi + gi * gi;
                let nw = *wi - lr * gi / (crate::kernels::sqrt(nh) + delta);
                commit::<WRITE>(&mut ok, hi, nh);
                commit::<WRITE>(&mut ok, wi, nw);
            }
        }
        Rule::RmsProp { lr, rho, delta } => {
            for ((wi, gi), hi) in w.iter_mut().zip(g).zip(state) {
                let nh = flush(rho * *hi + (1.0 - rho) * gi * gi);
                let nw = *wi - lr * gi / (crate::kernels::sqrt(nh) + delta);
                commit::<WRITE>(&mut ok, hi, nh);
                commit::<WRITE>(&mut ok, wi, nw);
            }
        }
        Rule::Adam {
            lr,
            beta1,
            beta2,
            delta,
        } => {
            let t = t as f32;
            let lr_t = lr * crate::kernels::sqrt(1.0 - libm::powf(beta2, t))
                / (1.0 - libm::powf(beta1, t));
            let (m, v) = state.split_at_mut(w.len());
            for (((wi, gi), mi), vi) in w.iter_mut().zip(g).zip(m).zip(v) {
                let nm = flush(*mi + (1.0 - beta1) * (gi - *mi));
                let nv = flush(*vi + (1.0 - beta2) * (gi * gi - *vi));
                let nw = *wi - lr_t * nm / (crate::kernels::sqrt(nv) + delta);
                commit::<WRITE>(&mut ok, mi, nm);
                commit::<WRITE>(&mut ok, vi, nv);
                commit::<WRITE>(&mut ok, wi, nw);
            }
        }
    }
    ok
}

/// Store `new` in `slot` (`WRITE`), or note whether it is finite (check).
#[inline(always)]
fn commit<const WRITE: bool>(ok: &mut bool, slot: &mut f32, new: f32) {
    if WRITE {
        *slot = new;
    } else {
        *ok &= new.is_finite();
    }
}
