//! Chapter: weight initialisation and vanishing gradients. The course's experiment: 1,000
//! random inputs (N(0, 1), 100 features) through five layers of 100 units, and the histogram
//! of each layer's activations, here summarised as text (ten bins over [0, 1], the share of
//! activations in each as a bar, and the spread).
//!
//! - sigmoid, σ = 1: activations pile up at 0 and 1, where sigmoid′ ≈ 0: gradients vanish;
//! - sigmoid, σ = 0.01: all near 0.5: every unit says the same thing (no expressiveness);
//! - sigmoid, Xavier (σ = 1/√100): spread over the whole range in every layer;
//! - ReLU, σ = 0.01 shrinks the activations layer by layer; ReLU, He (σ = √(2/100)) keeps them.
//!
//! `cargo run --release -p shinso --example initialisation`

mod common;

use common::claim;
use shinso::{stack, ActivationKind, Affine, AnyActivation, Init, Knobs, Network, Rng};

type Hidden = stack![Affine<100, 100>, AnyActivation<[f32; 100]>];
const LAYERS: usize = 5;
const SAMPLES: usize = 1_000;

/// Summary of one layer's activations.
struct Stats {
    /// Share of activations in each tenth of [0, 1] (values above 1 count in the last).
    bins: [f32; 10],
    mean: f32,
    std: f32,
}

fn stats(a: &[[f32; 100]]) -> Stats {
    let values: Vec<f32> = a.iter().flatten().copied().collect();
    let n = values.len() as f32;
    let mut bins = [0.0; 10];
    for v in &values {
        bins[((v * 10.0) as usize).min(9)] += 1.0 / n;
    }
    let mean = values.iter().sum::<f32>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
    Stats {
        bins,
        mean,
        std: var.sqrt(),
    }
}

/// The activations of every layer for one activation function and initialisation.
fn layers(kind: ActivationKind, init: Init) -> Result<Vec<Stats>, shinso::Error> {
    let mut rng = Rng::new(1);
    let mut x: Vec<[f32; 100]> = (0..SAMPLES)
        .map(|_| core::array::from_fn(|_| rng.normal()))
        .collect();
    let mut arena = vec![0.0; Network::<Hidden>::predict_arena(SAMPLES)];
    let mut out = Vec::new();
    for k in 0..LAYERS {
        let mut net = Network::<Hidden>::boxed();
        net.configure(&Knobs {
            activation: kind,
            ..Knobs::default()
        });
        net.init(init, 10 + k as u64);
        x = net.predict(&x, &mut arena)?.to_vec();
        out.push(stats(&x));
    }
    Ok(out)
}

fn bar(share: f32) -> char {
    const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    LEVELS[((share * 16.0).ceil() as usize).min(8)]
}

fn show(title: &str, s: &[Stats]) {
    println!("{title}");
    for (k, l) in s.iter().enumerate() {
        let bars: String = l.bins.iter().map(|&b| bar(b)).collect();
        println!(
            "  layer {}: [{bars}]  mean {:.3}  std {:.4}",
            k + 1,
            l.mean,
            l.std
        );
    }
}

fn main() -> Result<(), shinso::Error> {
    use ActivationKind::{Relu, Sigmoid};
    println!("histograms over [0, 1] in ten bins (a full block is ≥ half of all activations)\n");
    let big = layers(Sigmoid, Init::Gaussian(1.0))?;
    show("sigmoid, Gaussian σ = 1", &big);
    let saturated = big[LAYERS - 1].bins[0] + big[LAYERS - 1].bins[9];
    claim(
        &format!("σ = 1: most activations of layer 5 sit at the ends, sigmoid′ ≈ 0 ({saturated:.2} in the outer bins)"),
        saturated > 0.5,
    );
    let small = layers(Sigmoid, Init::Gaussian(0.01))?;
    show("sigmoid, Gaussian σ = 0.01", &small);
    claim(
        "σ = 0.01: over 99% of layer 5's activations lie in [0.4, 0.6), std below 0.02",
        small[LAYERS - 1].bins[4] + small[LAYERS - 1].bins[5] > 0.99
            && small[LAYERS - 1].std < 0.02,
    );
    let xavier = layers(Sigmoid, Init::Xavier)?;
    show("sigmoid, Xavier", &xavier);
    let last = &xavier[LAYERS - 1];
    claim(
        "Xavier: layer 5 is spread (std above 0.05) yet not saturated (under 10% in the outer bins)",
        last.std > 0.05 && last.bins[0] + last.bins[9] < 0.1,
    );
    let relu_small = layers(Relu, Init::Gaussian(0.01))?;
    show("ReLU, Gaussian σ = 0.01", &relu_small);
    let he = layers(Relu, Init::He)?;
    show("ReLU, He", &he);
    claim(
        "ReLU with σ = 0.01 loses over 99% of the spread by layer 5",
        relu_small[LAYERS - 1].std < 0.01 * relu_small[0].std,
    );
    claim(
        "ReLU with He keeps layer 5's spread within a factor 2 of layer 1's",
        (0.5..2.0).contains(&(he[LAYERS - 1].std / he[0].std)),
    );
    Ok(())
}
