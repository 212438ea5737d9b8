//! The `shinso` command line.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::data::{default_data_dir, load_dir, Mnist};
use crate::metrics::{self, DataInfo, Summary};
use crate::plot;
use crate::presets::{knobs, ActKind, InitKind, OptKind, Preset};
use crate::safetensors_io::{self, Metadata};
use crate::train::{self, LossKind, Schedule, TrainConfig};

/// shinso: a no_std deep-learning core, trained and inspected from the host.
#[derive(Parser, Debug)]
#[command(name = "shinso", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a network on MNIST (or any data in the same format) and write metrics, plots,
    /// a summary and the model.
    Train(TrainArgs),
    /// Measure a saved model: accuracy, per-class accuracy and confusion matrix.
    Eval(EvalArgs),
    /// Run the course's experiments and write REPORT.md, report.json and plots.
    Reproduce(crate::reproduce::ReproduceArgs),
    /// Convert a model between safetensors and the device's blob format.
    Export(ExportArgs),
    /// Time the training step of presets and print samples per second.
    Bench(crate::bench::BenchArgs),
    /// Describe presets: layers, parameters, memory, and the tensor names of their model files.
    Info(InfoArgs),
    /// Talk to a device over a serial port: info, infer, learn, stats, push, pull, eval.
    Device(crate::device::DeviceArgs),
    /// Boot the firmware in QEMU (building it if needed) and run a device command against it.
    Emulate(crate::device::EmulateArgs),
    /// The whole story: train on the host, push to the emulated device, evaluate there, learn
    /// on the device, summarise.
    Demo(crate::device::DemoArgs),
}

#[derive(Args, Debug, Clone)]
pub struct InfoArgs {
    /// Presets to describe (repeat the flag; default: all)
    #[arg(long, value_enum)]
    pub preset: Vec<Preset>,
}

/// Where the data comes from.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Directory holding train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
    /// t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz] (default: the bundled
    /// data/mnist, or $SHINSO_DATA)
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

impl DataArgs {
    pub fn load(&self) -> Result<Mnist> {
        let dir = self.data.clone().unwrap_or_else(default_data_dir);
        Ok(load_dir(&dir)?)
    }
}

/// Learning-rate schedule kinds for the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScheduleKind {
    Constant,
    /// Multiply by --lr-gamma every --lr-step epochs.
    Step,
    /// Cosine decay to --lr-min over the run.
    Cosine,
}

/// Plot file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlotFormat {
    Png,
    Svg,
}

