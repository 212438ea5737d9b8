//! Optimizers: one loop over every trainable tensor of a network (reached through
//! [`Layer::visit`]) applies one of the course's update rules, element by element.
//!
//! The rule is a value, chosen at run time (command line, or over the wire on the device);
//! its state (velocities, squared-gradient sums, moments) lives in a flat buffer the caller
//! provides, sized by [`Rule::state_len`]: a static array on the device, a `Vec` on the host.

mod decay;
mod rules;

pub use decay::WeightDecay;

use crate::layer::{Layer, Tensor};

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

/// A rule with its state, for one network. `S` is any float buffer: `[f32; N]`, `Vec<f32>`,
/// `&mut [f32]`.
pub struct Optimizer<S> {
    pub rule: Rule,
    state: S,
    steps: u32,
}

impl<S: AsMut<[f32]>> Optimizer<S> {
    /// `state` must hold at least `rule.state_len(L::PARAMS)` floats for the network it will
    /// train; it is reset here.
    pub fn new(rule: Rule, state: S) -> Self {
        let mut opt = Self {
            rule,
            state,
            steps: 0,
        };
        opt.reset();
        opt
    }

    /// Forget all history (velocities, moments, step count).
    pub fn reset(&mut self) {
        let fill = match self.rule {
            Rule::AdaGrad { h0, .. } => h0,
            _ => 0.0,
        };
        self.state.as_mut().fill(fill);
        self.steps = 0;
    }

    /// Updates applied so far.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// Apply one update to every trainable tensor of `net` from the gradients it holds.
    ///
    /// # Panics
    /// If the state buffer is smaller than `rule.state_len(L::PARAMS)`: a setup mistake, not a
    /// data error.
    pub fn step<L: Layer>(&mut self, net: &mut L) {
        let per = self.rule.state_per_param();
        let state = self.state.as_mut();
        assert!(
            state.len() >= per * L::PARAMS,
            "optimizer state too small for this network"
        );
        self.steps += 1;
        let (rule, t) = (self.rule, self.steps);
        let mut offset = 0;
        net.visit(&mut |p: Tensor<'_>| {
            if !p.kind.trainable() {
                return;
            }
            let len = p.value.len();
            let s = &mut state[offset * per..(offset + len) * per];
            offset += len;
            rules::apply(rule, t, p.value, p.grad, s);
        });
    }
}
