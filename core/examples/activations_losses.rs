//! Chapter: activation functions and loss functions. The step, sigmoid, ReLU and tanh layers
//! on a few inputs; softmax on the course's `[0.3, 2.9, 4.0]` and on huge logits; the two
//! losses on the course's prediction `y` against the labels 2 and 7.
//!
//! `cargo run --release -p shinso --example activations_losses`

mod common;

use common::claim;
use shinso::layers::softmax::softmax;
use shinso::{one_hot, Layer, Loss, Mode, ReLU, SigmoidLayer, StepLayer, TanhLayer};

const X: [f32; 5] = [-2.0, -1.0, 0.0, 1.0, 2.0];

/// One layer's output on `X` (inference: no cache, no scratch).
fn apply<L: Layer<In = [f32; 5], Out = [f32; 5]>>(layer: L) -> [f32; 5] {
    let mut y = [[0.0; 5]];
    layer.forward(&[X], &mut y, Mode::Infer, &mut [], &mut []);
    y[0]
}

/// Largest difference between shinso's outputs and `f` in `f64`.
fn worst(got: &[f32; 5], f: impl Fn(f64) -> f64) -> f64 {
    got.iter()
        .zip(X)
        .map(|(&g, x)| (f64::from(g) - f(f64::from(x))).abs())
        .fold(0.0, f64::max)
}

fn main() {
    println!("x       {X:?}");
    let step = apply(StepLayer::ZERO);
    let sigmoid = apply(SigmoidLayer::ZERO);
    let relu = apply(ReLU::ZERO);
    let tanh = apply(TanhLayer::ZERO);
    println!("step    {step:?}");
    println!("sigmoid {sigmoid:.6?}");
    println!("relu    {relu:?}");
    println!("tanh    {tanh:.6?}");
    claim(
        "step is 1 for x > 0, else 0",
        worst(&step, |x| if x > 0.0 { 1.0 } else { 0.0 }) == 0.0,
    );
    claim(
        "sigmoid is 1/(1 + e^-x) to 1e-6",
        worst(&sigmoid, |x| 1.0 / (1.0 + (-x).exp())) < 1e-6,
    );
    claim("relu is max(0, x)", worst(&relu, |x| x.max(0.0)) == 0.0);
    claim("tanh is tanh to 1e-6", worst(&tanh, f64::tanh) < 1e-6);

    let mut p = [0.0f32; 3];
    softmax(&[0.3, 2.9, 4.0], &mut p);
    println!(
        "\nsoftmax([0.3, 2.9, 4.0]) = {p:.8?}, sum {}",
        p.iter().sum::<f32>()
    );
    let want: [f64; 3] = [0.018_211_27, 0.245_191_81, 0.736_596_91];
    claim(
        "softmax gives the course's [0.01821127 0.24519181 0.73659691]",
        p.iter()
            .zip(want)
            .all(|(&a, b)| (f64::from(a) - b).abs() < 1e-6),
    );
    let mut huge = [0.0f32; 3];
    softmax(&[1010.0, 1000.0, 990.0], &mut huge);
    println!("softmax([1010, 1000, 990]) = {huge:.8?} (the row maximum is subtracted first)");
    claim(
        "softmax of huge logits is finite (naive e^1010 would overflow)",
        huge.iter().all(|v| v.is_finite()) && (huge[0] - 0.999_954_6).abs() < 1e-6,
    );

    // The course's prediction: most probability on 2.
    let y = [0.1f32, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0];
    let mut dy = [0.0f32; 10];
    println!("\ny = {y:?}");
    for (label, mse_want, ce_want) in [(2, 0.0975, 0.510_825_6), (7, 0.5975, 2.302_584_1)] {
        let t = one_hot::<10>(label);
        let mse = Loss::Mse.loss_and_grad(&y, &t, 10, &mut dy);
        let ce = Loss::CrossEntropy.loss_and_grad(&y, &t, 10, &mut dy);
        println!("label {label}: mean squared error {mse:.4}, cross-entropy {ce:.6}");
        // Independent forms: ½Σ(y − t)², −ln(y_label + 1e-7).
        let half_sq: f64 = y
            .iter()
            .zip(t)
            .map(|(a, b)| 0.5 * f64::from(a - b).powi(2))
            .sum();
        let neg_ln = -(f64::from(y[label]) + 1e-7).ln();
        claim(
            &format!("label {label}: losses are ½Σ(y−t)² = {mse_want} and −ln y = {ce_want}"),
            (f64::from(mse) - half_sq).abs() < 1e-6
                && (f64::from(ce) - neg_ln).abs() < 1e-5
                && (mse - mse_want).abs() < 1e-6
                && (ce - ce_want).abs() < 1e-5,
        );
    }
}