impl PlotFormat {
    pub fn ext(self) -> &'static str {
        match self {
            PlotFormat::Png => "png",
            PlotFormat::Svg => "svg",
        }
    }
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
    pub activation: Option<ActKind>,
    /// Weight initialisation
    #[arg(long, value_enum)]
    pub init: Option<InitKind>,
    /// σ of the Gaussian initialisation
    #[arg(long, value_name = "SIGMA", default_value_t = 0.01)]
    pub init_std: f32,
    /// Update rule
    #[arg(long, value_enum)]
    pub optimizer: Option<OptKind>,
    /// Learning rate ε
    #[arg(long)]
    pub lr: Option<f32>,
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
    /// Learning-rate schedule
    #[arg(long, value_enum)]
    pub lr_schedule: Option<ScheduleKind>,
    /// Epochs between learning-rate steps (step schedule)
    #[arg(long, value_name = "EPOCHS")]
    pub lr_step: Option<f64>,
    /// Factor applied at each step (step schedule)
    #[arg(long, value_name = "FACTOR")]
    pub lr_gamma: Option<f32>,
    /// Final learning rate (cosine schedule)
    #[arg(long, default_value_t = 0.0)]
    pub lr_min: f32,
    /// Loss function
    #[arg(long, value_enum, default_value = "softmax-ce")]
    pub loss: LossKind,
    /// Samples per step (at most 128)
    #[arg(long, short = 'b')]
    pub batch_size: Option<usize>,
    /// Optimizer steps (exclusive with --epochs)
    #[arg(long, short = 'n', conflicts_with = "epochs")]
    pub iterations: Option<usize>,
    /// Passes over the training set (may be fractional)
    #[arg(long, short = 'e')]
    pub epochs: Option<f64>,
    /// L1 weight decay λ₁ (biases excluded)
    #[arg(long, default_value_t = 0.0)]
    pub l1: f32,
    /// L2 weight decay λ₂ (biases excluded)
    #[arg(long, default_value_t = 0.0)]
    pub l2: f32,
    /// Dropout ratio after each hidden dense activation (0 = off; default: the preset's)
    #[arg(long)]
    pub dropout: Option<f32>,
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
    /// Augment with random shifts of up to ±K pixels
    #[arg(long, value_name = "K")]
    pub augment_shift: Option<u32>,
    /// Evaluate every N iterations (default: every epoch, at most 50 times)
    #[arg(long, value_name = "N")]
    pub eval_every: Option<usize>,
    /// Training accuracy is measured on at most N training images
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub eval_train_samples: usize,
    /// Plot format
    #[arg(long, value_enum, default_value = "png")]
    pub plot_format: PlotFormat,
    /// No progress bar
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl TrainArgs {
    /// Resolve flags against the preset's defaults for a training set of `train_len` images.
    pub fn config(&self, train_len: usize) -> Result<TrainConfig> {
        let mut c = TrainConfig::for_preset(self.preset, train_len);
        let d = self.preset.defaults();
        if let Some(a) = self.activation {
            c.activation = a;
        }
        if let Some(i) = self.init {
            c.init = i;
        }
        c.init_std = self.init_std;
        if let Some(o) = self.optimizer {
            c.optimizer = o;
            if self.lr.is_none() && o != d.optimizer {
                // the course's usual rate for that rule
                c.lr = match o {
                    OptKind::Sgd => 0.1,
                    OptKind::Momentum | OptKind::Adagrad => 0.01,
                    OptKind::Rmsprop | OptKind::Adam => 0.001,
                };
            }
        }
        if let Some(lr) = self.lr {
            c.lr = lr;
        }
        c.momentum = self.momentum;
        c.rho = self.rho;
        c.beta1 = self.beta1;
        c.beta2 = self.beta2;
        c.delta = self.delta;
        c.adagrad_h0 = self.adagrad_h0;
        c.loss = self.loss;
        if let Some(b) = self.batch_size {
            c.batch_size = b;
        }
        let n_train = self.train_size.map_or(train_len, |n| n.min(train_len));
        let per_epoch = n_train.div_ceil(c.batch_size.max(1)).max(1);
        c.iterations = match (self.iterations, self.epochs) {
            (Some(n), _) => n,
            (None, Some(e)) => {
                if !(e.is_finite() && e > 0.0) {
                    bail!("--epochs must be a positive number, got {e}");
                }
                ((e * per_epoch as f64).round() as usize).max(1)
            }
            (None, None) => ((d.epochs * per_epoch as f64).round() as usize).max(1),
        };
        c.schedule = match self.lr_schedule {
            None if self.lr_step.is_some() || self.lr_gamma.is_some() => Schedule::Step {
                every: self.lr_step.unwrap_or(10.0),
                gamma: self.lr_gamma.unwrap_or(0.5),
            },
            None => c.schedule,
            Some(ScheduleKind::Constant) => Schedule::Constant,
            Some(ScheduleKind::Step) => {
                let (every, gamma) = match d.schedule {
                    Schedule::Step { every, gamma } => (every, gamma),
                    _ => (10.0, 0.5),
                };
                Schedule::Step {
                    every: self.lr_step.unwrap_or(every),
                    gamma: self.lr_gamma.unwrap_or(gamma),
                }
            }
            Some(ScheduleKind::Cosine) => Schedule::Cosine { min: self.lr_min },
        };
        c.l1 = self.l1;
        c.l2 = self.l2;
        if let Some(d) = self.dropout {
            c.dropout = d;
        }
        c.batch_norm = self.batch_norm;
        c.seed = self.seed;
        c.train_size = self.train_size;
        c.test_size = self.test_size;
        if let Some(k) = self.augment_shift {
            c.augment_shift = k;
        }
        c.eval_every = self.eval_every.unwrap_or(0);
        c.eval_train_samples = self.eval_train_samples;
        c.validate()?;
        Ok(c)
    }
}

#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// A model written by `shinso train` (or any safetensors file with the documented names)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Preset of the model (default: from the file's metadata, else found by tensor shapes)
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Hidden activation (default: from the file's metadata, else relu)
    #[arg(long, value_enum)]
    pub activation: Option<ActKind>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Evaluate on the training set instead of the test set
    #[arg(long)]
    pub on_train: bool,
    /// Only the first N images of the set
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Where to write confusion.png and eval.json (default: next to the model)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Plot format
    #[arg(long, value_enum, default_value = "png")]
    pub plot_format: PlotFormat,
}

