//! Named networks and their default training settings.

use clap::ValueEnum;
use shinso::Knobs;

use crate::model::{Model, Net, BATCH};

// Until core's `zoo` lands in the crate root these mirror its MLP types.
mod zoo {
    use shinso::{stack, Affine, AnyActivation, Dropout, Toggle};
    pub type Dense<const I: usize, const O: usize, const B: usize> =
        stack![Affine<I, O, B>, AnyActivation<[f32; O], B>, Toggle<Dropout<[f32; O], B>>];
    pub type Mlp<const B: usize> = stack![Dense<784, 40, B>, Dense<40, 20, B>, Affine<20, 10, B>];
    pub type DeepMlp<const B: usize> = stack![
        Dense<784, 100, B>,
        Dense<100, 100, B>,
        Dense<100, 100, B>,
        Dense<100, 100, B>,
        Dense<100, 100, B>,
        Dense<100, 100, B>,
        Affine<100, 10, B>
    ];
    pub type OnlineMlp<const B: usize> = stack![Dense<784, 32, B>, Affine<32, 10, B>];
}

/// A network shape the CLI knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum Preset {
    /// The course's 784-40-20-10 MLP.
    Mlp,
    /// The course's 784-100×6-10 MLP (overfitting, dropout, batch norm experiments).
    DeepMlp,
    /// The device's online learner: 784-32-10.
    OnlineMlp,
}

/// Optimizer family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptKind {
    Sgd,
    Momentum,
    Adagrad,
    Rmsprop,
    Adam,
}

/// Initialisation scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitKind {
    Zeros,
    Gaussian,
    Xavier,
    He,
}

/// Hidden-layer activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActKind {
    Relu,
    Sigmoid,
    Tanh,
    Step,
    Identity,
}

impl ActKind {
    pub fn core(self) -> shinso::ActivationKind {
        use shinso::ActivationKind as K;
        match self {
            ActKind::Relu => K::Relu,
            ActKind::Sigmoid => K::Sigmoid,
            ActKind::Tanh => K::Tanh,
            ActKind::Step => K::Step,
            ActKind::Identity => K::Identity,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            ActKind::Relu => "relu",
            ActKind::Sigmoid => "sigmoid",
            ActKind::Tanh => "tanh",
            ActKind::Step => "step",
            ActKind::Identity => "identity",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        <Self as ValueEnum>::from_str(s, true).ok()
    }
}

/// What a preset trains with unless told otherwise.
#[derive(Clone, Copy, Debug)]
pub struct Defaults {
    pub activation: ActKind,
    pub init: InitKind,
    pub optimizer: OptKind,
    pub lr: f32,
    pub batch_size: usize,
    /// Training length in epochs (when neither `--iterations` nor `--epochs` is given).
    pub epochs: f64,
    pub augment_shift: u32,
    /// Step decay: multiply the learning rate by `gamma` every `every` epochs (None: constant).
    pub lr_step: Option<(f64, f32)>,
}

impl Preset {
    pub fn all() -> &'static [Preset] {
        <Self as ValueEnum>::value_variants()
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Mlp => "mlp",
            Preset::DeepMlp => "deep-mlp",
            Preset::OnlineMlp => "online-mlp",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        <Self as ValueEnum>::from_str(s, true).ok()
    }

    /// Layers, for `--help` and reports.
    pub fn describe(self) -> &'static str {
        match self {
            Preset::Mlp => "affine 784-40, act, affine 40-20, act, affine 20-10",
            Preset::DeepMlp => "affine 784-100, act, 5 × (affine 100-100, act), affine 100-10",
            Preset::OnlineMlp => "affine 784-32, act, affine 32-10 (the device's online learner)",
        }
    }

    /// A zeroed network of this shape with batch capacity [`BATCH`].
    pub fn build(self) -> Box<dyn Model> {
        match self {
            Preset::Mlp => Net::<zoo::Mlp<BATCH>>::boxed(self),
            Preset::DeepMlp => Net::<zoo::DeepMlp<BATCH>>::boxed(self),
            Preset::OnlineMlp => Net::<zoo::OnlineMlp<BATCH>>::boxed(self),
        }
    }

    pub fn defaults(self) -> Defaults {
        let base = Defaults {
            activation: ActKind::Relu,
            init: InitKind::He,
            optimizer: OptKind::Adam,
            lr: 0.001,
            batch_size: 100,
            epochs: 10.0,
            augment_shift: 0,
            lr_step: None,
        };
        match self {
            // the course's 2000 iterations of 100 = 20 epochs of our 10,000 images
            Preset::Mlp => Defaults { optimizer: OptKind::Sgd, lr: 0.1, epochs: 20.0, ..base },
            Preset::DeepMlp => base,
            Preset::OnlineMlp => Defaults { batch_size: 1, epochs: 1.0, ..base },
        }
    }

    /// Presets `shinso bench` times by default.
    pub fn bench_defaults() -> Vec<Preset> {
        Preset::all().iter().copied().filter(|p| matches!(p.name(), "mlp" | "simple-convnet")).collect()
    }

    /// Whether the network has layers batch norm or dropout can switch on.
    pub fn has_dropout(self) -> bool {
        true
    }
    pub fn has_batch_norm(self) -> bool {
        false
    }
}

/// Knobs from their command-line values.
pub fn knobs(activation: ActKind, batch_norm: bool, dropout: f32) -> Knobs {
    Knobs { activation: activation.core(), batch_norm, dropout }
}
