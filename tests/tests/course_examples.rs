//! The course's worked examples, and the numerical edge cases it warns about: softmax of huge
//! logits, the logarithm of a zero probability.

use bytemuck::Zeroable;
use shinso::kernels::{out_size, Geometry};
use shinso::layers::softmax::softmax;
use shinso::{one_hot, Conv2d, Loss, Mode, ReLU, SigmoidLayer, Softmax, StepLayer};
use shinso_tests::Solo;

#[test]
fn sigmoid_derivative_at_zero_is_a_quarter() {
    let mut layer = Solo::<SigmoidLayer<[f32; 1]>>::zeroed();
    let (x, mut y, mut dx) = ([[0.0f32]], [[0.0f32]], [[0.0f32]]);
    layer.forward(&x, &mut y, Mode::Train);
    assert_eq!(y, [[0.5]]);
    layer.backward(&x, &y, &[[1.0]], Some(&mut dx), &mut []);
    assert_eq!(dx, [[0.25]]);
}

/// ReLU′(0) is taken as 0 (as the course's `x <= 0` mask); step′ is 0 everywhere.
#[test]
fn relu_and_step_derivatives() {
    let x = [[-1.0f32, 0.0, 2.0]];
    let (mut y, mut dx) = ([[0.0f32; 3]], [[9.0f32; 3]]);
    let mut relu = Solo::<ReLU<[f32; 3]>>::zeroed();
    relu.forward(&x, &mut y, Mode::Train);
    assert_eq!(y, [[0.0, 0.0, 2.0]]);
    relu.backward(&x, &y, &[[1.0; 3]], Some(&mut dx), &mut []);
    assert_eq!(dx, [[0.0, 0.0, 1.0]]);
    let mut step = Solo::<StepLayer<[f32; 3]>>::zeroed();
    step.forward(&x, &mut y, Mode::Train);
    assert_eq!(y, [[0.0, 0.0, 1.0]]);
    step.backward(&x, &y, &[[1.0; 3]], Some(&mut dx), &mut []);
    assert_eq!(dx, [[0.0; 3]]);
}

/// A 6×6 input with a 2×2 filter, stride 1, padding 1 gives 7×7 — as a number, and as the type
/// of a layer's output (the compile-fail test shows 6×6 does not build).
#[test]
fn conv_output_size_6x6_2x2_s1_p1_is_7x7() {
    assert_eq!(out_size(6, 2, 1, 1), 7);
    let g = Geometry {
        c: 1,
        h: 6,
        w: 6,
        fh: 2,
        fw: 2,
        stride: 1,
        pad: 1,
    };
    assert_eq!((g.oh(), g.ow()), (7, 7));
    type Course = Conv2d<1, 6, 6, 1, 2, 2, 1, 1, 7, 7>;
    assert_eq!(Course::GEOMETRY, g);
    let mut conv = Solo::<Course>::zeroed();
    conv.w = [[[[1.0; 2]; 2]; 1]];
    let mut y: [[[[f32; 7]; 7]; 1]; 1] = Zeroable::zeroed();
    conv.forward(&[[[[1.0; 6]; 6]; 1]], &mut y, Mode::Train);
    // Corners see one pixel, edges two, the inside four.
    assert_eq!(y[0][0][0], [1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0]);
    assert_eq!(y[0][0][3], [2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 2.0]);
    // The other sizes of the course's examples.
    assert_eq!(out_size(4, 3, 1, 1), 4); // padding keeps 4×4
    assert_eq!(out_size(7, 3, 2, 0), 3); // stride 2
    assert_eq!(out_size(28, 5, 1, 0), 24); // the simple convnet
}

/// The course's loss examples: `y` = [0.1, 0.05, 0.6, 0, 0.05, 0.1, 0, 0.1, 0, 0] against the
/// one-hot label 2 gives a half sum of squares of 0.0975 and a cross-entropy of 0.510825…
/// (−ln 0.6); with label 7 they are 0.5975 and 2.302584… (−ln 0.1).
#[test]
fn course_loss_values() {
    let y = [0.1f32, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0];
    let mut dy = [0.0f32; 10];
    for (label, mse, ce) in [(2, 0.0975, 0.510_825_5), (7, 0.5975, 2.302_584_1)] {
        let t = one_hot::<10>(label);
        let got = Loss::Mse.loss_and_grad(&y, &t, 10, &mut dy);
        assert!((got - mse).abs() < 1e-6, "MSE label {label}: {got}");
        let got = Loss::CrossEntropy.loss_and_grad(&y, &t, 10, &mut dy);
        assert!((got - ce).abs() < 1e-5, "CE label {label}: {got}");
    }
}

