//! Must not build: a layer of 40 outputs followed by one of 30 inputs.
use shinso::{stack, Affine, Mode, Network};

type Net = stack![Affine<784, 40, 1>, Affine<30, 10, 1>];

fn main() {
    let mut net = Network::<Net>::boxed();
    let _ = net.forward(&[[0.0; 784]], Mode::Infer);
}
