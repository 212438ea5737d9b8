//! The training driver shared by `shinso train`, `shinso reproduce` and the benchmarks.

use std::time::Instant;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use shinso::{Init, Loss, Optimizer, Rule, WeightDecay};

use crate::data::{Augmenter, Dataset, EpochSampler};
use crate::metrics::{Confusion, Record};
use crate::model::{predict_all, Model, BATCH, INPUT};
use crate::presets::{knobs, ActKind, InitKind, OptKind, Preset};

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

/// Everything a training run depends on; serialised into `summary.json` and `report.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    pub preset: String,
    pub activation: ActKind,
    pub init: InitKind,
    /// σ of the Gaussian initialisation.
    pub init_std: f32,
    pub optimizer: OptKind,
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
    /// Evaluate every N iterations (and at the end).
    pub eval_every: usize,
    /// Training accuracy is measured on at most this many training images.
    pub eval_train_samples: usize,
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

    pub fn preset(&self) -> Result<Preset> {
        Preset::from_name(&self.preset)
            .ok_or_else(|| anyhow::anyhow!("unknown preset {:?}", self.preset))
    }

    pub fn rule(&self) -> Rule {
        let lr = self.lr;
        match self.optimizer {
            OptKind::Sgd => Rule::Sgd { lr },
            OptKind::Momentum => Rule::Momentum {
                lr,
                momentum: self.momentum,
            },
            OptKind::Adagrad => Rule::AdaGrad {
                lr,
                h0: self.adagrad_h0,
                delta: self.delta,
            },
            OptKind::Rmsprop => Rule::RmsProp {
                lr,
                rho: self.rho,
                delta: self.delta,
            },
            OptKind::Adam => Rule::Adam {
                lr,
                beta1: self.beta1,
                beta2: self.beta2,
                delta: self.delta,
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
                let k = if every > 0.0 {
                    (epoch / every).floor()
                } else {
                    0.0
                };
                self.lr * gamma.powi(k as i32)
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
        let pos = |v: f32, flag: &str| -> Result<()> {
            if !(v.is_finite() && v > 0.0) {
                bail!("{flag} must be a positive number, got {v}");
            }
            Ok(())
        };
        let unit = |v: f32, flag: &str| -> Result<()> {
            if !(v.is_finite() && (0.0..1.0).contains(&v)) {
                bail!("{flag} must lie in [0, 1), got {v}");
            }
            Ok(())
        };
        pos(self.lr, "--lr")?;
        pos(self.delta, "--delta")?;
        unit(self.momentum, "--momentum")?;
        unit(self.rho, "--rho")?;
        unit(self.beta1, "--beta1")?;
        unit(self.beta2, "--beta2")?;
        unit(self.dropout, "--dropout")?;
        if !(self.adagrad_h0.is_finite() && self.adagrad_h0 >= 0.0) {
            bail!("--adagrad-h0 must be ≥ 0, got {}", self.adagrad_h0);
        }
        if self.init == InitKind::Gaussian {
            pos(self.init_std, "--init-std")?;
        }
        for (v, flag) in [(self.l1, "--l1"), (self.l2, "--l2")] {
            if !(v.is_finite() && v >= 0.0) {
                bail!("{flag} must be ≥ 0, got {v}");
            }
        }
        if self.batch_size == 0 || self.batch_size > BATCH {
            bail!(
                "--batch-size must be between 1 and {BATCH}, got {}",
                self.batch_size
            );
        }
        if self.iterations == 0 {
            bail!("nothing to do: the run has 0 iterations");
        }
        match self.schedule {
            Schedule::Step { every, gamma } => {
                if !(every.is_finite() && every > 0.0) {
                    bail!("--lr-step must be a positive number of epochs, got {every}");
                }
                pos(gamma, "--lr-gamma")?;
            }
            Schedule::Cosine { min } => {
                if !(min.is_finite() && min >= 0.0) {
                    bail!("--lr-min must be ≥ 0, got {min}");
                }
            }
            Schedule::Constant => {}
        }
        if self.train_size == Some(0) || self.test_size == Some(0) {
            bail!("--train-size and --test-size must be at least 1");
        }
        if self.augment_shift > 27 {
            bail!(
                "--augment-shift must be at most 27 pixels, got {}",
                self.augment_shift
            );
        }
        let p = self.preset()?;
        if self.batch_norm && !p.has_batch_norm() {
            bail!("preset {} has no batch-norm layers", p.name());
        }
        if p.fixed_relu() && self.activation != ActKind::Relu {
            bail!(
                "preset {} fuses convolution, ReLU and pooling: --activation must be relu",
                p.name()
            );
        }
        if self.dropout > 0.0 && !p.has_dropout() {
            bail!("preset {} has no dropout layers", p.name());
        }
        Ok(())
    }
}

/// Live state reported to a progress display.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub iteration: usize,
    pub iterations: usize,
    pub epoch: f64,
    /// Smoothed training loss.
    pub loss: f64,
    pub lr: f32,
    pub train_accuracy: Option<f64>,
    pub test_accuracy: Option<f64>,
}

/// The outcome of a training run.
pub struct RunResult {
    pub model: Box<dyn Model>,
    pub records: Vec<Record>,
    pub final_loss: f64,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    pub best_test_accuracy: f64,
    pub confusion: Confusion,
    pub wall_time_s: f64,
    /// Time spent in optimizer steps only.
    pub train_time_s: f64,
    pub samples_per_s: f64,
    /// Steps the core rejected (non-finite loss or gradient) and rolled back.
    pub skipped_steps: usize,
}

