//! The error of [`shinso::math`]'s `exp` and `ln` against `f64` from `std`, over the ranges
//! softmax, sigmoid and the losses use, with whichever implementation this build has: libm by
//! default (within an ulp or two), micromath with `--features fast-math`.
//!
//! `cargo test -p shinso --test math -- --nocapture` prints the measured errors; add
//! `--features fast-math` for micromath's.

use shinso::math::{exp, ln};

/// What this build promises for `exp`, relative: libm is within two ulps of f32 (2⁻²³ ≈ 1.2e-7
/// each); micromath's measured worst is 2.39e-3.
const EXP_REL: f64 = if cfg!(feature = "fast-math") {
    2.5e-3
} else {
    2.5e-7
};
/// And for `ln`, absolute (its value crosses 0 at 1, where a relative bound means nothing):
/// libm within two ulps of ln(1e-7) ≈ −16.1 (ulp 9.5e-7); micromath's measured worst is 6.2e-5.
const LN_ABS: f64 = if cfg!(feature = "fast-math") {
    7e-5
} else {
    2e-6
};

/// The points `lo + (hi − lo)·i/n`, `i = 0…n`.
fn grid(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
    (0..=n).map(move |i| lo + (hi - lo) * i as f32 / n as f32)
}

fn worst_relative(lo: f32, hi: f32) -> f64 {
    grid(lo, hi, 100_000)
        .map(|x| {
            let want = f64::from(x).exp();
            (f64::from(exp(x)) - want).abs() / want
        })
        .fold(0.0, f64::max)
}

fn worst_absolute(lo: f32, hi: f32) -> f64 {
    grid(lo, hi, 1_000_000)
        .map(|x| (f64::from(ln(x)) - f64::from(x).ln()).abs())
        .fold(0.0, f64::max)
}

#[test]
fn exp_error_over_softmax_and_sigmoid_inputs() {
    // Softmax takes x − max ≤ 0; sigmoid e^(−x) for logits of either sign; beyond −87 f32
    // underflows.
    let softmax = worst_relative(-80.0, 0.0);
    let sigmoid = worst_relative(-20.0, 20.0);
    println!(
        "exp: worst relative error {softmax:.3e} on [−80, 0], {sigmoid:.3e} on [−20, 20] (bound {EXP_REL:.1e})"
    );
    assert!(softmax <= EXP_REL && sigmoid <= EXP_REL);
    assert_eq!(exp(0.0), 1.0);
    assert_eq!(exp(-1000.0), 0.0, "underflows to 0, as softmax needs");
    assert_eq!(
        exp(1000.0),
        f32::INFINITY,
        "overflows to +∞ (so sigmoid(−1000) is 0)"
    );
}

#[test]
fn ln_error_over_probabilities() {
    // The losses take ln(y + 1e-7) with y a probability; 1…100 covers the x ≥ 1 path too.
    let probs = worst_absolute(1e-7, 1.0);
    let above = worst_absolute(1.0, 100.0);
    println!(
        "ln: worst absolute error {probs:.3e} on [1e-7, 1], {above:.3e} on [1, 100] (bound {LN_ABS:.1e})"
    );
    assert!(probs <= LN_ABS && above <= LN_ABS * 4.0);
    assert_eq!(ln(1.0), 0.0);
}

/// Softmax still sums to one and the fused loss is still `−ln p`, within the bounds.
#[test]
fn softmax_and_loss_within_the_bounds() {
    use shinso::layers::softmax::softmax;
    use shinso::{one_hot, Loss};
    let x = [0.3f32, 2.9, 4.0, -1.5, 0.0];
    let mut p = [0.0f32; 5];
    softmax(&x, &mut p);
    let z: f64 = x.iter().map(|&v| (f64::from(v) - 4.0).exp()).sum();
    for (pi, &xi) in p.iter().zip(&x) {
        let want = (f64::from(xi) - 4.0).exp() / z;
        assert!(
            (f64::from(*pi) - want).abs() <= 3.0 * EXP_REL * want,
            "{pi} vs {want}"
        );
    }
    let mut dy = [0.0f32; 5];
    let loss = Loss::SoftmaxCrossEntropy.loss_and_grad(&x, &one_hot::<5>(1), 5, &mut dy);
    let want = -((f64::from(x[1]) - 4.0).exp() / z + 1e-7).ln();
    assert!(
        (f64::from(loss) - want).abs() <= 3.0 * EXP_REL + LN_ABS,
        "{loss} vs {want}"
    );
}
