//! The networks the CLI knows by name, and the knobs that shape them.
//!
//! Everything here is known without building a network: names, layers, the blob signature,
//! size and tensors come from the core's types ([`NetType`]). [`crate::nets::model`] builds
//! one; the training recipe of each preset is in [`crate::train::recipe`].

use clap::ValueEnum;
use shinso::layer::SpecVisitor;
use shinso::{zoo, ActivationKind, Knobs, Layer, Memory, Network, Rule};

use super::{is_batchnorm, Model, Net};
use crate::data::CLASSES;

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

/// Each preset's name and layers, in the order of the variants.
const PRESETS: [(&str, &str); 8] = [
    ("mlp", "affine 784-40, act, affine 40-20, act, affine 20-10"),
    ("deep-mlp", "affine 784-100, act, 5 × (affine 100-100, act), affine 100-10"),
    ("simple-convnet", "conv 30x5x5, act, maxpool 2, affine 4320-100, act, affine 100-10"),
    (
        "double-convnet",
        "conv 16x3x3, act, maxpool 2, conv 32x3x3, act, maxpool 2, affine 800-10 (the device's inference net)",
    ),
    (
        "lenet",
        "conv 6x5x5 pad 2, act, maxpool 2, conv 16x5x5, act, maxpool 2, affine 400-120, act, affine 120-84, act, affine 84-10",
    ),
    (
        "alexnet-mini",
        "conv 16, act, maxpool, conv 32, act, maxpool, conv 48, act, conv 48, act, conv 32, act, maxpool (all 3x3 pad 1), affine 288-128, act, dropout, affine 128-128, act, dropout, affine 128-10",
    ),
    (
        "online-convnet",
        "conv 8x3x3, act, maxpool 2, conv 16x3x3, act, maxpool 2, affine 400-10 (the device's online learner)",
    ),
    ("online-mlp", "affine 784-32, act, affine 32-10 (the device's online learner)"),
];

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
    /// As the course writes it, for titles and reports.
    pub fn name(self) -> &'static str {
        ["zeros", "Gaussian", "Xavier", "He"][self as usize]
    }
}

impl Preset {
    pub fn all() -> &'static [Preset] {
        <Self as ValueEnum>::value_variants()
    }

    /// The name the command line and the model files use.
    pub fn name(self) -> &'static str {
        PRESETS[self as usize].0
    }

    pub fn from_name(s: &str) -> Option<Self> {
        <Self as ValueEnum>::from_str(s, true).ok()
    }

    /// Layers, for `shinso info` and reports.
    pub fn describe(self) -> &'static str {
        PRESETS[self as usize].1
    }

    /// What this preset's network type tells without a network: the one place that maps a
    /// preset to the core's type.
    pub fn net(self) -> NetType {
        match self {
            Preset::Mlp => NetType::of::<zoo::Mlp>(),
            Preset::DeepMlp => NetType::of::<zoo::DeepMlp>(),
            Preset::SimpleConvnet => NetType::of::<zoo::SimpleConvNet>(),
            Preset::DoubleConvnet => NetType::of::<zoo::DoubleConvNet>(),
            Preset::Lenet => NetType::of::<zoo::LeNet>(),
            Preset::AlexnetMini => NetType::of::<zoo::AlexNetMini>(),
            Preset::OnlineConvnet => NetType::of::<zoo::OnlineConvNet>(),
            Preset::OnlineMlp => NetType::of::<zoo::OnlineMlp>(),
        }
    }

    /// The network's blob signature and the floats its model files hold (parameters and
    /// saved state): what a file or a device may claim is checked against these.
    pub fn shape(self) -> (u64, usize) {
        let n = self.net();
        (n.signature, n.params + n.state)
    }

    /// Trainable parameters.
    pub fn params(self) -> usize {
        self.net().params
    }

    /// The memory plan of training with `rule` on batches of `batch`.
    pub fn memory(self, rule: &Rule, batch: usize) -> Memory {
        (self.net().memory)(rule, batch)
    }

    /// A zeroed network of this shape (call [`Model::init`], or load a file into it). It holds
    /// every parameter: what is known without one is [`Preset::net`].
    pub fn build(self) -> Box<dyn Model> {
        (self.net().build)(self)
    }

    /// The preset whose networks carry blob signature `sig`.
    pub fn by_signature(sig: u64) -> Option<Preset> {
        Self::all().iter().copied().find(|p| p.shape().0 == sig)
    }

    /// The device nets fuse conv, ReLU and pooling: their activation cannot change.
    pub fn fixed_relu(self) -> bool {
        matches!(self, Preset::DoubleConvnet | Preset::OnlineConvnet)
    }

    /// Whether the network has dropout layers to switch on (those of its dense blocks): all
    /// but the fused ones have.
    pub fn has_dropout(self) -> bool {
        !self.fixed_relu()
    }

    /// Whether the network has batch-norm layers (after each hidden affine layer).
    pub fn has_batch_norm(self) -> bool {
        self.tensors().iter().any(|(name, _)| is_batchnorm(name))
    }
}

/// What every preset's network is: 28×28 images in, ten scores out.
pub trait Classifier: Layer<Out = [f32; CLASSES]> + Send + 'static {}
impl<L: Layer<Out = [f32; CLASSES]> + Send + 'static> Classifier for L {}

/// A preset's network type as values: its constants, and the functions generic over it.
#[derive(Clone, Copy)]
pub struct NetType {
    /// Blob signature (kind and sizes of every layer).
    pub signature: u64,
    /// Trainable parameters.
    pub params: usize,
    /// Non-trainable saved floats (batch-norm running statistics).
    pub state: usize,
    /// Every tensor of the type, in blob order ([`Layer::visit_specs`]).
    pub visit_specs: fn(&mut dyn SpecVisitor),
    memory: fn(&Rule, usize) -> Memory,
    build: fn(Preset) -> Box<dyn Model>,
}

impl NetType {
    fn of<L: Classifier>() -> Self {
        Self {
            signature: L::SIGNATURE,
            params: L::PARAMS,
            state: L::STATE,
            visit_specs: L::visit_specs,
            memory: Network::<L>::memory,
            build: Net::<L>::boxed,
        }
    }
}

/// Knobs from their command-line values.
pub fn knobs(activation: ActivationKind, batch_norm: bool, dropout: f32) -> Knobs {
    Knobs {
        activation,
        batch_norm,
        dropout,
    }
}
