//! Two layers in sequence; nesting chains gives a network. `B: Layer<In = A::Out>` is the
//! shape check: stacking layers whose sizes disagree is a type error.

use bytemuck::Zeroable;

use crate::init::Init;
use crate::layer::{floats, mix, Knobs, Layer, Mode, Visitor};
use crate::rng::Rng;

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// `A` then `B`, owning the activation between them and its gradient.
#[derive(Clone, Copy, Zeroable)]
pub struct Chain<A: Layer, B: Layer<In = A::Out>> {
    pub first: A,
    pub second: B,
    mid: A::OutBatch,
    dmid: A::OutBatch,
}

impl<A: Layer, B: Layer<In = A::Out>> Layer for Chain<A, B> {
    type In = A::In;
    type Out = B::Out;
    type OutBatch = B::OutBatch;
    const BATCH: usize = A::BATCH;
    const PARAMS: usize = A::PARAMS + B::PARAMS;
    const STATE: usize = A::STATE + B::STATE;
    const CACHE: usize = A::CACHE + B::CACHE + 2 * floats::<A::OutBatch>();
    const SIGNATURE: u64 = mix(A::SIGNATURE, B::SIGNATURE);
    const SCRATCH: usize = floats::<A::Out>() + max(A::SCRATCH, B::SCRATCH);

    fn forward(&mut self, x: &[A::In], y: &mut [B::Out], mode: Mode) {
        const {
            assert!(
                A::BATCH == B::BATCH,
                "layers of a chain must share one batch size"
            )
        };
        let mid = &mut self.mid.as_mut()[..x.len()];
        self.first.forward(x, mid, mode);
        self.second.forward(mid, y, mode);
    }

    fn backward(
        &mut self,
        x: &[A::In],
        y: &[B::Out],
        dy: &[B::Out],
        dx: Option<&mut [A::In]>,
        grad: &mut [f32],
    ) {
        let n = x.len();
        let mid = &self.mid.as_ref()[..n];
        let dmid = &mut self.dmid.as_mut()[..n];
        let (ga, gb) = grad.split_at_mut(A::PARAMS);
        self.second.backward(mid, y, dy, Some(&mut *dmid), gb);
        self.first.backward(x, mid, dmid, dx, ga);
    }

    fn infer(&mut self, x: &A::In, y: &mut B::Out, scratch: &mut [f32]) {
        // The activation between the two lives at the front of the scratch; each side gets
        // the rest.
        let (mid, rest) = scratch.split_at_mut(floats::<A::Out>());
        let mid: &mut A::Out = &mut bytemuck::cast_slice_mut(mid)[0];
        self.first.infer(x, mid, rest);
        self.second.infer(mid, y, rest);
    }

    fn visit(&mut self, v: &mut dyn Visitor) {
        self.first.visit(v);
        self.second.visit(v);
    }

    fn configure(&mut self, knobs: &Knobs) {
        self.first.configure(knobs);
        self.second.configure(knobs);
    }

    fn init(&mut self, init: Init, rng: &mut Rng) {
        self.first.init(init, rng);
        self.second.init(init, rng);
    }
}

/// The type of a stack of layers: `stack![A, B, C]` is `Chain<A, Chain<B, C>>`.
///
/// ```
/// use shinso::{stack, Affine, ReLU};
/// type Mlp = stack![Affine<784, 40, 100>, ReLU<[f32; 40], 100>, Affine<40, 10, 100>];
/// ```
#[macro_export]
macro_rules! stack {
    ($a:ty $(,)?) => { $a };
    ($a:ty, $($rest:ty),+ $(,)?) => { $crate::Chain<$a, $crate::stack!($($rest),+)> };
}
