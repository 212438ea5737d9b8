//! Chapter: a convolutional network. Synthetic 12×12 images of four kinds of stroke
//! (horizontal, vertical, diagonal, anti-diagonal, five pixels long, anywhere, over noise);
//! conv 6 × 3×3, ReLU, 2×2 max pooling, affine 150 → 4, trained with Adam. The filters learn
//! the stroke directions, and pooling makes the answer indifferent to where the stroke is.
//!
//! Then the same weights in the fused `ConvReluPool` block the device uses (it never stores
//! the convolution's output): the predictions are the same.
//!
//! `cargo run --release -p shinso --example convnet`

mod common;

use common::{accuracy, claim, train, Set};
use shinso::zoo::Maps;
use shinso::{
    stack, Affine, Conv2d, ConvReluPool, Flatten, Init, MaxPool2d, Network, ReLU, Rng, Rule,
    WeightDecay,
};

type Image = Maps<1, 12, 12>;
type ConvNet = stack![
    Conv2d<1, 12, 12, 6, 3, 3, 1, 0, 10, 10>,
    ReLU<Maps<6, 10, 10>>,
    MaxPool2d<6, 10, 10, 2, 2, 2, 5, 5>,
    Flatten<Maps<6, 5, 5>, [f32; 150]>,
    Affine<150, 4>
];
type Fused = stack![
    ConvReluPool<1, 12, 12, 6, 3, 3, 1, 0, 10, 10, 2, 2, 2, 5, 5>,
    Flatten<Maps<6, 5, 5>, [f32; 150]>,
    Affine<150, 4>
];

/// `n` images with their labels: a stroke of kind `label` at a random place, plus noise.
fn strokes(n: usize, seed: u64) -> (Vec<Image>, Vec<usize>) {
    const STEPS: [(isize, isize); 4] = [(0, 1), (1, 0), (1, 1), (1, -1)];
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let label = rng.below(4);
            let mut img = [[[0.0f32; 12]; 12]];
            for px in img[0].iter_mut().flatten() {
                *px = 0.2 * rng.uniform();
            }
            let (dy, dx) = STEPS[label];
            // Start where five steps stay inside the image.
            let y0 = rng.below(8) as isize;
            let x0 = if dx < 0 {
                4 + rng.below(8)
            } else {
                rng.below(8)
            } as isize;
            for k in 0..5 {
                img[0][(y0 + k * dy) as usize][(x0 + k * dx) as usize] = 1.0;
            }
            (img, label)
        })
        .unzip()
}

fn main() -> Result<(), shinso::Error> {
    let (x, labels) = strokes(400, 1);
    let (test_x, test_labels) = strokes(400, 2);
    let mut net = Network::<ConvNet>::boxed();
    net.init(Init::He, 1);
    let before = accuracy(&net, &test_x, &test_labels)?;
    let train_set = Set::new(x, labels);
    train(
        &mut net,
        &train_set,
        Rule::adam(0.01),
        WeightDecay::default(),
        20,
        200,
        3,
    )?;
    let after = accuracy(&net, &test_x, &test_labels)?;
    println!(
        "{} parameters; test accuracy on 400 fresh images: {before:.3} before training, {after:.3} after 200 steps of Adam",
        Network::<ConvNet>::PARAMS
    );
    claim(
        "the convnet classifies at least 95% of fresh images",
        after >= 0.95,
    );

    let mut fused = Network::<Fused>::boxed();
    (fused.layers.first.w, fused.layers.first.b) = (net.layers.first.w, net.layers.first.b);
    fused.layers.second.second = net.layers.second.second.second.second;
    let fused_acc = accuracy(&fused, &test_x, &test_labels)?;
    let mut a = vec![0.0; Network::<ConvNet>::predict_arena(test_x.len())];
    let mut b = vec![0.0; Network::<Fused>::predict_arena(test_x.len())];
    let (plain, fast) = (
        net.predict(&test_x, &mut a)?,
        fused.predict(&test_x, &mut b)?,
    );
    let worst = plain
        .iter()
        .flatten()
        .zip(fast.iter().flatten())
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    println!(
        "fused conv-ReLU-pool: accuracy {fused_acc:.3}, largest output difference {worst:.1e}; inference arena {} floats instead of {}",
        Network::<Fused>::predict_arena(1),
        Network::<ConvNet>::predict_arena(1)
    );
    claim(
        "the fused block computes the same outputs (to 1e-5)",
        worst < 1e-5,
    );
    Ok(())
}
