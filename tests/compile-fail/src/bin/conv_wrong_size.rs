//! Must not build: a 6×6 input, 2×2 filter, stride 1, padding 1 gives 7×7, not 6×6.
use shinso::{Conv2d, Network};

type Net = Conv2d<1, 6, 6, 1, 2, 2, 1, 1, 6, 6>;

fn main() {
    let net = Network::<Net>::boxed();
    let mut arena = vec![0.0; Network::<Net>::predict_arena(1)];
    let _ = net.predict(&[[[[1.0; 6]; 6]; 1]], &mut arena);
}
