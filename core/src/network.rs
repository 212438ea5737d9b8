//! A stack of layers with its output buffers: prediction, one training step, memory plan.

use bytemuck::Zeroable;

use crate::error::Error;
use crate::init::Init;
use crate::layer::{flat, flat_mut, floats, Knobs, Layer, Mode};
use crate::loss::Loss;
use crate::model;
use crate::optim::{Optimizer, Rule, WeightDecay};
use crate::rng::Rng;

/// A network `L` (usually a [`crate::stack!`] of layers) with the buffers for its output and
/// the output's gradient.
///
/// It is `Zeroable`: on the host create it with `bytemuck::zeroed_box::<Network<L>>()` (no
/// stack copy, however large), on the device in a `static` or from the heap; then call
/// [`Network::init`].
#[derive(Clone, Copy, Zeroable)]
pub struct Network<L: Layer> {
    pub layers: L,
    out: L::OutBatch,
    dout: L::OutBatch,
}

/// Bytes a network needs, by purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// Trainable parameters.
    pub params: usize,
    /// Gradients (as many as parameters).
    pub grads: usize,
    /// Non-trainable saved state (batch-norm running statistics).
    pub state: usize,
    /// Activations, their gradients and caches for backward, at full batch.
    pub activations: usize,
    /// Optimizer state for the given rule.
    pub optimizer: usize,
}

impl Memory {
    /// Everything together.
    pub const fn total(&self) -> usize {
        self.params + self.grads + self.state + self.activations + self.optimizer
    }
}

impl<L: Layer> Network<L> {
    /// Trainable parameters.
    pub const PARAMS: usize = L::PARAMS;
    /// Outputs per sample.
    pub const OUTPUTS: usize = floats::<L::Out>();

    /// The memory plan of this network trained with `rule`.
    pub const fn memory(rule: &Rule) -> Memory {
        Memory {
            params: 4 * L::PARAMS,
            grads: 4 * L::PARAMS,
            state: 4 * L::STATE,
            activations: 4 * (L::CACHE + 2 * floats::<L::OutBatch>()),
            optimizer: 4 * rule.state_len(L::PARAMS),
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

    /// Forward pass for `x.len()` samples (at most `L::BATCH`). Refuses non-finite inputs.
    pub fn forward(&mut self, x: &[L::In], mode: Mode) -> Result<&[L::Out], Error> {
        check_batch::<L>(x.len(), x.len())?;
        if !flat(x).iter().all(|v| v.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        let out = &mut self.out.as_mut()[..x.len()];
        self.layers.forward(x, out, mode);
        Ok(out)
    }

    /// Inference: the network's raw outputs (logits for the fused losses).
    pub fn predict(&mut self, x: &[L::In]) -> Result<&[L::Out], Error> {
        self.forward(x, Mode::Infer)
    }

    /// Inference on one sample without batch buffers (how a device runs a network of batch
    /// capacity 0): `scratch` must hold `L::SCRATCH` floats.
    pub fn infer(&mut self, x: &L::In, y: &mut L::Out, scratch: &mut [f32]) -> Result<(), Error> {
        if !flat(core::slice::from_ref(x)).iter().all(|v| v.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        self.layers.infer(x, y, scratch);
        Ok(())
    }

    /// Forward and backward for a batch: writes `∂E/∂θ` (loss plus weight decay) into `grads`
    /// (`PARAMS` floats, visit order) and returns the loss. Parameters are not changed.
    pub fn gradients(
        &mut self,
        x: &[L::In],
        targets: &[L::Out],
        loss: Loss,
        decay: WeightDecay,
        grads: &mut [f32],
    ) -> Result<f32, Error> {
        check_batch::<L>(x.len(), targets.len())?;
        if !flat(targets).iter().all(|v| v.is_finite()) {
            return Err(Error::NonFiniteInput);
        }
        let n = x.len();
        self.forward(x, Mode::Train)?;
        let (out, dout) = (&self.out.as_ref()[..n], &mut self.dout.as_mut()[..n]);
        let value = loss.loss_and_grad(flat(out), flat(targets), Self::OUTPUTS, flat_mut(dout));
        if !value.is_finite() {
            return Err(Error::NonFiniteLoss);
        }
        self.layers.backward(x, out, dout, None, grads);
        Ok(value + decay.apply(&mut self.layers, grads))
    }

    /// One step of gradient descent on a batch; returns the loss (with the decay penalty).
    /// A non-finite input, loss or gradient returns an error and leaves the parameters as they
    /// were.
    pub fn train_step<S: AsRef<[f32]> + AsMut<[f32]>>(
        &mut self,
        x: &[L::In],
        targets: &[L::Out],
        loss: Loss,
        decay: WeightDecay,
        opt: &mut Optimizer<S>,
    ) -> Result<f32, Error> {
        let value = self.gradients(x, targets, loss, decay, opt.grads_mut())?;
        if !opt.grads().iter().all(|g| g.is_finite()) {
            return Err(Error::NonFiniteGradient);
        }
        opt.step(&mut self.layers);
        Ok(value)
    }

    /// Save parameters and state as a blob (see [`model`]).
    pub fn save(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        model::save(&mut self.layers, out)
    }

    /// Load a blob; on error the network is unchanged.
    pub fn load(&mut self, blob: &[u8]) -> Result<(), Error> {
        model::load(&mut self.layers, blob)
    }
}

/// A batch `L` can take: at most its capacity, one target per sample.
fn check_batch<L: Layer>(samples: usize, targets: usize) -> Result<(), Error> {
    if samples > L::BATCH || targets != samples {
        return Err(Error::BatchSize {
            samples,
            targets,
            capacity: L::BATCH,
        });
    }
    Ok(())
}
