//! L1 and L2 weight decay against hand-computed penalties and gradients: weights only, biases
//! untouched; and the decayed loss against its numerical gradient.

use shinso::gradcheck::numerical_gradient;
use shinso::{model, stack, Affine, Layer, Loss, Network, WeightDecay};
use shinso_tests::{assert_close, params, quantized, twin, H};

type Net = stack![Affine<3, 2>, Affine<2, 2>];

/// Weights of the first layer (3×2), its bias, weights of the second (2×2), its bias. One weight
/// is exactly 0 (`sign(0) = 0`, so L1 leaves its gradient alone).
const P: [f32; 14] = [
    0.5, -0.25, 0.0, 1.0, -2.0, 0.75, // W1
    0.3, -0.4, // b1
    1.5, -0.5, 0.25, -1.0, // W2
    2.0, -3.0, // b2
];
const IS_WEIGHT: [bool; 14] = [
    true, true, true, true, true, true, false, false, true, true, true, true, false, false,
];

fn gradients(decay: WeightDecay) -> (f32, Vec<f32>) {
    let mut net = Network::<Net>::boxed();
    model::params_from(&mut net.layers, &P);
    let x = [[0.5, -1.0, 0.25], [1.0, 0.5, -0.5]];
    let t = [[1.0, 0.0], [0.0, 1.0]];
    let mut grads = vec![0.0; 14];
    let mut arena = vec![0.0; Network::<Net>::gradients_arena(2)];
    let loss = net
        .gradients(&x, &t, Loss::Mse, decay, &mut grads, &mut arena)
        .unwrap();
    (loss, grads)
}

#[test]
fn l2_by_hand() {
    let (base, g0) = gradients(WeightDecay::default());
    let (loss, g) = gradients(WeightDecay { l1: 0.0, l2: 0.1 });
    // ½λ Σ W² = 0.05 · (0.25 + 0.0625 + 0 + 1 + 4 + 0.5625 + 2.25 + 0.25 + 0.0625 + 1) = 0.471875
    assert!(
        (loss - base - 0.471875).abs() < 1e-6,
        "L2 penalty {}",
        loss - base
    );
    for i in 0..14 {
        // grad += λW on weights; biases untouched.
        let want = if IS_WEIGHT[i] { 0.1 * P[i] } else { 0.0 };
        assert!(
            (g[i] - g0[i] - want).abs() < 1e-6,
            "L2 grad [{i}]: {} vs {}",
            g[i] - g0[i],
            want
        );
    }
}

#[test]
fn l1_by_hand() {
    let (base, g0) = gradients(WeightDecay::default());
    let (loss, g) = gradients(WeightDecay { l1: 0.01, l2: 0.0 });
    // λ Σ|W| = 0.01 · (0.5 + 0.25 + 0 + 1 + 2 + 0.75 + 1.5 + 0.5 + 0.25 + 1) = 0.0775
    assert!(
        (loss - base - 0.0775).abs() < 1e-6,
        "L1 penalty {}",
        loss - base
    );
    let sign = [
        1.0, -1.0, 0.0, 1.0, -1.0, 1.0, 0.0, 0.0, 1.0, -1.0, 1.0, -1.0, 0.0, 0.0,
    ];
    for i in 0..14 {
        // grad += λ sign(W) on weights (sign(0) = 0); biases untouched.
        let want = if IS_WEIGHT[i] { 0.01 * sign[i] } else { 0.0 };
        assert!(
            (g[i] - g0[i] - want).abs() < 1e-6,
            "L1 grad [{i}]: {} vs {}",
            g[i] - g0[i],
            want
        );
    }
}

#[test]
fn both_together_add_up() {
    let (base, g0) = gradients(WeightDecay::default());
    let (l1, g1) = gradients(WeightDecay { l1: 0.01, l2: 0.0 });
    let (l2, g2) = gradients(WeightDecay { l1: 0.0, l2: 0.1 });
    let (both, g) = gradients(WeightDecay { l1: 0.01, l2: 0.1 });
    assert!((both - (l1 + l2 - base)).abs() < 1e-6);
    for i in 0..14 {
        assert!((g[i] - (g1[i] + g2[i] - g0[i])).abs() < 1e-6);
    }
}

/// The decayed loss `E + λ₁Σ|W| + ½λ₂ΣW²` against its numerical gradient (the weights are
/// quantized nonzero values, away from the kink of |W|). Tolerance as in `gradients.rs`.
#[test]
fn decayed_loss_against_numerical_gradient() {
    let mut rng = shinso::Rng::new(5);
    let mut net = Network::<Net>::boxed();
    model::params_from(&mut net.layers, &quantized(&mut rng, 14));
    let x = [[0.5, -1.0, 0.25], [1.0, 0.5, -0.5]];
    let t = [[1.0, 0.0], [0.0, 1.0]];
    let decay = WeightDecay { l1: 0.03, l2: 0.2 };
    let mut analytic = vec![0.0; 14];
    let mut arena = vec![0.0; Network::<Net>::gradients_arena(2)];
    net.gradients(&x, &t, Loss::Mse, decay, &mut analytic, &mut arena)
        .unwrap();
    let e = |p: &[f32]| {
        let h = twin::affine(3, 2, &x.concat(), &p[..6], &p[6..8]);
        let y = twin::affine(2, 2, &h, &p[8..12], &p[12..]);
        let weights = p[..6].iter().chain(&p[8..12]).map(|w| *w as f64);
        let penalty: f64 = weights.map(|w| 0.03 * w.abs() + 0.1 * w * w).sum();
        twin::mse(
            2,
            &y,
            &t.concat().iter().map(|v| *v as f64).collect::<Vec<_>>(),
        ) + penalty
    };
    let mut numeric = vec![0.0; 14];
    numerical_gradient(&mut net.layers, H, |l| e(&params(l)), &mut numeric);
    assert_close("decayed loss", &analytic, &numeric, 1e-4, 0.1);
    assert_eq!(<Net as Layer>::PARAMS, 14);
}