/// Model file formats for `export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelFormat {
    /// The device's blob: 24-byte header (magic SHNS, version, signature, length, CRC-32),
    /// then little-endian f32 parameters
    Blob,
    /// safetensors with the documented tensor names
    Safetensors,
}

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Input model: safetensors, or a device blob (recognised by its magic)
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Output file
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Output format (default: blob for .bin, safetensors for .safetensors)
    #[arg(long, value_enum)]
    pub format: Option<ModelFormat>,
    /// Preset of the model (needed for a blob input without metadata; else from the file)
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
}

/// A JSON value of `v` whose f32 fields print as written (`0.1`, not `0.10000000149011612`).
pub fn json_value<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(&serde_json::to_string(v)?)?)
}

/// Print to stdout, ignoring a closed pipe (`shinso eval | head`).
pub fn say(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.write_all(b"\n");
}

/// Parse `args` and run the command.
pub fn run<I, T>(args: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => return Err(UsageError(e).into()),
    };
    match cli.command {
        Command::Train(a) => cmd_train(&a),
        Command::Eval(a) => cmd_eval(&a),
        Command::Reproduce(a) => crate::reproduce::run(&a),
        Command::Export(a) => cmd_export(&a),
        Command::Bench(a) => crate::bench::run(&a),
        Command::Info(a) => cmd_info(&a),
        Command::Device(a) => crate::device::device(&a),
        Command::Emulate(a) => crate::device::emulate(&a),
        Command::Demo(a) => crate::device::demo(&a),
    }
}

/// A command-line parsing error (or `--help` / `--version`), carried to `main` for printing.
#[derive(Debug)]
pub struct UsageError(pub clap::Error);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // clap's message on one line, without its "error: " prefix and the help hint
        let text = self.0.render().to_string();
        let parts: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
            .collect();
        let joined = parts.join(" ");
        write!(f, "{}", joined.strip_prefix("error: ").unwrap_or(&joined))
    }
}

impl std::error::Error for UsageError {}

fn create_out_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create output directory", dir.display()))
}

/// A progress bar on stderr (hidden when stderr is not a terminal or `quiet`).
pub fn progress_bar(len: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{bar:20.cyan/blue} {pos:>6}/{len:6} {wide_msg} {elapsed}<{eta}",
        )
        .expect("valid template")
        .progress_chars("█▉▊▋▌▍▎▏ "),
    );
    pb
}

/// Metadata stored with a trained model: the knobs inference needs, and provenance.
pub fn model_metadata(cfg: &TrainConfig, test_accuracy: f64) -> Metadata {
    let mut m = Metadata::new();
    m.insert("activation".into(), cfg.activation.name().into());
    m.insert("batch_norm".into(), cfg.batch_norm.to_string());
    m.insert("dropout".into(), cfg.dropout.to_string());
    m.insert("test_accuracy".into(), format!("{test_accuracy:.4}"));
    m.insert(
        "config".into(),
        serde_json::to_string(cfg).unwrap_or_default(),
    );
    m
}

