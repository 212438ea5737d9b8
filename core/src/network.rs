//! A stack of layers with the methods that run it over a borrowed arena: prediction, gradients,
//! one all-or-nothing training step (whole, or its forward pass first and the step after, for
//! a caller that decides from the outputs whether to learn), the blob and its payload, and the
//! memory plan as `const fn`s.
//!
//! The arena is a plain `&mut [f32]`: a `static` array on a device (shared between inference,
//! training and the staging of a weight push), a `Vec` on the host. Its size for `n` samples is
//! [`Network::predict_arena`], [`Network::gradients_arena`] or [`Network::train_arena`]; a call
//! with less returns [`Error::ArenaTooSmall`] before touching anything. The batch size is the
//! number of samples a call passes, bounded only by the arena.
//!
//! ```
//! use std::sync::Mutex;
//! use shinso::{one_hot, argmax, zoo::OnlineConvNet, Init, Loss, Network, Optimizer, Rule, WeightDecay};
//!
//! type Net = Network<OnlineConvNet>;
//! // A device's arena (40 KiB), checked when the firmware compiles: a training step on one
//! // sample of the online learner fits, and so does an inference.
//! const ARENA: usize = 10 * 1024;
//! const _: () = assert!(Net::train_arena(1) <= ARENA && Net::predict_arena(1) <= ARENA);
//! static NET: Mutex<Net> = Mutex::new(Net::ZERO);
//! static WORK: Mutex<[f32; ARENA]> = Mutex::new([0.0; ARENA]);
//!
//! let (mut net, mut arena) = (NET.lock().unwrap(), WORK.lock().unwrap());
//! net.init(Init::He, 7);
//! let rule = Rule::adam(0.001);
//! let mut opt = Optimizer::new(rule, Net::PARAMS, vec![0.0; rule.state_len(Net::PARAMS)])?;
//! let image = [[[0.5f32; 28]; 28]; 1];
//! let sample = core::slice::from_ref(&image);
//! let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay::default());
//! net.train_step(sample, &[one_hot(3)], loss, decay, &mut opt, &mut arena[..])?;
//! let scores = net.predict(sample, &mut arena[..])?;
//! assert!(argmax(&scores[0]) < 10);
//! # Ok::<(), shinso::Error>(())
//! ```

use bytemuck::{TransparentWrapper, Zeroable};

use crate::error::Error;
use crate::init::Init;
use crate::layer::{carve, flat, flat_mut, floats, Knobs, Layer, Mode};
use crate::loss::Loss;
use crate::model;
use crate::optim::{Optimizer, Rule, WeightDecay};
use crate::rng::Rng;

/// A network `L` (usually a [`crate::stack!`] of layers): parameters and persistent state
/// only, so it is as large as its blob.
///
/// On the host create it with [`Network::boxed`] (zeroed on the heap, no stack copy however
/// large), on a device in a `static` from [`Network::ZERO`]; then call [`Network::init`] or load
/// a blob.
#[derive(Clone, Copy, Zeroable, TransparentWrapper)]
#[repr(transparent)]
pub struct Network<L: Layer> {
    pub layers: L,
}

/// Bytes a network needs, by purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// Trainable parameters.
    pub params: usize,
    /// Non-trainable saved state (batch-norm running statistics).
    pub state: usize,
    /// Optimizer state for the given rule.
    pub optimizer: usize,
    /// The arena of a training step at the given batch size: gradients, the output and its
    /// gradient, activations and caches kept for backward, scratch.
    pub arena: usize,
}

impl Memory {
    /// Everything together.
    pub const fn total(&self) -> usize {
        self.params + self.state + self.optimizer + self.arena
    }
}

/// A training arena cut into the output, its gradient, the cache and the scratch.
struct Pass<'a, O> {
    out: &'a mut [O],
    dout: &'a mut [O],
    cache: &'a mut [f32],
    work: &'a mut [f32],
}

/// A training forward pass held for its step: made by [`Network::forward_train`], it borrows
/// the network, the batch and the arena that holds the outputs and what backward needs.
///
/// Read the outputs, then call [`Forward::step`] to learn from them or drop it to leave
/// everything as it was.
pub struct Forward<'a, L: Layer> {
    net: &'a mut Network<L>,
    x: &'a [L::In],
    /// The front of the arena: `PARAMS` floats for the gradients.
    grads: &'a mut [f32],
    /// The rest, laid out by [`Network::split`]: the outputs first.
    arena: &'a mut [f32],
}

