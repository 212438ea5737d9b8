//! Optimizers: one loop over every trainable tensor of a network (reached through
//! [`Layer::visit`]) applies one of the course's update rules, element by element.
//!
//! The rule is a value, chosen at run time (command line, or over the wire on the device);
//! the gradients and its state (velocities, squared-gradient sums, moments) live in one flat
//! buffer the caller provides, sized by [`Rule::buffer_len`]: a static array on the device, a
//! `Vec` on the host.

mod decay;
pub mod limits;
mod rules;

pub use decay::WeightDecay;

use crate::error::Error;
use crate::layer::{visit_with_grads, Layer, Tensor};

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

    /// Floats of an [`Optimizer`]'s buffer: gradients and state.
    pub const fn buffer_len(&self, params: usize) -> usize {
        (1 + self.state_per_param()) * params
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

/// A rule with its training buffer for one network: the gradients (`params` floats, filled by
/// [`crate::Network::gradients`]) followed by the rule's state. `S` is any float buffer:
/// `[f32; N]`, `Vec<f32>`, `&mut [f32]`.
pub struct Optimizer<S> {
    rule: Rule,
    params: usize,
    buf: S,
    steps: u32,
}

impl<S: AsRef<[f32]> + AsMut<[f32]>> Optimizer<S> {
    /// An optimizer for a network of `params` parameters. `buf` must hold
    /// `rule.buffer_len(params)` floats (more if the rule may later change to a hungrier one).
    ///
    /// # Panics
    /// If `buf` is too small: a setup mistake, not a data error.
    pub fn new(rule: Rule, params: usize, buf: S) -> Self {
        assert!(
            buf.as_ref().len() >= rule.buffer_len(params),
            "optimizer buffer too small for this network and rule"
        );
        let mut opt = Self {
            rule,
            params,
            buf,
            steps: 0,
        };
        opt.reset();
        opt
    }

    /// The update rule.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// Switch to another rule and forget all history, if the buffer holds its state; else
    /// leave everything as it was.
    pub fn set_rule(&mut self, rule: Rule) -> Result<(), Error> {
        let needed = rule.buffer_len(self.params);
        if self.buf.as_ref().len() < needed {
            return Err(Error::BufferTooSmall { needed: 4 * needed });
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
        let buf = self.buf.as_mut();
        buf[..self.params].fill(0.0);
        buf[self.params..].fill(fill);
        self.steps = 0;
    }

    /// Updates applied so far.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// The gradient buffer, `params` floats in visit order.
    pub fn grads(&self) -> &[f32] {
        &self.buf.as_ref()[..self.params]
    }

    /// The gradient buffer, to be filled by a backward pass.
    pub fn grads_mut(&mut self) -> &mut [f32] {
        &mut self.buf.as_mut()[..self.params]
    }

    /// Apply one update to every trainable tensor of `net` from the gradients in the buffer.
    ///
    /// # Panics
    /// If `net` has more parameters than this optimizer was made for.
    pub fn step<L: Layer>(&mut self, net: &mut L) {
        assert!(
            L::PARAMS <= self.params,
            "optimizer made for a smaller network"
        );
        let per = self.rule.state_per_param();
        self.steps += 1;
        let (rule, t) = (self.rule, self.steps);
        let (grads, state) = self.buf.as_mut().split_at_mut(self.params);
        let mut state = &mut state[..per * L::PARAMS];
        visit_with_grads(net, grads, |p: Tensor<'_>, g: &mut [f32]| {
            let (s, rest) = core::mem::take(&mut state).split_at_mut(per * g.len());
            state = rest;
            rules::apply(rule, t, p.value, g, s);
        });
    }
}
