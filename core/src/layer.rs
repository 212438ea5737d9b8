//! The `Layer` trait every building block implements, and the views of its parameters.
//!
//! A layer is a struct of fixed-size arrays: its sizes are const generics, so a network whose
//! shapes do not fit together does not compile. The batch size is not part of the type: each
//! call passes as many samples as it likes, and the buffers for them come from an arena the
//! caller lends, sized by the layer's [`Plan`]s (one sample at a time for online learning, the
//! last short batch of an epoch, or a full batch on the host).
//!
//! Activations flow between layers as slices of per-sample arrays (`&[Self::In]`, one element a
//! sample). A layer caches only what its backward pass cannot get from its input and output:
//! `backward` is handed the same `x` and `y` that `forward` saw, so a chain of layers stores each
//! activation once.

use bytemuck::{Pod, Zeroable};

use crate::init::Init;
pub use crate::knobs::Knobs;
use crate::rng::Rng;
pub use crate::tensor::{Tensor, TensorKind};

/// Whether a forward pass is for training (batch statistics, dropout masks, caches for
/// backward) or for inference (running statistics, no randomness).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Infer,
}

/// Receives every tensor of a network, layer by layer, in a fixed order. That order is the
/// layout of the model blob and of optimizer state.
pub trait Visitor {
    /// A layer with tensors begins; `kind` names it ("affine", "conv", "batchnorm").
    fn layer(&mut self, _kind: &'static str) {}
    /// One tensor of the current layer.
    fn tensor(&mut self, t: Tensor<'_>);
}

/// Any closure over tensors is a visitor.
impl<F: FnMut(Tensor<'_>)> Visitor for F {
    fn tensor(&mut self, t: Tensor<'_>) {
        self(t)
    }
}

/// A tensor as its layer's type describes it, without its values: what [`Tensor`] holds
/// besides them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    pub kind: TensorKind,
    /// Logical shape, outermost first, unused trailing dimensions 0 (as [`Tensor::shape`]).
    pub shape: [usize; 4],
    pub fan_in: usize,
}

impl TensorSpec {
    /// Number of meaningful dimensions in `shape`.
    pub fn rank(&self) -> usize {
        self.shape.iter().take_while(|&&d| d != 0).count()
    }

    /// Number of floats it holds.
    pub fn floats(&self) -> usize {
        self.shape[..self.rank()].iter().product()
    }
}

/// Receives the tensors of a layer *type*, layer by layer, in the order [`Layer::visit`] shows
/// an instance's: how a network's tensors are listed without building it.
pub trait SpecVisitor {
    /// A layer with tensors begins; `kind` names it ("affine", "conv", "batchnorm").
    fn layer(&mut self, _kind: &'static str) {}
    /// One tensor of the current layer.
    fn tensor(&mut self, spec: TensorSpec);
}

/// [`Layer::visit`] of a layer whose tensors hold `values`, in the order its
/// [`Layer::visit_specs`] describes them: one description serves the type and its instances,
/// so the two cannot disagree.
pub fn visit_values<'a, L: Layer>(
    v: &mut dyn Visitor,
    values: impl IntoIterator<Item = &'a mut [f32]>,
) {
    struct Zip<'v, I> {
        v: &'v mut dyn Visitor,
        values: I,
    }
    impl<'a, I: Iterator<Item = &'a mut [f32]>> SpecVisitor for Zip<'_, I> {
        fn layer(&mut self, kind: &'static str) {
            self.v.layer(kind);
        }
        fn tensor(&mut self, s: TensorSpec) {
            let value = self
                .values
                .next()
                .expect("one value per tensor the layer describes");
            debug_assert_eq!(
                value.len(),
                s.floats(),
                "{:?} holds {} floats",
                s,
                value.len()
            );
            let (kind, shape, fan_in) = (s.kind, s.shape, s.fan_in);
            self.v.tensor(Tensor {
                kind,
                shape,
                fan_in,
                value,
            });
        }
    }
    L::visit_specs(&mut Zip {
        v,
        values: values.into_iter(),
    });
}