impl<L: Layer> Forward<'_, L> {
    /// The network's raw outputs for the batch (logits for the fused losses), one per sample.
    pub fn outputs(&self) -> &[L::Out] {
        let n = self.x.len() * Network::<L>::OUTPUTS;
        bytemuck::cast_slice(&self.arena[..n])
    }

    /// Finishes the training step on this forward pass: the loss and its gradient against
    /// `targets`, backward, the optimizer's update, then what the pass changes besides the
    /// parameters (batch-norm running statistics, the dropout generator). Returns the loss with
    /// the decay penalty. All or nothing, as [`Network::train_step`].
    pub fn step<S: AsRef<[f32]> + AsMut<[f32]>>(
        self,
        targets: &[L::Out],
        loss: Loss,
        decay: WeightDecay,
        opt: &mut Optimizer<S>,
    ) -> Result<f32, Error> {
        let Forward {
            net,
            x,
            grads,
            arena,
        } = self;
        let value = net.backward_pass(x, targets, loss, decay, grads, arena)?;
        opt.step(&mut net.layers, grads)?;
        let cache = Network::<L>::split(x.len(), arena).cache;
        net.layers.commit(x.len(), cache);
        Ok(value)
    }
}

impl<L: Layer> Network<L> {
    /// The zeroed network, for a `static` (`static NET: Mutex<Network<L>> = ...(Network::ZERO)`);
    /// then [`Network::init`] or [`Network::load`].
    pub const ZERO: Self = Self { layers: L::ZERO };
    /// Trainable parameters.
    pub const PARAMS: usize = L::PARAMS;
    /// Saved non-trainable floats.
    pub const STATE: usize = L::STATE;
    /// Inputs per sample.
    pub const INPUTS: usize = floats::<L::In>();
    /// Outputs per sample.
    pub const OUTPUTS: usize = floats::<L::Out>();

    /// Arena floats [`Network::predict`] needs for `n` samples: the outputs and scratch.
    pub const fn predict_arena(n: usize) -> usize {
        n * Self::OUTPUTS + L::INFER.at(n)
    }

    /// Arena floats [`Network::gradients`] needs for `n` samples: the outputs and their
    /// gradient, what the forward pass caches for backward, and scratch.
    pub const fn gradients_arena(n: usize) -> usize {
        2 * n * Self::OUTPUTS + L::CACHE.at(n) + L::WORK.at(n)
    }

    /// Arena floats [`Network::train_step`] needs for `n` samples: the gradients, then what
    /// [`Network::gradients`] needs.
    pub const fn train_arena(n: usize) -> usize {
        L::PARAMS + Self::gradients_arena(n)
    }

    /// The memory plan of this network trained with `rule` in batches of `n`.
    pub const fn memory(rule: &Rule, n: usize) -> Memory {
        Memory {
            params: 4 * L::PARAMS,
            state: 4 * L::STATE,
            optimizer: 4 * rule.state_len(L::PARAMS),
            arena: 4 * Self::train_arena(n),
        }
    }

    /// A zeroed network straight on the heap (no copy through the stack, however large).
    #[cfg(feature = "alloc")]
    pub fn boxed() -> alloc::boxed::Box<Self> {
        bytemuck::zeroed_box()
    }

    /// Apply run-time choices (activation, batch norm on/off, dropout ratio).
    pub fn configure(&mut self, knobs: &Knobs) {
        self.layers.configure(knobs);
    }

    /// Draw initial parameters from `seed`.
    pub fn init(&mut self, init: Init, seed: u64) {
        self.layers.init(init, &mut Rng::new(seed));
    }

