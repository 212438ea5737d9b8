//! Reshape between a convolutional block and a dense one: the floats stay in order
//! (channel, row, column), only the type changes.

use core::marker::PhantomData;

use bytemuck::{Pod, Zeroable};

use crate::layer::{flat, flat_mut, floats, signature, Layer, Mode, Plan};

/// Reinterprets samples of type `I` as samples of type `O`, which must hold as many floats
/// (checked when the layer is used: a mismatch does not compile).
#[derive(Clone, Copy, Zeroable)]
pub struct Flatten<I: Pod, O: Pod>(PhantomData<(I, O)>);

impl<I: Pod, O: Pod> Layer for Flatten<I, O> {
    type In = I;
    type Out = O;
    const ZERO: Self = Self(PhantomData);
    const PARAMS: usize = 0;
    const STATE: usize = 0;
    const CACHE: Plan = Plan::ZERO;
    const WORK: Plan = Plan::ZERO;
    const INFER: Plan = Plan::ZERO;
    const SIGNATURE: u64 = signature(b"flatten", &[floats::<O>()]);

    fn forward(&self, x: &[I], y: &mut [O], _mode: Mode, _cache: &mut [f32], _work: &mut [f32]) {
        const {
            assert!(
                floats::<I>() == floats::<O>(),
                "Flatten must keep the number of floats"
            )
        };
        flat_mut(y).copy_from_slice(flat(x));
    }

    fn backward(
        &self,
        _x: &[I],
        _y: &[O],
        dy: &[O],
        dx: Option<&mut [I]>,
        _grad: &mut [f32],
        _cache: &[f32],
        _work: &mut [f32],
    ) {
        if let Some(dx) = dx {
            flat_mut(dx).copy_from_slice(flat(dy));
        }
    }
}
