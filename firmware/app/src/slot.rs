//! The device's models are the core's own networks: a [`Slot`] runs any `shinso::Network` with
//! 784 inputs and 10 outputs, a [`Learning`] slot also trains it with the core's optimizer.
//! Nothing here computes a layer, an update rule or an initialiser: the device runs the same
//! code as the host, in the same order, so both give the same floats.

use crate::{argmax, normalise, DeviceModel, Learner, Step};
use alloc::boxed::Box;
use alloc::vec::Vec;
use shinso::layer::{flat, floats};
use shinso::{Init, Knobs, Layer, Loss, Network, Optimizer, Rule, Tensor, WeightDecay};
use shinso_proto::{ErrorCode, Optimizer as Wire, CLASSES, PIXELS};

/// The loss every device slot is trained and read with: softmax on the logits.
const LOSS: Loss = Loss::SoftmaxCrossEntropy;

/// A network the device runs; its weights come from a push.
pub struct Slot<L: Layer> {
    /// The network (parameters, and what a training step keeps between forward and backward).
    pub net: Network<L>,
    /// Set by [`Slot::named`] (an `Option` so that a zeroed slot is all zero bytes and lands in
    /// `.bss`).
    name: Option<&'static str>,
}

/// All-zero bytes of a [`bytemuck::Zeroable`] type, in a `const` (bytemuck's `zeroed` is not a
/// `const fn`), so that a slot can sit in a zero-initialised `static` (`.bss`: no flash image,
/// no copy through the stack at boot).
const fn zeroed<T: bytemuck::Zeroable>() -> T {
    // SAFETY: `T: Zeroable` promises that all-zero bytes are a valid `T`.
    #[allow(unsafe_code)]
    unsafe {
        core::mem::zeroed()
    }
}

impl<L: Layer> Slot<L> {
    /// Arena floats one inference takes: the normalised image and the network's scratch.
    pub const INFER_ARENA: usize = {
        assert!(
            floats::<L::In>() == PIXELS && floats::<L::Out>() == CLASSES,
            "a device slot's network takes one 28×28 image and gives 10 scores"
        );
        PIXELS + L::SCRATCH
    };
    /// Payload floats (parameters and saved state, the blob without its header).
    pub const PAYLOAD: usize = L::PARAMS + L::STATE;

    /// A zeroed network without a name (every class equally likely until weights arrive).
    pub const ZERO: Self = Slot {
        net: zeroed(),
        name: None,
    };

    /// Names the slot and applies the network's run-time choices at their defaults (ReLU).
    pub fn named(&mut self, name: &'static str) {
        self.name = Some(name);
        self.net.configure(&Knobs::default());
    }

    /// The image as the network's input, at the front of the arena; the rest is returned.
    fn input<'a>(pixels: &[u8; PIXELS], arena: &'a mut [f32]) -> (&'a L::In, &'a mut [f32]) {
        let (x, rest) = arena.split_at_mut(Self::INFER_ARENA - L::SCRATCH);
        normalise(pixels, x);
        (&bytemuck::cast_slice(x)[0], rest)
    }

    fn logits(&mut self, pixels: &[u8; PIXELS], arena: &mut [f32]) -> [f32; CLASSES] {
        let (x, scratch) = Self::input(pixels, arena);
        let mut y = <L::Out as bytemuck::Zeroable>::zeroed();
        // Cannot fail: normalised pixels are finite.
        let _ = self.net.infer(x, &mut y, scratch);
        let mut logits = [0.0; CLASSES];
        logits.copy_from_slice(flat(core::slice::from_ref(&y)));
        logits
    }
}

impl<L: Layer> DeviceModel for Slot<L> {
    fn name(&self) -> &str {
        self.name.unwrap_or_default()
    }
    fn signature(&self) -> u64 {
        L::SIGNATURE
    }
    fn param_count(&self) -> usize {
        Self::PAYLOAD
    }
    fn ram(&self) -> usize {
        core::mem::size_of::<Self>()
    }
    fn read_params(&mut self, offset: usize, out: &mut [u8]) -> usize {
        let n = out.len().min((4 * Self::PAYLOAD).saturating_sub(offset));
        let mut at = 0;
        self.net.layers.visit(&mut |t: Tensor<'_>| {
            for v in t.value.iter() {
                for (k, b) in v.to_le_bytes().into_iter().enumerate() {
                    if let Some(o) = (at + k)
                        .checked_sub(offset)
                        .and_then(|i| out[..n].get_mut(i))
                    {
                        *o = b;
                    }
                }
                at += 4;
            }
        });
        n
    }
    fn load_params(&mut self, blob: &[u8]) {
        let mut floats = blob
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        self.net.layers.visit(&mut |t: Tensor<'_>| {
            t.value
                .iter_mut()
                .zip(&mut floats)
                .for_each(|(v, f)| *v = f);
        });
    }
    fn infer(&mut self, pixels: &[u8; PIXELS], arena: &mut [f32]) -> [f32; CLASSES] {
        let mut scores = [0.0; CLASSES];
        LOSS.output(&self.logits(pixels, arena), &mut scores);
        scores
    }
}

