//! Positive control: the course's 6×6 input, 2×2 filter, stride 1, padding 1 gives 7×7.
use shinso::{Conv2d, Network};

type Net = Conv2d<1, 6, 6, 1, 2, 2, 1, 1, 7, 7>;

fn main() {
    let net = Network::<Net>::boxed();
    let mut arena = vec![0.0; Network::<Net>::predict_arena(1)];
    let y = net.predict(&[[[[1.0; 6]; 6]; 1]], &mut arena).unwrap();
    assert_eq!(y[0][0].len(), 7);
}
