//! Must not build: the layers of a chain disagree on the batch size.
use shinso::{stack, Affine, Mode, Network};

type Net = stack![Affine<4, 3, 8>, Affine<3, 2, 16>];

fn main() {
    let mut net = Network::<Net>::boxed();
    let _ = net.forward(&[[0.0; 4]], Mode::Infer);
}
