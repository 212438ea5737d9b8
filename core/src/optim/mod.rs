//! Optimizers: one loop over every trainable tensor of a network (reached through
//! [`Layer::visit`]) applies one of the course's update rules, element by element.
//!
//! The rule is a value, chosen at run time (command line, or over the wire on the device, both
//! naming it by its [`Kind`]). The optimizer holds only the rule's state (velocities,
//! squared-gradient sums, moments) in a flat buffer the caller provides, sized by
//! [`Rule::state_len`]: a static array or the heap on the device, a `Vec` on the host. Gradients are the caller's too (a training step keeps them in
//! its arena), handed to [`Optimizer::step`] for one update.
//!
//! A step is all or nothing: it first computes every new weight and state value without
//! storing any, and applies them only if all are finite.

mod decay;
mod kind;
pub mod limits;
mod rules;

pub use decay::WeightDecay;
pub use kind::Kind;

use crate::error::Error;
use crate::layer::{visit_trainable, Layer, Tensor};

/// An update rule and its hyperparameters (the course's names and defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// `w −= ε g`.
    Sgd { lr: f32 },
    /// `v = μv − ε g; w += v`.
    Momentum { lr: f32, momentum: f32 },
    /// `h += g²; w −= ε g / (√h + δ)`, `h` starting at `h0` (the course: 1e-4).
    AdaGrad { lr: f32, h0: f32, delta: f32 },
    /// `h = ρh + (1 − ρ)g²; w −= ε g / (√h + δ)`.
    RmsProp { lr: f32, rho: f32, delta: f32 },
    /// `εₜ = ε √(1 − β₂ᵗ) / (1 − β₁ᵗ)`, `m += (1 − β₁)(g − m)`, `v += (1 − β₂)(g² − v)`,
    /// `w −= εₜ m / (√v + δ)`.
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        delta: f32,
    },
}

impl Rule {
    /// SGD with learning rate `lr`.
    pub const fn sgd(lr: f32) -> Self {
        Rule::Sgd { lr }
    }
    /// Momentum with μ = 0.9.
    pub const fn momentum(lr: f32) -> Self {
        Rule::Momentum { lr, momentum: 0.9 }
    }
    /// AdaGrad with `h0` = 1e-4 and δ = 1e-7.
    pub const fn adagrad(lr: f32) -> Self {
        Rule::AdaGrad {
            lr,
            h0: 1e-4,
            delta: 1e-7,
        }
    }
    /// RMSProp with ρ = 0.99 and δ = 1e-7.
    pub const fn rmsprop(lr: f32) -> Self {
        Rule::RmsProp {
            lr,
            rho: 0.99,
            delta: 1e-7,
        }
    }
    /// Adam with β₁ = 0.9, β₂ = 0.999, δ = 1e-7 (the course uses ε = 0.001).
    pub const fn adam(lr: f32) -> Self {
        Rule::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            delta: 1e-7,
        }
    }

    /// Floats of state kept per parameter.
    pub const fn state_per_param(&self) -> usize {
        match self {
            Rule::Sgd { .. } => 0,
            Rule::Momentum { .. } | Rule::AdaGrad { .. } | Rule::RmsProp { .. } => 1,
            Rule::Adam { .. } => 2,
        }
    }

    /// Floats of state for a network of `params` parameters.
    pub const fn state_len(&self, params: usize) -> usize {
        self.state_per_param() * params
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            Rule::Sgd { lr }
            | Rule::Momentum { lr, .. }
            | Rule::AdaGrad { lr, .. }
            | Rule::RmsProp { lr, .. }
            | Rule::Adam { lr, .. } => lr,
        }
    }

    /// The same rule with another learning rate (for schedules).
    pub fn with_lr(mut self, new: f32) -> Self {
        match &mut self {
            Rule::Sgd { lr }
            | Rule::Momentum { lr, .. }
            | Rule::AdaGrad { lr, .. }
            | Rule::RmsProp { lr, .. }
            | Rule::Adam { lr, .. } => *lr = new,
        }
        self
    }
}

/// A rule with its state for one network of `params` parameters. `S` is any float buffer of
/// at least [`Rule::state_len`] floats: `[f32; N]`, `Vec<f32>`, `&mut [f32]`, `Box<[f32]>`.
pub struct Optimizer<S> {
    rule: Rule,
    params: usize,
    state: S,
    steps: u32,
}

impl<S: AsRef<[f32]> + AsMut<[f32]>> Optimizer<S> {
    /// An optimizer for a network of `params` parameters (`Network::<L>::PARAMS`), its history
    /// reset. `state` must hold `rule.state_len(params)` floats (more if the rule may later
    /// change to a hungrier one), else [`Error::ArenaTooSmall`].
    pub fn new(rule: Rule, params: usize, state: S) -> Result<Self, Error> {
        let found = state.as_ref().len();
        let needed = rule.state_len(params);
        if found < needed {
            return Err(Error::ArenaTooSmall { needed, found });
        }
        let mut opt = Self {
            rule,
            params,
            state,
            steps: 0,
        };
        opt.reset();
        Ok(opt)
    }

