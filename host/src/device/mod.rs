//! `shinso device`, `shinso emulate` and `shinso demo`: the host side of the device.
//!
//! The wire protocol is `shinso-proto`; the serial client, the QEMU runner and the pty
//! emulation of the device come from `shinso-link` (in `firmware/link`). The device holds two
//! models: 0 = `double-convnet` (inference; weights pushed from here), 1 = `online-convnet`
//! (learns on the device).
//!
//! Fine-tuning trains only the pushed `double-convnet`'s last layer (affine 800 → 10 and its
//! bias) by SGD on what its frozen convolutions compute: no optimizer state, and its gradients
//! fit in the arena an inference or a push already takes. Trained whole with Adam it would need
//! 102 KiB of optimizer state and a 94 KiB arena, more than the device has (firmware README).

mod checkpoint;
mod demo;
mod session;

use std::ops::Range;
use std::path::PathBuf;

use anyhow::{ensure, Result};
use clap::{Args, Subcommand};
use shinso::optim::limits;
use shinso::{OptimizerKind, Rule};
use shinso_proto::{LearnStats, Request};

use crate::data::rotate::rotate;
use crate::data::{DataArgs, Dataset};
use crate::io;
use crate::nets::Model;
use crate::ui::say;
pub use demo::{demo, DemoArgs};
use session::{Emulator, Session, Student, TIMEOUT};

/// `shinso device --port PATH <command>`.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Serial port of the device (a board's /dev/ttyACM0, or a pseudo-terminal)
    #[arg(long, value_name = "PATH")]
    pub port: PathBuf,
    #[command(subcommand)]
    pub command: DeviceCommand,
}

/// `shinso emulate [--elf FILE] <command>`.
#[derive(Args, Debug, Clone)]
pub struct EmulateArgs {
    #[command(flatten)]
    pub emulator: Emulator,
    #[command(subcommand)]
    pub command: DeviceCommand,
}

