//! A connected device and the requests the host makes of it: classify, push and pull weights,
//! evaluate, stream samples to a learner. Nothing the device answers is taken on trust
//! ([`shinso_link::answer`]); a failure comes back in words.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use clap::Args;
use shinso::optim::limits;
use shinso::OptimizerKind;
use shinso_link::{listed, pixels, target, Answer, AnswerError, Backend, Inferred, Link};
use shinso_link::{LinkError, Push, Tally, TransferError};
use shinso_proto::{self as proto, DeviceInfo, ModelInfo, Pixels, Request};

use crate::data::Dataset;
use crate::nets::{Model, Preset, BATCH};
use crate::ui::progress_bar;

/// How long one request may take before the device counts as gone.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How `shinso emulate` and `shinso demo` start the device on this host.
#[derive(Args, Debug, Clone)]
pub struct Emulator {
    /// Firmware ELF to boot (default: build firmware/ with `--features qemu`)
    #[arg(long, value_name = "FILE")]
    pub elf: Option<PathBuf>,
    /// Run the device's application logic on the host over a pseudo-terminal pair instead of
    /// QEMU (the default when qemu-system-arm is not installed)
    #[arg(long)]
    pub no_qemu: bool,
}

/// A connected device and what keeps it alive (QEMU, or the emulation thread).
pub struct Session {
    pub link: Link,
    pub info: DeviceInfo,
    pub backend: Backend,
    /// Hide the progress bars of `eval` and `learn` (the demo's `--json`).
    pub quiet: bool,
}

/// A link failure in words, with what to check when the device says nothing.
fn link_err(e: LinkError) -> anyhow::Error {
    match e {
        LinkError::Timeout => anyhow!(
            "the device did not answer within {} s (is it running, and is this its port?)",
            TIMEOUT.as_secs()
        ),
        e => anyhow!("{e}"),
    }
}

impl Session {
    /// The device on serial port `port`.
    pub fn open(port: &Path) -> Result<Session> {
        let mut link =
            Link::open(port).with_context(|| format!("{}: cannot open", port.display()))?;
        let info = link.connect(TIMEOUT).map_err(link_err)?;
        Ok(Session {
            link,
            info,
            backend: Backend::Serial,
            quiet: false,
        })
    }

    /// QEMU when available (building the firmware unless `elf` is given), else the pty
    /// emulation; says which on stderr.
    pub fn emulated(e: &Emulator) -> Result<Session> {
        let note = |m: &str| eprintln!("{m}");
        let (backend, link, info) =
            Backend::start(e.elf.as_deref(), e.no_qemu, note, TIMEOUT).map_err(|e| anyhow!(e))?;
        Ok(Session {
            link,
            info,
            backend,
            quiet: false,
        })
    }

    /// A link failure, with QEMU's own word when it is QEMU that went away.
    fn link_failed(&mut self, e: LinkError) -> anyhow::Error {
        self.backend
            .exited()
            .map_or_else(|| link_err(e), |why| anyhow!(why))
    }

    /// `req`'s answer of the kind `T`, or why the device gave none: the link's failure is the
    /// error, a refusal or another answer comes back for the caller to judge.
    pub fn answer<T: Answer>(&mut self, req: &Request) -> Result<Result<T, AnswerError>> {
        match self.link.request(req, TIMEOUT) {
            Ok(r) => Ok(T::take(r)),
            Err(e) => Err(self.link_failed(e)),
        }
    }

    /// `req`'s answer of the kind `T`; anything else is the error, with `what` in front.
    pub fn ask<T: Answer>(&mut self, what: &str, req: &Request) -> Result<T> {
        self.answer(req)?.map_err(|e| anyhow!("{what}: {e}"))
    }

    /// A push or pull of `len` bytes under a progress bar: `run` moves them over the link,
    /// telling the bar how far it got; its failure comes back in words.
    pub fn transfer<T>(
        &mut self,
        label: &str,
        len: usize,
        run: impl FnOnce(&mut Link, &mut dyn FnMut(usize)) -> Result<T, TransferError<LinkError>>,
    ) -> Result<T> {
        let pb = progress_bar(len as u64, label, false);
        let done = run(&mut self.link, &mut |n| pb.set_position(n as u64));
        pb.finish_and_clear();
        done.map_err(|e| match e {
            TransferError::Link(e) => self.link_failed(e),
            e => anyhow!("{e}"),
        })
    }

