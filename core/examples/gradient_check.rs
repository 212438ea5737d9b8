//! Chapter: the numerical gradient, and backpropagation checked against it. First the
//! course's `f(x₀, x₁) = x₀² + x₁²` at three points; then a two-layer network (4-5-3,
//! sigmoid, softmax with cross-entropy) whose backpropagated gradient is compared with the
//! central difference of a loss computed independently in `f64`.
//!
//! `cargo run --release -p shinso --example gradient_check`

mod common;

use common::claim;
use shinso::gradcheck::{numerical_gradient, numerical_input_gradient, H};
use shinso::{one_hot, stack, Affine, Init, Loss, Network, Rng, SigmoidLayer, WeightDecay};

type TwoLayer = stack![Affine<4, 5>, SigmoidLayer<[f32; 5]>, Affine<5, 3>];

/// The batch's mean softmax cross-entropy `−ln(softmax(u)_label + 1e-7)`, written out in
/// `f64` from the weights (no shinso code involved), so the check compares two independent
/// computations.
fn loss_f64(net: &TwoLayer, x: &[[f32; 4]], labels: &[usize]) -> f64 {
    let (a, b) = (&net.first, &net.second.second);
    let mut total = 0.0;
    for (xs, &label) in x.iter().zip(labels) {
        let hidden: Vec<f64> = (0..5)
            .map(|j| {
                let u = f64::from(a.b[j])
                    + (0..4)
                        .map(|i| f64::from(xs[i]) * f64::from(a.w[i][j]))
                        .sum::<f64>();
                1.0 / (1.0 + (-u).exp())
            })
            .collect();
        let logits: Vec<f64> = (0..3)
            .map(|k| {
                f64::from(b.b[k])
                    + (0..5)
                        .map(|j| hidden[j] * f64::from(b.w[j][k]))
                        .sum::<f64>()
            })
            .collect();
        let max = logits.iter().copied().fold(f64::MIN, f64::max);
        let sum: f64 = logits.iter().map(|l| (l - max).exp()).sum();
        total -= ((logits[label] - max).exp() / sum + 1e-7).ln();
    }
    total / x.len() as f64
}

fn main() -> Result<(), shinso::Error> {
    let f = |x: &[f32]| f64::from(x[0]).powi(2) + f64::from(x[1]).powi(2);
    let points = [
        ([3.0f32, 4.0], [6.0, 8.0]),
        ([0.0, 2.0], [0.0, 4.0]),
        ([3.0, 0.0], [6.0, 0.0]),
    ];
    for (point, want) in points {
        let (mut x, mut g) = (point, [0.0f32; 2]);
        numerical_input_gradient(&mut x, H, f, &mut g);
        println!("numerical gradient of x0² + x1² at {point:?}: {g:.6?}");
        claim(
            &format!("it is 2x = {want:?} to 1e-3"),
            g.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-3),
        );
    }

    // Three samples of the two-layer network.
    let mut net = Network::<TwoLayer>::boxed();
    net.init(Init::Gaussian(0.5), 3);
    let mut rng = Rng::new(5);
    let x: Vec<[f32; 4]> = (0..3)
        .map(|_| core::array::from_fn(|_| rng.normal()))
        .collect();
    let labels = [0, 2, 1];
    let t: Vec<[f32; 3]> = labels.iter().map(|&l| one_hot(l)).collect();

    let params = Network::<TwoLayer>::PARAMS;
    let mut backprop = vec![0.0f32; params];
    let mut arena = vec![0.0; Network::<TwoLayer>::gradients_arena(x.len())];
    let loss = net.gradients(
        &x,
        &t,
        Loss::SoftmaxCrossEntropy,
        WeightDecay::default(),
        &mut backprop,
        &mut arena,
    )?;
    let mut numeric = vec![0.0f32; params];
    numerical_gradient(
        &mut net.layers,
        H,
        |l| loss_f64(l, &x, &labels),
        &mut numeric,
    );

    println!(
        "\nloss {loss:.6} (f64 by hand: {:.6})",
        loss_f64(&net.layers, &x, &labels)
    );
    println!("mean |backprop − numerical| per tensor:");
    let tensors = [("W1", 20), ("b1", 5), ("W2", 15), ("b2", 3)];
    let mut at = 0;
    let mut worst = 0.0f32;
    for (name, len) in tensors {
        let diffs: Vec<f32> = (at..at + len)
            .map(|i| (backprop[i] - numeric[i]).abs())
            .collect();
        worst = diffs.iter().copied().fold(worst, f32::max);
        println!("  {name}: {:.3e}", diffs.iter().sum::<f32>() / len as f32);
        at += len;
    }
    claim("the four tensors cover every parameter", at == params);
    claim(
        &format!(
            "backprop and the numerical gradient differ by < 1e-4 everywhere (worst {worst:.2e})"
        ),
        worst < 1e-4,
    );
    claim(
        "the loss matches the f64 computation to 1e-5",
        (f64::from(loss) - loss_f64(&net.layers, &x, &labels)).abs() < 1e-5,
    );
    Ok(())
}
