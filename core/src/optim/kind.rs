//! The five update rules by name: the one vocabulary the command line, the wire protocol and
//! the device share, with the course's usual learning rate for each.
//!
//! A [`Rule`] carries every hyperparameter; a [`Kind`] only says which rule, so it is what a
//! user types (`--optimizer adagrad`, with the `clap` feature) and what a host sends a device
//! (with the `serde` feature: postcard encodes it as its variant's index, so the order of the
//! variants is part of the wire protocol and must not change).

use super::Rule;

/// Which update rule, without its hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "clap", value(rename_all = "lowercase"))]
pub enum Kind {
    /// `w −= ε g`.
    Sgd,
    /// Momentum, μ = 0.9.
    Momentum,
    /// AdaGrad, `h` starting at 1e-4.
    AdaGrad,
    /// RMSProp, ρ = 0.99.
    RmsProp,
    /// Adam, β₁ = 0.9, β₂ = 0.999.
    Adam,
}

impl Kind {
    /// Every kind, in wire order.
    pub const ALL: [Kind; 5] = [
        Kind::Sgd,
        Kind::Momentum,
        Kind::AdaGrad,
        Kind::RmsProp,
        Kind::Adam,
    ];

    /// The course's name for it (`"AdaGrad"`), for tables and plots.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Sgd => "SGD",
            Kind::Momentum => "Momentum",
            Kind::AdaGrad => "AdaGrad",
            Kind::RmsProp => "RMSProp",
            Kind::Adam => "Adam",
        }
    }

    /// The learning rate to use when none is given: the course's usual one for the rule (SGD
    /// takes large steps; the adaptive rules normalise theirs and want small ones).
    pub const fn default_lr(self) -> f32 {
        match self {
            Kind::Sgd => 0.1,
            Kind::Momentum | Kind::AdaGrad => 0.01,
            Kind::RmsProp | Kind::Adam => 0.001,
        }
    }

    /// The rule of this kind at rate `lr`, every other hyperparameter the course's default.
    pub const fn rule(self, lr: f32) -> Rule {
        match self {
            Kind::Sgd => Rule::sgd(lr),
            Kind::Momentum => Rule::momentum(lr),
            Kind::AdaGrad => Rule::adagrad(lr),
            Kind::RmsProp => Rule::rmsprop(lr),
            Kind::Adam => Rule::adam(lr),
        }
    }
}

impl Rule {
    /// Which rule this is.
    pub const fn kind(&self) -> Kind {
        match self {
            Rule::Sgd { .. } => Kind::Sgd,
            Rule::Momentum { .. } => Kind::Momentum,
            Rule::AdaGrad { .. } => Kind::AdaGrad,
            Rule::RmsProp { .. } => Kind::RmsProp,
            Rule::Adam { .. } => Kind::Adam,
        }
    }
}

impl core::fmt::Display for Kind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}
