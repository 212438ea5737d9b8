//! Run-time choices a network takes without changing its type, and the activation functions
//! one can choose. A leaf module: layers read it, and it names no layer.

use bytemuck::Zeroable;

/// Choices a network can take at run time without changing its type (command-line flags, a
/// `Configure` request on the device). Layers that do not care ignore them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Knobs {
    /// Function of every run-time activation ([`crate::AnyActivation`]).
    pub activation: ActivationKind,
    /// Whether [`crate::Toggle`]d batch-norm layers are on.
    pub batch_norm: bool,
    /// Dropout ratio of [`crate::Toggle`]d dropout layers; 0 switches them off.
    pub dropout: f32,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            activation: ActivationKind::Relu,
            batch_norm: false,
            dropout: 0.0,
        }
    }
}

/// Which function an [`crate::AnyActivation`] computes, once configured; by its name (as
/// [`ActivationKind::name`] spells it) in the host's flags and files with the `clap` and `serde`
/// features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Zeroable)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "clap", value(rename_all = "lowercase"))]
#[repr(u8)]
pub enum ActivationKind {
    /// `x`.
    #[default]
    Identity = 0,
    /// `max(0, x)`.
    Relu,
    /// `1 / (1 + e⁻ˣ)`.
    Sigmoid,
    /// `tanh x`.
    Tanh,
    /// `1` for `x > 0`, else `0`.
    Step,
}

impl ActivationKind {
    /// Every kind, in the order of their numbers.
    pub const ALL: [ActivationKind; 5] = [
        ActivationKind::Identity,
        ActivationKind::Relu,
        ActivationKind::Sigmoid,
        ActivationKind::Tanh,
        ActivationKind::Step,
    ];

    /// The kind's name: `relu`, `sigmoid`, ….
    pub fn name(self) -> &'static str {
        match self {
            ActivationKind::Identity => "identity",
            ActivationKind::Relu => "relu",
            ActivationKind::Sigmoid => "sigmoid",
            ActivationKind::Tanh => "tanh",
            ActivationKind::Step => "step",
        }
    }

    /// The kind named `name` (as [`ActivationKind::name`] spells it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}