fn cmd_train(a: &TrainArgs) -> Result<()> {
    let data = a.data.load()?;
    let cfg = a.config(data.train.len())?;
    create_out_dir(&a.out)?;
    let n_train = cfg
        .train_size
        .map_or(data.train.len(), |n| n.min(data.train.len()));
    let n_test = cfg
        .test_size
        .map_or(data.test.len(), |n| n.min(data.test.len()));
    if !a.quiet {
        eprintln!(
            "training {} ({}) on {} images from {}, testing on {}; {} iterations of {} ({:.1} epochs), {} lr {}",
            cfg.preset,
            cfg.activation.name(),
            n_train,
            data.dir.display(),
            n_test,
            cfg.iterations,
            cfg.batch_size,
            (cfg.iterations * cfg.batch_size) as f64 / n_train as f64,
            cfg.optimizer.name(),
            cfg.lr
        );
    }
    let pb = progress_bar(cfg.iterations as u64, a.quiet);
    let mut last_draw = 0usize;
    let result = train::run(&cfg, &data.train, &data.test, &mut |p| {
        if p.iteration - last_draw >= 10
            || p.iteration == p.iterations
            || p.test_accuracy.is_some() && last_draw == 0
        {
            last_draw = p.iteration;
            let acc = match (p.train_accuracy, p.test_accuracy) {
                (Some(tr), Some(te)) => format!(" train {tr:.3} test {te:.3}"),
                _ => String::new(),
            };
            pb.set_position(p.iteration as u64);
            pb.set_message(format!("epoch {:.1} loss {:.3}{acc}", p.epoch, p.loss));
        }
    });
    pb.finish_and_clear();
    let mut r = result?;

    let ext = a.plot_format.ext();
    let by_epoch = (cfg.iterations * cfg.batch_size) as f64 / n_train as f64 >= 2.0;
    let title = format!(
        "{} — {}, {}, {} lr {}",
        cfg.preset,
        cfg.activation.name(),
        cfg.init.name(),
        cfg.optimizer.name(),
        cfg.lr
    );
    metrics::write_csv(&a.out.join("metrics.csv"), &r.records)?;
    plot::accuracy_chart(&r.records, by_epoch, &format!("accuracy: {title}"))
        .save(&a.out.join(format!("accuracy.{ext}")))?;
    plot::loss_chart(&r.records, by_epoch, &format!("loss: {title}"))
        .save(&a.out.join(format!("loss.{ext}")))?;
    let names: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    plot::Heatmap {
        title: format!("confusion (test): {}", cfg.preset),
        confusion: &r.confusion,
        names,
    }
    .save(&a.out.join(format!("confusion.{ext}")))?;
    safetensors_io::save(
        &mut *r.model,
        &model_metadata(&cfg, r.test_accuracy),
        &a.out.join("model.safetensors"),
    )?;
    let files = vec![
        "metrics.csv".to_string(),
        format!("accuracy.{ext}"),
        format!("loss.{ext}"),
        format!("confusion.{ext}"),
        "model.safetensors".into(),
        "summary.json".into(),
    ];
    let summary = Summary {
        config: json_value(&cfg)?,
        data: DataInfo {
            dir: data.dir.display().to_string(),
            train_samples: n_train,
            test_samples: n_test,
            rows: data.train.rows,
            cols: data.train.cols,
        },
        parameters: r.model.params(),
        iterations: cfg.iterations,
        epochs: (cfg.iterations * cfg.batch_size) as f64 / n_train as f64,
        final_loss: r.final_loss,
        train_accuracy: r.train_accuracy,
        test_accuracy: r.test_accuracy,
        best_test_accuracy: r.best_test_accuracy,
        per_class_test_accuracy: r.confusion.per_class().to_vec(),
        wall_time_s: r.wall_time_s,
        samples_per_s: r.samples_per_s,
        skipped_steps: r.skipped_steps,
        files,
    };
    metrics::write_json(&a.out.join("summary.json"), &summary)?;
    say(&format!(
        "{}: test accuracy {:.4} (best {:.4}), train accuracy {:.4}, loss {:.4}; {:.1} s, {:.0} samples/s; wrote {}",
        cfg.preset,
        r.test_accuracy,
        r.best_test_accuracy,
        r.train_accuracy,
        r.final_loss,
        r.wall_time_s,
        r.samples_per_s,
        a.out.display()
    ));
    Ok(())
}

/// Apply the knobs recorded in a model's metadata (or the flags) to a loaded model.
fn apply_meta_knobs(
    model: &mut dyn crate::model::Model,
    meta: &Metadata,
    activation: Option<ActKind>,
) -> Result<ActKind> {
    let act = match activation {
        Some(a) => a,
        None => match meta.get("activation") {
            Some(s) => ActKind::from_name(s)
                .ok_or_else(|| anyhow!("unknown activation {s:?} in model metadata"))?,
            None => model.preset().defaults().activation,
        },
    };
    let bn = meta.get("batch_norm").is_some_and(|s| s == "true");
    let dropout: f32 = match meta.get("dropout") {
        Some(s) => s
            .parse()
            .map_err(|_| anyhow!("bad dropout {s:?} in model metadata"))?,
        None => 0.0,
    };
    model.configure(&knobs(act, bn, dropout));
    Ok(act)
}

