//! Must not build: a device's static arena too small for one training step of its learner,
//! caught when the firmware compiles.
use shinso::{zoo::OnlineConvNet, Network};

const ARENA: usize = 8 * 1024;
const _: () = assert!(
    Network::<OnlineConvNet>::train_arena(1) <= ARENA,
    "the arena is too small for a training step"
);

fn main() {}