    /// The update rule.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// Switch to another rule and forget all history, if the buffer holds its state; else
    /// leave everything as it was.
    pub fn set_rule(&mut self, rule: Rule) -> Result<(), Error> {
        let (needed, found) = (rule.state_len(self.params), self.state.as_ref().len());
        if found < needed {
            return Err(Error::ArenaTooSmall { needed, found });
        }
        self.rule = rule;
        self.reset();
        Ok(())
    }

    /// Change the learning rate and nothing else (schedules).
    pub fn set_lr(&mut self, lr: f32) {
        self.rule = self.rule.with_lr(lr);
    }

    /// Forget all history (velocities, moments, step count).
    pub fn reset(&mut self) {
        let fill = match self.rule {
            Rule::AdaGrad { h0, .. } => h0,
            _ => 0.0,
        };
        let len = self.rule.state_len(self.params);
        self.state.as_mut()[..len].fill(fill);
        self.steps = 0;
    }

    /// Updates applied so far.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// The rule's state, `state_per_param` floats per parameter: for each trainable tensor in
    /// visit order its share (Adam: the tensor's first moments, then its second moments).
    pub fn state(&self) -> &[f32] {
        &self.state.as_ref()[..self.rule.state_len(self.params)]
    }

    /// Takes up a history saved elsewhere (a checkpoint): `steps` updates applied and the
    /// rule's state, laid out as [`Optimizer::state`], read from `state` (which is walked
    /// more than once, so it can stream from where the checkpoint is kept). All of it must be
    /// there ([`Error::BlobLength`], in floats) and finite ([`Error::NonFiniteParameter`]); on
    /// error nothing changes.
    pub fn restore<I>(&mut self, steps: u32, state: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = f32>,
        I::IntoIter: Clone,
    {
        let floats = state.into_iter();
        let (expected, found) = (self.rule.state_len(self.params), floats.clone().count());
        if found != expected {
            return Err(Error::BlobLength { expected, found });
        }
        if !floats.clone().all(f32::is_finite) {
            return Err(Error::NonFiniteParameter);
        }
        for (s, v) in self.state.as_mut().iter_mut().zip(floats) {
            *s = v;
        }
        self.steps = steps;
        Ok(())
    }

    /// Apply one update to every trainable tensor of `layers` (a network's: `&mut net.layers`)
    /// from `grads` (`PARAMS` floats in visit order, as
    /// [`Network::gradients`](crate::Network::gradients) writes them). It takes the layers, not
    /// the network, so that this module does not depend on the one whose training step calls
    /// it.
    ///
    /// All or nothing: if a gradient is not finite ([`Error::NonFiniteGradient`]), or a new
    /// weight or state value would not be ([`Error::NonFiniteUpdate`]), nothing changes, the
    /// step count included. A network larger than the optimizer was made for, or too few
    /// gradients, is [`Error::ArenaTooSmall`].
    pub fn step<L: Layer>(&mut self, layers: &mut L, grads: &[f32]) -> Result<(), Error> {
        let per = self.rule.state_per_param();
        let state_len = self.rule.state_len(L::PARAMS);
        if L::PARAMS > self.params {
            return Err(Error::ArenaTooSmall {
                needed: state_len,
                found: self.rule.state_len(self.params),
            });
        }
        let Some(grads) = grads.get(..L::PARAMS) else {
            return Err(Error::ArenaTooSmall {
                needed: L::PARAMS,
                found: grads.len(),
            });
        };
        let (rule, t) = (self.rule, self.steps + 1);
        let state = &mut self.state.as_mut()[..state_len];
        let mut sweep = |write: bool| {
            let mut ok = true;
            visit_trainable(layers, |p: Tensor<'_>, at| {
                let g = &grads[at..at + p.value.len()];
                let s = &mut state[per * at..per * (at + p.value.len())];
                ok &= if write {
                    rules::apply::<true>(rule, t, p.value, g, s)
                } else {
                    rules::apply::<false>(rule, t, p.value, g, s)
                };
            });
            ok
        };
        // The check also refuses non-finite gradients (`rules::apply`; a pass over them of its
        // own cost a sixth of an SGD step); only a refused step asks which it was.
        if !sweep(false) {
            return Err(match crate::kernels::all_finite(grads) {
                true => Error::NonFiniteUpdate,
                false => Error::NonFiniteGradient,
            });
        }
        sweep(true);
        self.steps = t;
        Ok(())
    }
}