/// The learner's rule until `Configure`: Adam, lr 0.001 (one online pass over the bundled
/// 10,000 images reaches ~0.96).
pub const DEFAULT_RULE: Rule = Rule::adam(0.001);
/// Seed of the learner's initial weights until `Reset`.
pub const DEFAULT_SEED: u64 = 42;

/// The core's rule for an optimizer named over the wire: the course's hyperparameters, rate
/// `lr`.
pub fn rule(optimizer: Wire, lr: f32) -> Rule {
    match optimizer {
        Wire::Sgd => Rule::sgd(lr),
        Wire::Momentum => Rule::momentum(lr),
        Wire::AdaGrad => Rule::adagrad(lr),
        Wire::RmsProp => Rule::rmsprop(lr),
        Wire::Adam => Rule::adam(lr),
    }
}

/// A slot that also learns, one sample at a time, with the core's optimizer. The optimizer's
/// state is on the heap: its size depends on the rule chosen over the wire.
pub struct Learning<L: Layer> {
    /// The network.
    pub slot: Slot<L>,
    /// On the heap whole (a one-element array: the heap's only fallible way to box a value),
    /// so that `None` is a null pointer and a zeroed slot all zero bytes.
    opt: Option<Box<[Optimizer<Box<[f32]>>; 1]>>,
}

impl<L: Layer> Learning<L> {
    /// A zeroed network without an optimizer; [`Learning::start`] makes it ready.
    pub const ZERO: Self = Learning {
        slot: Slot::ZERO,
        opt: None,
    };

    /// Names the slot, draws He weights from [`DEFAULT_SEED`] and sets [`DEFAULT_RULE`];
    /// fails only if the heap cannot hold the rule's state.
    pub fn start(&mut self, name: &'static str) -> Result<(), ErrorCode> {
        self.slot.named(name);
        self.reset(DEFAULT_SEED);
        self.set_rule(DEFAULT_RULE)
    }

    fn set_rule(&mut self, rule: Rule) -> Result<(), ErrorCode> {
        // Free the old state first: old and new together may not fit.
        self.opt = None;
        let n = rule.buffer_len(L::PARAMS);
        let mut buf = Vec::new();
        buf.try_reserve_exact(n)
            .map_err(|_| ErrorCode::OutOfMemory)?;
        buf.resize(n, 0.0);
        let mut opt = Vec::new();
        opt.try_reserve_exact(1)
            .map_err(|_| ErrorCode::OutOfMemory)?;
        opt.push(Optimizer::new(rule, L::PARAMS, buf.into_boxed_slice()));
        self.opt = opt.into_boxed_slice().try_into().ok();
        Ok(())
    }
}

impl<L: Layer> DeviceModel for Learning<L> {
    fn name(&self) -> &str {
        self.slot.name()
    }
    fn signature(&self) -> u64 {
        L::SIGNATURE
    }
    fn param_count(&self) -> usize {
        Slot::<L>::PAYLOAD
    }
    fn ram(&self) -> usize {
        core::mem::size_of::<Self>()
    }
    fn heap(&self) -> usize {
        self.opt
            .as_deref()
            .map_or(0, |[o]| 4 * o.rule().buffer_len(L::PARAMS))
    }
    fn read_params(&mut self, offset: usize, out: &mut [u8]) -> usize {
        self.slot.read_params(offset, out)
    }
    fn load_params(&mut self, blob: &[u8]) {
        self.slot.load_params(blob);
        // New weights, new history.
        if let Some([o]) = self.opt.as_deref_mut() {
            o.reset();
        }
    }
    fn infer(&mut self, pixels: &[u8; PIXELS], arena: &mut [f32]) -> [f32; CLASSES] {
        self.slot.infer(pixels, arena)
    }
    fn learner(&mut self) -> Option<&mut dyn Learner> {
        Some(self)
    }
}

impl<L: Layer> Learner for Learning<L> {
    fn learn(
        &mut self,
        pixels: &[u8; PIXELS],
        label: u8,
        arena: &mut [f32],
    ) -> Result<Step, ErrorCode> {
        let Some([opt]) = self.opt.as_deref_mut() else {
            return Err(ErrorCode::OutOfMemory);
        };
        let predicted = argmax(&self.slot.logits(pixels, arena));
        let (x, _) = Slot::<L>::input(pixels, arena);
        let mut target = <L::Out as bytemuck::Zeroable>::zeroed();
        if let Some(t) =
            shinso::layer::flat_mut(core::slice::from_mut(&mut target)).get_mut(label as usize)
        {
            *t = 1.0;
        }
        let net = &mut self.slot.net;
        let loss = net
            .train_step(
                core::slice::from_ref(x),
                core::slice::from_ref(&target),
                LOSS,
                WeightDecay::default(),
                opt,
            )
            .map_err(|_| ErrorCode::RolledBack)?;
        Ok(Step { loss, predicted })
    }

    fn configure(&mut self, optimizer: Wire, lr: f32) -> Result<(), ErrorCode> {
        self.set_rule(rule(optimizer, lr))
    }

    fn reset(&mut self, seed: u64) {
        self.slot.net.init(Init::He, seed);
        if let Some([o]) = self.opt.as_deref_mut() {
            o.reset();
        }
    }
}
