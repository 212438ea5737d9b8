//! A layer that can be switched off at run time (batch norm or dropout chosen on the command
//! line), passing its input through unchanged while off.

use bytemuck::Zeroable;

use crate::init::Init;
use crate::layer::{flat_mut, Knobs, Layer, Mode, Plan, SpecVisitor, Visitor};
use crate::rng::Rng;

/// `L` when `on`, the identity otherwise. Zeroed, it is off. Its arena plans are `L`'s, so a
/// network sized for the layer on also runs with it off.
#[derive(Clone, Copy, Zeroable)]
pub struct Toggle<L: Layer<Out = <L as Layer>::In>> {
    pub layer: L,
    pub on: bool,
}

impl<L: Layer<Out = <L as Layer>::In>> Layer for Toggle<L> {
    type In = L::In;
    type Out = L::In;
    const ZERO: Self = Self {
        layer: L::ZERO,
        on: false,
    };
    const PARAMS: usize = L::PARAMS;
    const STATE: usize = L::STATE;
    const CACHE: Plan = L::CACHE;
    const WORK: Plan = L::WORK;
    const INFER: Plan = L::INFER;
    const SIGNATURE: u64 = L::SIGNATURE;

    fn forward(
        &self,
        x: &[L::In],
        y: &mut [L::In],
        mode: Mode,
        cache: &mut [f32],
        work: &mut [f32],
    ) {
        if self.on {
            self.layer.forward(x, y, mode, cache, work);
        } else {
            y.copy_from_slice(x);
        }
    }

    fn backward(
        &self,
        x: &[L::In],
        y: &[L::In],
        dy: &[L::In],
        dx: Option<&mut [L::In]>,
        grad: &mut [f32],
        cache: &[f32],
        work: &mut [f32],
    ) {
        if self.on {
            return self.layer.backward(x, y, dy, dx, grad, cache, work);
        }
        // Off: no gradient for the unused parameters, so optimizers leave them be.
        grad.fill(0.0);
        if let Some(dx) = dx {
            flat_mut(dx).copy_from_slice(bytemuck::cast_slice(dy));
        }
    }

    fn commit(&mut self, n: usize, cache: &[f32]) {
        if self.on {
            self.layer.commit(n, cache);
        }
    }

    fn visit(&mut self, v: &mut dyn Visitor) {
        self.layer.visit(v);
    }

    fn visit_specs(v: &mut dyn SpecVisitor) {
        L::visit_specs(v);
    }

    fn configure(&mut self, knobs: &Knobs) {
        self.on = L::enabled_by(knobs);
        self.layer.configure(knobs);
    }

    fn init(&mut self, init: Init, rng: &mut Rng) {
        self.layer.init(init, rng);
    }
}
