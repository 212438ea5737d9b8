//! `shinso device`, `shinso emulate` and `shinso demo`: the host side of the device.
//!
//! The wire protocol is `shinso-proto`; the serial client, the QEMU runner and the pty
//! emulation of the device come from `shinso-link` (in `firmware/link`). The device holds two
//! models: 0 = `double-convnet` (inference; weights pushed from here), 1 = `online-convnet`
//! (learns on the device).

mod finetune;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use shinso::optim::limits;
use shinso_link::{build_firmware, emulate_on_pty, Emulator, Link, LinkError, Qemu};
use shinso_proto::{
    self as proto, DeviceInfo, ErrorCode, Optimizer, Pixels, Request, Response, CHUNK,
};

use crate::cli::{progress_bar, say, DataArgs};
use crate::data::{Dataset, Mnist};
use crate::model::Model;
use crate::model_file;
use crate::presets::Preset;
use crate::train::{self, TrainConfig};

/// How long one request may take before the device counts as gone.
const TIMEOUT: Duration = Duration::from_secs(20);

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
        optimizer: Option<OptArg>,
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
}

/// Update rules, as the command line names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptArg {
    Sgd,
    Momentum,
    Adagrad,
    Rmsprop,
    Adam,
}

impl OptArg {
    fn wire(self) -> (Optimizer, f32) {
        match self {
            OptArg::Sgd => (Optimizer::Sgd, 0.1),
            OptArg::Momentum => (Optimizer::Momentum, 0.01),
            OptArg::Adagrad => (Optimizer::AdaGrad, 0.01),
            OptArg::Rmsprop => (Optimizer::RmsProp, 0.001),
            OptArg::Adam => (Optimizer::Adam, 0.001),
        }
    }
}

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

/// A connected device and what keeps it alive (QEMU, or the emulation thread).
struct Session {
    link: Link,
    info: DeviceInfo,
    backend: &'static str,
    _qemu: Option<Qemu>,
    _emu: Option<Emulator>,
}

fn link_err(e: LinkError) -> anyhow::Error {
    match e {
        LinkError::Timeout => anyhow!(
            "the device did not answer within {} s (is it running, and is this its port?)",
            TIMEOUT.as_secs()
        ),
        LinkError::HungUp => {
            anyhow!("the device hung up: its port closed mid-request (did it reset, or exit?)")
        }
        LinkError::Io(e) => anyhow!("serial port: {e}"),
    }
}

fn device_error(what: &str, code: ErrorCode, detail: u32) -> anyhow::Error {
    let why = match code {
        ErrorCode::BadFrame | ErrorCode::BadCrc => "the frame was damaged on the way".to_string(),
        ErrorCode::Unknown => {
            "the device does not know this request (firmware too old?)".to_string()
        }
        ErrorCode::Oversized => "the frame was too long".to_string(),
        ErrorCode::NonFinite => "a value is NaN or infinite".to_string(),
        ErrorCode::BadSignature => "the weights are for another network".to_string(),
        ErrorCode::BadLength => format!("wrong length (device expects {detail})"),
        ErrorCode::BadOffset => format!("out of order (device is at byte {detail})"),
        ErrorCode::BadBlobCrc => {
            "the weights' CRC does not match; the old weights stay".to_string()
        }
        ErrorCode::NoSuchModel => "no such model on the device".to_string(),
        ErrorCode::NotTrainable => "that model does not learn".to_string(),
        ErrorCode::BadValue => "a value is out of range".to_string(),
        ErrorCode::NoPush => "no push in progress (interrupted by another request?)".to_string(),
        ErrorCode::RolledBack => "the step was not finite and was undone".to_string(),
        ErrorCode::OutOfMemory => "the device is out of memory".to_string(),
        ErrorCode::Overrun => format!(
            "its receive queue overflowed and {detail} bytes were lost (send one request at a time)"
        ),
    };
    anyhow!("{what}: device refused: {why}")
}

