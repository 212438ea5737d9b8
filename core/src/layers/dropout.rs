//! Dropout in the course's form: in training each unit is kept with probability `1 − ratio`
//! (`mask = rand > ratio`, `y = x·mask`); at inference every unit is kept and scaled by
//! `1 − ratio`, the expectation of the training output.

use bytemuck::{Pod, Zeroable};

use crate::init::Init;
use crate::layer::{flat, flat_mut, floats, signature, Knobs, Layer, Mode};
use crate::rng::Rng;

/// Dropout over samples of type `T`, batches of up to `B`. `ratio` must lie in `[0, 1)`.
#[derive(Clone, Copy, Zeroable)]
pub struct Dropout<T: Pod, const B: usize> {
    pub ratio: f32,
    rng: Rng,
    mask: [T; B],
}

impl<T: Pod, const B: usize> Dropout<T, B> {
    /// Reseed the mask generator (done by [`Layer::init`] from the network's generator).
    pub fn seed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }
}

impl<T: Pod, const B: usize> Layer for Dropout<T, B> {
    type In = T;
    type Out = T;
    type OutBatch = [T; B];
    const BATCH: usize = B;
    const PARAMS: usize = 0;
    const STATE: usize = 0;
    const CACHE: usize = floats::<[T; B]>();
    const SIGNATURE: u64 = signature(b"dropout", &[floats::<T>()]);

    fn forward(&mut self, x: &[T], y: &mut [T], mode: Mode) {
        let (x, y) = (flat(x), flat_mut(y));
        match mode {
            Mode::Train => {
                let mask = &mut flat_mut(&mut self.mask)[..x.len()];
                for ((yi, xi), m) in y.iter_mut().zip(x).zip(mask) {
                    *m = if self.rng.uniform() > self.ratio {
                        1.0
                    } else {
                        0.0
                    };
                    *yi = xi * *m;
                }
            }
            Mode::Infer => {
                let keep = 1.0 - self.ratio;
                y.iter_mut().zip(x).for_each(|(yi, xi)| *yi = xi * keep);
            }
        }
    }

    fn backward(&mut self, _x: &[T], _y: &[T], dy: &[T], dx: Option<&mut [T]>, _grad: &mut [f32]) {
        let Some(dx) = dx else { return };
        let mask = flat(&self.mask);
        for ((d, g), m) in flat_mut(dx).iter_mut().zip(flat(dy)).zip(mask) {
            *d = g * m;
        }
    }

    fn configure(&mut self, knobs: &Knobs) {
        self.ratio = knobs.dropout;
    }

    fn enabled_by(knobs: &Knobs) -> bool {
        knobs.dropout > 0.0
    }

    fn init(&mut self, _init: Init, rng: &mut Rng) {
        self.seed(rng.next_u64());
    }
}