/// Floats of arena as a part every call needs plus a part per sample: how a layer states its
/// memory, so that a chain can add up its layers' needs at compile time and a caller can size a
/// buffer for any batch (`fixed + per_sample · n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Floats whatever the batch size.
    pub fixed: usize,
    /// Floats per sample.
    pub per_sample: usize,
}

impl Plan {
    /// Nothing.
    pub const ZERO: Plan = Plan::new(0, 0);

    /// `fixed + per_sample · n` floats.
    pub const fn new(fixed: usize, per_sample: usize) -> Self {
        Self { fixed, per_sample }
    }

    /// Floats for a batch of `n` samples.
    pub const fn at(self, n: usize) -> usize {
        self.fixed + self.per_sample * n
    }

    /// Both at once (buffers that live side by side).
    pub const fn plus(self, other: Plan) -> Plan {
        Plan::new(self.fixed + other.fixed, self.per_sample + other.per_sample)
    }

    /// Either one at a time (buffers that take turns): part by part, so at any batch size it is
    /// at least as large as each of the two (exact when one plan is the larger in both parts).
    pub const fn max(self, other: Plan) -> Plan {
        Plan::new(
            max(self.fixed, other.fixed),
            max(self.per_sample, other.per_sample),
        )
    }
}

pub(crate) const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// A differentiable building block with shapes fixed at compile time and the batch size chosen
/// per call.
///
/// A layer holds its parameters and persistent state (batch-norm running statistics, the
/// dropout generator) and nothing else. Everything a call needs for a while comes from the
/// caller's arena, in two parts:
/// - `cache`: [`Layer::CACHE`] floats a training forward pass writes for the backward pass and
///   [`Layer::commit`] that follow it (im2col matrices, argmax and dropout masks, batch
///   statistics). Inference does not touch it.
/// - `work`: [`Layer::WORK`] (training) or [`Layer::INFER`] (inference) floats of scratch used
///   within one call and free afterwards (a backward pass's im2col gradient, a fused block's
///   band, the activations inside a chain at inference).
///
/// Gradients are not in the layer either: [`Layer::backward`] writes them into a flat buffer of
/// `PARAMS` floats (trainable tensors in visit order) owned by whoever trains the network.
///
/// Forward and backward take `&self`: a training pass changes the layer only when the step is
/// accepted, through [`Layer::commit`], so a refused step leaves it as it was.
///
/// `Zeroable` is required so that a network of any size can be created zeroed straight on the
/// heap (`bytemuck::zeroed_box`) or in static memory without passing through the stack; a zeroed
/// layer is valid, and [`Layer::init`] then draws its weights.
pub trait Layer: Zeroable {
    /// One input sample, e.g. `[f32; 784]` or `[[[f32; 28]; 28]; 1]`.
    type In: Pod;
    /// One output sample.
    type Out: Pod;

    /// The zeroed layer as a constant, so that a network can sit in a `static` (a zeroed layer
    /// is valid; [`Layer::init`] or a blob then gives it weights).
    const ZERO: Self;
    /// Trainable parameters (floats); gradients take as many.
    const PARAMS: usize;
    /// Persistent non-trainable floats saved with the model (batch-norm running statistics).
    const STATE: usize;
    /// Arena floats kept from a training forward pass to its backward pass and commit.
    const CACHE: Plan;
    /// Arena floats of scratch during a training forward or backward pass.
    const WORK: Plan;
    /// Arena floats of scratch during an inference forward pass.
    const INFER: Plan;
    /// A hash of the layer's kind and sizes: two networks with the same signature have the
    /// same blob layout.
    const SIGNATURE: u64;

    /// `y = f(x)` for `x.len()` samples (`y.len() == x.len()`).
    ///
    /// [`Mode::Train`] writes into `cache` (at least `CACHE.at(n)` floats) what backward and
    /// commit need; `work` holds at least `WORK.at(n)` floats. [`Mode::Infer`] leaves `cache`
    /// alone (it may be empty) and uses `INFER.at(n)` floats of `work`.
    fn forward(
        &self,
        x: &[Self::In],
        y: &mut [Self::Out],
        mode: Mode,
        cache: &mut [f32],
        work: &mut [f32],
    );