impl Session {
    fn open(port: &Path) -> Result<Session> {
        let mut link =
            Link::open(port).with_context(|| format!("{}: cannot open", port.display()))?;
        let info = link.connect(TIMEOUT).map_err(link_err)?;
        Ok(Session {
            link,
            info,
            backend: "serial",
            _qemu: None,
            _emu: None,
        })
    }

    /// QEMU when available (building the firmware unless `elf` is given), else the pty
    /// emulation; says which on stderr.
    fn emulated(elf: Option<&Path>, no_qemu: bool) -> Result<Session> {
        let have_qemu = std::process::Command::new("qemu-system-arm")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if no_qemu || !have_qemu {
            if !no_qemu {
                eprintln!("qemu-system-arm not found: running the device's application logic on the host over a pseudo-terminal pair");
            }
            let emu = emulate_on_pty().context("cannot create a pseudo-terminal pair")?;
            let mut link = Link::open(&emu.path)?;
            let info = link.connect(TIMEOUT).map_err(link_err)?;
            return Ok(Session {
                link,
                info,
                backend: "pty emulation",
                _qemu: None,
                _emu: Some(emu),
            });
        }
        let elf = match elf {
            Some(e) => e.to_path_buf(),
            None => {
                eprintln!("building the firmware (cargo build --release --features qemu in firmware/) ...");
                build_firmware().map_err(|e| {
                    anyhow!("{}", e.lines().next().unwrap_or("firmware build failed"))
                })?
            }
        };
        let mut qemu = Qemu::boot(&elf).map_err(|e| anyhow!(e))?;
        eprintln!("QEMU: USART1 on {}", qemu.pty.display());
        let mut link = match Link::open(&qemu.pty) {
            Ok(l) => l,
            Err(e) => bail!(qemu.exited().unwrap_or_else(|| format!("QEMU's port: {e}"))),
        };
        // Booting takes a while; ask in short rounds so a QEMU that died says why at once.
        let deadline = Instant::now() + Duration::from_secs(60);
        let info = loop {
            match link.connect(Duration::from_secs(1)) {
                Ok(info) => break info,
                Err(e) => {
                    if let Some(why) = qemu.exited() {
                        bail!(why);
                    }
                    if !matches!(e, LinkError::Timeout) || Instant::now() > deadline {
                        return Err(link_err(e));
                    }
                }
            }
        };
        Ok(Session {
            link,
            info,
            backend: "QEMU",
            _qemu: Some(qemu),
            _emu: None,
        })
    }

    /// A link failure, with QEMU's own word when it is QEMU that went away.
    fn link_failed(&mut self, e: LinkError) -> anyhow::Error {
        match self._qemu.as_mut().and_then(Qemu::exited) {
            Some(why) => anyhow!(why),
            None => link_err(e),
        }
    }

    /// One request; errors the device answers become the error, with `what` in front.
    fn ask(&mut self, what: &str, req: &Request) -> Result<Response> {
        match self.link.request(req, TIMEOUT) {
            Err(e) => Err(self.link_failed(e)),
            Ok(Response::Error { code, detail }) => Err(device_error(what, code, detail)),
            Ok(r) => Ok(r),
        }
    }

    /// What the device said about model `id`: it must have listed one.
    fn model_info(&self, id: u8) -> Result<proto::ModelInfo> {
        self.info
            .models
            .iter()
            .find(|m| m.id == id)
            .cloned()
            .ok_or_else(|| {
                let ids: Vec<String> = self.info.models.iter().map(|m| m.id.to_string()).collect();
                anyhow!(
                    "the device has no model {id} (it lists {})",
                    if ids.is_empty() {
                        "none".to_string()
                    } else {
                        ids.join(", ")
                    }
                )
            })
    }

    fn counter_unit(&self) -> &'static str {
        match self.info.counter {
            proto::Counter::Instructions => "instructions",
            proto::Counter::Cycles => "cycles",
            proto::Counter::None => "(not counted)",
        }
    }
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg} ({eta})")
            .unwrap()
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

