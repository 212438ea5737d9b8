//! The device's models are the core's own networks: a [`Slot`] runs any `shinso::Network` with
//! 784 inputs and 10 outputs and, if it learns, trains it with the core's optimizer.
//! Nothing here computes a layer, an update rule, an initialiser or a float's bytes: the device
//! runs the same code as the host, in the same order, so both give the same floats.

pub mod state;

use crate::{DeviceModel, Step};
use alloc::boxed::Box;
use alloc::vec::Vec;
use shinso::layer::{carve, flat, flat_mut, floats};
use shinso::{
    argmax, optim::Kind, Error, Init, Knobs, Layer, Loss, Network, Optimizer, Rule, WeightDecay,
};
use shinso_proto::{ErrorCode, CLASSES, PIXELS};

/// The loss every device slot is trained and read with: softmax on the logits.
const LOSS: Loss = Loss::SoftmaxCrossEntropy;

/// The learner's rule until `Configure`: Adam, lr 0.001 (one online pass over the bundled
/// 10,000 images reaches ~0.96).
pub const DEFAULT_RULE: Rule = Rule::adam(0.001);
/// Seed of the learner's initial weights until `Reset`.
pub const DEFAULT_SEED: u64 = 42;

/// A network the device runs, whose weights come from a push, or which learns on the device
/// ([`Slot::start`]) with an optimizer whose state is on the heap: its size depends on the rule
/// chosen over the wire.
pub struct Slot<L: Layer> {
    /// The network: parameters and persistent state only.
    pub net: Network<L>,
    /// Set by [`Slot::named`] (an `Option` so that a zeroed slot is all zero bytes).
    name: Option<&'static str>,
    learns: bool,
    /// On the heap whole (in a one-element array: the fallible way to box a value), so that
    /// `None` is a null pointer.
    opt: Option<Box<[HeapOptimizer; 1]>>,
}

/// The core's optimizer with its state on the heap.
type HeapOptimizer = Optimizer<Box<[f32]>>;

/// Pixels as the model input: `p · (1/255)` in `[0, 1]`, as the host's data loader scales them.
fn normalise(pixels: &[u8; PIXELS], out: &mut [f32]) {
    for (o, &p) in out.iter_mut().zip(pixels) {
        *o = p as f32 * (1.0 / 255.0);
    }
}

/// The core's errors as the wire's: a refused step, or an arena or heap too small.
fn code(e: Error) -> ErrorCode {
    match e {
        Error::ArenaTooSmall { .. } | Error::BufferTooSmall { .. } => ErrorCode::OutOfMemory,
        Error::NonFiniteParameter => ErrorCode::NonFinite,
        Error::PayloadRange { .. } | Error::BlobLength { .. } => ErrorCode::BadLength,
        _ => ErrorCode::RolledBack,
    }
}

impl<L: Layer> Slot<L> {
    /// A zeroed network without a name (every class equally likely until weights arrive): all
    /// zero bytes, so a slot in a `static` lands in `.bss` (no flash image, no copy at boot).
    pub const ZERO: Self = Slot {
        net: Network::ZERO,
        name: None,
        learns: false,
        opt: None,
    };
    /// Arena floats one inference takes: the normalised image, then the core's prediction.
    pub const INFER_ARENA: usize = {
        assert!(
            floats::<L::In>() == PIXELS && floats::<L::Out>() == CLASSES,
            "a device slot's network takes one 28×28 image and gives 10 scores"
        );
        PIXELS + Network::<L>::predict_arena(1)
    };
    /// Arena floats one learning step takes: the image and its target, then the core's step.
    pub const LEARN_ARENA: usize = PIXELS + CLASSES + Network::<L>::train_arena(1);

    /// Names the slot and applies the network's run-time choices at their defaults (ReLU).
    pub fn named(&mut self, name: &'static str) {
        self.name = Some(name);
        self.net.configure(&Knobs::default());
    }

    /// Names the slot and makes it learn: He weights from [`DEFAULT_SEED`], [`DEFAULT_RULE`];
    /// fails only if the heap cannot hold the rule's state.
    pub fn start(&mut self, name: &'static str) -> Result<(), ErrorCode> {
        self.named(name);
        self.learns = true;
        self.reset(DEFAULT_SEED);
        self.set_rule(DEFAULT_RULE)
    }

    fn set_rule(&mut self, rule: Rule) -> Result<(), ErrorCode> {
        // Free the old state first: old and new together may not fit.
        self.opt = None;
        let n = rule.state_len(L::PARAMS);
        let mut state = Vec::new();
        state
            .try_reserve_exact(n)
            .map_err(|_| ErrorCode::OutOfMemory)?;
        state.resize(n, 0.0);
        let opt = Optimizer::new(rule, L::PARAMS, state.into_boxed_slice()).map_err(code)?;
        self.opt = Some(try_box(opt)?);
        Ok(())
    }

