//! `shinso device`, `shinso emulate` and `shinso demo`: the host side of the device.
//!
//! The wire protocol is `shinso-proto`; the serial client, the QEMU runner and the pty
//! emulation of the device come from `shinso-link` (in `firmware/link`). The device holds two
//! models: 0 = `double-convnet` (inference; weights pushed from here), 1 = `online-convnet`
//! (learns on the device).

mod checkpoint;
mod demo;
mod finetune;
mod requests;
mod session;

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use shinso::optim::limits;
use shinso_proto::{Request, Response};

use crate::data::DataArgs;
use crate::io;
use crate::nets::Model;
use crate::ui::say;
pub use demo::{demo, DemoArgs, DemoSummary};
use requests::{check_images, eval, infer, learn, pixels, pull, push};
pub use session::Session;
use shinso::OptimizerKind;

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
    /// Firmware ELF to boot (default: build firmware/ with `--features qemu`)
    #[arg(long, value_name = "FILE")]
    pub elf: Option<PathBuf>,
    /// Run the device's application logic on the host over a pseudo-terminal pair instead of
    /// QEMU (the default when qemu-system-arm is not installed)
    #[arg(long)]
    pub no_qemu: bool,
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
    Infer {
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
    },
    /// Stream training images to the device's online learner
    Learn {
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
        #[arg(long)]
        lr: Option<f32>,
        /// Re-initialise the learner from this seed first
        #[arg(long)]
        reset: Option<u64>,
        #[command(flatten)]
        data: DataArgs,
    },
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
    Finetune(finetune::FineTuneArgs),
    /// Accuracy of a device model on the test set, and its cost per inference
    Eval {
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
    },
    #[command(flatten)]
    Checkpoint(checkpoint::CheckpointCommand),
}

/// `shinso device`.
pub fn device(a: &DeviceArgs) -> Result<()> {
    let mut s = Session::open(&a.port)?;
    run(&mut s, &a.command)
}

/// `shinso emulate`.
pub fn emulate(a: &EmulateArgs) -> Result<()> {
    let mut s = Session::emulated(a.elf.as_deref(), a.no_qemu)?;
    run(&mut s, &a.command)
}

/// The images `start .. start + count` of a set of `len`, or why not: a request past the end
/// is refused, not cut short.
pub(crate) fn span(
    (start_flag, count_flag): (&str, &str),
    start: usize,
    count: usize,
    len: usize,
    set: &str,
) -> Result<std::ops::Range<usize>> {
    if count == 0 {
        bail!("{count_flag} must be at least 1");
    }
    if start >= len {
        bail!(
            "{start_flag} {start} is past the end of the {set} set ({len} images, 0 to {})",
            len.saturating_sub(1)
        );
    }
    if count > len - start {
        bail!(
            "{count_flag} {count} from image {start} runs past the end of the {set} set ({len} images: at most {} from there)",
            len - start
        );
    }
    Ok(start..start + count)
}

