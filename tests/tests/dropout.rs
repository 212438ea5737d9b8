//! Dropout in the course's form: training output `x·mask`, inference output `x·(1 − ratio)`,
//! which must be the expectation of the training outputs over masks; and the mask generator
//! advancing only when a step is accepted.

use shinso::{Dropout, Mode, Rng};
use shinso_tests::Solo;

type D = Solo<Dropout<[f32; 64]>>;

#[test]
fn inference_equals_the_expectation_of_training() {
    for ratio in [0.1f32, 0.3, 0.5, 0.8] {
        let mut layer = D::zeroed();
        layer.ratio = ratio;
        layer.seed(17);
        let mut rng = Rng::new(3);
        let x: Vec<[f32; 64]> =
            shinso_tests::samples(&(0..512).map(|_| 0.5 + rng.uniform()).collect::<Vec<_>>());
        let mut y = [[0.0f32; 64]; 8];
        // Mean of the training output of each unit over 2,000 batches (16,000 masks).
        const PASSES: usize = 2000;
        let mut mean = [[0.0f64; 64]; 8];
        for _ in 0..PASSES {
            layer.forward(&x, &mut y, Mode::Train);
            layer.commit(8);
            for (m, (yr, xr)) in mean.iter_mut().zip(y.iter().zip(&x)) {
                for ((mi, yi), xi) in m.iter_mut().zip(yr).zip(xr) {
                    // Each training output is the input or zero, never rescaled.
                    assert!(*yi == 0.0 || yi == xi);
                    *mi += *yi as f64 / PASSES as f64;
                }
            }
        }
        layer.forward(&x, &mut y, Mode::Infer);
        let p = ratio as f64;
        let sd = (p * (1.0 - p) / PASSES as f64).sqrt();
        let (mut total, mut want_total) = (0.0, 0.0);
        for s in 0..8 {
            for j in 0..64 {
                let xi = x[s][j] as f64;
                // Inference output is x·(1 − ratio)...
                assert!((y[s][j] as f64 - xi * (1.0 - p)).abs() < 1e-6);
                // ...and each unit's training mean lies within 5σ of it.
                assert!(
                    (mean[s][j] - y[s][j] as f64).abs() < 5.0 * sd * xi,
                    "ratio {ratio}: unit ({s},{j})"
                );
                total += mean[s][j];
                want_total += y[s][j] as f64;
            }
        }
        // All 512 units together: within 5σ of a mean over 1,024,000 masks.
        assert!(
            (total - want_total).abs() < 5.0 * sd * 1.5 * (512.0f64).sqrt(),
            "ratio {ratio}: {total} vs {want_total}"
        );
    }
}

#[test]
fn keep_rate_and_backward_mask() {
    let mut layer = D::zeroed();
    layer.ratio = 0.25;
    layer.seed(1);
    let x = [[1.0f32; 64]; 8];
    let mut y = [[0.0f32; 64]; 8];
    layer.forward(&x, &mut y, Mode::Train);
    let kept = y.iter().flatten().filter(|v| **v == 1.0).count();
    // 512 units at keep rate 0.75: 384 ± 5σ (σ ≈ 9.8).
    assert!((335..=433).contains(&kept), "kept {kept}");
    // Backward passes the gradient through the kept units only.
    let mut dx = [[0.0f32; 64]; 8];
    layer.backward(&x, &y, &[[2.0; 64]; 8], Some(&mut dx), &mut []);
    for (d, v) in dx.iter().flatten().zip(y.iter().flatten()) {
        assert_eq!(*d, 2.0 * v);
    }
}

#[test]
fn ratio_zero_keeps_everything() {
    let mut layer = D::zeroed();
    layer.seed(2);
    let x = [[0.5f32; 64]; 8];
    let mut y = [[0.0f32; 64]; 8];
    layer.forward(&x, &mut y, Mode::Train);
    assert_eq!(y, x);
    layer.forward(&x, &mut y, Mode::Infer);
    assert_eq!(y, x);
}

/// The generator moves on when a step is accepted, not before: a pass that is not committed
/// (its step refused) is drawn again with the same mask.
#[test]
fn the_mask_changes_only_with_a_commit() {
    let mut layer = D::zeroed();
    layer.ratio = 0.5;
    layer.seed(4);
    let x = [[1.0f32; 64]; 8];
    let (mut a, mut b, mut c) = ([[0.0f32; 64]; 8], [[0.0f32; 64]; 8], [[0.0f32; 64]; 8]);
    layer.forward(&x, &mut a, Mode::Train);
    layer.forward(&x, &mut b, Mode::Train);
    assert_eq!(a, b);
    layer.commit(8);
    layer.forward(&x, &mut c, Mode::Train);
    assert_ne!(a, c);
}

/// A short batch only draws (and backpropagates) masks for the samples it has.
#[test]
fn short_batch() {
    let mut layer = D::zeroed();
    layer.ratio = 0.5;
    layer.seed(3);
    let x = [[1.0f32; 64]; 2];
    let mut y = [[0.0f32; 64]; 2];
    layer.forward(&x, &mut y, Mode::Train);
    let mut dx = [[0.0f32; 64]; 2];
    layer.backward(&x, &y, &[[1.0; 64]; 2], Some(&mut dx), &mut []);
    assert_eq!(dx, y);
}
