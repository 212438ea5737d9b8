//! Fine-tuning the pushed model on the device (`shinso device finetune`; the demo tells its
//! story under a domain shift), and the one-pass learner's recipe.
//!
//! The device trains only the pushed `double-convnet`'s last layer (affine 800 → 10 and its
//! bias) by SGD on what its frozen convolutions compute: no optimizer state, and its gradients
//! fit in the arena an inference or a push already takes. Trained whole with Adam it would need
//! 102 KiB of optimizer state and a 94 KiB arena, more than the device has (firmware README).

use anyhow::Result;
use clap::Args;
use shinso::optim::{limits, Kind};
use shinso_proto::Request;

use super::requests::{learn, Student};
use super::session::Session;
use crate::data::rotate::rotate;
use crate::data::DataArgs;
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

/// Sets `model`'s rate: `lr`, decaying linearly to 0 over `decay_steps` steps (0: constant).
pub(super) fn schedule(s: &mut Session, model: u8, lr: f32, decay_steps: u32) -> Result<()> {
    let req = Request::Schedule {
        model,
        lr,
        decay_steps,
    };
    s.ask("schedule", &req)
}

/// Starts the learner afresh on the one-pass recipe: Adam at [`LEARNER_LR`] decaying to 0 over
/// `steps` samples, weights from seed 42.
pub(super) fn one_pass_learner(s: &mut Session, steps: usize) -> Result<()> {
    let (optimizer, lr) = (Kind::Adam, LEARNER_LR);
    s.ask::<()>("configure", &Request::Configure { optimizer, lr })?;
    s.ask::<()>("reset", &Request::Reset { seed: 42 })?;
    schedule(s, 1, lr, u32::try_from(steps)?)
}

/// `shinso device finetune`.
pub(super) fn command(s: &mut Session, a: &FineTuneArgs) -> Result<()> {
    limits::lr_range(&shinso::Rule::sgd(a.lr)).check("--lr", a.lr)?;
    let train = a.data.load()?.train;
    let flags = ("--offset", "--count");
    let range = super::span(flags, a.offset, a.count, train.len(), "training")?;
    let decay = a.decay_steps.unwrap_or(u32::try_from(range.len())?);
    let train = match a.rotate {
        Some(deg) => rotate(&train, deg),
        None => train,
    };
    schedule(s, a.model_id, a.lr, decay)?;
    let r = learn(s, Student::LastLayer(a.model_id), &train, range, true)?;
    say(&format!(
        "fine-tuned model {}'s last layer on {} samples ({} rolled back): it predicted {:.4} of them right before learning each ({:.4} over the last quarter), {} {} per step",
        a.model_id, r.learned(), r.rolled_back, r.accuracy(..), r.last_quarter(), r.per_step(), s.counter_unit()
    ));
    Ok(())
}
