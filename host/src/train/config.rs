//! Everything a training run depends on, as one serialisable value, and its checks.

use anyhow::{anyhow, ensure, Result};
use clap::{Args, FromArgMatches};
use serde::{Deserialize, Serialize};
use shinso::{optim::limits, ActivationKind, Init, Loss, OptimizerKind, Rule};

use crate::nets::{InitKind, Preset, BATCH};

/// The longest run accepted: about an hour for the fastest preset (mlp at batch 100, 0.41 ms
/// a step, see BENCHMARKS.md) and days for the convnets. Beyond it `--epochs 1e12` or
/// `--iterations 18446744073709551615` would start a run that never ends.
pub const MAX_ITERATIONS: usize = 10_000_000;

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
///
/// The knobs every preset shares are `shinso train`'s flags, with their defaults; the
/// `skip`ped ones are the preset's recipe (see `recipe.rs`), their values here its base.
#[derive(Clone, Debug, Serialize, Deserialize, Args)]
pub struct TrainConfig {
    #[arg(skip)]
    pub preset: String,
    #[arg(skip = ActivationKind::Relu)]
    pub activation: ActivationKind,
    #[arg(skip = InitKind::He)]
    pub init: InitKind,
    /// σ of the Gaussian initialisation
    #[arg(long, value_name = "SIGMA", default_value_t = 0.01)]
    pub init_std: f32,
    #[arg(skip = OptimizerKind::Adam)]
    pub optimizer: OptimizerKind,
    #[arg(skip = 0.001f32)]
    pub lr: f32,
    /// Momentum μ
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// RMSProp decay ρ
    #[arg(long, default_value_t = 0.99)]
    pub rho: f32,
    /// Adam β₁
    #[arg(long, default_value_t = 0.9)]
    pub beta1: f32,
    /// Adam β₂
    #[arg(long, default_value_t = 0.999)]
    pub beta2: f32,
    /// δ added to the root in AdaGrad, RMSProp and Adam
    #[arg(long, default_value_t = 1e-7)]
    pub delta: f32,
    /// Initial h of AdaGrad
    #[arg(long, default_value_t = 1e-4)]
    pub adagrad_h0: f32,
    #[arg(skip = Schedule::Constant)]
    pub schedule: Schedule,
    /// Loss function
    #[arg(long, value_enum, default_value = "softmax-ce")]
    pub loss: Loss,
    #[arg(skip = 100usize)]
    pub batch_size: usize,
    /// Optimizer steps in total.
    #[arg(skip)]
    pub iterations: usize,
    /// L1 weight decay λ₁ (biases excluded)
    #[arg(long, default_value_t = 0.0)]
    pub l1: f32,
    /// L2 weight decay λ₂ (biases excluded)
    #[arg(long, default_value_t = 0.0)]
    pub l2: f32,
    #[arg(skip)]
    pub dropout: f32,
    /// Batch normalisation before each hidden activation
    #[arg(long)]
    pub batch_norm: bool,
    /// Seed of initialisation, shuffling, dropout and augmentation
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Train on the first N training images only
    #[arg(long, value_name = "N")]
    pub train_size: Option<usize>,
    /// Test on the first N test images only
    #[arg(long, value_name = "N")]
    pub test_size: Option<usize>,
    /// Random shifts of up to ±N pixels.
    #[arg(skip)]
    pub augment_shift: u32,
    /// Evaluate every N iterations (default: every epoch, at most 50 times)
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub eval_every: usize,
    /// Training accuracy is measured on at most N training images
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub eval_train_samples: usize,
}

impl Default for TrainConfig {
    /// The base recipe: the flags' defaults, and the `skip` values, read from an empty
    /// command line so that they are stated once.
    fn default() -> Self {
        let flags = Self::augment_args(clap::Command::new("train").no_binary_name(true));
        let matches = flags.get_matches_from(Vec::<String>::new());
        Self::from_arg_matches(&matches).expect("every flag has a default")
    }
}

impl TrainConfig {
    pub fn preset(&self) -> Result<Preset> {
        Preset::from_name(&self.preset).ok_or_else(|| anyhow!("unknown preset {:?}", self.preset))
    }

    pub fn rule(&self) -> Rule {
        let (lr, delta, momentum, rho) = (self.lr, self.delta, self.momentum, self.rho);
        let (h0, beta1, beta2) = (self.adagrad_h0, self.beta1, self.beta2);
        match self.optimizer {
            OptimizerKind::Sgd => Rule::Sgd { lr },
            OptimizerKind::Momentum => Rule::Momentum { lr, momentum },
            OptimizerKind::AdaGrad => Rule::AdaGrad { lr, h0, delta },
            OptimizerKind::RmsProp => Rule::RmsProp { lr, rho, delta },
            OptimizerKind::Adam => Rule::Adam {
                lr,
                beta1,
                beta2,
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

    /// Learning rate at fractional epoch `epoch` of a run lasting `total_epochs` (both
    /// positive in a [`validate`](Self::validate)d run).
    pub fn lr_at(&self, epoch: f64, total_epochs: f64) -> f32 {
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Step { every, gamma } => self.lr * gamma.powi((epoch / every).floor() as i32),
            Schedule::Cosine { min } => {
                let t = (epoch / total_epochs).clamp(0.0, 1.0);
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
        let (batch, iterations, shift) = (self.batch_size, self.iterations, self.augment_shift);
        ensure!(
            (1..=BATCH).contains(&batch),
            "--batch-size must be between 1 and {BATCH}, got {batch}"
        );
        ensure!(iterations > 0, "nothing to do: the run has 0 iterations");
        ensure!(
            iterations <= MAX_ITERATIONS,
            "--iterations must be at most {MAX_ITERATIONS}, got {iterations}"
        );
        if let Schedule::Step { every, gamma } = self.schedule {
            ensure!(
                every.is_finite() && every > 0.0,
                "--lr-step must be a positive number of epochs, got {every}"
            );
            positive(gamma, "--lr-gamma")?;
        }
        if let Schedule::Cosine { min } = self.schedule {
            ensure!(
                min.is_finite() && min >= 0.0,
                "--lr-min must be ≥ 0, got {min}"
            );
        }
        ensure!(
            self.train_size != Some(0) && self.test_size != Some(0),
            "--train-size and --test-size must be at least 1"
        );
        ensure!(
            shift <= 27,
            "--augment-shift must be at most 27 pixels, got {shift}"
        );
        let p = self.preset()?;
        let name = p.name();
        ensure!(
            !self.batch_norm || p.has_batch_norm(),
            "preset {name} has no batch-norm layers"
        );
        ensure!(
            !p.fixed_relu() || self.activation == ActivationKind::Relu,
            "preset {name} fuses convolution, ReLU and pooling: --activation must be relu"
        );
        ensure!(
            self.dropout <= 0.0 || p.has_dropout(),
            "preset {name} has no dropout layers"
        );
        Ok(())
    }
}