/// Accuracy of `model` on (at most `limit` samples of) `ds`, with its confusion matrix.
pub fn evaluate(model: &mut dyn Model, ds: &Dataset, limit: usize) -> Result<Confusion> {
    let n = ds.len().min(limit);
    let preds = predict_all(model, &ds.images[..n * ds.pixels()])?;
    let mut c = Confusion::default();
    for (&t, &p) in ds.labels[..n].iter().zip(&preds) {
        c.add(t, p);
    }
    Ok(c)
}

/// Train a fresh network of `cfg.preset` on `train`, measuring on `test`.
pub fn run(
    cfg: &TrainConfig,
    train: &Dataset,
    test: &Dataset,
    progress: &mut dyn FnMut(&Progress),
) -> Result<RunResult> {
    cfg.validate()?;
    if train.pixels() != INPUT || test.pixels() != INPUT {
        bail!(
            "the networks take 28x28 images; the data holds {}x{} (training) and {}x{} (test)",
            train.rows,
            train.cols,
            test.rows,
            test.cols
        );
    }
    let start = Instant::now();
    let train = match cfg.train_size {
        Some(n) if n < train.len() => std::borrow::Cow::Owned(train.take(n)),
        _ => std::borrow::Cow::Borrowed(train),
    };
    let test = match cfg.test_size {
        Some(n) if n < test.len() => std::borrow::Cow::Owned(test.take(n)),
        _ => std::borrow::Cow::Borrowed(test),
    };
    let preset = cfg.preset()?;
    let mut model = preset.build();
    model.configure(&knobs(cfg.activation, cfg.batch_norm, cfg.dropout));
    model.init(cfg.init_scheme(), cfg.seed);
    let rule = cfg.rule();
    let state = vec![0.0f32; rule.state_len(model.params())];
    let mut opt = Optimizer::new(rule, model.params(), state)?;
    let decay = WeightDecay {
        l1: cfg.l1,
        l2: cfg.l2,
    };
    let loss_fn = cfg.loss.core();

    let b = cfg.batch_size;
    let per_epoch = train.len() as f64 / b as f64;
    let total_epochs = cfg.iterations as f64 / per_epoch;
    let eval_every = if cfg.eval_every > 0 {
        cfg.eval_every
    } else {
        // once an epoch, but no more than 50 evaluations in a run
        (per_epoch.ceil() as usize)
            .max(cfg.iterations.div_ceil(50))
            .max(1)
    };

    let mut sampler = EpochSampler::new(train.len(), cfg.seed ^ 0xDA7A);
    let mut augment = Augmenter::new(cfg.augment_shift, cfg.seed ^ 0xA11C);
    let mut idx = vec![0usize; b];
    let mut xb = vec![0.0f32; b * INPUT];
    let mut yb = vec![0u8; b];

    let mut records = Vec::new();
    let mut state = Progress {
        iterations: cfg.iterations,
        lr: cfg.lr,
        ..Default::default()
    };
    let (mut loss_sum, mut loss_n) = (0.0f64, 0usize);
    let mut ema: Option<f64> = None;
    let mut skipped = 0usize;
    let mut consecutive_bad = 0usize;
    let mut train_time = 0.0f64;
    let mut best = 0.0f64;
    let mut last_conf = Confusion::default();
    let mut last_train_acc = 0.0;

    for it in 1..=cfg.iterations {
        let epoch_now = (it - 1) as f64 / per_epoch;
        let lr = cfg.lr_at(epoch_now, total_epochs);
        opt.set_lr(lr);
        sampler.next_batch(&mut idx);
        train.gather(&idx, &mut xb, &mut yb);
        augment.apply(&mut xb, train.rows, train.cols);
        let t0 = Instant::now();
        let r = model.train_step(&xb, &yb, loss_fn, decay, &mut opt);
        train_time += t0.elapsed().as_secs_f64();
        match r {
            Ok(l) => {
                consecutive_bad = 0;
                loss_sum += l as f64;
                loss_n += 1;
                ema = Some(match ema {
                    None => l as f64,
                    Some(e) => 0.95 * e + 0.05 * l as f64,
                });
            }
            Err(e) => {
                skipped += 1;
                consecutive_bad += 1;
                if consecutive_bad >= 50 {
                    bail!("training diverged at iteration {it}: {e} (50 steps in a row; try a smaller --lr)");
                }
            }
        }
        state.iteration = it;
        state.epoch = it as f64 / per_epoch;
        state.loss = ema.unwrap_or(f64::NAN);
        state.lr = lr;
        if it % eval_every == 0 || it == cfg.iterations {
            let tr = evaluate(&mut *model, &train, cfg.eval_train_samples)?.accuracy();
            let conf = evaluate(&mut *model, &test, usize::MAX)?;
            let te = conf.accuracy();
            best = best.max(te);
            last_conf = conf;
            last_train_acc = tr;
            records.push(Record {
                iteration: it,
                epoch: state.epoch,
                loss: if loss_n > 0 {
                    loss_sum / loss_n as f64
                } else {
                    f64::NAN
                },
                train_accuracy: Some(tr),
                test_accuracy: Some(te),
            });
            (loss_sum, loss_n) = (0.0, 0);
            state.train_accuracy = Some(tr);
            state.test_accuracy = Some(te);
        }
        progress(&state);
    }
    let wall = start.elapsed().as_secs_f64();
    let trained = (cfg.iterations * b) as f64;
    Ok(RunResult {
        final_loss: records.last().map(|r| r.loss).unwrap_or(f64::NAN),
        train_accuracy: last_train_acc,
        test_accuracy: last_conf.accuracy(),
        best_test_accuracy: best,
        confusion: last_conf,
        records,
        wall_time_s: wall,
        train_time_s: train_time,
        samples_per_s: if train_time > 0.0 {
            trained / train_time
        } else {
            0.0
        },
        skipped_steps: skipped,
        model,
    })
}
