//! Must not build: a layer of 40 outputs followed by one of 30 inputs.
use shinso::{stack, Affine, Network};

type Net = stack![Affine<784, 40>, Affine<30, 10>];

fn main() {
    let net = Network::<Net>::boxed();
    let _ = net.predict(&[[0.0; 784]], &mut [0.0; 100]);
}
