//! Chapter: the five update rules on the course's bowl `f(x, y) = x²/20 + y²`, starting at
//! (−7, 2), 30 steps each, with the course's learning rates (RMSProp, which the course's
//! picture leaves out, with lr 0.2). The bowl is 20 times steeper along `y` than along `x`:
//! SGD zigzags across it, Momentum overshoots and swings back, AdaGrad, RMSProp and Adam
//! scale each coordinate's step by its own gradient history.
//!
//! The point `(x, y)` is the weight and bias of a one-input, one-output affine layer, so the
//! optimizers are the core's own, driven through [`Optimizer::step`] with the bowl's gradient
//! `(x/10, 2y)`.
//!
//! `cargo run --release -p shinso --example optimizers`

mod common;

use common::{claim, optimizer};
use shinso::{Affine, Network, Rule};

type Point = Affine<1, 1>;

fn f(x: f32, y: f32) -> f32 {
    x * x / 20.0 + y * y
}

fn main() -> Result<(), shinso::Error> {
    let start = (-7.0f32, 2.0f32);
    let rules = [
        ("SGD", Rule::sgd(0.95)),
        ("Momentum", Rule::momentum(0.1)),
        ("AdaGrad", Rule::adagrad(1.5)),
        ("RMSProp", Rule::rmsprop(0.2)),
        ("Adam", Rule::adam(0.3)),
    ];
    println!("f(x, y) = x²/20 + y² from {start:?}, 30 steps");
    for (name, rule) in rules {
        let mut net = Network::<Point>::boxed();
        (net.layers.w[0][0], net.layers.b[0]) = start;
        let mut opt = optimizer::<Point>(rule);
        let mut path = vec![start];
        for _ in 0..30 {
            let (x, y) = (net.layers.w[0][0], net.layers.b[0]);
            opt.step(&mut net.layers, &[x / 10.0, 2.0 * y])?;
            path.push((net.layers.w[0][0], net.layers.b[0]));
        }
        let shown: Vec<String> = path
            .iter()
            .step_by(5)
            .map(|(x, y)| format!("({x:.2}, {y:.2})"))
            .collect();
        let (x, y) = path[30];
        println!(
            "  {name:<9} {} … ({x:.3}, {y:.3})  f = {:.4}",
            shown.join(" "),
            f(x, y)
        );
        claim(
            &format!(
                "{name} ends far down the bowl (f below a tenth of f(start) = {:.2})",
                f(start.0, start.1)
            ),
            f(x, y) < 0.1 * f(start.0, start.1),
        );
        if name == "SGD" {
            // One step by hand: (−7, 2) − 0.95·(−0.7, 4) = (−6.335, −1.8): across the valley.
            let (x1, y1) = path[1];
            claim(
                "SGD's first step is (−6.335, −1.8), as by hand",
                (x1 + 6.335).abs() < 1e-5 && (y1 + 1.8).abs() < 1e-5,
            );
        }
    }
    Ok(())
}
