//! Seeded shuffled passes over a training set.

use shinso::Rng;

/// Shuffled passes over `0..n`: each epoch visits every index once, in a seeded order.
#[derive(Clone, Debug)]
pub struct EpochSampler {
    order: Vec<usize>,
    pos: usize,
    rng: Rng,
}

impl EpochSampler {
    pub fn new(n: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        Self { order, pos: 0, rng }
    }
    /// Fill `out` with the next indices; the index that ends an epoch reshuffles (a batch may
    /// straddle epochs).
    pub fn next_batch(&mut self, out: &mut [usize]) {
        for slot in out.iter_mut() {
            *slot = self.order[self.pos];
            self.pos += 1;
            if self.pos == self.order.len() {
                self.pos = 0;
                self.rng.shuffle(&mut self.order);
            }
        }
    }
}