/// What to ask the device.
#[derive(Subcommand, Debug, Clone)]
pub enum DeviceCommand {
    /// Firmware, models, memory budget
    Info,
    /// Learner statistics: samples seen, prequential accuracy, last loss
    Stats,
    /// Classify test images on the device
    Infer(InferArgs),
    /// Stream training images to the device's online learner
    Learn(LearnArgs),
    /// Send a model file (safetensors or device blob) to the device
    Push {
        /// Model file (a double-convnet or online-convnet from `shinso train`/`export`)
        file: PathBuf,
        /// Device model id (default: the model whose signature the file carries)
        #[arg(long)]
        model_id: Option<u8>,
    },
    /// Read a model's weights back into a device blob file
    Pull {
        /// Output file
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        model_id: u8,
    },
    /// Fine-tune a pushed model's last layer on training images (SGD, linear decay)
    Finetune(FineTuneArgs),
    /// Accuracy of a device model on the test set, and its cost per inference
    Eval(EvalArgs),
    /// Pull the learner's whole state (weights, optimizer state, step count) into a model
    /// file that `shinso eval` also reads
    Checkpoint {
        /// Output file (safetensors)
        #[arg(long)]
        out: PathBuf,
    },
    /// Push a file from `checkpoint` back into the learner (checked whole first, on the host
    /// and again on the device, before anything changes)
    Restore {
        /// A file written by `shinso device checkpoint`
        file: PathBuf,
    },
    /// Save the learner's state to the device's flash now, or with --every set when it saves
    /// by itself; then show its checkpoints
    Save {
        /// Save after every N-th learning step from now on (0: never)
        #[arg(long, value_name = "N")]
        every: Option<u32>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct InferArgs {
    /// Device model id (0 = double-convnet, 1 = online-convnet)
    #[arg(long, default_value_t = 0)]
    model_id: u8,
    /// First test image
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// Number of images
    #[arg(long, default_value_t = 1)]
    count: usize,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Args, Debug, Clone)]
pub struct LearnArgs {
    /// Number of samples (default: the whole training set)
    #[arg(long)]
    count: Option<usize>,
    /// First training image
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Choose the update rule first
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerKind>,
    /// Learning rate for --optimizer (default: Adam 0.001, Momentum 0.01, SGD 0.1, ...)
    #[arg(long, requires = "optimizer")]
    lr: Option<f32>,
    /// Re-initialise the learner from this seed first
    #[arg(long)]
    reset: Option<u64>,
    #[command(flatten)]
    data: DataArgs,
}

/// `shinso device finetune`: stream labelled training images to a pushed model's last layer.
#[derive(Args, Debug, Clone)]
pub struct FineTuneArgs {
    /// Number of samples (default: 1,000)
    #[arg(long, default_value_t = demo::FINETUNE_SAMPLES)]
    count: usize,
    /// First training image
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Device model id (the pushed double-convnet is 0)
    #[arg(long, default_value_t = 0)]
    model_id: u8,
    /// SGD rate of the first step
    #[arg(long, default_value_t = demo::FINETUNE_LR)]
    lr: f32,
    /// Steps over which the rate decays linearly to 0 (default: --count; 0 keeps it constant)
    #[arg(long)]
    decay_steps: Option<u32>,
    /// Rotate the training images by this many degrees first (the demo's domain shift is 30)
    #[arg(long, value_name = "DEGREES")]
    rotate: Option<f64>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    #[arg(long, default_value_t = 0)]
    model_id: u8,
    /// Number of test images (default: all)
    #[arg(long)]
    count: Option<usize>,
    /// Also run this model file on the host and report how often the two agree
    #[arg(long, value_name = "FILE")]
    compare: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

/// `shinso device`.
pub fn device(a: &DeviceArgs) -> Result<()> {
    run(&mut Session::open(&a.port)?, &a.command)
}

/// `shinso emulate`.
pub fn emulate(a: &EmulateArgs) -> Result<()> {
    run(&mut Session::emulated(&a.emulator)?, &a.command)
}

/// What [`span`] names in its messages: the set, the flag that picks the first image, the one
/// that says how many.
type Flags<'a> = (&'a str, &'a str, &'a str);
const TRAINING: Flags = ("training", "--offset", "--count");
const TEST: Flags = ("test", "--index", "--count");

/// The images `start .. start + count` of `set`, or why not: a request past the end is
/// refused, not cut short.
fn span(
    (what, start_flag, count_flag): Flags,
    start: usize,
    count: usize,
    set: &Dataset,
) -> Result<Range<usize>> {
    let len = set.len();
    let (last, left) = (len.saturating_sub(1), len.saturating_sub(start));
    ensure!(count > 0, "{count_flag} must be at least 1");
    ensure!(
        start < len,
        "{start_flag} {start} is past the end of the {what} set ({len} images, 0 to {last})"
    );
    ensure!(
        count <= left,
        "{count_flag} {count} from image {start} runs past the end of the {what} set ({len} images: at most {left} from there)"
    );
    Ok(start..start + count)
}

fn run(s: &mut Session, cmd: &DeviceCommand) -> Result<()> {
    let unit = s.counter_unit();
    match cmd {
        DeviceCommand::Info => print_info(s),
        DeviceCommand::Stats => {
            let st: LearnStats = s.ask("stats", &Request::Stats)?;
            say(&format!(
                "samples seen {}, prequential accuracy {:.4} ({} right), last loss {:.4}, rolled back {}, bytes dropped by the receiver {}",
                st.samples_seen, st.prequential_accuracy, st.prequential_correct, st.last_loss, st.rolled_back, st.rx_dropped
            ));
        }
        DeviceCommand::Infer(a) => {
            let test = a.data.load()?.test;
            s.model_info(a.model_id)?;
            for i in span(TEST, a.index, a.count, &test)? {
                let r = s.infer(a.model_id, &test, i)?;
                let (p, label) = (r.scores[r.class as usize], test.labels[i]);
                say(&format!(
                    "image {i}: class {} (p {p:.3}), label {label}, {} {unit}",
                    r.class, r.count
                ));
            }
        }
        DeviceCommand::Learn(a) => {
            let train = a.data.load()?.train;
            let count = (a.count).unwrap_or(train.len().saturating_sub(a.offset).max(1));
            let range = span(TRAINING, a.offset, count, &train)?;
            if let Some(o) = a.optimizer {
                s.configure(o, a.lr)?;
            }
            if let Some(seed) = a.reset {
                s.ask::<()>("reset", &Request::Reset { seed })?;
            }
            let r = s.learn(Student::Learner, &train, range)?;
            let rolled = match r.rolled_back {
                0 => String::new(),
                n => format!(" ({n} rolled back by the device: not finite)"),
            };
            say(&format!(
                "learned {} of {} samples{rolled}: prequential accuracy {:.4} over them ({:.4} over the last quarter), {} {unit} per step, device total {} samples",
                r.learned(), r.learned() + r.rolled_back, r.accuracy(..), r.last_quarter(), r.per_step(), r.samples_seen
            ));
        }
        DeviceCommand::Finetune(a) => {
            limits::lr_range(&Rule::sgd(a.lr)).check("--lr", a.lr)?;
            let mut train = a.data.load()?.train;
            let range = span(TRAINING, a.offset, a.count, &train)?;
            if let Some(deg) = a.rotate {
                train = rotate(&train, deg);
            }
            let decay = a.decay_steps.unwrap_or(u32::try_from(range.len())?);
            s.schedule(a.model_id, a.lr, decay)?;
            let r = s.learn(Student::LastLayer(a.model_id), &train, range)?;
            say(&format!(
                "fine-tuned model {}'s last layer on {} samples ({} rolled back): it predicted {:.4} of them right before learning each ({:.4} over the last quarter), {} {unit} per step",
                a.model_id, r.learned(), r.rolled_back, r.accuracy(..), r.last_quarter(), r.per_step()
            ));
        }
        DeviceCommand::Push { file, model_id } => {
            let mut model = io::load(file, None, None)?.model;
            let id = s.push(&mut *model, *model_id)?;
            let (n, name) = (model.preset().shape().1, model.preset().name());
            say(&format!(
                "pushed {} ({n} parameters of {name}) to model {id}",
                file.display()
            ));
        }
        DeviceCommand::Pull { out, model_id } => {
            let blob = s.pull(*model_id)?;
            io::write_atomic(out, &blob)?;
            let (out, len) = (out.display(), blob.len());
            say(&format!("wrote {out} ({len} bytes, model {model_id})"));
        }
        DeviceCommand::Eval(a) => {
            let (test, model_id) = (a.data.load()?.test, a.model_id);
            let n = a.count.unwrap_or(test.len());
            span(TEST, 0, n, &test)?;
            let compare = a.compare.as_ref().map(|f| io::load(f, None, None));
            let mut host = compare.transpose()?.map(|l| l.model);
            let host = host.as_mut().map(|m| &mut **m as &mut dyn Model);
            let r = s.eval(model_id, &test, n, host)?;
            let agrees = r.agreement.map_or(String::new(), |(a, b)| {
                format!(", agrees with the host on {a:.4} (scores bit-identical on {b:.4})")
            });
            say(&format!(
                "model {model_id}: accuracy {:.4} on {} test images, {} {unit} per inference{agrees}",
                r.accuracy, r.n, r.count
            ));
        }
        DeviceCommand::Checkpoint { out } => {
            let preset = checkpoint::learner_preset(s)?;
            let state = checkpoint::pull_state(s, preset)?;
            let (file, h) = checkpoint::to_file(&state, preset)?;
            io::write_atomic(out, &file)?;
            let (rule, len) = (checkpoint::rule_name(h.rule.kind()), state.len());
            let (out, name, steps) = (out.display(), preset.name(), h.steps);
            say(&format!(
                "wrote {out}: the {name} learner after {steps} steps, {rule} ({len} bytes of state)"
            ));
        }
        DeviceCommand::Restore { file } => {
            let bytes = checkpoint::from_file(file, checkpoint::learner_preset(s)?)?;
            let (len, crc) = (bytes.len() as u32, shinso::model::crc32(&bytes));
            let begin = Request::RestoreBegin { len, crc };
            s.transfer("restore", bytes.len(), |link, progress| {
                link.send(&begin, &bytes, TIMEOUT, progress)
            })?;
            let (file, len) = (file.display(), bytes.len());
            say(&format!("restored the learner from {file} ({len} bytes)"));
        }
        DeviceCommand::Save { every } => {
            let req = match *every {
                Some(steps) => {
                    s.ask::<()>("save", &Request::CheckpointEvery { steps })?;
                    Request::CheckpointStatus
                }
                None => Request::SaveCheckpoint,
            };
            say(&checkpoint::describe(&s.ask("save", &req)?));
        }
    }
    Ok(())
}

fn print_info(s: &Session) {
    let i = &s.info;
    let (firmware, protocol, hz, unit) = (&i.firmware, i.protocol, i.clock_hz, s.counter_unit());
    say(&format!(
        "{firmware} (protocol {protocol}), {hz} Hz, counts {unit}"
    ));
    for m in &i.models {
        let learns = if m.trainable { ", learns" } else { "" };
        let heap = match m.heap {
            0 => String::new(),
            h => format!(", optimizer state {h} B on the heap"),
        };
        say(&format!(
            "  model {}: {} ({} parameters, signature {:#018x}{learns}), RAM {} B{heap}, arena share {} B (in all {} B)",
            m.id, m.name, m.params, m.signature, m.ram, m.arena, m.ram + m.heap + m.arena
        ));
    }
    let b = i.memory;
    say(&if b.flash == 0 {
        format!(
            "  memory: arena {} B; the rest not measured (the application logic runs on the host)",
            b.arena
        )
    } else {
        format!(
            "  memory: flash {} B, static RAM {} B (arena {} B), stack {} B ({} B used so far), heap {} B ({} B used); RAM in all {} of {} B",
            b.flash, b.ram, b.arena, b.stack, b.stack_used, b.heap, b.heap_used, b.ram + b.stack + b.heap, 192 * 1024
        )
    });
}
