//! Chapter: overfitting, and three cures. A network far larger than its data (20-64-64-2 with
//! 5,600 parameters, 40 training points from two overlapping clouds) learns the training set
//! by heart and does worse on fresh points. L2 weight decay (`½λΣW²` in the loss) keeps the
//! weights small, L1 (`λΣ|W|`) drives many to zero, and dropout (the course's form, ratio 0.5)
//! trains a different thinned network at every step; each narrows the train–test gap.
//!
//! `cargo run --release -p shinso --example overfitting`

mod common;

use common::{accuracy, claim, train, Blobs};
use shinso::zoo::Dense;
use shinso::{stack, Affine, Init, Knobs, Layer, Network, Rule, TensorKind, WeightDecay};

type Big = stack![Dense<20, 64>, Dense<64, 64>, Affine<64, 2>];

/// What a run ends with.
struct Outcome {
    train: f32,
    test: f32,
    /// `Σ W²` over the weights (biases excluded, as weight decay excludes them).
    squares: f32,
    /// Weights with `|w| < 1e-3`.
    near_zero: usize,
}

fn weights(net: &mut Network<Big>) -> Vec<f32> {
    let mut w = Vec::new();
    net.layers.visit(&mut |t: shinso::Tensor<'_>| {
        if t.kind == TensorKind::Weight {
            w.extend_from_slice(t.value);
        }
    });
    w
}

fn main() -> Result<(), shinso::Error> {
    let blobs = Blobs::<20, 2>::new(4.0);
    let (set, test) = (blobs.draw(40, 1), blobs.draw(2_000, 2));
    let runs = [
        ("none", WeightDecay::default(), 0.0),
        ("L2 λ 0.05", WeightDecay { l1: 0.0, l2: 0.05 }, 0.0),
        ("L1 λ 0.005", WeightDecay { l1: 0.005, l2: 0.0 }, 0.0),
        ("dropout 0.5", WeightDecay::default(), 0.5),
    ];
    println!("SGD lr 0.05, batch 20, 2,000 steps on 40 points; tested on 2,000 fresh ones");
    println!(
        "  {:<12} {:>6} {:>6} {:>6} {:>8} {:>10}",
        "run", "train", "test", "gap", "ΣW²", "|w| < 1e-3"
    );
    let mut out = Vec::new();
    for (name, decay, dropout) in runs {
        let mut net = Network::<Big>::boxed();
        net.configure(&Knobs {
            dropout,
            ..Knobs::default()
        });
        net.init(Init::He, 1);
        train(&mut net, &set, Rule::sgd(0.05), decay, 20, 2_000, 3)?;
        let w = weights(&mut net);
        let o = Outcome {
            train: accuracy(&net, &set.x, &set.labels)?,
            test: accuracy(&net, &test.x, &test.labels)?,
            squares: w.iter().map(|v| v * v).sum(),
            near_zero: w.iter().filter(|v| v.abs() < 1e-3).count(),
        };
        println!(
            "  {name:<12} {:>6.3} {:>6.3} {:>6.3} {:>8.1} {:>10}",
            o.train,
            o.test,
            o.train - o.test,
            o.squares,
            o.near_zero
        );
        out.push(o);
    }
    let gap = |o: &Outcome| o.train - o.test;
    claim(
        "without regularisation the training set is learnt by heart and the test accuracy is lower by 0.1 or more",
        out[0].train == 1.0 && gap(&out[0]) >= 0.1,
    );
    claim(
        "L2 leaves smaller weights (ΣW²)",
        out[1].squares < 0.5 * out[0].squares,
    );
    claim(
        "L1 drives more weights to (near) zero",
        out[2].near_zero > 2 * out[0].near_zero.max(1),
    );
    claim(
        "each of the three narrows the train–test gap",
        out[1..].iter().all(|o| gap(o) < gap(&out[0])),
    );
    Ok(())
}
