//! `shinso bench`: time the training step of presets on real batches.

use std::time::Instant;

use cpu_time::ThreadTime;

use anyhow::Result;
use clap::Args;
use shinso::WeightDecay;

use crate::data::DataArgs;
use crate::nets::{Preset, BATCH, INPUT};
use crate::train::{self, TrainConfig};
use crate::ui::say;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Presets to time (repeat the flag; default: mlp and simple-convnet)
    #[arg(long, value_enum)]
    pub preset: Vec<Preset>,
    /// Samples per step
    #[arg(long, short = 'b', default_value_t = 100)]
    pub batch_size: usize,
    /// Timed steps per preset (after 3 untimed warm-up steps)
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Repetitions; the fastest is reported (least disturbed by other load)
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    #[command(flatten)]
    pub data: DataArgs,
}

/// One measurement.
#[derive(Clone, Debug, serde::Serialize)]
struct BenchResult {
    pub preset: String,
    pub params: usize,
    pub batch_size: usize,
    /// Wall-clock time per step (best repetition).
    pub ms_per_step: f64,
    pub samples_per_s: f64,
    /// CPU time of the benchmarking thread per step (best repetition): unlike wall time it
    /// hardly changes when other processes share the CPU.
    pub cpu_ms_per_step: f64,
    pub cpu_samples_per_s: f64,
}

/// Time `steps` training steps of `preset` (its default optimizer and init) on batches of
/// `batch` images from `images`/`labels`; best of `repeat`.
fn measure(
    preset: Preset,
    batch: usize,
    steps: usize,
    repeat: usize,
    images: &[f32],
    labels: &[u8],
) -> Result<BenchResult> {
    let mut cfg = TrainConfig::for_preset(preset, labels.len());
    cfg.batch_size = batch;
    cfg.validate()?;
    let (mut model, mut opt) = train::fresh(&cfg)?;
    let n_batches = (labels.len() / batch).max(1);
    let mut step = |k: usize| -> Result<()> {
        let i = k % n_batches;
        let x = &images[i * batch * INPUT..(i + 1) * batch * INPUT];
        let y = &labels[i * batch..(i + 1) * batch];
        // a rejected step (non-finite) still costs the same time; ignore its result
        let _ = model.train_step(x, y, cfg.loss.core(), WeightDecay::default(), &mut opt);
        Ok(())
    };
    for k in 0..3 {
        step(k)?;
    }
    let mut best = f64::INFINITY;
    let mut best_cpu = f64::INFINITY;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let c = ThreadTime::now();
        for k in 0..steps.max(1) {
            step(k)?;
        }
        best_cpu = best_cpu.min(c.elapsed().as_secs_f64() / steps.max(1) as f64);
        best = best.min(t.elapsed().as_secs_f64() / steps.max(1) as f64);
    }
    Ok(BenchResult {
        preset: preset.name().into(),
        params: model.params(),
        batch_size: batch,
        ms_per_step: best * 1e3,
        samples_per_s: batch as f64 / best,
        cpu_ms_per_step: best_cpu * 1e3,
        cpu_samples_per_s: if best_cpu > 0.0 {
            batch as f64 / best_cpu
        } else {
            0.0
        },
    })
}

pub fn run(a: &BenchArgs) -> Result<()> {
    let data = a.data.load()?;
    if a.batch_size == 0 || a.batch_size > BATCH || a.batch_size > data.train.len() {
        anyhow::bail!(
            "--batch-size must be between 1 and {}",
            BATCH.min(data.train.len())
        );
    }
    let presets = if a.preset.is_empty() {
        vec![Preset::Mlp, Preset::SimpleConvnet]
    } else {
        a.preset.clone()
    };
    say("| preset | parameters | batch | ms / step | samples / s | CPU ms / step | samples / CPU s |");
    say("|---|---:|---:|---:|---:|---:|---:|");
    for p in presets {
        let r = measure(
            p,
            a.batch_size,
            a.steps,
            a.repeat,
            &data.train.images,
            &data.train.labels,
        )?;
        say(&format!(
            "| {} | {} | {} | {:.3} | {:.0} | {:.3} | {:.0} |",
            r.preset,
            r.params,
            r.batch_size,
            r.ms_per_step,
            r.samples_per_s,
            r.cpu_ms_per_step,
            r.cpu_samples_per_s
        ));
    }
    Ok(())
}
