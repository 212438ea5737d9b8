//! The device's models are the core's own networks: a [`Slot`] runs any `shinso::Network` with
//! 784 inputs and 10 outputs and, if it learns, trains it with the core's optimizer.
//! Nothing here computes a layer, an update rule, an initialiser or a float's bytes: the device
//! runs the same code as the host, in the same order, so both give the same floats.

pub mod state;

use crate::augment;
use crate::schedule::Schedule;
use crate::{max, DeviceModel, Step};
use alloc::boxed::Box;
use alloc::vec::Vec;
use shinso::finetune::Headed;
use shinso::layer::{carve, flat, flat_mut, floats};
use shinso::optim::limits;
use shinso::{
    argmax, optim::Kind, Error, Init, Knobs, Layer, Loss, Network, Optimizer, Rule, WeightDecay,
};
use shinso_proto::{ErrorCode, CLASSES, PIXELS};

/// The loss every device slot is trained and read with: softmax on the logits.
const LOSS: Loss = Loss::SoftmaxCrossEntropy;

/// The learner's rule until `Configure`: Adam at a constant 0.001, the course's rate. A host
/// that knows the stream's length does better with `Schedule` (the demo: 0.003 decaying to 0
/// over the pass, 0.9719 on the official test set; `tests/tests/device_pty.rs`).
pub const DEFAULT_RULE: Rule = Rule::adam(0.001);
/// Seed of the learner's initial weights until `Reset`.
pub const DEFAULT_SEED: u64 = 42;
/// The fine-tuning rate of a pushed model until `Schedule`: SGD on the last layer at 0.01
/// (decayed to 0 over 1,000 digits rotated by 30° it takes the pushed `double-convnet` from
/// 0.807 to 0.944 on the rotated test set; firmware README).
pub const FINE_TUNE_LR: f32 = 0.01;

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
    /// The rate of its learning steps (a learner's `Learn`, a pushed model's `FineTune`).
    schedule: Schedule,
}

/// The core's optimizer with its state on the heap.
type HeapOptimizer = Optimizer<Box<[f32]>>;

