//! Element-wise activation functions as layers: ReLU, Sigmoid, Tanh, Step, Identity, and one
//! whose function is picked at run time (for command-line and over-the-wire choices).
//!
//! A function is an [`Elementwise`] named `…Fn` ([`ReluFn`]); the layer that applies it is an
//! [`Activation`] with a name of its own ([`ReLU`], [`SigmoidLayer`]), so the two never differ
//! by letter case alone.

use core::marker::PhantomData;

use bytemuck::{Pod, Zeroable};

pub use crate::knobs::ActivationKind as Kind;
use crate::knobs::Knobs;
use crate::layer::{flat, flat_mut, floats, signature, Layer, Mode, Plan};
use crate::math;

/// A scalar function and its derivative. The derivative may use the input `x` or the output
/// `y` (sigmoid′ = y(1 − y) is cheaper from `y`).
pub trait Elementwise: Copy + Zeroable {
    /// Name, also hashed into the layer's signature.
    const NAME: &'static str;
    /// The function as a constant (for [`Layer::ZERO`]).
    const ZERO: Self;
    fn f(&self, x: f32) -> f32;
    fn df(&self, x: f32, y: f32) -> f32;
    /// `y = f(x)` over a whole slice: one call per layer, so the loop is monomorphic and
    /// vectorises (a run-time choice is taken once, not once per element).
    fn f_slice(&self, x: &[f32], y: &mut [f32]) {
        for (yi, &xi) in y.iter_mut().zip(x) {
            *yi = self.f(xi);
        }
    }
    /// Take the run-time choice of function, if this one has any.
    fn configure(&mut self, _knobs: &Knobs) {}
}

/// `max(0, x)`; its derivative at 0 is taken as 0.
#[derive(Clone, Copy, Debug, Default, Zeroable)]
pub struct ReluFn;
/// `1 / (1 + e⁻ˣ)`.
#[derive(Clone, Copy, Debug, Default, Zeroable)]
pub struct SigmoidFn;
/// `tanh x`.
#[derive(Clone, Copy, Debug, Default, Zeroable)]
pub struct TanhFn;
/// `1` for `x > 0`, else `0`. Its derivative is zero everywhere it exists, so nothing before a
/// step function learns by backpropagation: the reason the course moves on to sigmoid.
#[derive(Clone, Copy, Debug, Default, Zeroable)]
pub struct StepFn;
/// `x`, e.g. the output of a regression network.
#[derive(Clone, Copy, Debug, Default, Zeroable)]
pub struct IdentityFn;

impl Elementwise for ReluFn {
    const NAME: &'static str = "relu";
    const ZERO: Self = ReluFn;
    fn f(&self, x: f32) -> f32 {
        x.max(0.0)
    }
    fn f_slice(&self, x: &[f32], y: &mut [f32]) {
        crate::kernels::relu(x, y);
    }
    fn df(&self, x: f32, _y: f32) -> f32 {
        if x > 0.0 {
            1.0
        } else {
            0.0
        }
    }
}

impl Elementwise for SigmoidFn {
    const NAME: &'static str = "sigmoid";
    const ZERO: Self = SigmoidFn;
    fn f(&self, x: f32) -> f32 {
        1.0 / (1.0 + math::exp(-x))
    }
    fn df(&self, _x: f32, y: f32) -> f32 {
        y * (1.0 - y)
    }
}

impl Elementwise for TanhFn {
    const NAME: &'static str = "tanh";
    const ZERO: Self = TanhFn;
    fn f(&self, x: f32) -> f32 {
        libm::tanhf(x)
    }
    fn df(&self, _x: f32, y: f32) -> f32 {
        1.0 - y * y
    }
}

impl Elementwise for StepFn {
    const NAME: &'static str = "step";
    const ZERO: Self = StepFn;
    fn f(&self, x: f32) -> f32 {
        if x > 0.0 {
            1.0
        } else {
            0.0
        }
    }
    fn df(&self, _x: f32, _y: f32) -> f32 {
        0.0
    }
}

impl Elementwise for IdentityFn {
    const NAME: &'static str = "identity";
    const ZERO: Self = IdentityFn;
    fn f(&self, x: f32) -> f32 {
        x
    }
    fn df(&self, _x: f32, _y: f32) -> f32 {
        1.0
    }
}

/// An activation chosen at run time; same results as the fixed ones, one branch per slice.
///
/// A zeroed one (what [`Layer::ZERO`] and `Network::boxed()` give) has no function yet: until
/// [`Layer::configure`] picks one it computes NaN, so a network whose `configure` was forgotten
/// fails loudly (`predict`'s scores have no class, a training step refuses its loss) instead of
/// quietly running as a linear model.
#[derive(Clone, Copy, Debug, Default, Zeroable)]
pub struct Any {
    kind: Kind,
    /// Whether `kind` was chosen (a zeroed layer's `false`).
    chosen: bool,
}

