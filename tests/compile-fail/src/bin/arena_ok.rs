//! Positive control: an arena that holds a training step and an inference of the learner.
use shinso::{zoo::OnlineConvNet, Network};

const ARENA: usize = 10 * 1024;
const _: () = assert!(
    Network::<OnlineConvNet>::train_arena(1) <= ARENA
        && Network::<OnlineConvNet>::predict_arena(1) <= ARENA,
    "the arena is too small for a training step"
);

fn main() {}
