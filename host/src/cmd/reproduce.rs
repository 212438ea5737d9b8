//! `shinso reproduce`: the course's experiments trained in parallel, then reported.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::MultiProgress;

use crate::data::{DataArgs, Dataset};
use crate::report::experiments::{experiments, slug, Experiment, GROUPS};
use crate::report::markdown::{write_outputs, Done, Reproduction, RunReport};
use crate::report::metrics::write_csv;
use crate::train::{self, TrainConfig};
use crate::ui::{json_value, progress_bar, say};

#[derive(Args, Debug, Clone)]
pub struct ReproduceArgs {
    /// A reduced version (fewer iterations) that finishes in under two minutes, for CI
    #[arg(long)]
    pub quick: bool,
    /// Output directory
    #[arg(long, value_name = "DIR", default_value = "out/reproduce")]
    pub out: PathBuf,
    /// Runs trained at the same time (default: the number of CPUs, at most 4)
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Only the experiment groups whose id contains this text (init, optimizers, sgd-run,
    /// descent, batchnorm, overfitting, convnet)
    #[arg(long)]
    pub only: Option<String>,
    /// Seed of every run
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// No progress bars
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Rough relative cost of a run, for scheduling the longest first (a step costs about as much
/// as a sample besides its samples: what makes batch-1 runs slow).
fn cost(cfg: &TrainConfig) -> f64 {
    let per_sample = match cfg.preset.as_str() {
        "mlp" => 1.0,
        "deep-mlp" => 5.0,
        "simple-convnet" => 95.0,
        "double-convnet" => 65.0,
        _ => 100.0,
    };
    (cfg.iterations * (cfg.batch_size + 1)) as f64 * per_sample
}

pub fn run(a: &ReproduceArgs) -> Result<()> {
    let data = a.data.load()?;
    let started = Instant::now();
    let (groups, mut exps) = experiments(a.quick, a.seed, data.train.len())?;
    if let Some(only) = &a.only {
        exps.retain(|e| e.group.contains(only.as_str()));
        if exps.is_empty() {
            anyhow::bail!(
                "--only {only:?} matches no experiment group ({})",
                GROUPS.join(", ")
            );
        }
    }
    for e in &exps {
        e.cfg
            .validate()
            .with_context(|| format!("experiment {}", e.name))?;
    }
    std::fs::create_dir_all(a.out.join("runs"))
        .with_context(|| format!("{}: cannot create output directory", a.out.display()))?;
    let jobs = a
        .jobs
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(4)
        })
        .clamp(1, 16);

    let mut order: Vec<usize> = (0..exps.len()).collect();
    order.sort_by(|&x, &y| cost(&exps[y].cfg).total_cmp(&cost(&exps[x].cfg)));
    let queue = Mutex::new(order.into_iter().collect::<VecDeque<usize>>());
    let results: Mutex<Vec<Done>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);

    let mp = if a.quiet {
        MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
    } else {
        MultiProgress::new()
    };
    let overall = mp.add(progress_bar(exps.len() as u64, "reproduce", false));
    if !a.quiet {
        eprintln!(
            "reproduce{}: {} runs on {} threads, data {}",
            if a.quick { " --quick" } else { "" },
            exps.len(),
            jobs,
            data.dir.display()
        );
    }

    std::thread::scope(|s| {
        for _ in 0..jobs.min(exps.len()) {
            s.spawn(|| loop {
                if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return;
                }
                let Some(i) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                    return;
                };
                let e = &exps[i];
                let bar = progress_bar(e.cfg.iterations as u64, &e.group, false);
                let pb = mp.insert_before(&overall, bar);
                let label: String = e.name.chars().take(40).collect();
                let mut last = 0usize;
                let r = train::run(&e.cfg, &data.train, &data.test, &mut |p| {
                    if p.iteration - last >= 20 || p.iteration == p.iterations {
                        last = p.iteration;
                        pb.set_position(p.iteration as u64);
                        let acc = p
                            .test_accuracy
                            .map(|t| format!(" test {t:.3}"))
                            .unwrap_or_default();
                        pb.set_message(format!("{label}: loss {:.3}{acc}", p.loss));
                    }
                });
                pb.finish_and_clear();
                mp.remove(&pb);
                match r.and_then(|r| finish(a, e, i, r, &data.train, &data.test)) {
                    Ok(done) => {
                        overall.set_message(format!(
                            "last: {} {:.4}",
                            e.name, done.report.test_accuracy
                        ));
                        overall.inc(1);
                        if let Ok(mut v) = results.lock() {
                            v.push(done);
                        }
                    }
                    Err(err) => {
                        if let Ok(mut f) = failure.lock() {
                            *f = Some(err.context(format!("experiment {}", e.name)));
                        }
                        return;
                    }
                }
            });
        }
    });
    overall.finish_and_clear();
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut done = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a training thread failed"))?;
    done.sort_by_key(|d| d.index);
    let wall = started.elapsed().as_secs_f64();
    let run = Reproduction {
        out: &a.out,
        quick: a.quick,
        seed: a.seed,
        wall,
        data_dir: &data.dir,
    };
    write_outputs(&run, &groups, &exps, &done)?;
    say(&format!(
        "reproduce: {} runs in {:.0} s; wrote {}",
        done.len(),
        wall,
        a.out.join("REPORT.md").display()
    ));
    Ok(())
}

/// A finished run's `metrics.csv` written, and its line of the report.
fn finish(
    a: &ReproduceArgs,
    e: &Experiment,
    index: usize,
    r: train::RunResult,
    train_ds: &Dataset,
    test_ds: &Dataset,
) -> Result<Done> {
    let dir = Path::new("runs").join(format!("{}-{}", e.group, slug(&e.name)));
    let full = a.out.join(&dir);
    std::fs::create_dir_all(&full).with_context(|| format!("{}: cannot create", full.display()))?;
    write_csv(&full.join("metrics.csv"), &r.records)?;
    let report = RunReport {
        experiment: e.group.clone(),
        name: e.name.clone(),
        config: json_value(&e.cfg)?,
        test_accuracy: r.test_accuracy,
        train_accuracy: r.train_accuracy,
        best_test_accuracy: r.best_test_accuracy,
        course_accuracy: e.course,
        train_samples: e.cfg.train_size.unwrap_or(usize::MAX).min(train_ds.len()),
        test_samples: e.cfg.test_size.unwrap_or(usize::MAX).min(test_ds.len()),
        wall_time_s: r.wall_time_s,
        samples_per_s: r.samples_per_s,
        metrics: dir.join("metrics.csv").display().to_string(),
    };
    Ok(Done {
        index,
        report,
        records: r.records,
    })
}