fn run(s: &mut Session, cmd: &DeviceCommand) -> Result<()> {
    match cmd {
        DeviceCommand::Info => print_info(s),
        DeviceCommand::Finetune(a) => finetune::command(s, a),
        DeviceCommand::Stats => {
            let Response::Stats(st) = s.ask("stats", &Request::Stats)? else {
                bail!("stats: unexpected answer")
            };
            say(&format!(
                "samples seen {}, prequential accuracy {:.4} ({} right), last loss {:.4}, rolled back {}, bytes dropped by the receiver {}",
                st.samples_seen, st.prequential_accuracy, st.prequential_correct, st.last_loss, st.rolled_back, st.rx_dropped
            ));
            Ok(())
        }
        DeviceCommand::Infer {
            model_id,
            index,
            count,
            data,
        } => {
            let data = data.load()?;
            check_images(&data.test)?;
            s.model_info(*model_id)?;
            for i in span(
                ("--index", "--count"),
                *index,
                *count,
                data.test.len(),
                "test",
            )? {
                let (class, scores, cost) = infer(s, *model_id, &pixels(&data.test, i))?;
                let top = scores[class as usize];
                say(&format!(
                    "image {i}: class {class} (p {top:.3}), label {}, {cost} {}",
                    data.test.labels[i],
                    s.counter_unit()
                ));
            }
            Ok(())
        }
        DeviceCommand::Learn {
            count,
            offset,
            optimizer,
            lr,
            reset,
            data,
        } => {
            let data = data.load()?;
            let range = span(
                ("--offset", "--count"),
                *offset,
                count.unwrap_or(data.train.len().saturating_sub(*offset).max(1)),
                data.train.len(),
                "training",
            )?;
            if let Some(o) = optimizer {
                configure(s, *o, *lr)?;
            } else if lr.is_some() {
                bail!("--lr needs --optimizer");
            }
            if let Some(seed) = reset {
                s.ask("reset", &Request::Reset { seed: *seed })?;
            }
            let r = learn(s, &data.train, range, true, &|pixels, label| {
                Request::Learn { pixels, label }
            })?;
            let rolled = if r.rolled_back > 0 {
                format!(" ({} rolled back by the device: not finite)", r.rolled_back)
            } else {
                String::new()
            };
            say(&format!(
                "learned {} of {} samples{rolled}: prequential accuracy {:.4} over them ({:.4} over the last quarter), {} {} per step, device total {} samples",
                r.learned, r.learned + r.rolled_back, r.prequential, r.last_quarter, r.count, s.counter_unit(), r.samples_seen
            ));
            Ok(())
        }
        DeviceCommand::Push { file, model_id } => {
            let mut model = io::load(file, None, None)?.model;
            let id = push(s, &mut *model, *model_id)?;
            say(&format!(
                "pushed {} ({} parameters of {}) to model {id}",
                file.display(),
                model.params() + model.state(),
                model.preset().name(),
            ));
            Ok(())
        }
        DeviceCommand::Pull { out, model_id } => {
            let blob = pull(s, *model_id)?;
            io::write_atomic(out, &blob)?;
            say(&format!(
                "wrote {} ({} bytes, model {model_id})",
                out.display(),
                blob.len()
            ));
            Ok(())
        }
        DeviceCommand::Eval {
            model_id,
            count,
            compare,
            data,
        } => {
            let data = data.load()?;
            let n = count.unwrap_or(data.test.len());
            span(("--index", "--count"), 0, n, data.test.len(), "test")?;
            let mut host = compare
                .as_ref()
                .map(|f| io::load(f, None, None).map(|l| l.model))
                .transpose()?;
            let host = host.as_mut().map(|m| &mut **m as &mut dyn Model);
            let r = eval(s, *model_id, &data.test, n, host, true)?;
            let mut line = format!(
                "model {model_id}: accuracy {:.4} on {} test images, {} {} per inference",
                r.accuracy,
                r.n,
                r.count,
                s.counter_unit()
            );
            if let (Some(a), Some(b)) = (r.agreement, r.identical) {
                line +=
                    &format!(", agrees with the host on {a:.4} (scores bit-identical on {b:.4})");
            }
            say(&line);
            Ok(())
        }
        DeviceCommand::Checkpoint(c) => checkpoint::run(s, c),
    }
}

/// Chooses the learner's rule, checking the rate against the core's ranges first (the device
/// checks the same, and would refuse it too).
fn configure(s: &mut Session, o: OptimizerKind, lr: Option<f32>) -> Result<()> {
    let lr = lr.unwrap_or(o.default_lr());
    limits::lr_range(&o.rule(lr))
        .check("--lr", lr)
        .map_err(|e| anyhow!("{e} (for {o:?})"))?;
    s.ask("configure", &Request::Configure { optimizer: o, lr })?;
    Ok(())
}

fn print_info(s: &Session) -> Result<()> {
    let i = &s.info;
    say(&format!(
        "{} (protocol {}), {} Hz, counts {}",
        i.firmware,
        i.protocol,
        i.clock_hz,
        s.counter_unit()
    ));
    for m in &i.models {
        say(&format!(
            "  model {}: {} ({} parameters, signature {:#018x}{}), RAM {} B{}, arena share {} B (in all {} B)",
            m.id,
            m.name,
            m.params,
            m.signature,
            if m.trainable { ", learns" } else { "" },
            m.ram,
            if m.heap > 0 {
                format!(", optimizer state {} B on the heap", m.heap)
            } else {
                String::new()
            },
            m.arena,
            m.ram + m.heap + m.arena
        ));
    }
    let b = i.memory;
    if b.flash == 0 {
        say(&format!(
            "  memory: arena {} B; the rest not measured (the application logic runs on the host)",
            b.arena
        ));
        return Ok(());
    }
    say(&format!(
        "  memory: flash {} B, static RAM {} B (arena {} B), stack {} B ({} B used so far), heap {} B ({} B used); RAM in all {} of {} B",
        b.flash,
        b.ram,
        b.arena,
        b.stack,
        b.stack_used,
        b.heap,
        b.heap_used,
        b.ram + b.stack + b.heap,
        192 * 1024
    ));
    Ok(())
}
