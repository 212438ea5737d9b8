//! Everything a training run depends on, as one serialisable value, and its checks.

use anyhow::{anyhow, ensure, Result};
use serde::{Deserialize, Serialize};
use shinso::{optim::limits, Init, Loss, OptimizerKind, Rule};

use crate::nets::{ActKind, InitKind, Preset, BATCH};

/// The longest run accepted: about an hour for the fastest preset (mlp at batch 100, 0.41 ms
/// a step, see BENCHMARKS.md) and days for the convnets. Beyond it `--epochs 1e12` or
/// `--iterations 18446744073709551615` would start a run that never ends.
pub const MAX_ITERATIONS: usize = 10_000_000;

/// Loss applied to the network's outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Softmax then cross-entropy, fused (the course's SoftmaxWithLoss).
    SoftmaxCe,
    /// Mean squared error against one-hot targets.
    Mse,
    /// Sigmoid then binary cross-entropy per class, fused.
    SigmoidCe,
}

impl LossKind {
    pub fn core(self) -> Loss {
        match self {
            LossKind::SoftmaxCe => Loss::SoftmaxCrossEntropy,
            LossKind::Mse => Loss::Mse,
            LossKind::SigmoidCe => Loss::SigmoidCrossEntropy,
        }
    }
}

/// Learning-rate schedule over epochs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Schedule {
    Constant,
    /// `lr · gamma^floor(epoch / every)`.
    Step {
        every: f64,
        gamma: f32,
    },
    /// Cosine from `lr` down to `min` over the run.
    Cosine {
        min: f32,
    },
}

/// Everything a training run depends on; serialised into `summary.json`, `report.json` and
/// the model file's metadata (so the field order is part of those formats).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    pub preset: String,
    pub activation: ActKind,
    pub init: InitKind,
    /// σ of the Gaussian initialisation.
    pub init_std: f32,
    pub optimizer: OptimizerKind,
    pub lr: f32,
    pub momentum: f32,
    pub rho: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub delta: f32,
    pub adagrad_h0: f32,
    pub schedule: Schedule,
    pub loss: LossKind,
    pub batch_size: usize,
    /// Optimizer steps in total.
    pub iterations: usize,
    pub l1: f32,
    pub l2: f32,
    pub dropout: f32,
    pub batch_norm: bool,
    pub seed: u64,
    /// Use only the first N training images (None: all).
    pub train_size: Option<usize>,
    /// Use only the first N test images (None: all).
    pub test_size: Option<usize>,
    /// Random shifts of up to ±N pixels.
    pub augment_shift: u32,
    /// Evaluate every N iterations (and at the end); 0: once an epoch, at most 50 times.
    pub eval_every: usize,
    /// Training accuracy is measured on at most this many training images.
    pub eval_train_samples: usize,
}

impl TrainConfig {
    pub fn preset(&self) -> Result<Preset> {
        Preset::from_name(&self.preset).ok_or_else(|| anyhow!("unknown preset {:?}", self.preset))
    }

    pub fn rule(&self) -> Rule {
        let (lr, delta) = (self.lr, self.delta);
        match self.optimizer {
            OptimizerKind::Sgd => Rule::Sgd { lr },
            OptimizerKind::Momentum => Rule::Momentum {
                lr,
                momentum: self.momentum,
            },
            OptimizerKind::AdaGrad => Rule::AdaGrad {
                lr,
                h0: self.adagrad_h0,
                delta,
            },
            OptimizerKind::RmsProp => Rule::RmsProp {
                lr,
                rho: self.rho,
                delta,
            },
            OptimizerKind::Adam => Rule::Adam {
                lr,
                beta1: self.beta1,
                beta2: self.beta2,
                delta,
            },
        }
    }

    pub fn init_scheme(&self) -> Init {
        match self.init {
            InitKind::Zeros => Init::Zeros,
            InitKind::Gaussian => Init::Gaussian(self.init_std),
            InitKind::Xavier => Init::Xavier,
            InitKind::He => Init::He,
        }
    }

    /// Learning rate at fractional epoch `epoch` of a run lasting `total_epochs`.
    pub fn lr_at(&self, epoch: f64, total_epochs: f64) -> f32 {
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Step { every, gamma } => {
                let k = if every > 0.0 { epoch / every } else { 0.0 };
                self.lr * gamma.powi(k.floor() as i32)
            }
            Schedule::Cosine { min } => {
                let t = if total_epochs > 0.0 {
                    (epoch / total_epochs).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                min + (self.lr - min) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()) as f32
            }
        }
    }

    /// Refuse settings the core would misbehave on, with a message naming the flag.
    pub fn validate(&self) -> Result<()> {
        let positive = |v: f32, flag: &str| {
            ensure!(
                v.is_finite() && v > 0.0,
                "{flag} must be a positive number, got {v}"
            );
            Ok(())
        };
        // The ranges that can train live in the core, shared with the device.
        let within = |r: limits::Range, flag: &'static str, v: f32| {
            r.check(flag, v)
                .map_err(|e| anyhow!("{e} (for {})", self.optimizer.name()))
        };
        within(limits::lr_range(&self.rule()), "--lr", self.lr)?;
        within(limits::DELTA, "--delta", self.delta)?;
        within(limits::DECAY_RATE, "--momentum", self.momentum)?;
        within(limits::DECAY_RATE, "--rho", self.rho)?;
        within(limits::DECAY_RATE, "--beta1", self.beta1)?;
        within(limits::DECAY_RATE, "--beta2", self.beta2)?;
        within(limits::ADAGRAD_H0, "--adagrad-h0", self.adagrad_h0)?;
        limits::DROPOUT.check("--dropout", self.dropout)?;
        if self.init == InitKind::Gaussian {
            positive(self.init_std, "--init-std")?;
        }
        limits::WEIGHT_DECAY.check("--l1", self.l1)?;
        limits::WEIGHT_DECAY.check("--l2", self.l2)?;
        ensure!(
            (1..=BATCH).contains(&self.batch_size),
            "--batch-size must be between 1 and {BATCH}, got {}",
            self.batch_size
        );
        ensure!(
            self.iterations > 0,
            "nothing to do: the run has 0 iterations"
        );
        ensure!(
            self.iterations <= MAX_ITERATIONS,
            "--iterations must be at most {MAX_ITERATIONS}, got {}",
            self.iterations
        );
        match self.schedule {
            Schedule::Step { every, gamma } => {
                ensure!(
                    every.is_finite() && every > 0.0,
                    "--lr-step must be a positive number of epochs, got {every}"
                );
                positive(gamma, "--lr-gamma")?;
            }
            Schedule::Cosine { min } => {
                ensure!(
                    min.is_finite() && min >= 0.0,
                    "--lr-min must be ≥ 0, got {min}"
                );
            }
            Schedule::Constant => {}
        }
        ensure!(
            self.train_size != Some(0) && self.test_size != Some(0),
            "--train-size and --test-size must be at least 1"
        );
        ensure!(
            self.augment_shift <= 27,
            "--augment-shift must be at most 27 pixels, got {}",
            self.augment_shift
        );
        let p = self.preset()?;
        let name = p.name();
        ensure!(
            !self.batch_norm || p.has_batch_norm(),
            "preset {name} has no batch-norm layers"
        );
        ensure!(
            !p.fixed_relu() || self.activation == ActKind::Relu,
            "preset {name} fuses convolution, ReLU and pooling: --activation must be relu"
        );
        ensure!(
            self.dropout <= 0.0 || p.has_dropout(),
            "preset {name} has no dropout layers"
        );
        Ok(())
    }
}
