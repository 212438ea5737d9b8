//! `shinso demo`: the whole story in one command.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use clap::Args;
use serde::Serialize;
use shinso_proto::{Request, Response};

use super::requests::{check_images, eval, learn, push};
use super::session::Session;
use super::span;
use crate::data::{DataArgs, Mnist};
use crate::io;
use crate::nets::{predict_all, Model, Preset};
use crate::train::{self, TrainConfig};
use crate::ui::{progress_bar, say};

/// `shinso demo`: the whole story in one command.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// A trained double-convnet (safetensors or blob) to push instead of training one here
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Epochs of host training when no --model is given (default: the double-convnet
    /// preset's recipe, 30 epochs, about 2 minutes)
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Test images to evaluate on the device
    #[arg(long, default_value_t = 1000)]
    pub eval_count: usize,
    /// Training images to stream to the device's learner
    #[arg(long, default_value_t = 2000)]
    pub learn_count: usize,
    /// Test images to evaluate the learner on afterwards (0: skip)
    #[arg(long, default_value_t = 500)]
    pub learner_eval_count: usize,
    /// The full story: the whole test set, one pass over the whole training set
    #[arg(long)]
    pub full: bool,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// Firmware ELF to boot (default: build it)
    #[arg(long, value_name = "FILE")]
    pub elf: Option<PathBuf>,
    /// Use the pty emulation even if QEMU is installed
    #[arg(long)]
    pub no_qemu: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

/// What `shinso demo` found.
#[derive(Serialize, Debug)]
pub struct DemoSummary {
    pub backend: String,
    pub host_test_accuracy: f64,
    pub host_test_images: usize,
    pub device_test_accuracy: f64,
    pub device_test_images: usize,
    pub agreement: f64,
    /// Fraction of the device's test images whose scores are the host's, bit for bit.
    pub identical_scores: f64,
    pub online_samples: usize,
    pub online_prequential_accuracy: f64,
    pub online_last_quarter_accuracy: f64,
    pub online_test_accuracy: Option<f64>,
    pub online_test_images: usize,
    pub counter: String,
    pub per_inference: u64,
    pub per_learning_step: u64,
    pub flash_bytes: u32,
    pub ram_bytes: u32,
    pub stack_bytes: u32,
    pub stack_used_bytes: u32,
    pub heap_bytes: u32,
    pub heap_used_bytes: u32,
    pub fine_tuning: super::finetune::FineTuneSummary,
    pub seconds: f64,
}

/// The host training the demo does: the `double-convnet` preset's recipe (Adam, batch 50,
/// random shifts of ±2 pixels, cosine decay), `epochs` overriding its 30.
fn demo_training(data: &Mnist, epochs: Option<usize>) -> Result<TrainConfig> {
    let mut cfg = TrainConfig::for_preset(Preset::DoubleConvnet, data.train.len());
    if let Some(e) = epochs {
        cfg.iterations = e
            .checked_mul(data.train.len().div_ceil(cfg.batch_size))
            .filter(|&n| n <= train::MAX_ITERATIONS)
            .ok_or_else(|| {
                anyhow!(
                    "--epochs {e} is more than {} iterations",
                    train::MAX_ITERATIONS
                )
            })?
            .max(1);
    }
    Ok(cfg)
}

/// Train the device's inference net on the host as `cfg` says.
fn train_on_host(data: &Mnist, mut cfg: TrainConfig, quiet: bool) -> Result<Box<dyn Model>> {
    // The demo measures the model itself afterwards: evaluate only once, at the end.
    cfg.eval_every = cfg.iterations;
    let pb = progress_bar(cfg.iterations as u64, "train", quiet);
    let run = train::run(&cfg, &data.train, &data.test, &mut |p| {
        pb.set_position(p.iteration as u64);
        pb.set_message(format!("epoch {:.1}, loss {:.4}", p.epoch, p.loss));
    })?;
    pb.finish_and_clear();
    Ok(run.model)
}

/// `shinso demo`.
pub fn demo(a: &DemoArgs) -> Result<()> {
    let t0 = Instant::now();
    let data = a.data.load()?;
    check_images(&data.test)?;
    let eval_n = if a.full {
        data.test.len()
    } else {
        a.eval_count
    };
    let learn_n = if a.full {
        data.train.len()
    } else {
        a.learn_count
    };
    let training = demo_training(&data, a.epochs)?;
    let flags = ("(start)", "--eval-count");
    span(flags, 0, eval_n, data.test.len(), "test")?;
    let flags = ("(start)", "--learn-count");
    let learn_range = span(flags, 0, learn_n, data.train.len(), "training")?;
    let note = |s: &str| {
        if !a.json {
            eprintln!("{s}");
        }
    };
    // 1. A model from the host.
    let mut host = match &a.model {
        Some(f) => {
            note(&format!("1. host model: {}", f.display()));
            io::load(f, None, None)?.model
        }
        None => {
            let epochs = a
                .epochs
                .map_or("the preset's 30".to_string(), |e| e.to_string());
            note(&format!(
                "1. training the device's inference net (double-convnet) on the host, {epochs} epochs ..."
            ));
            train_on_host(&data, training, a.json)?
        }
    };
    if host.preset() != Preset::DoubleConvnet {
        bail!(
            "--model must be a double-convnet (the device's inference net), not {}",
            host.preset().name()
        );
    }
    let host_preds =
        predict_all(&mut *host, &data.test.images).map_err(|e| anyhow!("host model: {e}"))?;
    let host_acc = host_preds
        .iter()
        .zip(&data.test.labels)
        .filter(|(p, l)| p == l)
        .count() as f64
        / data.test.len() as f64;
    note(&format!(
        "   host test accuracy {host_acc:.4} on {} images",
        data.test.len()
    ));

    // 2. The emulated device.
    let mut s = Session::emulated(a.elf.as_deref(), a.no_qemu)?;
    note(&format!(
        "2. device up ({}): {}",
        s.backend, s.info.firmware
    ));

    // 3. Push and evaluate there.
    push(&mut s, &mut *host, Some(0))?;
    note(&format!(
        "3. pushed {} parameters; evaluating {eval_n} test images on the device ...",
        host.params()
    ));
    let ev = eval(&mut s, 0, &data.test, eval_n, Some(&mut *host), !a.json)?;

    // 4. Learn on the device.
    note(&format!(
        "4. streaming {learn_n} training images to the device's learner (Adam, from scratch, rate decaying over the stream) ..."
    ));
    super::finetune::one_pass_learner(&mut s, learn_range.len())?;
    let lr = learn(
        &mut s,
        &data.train,
        learn_range,
        !a.json,
        &|pixels, label| Request::Learn { pixels, label },
    )?;
    let learner_n = if a.full {
        data.test.len()
    } else {
        a.learner_eval_count.min(data.test.len())
    };
    let online_test = if learner_n > 0 {
        note(&format!(
            "   evaluating the learner on {learner_n} test images ..."
        ));
        Some(eval(&mut s, 1, &data.test, learner_n, None, !a.json)?.accuracy)
    } else {
        None
    };
    let fine_tuning = super::finetune::demo(&mut s, &data, eval_n, ev.accuracy, !a.json)?;
    let m = match s.ask("info", &Request::Info)? {
        Response::Info(i) => i.memory,
        _ => s.info.memory,
    };
    let summary = DemoSummary {
        backend: s.backend.to_string(),
        host_test_accuracy: host_acc,
        host_test_images: data.test.len(),
        device_test_accuracy: ev.accuracy,
        device_test_images: ev.n,
        agreement: ev.agreement.unwrap_or(0.0),
        identical_scores: ev.identical.unwrap_or(0.0),
        online_samples: lr.learned,
        online_prequential_accuracy: lr.prequential,
        online_last_quarter_accuracy: lr.last_quarter,
        online_test_accuracy: online_test,
        online_test_images: learner_n,
        counter: s.counter_unit().to_string(),
        per_inference: ev.count,
        per_learning_step: lr.count,
        flash_bytes: m.flash,
        ram_bytes: m.ram,
        stack_bytes: m.stack,
        stack_used_bytes: m.stack_used,
        heap_bytes: m.heap,
        heap_used_bytes: m.heap_used,
        fine_tuning,
        seconds: t0.elapsed().as_secs_f64(),
    };
    if a.json {
        say(&serde_json::to_string_pretty(&summary)?);
    } else {
        let unit = &summary.counter;
        say(&format!("shinso demo ({}):", summary.backend));
        say(&format!(
            "  host:   test accuracy {:.4} ({} images)",
            summary.host_test_accuracy, summary.host_test_images
        ));
        say(&format!(
            "  device: test accuracy {:.4} ({} images), agrees with the host on {:.4} (scores bit-identical on {:.4}), {} {unit} per inference",
            summary.device_test_accuracy, summary.device_test_images, summary.agreement, summary.identical_scores, summary.per_inference
        ));
        let online = summary.online_test_accuracy.map_or(String::new(), |a| {
            format!(
                ", test accuracy {a:.4} ({} images)",
                summary.online_test_images
            )
        });
        say(&format!(
            "  online: {} samples, prequential accuracy {:.4} (last quarter {:.4}){online}, {} {unit} per step",
            summary.online_samples, summary.online_prequential_accuracy, summary.online_last_quarter_accuracy, summary.per_learning_step
        ));
        say(&super::finetune::describe(&summary.fine_tuning, unit));
        if summary.ram_bytes == 0 {
            say("  memory: not measured (the application logic ran on the host)");
        } else {
            say(&format!(
                "  memory: flash {} B, RAM {} B static + {} B stack + {} B heap ({} used) = {} B",
                summary.flash_bytes,
                summary.ram_bytes,
                summary.stack_bytes,
                summary.heap_bytes,
                summary.heap_used_bytes,
                summary.ram_bytes + summary.stack_bytes + summary.heap_bytes
            ));
        }
        say(&format!("  {:.1} s", summary.seconds));
    }
    Ok(())
}