    /// Given the `x`, `y` and `cache` of the last training forward pass and `dy = ∂E/∂y`,
    /// overwrite `grad` (this layer's `PARAMS` floats, trainable tensors in visit order) with
    /// `∂E/∂θ` and, when asked, write `dx = ∂E/∂x`. The first layer of a network is given
    /// `None` and skips that work. `work` holds at least `WORK.at(n)` floats.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        x: &[Self::In],
        y: &[Self::Out],
        dy: &[Self::Out],
        dx: Option<&mut [Self::In]>,
        grad: &mut [f32],
        cache: &[f32],
        work: &mut [f32],
    );

    /// The training step on `n` samples whose forward pass wrote `cache` was accepted: apply
    /// what it changes besides the parameters (batch norm's running statistics, the dropout
    /// generator). A refused step never calls it.
    fn commit(&mut self, _n: usize, _cache: &[f32]) {}

    /// Show every tensor (trainable and state) to `v`, in a fixed order: the order, kinds and
    /// shapes of [`Layer::visit_specs`] (layers with tensors implement it with
    /// [`visit_values`]).
    fn visit(&mut self, _v: &mut dyn Visitor) {}

    /// Describe every tensor [`Layer::visit`] shows, from the type alone: a network's tensor
    /// list costs no instance, however large the network.
    fn visit_specs(_v: &mut dyn SpecVisitor) {}

    /// Apply run-time choices (see [`Knobs`]).
    fn configure(&mut self, _knobs: &Knobs) {}

    /// Whether this layer should run under `knobs` when wrapped in a [`crate::Toggle`].
    fn enabled_by(_knobs: &Knobs) -> bool {
        true
    }

    /// Draw initial parameters. Layers with their own randomness (dropout) also take a seed.
    fn init(&mut self, init: Init, rng: &mut Rng) {
        self.visit(&mut |t: Tensor<'_>| init.fill(t, rng));
    }
}

/// Show `f` every trainable tensor of `net` with its offset in the flat order of parameters
/// (visit order, trainable tensors only): where its gradients start in a gradient buffer.
pub fn visit_trainable<L: Layer>(net: &mut L, mut f: impl FnMut(Tensor<'_>, usize)) {
    let mut at = 0;
    net.visit(&mut |t: Tensor<'_>| {
        if t.kind.trainable() {
            let len = t.value.len();
            f(t, at);
            at += len;
        }
    });
}

/// The first `n` samples of type `T` laid over the front of `arena` (an `f32` array of any
/// nesting has the alignment of `f32`), and the rest of the arena.
pub fn carve<T: Pod>(arena: &mut [f32], n: usize) -> (&mut [T], &mut [f32]) {
    let (head, tail) = arena.split_at_mut(n * floats::<T>());
    (bytemuck::cast_slice_mut(head), tail)
}

/// The floats of a plain-old-data value (an `f32` array of any nesting), read-only.
pub fn flat<T: Pod>(x: &[T]) -> &[f32] {
    bytemuck::cast_slice(x)
}

/// The floats of a plain-old-data value, writable.
pub fn flat_mut<T: Pod>(x: &mut [T]) -> &mut [f32] {
    bytemuck::cast_slice_mut(x)
}

/// Number of floats in one `T`.
pub const fn floats<T>() -> usize {
    core::mem::size_of::<T>() / 4
}

/// Mixes a value into a running FNV-1a signature; `const` so signatures are compile-time
/// constants built from a layer's kind and const-generic sizes.
pub const fn mix(h: u64, v: u64) -> u64 {
    let mut h = h;
    let mut i = 0;
    while i < 8 {
        h ^= (v >> (8 * i)) & 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
        i += 1;
    }
    h
}

/// Signature of a layer kind `tag` with sizes `dims`.
pub const fn signature(tag: &[u8], dims: &[usize]) -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325;
    let mut i = 0;
    while i < tag.len() {
        h = mix(h, tag[i] as u64);
        i += 1;
    }
    let mut j = 0;
    while j < dims.len() {
        h = mix(h, dims[j] as u64);
        j += 1;
    }
    h
}
