//! The training loop shared by `shinso train`, `shinso reproduce` and the demo: plain
//! mini-batch descent over shuffled epochs (the core's examples show the other variants).

use std::time::Instant;

use anyhow::{ensure, Result};
use shinso::{Optimizer, WeightDecay};

use crate::data::{Augmenter, Dataset, EpochSampler};
use crate::nets::{knobs, predict_all, Model, INPUT};

use super::{Confusion, Record, TrainConfig};

/// Live state reported to a progress display after every step: the run's length, and where it
/// is as a [`Record`] whose loss is smoothed and whose accuracies are the latest evaluation's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub iterations: usize,
    pub now: Record,
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
    /// Training samples per second of optimizer steps (evaluation excluded).
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
    let [train_size, test_size] = [train, test].map(|d| format!("{}x{}", d.rows, d.cols));
    ensure!(
        train.pixels() == INPUT && test.pixels() == INPUT,
        "the networks take 28x28 images; the data holds {train_size} (training) and {test_size} (test)"
    );
    let start = Instant::now();
    let (train, test) = (train.first(cfg.train_size), test.first(cfg.test_size));
    let (mut model, mut opt) = fresh(cfg)?;
    let (b, l1, l2) = (cfg.batch_size, cfg.l1, cfg.l2);
    let per_epoch = train.len() as f64 / b as f64;
    let total_epochs = cfg.iterations as f64 / per_epoch;
    let eval_every = match cfg.eval_every {
        // once an epoch, but no more than 50 evaluations in a run
        0 => (per_epoch.ceil() as usize).max(cfg.iterations.div_ceil(50)),
        n => n,
    };

    let mut sampler = EpochSampler::new(train.len(), cfg.seed ^ 0xDA7A);
    let mut augment = Augmenter::new(cfg.augment_shift, cfg.seed ^ 0xA11C);
    let (mut idx, mut xb, mut yb) = (vec![0usize; b], vec![0.0f32; b * INPUT], vec![0u8; b]);
    let mut records = Vec::new();
    let mut state = Progress {
        iterations: cfg.iterations,
        ..Default::default()
    };
    // the mean loss since the last record, and a smoothed one for the display
    let (mut loss_sum, mut loss_n, mut ema) = (0.0f64, 0usize, None);
    let (mut skipped, mut rejected_in_a_row, mut step_time) = (0, 0, 0.0f64);
    let (mut best, mut confusion) = (0.0f64, Confusion::default());

    for it in 1..=cfg.iterations {
        opt.set_lr(cfg.lr_at((it - 1) as f64 / per_epoch, total_epochs));
        sampler.next_batch(&mut idx);
        train.gather(&idx, &mut xb, &mut yb);
        augment.apply(&mut xb, train.rows, train.cols);
        let t0 = Instant::now();
        let step = model.train_step(&xb, &yb, cfg.loss, WeightDecay { l1, l2 }, &mut opt);
        step_time += t0.elapsed().as_secs_f64();
        match step {
            Ok(l) => {
                let l = l as f64;
                rejected_in_a_row = 0;
                (loss_sum, loss_n) = (loss_sum + l, loss_n + 1);
                ema = Some(ema.map_or(l, |e| 0.95 * e + 0.05 * l));
            }
            Err(e) => {
                skipped += 1;
                rejected_in_a_row += 1;
                ensure!(
                    rejected_in_a_row < 50,
                    "training diverged at iteration {it}: {e} (50 steps in a row; try a smaller --lr)"
                );
            }
        }
        state.now.iteration = it;
        state.now.epoch = it as f64 / per_epoch;
        state.now.loss = ema.unwrap_or(f64::NAN);
        if it % eval_every == 0 || it == cfg.iterations {
            let train_accuracy = evaluate(&mut *model, &train, cfg.eval_train_samples)?.accuracy();
            confusion = evaluate(&mut *model, &test, usize::MAX)?;
            best = best.max(confusion.accuracy());
            let loss = loss_sum / loss_n as f64; // NaN (0 / 0) if every step was rolled back
            (loss_sum, loss_n) = (0.0, 0);
            state.now.train_accuracy = Some(train_accuracy);
            state.now.test_accuracy = Some(confusion.accuracy());
            records.push(Record { loss, ..state.now });
        }
        progress(&state);
    }
    let trained = (cfg.iterations * b) as f64;
    Ok(RunResult {
        final_loss: records.last().map_or(f64::NAN, |r| r.loss),
        train_accuracy: state.now.train_accuracy.unwrap_or(0.0),
        test_accuracy: confusion.accuracy(),
        best_test_accuracy: best,
        confusion,
        records,
        wall_time_s: start.elapsed().as_secs_f64(),
        samples_per_s: if step_time > 0.0 {
            trained / step_time
        } else {
            0.0
        },
        skipped_steps: skipped,
        model,
    })
}