    /// What the device said about model `id`: it must have listed one.
    pub fn model_info(&self, id: u8) -> Result<&ModelInfo> {
        listed(&self.info, id).map_err(|e| anyhow!(e))
    }

    pub fn counter_unit(&self) -> &'static str {
        match self.info.counter {
            proto::Counter::Instructions => "instructions",
            proto::Counter::Cycles => "cycles",
            proto::Counter::None => "(not counted)",
        }
    }

    /// Image `i` of `ds` classified by device model `model` (its answer checked).
    pub fn infer(&mut self, model: u8, ds: &Dataset, i: usize) -> Result<Inferred> {
        let pixels = pixels(ds.image(i));
        self.ask("infer", &Request::Infer { model, pixels })
    }

    /// Pushes a checked model's parameters; returns the model id. The device must list a
    /// model of the same network (signature and size); it checks length, CRC and finiteness
    /// again before it swaps the weights in.
    pub fn push(&mut self, model: &mut dyn Model, model_id: Option<u8>) -> Result<u8> {
        let (sig, floats) = model.preset().shape();
        let net = (model.preset().name(), sig, floats);
        let id = (target(&self.info, model_id, net).map_err(|e| anyhow!(e))?).id;
        let blob = model.save_blob();
        // The device takes the core's blob without its header.
        let push = Push::new(id, sig, &blob[shinso::model::HEADER..]);
        self.transfer("push", push.payload.len(), |link, progress| {
            link.push(&push, TIMEOUT, progress)
        })?;
        Ok(id)
    }

    /// A model's parameters as a device blob (with the core's header). Its size comes from
    /// the host's own knowledge of the network the device names by signature, not from the
    /// device's word; every chunk must be the next one and no longer than asked; the blob is
    /// checked whole (CRC, finiteness) before it is returned.
    pub fn pull(&mut self, model_id: u8) -> Result<Vec<u8>> {
        let preset = preset_of(self.model_info(model_id)?)?;
        let (sig, floats) = preset.shape();
        target(&self.info, Some(model_id), (preset.name(), sig, floats)).map_err(|e| anyhow!(e))?;
        let len = 4 * floats;
        let payload = self.transfer("pull", len, |link, progress| {
            link.pull(model_id, len, TIMEOUT, progress)
        })?;
        let (_, blob) = load_payload(preset, &payload)
            .map_err(|e| anyhow!("pull: the device's weights: {e}"))?;
        Ok(blob)
    }

    /// Chooses the learner's rule, checking the rate against the core's ranges first (the
    /// device checks the same, and would refuse it too).
    pub fn configure(&mut self, o: OptimizerKind, lr: Option<f32>) -> Result<()> {
        let lr = lr.unwrap_or(o.default_lr());
        limits::lr_range(&o.rule(lr))
            .check("--lr", lr)
            .map_err(|e| anyhow!("{e} (for {o:?})"))?;
        self.ask("configure", &Request::Configure { optimizer: o, lr })
    }

    /// Sets `model`'s rate: `lr`, decaying linearly to 0 over `decay_steps` steps (0:
    /// constant).
    pub fn schedule(&mut self, model: u8, lr: f32, decay_steps: u32) -> Result<()> {
        let req = Request::Schedule {
            model,
            lr,
            decay_steps,
        };
        self.ask("schedule", &req)
    }

    /// Device model `model` on the first `n` images of `test`, and how often it agrees with
    /// `host` (by class, and by the scores' bits).
    pub fn eval(
        &mut self,
        model: u8,
        test: &Dataset,
        n: usize,
        host: Option<&mut dyn Model>,
    ) -> Result<EvalResult> {
        self.model_info(model)?;
        let n = n.min(test.len());
        let host_scores = host
            .map(|m| host_scores(m, &test.images[..n * proto::PIXELS]))
            .transpose()?;
        let pb = progress_bar(n as u64, "eval", self.quiet);
        let (mut correct, mut agree, mut identical, mut total_count) = (0usize, 0, 0, 0u64);
        for i in 0..n {
            let r = self.infer(model, test, i)?;
            correct += (r.class == test.labels[i]) as usize;
            if let Some(h) = &host_scores {
                agree += (shinso::class_of(&h[i]).ok() == Some(r.class as usize)) as usize;
                identical += (h[i].map(f32::to_bits) == r.scores.map(f32::to_bits)) as usize;
            }
            total_count += r.count;
            pb.inc(1);
            if i % 50 == 49 {
                pb.set_message(format!("accuracy {:.4}", correct as f64 / (i + 1) as f64));
            }
        }
        pb.finish_and_clear();
        let rate = |k: usize| k as f64 / n.max(1) as f64;
        Ok(EvalResult {
            n,
            accuracy: rate(correct),
            agreement: host_scores.map(|_| (rate(agree), rate(identical))),
            count: total_count / n.max(1) as u64,
        })
    }

    /// Streams the training images `range` to `student`, counting what the device says it did
    /// ([`Tally::record`]); if it rolls back every step, the learner is stuck and that is an
    /// error.
    pub fn learn(
        &mut self,
        student: Student,
        train: &Dataset,
        range: Range<usize>,
    ) -> Result<Tally> {
        let pb = progress_bar(range.len() as u64, "learn", self.quiet);
        let mut tally = Tally::default();
        for i in range {
            let label = train.labels[i];
            let answer = self.answer(&student.request(pixels(train.image(i)), label))?;
            (tally.record(label, answer)).map_err(|e| anyhow!("learn: {e}"))?;
            pb.inc(1);
            let n = tally.learned();
            if n % 50 == 0 && n > 0 {
                let recent = tally.accuracy(n.saturating_sub(500)..);
                pb.set_message(format!("prequential {recent:.3}"));
            }
        }
        pb.finish_and_clear();
        ensure!(
            tally.learned() > 0,
            "learn: the device rolled back all {} steps (not finite): the learner is stuck; reset it, or configure a smaller rate",
            tally.rolled_back
        );
        Ok(tally)
    }
}

