//! `shinso demo`: the whole story in one command.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde::Serialize;
use serde_json::json;
use shinso::OptimizerKind;
use shinso_link::Tally;
use shinso_proto::{DeviceInfo, Request};

use super::session::{Emulator, Session, Student};
use super::span;
use crate::data::rotate::{rotate, DEMO_DEGREES};
use crate::data::{DataArgs, Dataset, Mnist};
use crate::io;
use crate::nets::Preset;
use crate::train::{self, TrainConfig};
use crate::ui::{progress_bar, say, show_progress};

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
    #[command(flatten)]
    pub emulator: Emulator,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Fine-tuning samples in `shinso demo` (and `device finetune`'s default).
pub const FINETUNE_SAMPLES: usize = 1000;
/// The fine-tuning rate: SGD at 0.01, decayed linearly to 0 over the samples.
pub const FINETUNE_LR: f32 = 0.01;
/// The one-pass learner's rate: Adam at 0.003, decayed linearly to 0 over the stream (0.9719
/// on the official test set after one pass over the 10,000 bundled training images, the
/// device moving each step's image by one pixel; without the moves 0.9689, against 0.962 at a
/// constant 0.001; 0.002 gives 0.9666, 0.004 0.9690, 0.005 0.9652).
const LEARNER_LR: f32 = 0.003;

/// What fine-tuning achieved under the demo's domain shift (accuracies on the device, over the
/// same test images rotated or not).
#[derive(Serialize, Debug)]
struct FineTuneSummary {
    /// How the shifted data is made.
    shift: String,
    /// Rotated training images the device learned from.
    samples: usize,
    /// Test images each accuracy is measured on.
    test_images: usize,
    /// The pushed model on the rotated test images, before fine-tuning.
    shifted_before: f64,
    /// The same, after fine-tuning on `samples` rotated training images.
    shifted_after: f64,
    /// The online learner trained from scratch on the same samples, on the rotated test images.
    from_scratch_shifted: f64,
    /// The pushed model on the original test images before fine-tuning …
    original_before: f64,
    /// … and after (what fine-tuning made it forget).
    original_after: f64,
    /// Fraction of the gap between `shifted_before` and `original_before` won back.
    gap_recovered: f64,
    /// Cost of one fine-tuning step on the device.
    per_step: u64,
}

/// The host training the demo does: the `double-convnet` preset's recipe (Adam, batch 50,
/// random shifts of ±2 pixels, cosine decay), `epochs` overriding its 30.
fn demo_training(data: &Mnist, epochs: Option<usize>) -> Result<TrainConfig> {
    let mut cfg = TrainConfig::for_preset(Preset::DoubleConvnet, data.train.len());
    if let Some(e) = epochs {
        let max = train::MAX_ITERATIONS;
        cfg.iterations = (e.checked_mul(data.train.len().div_ceil(cfg.batch_size)))
            .filter(|&n| n <= max)
            .ok_or_else(|| anyhow!("--epochs {e} is more than {max} iterations"))?
            .max(1);
    }
    // The demo measures the model itself afterwards: evaluate only once, at the end.
    cfg.eval_every = cfg.iterations;
    Ok(cfg)
}

/// Streams the training images `range` to the learner started afresh on the one-pass recipe:
/// Adam at [`LEARNER_LR`] decaying to 0 over the stream, weights from seed 42.
fn one_pass(s: &mut Session, train: &Dataset, range: Range<usize>) -> Result<Tally> {
    s.configure(OptimizerKind::Adam, Some(LEARNER_LR))?;
    s.ask::<()>("reset", &Request::Reset { seed: 42 })?;
    s.schedule(1, LEARNER_LR, u32::try_from(range.len())?)?;
    s.learn(Student::Learner, train, range)
}

/// `shinso demo`.
pub fn demo(a: &DemoArgs) -> Result<()> {
    let t0 = Instant::now();
    let data = a.data.load()?;
    let test_n = data.test.len();
    let learner_n = a.learner_eval_count.min(test_n);
    let (eval_n, learn_n, learner_n) = match a.full {
        true => (test_n, data.train.len(), test_n),
        false => (a.eval_count, a.learn_count, learner_n),
    };
    let training = demo_training(&data, a.epochs)?;
    span(("test", "(start)", "--eval-count"), 0, eval_n, &data.test)?;
    let flags = ("training", "(start)", "--learn-count");
    let learn_range = span(flags, 0, learn_n, &data.train)?;
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
            let epochs = a.epochs.map_or("the preset's 30".into(), |e| e.to_string());
            note(&format!(
                "1. training the device's inference net (double-convnet) on the host, {epochs} epochs ..."
            ));
            let pb = progress_bar(training.iterations as u64, "train", a.json);
            let show = &mut show_progress(&pb, "");
            let run = train::run(&training, &data.train, &data.test, show)?;
            pb.finish_and_clear();
            run.model
        }
    };
    if host.preset() != Preset::DoubleConvnet {
        let name = host.preset().name();
        bail!("--model must be a double-convnet (the device's inference net), not {name}");
    }
    let host_acc = (train::evaluate(&mut *host, &data.test, test_n))
        .context("host model")?
        .accuracy();
    note(&format!(
        "   host test accuracy {host_acc:.4} on {test_n} images"
    ));

    // 2. The emulated device.
    let mut s = Session::emulated(&a.emulator)?;
    s.quiet = a.json;
    let (backend, firmware) = (s.backend.name(), &s.info.firmware);
    note(&format!("2. device up ({backend}): {firmware}"));

    // 3. Push and evaluate there.
    s.push(&mut *host, Some(0))?;
    note(&format!(
        "3. pushed {} parameters; evaluating {eval_n} test images on the device ...",
        host.params()
    ));
    let ev = s.eval(0, &data.test, eval_n, Some(&mut *host))?;

    // 4. Learn on the device.
    note(&format!(
        "4. streaming {learn_n} training images to the device's learner (Adam, from scratch, rate decaying over the stream) ..."
    ));
    let lr = one_pass(&mut s, &data.train, learn_range)?;
    let online_test = if learner_n > 0 {
        note(&format!(
            "   evaluating the learner on {learner_n} test images ..."
        ));
        Some(s.eval(1, &data.test, learner_n, None)?.accuracy)
    } else {
        None
    };

    // 5. Fine-tune under a domain shift.
    let ft = fine_tune_story(&mut s, &data, eval_n, ev.accuracy, &note)?;
    let m = s.ask::<DeviceInfo>("info", &Request::Info)?.memory;
    let (unit, seconds) = (s.counter_unit(), t0.elapsed().as_secs_f64());
    let (agree, identical) = ev.agreement.unwrap_or_default();
    if a.json {
        // `identical_scores`: the fraction of the device's test images whose scores are the
        // host's, bit for bit.
        let summary = json!({
            "backend": backend,
            "host_test_accuracy": host_acc,
            "host_test_images": test_n,
            "device_test_accuracy": ev.accuracy,
            "device_test_images": ev.n,
            "agreement": agree,
            "identical_scores": identical,
            "online_samples": lr.learned(),
            "online_prequential_accuracy": lr.accuracy(..),
            "online_last_quarter_accuracy": lr.last_quarter(),
            "online_test_accuracy": online_test,
            "online_test_images": learner_n,
            "counter": unit,
            "per_inference": ev.count,
            "per_learning_step": lr.per_step(),
            "flash_bytes": m.flash,
            "ram_bytes": m.ram,
            "stack_bytes": m.stack,
            "stack_used_bytes": m.stack_used,
            "heap_bytes": m.heap,
            "heap_used_bytes": m.heap_used,
            "fine_tuning": ft,
            "seconds": seconds,
        });
        say(&serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    let online = online_test.map_or(String::new(), |a| {
        format!(", test accuracy {a:.4} ({learner_n} images)")
    });
    let (flash, stack, heap, used) = (m.flash, m.stack, m.heap, m.heap_used);
    let memory = match m.ram {
        0 => "not measured (the application logic ran on the host)".to_string(),
        ram => format!(
            "flash {flash} B, RAM {ram} B static + {stack} B stack + {heap} B heap ({used} used) = {} B",
            ram + stack + heap
        ),
    };
    say(&[
        format!("shinso demo ({backend}):"),
        format!("  host:   test accuracy {host_acc:.4} ({test_n} images)"),
        format!(
            "  device: test accuracy {:.4} ({} images), agrees with the host on {agree:.4} (scores bit-identical on {identical:.4}), {} {unit} per inference",
            ev.accuracy, ev.n, ev.count
        ),
        format!(
            "  online: {} samples, prequential accuracy {:.4} (last quarter {:.4}){online}, {} {unit} per step",
            lr.learned(), lr.accuracy(..), lr.last_quarter(), lr.per_step()
        ),
        format!(
            "  fine-tuning ({}): rotated test {:.4} → {:.4} after {} device samples ({:.0}% of the gap won back; the learner from scratch on them {:.4}), original test {:.4} → {:.4} ({} images), {} {unit} per step",
            ft.shift, ft.shifted_before, ft.shifted_after, ft.samples, 100.0 * ft.gap_recovered, ft.from_scratch_shifted, ft.original_before, ft.original_after, ft.test_images, ft.per_step
        ),
        format!("  memory: {memory}"),
        format!("  {seconds:.1} s"),
    ]
    .join("\n"));
    Ok(())
}

/// The pushed model (model 0, scoring `original_before` on the first `eval_n` test images)
/// meets digits rotated by [`DEMO_DEGREES`], learns its last layer from [`FINETUNE_SAMPLES`]
/// of them, and is measured again on both; the online learner learns the same samples from
/// scratch for comparison.
fn fine_tune_story(
    s: &mut Session,
    data: &Mnist,
    eval_n: usize,
    original_before: f64,
    note: &dyn Fn(&str),
) -> Result<FineTuneSummary> {
    let deg = DEMO_DEGREES;
    let (test, train) = (rotate(&data.test, deg), rotate(&data.train, deg));
    let n = FINETUNE_SAMPLES.min(data.train.len());
    note(&format!(
        "5. fine-tuning under a domain shift (digits rotated by {deg}°): {eval_n} rotated test images before, {n} rotated training images to the last layer, then both test sets ..."
    ));
    let before = s.eval(0, &test, eval_n, None)?;
    s.schedule(0, FINETUNE_LR, u32::try_from(n)?)?;
    let tuned = s.learn(Student::LastLayer(0), &train, 0..n)?;
    let after = s.eval(0, &test, eval_n, None)?.accuracy;
    let original_after = s.eval(0, &data.test, eval_n, None)?.accuracy;
    note(&format!(
        "   the learner from scratch on the same {n} rotated images ..."
    ));
    one_pass(s, &train, 0..n)?;
    let scratch = s.eval(1, &test, eval_n, None)?.accuracy;
    let gap = original_before - before.accuracy;
    Ok(FineTuneSummary {
        shift: format!("test and training images rotated by {deg}° about the centre (bilinear, background fill)"),
        samples: tuned.learned(),
        test_images: before.n,
        shifted_before: before.accuracy,
        shifted_after: after,
        from_scratch_shifted: scratch,
        original_before,
        original_after,
        gap_recovered: if gap > 0.0 { (after - before.accuracy) / gap } else { 0.0 },
        per_step: tuned.per_step(),
    })
}
