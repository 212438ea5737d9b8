//! Must not build: flattening 1×4×4 = 16 floats into 15.
use shinso::{Flatten, Network};

type Net = Flatten<[[[f32; 4]; 4]; 1], [f32; 15]>;

fn main() {
    let net = Network::<Net>::boxed();
    let _ = net.predict(&[[[[1.0; 4]; 4]; 1]], &mut [0.0; 64]);
}