    /// Inference on `x.len()` samples: the network's raw outputs (logits for the fused
    /// losses), at the front of `arena` ([`Network::predict_arena`] floats). Refuses
    /// non-finite inputs.
    pub fn predict<'a>(&self, x: &[L::In], arena: &'a mut [f32]) -> Result<&'a [L::Out], Error> {
        let n = x.len();
        fits(Self::predict_arena(n), arena.len())?;
        finite(x)?;
        let (out, work) = carve::<L::Out>(arena, n);
        self.layers.forward(x, out, Mode::Infer, &mut [], work);
        Ok(out)
    }

    /// Forward and backward for a batch: writes `∂E/∂θ` (loss plus weight decay) into `grads`
    /// (`PARAMS` floats, visit order) and returns the loss, using `arena`
    /// ([`Network::gradients_arena`] floats). The network is not changed.
    pub fn gradients(
        &mut self,
        x: &[L::In],
        targets: &[L::Out],
        loss: Loss,
        decay: WeightDecay,
        grads: &mut [f32],
        arena: &mut [f32],
    ) -> Result<f32, Error> {
        fits(L::PARAMS, grads.len())?;
        batch(x.len(), targets.len())?;
        self.forward_pass(x, arena)?;
        self.backward_pass(x, targets, loss, decay, &mut grads[..L::PARAMS], arena)
    }

    /// One step of gradient descent on a batch; returns the loss (with the decay penalty).
    /// `arena` holds [`Network::train_arena`] floats; its front receives the gradients.
    ///
    /// All or nothing: a non-finite input, loss or gradient, or an update that would make a
    /// parameter or the optimizer's state non-finite, returns an error and leaves the network
    /// (parameters, batch-norm running statistics, dropout generator) and the optimizer
    /// (state, step count) exactly as they were.
    ///
    /// The same as [`Network::forward_train`] then [`Forward::step`], for a caller that does
    /// not look at the outputs first.
    pub fn train_step<S: AsRef<[f32]> + AsMut<[f32]>>(
        &mut self,
        x: &[L::In],
        targets: &[L::Out],
        loss: Loss,
        decay: WeightDecay,
        opt: &mut Optimizer<S>,
        arena: &mut [f32],
    ) -> Result<f32, Error> {
        batch(x.len(), targets.len())?;
        self.forward_train(x, arena)?
            .step(targets, loss, decay, opt)
    }

    /// The forward pass of a training step on a batch, kept in `arena`
    /// ([`Network::train_arena`] floats) so that the caller can read the outputs
    /// ([`Forward::outputs`]) and then either finish the step on them ([`Forward::step`]:
    /// backward and the optimizer's update, without a second forward pass) or drop it.
    ///
    /// Nothing changes until [`Forward::step`] succeeds: dropping the [`Forward`] (a sample the
    /// caller decides not to learn) leaves the network as it was, as does an error here (a
    /// too-small arena, a non-finite input). The outputs are those of [`Mode::Train`] (batch
    /// statistics, dropout masks drawn); for a network without batch norm or dropout they are
    /// [`Network::predict`]'s floats.
    pub fn forward_train<'a>(
        &'a mut self,
        x: &'a [L::In],
        arena: &'a mut [f32],
    ) -> Result<Forward<'a, L>, Error> {
        fits(Self::train_arena(x.len()), arena.len())?;
        let (grads, rest) = arena.split_at_mut(L::PARAMS);
        self.forward_pass(x, rest)?;
        Ok(Forward {
            net: self,
            x,
            grads,
            arena: rest,
        })
    }

    /// The training forward pass of `x` into `arena` ([`Network::gradients_arena`] floats,
    /// laid out by [`Network::split`]), after checking the arena and the input.
    fn forward_pass(&self, x: &[L::In], arena: &mut [f32]) -> Result<(), Error> {
        let n = x.len();
        fits(Self::gradients_arena(n), arena.len())?;
        finite(x)?;
        let pass = Self::split(n, arena);
        self.layers
            .forward(x, pass.out, Mode::Train, pass.cache, pass.work);
        Ok(())
    }

    /// Loss and backward of the training forward pass whose outputs and cache are in `arena`
    /// (laid out by [`Network::split`]): `∂E/∂θ` into `grads`, the loss with the decay penalty
    /// returned. The network is not changed.
    fn backward_pass(
        &mut self,
        x: &[L::In],
        targets: &[L::Out],
        loss: Loss,
        decay: WeightDecay,
        grads: &mut [f32],
        arena: &mut [f32],
    ) -> Result<f32, Error> {
        batch(x.len(), targets.len())?;
        finite(targets)?;
        let pass = Self::split(x.len(), arena);
        let value = loss.loss_and_grad(
            flat(pass.out),
            flat(targets),
            Self::OUTPUTS,
            flat_mut(pass.dout),
        );
        if !value.is_finite() {
            return Err(Error::NonFiniteLoss);
        }
        self.layers
            .backward(x, pass.out, pass.dout, None, grads, pass.cache, pass.work);
        Ok(value + decay.apply(&mut self.layers, grads))
    }

    /// The layout of a gradients arena for `n` samples (checked to fit beforehand).
    fn split(n: usize, arena: &mut [f32]) -> Pass<'_, L::Out> {
        let (out, rest) = carve(arena, n);
        let (dout, rest) = carve(rest, n);
        let (cache, work) = rest.split_at_mut(L::CACHE.at(n));
        Pass {
            out,
            dout,
            cache,
            work,
        }
    }

    /// Save parameters and state as a blob (see [`model`]).
    pub fn save(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        model::save(&mut self.layers, out)
    }

    /// Load a blob; on error the network is unchanged.
    pub fn load(&mut self, blob: &[u8]) -> Result<(), Error> {
        model::load(&mut self.layers, blob)
    }

    /// Copy bytes `offset..offset + out.len()` of the payload (the blob without its header).
    pub fn read_payload(&mut self, offset: usize, out: &mut [u8]) -> Result<(), Error> {
        model::read_payload(&mut self.layers, offset, out)
    }

    /// Overwrite whole floats of the payload from `offset` (see [`model::write_payload`]).
    pub fn write_payload(&mut self, offset: usize, bytes: &[u8]) -> Result<(), Error> {
        model::write_payload(&mut self.layers, offset, bytes)
    }
}

/// `Ok` when a buffer of `found` floats holds the `needed` ones.
fn fits(needed: usize, found: usize) -> Result<(), Error> {
    if found < needed {
        return Err(Error::ArenaTooSmall { needed, found });
    }
    Ok(())
}

/// `Ok` when a batch of `samples` inputs comes with as many `targets`.
fn batch(samples: usize, targets: usize) -> Result<(), Error> {
    if samples != targets {
        return Err(Error::BatchSize { samples, targets });
    }
    Ok(())
}

/// `Ok` when every float of `x` is finite.
fn finite<T: bytemuck::Pod>(x: &[T]) -> Result<(), Error> {
    if crate::kernels::all_finite(flat(x)) {
        Ok(())
    } else {
        Err(Error::NonFiniteInput)
    }
}
