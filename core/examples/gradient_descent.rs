//! Chapter: the four ways to feed gradient descent, side by side on one problem (three
//! classes of 2-D points, a 2-16-3 ReLU network, SGD with lr 0.1) and one budget: 9,000
//! per-sample gradients each, i.e. 30 passes over the 300 training points.
//!
//! - full batch: every step averages the gradient over all 300 points (30 steps);
//! - mini-batch: steps on 30 points, reshuffled each epoch (300 steps);
//! - stochastic: steps on one point drawn at random (9,000 steps);
//! - online: steps on one point as it arrives, each point used once and dropped (9,000 fresh
//!   points; what the device does with labelled samples sent over the wire).
//!
//! `cargo run --release -p shinso --example gradient_descent`

mod common;

use common::{accuracy, claim, loss, optimizer, Blobs, Set};
use shinso::{stack, Affine, Init, Loss, Network, ReLU, Rng, Rule, WeightDecay};

type Net = stack![Affine<2, 16>, ReLU<[f32; 16]>, Affine<16, 3>];

const BUDGET: usize = 9_000;
const REPORTS: usize = 3;

/// One variant: how many points each step takes, and where they come from.
enum Feed {
    FullBatch,
    MiniBatch(usize),
    Stochastic,
    Online,
}

/// Train a fresh network (same initial weights for every variant) and return its training
/// loss at the start and after each third of the budget.
fn run(
    feed: &Feed,
    blobs: &Blobs<2, 3>,
    train: &Set<[f32; 2], 3>,
) -> Result<(Vec<f32>, Box<Network<Net>>), shinso::Error> {
    let mut net = Network::<Net>::boxed();
    net.init(Init::He, 1);
    let mut opt = optimizer::<Net>(Rule::sgd(0.1));
    let n = train.x.len();
    let batch = match feed {
        Feed::FullBatch => n,
        Feed::MiniBatch(b) => *b,
        Feed::Stochastic | Feed::Online => 1,
    };
    let mut arena = vec![0.0; Network::<Net>::train_arena(batch)];
    let (mut rng, mut stream) = (Rng::new(7), Rng::new(1_000));
    let mut order: Vec<usize> = (0..n).collect();
    let mut losses = vec![loss(&net, &train.x, &train.t, Loss::SoftmaxCrossEntropy)?];
    let steps = BUDGET / batch;
    let (mut x, mut t) = (Vec::new(), Vec::new());
    for step in 0..steps {
        x.clear();
        t.clear();
        match feed {
            Feed::FullBatch => {
                x.extend_from_slice(&train.x);
                t.extend_from_slice(&train.t);
            }
            Feed::MiniBatch(b) => {
                let start = (step * b) % n;
                if start == 0 {
                    rng.shuffle(&mut order);
                }
                x.extend(order[start..start + b].iter().map(|&i| train.x[i]));
                t.extend(order[start..start + b].iter().map(|&i| train.t[i]));
            }
            Feed::Stochastic => {
                let i = rng.below(n);
                x.push(train.x[i]);
                t.push(train.t[i]);
            }
            Feed::Online => {
                let (point, label) = blobs.sample(&mut stream);
                x.push(point);
                t.push(shinso::one_hot(label));
            }
        }
        net.train_step(
            &x,
            &t,
            Loss::SoftmaxCrossEntropy,
            WeightDecay::default(),
            &mut opt,
            &mut arena,
        )?;
        if (step + 1) % (steps / REPORTS) == 0 {
            losses.push(loss(&net, &train.x, &train.t, Loss::SoftmaxCrossEntropy)?);
        }
    }
    Ok((losses, net))
}

fn main() -> Result<(), shinso::Error> {
    let blobs = Blobs::<2, 3>::new(0.8);
    let train = blobs.draw(300, 1);
    let test = blobs.draw(1_000, 2);
    println!("training loss after 0, 3,000, 6,000 and 9,000 per-sample gradients; test accuracy");
    let variants = [
        ("full batch (300)", Feed::FullBatch),
        ("mini-batch (30)", Feed::MiniBatch(30)),
        ("stochastic (1)", Feed::Stochastic),
        ("online (1, fresh)", Feed::Online),
    ];
    let mut finals = Vec::new();
    for (name, feed) in &variants {
        let (losses, net) = run(feed, &blobs, &train)?;
        let acc = accuracy(&net, &test.x, &test.labels)?;
        let shown: Vec<String> = losses.iter().map(|l| format!("{l:.4}")).collect();
        println!("  {name:<18} {}   test {acc:.3}", shown.join(" → "));
        claim(
            &format!("{name}: the loss falls"),
            losses[REPORTS] < 0.5 * losses[0],
        );
        finals.push((losses[REPORTS], acc));
    }
    claim(
        "at the same budget, mini-batches get further than the full batch (10× the steps)",
        finals[1].0 < finals[0].0,
    );
    claim(
        "every variant classifies at least 85% of the test points",
        finals.iter().all(|&(_, acc)| acc >= 0.85),
    );
    Ok(())
}
