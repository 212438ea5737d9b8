//! The hyperparameter ranges that can train, one place for every caller: the host's flags, the
//! device's `Configure`, model metadata.
//!
//! A value outside these ranges does not fail loudly: it trains a network into numbers that are
//! finite but useless (Adam at `lr = 3e38` stores weights near `f32::MAX` in one step, and
//! every later step is then rolled back), or it runs for ever. So each range stops where
//! training stops being possible, for a reason given next to it, and says so in one line when
//! refused.
//!
//! Learning rates, per rule:
//! - **AdaGrad, RMSProp, Adam** divide the gradient by its own running magnitude, so each
//!   weight moves by about `lr` per step whatever the loss. Above 1, every step moves every
//!   weight further than the whole spread of its initialisation (He's `√(2/n)` and Xavier's
//!   `1/√n` are below 1 for every layer with more than two inputs): `(0, 1]`.
//! - **SGD** moves a weight by `lr·g`; the softmax-with-loss gradient per logit lies in
//!   `[−1, 1]` and the inputs in `[0, 1]`, so the course's 0.1 is a step of at most 0.1 in the
//!   last layer. A hundred times that, 10, already throws any course network out of its basin
//!   in a step or two: `(0, 10]`.
//! - **Momentum** accumulates steps: at μ = 0.9 its steady step is `lr / (1 − μ)` = 10 `lr`,
//!   so it gets SGD's bound divided by ten: `(0, 1]`.
//!
//! The other hyperparameters are averages or guards whose meaning ends at a boundary:
//! momentum μ, RMSProp's ρ and Adam's β₁, β₂ in `[0, 1)` (at 1 the average never forgets, and
//! Adam's bias correction `1 − βᵗ` is 0); δ in `(0, 1]` (0 divides a weight that never saw a
//! gradient by 0; above 1 it swamps `√v` and the rule is no longer adaptive); AdaGrad's initial
//! `h` in `[0, 1]` (it only delays the first steps); dropout in `[0, 1)` (1 drops every unit and
//! inference scales by 0); L1 / L2 weight decay λ in `[0, 1]` (at λ = 1 the penalty outweighs
//! the loss of any trained network, so the weights go to 0).

use core::fmt;

use super::Rule;

/// An interval of allowed values; an end is open or closed. NaN and infinities are never in it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// Lower end.
    pub min: f32,
    /// Upper end.
    pub max: f32,
    /// Whether `min` itself is excluded.
    pub min_open: bool,
    /// Whether `max` itself is excluded.
    pub max_open: bool,
}

impl Range {
    /// `[min, max]`.
    pub const fn closed(min: f32, max: f32) -> Self {
        Range {
            min,
            max,
            min_open: false,
            max_open: false,
        }
    }
    /// `(min, max]`.
    pub const fn open_closed(min: f32, max: f32) -> Self {
        Range {
            min,
            max,
            min_open: true,
            max_open: false,
        }
    }
    /// `[min, max)`.
    pub const fn closed_open(min: f32, max: f32) -> Self {
        Range {
            min,
            max,
            min_open: false,
            max_open: true,
        }
    }

    /// Whether `v` is finite and inside.
    pub fn contains(&self, v: f32) -> bool {
        let above = if self.min_open {
            v > self.min
        } else {
            v >= self.min
        };
        let below = if self.max_open {
            v < self.max
        } else {
            v <= self.max
        };
        v.is_finite() && above && below
    }

    /// `Ok` if `v` is inside, else the refusal, naming the value as `name` (a flag such as
    /// `--lr`, or a metadata key).
    pub fn check(&self, name: &'static str, v: f32) -> Result<(), OutOfRange> {
        if self.contains(v) {
            Ok(())
        } else {
            Err(OutOfRange {
                name,
                value: v,
                range: *self,
            })
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (l, r) = (
            if self.min_open { '(' } else { '[' },
            if self.max_open { ')' } else { ']' },
        );
        write!(f, "{l}{}, {}{r}", Num(self.min), Num(self.max))
    }
}

/// A number as a person writes it: `0.001`, `10`, `3e38` (not 39 digits).
struct Num(f32);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0.abs();
        if a.is_finite() && a != 0.0 && !(1e-4..1e6).contains(&a) {
            write!(f, "{:e}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// A hyperparameter outside its range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutOfRange {
    /// What was refused (a flag or a key, as the caller named it).
    pub name: &'static str,
    /// The value given.
    pub value: f32,
    /// Where it must lie.
    pub range: Range,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} must lie in {}, got {}",
            self.name,
            self.range,
            Num(self.value)
        )
    }
}

