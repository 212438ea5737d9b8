//! Reshape between a convolutional block and a dense one: the floats stay in order
//! (channel, row, column), only the type changes.

use core::marker::PhantomData;

use bytemuck::{Pod, Zeroable};

use crate::layer::{flat, flat_mut, floats, signature, Layer, Mode};

/// Reinterprets samples of type `I` as samples of type `O`, which must hold as many floats
/// (checked when the layer is used: a mismatch does not compile).
#[derive(Clone, Copy, Zeroable)]
pub struct Flatten<I: Pod, O: Pod, const B: usize>(PhantomData<(I, O)>);

impl<I: Pod, O: Pod, const B: usize> Layer for Flatten<I, O, B> {
    type In = I;
    type Out = O;
    type OutBatch = [O; B];
    const BATCH: usize = B;
    const PARAMS: usize = 0;
    const STATE: usize = 0;
    const CACHE: usize = 0;
    const SIGNATURE: u64 = signature(b"flatten", &[floats::<O>()]);

    fn forward(&mut self, x: &[I], y: &mut [O], _mode: Mode) {
        const {
            assert!(
                floats::<I>() == floats::<O>(),
                "Flatten must keep the number of floats"
            )
        };
        flat_mut(y).copy_from_slice(flat(x));
    }

    fn backward(&mut self, _x: &[I], _y: &[O], dy: &[O], dx: Option<&mut [I]>, _grad: &mut [f32]) {
        if let Some(dx) = dx {
            flat_mut(dx).copy_from_slice(flat(dy));
        }
    }
}
