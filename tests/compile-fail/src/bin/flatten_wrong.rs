//! Must not build: flattening 1×4×4 = 16 floats into 15.
use shinso::{Flatten, Mode, Network};

fn main() {
    let mut net = Network::<Flatten<[[[f32; 4]; 4]; 1], [f32; 15], 1>>::boxed();
    let _ = net.forward(&[[[[1.0; 4]; 4]; 1]], Mode::Infer);
}