/// A pixel as the model's input: `p · (1/255)` in `[0, 1]`, as the host's data loader scales it.
fn scale(p: u8) -> f32 {
    p as f32 * (1.0 / 255.0)
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
        schedule: Schedule::constant(0.0),
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
        self.schedule = Schedule::constant(FINE_TUNE_LR);
    }

    /// Names the slot and makes it learn: He weights from [`DEFAULT_SEED`], [`DEFAULT_RULE`];
    /// fails only if the heap cannot hold the rule's state.
    pub fn start(&mut self, name: &'static str) -> Result<(), ErrorCode> {
        self.named(name);
        self.learns = true;
        self.net.init(Init::He, DEFAULT_SEED);
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
        self.schedule = Schedule::constant(rule.lr());
        Ok(())
    }

    /// New weights, new history: the optimizer's state and the schedule's step count start
    /// again.
    fn forget(&mut self) {
        if let Some([o]) = self.opt.as_deref_mut() {
            o.reset();
        }
        self.schedule.step = 0;
        self.apply_rate();
    }

    /// Gives the learner's optimizer the schedule's rate for its next step.
    fn apply_rate(&mut self) {
        if let Some([o]) = self.opt.as_deref_mut() {
            o.set_lr(self.schedule.rate());
        }
    }

    /// The learning-rate schedule and the steps it has counted: with the weights and the
    /// optimizer's state, what a checkpoint keeps.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// Resumes a schedule saved by [`Slot::schedule`] (after the optimizer it belongs to).
    pub fn restore_schedule(&mut self, schedule: Schedule) {
        self.schedule = schedule;
        self.apply_rate();
    }

    /// The image as the network's input, carved off the front of the arena (the rest follows).
    fn input<'a>(pixels: &[u8; PIXELS], arena: &'a mut [f32]) -> (&'a [L::In], &'a mut [f32]) {
        let (x, rest) = carve::<L::In>(arena, 1);
        for (o, &p) in flat_mut(x).iter_mut().zip(pixels) {
            *o = scale(p);
        }
        (x, rest)
    }

    /// The one-hot target of `label`, carved off the front of the arena (the rest follows).
    fn target(label: u8, arena: &mut [f32]) -> Result<(&[L::Out], &mut [f32]), ErrorCode> {
        let (target, rest) = carve::<L::Out>(arena, 1);
        target.fill(bytemuck::Zeroable::zeroed());
        *flat_mut(target)
            .get_mut(label as usize)
            .ok_or(ErrorCode::BadValue)? = 1.0;
        Ok((target, rest))
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

impl<L: Headed> Slot<L> {
    /// Arena floats one fine-tuning step takes: the image and its target, then the features
    /// and the head's training step.
    pub const TUNE_ARENA: usize = PIXELS + CLASSES + Network::<L>::head_arena(1);

    /// One SGD step of the last layer on `(pixels, label)` at the schedule's rate, on the
    /// features of the frozen layers before it; its prediction is the head's logits on those
    /// features (the network's own, bit for bit).
    fn tune(
        &mut self,
        pixels: &[u8; PIXELS],
        label: u8,
        arena: &mut [f32],
    ) -> Result<Step, ErrorCode> {
        let arena = arena
            .get_mut(..Self::TUNE_ARENA)
            .ok_or(ErrorCode::OutOfMemory)?;
        let (x, rest) = Self::input(pixels, arena);
        let (target, rest) = Self::target(label, rest)?;
        let (features, rest) = self.net.features(x, rest).map_err(code)?;
        // SGD keeps no state: the head's gradients, in the arena, are all this step adds.
        let rule = Rule::sgd(self.schedule.rate());
        let mut opt = Optimizer::new(rule, Network::<L>::HEAD_PARAMS, [0.0f32; 0]).map_err(code)?;
        // One forward pass of the head: its logits give the prediction before the update (the
        // head has no batch norm or dropout, so they are inference's floats), and the step goes
        // on from its cache.
        let pass = self
            .net
            .head()
            .forward_train(features, rest)
            .map_err(code)?;
        let predicted = argmax(flat(pass.outputs())) as u8;
        let loss = pass
            .step(target, LOSS, WeightDecay::default(), &mut opt)
            .map_err(code)?;
        self.schedule.advance();
        Ok(Step { loss, predicted })
    }
}

impl<L: Headed> DeviceModel for Slot<L> {
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
    fn arena(&self) -> usize {
        4 * if self.learns {
            Self::LEARN_ARENA
        } else {
            max(Self::INFER_ARENA, Self::TUNE_ARENA)
        }
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
        let step = self.schedule.step;
        let (Some([opt]), Some(arena)) =
            (self.opt.as_deref_mut(), arena.get_mut(..Self::LEARN_ARENA))
        else {
            return Err(ErrorCode::OutOfMemory);
        };
        // The learner learns from the image moved by its step's one-pixel move (`augment`):
        // its prediction and loss are those of the moved image.
        let (x, rest) = carve::<L::In>(arena, 1);
        augment::shift_into(pixels, step, flat_mut(x), scale);
        let (target, rest) = Self::target(label, rest)?;
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
    fn stepped(&mut self) {
        self.schedule.advance();
        self.apply_rate();
    }
    fn fine_tune(
        &mut self,
        pixels: &[u8; PIXELS],
        label: u8,
        arena: &mut [f32],
    ) -> Result<(Step, u32), ErrorCode> {
        if self.learns {
            return Err(ErrorCode::NotTrainable);
        }
        let step = self.tune(pixels, label, arena)?;
        Ok((step, self.schedule.step))
    }
    fn set_schedule(&mut self, lr: f32, decay_steps: u32) -> Result<(), (ErrorCode, u32)> {
        let rule = match self.opt.as_deref() {
            Some([o]) if self.learns => o.rule().with_lr(lr),
            _ if self.learns => return Err((ErrorCode::OutOfMemory, 0)),
            _ => Rule::sgd(lr),
        };
        // The detail is the largest rate the rule accepts, as f32 bits (as for Configure).
        limits::check(&rule).map_err(|out| (ErrorCode::BadValue, out.range.max.to_bits()))?;
        self.restore_schedule(Schedule {
            lr,
            decay_steps,
            step: 0,
        });
        Ok(())
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