impl Any {
    /// The activation computing `kind`.
    pub const fn new(kind: Kind) -> Self {
        Any { kind, chosen: true }
    }

    /// Its function, `None` until configured.
    pub const fn kind(&self) -> Option<Kind> {
        if self.chosen {
            Some(self.kind)
        } else {
            None
        }
    }
}

impl Elementwise for Any {
    const NAME: &'static str = "any";
    const ZERO: Self = Any {
        kind: Kind::Identity,
        chosen: false,
    };
    fn configure(&mut self, knobs: &Knobs) {
        *self = Any::new(knobs.activation);
    }
    fn f(&self, x: f32) -> f32 {
        match self.kind() {
            None => f32::NAN,
            Some(Kind::Identity) => IdentityFn.f(x),
            Some(Kind::Relu) => ReluFn.f(x),
            Some(Kind::Sigmoid) => SigmoidFn.f(x),
            Some(Kind::Tanh) => TanhFn.f(x),
            Some(Kind::Step) => StepFn.f(x),
        }
    }
    fn f_slice(&self, x: &[f32], y: &mut [f32]) {
        match self.kind() {
            None => y.fill(f32::NAN),
            Some(Kind::Identity) => IdentityFn.f_slice(x, y),
            Some(Kind::Relu) => ReluFn.f_slice(x, y),
            Some(Kind::Sigmoid) => SigmoidFn.f_slice(x, y),
            Some(Kind::Tanh) => TanhFn.f_slice(x, y),
            Some(Kind::Step) => StepFn.f_slice(x, y),
        }
    }
    fn df(&self, x: f32, y: f32) -> f32 {
        match self.kind() {
            None => f32::NAN,
            Some(Kind::Identity) => IdentityFn.df(x, y),
            Some(Kind::Relu) => ReluFn.df(x, y),
            Some(Kind::Sigmoid) => SigmoidFn.df(x, y),
            Some(Kind::Tanh) => TanhFn.df(x, y),
            Some(Kind::Step) => StepFn.df(x, y),
        }
    }
}

/// `y = f(x)` element-wise over samples of type `T` (any shape).
#[derive(Clone, Copy, Zeroable)]
pub struct Activation<F: Elementwise, T: Pod> {
    pub f: F,
    _shape: PhantomData<T>,
}

impl<F: Elementwise, T: Pod> Activation<F, T> {
    pub fn new(f: F) -> Self {
        Self {
            f,
            _shape: PhantomData,
        }
    }
}

impl<F: Elementwise, T: Pod> Layer for Activation<F, T> {
    type In = T;
    type Out = T;
    const ZERO: Self = Self {
        f: F::ZERO,
        _shape: PhantomData,
    };
    const PARAMS: usize = 0;
    const STATE: usize = 0;
    const CACHE: Plan = Plan::ZERO;
    const WORK: Plan = Plan::ZERO;
    const INFER: Plan = Plan::ZERO;
    const SIGNATURE: u64 = signature(F::NAME.as_bytes(), &[floats::<T>()]);

    fn forward(&self, x: &[T], y: &mut [T], _mode: Mode, _cache: &mut [f32], _work: &mut [f32]) {
        self.f.f_slice(flat(x), flat_mut(y));
    }

    fn configure(&mut self, knobs: &Knobs) {
        self.f.configure(knobs);
    }

    fn backward(
        &self,
        x: &[T],
        y: &[T],
        dy: &[T],
        dx: Option<&mut [T]>,
        _grad: &mut [f32],
        _cache: &[f32],
        _work: &mut [f32],
    ) {
        let Some(dx) = dx else { return };
        let xs = flat(x).iter().zip(flat(y));
        for ((dxi, dyi), (xi, yi)) in flat_mut(dx).iter_mut().zip(flat(dy)).zip(xs) {
            *dxi = dyi * self.f.df(*xi, *yi);
        }
    }
}

/// ReLU over samples `T`.
pub type ReLU<T> = Activation<ReluFn, T>;
/// Sigmoid layer.
pub type SigmoidLayer<T> = Activation<SigmoidFn, T>;
/// Tanh layer.
pub type TanhLayer<T> = Activation<TanhFn, T>;
/// Step layer (forward only in effect: its gradient is zero).
pub type StepLayer<T> = Activation<StepFn, T>;
/// Identity layer.
pub type IdentityLayer<T> = Activation<IdentityFn, T>;
/// Activation chosen at run time.
pub type AnyActivation<T> = Activation<Any, T>;
