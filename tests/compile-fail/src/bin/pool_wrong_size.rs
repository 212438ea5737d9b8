//! Must not build: 2×2 max pooling with stride 2 over 4×4 gives 2×2, not 3×3.
use shinso::{MaxPool2d, Network};

type Net = MaxPool2d<1, 4, 4, 2, 2, 2, 3, 3>;

fn main() {
    let net = Network::<Net>::boxed();
    let _ = net.predict(&[[[[1.0; 4]; 4]; 1]], &mut [0.0; 64]);
}
