//! Positive control: the course's 6×6 input, 2×2 filter, stride 1, padding 1 gives 7×7.
use shinso::{Conv2d, Mode, Network};

fn main() {
    let mut net = Network::<Conv2d<1, 6, 6, 1, 2, 2, 1, 1, 7, 7, 1>>::boxed();
    let y = net.forward(&[[[[1.0; 6]; 6]; 1]], Mode::Train).unwrap();
    assert_eq!(y[0][0].len(), 7);
}
