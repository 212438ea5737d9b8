//! Positive control: 784 → 40 → 10, sizes that fit.
use shinso::{stack, Affine, Network, ReLU};

type Net = stack![Affine<784, 40>, ReLU<[f32; 40]>, Affine<40, 10>];

fn main() {
    let net = Network::<Net>::boxed();
    let _ = net.predict(&[[0.0; 784]], &mut [0.0; 100]);
}
