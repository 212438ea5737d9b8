//! `shinso train`: one run, with its metrics, plots, summary and model file.

use std::path::PathBuf;

use anyhow::{ensure, Result};
use clap::{Args, ValueEnum};

use super::PlotFormat;
use crate::data::DataArgs;
use crate::io::{create_out_dir, safetensors, Metadata};
use crate::nets::{InitKind, Preset};
use crate::report::{metrics, plot};
use crate::train::{self, Schedule, TrainConfig, MAX_ITERATIONS};
use crate::ui::{json_value, progress_bar, say, show_progress, write_json};
use shinso::{ActivationKind, OptimizerKind};

/// Learning-rate schedule kinds for the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScheduleKind {
    Constant,
    /// Multiply by --lr-gamma every --lr-step epochs.
    Step,
    /// Cosine decay to --lr-min over the run.
    Cosine,
}

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Network shape; each preset brings default hyperparameters (see `shinso info`),
    /// which the flags below override.
    #[arg(long, value_enum, default_value = "mlp")]
    pub preset: Preset,
    #[command(flatten)]
    pub data: DataArgs,
    /// Output directory (created if missing)
    #[arg(long, value_name = "DIR", default_value = "out/train")]
    pub out: PathBuf,
    /// Hidden-layer activation
    #[arg(long, value_enum)]
    pub activation: Option<ActivationKind>,
    /// Weight initialisation
    #[arg(long, value_enum)]
    pub init: Option<InitKind>,
    /// Update rule
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Learning rate ε
    #[arg(long)]
    pub lr: Option<f32>,
    /// Learning-rate schedule
    #[arg(long, value_enum)]
    pub lr_schedule: Option<ScheduleKind>,
    /// Epochs between learning-rate steps (step schedule)
    #[arg(long, value_name = "EPOCHS")]
    pub lr_step: Option<f64>,
    /// Factor applied at each step (step schedule)
    #[arg(long, value_name = "FACTOR")]
    pub lr_gamma: Option<f32>,
    /// Final learning rate (cosine schedule; default 0)
    #[arg(long)]
    pub lr_min: Option<f32>,
    /// Samples per step (at most 128)
    #[arg(long, short = 'b')]
    pub batch_size: Option<usize>,
    /// Optimizer steps (exclusive with --epochs)
    #[arg(long, short = 'n', conflicts_with = "epochs")]
    pub iterations: Option<usize>,
    /// Passes over the training set (may be fractional)
    #[arg(long, short = 'e')]
    pub epochs: Option<f64>,
    /// Dropout ratio after each hidden dense activation (0 = off; default: the preset's)
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Augment with random shifts of up to ±K pixels
    #[arg(long, value_name = "K")]
    pub augment_shift: Option<u32>,
    #[command(flatten)]
    pub knobs: TrainConfig,
    /// Plot format
    #[arg(long, value_enum, default_value = "png")]
    pub plot_format: PlotFormat,
    /// No progress bar
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl TrainArgs {
    /// The preset's recipe with the flags given applied, for a training set of `train_len`
    /// images.
    fn config(&self, train_len: usize) -> Result<TrainConfig> {
        let (recipe, epochs) = TrainConfig::recipe(self.preset);
        // another rule than the recipe's starts from that rule's usual rate
        let (optimizer, lr) = match self.optimizer {
            Some(o) if o != recipe.optimizer => (o, o.default_lr()),
            _ => (recipe.optimizer, recipe.lr),
        };
        let mut c = TrainConfig {
            preset: recipe.preset,
            activation: self.activation.unwrap_or(recipe.activation),
            init: self.init.unwrap_or(recipe.init),
            optimizer,
            lr: self.lr.unwrap_or(lr),
            schedule: self.schedule(recipe.schedule),
            batch_size: self.batch_size.unwrap_or(recipe.batch_size),
            dropout: self.dropout.unwrap_or(recipe.dropout),
            augment_shift: self.augment_shift.unwrap_or(recipe.augment_shift),
            ..self.knobs.clone()
        };
        let (n_train, _) = c.used(train_len, 0);
        c.iterations = match (self.iterations, self.epochs) {
            (Some(n), _) => n,
            (None, None) => c.steps(epochs, n_train) as usize,
            (None, Some(e)) => {
                ensure!(
                    e.is_finite() && e > 0.0,
                    "--epochs must be a positive number, got {e}"
                );
                let n = c.steps(e, n_train);
                let batch = c.batch_size;
                ensure!(
                    n <= MAX_ITERATIONS as f64,
                    "--epochs {e} is {n:.0} iterations of {batch}; at most {MAX_ITERATIONS} are accepted"
                );
                n as usize
            }
        };
        c.validate()?;
        Ok(c)
    }

    /// The schedule the flags ask for: a kind picks a schedule, `--lr-step` or `--lr-gamma`
    /// alone picks a step schedule, `--lr-min` alone a cosine one, and the preset's own is
    /// kept otherwise. Parameters not given are the preset's (if it has that kind) or the
    /// defaults.
    fn schedule(&self, recipe: Schedule) -> Schedule {
        let ((every, gamma), min) = match recipe {
            Schedule::Step { every, gamma } => ((every, gamma), 0.0),
            Schedule::Cosine { min } => ((10.0, 0.5), min),
            Schedule::Constant => ((10.0, 0.5), 0.0),
        };
        let step = Schedule::Step {
            every: self.lr_step.unwrap_or(every),
            gamma: self.lr_gamma.unwrap_or(gamma),
        };
        let cosine = Schedule::Cosine {
            min: self.lr_min.unwrap_or(min),
        };
        match self.lr_schedule {
            Some(ScheduleKind::Constant) => Schedule::Constant,
            Some(ScheduleKind::Step) => step,
            Some(ScheduleKind::Cosine) => cosine,
            None if self.lr_step.is_some() || self.lr_gamma.is_some() => step,
            None if self.lr_min.is_some() => cosine,
            None => recipe,
        }
    }
}