/// The network of a device model, which this host must know to check its size.
pub fn preset_of(m: &ModelInfo) -> Result<Preset> {
    Preset::by_signature(m.signature).ok_or_else(|| {
        anyhow!(
            "device model {} ({}) has signature {:#018x}, no network this host knows: its size cannot be checked",
            m.id, m.name, m.signature
        )
    })
}

/// `payload` (a device blob) as a blob of `preset`'s network with the core's header, checked
/// whole (size, finiteness, what the network's layers require) by loading it; and the model.
pub fn load_payload(preset: Preset, payload: &[u8]) -> Result<(Box<dyn Model>, Vec<u8>)> {
    let (sig, floats) = preset.shape();
    let crc = shinso::model::crc32(payload);
    let blob = [&shinso::model::header(sig, floats, crc)[..], payload].concat();
    let mut model = preset.build();
    model.load_blob(&blob)?;
    Ok((model, blob))
}

pub struct EvalResult {
    pub n: usize,
    pub accuracy: f64,
    /// With a host model: the fraction of images it classifies as the device does, and the
    /// fraction whose ten scores are its, bit for bit.
    pub agreement: Option<(f64, f64)>,
    pub count: u64,
}

/// The host model's class probabilities for `images`, computed as the device computes its
/// scores (the network's logits, then softmax), so that the two can be compared bit for bit.
fn host_scores(m: &mut dyn Model, images: &[f32]) -> Result<Vec<[f32; 10]>> {
    let mut logits = vec![0.0f32; images.len() / proto::PIXELS * 10];
    let batches = images.chunks(BATCH * proto::PIXELS);
    for (x, y) in batches.zip(logits.chunks_mut(BATCH * 10)) {
        m.predict(x, y).map_err(|e| anyhow!("host model: {e}"))?;
    }
    let softmax = |row: &[f32]| {
        let mut p = [0.0; 10];
        shinso::Loss::SoftmaxCrossEntropy.output(row, &mut p);
        p
    };
    Ok(logits.chunks_exact(10).map(softmax).collect())
}

/// Who learns from a stream of labelled images.
#[derive(Clone, Copy)]
pub enum Student {
    /// The device's online learner (`Learn`).
    Learner,
    /// A pushed model's last layer (`FineTune`).
    LastLayer(u8),
}

impl Student {
    fn request(self, pixels: Pixels, label: u8) -> Request {
        match self {
            Student::Learner => Request::Learn { pixels, label },
            Student::LastLayer(model) => Request::FineTune {
                model,
                pixels,
                label,
            },
        }
    }
}
