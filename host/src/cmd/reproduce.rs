//! `shinso reproduce`: the course's experiments trained in parallel, then reported.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{anyhow, ensure, Context, Result};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};

use crate::data::{DataArgs, Mnist};
use crate::io::create_out_dir;
use crate::report::experiments::{experiments, slug, Experiment};
use crate::report::markdown::{write_outputs, Reproduction, RunReport};
use crate::report::metrics::write_csv;
use crate::train::{self, TrainConfig};
use crate::ui::{json_value, progress_bar, say, show_progress};

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
        let ids: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
        ensure!(
            !exps.is_empty(),
            "--only {only:?} matches no experiment group ({})",
            ids.join(", ")
        );
    }
    create_out_dir(&a.out)?; // runs/ is made with the first run's directory
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let jobs = a.jobs.unwrap_or(cpus).clamp(1, 16);

    let mp = MultiProgress::new();
    if a.quiet {
        mp.set_draw_target(ProgressDrawTarget::hidden());
    }
    let overall = mp.add(progress_bar(exps.len() as u64, "reproduce", false));
    if !a.quiet {
        let quick = if a.quick { " --quick" } else { "" };
        let (n, dir) = (exps.len(), data.dir.display());
        eprintln!("reproduce{quick}: {n} runs on {jobs} threads, data {dir}");
    }
    // every worker takes the costliest run left until none is, or one has failed
    let mut order: Vec<usize> = (0..exps.len()).collect();
    order.sort_by(|&x, &y| cost(&exps[y].cfg).total_cmp(&cost(&exps[x].cfg)));
    let (next, failed) = (AtomicUsize::new(0), AtomicBool::new(false));
    let slots: Vec<OnceLock<RunReport>> = exps.iter().map(|_| OnceLock::new()).collect();
    let work = || -> Result<()> {
        while let Some(&i) = order.get(next.fetch_add(1, Relaxed)) {
            if failed.load(Relaxed) {
                break;
            }
            let e = &exps[i];
            let done = train_one(a, e, &data, &mp, &overall)
                .with_context(|| format!("experiment {}", e.name))
                .inspect_err(|_| failed.store(true, Relaxed))?;
            overall.set_message(format!("last: {} {:.4}", e.name, done.test_accuracy));
            overall.inc(1);
            let _ = slots[i].set(done);
        }
        Ok(())
    };
    let finished = std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs.min(exps.len())).map(|_| s.spawn(work)).collect();
        let failed_thread = |_| Err(anyhow!("a training thread failed"));
        workers
            .into_iter()
            .try_for_each(|w| w.join().unwrap_or_else(failed_thread))
    });
    overall.finish_and_clear();
    finished?;
    let done: Vec<RunReport> = slots.into_iter().filter_map(OnceLock::into_inner).collect();
    let wall = started.elapsed().as_secs_f64();
    let run = Reproduction {
        out: &a.out,
        quick: a.quick,
        seed: a.seed,
        wall,
        data_dir: &data.dir,
    };
    write_outputs(&run, &groups, &done)?;
    let (n, report) = (done.len(), a.out.join("REPORT.md"));
    say(&format!(
        "reproduce: {n} runs in {wall:.0} s; wrote {}",
        report.display()
    ));
    Ok(())
}

/// Experiment `e` trained under its own progress bar, its `metrics.csv` written, and what the
/// report says of it.
fn train_one(
    a: &ReproduceArgs,
    e: &Experiment,
    data: &Mnist,
    mp: &MultiProgress,
    overall: &ProgressBar,
) -> Result<RunReport> {
    let bar = progress_bar(e.cfg.iterations as u64, &e.group, false);
    let pb = mp.insert_before(overall, bar);
    let label: String = e.name.chars().take(40).chain(": ".chars()).collect();
    let show = &mut show_progress(&pb, &label);
    let r = train::run(&e.cfg, &data.train, &data.test, show);
    pb.finish_and_clear();
    mp.remove(&pb);
    let r = r?;
    let (train_samples, test_samples) = e.cfg.used(data.train.len(), data.test.len());
    let dir = Path::new("runs").join(format!("{}-{}", e.group, slug(&e.name)));
    let full = a.out.join(&dir);
    create_out_dir(&full)?;
    write_csv(&full.join("metrics.csv"), &r.records)?;
    Ok(RunReport {
        experiment: e.group.clone(),
        name: e.name.clone(),
        config: json_value(&e.cfg)?,
        test_accuracy: r.test_accuracy,
        train_accuracy: r.train_accuracy,
        best_test_accuracy: r.best_test_accuracy,
        course_accuracy: e.course,
        train_samples,
        test_samples,
        wall_time_s: r.wall_time_s,
        samples_per_s: r.samples_per_s,
        metrics: dir.join("metrics.csv").display().to_string(),
        records: r.records,
        note: e.note.clone(),
    })
}
