//! The training loop shared by `shinso train`, `shinso reproduce` and the demo.

use std::time::Instant;

use anyhow::{bail, Result};
use shinso::{Optimizer, WeightDecay};

use crate::data::{Augmenter, Dataset, EpochSampler};
use crate::nets::{knobs, predict_all, Model, INPUT};

use super::{Confusion, Record, TrainConfig};

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

/// The optimizer a host run steps with: its state on the heap.
pub type HostOptimizer = Optimizer<Vec<f32>>;

/// A network of `cfg.preset`, configured and initialised as `cfg` says, and its optimizer.
pub fn fresh(cfg: &TrainConfig) -> Result<(Box<dyn Model>, HostOptimizer)> {
    let mut model = cfg.preset()?.build();
    model.configure(&knobs(cfg.activation, cfg.batch_norm, cfg.dropout));
    model.init(cfg.init_scheme(), cfg.seed);
    let rule = cfg.rule();
    let state = vec![0.0f32; rule.state_len(model.params())];
    let opt = Optimizer::new(rule, model.params(), state)?;
    Ok((model, opt))
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
    let (mut model, mut opt) = fresh(cfg)?;
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