/// (The course's numerical-gradient example, ∇(x₀² + x₁²) at (3, 4) = (6, 8), is in
/// `gradcheck.rs`.)
#[test]
fn softmax_of_huge_inputs_is_finite_and_sums_to_one() {
    let cases: [&[f32]; 6] = [
        &[1010.0, 1000.0, 990.0],
        &[1000.0, 999.0, 998.0],
        &[-1000.0, -1000.0, -999.0],
        &[1000.0, -1000.0],
        &[-1000.0; 4],
        &[f32::MAX, 0.0, -f32::MAX],
    ];
    for x in cases {
        let mut y = vec![0.0f32; x.len()];
        softmax(x, &mut y);
        assert!(
            y.iter().all(|v| v.is_finite() && *v >= 0.0),
            "{x:?} -> {y:?}"
        );
        let sum: f32 = y.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6, "{x:?} sums to {sum}");
    }
    // Shifting the inputs does not change the result: [1000, 999, 998] is [2, 1, 0].
    let (mut a, mut b) = ([0.0f32; 3], [0.0f32; 3]);
    softmax(&[1000.0, 999.0, 998.0], &mut a);
    softmax(&[2.0, 1.0, 0.0], &mut b);
    for i in 0..3 {
        assert!((a[i] - b[i]).abs() < 1e-6);
    }
    // [0.6652, 0.2447, 0.0900]: e² / (e² + e + 1) etc.
    assert!((a[0] - 0.665_240_9).abs() < 1e-6);

    // The layer and the fused loss too, gradients included.
    let mut layer = Solo::new(Softmax::<3>);
    let x = [[1000.0f32, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]];
    let mut y = [[0.0f32; 3]; 2];
    layer.forward(&x, &mut y, Mode::Train);
    assert_eq!(y[0], [1.0, 0.0, 0.0]);
    assert!((y[1].iter().sum::<f32>() - 1.0).abs() < 1e-6);
    let mut dx = [[0.0f32; 3]; 2];
    layer.backward(&x, &y, &[[1.0, 2.0, 3.0]; 2], Some(&mut dx), &mut []);
    assert!(dx.iter().flatten().all(|v| v.is_finite()));

    let mut dy = [0.0f32; 6];
    let flat_x: Vec<f32> = x.concat();
    let t = [0.0, 1.0, 0.0, 1.0, 0.0, 0.0];
    let loss = Loss::SoftmaxCrossEntropy.loss_and_grad(&flat_x, &t, 3, &mut dy);
    // Sample 1 gives its label probability 0: −ln(1e-7) = 16.118; sample 2: ln 3.
    let want = (16.118_095 + 3f32.ln()) / 2.0;
    assert!(
        loss.is_finite() && (loss - want).abs() < 1e-4,
        "{loss} vs {want}"
    );
    assert!(dy.iter().all(|v| v.is_finite()));
    assert_eq!(dy[..3], [0.5, -0.5, 0.0]);
}

/// `ln 0` is kept finite by the 1e-7 guard: −ln(0 + 1e-7) ≈ 16.118.
#[test]
fn cross_entropy_of_a_zero_probability_is_finite() {
    let mut dy = [0.0f32; 2];
    let loss = Loss::CrossEntropy.loss_and_grad(&[0.0, 1.0], &[1.0, 0.0], 2, &mut dy);
    assert!((loss - 16.118_095).abs() < 1e-4, "{loss}");
    // Its gradient −d/(y + 1e-7) is large but finite.
    assert!(dy.iter().all(|v| v.is_finite()));
    assert!((dy[0] + 1e7).abs() < 1.0, "{dy:?}");
    assert_eq!(dy[1], 0.0);

    // Sigmoid-with-loss at saturated logits: σ(±1000) is exactly 1 or 0 in f32.
    let mut dy = [0.0f32; 4];
    let loss = Loss::SigmoidCrossEntropy.loss_and_grad(
        &[1000.0, -1000.0, 1000.0, -1000.0],
        &[0.0, 1.0, 1.0, 0.0],
        4,
        &mut dy,
    );
    assert!(
        loss.is_finite() && (loss - 2.0 * 16.118_095).abs() < 1e-3,
        "{loss}"
    );
    assert_eq!(dy, [1.0, -1.0, 0.0, 0.0]);
}

/// The fused losses' gradients in the course's form: softmax-with-loss `(y − d)/B`,
/// sigmoid-with-loss `y − d` for one sample.
#[test]
fn fused_gradients_are_y_minus_d() {
    let x = [0.3f32, -1.2, 2.0, 0.0];
    let d = one_hot::<4>(1);
    let mut p = [0.0f32; 4];
    softmax(&x, &mut p);
    let mut dy = [0.0f32; 8];
    let xx = [x, x].concat();
    let dd = [d, d].concat();
    Loss::SoftmaxCrossEntropy.loss_and_grad(&xx, &dd, 4, &mut dy);
    for i in 0..8 {
        assert!((dy[i] - (p[i % 4] - dd[i]) / 2.0).abs() < 1e-7);
    }
    let mut dy = [0.0f32; 4];
    Loss::SigmoidCrossEntropy.loss_and_grad(&x, &[0.0, 1.0, 1.0, 0.5], 4, &mut dy);
    for (i, t) in [0.0f32, 1.0, 1.0, 0.5].iter().enumerate() {
        assert!((dy[i] - (1.0 / (1.0 + (-x[i]).exp()) - t)).abs() < 1e-7);
    }
}
