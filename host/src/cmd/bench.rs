//! `shinso bench`: time the training step of presets on real batches.

use std::time::Instant;

use anyhow::{ensure, Result};
use clap::Args;
use cpu_time::ThreadTime;
use shinso::WeightDecay;

use crate::data::{DataArgs, Dataset};
use crate::nets::{Preset, BATCH, INPUT};
use crate::train::{self, TrainConfig};
use crate::ui::say;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Presets to time (repeat the flag; default: mlp and simple-convnet)
    #[arg(long, value_enum, hide_default_value = true,
          default_values_t = [Preset::Mlp, Preset::SimpleConvnet])]
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

/// The wall-clock and CPU seconds of the training step of `preset` (its recipe at batch
/// `a.batch_size`) on batches of `ds`, each the best of `a.repeat` runs of `a.steps` steps
/// after 3 untimed ones. CPU time of this thread, unlike wall time, hardly changes when other
/// processes share the CPU.
fn measure(preset: Preset, a: &BenchArgs, ds: &Dataset) -> Result<(f64, f64)> {
    let b = a.batch_size;
    let mut cfg = TrainConfig::for_preset(preset, ds.len());
    cfg.batch_size = b;
    cfg.validate()?;
    let (mut model, mut opt) = train::fresh(&cfg)?;
    let n_batches = (ds.len() / b).max(1);
    let mut step = |k: usize| {
        let i = k % n_batches;
        let x = &ds.images[i * b * INPUT..(i + 1) * b * INPUT];
        let y = &ds.labels[i * b..(i + 1) * b];
        // a rejected step (non-finite) still costs the same time; ignore its result
        let _ = model.train_step(x, y, cfg.loss, WeightDecay::default(), &mut opt);
    };
    (0..3).for_each(&mut step);
    let steps = a.steps.max(1);
    let (mut wall, mut cpu) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..a.repeat.max(1) {
        let (t, c) = (Instant::now(), ThreadTime::now());
        (0..steps).for_each(&mut step);
        cpu = cpu.min(c.elapsed().as_secs_f64() / steps as f64);
        wall = wall.min(t.elapsed().as_secs_f64() / steps as f64);
    }
    Ok((wall, cpu))
}

pub fn run(a: &BenchArgs) -> Result<()> {
    let data = a.data.load()?;
    let most = BATCH.min(data.train.len());
    let b = a.batch_size;
    ensure!(
        (1..=most).contains(&b),
        "--batch-size must be between 1 and {most}"
    );
    say("| preset | parameters | batch | ms / step | samples / s | CPU ms / step | samples / CPU s |");
    say("|---|---:|---:|---:|---:|---:|---:|");
    for &p in &a.preset {
        let (wall, cpu) = measure(p, a, &data.train)?;
        let (name, params) = (p.name(), p.params());
        let (ms, rate, cpu_ms) = (wall * 1e3, b as f64 / wall, cpu * 1e3);
        let cpu_rate = if cpu > 0.0 { b as f64 / cpu } else { 0.0 };
        say(&format!(
            "| {name} | {params} | {b} | {ms:.3} | {rate:.0} | {cpu_ms:.3} | {cpu_rate:.0} |"
        ));
    }
    Ok(())
}