fn cmd_eval(a: &EvalArgs) -> Result<()> {
    let (mut model, meta) = safetensors_io::load_model(&a.model, a.preset)?;
    let act = apply_meta_knobs(&mut *model, &meta, a.activation)?;
    let data = a.data.load()?;
    let ds = if a.on_train { &data.train } else { &data.test };
    if ds.pixels() != crate::model::INPUT {
        bail!(
            "the model takes 28x28 images; {} holds {}x{}",
            data.dir.display(),
            ds.rows,
            ds.cols
        );
    }
    if a.limit == Some(0) {
        bail!("--limit must be at least 1");
    }
    let conf = train::evaluate(&mut *model, ds, a.limit.unwrap_or(usize::MAX))?;
    let set = if a.on_train { "training" } else { "test" };
    let names: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    say(&format!(
        "{} ({}, {}, {} parameters) on the {set} set of {}: accuracy {:.4} ({} of {})",
        a.model.display(),
        model.preset().name(),
        act.name(),
        model.params(),
        data.dir.display(),
        conf.accuracy(),
        conf.correct(),
        conf.total()
    ));
    say("");
    say(&conf.to_table(&names));
    let out = match &a.out {
        Some(d) => d.clone(),
        None => a
            .model
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    create_out_dir(&out)?;
    let png = out.join(format!("confusion.{}", a.plot_format.ext()));
    plot::Heatmap {
        title: format!("confusion ({set}): {}", model.preset().name()),
        confusion: &conf,
        names,
    }
    .save(&png)?;
    let report = serde_json::json!({
        "model": a.model.display().to_string(),
        "preset": model.preset().name(),
        "activation": act.name(),
        "data": data.dir.display().to_string(),
        "set": set,
        "samples": conf.total(),
        "accuracy": conf.accuracy(),
        "per_class_accuracy": conf.per_class().to_vec(),
        "confusion": conf.m,
    });
    metrics::write_json(&out.join("eval.json"), &report)?;
    say(&format!(
        "wrote {} and {}",
        png.display(),
        out.join("eval.json").display()
    ));
    Ok(())
}

fn cmd_export(a: &ExportArgs) -> Result<()> {
    let bytes = std::fs::read(&a.model).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow!("{}: file not found", a.model.display()),
        _ => anyhow!("{}: {e}", a.model.display()),
    })?;
    let (mut model, meta) = if bytes.starts_with(&shinso::model::MAGIC) {
        let Some(p) = a.preset else {
            bail!(
                "{}: a device blob does not name its preset; pass --preset",
                a.model.display()
            );
        };
        let mut m = p.build();
        m.load_blob(&bytes)
            .map_err(|e| anyhow!("{}: {e}", a.model.display()))?;
        (m, Metadata::new())
    } else {
        safetensors_io::load_model(&a.model, a.preset)?
    };
    let format = match a.format {
        Some(f) => f,
        None => match a.out.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => ModelFormat::Safetensors,
            _ => ModelFormat::Blob,
        },
    };
    match format {
        ModelFormat::Blob => {
            let blob = model.save_blob();
            std::fs::write(&a.out, &blob)
                .with_context(|| format!("{}: cannot write", a.out.display()))?;
            say(&format!(
                "wrote {} ({} bytes: {} header + {} parameters, preset {}, signature {:#018x})",
                a.out.display(),
                blob.len(),
                shinso::model::HEADER,
                model.params() + model.state(),
                model.preset().name(),
                model.signature()
            ));
        }
        ModelFormat::Safetensors => {
            safetensors_io::save(&mut *model, &meta, &a.out)?;
            say(&format!(
                "wrote {} (preset {})",
                a.out.display(),
                model.preset().name()
            ));
        }
    }
    Ok(())
}

fn cmd_info(a: &InfoArgs) -> Result<()> {
    let presets = if a.preset.is_empty() {
        Preset::all().to_vec()
    } else {
        a.preset.clone()
    };
    for p in presets {
        let mut m = p.build();
        let d = p.defaults();
        let rule = TrainConfig::for_preset(p, 10_000).rule();
        let mem = m.memory(&rule, crate::model::BATCH);
        say(&format!("{}: {}", p.name(), p.describe()));
        say(&format!(
            "  {} parameters, {} saved state floats, signature {:#018x}, device blob {} bytes",
            m.params(),
            m.state(),
            m.signature(),
            shinso::model::HEADER + 4 * (m.params() + m.state())
        ));
        say(&format!(
            "  memory at batch {} with {}: parameters {} B, state {} B, optimizer {} B, training arena {} B (gradients, activations, caches)",
            crate::model::BATCH,
            d.optimizer.name(),
            mem.params,
            mem.state,
            mem.optimizer,
            mem.arena
        ));
        say(&format!(
            "  defaults: {}, {}, {} lr {}, batch {}, {} epochs{}{}{}",
            d.activation.name(),
            d.init.name(),
            d.optimizer.name(),
            d.lr,
            d.batch_size,
            d.epochs,
            if d.augment_shift > 0 {
                format!(", shifts ±{}", d.augment_shift)
            } else {
                String::new()
            },
            if d.dropout > 0.0 {
                format!(", dropout {}", d.dropout)
            } else {
                String::new()
            },
            match d.schedule {
                Schedule::Constant => String::new(),
                Schedule::Step { every, gamma } => format!(", lr ×{gamma} every {every} epochs"),
                Schedule::Cosine { min } => format!(", cosine decay to {min}"),
            }
        ));
        say("  tensors (safetensors name, shape):");
        for (name, shape) in crate::model::tensor_list(&mut *m) {
            let s: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            say(&format!("    {name:<26} ({})", s.join(", ")));
        }
    }
    Ok(())
}
