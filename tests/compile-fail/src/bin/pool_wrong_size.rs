//! Must not build: 2×2 max pooling with stride 2 over 4×4 gives 2×2, not 3×3.
use shinso::{MaxPool2d, Mode, Network};

fn main() {
    let mut net = Network::<MaxPool2d<1, 4, 4, 2, 2, 2, 3, 3, 1>>::boxed();
    let _ = net.forward(&[[[[1.0; 4]; 4]; 1]], Mode::Train);
}