/// An image of the data set as the device takes it (the loader's `p / 255`, back to bytes).
fn pixels(ds: &Dataset, i: usize) -> Pixels {
    let mut p = [0u8; proto::PIXELS];
    for (o, v) in p.iter_mut().zip(ds.image(i)) {
        *o = (v * 255.0).round().clamp(0.0, 255.0) as u8;
    }
    Pixels(p)
}

fn check_images(ds: &Dataset) -> Result<()> {
    if ds.pixels() != proto::PIXELS {
        bail!(
            "the device takes 28×28 images; this data set has {}×{}",
            ds.rows,
            ds.cols
        );
    }
    Ok(())
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
fn span(
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
            let mut model = model_file::load(file, None, None)?.model;
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
            model_file::write_atomic(out, &blob)?;
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
                .map(|f| model_file::load(f, None, None).map(|l| l.model))
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
    }
}

/// Chooses the learner's rule, checking the rate against the core's ranges first (the device
/// checks the same, and would refuse it too).
fn configure(s: &mut Session, o: OptArg, lr: Option<f32>) -> Result<()> {
    let (optimizer, default_lr) = o.wire();
    let lr = lr.unwrap_or(default_lr);
    limits::lr_range(&shinso_app::slot::rule(optimizer, lr))
        .check("--lr", lr)
        .map_err(|e| anyhow!("{e} (for {optimizer:?})"))?;
    s.ask("configure", &Request::Configure { optimizer, lr })?;
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

/// One inference on the device. Nothing in the answer is taken on trust: the scores must be
/// finite and the class must be theirs by the core's rule (the one the device uses).
fn infer(s: &mut Session, model: u8, p: &Pixels) -> Result<(u8, [f32; 10], u64)> {
    match s.ask(
        "infer",
        &Request::Infer {
            model,
            pixels: p.clone(),
        },
    )? {
        Response::Inferred {
            class,
            scores,
            count,
        } => {
            let want = shinso::class_of(&scores).map_err(|_| {
                anyhow!("infer: the device's scores are NaN or infinite: {scores:?}")
            })?;
            if class as usize != want {
                bail!("infer: the device answered class {class}, but its scores say {want}");
            }
            Ok((class, scores, count))
        }
        r => bail!("infer: unexpected answer {r:?}"),
    }
}

/// Pushes a checked model's parameters; returns the model id. The device must list a model
/// of the same network (signature and size); it checks length, CRC and finiteness again
/// before it swaps the weights in.
fn push(s: &mut Session, model: &mut dyn Model, model_id: Option<u8>) -> Result<u8> {
    let (sig, floats) = model.preset().shape();
    let target = match model_id {
        Some(id) => s.model_info(id)?,
        None => s
            .info
            .models
            .iter()
            .find(|m| m.signature == sig)
            .cloned()
            .ok_or_else(|| {
                anyhow!(
                    "no model on the device is a {} (signature {sig:#018x})",
                    model.preset().name()
                )
            })?,
    };
    if target.signature != sig || target.params as usize != floats {
        bail!(
            "device model {} is {} ({} parameters, signature {:#018x}); the file is a {} ({floats}, {sig:#018x})",
            target.id,
            target.name,
            target.params,
            target.signature,
            model.preset().name()
        );
    }
    let blob = model.save_blob();
    let payload = &blob[shinso::model::HEADER..];
    s.ask(
        "push",
        &Request::PushBegin {
            model: target.id,
            signature: sig,
            len: payload.len() as u32,
            crc: proto::crc32(payload),
        },
    )?;
    let pb = bar(payload.len(), "push");
    for (k, c) in payload.chunks(CHUNK).enumerate() {
        let data = heapless::Vec::from_slice(c).expect("chunk size");
        s.ask(
            "push",
            &Request::PushChunk {
                offset: (k * CHUNK) as u32,
                data,
            },
        )?;
        pb.inc(c.len() as u64);
    }
    s.ask("push", &Request::PushEnd)?;
    pb.finish_and_clear();
    Ok(target.id)
}

/// A model's parameters as a device blob (with the core's header). Its size comes from the
/// host's own knowledge of the network the device names by signature, not from the device's
/// word; every chunk must be the next one and no longer than asked; the blob is checked whole
/// (CRC, finiteness) before it is returned.
fn pull(s: &mut Session, model_id: u8) -> Result<Vec<u8>> {
    let m = s.model_info(model_id)?;
    let preset = Preset::by_signature(m.signature).ok_or_else(|| {
        anyhow!(
            "device model {model_id} ({}) has signature {:#018x}, no network this host knows: its size cannot be checked",
            m.name,
            m.signature
        )
    })?;
    let floats = preset.shape().1;
    if m.params as usize != floats {
        bail!(
            "the device says model {model_id} has {} parameters, but its signature is {}'s, which has {floats}",
            m.params,
            preset.name()
        );
    }
    let len = floats * 4;
    let mut payload = Vec::with_capacity(len);
    let pb = bar(len, "pull");
    while payload.len() < len {
        let want = CHUNK.min(len - payload.len());
        match s.ask(
            "pull",
            &Request::Pull {
                model: model_id,
                offset: payload.len() as u32,
                len: want as u16,
            },
        )? {
            Response::Chunk { offset, data }
                if offset as usize == payload.len() && !data.is_empty() && data.len() <= want =>
            {
                pb.inc(data.len() as u64);
                payload.extend_from_slice(&data);
            }
            Response::Chunk { offset, data } => bail!(
                "pull: asked for {want} bytes at {}, the device sent {} at {offset}",
                payload.len(),
                data.len()
            ),
            r => bail!("pull: unexpected answer {r:?}"),
        }
    }
    pb.finish_and_clear();
    let crc = shinso::model::crc32(&payload);
    let mut blob = shinso::model::header(m.signature, floats, crc).to_vec();
    blob.extend_from_slice(&payload);
    preset
        .build()
        .load_blob(&blob)
        .map_err(|e| anyhow!("pull: the device's weights: {e}"))?;
    Ok(blob)
}

struct EvalResult {
    n: usize,
    accuracy: f64,
    agreement: Option<f64>,
    /// Fraction of images whose ten scores are the host's, bit for bit.
    identical: Option<f64>,
    count: u64,
}

fn eval(
    s: &mut Session,
    model: u8,
    test: &Dataset,
    n: usize,
    host: Option<&mut dyn Model>,
    progress: bool,
) -> Result<EvalResult> {
    check_images(test)?;
    s.model_info(model)?;
    let n = n.min(test.len());
    let host_scores = match host {
        Some(m) => Some(host_scores(m, &test.images[..n * proto::PIXELS])?),
        None => None,
    };
    let pb = if progress {
        bar(n, "eval")
    } else {
        ProgressBar::hidden()
    };
    let (mut correct, mut agree, mut identical, mut total_count) = (0usize, 0, 0, 0u64);
    for i in 0..n {
        let (class, scores, cost) = infer(s, model, &pixels(test, i))?;
        correct += (class == test.labels[i]) as usize;
        if let Some(h) = &host_scores {
            agree += (shinso::argmax(&h[i]) == class as usize) as usize;
            identical += (h[i].map(f32::to_bits) == scores.map(f32::to_bits)) as usize;
        }
        total_count += cost;
        pb.inc(1);
        if i % 50 == 49 {
            pb.set_message(format!("accuracy {:.4}", correct as f64 / (i + 1) as f64));
        }
    }
    pb.finish_and_clear();
    Ok(EvalResult {
        n,
        accuracy: correct as f64 / n.max(1) as f64,
        agreement: host_scores.as_ref().map(|_| agree as f64 / n.max(1) as f64),
        identical: host_scores.map(|_| identical as f64 / n.max(1) as f64),
        count: total_count / n.max(1) as u64,
    })
}

/// The host model's class probabilities for `images`, computed as the device computes its
/// scores (the network's logits, then softmax), so that the two can be compared bit for bit.
fn host_scores(m: &mut dyn Model, images: &[f32]) -> Result<Vec<[f32; 10]>> {
    let mut logits = vec![0.0f32; images.len() / proto::PIXELS * 10];
    let batch = crate::model::BATCH;
    for (x, y) in images
        .chunks(batch * proto::PIXELS)
        .zip(logits.chunks_mut(batch * 10))
    {
        m.predict(x, y).map_err(|e| anyhow!("host model: {e}"))?;
    }
    Ok(logits
        .chunks_exact(10)
        .map(|row| {
            let mut p = [0.0; 10];
            shinso::Loss::SoftmaxCrossEntropy.output(row, &mut p);
            p
        })
        .collect())
}

struct LearnResult {
    /// Steps the device took.
    learned: usize,
    /// Steps it refused as not finite and undid.
    rolled_back: usize,
    /// Prequential accuracy over the learned steps, and over their last quarter.
    prequential: f64,
    last_quarter: f64,
    count: u64,
    samples_seen: u32,
}

/// Streams the training images `range` to the device as `request` makes them (a learner's
/// `Learn`, a pushed model's `FineTune`), counting what the device says it did.
/// A rolled-back step is the device protecting its model: counted, and the stream goes on; if
/// it rolls back every one, the learner is stuck and that is an error.
fn learn(
    s: &mut Session,
    train: &Dataset,
    range: std::ops::Range<usize>,
    progress: bool,
    request: &dyn Fn(Pixels, u8) -> Request,
) -> Result<LearnResult> {
    check_images(train)?;
    let n = range.len();
    let pb = if progress {
        bar(n, "learn")
    } else {
        ProgressBar::hidden()
    };
    let (mut hits, mut rolled_back, mut total_count, mut seen) =
        (Vec::with_capacity(n), 0usize, 0u64, 0u32);
    for i in range {
        let label = train.labels[i];
        let req = request(pixels(train, i), label);
        match s.link.request(&req, TIMEOUT) {
            Err(e) => return Err(s.link_failed(e)),
            Ok(Response::Learned {
                predicted_before,
                count,
                samples_seen,
                ..
            }) => {
                if predicted_before as usize >= proto::CLASSES {
                    bail!("learn: the device predicted class {predicted_before}, which does not exist");
                }
                hits.push(predicted_before == label);
                total_count += count;
                seen = samples_seen;
            }
            Ok(Response::Error {
                code: ErrorCode::RolledBack,
                ..
            }) => rolled_back += 1,
            Ok(Response::Error { code, detail }) => {
                return Err(device_error("learn", code, detail))
            }
            Ok(r) => bail!("learn: unexpected answer {r:?}"),
        }
        pb.inc(1);
        if hits.len() % 50 == 0 && !hits.is_empty() {
            let last = &hits[hits.len().saturating_sub(500)..];
            pb.set_message(format!(
                "prequential {:.3}",
                last.iter().filter(|&&h| h).count() as f64 / last.len() as f64
            ));
        }
    }
    pb.finish_and_clear();
    if hits.is_empty() {
        bail!(
            "learn: the device rolled back all {rolled_back} steps (not finite): the learner is stuck; reset it, or configure a smaller rate"
        );
    }
    let rate = |h: &[bool]| h.iter().filter(|&&x| x).count() as f64 / h.len().max(1) as f64;
    Ok(LearnResult {
        learned: hits.len(),
        rolled_back,
        prequential: rate(&hits),
        last_quarter: rate(&hits[hits.len() - hits.len() / 4..]),
        count: total_count / hits.len() as u64,
        samples_seen: seen,
    })
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
    pub fine_tuning: finetune::FineTuneSummary,
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
    let pb = progress_bar(cfg.iterations as u64, quiet);
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
            model_file::load(f, None, None)?.model
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
    let host_preds = crate::model::predict_all(&mut *host, &data.test.images)
        .map_err(|e| anyhow!("host model: {e}"))?;
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
    finetune::one_pass_learner(&mut s, learn_range.len())?;
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
    let fine_tuning = finetune::demo(&mut s, &data, eval_n, ev.accuracy, !a.json)?;
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
        say(&finetune::describe(&summary.fine_tuning, unit));
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
