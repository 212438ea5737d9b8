//! Positive control: 784 → 40 → 10, sizes that fit.
use shinso::{stack, Affine, Mode, Network, ReLU};

type Net = stack![Affine<784, 40, 1>, ReLU<[f32; 40], 1>, Affine<40, 10, 1>];

fn main() {
    let mut net = Network::<Net>::boxed();
    let _ = net.forward(&[[0.0; 784]], Mode::Infer);
}