pub fn run(a: &TrainArgs) -> Result<()> {
    let data = a.data.load()?;
    let cfg = a.config(data.train.len())?;
    create_out_dir(&a.out)?;
    let (n_train, n_test) = cfg.used(data.train.len(), data.test.len());
    let epochs = (cfg.iterations * cfg.batch_size) as f64 / n_train as f64;
    let (activation, optimizer) = (cfg.activation.name(), cfg.optimizer.name());
    let (preset, iterations, batch, lr) = (&cfg.preset, cfg.iterations, cfg.batch_size, cfg.lr);
    if !a.quiet {
        let dir = data.dir.display();
        eprintln!("training {preset} ({activation}) on {n_train} images from {dir}, testing on {n_test}; {iterations} iterations of {batch} ({epochs:.1} epochs), {optimizer} lr {lr}");
    }
    let pb = progress_bar(cfg.iterations as u64, "train", a.quiet);
    let result = train::run(&cfg, &data.train, &data.test, &mut show_progress(&pb, ""));
    pb.finish_and_clear();
    let mut r = result?;

    let ext = a.plot_format.ext();
    let [accuracy, loss, confusion] =
        ["accuracy", "loss", "confusion"].map(|s| format!("{s}.{ext}"));
    let init = cfg.init.name();
    let title = format!("{preset} — {activation}, {init}, {optimizer} lr {lr}");
    metrics::write_csv(&a.out.join("metrics.csv"), &r.records)?;
    let by_epoch = epochs >= 2.0;
    plot::accuracy_chart(&r.records, by_epoch, &format!("accuracy: {title}"))
        .save(&a.out.join(&accuracy))?;
    plot::loss_chart(&r.records, by_epoch, &format!("loss: {title}")).save(&a.out.join(&loss))?;
    plot::Heatmap {
        title: format!("confusion (test): {preset}"),
        confusion: &r.confusion,
    }
    .save(&a.out.join(&confusion))?;
    // the knobs inference needs, and provenance
    let meta = Metadata::from([
        ("activation".into(), activation.into()),
        ("batch_norm".into(), cfg.batch_norm.to_string()),
        ("dropout".into(), cfg.dropout.to_string()),
        ("test_accuracy".into(), format!("{:.4}", r.test_accuracy)),
        ("config".into(), serde_json::to_string(&cfg)?),
    ]);
    safetensors::save(&mut *r.model, &meta, &a.out.join("model.safetensors"))?;
    // summary.json: everything needed to rerun (the resolved configuration), and what came of it
    let summary = serde_json::json!({
        "config": json_value(&cfg)?,
        "data": {
            "dir": data.dir.display().to_string(),
            "train_samples": n_train,
            "test_samples": n_test,
            "rows": data.train.rows,
            "cols": data.train.cols,
        },
        "parameters": r.model.params(),
        "iterations": iterations,
        "epochs": epochs,
        "final_loss": r.final_loss,
        "train_accuracy": r.train_accuracy,
        "test_accuracy": r.test_accuracy,
        "best_test_accuracy": r.best_test_accuracy,
        "per_class_test_accuracy": r.confusion.per_class().to_vec(),
        "wall_time_s": r.wall_time_s,
        // training samples per second, optimizer steps only (evaluation excluded)
        "samples_per_s": r.samples_per_s,
        // steps the core rejected (non-finite loss or gradient) and rolled back
        "skipped_steps": r.skipped_steps,
        "files": ["metrics.csv", accuracy, loss, confusion, "model.safetensors", "summary.json"],
    });
    write_json(&a.out.join("summary.json"), &summary)?;
    let (test, best, train) = (r.test_accuracy, r.best_test_accuracy, r.train_accuracy);
    let (final_loss, wall, rate) = (r.final_loss, r.wall_time_s, r.samples_per_s);
    let out = a.out.display();
    say(&format!(
        "{preset}: test accuracy {test:.4} (best {best:.4}), train accuracy {train:.4}, loss {final_loss:.4}; {wall:.1} s, {rate:.0} samples/s; wrote {out}"
    ));
    Ok(())
}
