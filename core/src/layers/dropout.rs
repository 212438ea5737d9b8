//! Dropout in the course's form: in training each unit is kept with probability `1 − ratio`
//! (`mask = rand > ratio`, `y = x·mask`); at inference every unit is kept and scaled by
//! `1 − ratio`, the expectation of the training output.

use core::marker::PhantomData;

use bytemuck::{Pod, Zeroable};

use crate::init::Init;
use crate::layer::{flat, flat_mut, floats, signature, Knobs, Layer, Mode, Plan};
use crate::rng::Rng;

/// Dropout over samples of type `T`. `ratio` must lie in `[0, 1)`.
///
/// A training pass draws its mask from a copy of the layer's generator and caches the mask
/// (one float per unit) and the advanced generator; [`Layer::commit`] keeps the advance, so a
/// refused step leaves the generator where it was.
#[derive(Clone, Copy, Zeroable)]
pub struct Dropout<T: Pod> {
    pub ratio: f32,
    rng: Rng,
    _sample: PhantomData<T>,
}

/// Floats of cache that hold the advanced generator (8 bytes).
const RNG_FLOATS: usize = 2;

impl<T: Pod> Dropout<T> {
    /// Reseed the mask generator (done by [`Layer::init`] from the network's generator).
    pub fn seed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }

    /// `cache` as `[generator | mask]`.
    fn split(cache: &[f32]) -> (Rng, &[f32]) {
        let (rng, mask) = cache.split_at(RNG_FLOATS);
        (
            bytemuck::pod_read_unaligned(bytemuck::cast_slice(rng)),
            mask,
        )
    }
}

impl<T: Pod> Layer for Dropout<T> {
    type In = T;
    type Out = T;
    const ZERO: Self = Self {
        ratio: 0.0,
        rng: Rng::new(0),
        _sample: PhantomData,
    };
    const PARAMS: usize = 0;
    const STATE: usize = 0;
    const CACHE: Plan = Plan::new(RNG_FLOATS, floats::<T>());
    const WORK: Plan = Plan::ZERO;
    const INFER: Plan = Plan::ZERO;
    const SIGNATURE: u64 = signature(b"dropout", &[floats::<T>()]);

    fn forward(&self, x: &[T], y: &mut [T], mode: Mode, cache: &mut [f32], _work: &mut [f32]) {
        let (x, y) = (flat(x), flat_mut(y));
        match mode {
            Mode::Train => {
                let (saved, mask) = cache.split_at_mut(RNG_FLOATS);
                let mut rng = self.rng;
                for ((yi, xi), m) in y.iter_mut().zip(x).zip(mask) {
                    *m = if rng.uniform() > self.ratio { 1.0 } else { 0.0 };
                    *yi = xi * *m;
                }
                bytemuck::cast_slice_mut::<f32, u8>(saved)
                    .copy_from_slice(bytemuck::bytes_of(&rng));
            }
            Mode::Infer => {
                let keep = 1.0 - self.ratio;
                y.iter_mut().zip(x).for_each(|(yi, xi)| *yi = xi * keep);
            }
        }
    }

    fn backward(
        &self,
        _x: &[T],
        _y: &[T],
        dy: &[T],
        dx: Option<&mut [T]>,
        _grad: &mut [f32],
        cache: &[f32],
        _work: &mut [f32],
    ) {
        let Some(dx) = dx else { return };
        let (_, mask) = Self::split(cache);
        for ((d, g), m) in flat_mut(dx).iter_mut().zip(flat(dy)).zip(mask) {
            *d = g * m;
        }
    }

    fn commit(&mut self, _n: usize, cache: &[f32]) {
        self.rng = Self::split(cache).0;
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
