//! Two layers in sequence; nesting chains gives a network. `B: Layer<In = A::Out>` is the
//! shape check: stacking layers whose sizes disagree is a type error.
//!
//! The activation between the two and its gradient live in the arena: in training the
//! activation is cached (backward needs it) ahead of both layers' caches, and its gradient is
//! scratch of the backward pass; at inference the activation is scratch.

use bytemuck::Zeroable;

use crate::init::Init;
use crate::layer::{carve, floats, mix, Knobs, Layer, Mode, Plan, SpecVisitor, Visitor};
use crate::rng::Rng;

/// `A` then `B`.
#[derive(Clone, Copy, Zeroable)]
pub struct Chain<A: Layer, B: Layer<In = A::Out>> {
    pub first: A,
    pub second: B,
}

impl<A: Layer, B: Layer<In = A::Out>> Chain<A, B> {
    /// The activation between the two layers, per sample.
    const MID: Plan = Plan::new(0, floats::<A::Out>());
}

/// Splits a training cache `[mid | first's cache | second's cache]` for `n` samples.
fn split_cache<A: Layer>(n: usize, cache: &[f32]) -> (&[A::Out], &[f32], &[f32]) {
    let (mid, rest) = cache.split_at(n * floats::<A::Out>());
    let (a, b) = rest.split_at(A::CACHE.at(n));
    (bytemuck::cast_slice(mid), a, b)
}

impl<A: Layer, B: Layer<In = A::Out>> Layer for Chain<A, B> {
    type In = A::In;
    type Out = B::Out;
    const ZERO: Self = Self {
        first: A::ZERO,
        second: B::ZERO,
    };
    const PARAMS: usize = A::PARAMS + B::PARAMS;
    const STATE: usize = A::STATE + B::STATE;
    const CACHE: Plan = Self::MID.plus(A::CACHE).plus(B::CACHE);
    /// The gradient of the middle activation, beside either layer's scratch.
    const WORK: Plan = Self::MID.plus(A::WORK.max(B::WORK));
    const INFER: Plan = Self::MID.plus(A::INFER.max(B::INFER));
    const SIGNATURE: u64 = mix(A::SIGNATURE, B::SIGNATURE);

    fn forward(
        &self,
        x: &[A::In],
        y: &mut [B::Out],
        mode: Mode,
        cache: &mut [f32],
        work: &mut [f32],
    ) {
        let n = x.len();
        match mode {
            Mode::Train => {
                let (mid, rest) = carve::<A::Out>(cache, n);
                let (ca, cb) = rest.split_at_mut(A::CACHE.at(n));
                self.first.forward(x, mid, mode, ca, work);
                self.second.forward(mid, y, mode, cb, work);
            }
            Mode::Infer => {
                let (mid, rest) = carve::<A::Out>(work, n);
                self.first.forward(x, mid, mode, &mut [], rest);
                self.second.forward(mid, y, mode, &mut [], rest);
            }
        }
    }

    fn backward(
        &self,
        x: &[A::In],
        y: &[B::Out],
        dy: &[B::Out],
        dx: Option<&mut [A::In]>,
        grad: &mut [f32],
        cache: &[f32],
        work: &mut [f32],
    ) {
        let (mid, ca, cb) = split_cache::<A>(x.len(), cache);
        let (dmid, rest) = carve::<A::Out>(work, x.len());
        let (ga, gb) = grad.split_at_mut(A::PARAMS);
        self.second
            .backward(mid, y, dy, Some(&mut *dmid), gb, cb, rest);
        self.first.backward(x, mid, dmid, dx, ga, ca, rest);
    }

    fn commit(&mut self, n: usize, cache: &[f32]) {
        let (_, ca, cb) = split_cache::<A>(n, cache);
        self.first.commit(n, ca);
        self.second.commit(n, cb);
    }

    fn visit(&mut self, v: &mut dyn Visitor) {
        self.first.visit(v);
        self.second.visit(v);
    }

    fn visit_specs(v: &mut dyn SpecVisitor) {
        A::visit_specs(v);
        B::visit_specs(v);
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
/// type Mlp = stack![Affine<784, 40>, ReLU<[f32; 40]>, Affine<40, 10>];
/// ```
#[macro_export]
macro_rules! stack {
    ($a:ty $(,)?) => { $a };
    ($a:ty, $($rest:ty),+ $(,)?) => { $crate::Chain<$a, $crate::stack!($($rest),+)> };
}