    fn forget(&mut self) {
        if let Some([o]) = self.opt.as_deref_mut() {
            o.reset();
        }
    }

    /// The image as the network's input, carved off the front of the arena (the rest follows).
    fn input<'a>(pixels: &[u8; PIXELS], arena: &'a mut [f32]) -> (&'a [L::In], &'a mut [f32]) {
        let (x, rest) = carve::<L::In>(arena, 1);
        normalise(pixels, flat_mut(x));
        (x, rest)
    }

    fn logits(
        &self,
        pixels: &[u8; PIXELS],
        arena: &mut [f32],
    ) -> Result<[f32; CLASSES], ErrorCode> {
        let arena = arena
            .get_mut(..Self::INFER_ARENA)
            .ok_or(ErrorCode::OutOfMemory)?;
        let (x, rest) = Self::input(pixels, arena);
        let y = self.net.predict(x, rest).map_err(code)?;
        let mut logits = [0.0; CLASSES];
        logits.copy_from_slice(flat(y));
        Ok(logits)
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
        L::PARAMS + L::STATE
    }
    fn ram(&self) -> usize {
        core::mem::size_of::<Self>()
    }
    fn read_params(&mut self, offset: usize, out: &mut [u8]) -> Result<(), ErrorCode> {
        self.net.read_payload(offset, out).map_err(code)
    }
    fn heap(&self) -> usize {
        self.opt.as_deref().map_or(0, |[o]| 4 * o.state().len())
    }
    fn load_params(&mut self, payload: &[u8]) -> Result<(), ErrorCode> {
        self.net.write_payload(0, payload).map_err(code)?;
        self.forget(); // new weights, new history
        Ok(())
    }
    fn infer(
        &mut self,
        pixels: &[u8; PIXELS],
        arena: &mut [f32],
    ) -> Result<[f32; CLASSES], ErrorCode> {
        let mut scores = [0.0; CLASSES];
        LOSS.output(&self.logits(pixels, arena)?, &mut scores);
        Ok(scores)
    }
    fn trainable(&self) -> bool {
        self.learns
    }
    fn learn(
        &mut self,
        pixels: &[u8; PIXELS],
        label: u8,
        arena: &mut [f32],
    ) -> Result<Step, ErrorCode> {
        let (Some([opt]), Some(arena)) =
            (self.opt.as_deref_mut(), arena.get_mut(..Self::LEARN_ARENA))
        else {
            return Err(ErrorCode::OutOfMemory);
        };
        let (x, rest) = Self::input(pixels, arena);
        let (target, rest) = carve::<L::Out>(rest, 1);
        target.fill(bytemuck::Zeroable::zeroed());
        *flat_mut(target)
            .get_mut(label as usize)
            .ok_or(ErrorCode::BadValue)? = 1.0;
        // One forward pass: its logits give the prediction before the update (the learner has
        // no batch norm or dropout, so they are inference's floats), and the step goes on from
        // its cache.
        let pass = self.net.forward_train(x, rest).map_err(code)?;
        let predicted = argmax(flat(pass.outputs())) as u8;
        let loss = pass
            .step(target, LOSS, WeightDecay::default(), opt)
            .map_err(code)?;
        Ok(Step { loss, predicted })
    }
    fn configure(&mut self, optimizer: Kind, lr: f32) -> Result<(), ErrorCode> {
        self.set_rule(optimizer.rule(lr))
    }
    fn reset(&mut self, seed: u64) {
        self.net.init(Init::He, seed);
        self.forget();
    }
    fn state_len(&self) -> usize {
        state::len(self)
    }
    fn steps(&self) -> u32 {
        state::steps(self)
    }
    fn read_state(&mut self, offset: usize, out: &mut [u8]) -> Result<(), ErrorCode> {
        state::read(self, offset, out)
    }
    fn check_state(&self, len: usize, read: state::Reader) -> Result<(), ErrorCode> {
        state::check::<L>(len, read).map(drop)
    }
    fn load_state(&mut self, len: usize, read: state::Reader) -> Result<(), ErrorCode> {
        state::load(self, len, read)
    }
}

/// `value` on the heap, or `OutOfMemory` (where `Box::new` would abort).
fn try_box<T>(value: T) -> Result<Box<[T; 1]>, ErrorCode> {
    let mut v = Vec::new();
    v.try_reserve_exact(1).map_err(|_| ErrorCode::OutOfMemory)?;
    v.push(value);
    v.into_boxed_slice()
        .try_into()
        .map_err(|_| ErrorCode::OutOfMemory)
}