impl core::error::Error for OutOfRange {}

/// Learning rates of SGD.
pub const SGD_LR: Range = Range::open_closed(0.0, 10.0);
/// Learning rates of Momentum.
pub const MOMENTUM_LR: Range = Range::open_closed(0.0, 1.0);
/// Learning rates of the adaptive rules (AdaGrad, RMSProp, Adam).
pub const ADAPTIVE_LR: Range = Range::open_closed(0.0, 1.0);
/// Momentum μ, RMSProp's ρ, Adam's β₁ and β₂.
pub const DECAY_RATE: Range = Range::closed_open(0.0, 1.0);
/// δ of AdaGrad, RMSProp and Adam.
pub const DELTA: Range = Range::open_closed(0.0, 1.0);
/// AdaGrad's initial `h`.
pub const ADAGRAD_H0: Range = Range::closed(0.0, 1.0);
/// Dropout ratio.
pub const DROPOUT: Range = Range::closed_open(0.0, 1.0);
/// L1 and L2 weight-decay λ.
pub const WEIGHT_DECAY: Range = Range::closed(0.0, 1.0);

/// The learning rates `rule` can train with.
pub const fn lr_range(rule: &Rule) -> Range {
    match rule {
        Rule::Sgd { .. } => SGD_LR,
        Rule::Momentum { .. } => MOMENTUM_LR,
        Rule::AdaGrad { .. } | Rule::RmsProp { .. } | Rule::Adam { .. } => ADAPTIVE_LR,
    }
}

/// Every hyperparameter of `rule` against its range; the first one outside is named by its
/// course name (`lr`, `momentum`, `rho`, `beta1`, `beta2`, `delta`, `h0`).
pub fn check(rule: &Rule) -> Result<(), OutOfRange> {
    lr_range(rule).check("lr", rule.lr())?;
    match *rule {
        Rule::Sgd { .. } => Ok(()),
        Rule::Momentum { momentum, .. } => DECAY_RATE.check("momentum", momentum),
        Rule::AdaGrad { h0, delta, .. } => {
            ADAGRAD_H0.check("h0", h0)?;
            DELTA.check("delta", delta)
        }
        Rule::RmsProp { rho, delta, .. } => {
            DECAY_RATE.check("rho", rho)?;
            DELTA.check("delta", delta)
        }
        Rule::Adam {
            beta1,
            beta2,
            delta,
            ..
        } => {
            DECAY_RATE.check("beta1", beta1)?;
            DECAY_RATE.check("beta2", beta2)?;
            DELTA.check("delta", delta)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_open_or_closed_as_declared() {
        assert!(ADAPTIVE_LR.contains(1.0) && !ADAPTIVE_LR.contains(0.0));
        assert!(DROPOUT.contains(0.0) && !DROPOUT.contains(1.0));
        for v in [f32::NAN, f32::INFINITY, -f32::INFINITY, 3e38, -1e-30] {
            assert!(!ADAPTIVE_LR.contains(v), "{v}");
        }
    }

    #[test]
    fn course_defaults_pass_and_the_brick_does_not() {
        for r in [
            Rule::sgd(0.1),
            Rule::momentum(0.01),
            Rule::adagrad(0.01),
            Rule::rmsprop(0.001),
            Rule::adam(0.001),
        ] {
            assert_eq!(check(&r), Ok(()), "{r:?}");
        }
        let e = check(&Rule::adam(3e38)).unwrap_err();
        assert_eq!((e.name, e.range), ("lr", ADAPTIVE_LR));
        let e = check(&Rule::Adam {
            lr: 0.001,
            beta1: 0.9,
            beta2: 1.0,
            delta: 1e-7,
        })
        .unwrap_err();
        assert_eq!(e.name, "beta2");
        assert_eq!(check(&Rule::sgd(10.0)), Ok(()));
        assert!(check(&Rule::momentum(10.0)).is_err());
    }
}
