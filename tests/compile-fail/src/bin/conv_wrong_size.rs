//! Must not build: a 6×6 input, 2×2 filter, stride 1, padding 1 gives 7×7, not 6×6.
use shinso::{Conv2d, Mode, Network};

fn main() {
    let mut net = Network::<Conv2d<1, 6, 6, 1, 2, 2, 1, 1, 6, 6, 1>>::boxed();
    let _ = net.forward(&[[[[1.0; 6]; 6]; 1]], Mode::Train);
}
