//! The firmware's application logic, independent of any board.
//!
//! [`Device`] is what the firmware's main loop drives: bytes from the UART go in one at a time,
//! complete response frames come out. Inside, [`App`] answers each decoded
//! [`Request`](shinso_proto::Request) with the models it holds ([`DeviceModel`]), and the board
//! supplies the few facts only it knows through [`Platform`] (a cycle or instruction counter,
//! the memory budget).
//!
//! Nothing here touches hardware, so the same code runs under `cargo test` on the host, behind a
//! pseudo-terminal (the `shinso-link` crate), in QEMU and on a board.
//!
//! The models are the core's own networks ([`slot`]): which network each slot holds is one
//! type alias, [`InferNet`] and [`LearnNet`].
//!
//! The rule that everything else follows: **nothing from the wire can panic the device or
//! change a model unless the request was valid in full.** A weight push is staged in the
//! arena and only copied into the model after its length, CRC, signature and finiteness have
//! been checked; a learning step whose loss or update is not finite changes nothing.
//!
//! Memory: the networks are fixed-size (statics on the device); the learner's optimizer state
//! is on the heap (its size depends on the rule chosen over the wire); everything that lives
//! only during one request (activations, gradients, a staged push) shares one *arena* of
//! [`ARENA_FLOATS`] floats. Because a staged push lives there, an `Infer` or `Learn` in the
//! middle of a push abandons the push (its next chunk is answered with [`ErrorCode::NoPush`]).
//! The learner's whole state, larger than the arena, is restored through the checkpoint flash
//! instead (`resume.rs`), and is never held whole in RAM.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod augment;
pub mod checkpoint;
mod resume;
pub mod schedule;
pub mod slot;

pub use resume::LearnerState;
use slot::Slot;

use shinso::{optim::limits, optim::Kind, Layer};
use shinso_proto::{
    self as proto, Counter, DeviceInfo, ErrorCode, FrameError, LearnStats, MemoryBudget, ModelId,
    ModelInfo, Request, Response, CHUNK, CLASSES, MAX_FRAME, MAX_MODELS, NAME_LEN, PIXELS,
};

/// Firmware name and version reported by `Info`.
pub const FIRMWARE: &str = concat!("shinso-fw ", env!("CARGO_PKG_VERSION"));

/// The network of the inference slot (model 0); its weights are pushed from the host.
pub type InferNet = shinso::zoo::DoubleConvNet;
const INFER_NAME: &str = "double-convnet";
/// The network of the learning slot (model 1), trained on the device one sample at a time.
#[cfg(not(feature = "online-mlp"))]
pub type LearnNet = shinso::zoo::OnlineConvNet;
#[cfg(not(feature = "online-mlp"))]
const LEARN_NAME: &str = "online-convnet";
/// The network of the learning slot (model 1), trained on the device one sample at a time.
#[cfg(feature = "online-mlp")]
pub type LearnNet = shinso::zoo::OnlineMlp;
#[cfg(feature = "online-mlp")]
const LEARN_NAME: &str = "online-mlp";

/// Floats of the scratch arena, from the core's memory plans: the most that one request needs
/// (an inference with either model, a learning step, a fine-tuning step of the pushed model,
/// or a staged push of the larger payload).
pub const ARENA_FLOATS: usize = max(
    max(
        max(Slot::<InferNet>::INFER_ARENA, Slot::<LearnNet>::LEARN_ARENA),
        Slot::<InferNet>::TUNE_ARENA,
    ),
    max(
        InferNet::PARAMS + InferNet::STATE,
        LearnNet::PARAMS + LearnNet::STATE,
    ),
);

/// Bytes of RAM the models, the arena and the learner's optimizer state under the default rule
/// (Adam, the hungriest) take: the board adds its stack and checks the sum when it compiles.
pub const MEMORY_PLAN: usize = core::mem::size_of::<Models>()
    + 4 * ARENA_FLOATS
    + 4 * slot::DEFAULT_RULE.state_len(LearnNet::PARAMS);

pub(crate) const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// Every model the device holds, in one struct so the firmware can keep them in a single
/// zero-initialised static (`.bss`: no flash image, no copy at boot) and the host emulation
/// holds exactly the same set.
pub struct Models {
    /// Model 0: [`InferNet`], inference only.
    pub infer: Slot<InferNet>,
    /// Model 1: [`LearnNet`], learns on the device.
    pub learn: Slot<LearnNet>,
}

impl Models {
    /// All models zeroed; [`Models::app`] finishes their set-up.
    pub const ZERO: Models = Models {
        infer: Slot::ZERO,
        learn: Slot::ZERO,
    };

    /// Sets the models up (the learner's initial weights and optimizer state) and hands them
    /// and the scratch arena (at least [`ARENA_FLOATS`] floats) to an [`App`].
    pub fn app<'a>(&'a mut self, scratch: &'a mut [f32]) -> App<'a> {
        // Fails only if the heap cannot hold Adam's state; then Learn answers OutOfMemory
        // until a Configure with a smaller rule succeeds.
        self.infer.named(INFER_NAME);
        let _ = self.learn.start(LEARN_NAME);
        App::new(
            [&mut self.infer as &mut dyn DeviceModel, &mut self.learn],
            scratch,
        )
    }
}

/// A model the device holds: something that classifies an image and whose parameters travel as
/// one blob of little-endian `f32`.
pub trait DeviceModel {
    /// Short architecture name (at most [`NAME_LEN`] bytes are reported).
    fn name(&self) -> &str;
    /// Architecture signature: a pushed blob must have been exported for the same.
    fn signature(&self) -> u64;
    /// Number of `f32` in its payload (parameters and saved state); four bytes each.
    fn param_count(&self) -> usize;
    /// Bytes of RAM the model takes where it sits (a static on the device).
    fn ram(&self) -> usize;
    /// Bytes of heap it holds now (the learner's optimizer state).
    fn heap(&self) -> usize {
        0
    }
    /// Bytes of the shared arena its largest request takes.
    fn arena(&self) -> usize;
    /// Copies payload bytes `offset..offset + out.len()` (within the payload) into `out`.
    fn read_params(&mut self, offset: usize, out: &mut [u8]) -> Result<(), ErrorCode>;
    /// Replaces the whole payload (`4 * param_count()` bytes, CRC checked by the app) if every
    /// float is finite; else [`ErrorCode::NonFinite`] and nothing changes.
    fn load_params(&mut self, payload: &[u8]) -> Result<(), ErrorCode>;
    /// Class probabilities for one image; `scratch` is the arena, free for the duration.
    fn infer(
        &mut self,
        pixels: &[u8; PIXELS],
        scratch: &mut [f32],
    ) -> Result<[f32; CLASSES], ErrorCode>;
    /// Whether it learns on the device (then the three methods below do something).
    fn trainable(&self) -> bool {
        false
    }
    /// One step on `(pixels, label)` (`label < CLASSES`, checked by the app), learning from
    /// the image moved by the step's one-pixel move ([`augment`]): the step's loss and
    /// prediction are the moved image's. Returns
    /// [`ErrorCode::RolledBack`] and leaves the model exactly as it was when the loss or the
    /// update is not finite.
    fn learn(
        &mut self,
        _pixels: &[u8; PIXELS],
        _label: u8,
        _scratch: &mut [f32],
    ) -> Result<Step, ErrorCode> {
        Err(ErrorCode::NotTrainable)
    }
    /// A learning step was accepted: the schedule counts it and sets the next step's rate.
    fn stepped(&mut self) {}
    /// One fine-tuning step of a pushed model's last layer on `(pixels, label)` (`label <
    /// CLASSES`, checked by the app); returns the step and the fine-tuning steps taken since the
    /// weights arrived. All or nothing, as [`DeviceModel::learn`].
    fn fine_tune(
        &mut self,
        _pixels: &[u8; PIXELS],
        _label: u8,
        _scratch: &mut [f32],
    ) -> Result<(Step, u32), ErrorCode> {
        Err(ErrorCode::NotTrainable)
    }
    /// The rate of the next steps: `lr` decaying linearly over `decay_steps` (0: constant),
    /// if the model's rule can train at `lr` (the app has checked it is finite); else the
    /// error and its detail, and nothing changes.
    fn set_schedule(&mut self, _lr: f32, _decay_steps: u32) -> Result<(), (ErrorCode, u32)> {
        Err((ErrorCode::NotTrainable, 0))
    }
    /// Chooses the update rule (the app has checked `lr` is finite and positive); optimizer
    /// state starts afresh. May fail with [`ErrorCode::OutOfMemory`]; then nothing changes.
    fn configure(&mut self, _optimizer: Kind, _lr: f32) -> Result<(), ErrorCode> {
        Err(ErrorCode::NotTrainable)
    }
    /// Re-initialises the weights from `seed` and clears optimizer state.
    fn reset(&mut self, _seed: u64) {}
    /// Bytes of its whole learning state, weights, rule, optimizer state and step count
    /// ([`slot::state`]); 0 when it has none to save.
    fn state_len(&self) -> usize {
        0
    }
    /// Updates it has applied (its optimizer's step count).
    fn steps(&self) -> u32 {
        0
    }
    /// Copies state bytes `offset..offset + out.len()` (within `state_len()`) into `out`.
    fn read_state(&mut self, _offset: usize, _out: &mut [u8]) -> Result<(), ErrorCode> {
        Err(ErrorCode::NotTrainable)
    }
    /// Whether the `len` bytes `read` gives are a sound learning state for it (changes nothing).
    fn check_state(&self, _len: usize, _read: slot::state::Reader) -> Result<(), ErrorCode> {
        Err(ErrorCode::NotTrainable)
    }
    /// Replaces its whole learning state with the `len` bytes `read` gives if they are a sound
    /// state for it (checked whole first); else an error and nothing changes.
    fn load_state(&mut self, _len: usize, _read: slot::state::Reader) -> Result<(), ErrorCode> {
        Err(ErrorCode::NotTrainable)
    }
}

/// What one learning step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Loss of the sample before the update.
    pub loss: f32,
    /// Prediction before the update.
    pub predicted: u8,
}

/// What only the board knows.
pub trait Platform {
    /// A free-running 64-bit count in [`Platform::counter`] units.
    fn now(&self) -> u64;
    /// What [`Platform::now`] counts.
    fn counter(&self) -> Counter;
    /// Core clock in Hz.
    fn clock_hz(&self) -> u32;
    /// Memory budget (the heap in use is read when asked).
    fn memory(&self) -> MemoryBudget;
}

/// A push in progress: a model's blob is staged in the scratch arena, never in the model; the
/// learner's state, larger than the arena, in the checkpoint slot being written.
struct Push {
    target: Target,
    crc: u32,
    len: usize,
    received: usize,
}

/// Answers requests with the models it holds.
pub struct App<'m> {
    models: heapless::Vec<&'m mut dyn DeviceModel, MAX_MODELS>,
    scratch: &'m mut [f32],
    stats: LearnStats,
    push: Option<Push>,
    /// Bytes the receiver dropped since boot (reported in `Stats`).
    rx_dropped: u32,
    checkpoints: resume::Keeping<'m>,
}

/// What a push replaces.
#[derive(Clone, Copy)]
enum Target {
    /// A model's parameters ([`Request::PushBegin`]).
    Model(ModelId),
    /// The learner's whole state ([`Request::RestoreBegin`]).
    Learner,
}

impl<'m> App<'m> {
    /// An app holding `models` (their index is their [`ModelId`]; models beyond
    /// [`MAX_MODELS`] are ignored) and the scratch arena they and weight pushes share.
    pub fn new(
        models: impl IntoIterator<Item = &'m mut dyn DeviceModel>,
        scratch: &'m mut [f32],
    ) -> Self {
        let mut v = heapless::Vec::new();
        for m in models {
            if v.push(m).is_err() {
                break;
            }
        }
        App {
            models: v,
            scratch,
            stats: LearnStats::default(),
            push: None,
            rx_dropped: 0,
            checkpoints: resume::Keeping::NONE,
        }
    }

    fn model(&mut self, id: ModelId) -> Result<&mut dyn DeviceModel, ErrorCode> {
        model(&mut self.models, id)
    }

    fn learner(&mut self) -> Result<&mut dyn DeviceModel, ErrorCode> {
        learner(&mut self.models)
    }

    /// The response to one request.
    pub fn handle(&mut self, req: Request, platform: &dyn Platform) -> Response {
        match self.try_handle(req, platform) {
            Ok(r) => r,
            Err((code, detail)) => Response::Error { code, detail },
        }
    }

    fn try_handle(
        &mut self,
        req: Request,
        platform: &dyn Platform,
    ) -> Result<Response, (ErrorCode, u32)> {
        let e = |code| (code, 0);
        Ok(match req {
            Request::Info => Response::Info(self.info(platform)),
            Request::Infer { model: id, pixels } => {
                let m = model(&mut self.models, id).map_err(e)?;
                self.push = None; // the arena is about to hold activations
                let t0 = platform.now();
                let scores = m.infer(&pixels.0, self.scratch).map_err(e)?;
                let count = platform.now().wrapping_sub(t0);
                // Scores that are not all finite name no class: say so rather than guess.
                let class = shinso::class_of(&scores).map_err(|_| e(ErrorCode::NonFinite))?;
                Response::Inferred {
                    class: class as u8,
                    scores,
                    count,
                }
            }
            Request::Learn { pixels, label } => {
                if label as usize >= CLASSES {
                    return Err((ErrorCode::BadValue, label as u32));
                }
                let learner = learner(&mut self.models).map_err(e)?;
                self.push = None; // the arena is about to hold gradients
                let t0 = platform.now();
                let step = learner.learn(&pixels.0, label, self.scratch);
                let count = platform.now().wrapping_sub(t0);
                let step = step.map_err(|code| {
                    if code == ErrorCode::RolledBack {
                        self.stats.rolled_back += 1;
                    }
                    e(code)
                })?;
                learner.stepped();
                let s = &mut self.stats;
                s.samples_seen += 1;
                s.prequential_correct += (step.predicted == label) as u32;
                s.prequential_accuracy = s.prequential_correct as f32 / s.samples_seen as f32;
                s.last_loss = step.loss;
                let samples_seen = s.samples_seen;
                self.after_step();
                Response::Learned {
                    loss: step.loss,
                    predicted_before: step.predicted,
                    samples_seen,
                    count,
                }
            }
            Request::FineTune {
                model: id,
                pixels,
                label,
            } => {
                if label as usize >= CLASSES {
                    return Err((ErrorCode::BadValue, label as u32));
                }
                let m = model(&mut self.models, id).map_err(e)?;
                self.push = None; // the arena is about to hold features and gradients
                let t0 = platform.now();
                let (step, steps) = m.fine_tune(&pixels.0, label, self.scratch).map_err(e)?;
                Response::Learned {
                    loss: step.loss,
                    predicted_before: step.predicted,
                    samples_seen: steps,
                    count: platform.now().wrapping_sub(t0),
                }
            }
            Request::Schedule {
                model: id,
                lr,
                decay_steps,
            } => {
                if !lr.is_finite() {
                    return Err(e(ErrorCode::NonFinite));
                }
                self.model(id).map_err(e)?.set_schedule(lr, decay_steps)?;
                Response::Ok
            }
            Request::Stats => Response::Stats(LearnStats {
                rx_dropped: self.rx_dropped,
                ..self.stats
            }),
            Request::Configure { optimizer, lr } => {
                if !lr.is_finite() {
                    return Err(e(ErrorCode::NonFinite));
                }
                // Only rates that can train: 3e38 would store near-f32::MAX weights in one step.
                // The detail is the largest rate this rule accepts, as f32 bits.
                if let Err(out) = limits::check(&optimizer.rule(lr)) {
                    return Err((ErrorCode::BadValue, out.range.max.to_bits()));
                }
                self.learner()
                    .map_err(e)?
                    .configure(optimizer, lr)
                    .map_err(e)?;
                Response::Ok
            }
            Request::Reset { seed } => {
                self.learner().map_err(e)?.reset(seed);
                self.stats = LearnStats::default(); // rx_dropped is the link's: it stays
                Response::Ok
            }
            Request::PushBegin {
                model,
                signature,
                len,
                crc,
            } => {
                self.push = None; // a new begin abandons any earlier push (and frees its buffer)
                let m = self.model(model).map_err(e)?;
                if signature != m.signature() {
                    return Err(e(ErrorCode::BadSignature));
                }
                let want = m.param_count() * 4;
                if len as usize != want {
                    return Err((ErrorCode::BadLength, want as u32));
                }
                if want > self.scratch.len() * 4 {
                    return Err((ErrorCode::OutOfMemory, want as u32));
                }
                self.push = Some(Push {
                    target: Target::Model(model),
                    crc,
                    len: want,
                    received: 0,
                });
                Response::Ok
            }
            Request::PushChunk { offset, data } => {
                let p = self.push.as_mut().ok_or(e(ErrorCode::NoPush))?;
                if offset as usize != p.received {
                    return Err((ErrorCode::BadOffset, p.received as u32));
                }
                if p.received + data.len() > p.len {
                    return Err((ErrorCode::BadLength, p.len as u32));
                }
                if let Target::Model(_) = p.target {
                    let staging: &mut [u8] = bytemuck::cast_slice_mut(&mut *self.scratch);
                    staging[p.received..p.received + data.len()].copy_from_slice(&data);
                } else {
                    self.checkpoints.stage(&data)?;
                }
                p.received += data.len();
                Response::Ok
            }
            Request::PushEnd => {
                let p = self.push.take().ok_or(e(ErrorCode::NoPush))?;
                if p.received != p.len {
                    return Err((ErrorCode::BadLength, p.received as u32));
                }
                let Target::Model(id) = p.target else {
                    return self.restore_end(p.len, p.crc);
                };
                let blob: &[u8] = &bytemuck::cast_slice(&*self.scratch)[..p.len];
                if shinso::model::crc32(blob) != p.crc {
                    return Err(e(ErrorCode::BadBlobCrc));
                }
                model(&mut self.models, id)
                    .map_err(e)?
                    .load_params(blob)
                    .map_err(e)?;
                Response::Ok
            }
            Request::Pull { model, offset, len } => {
                let m = self.model(model).map_err(e)?;
                let total = m.param_count() * 4;
                chunk(total, offset, len, |at, out| m.read_params(at, out))?
            }
            Request::SaveCheckpoint => Response::Checkpoints(self.save_now()?),
            Request::CheckpointEvery { steps } => self.save_every(steps)?,
            Request::CheckpointStatus => Response::Checkpoints(self.checkpoint_status()),
            Request::PullState { offset, len } => self.pull_state(offset, len)?,
            Request::RestoreBegin { len, crc } => self.restore_begin(len, crc)?,
        })
    }

    fn info(&mut self, platform: &dyn Platform) -> DeviceInfo {
        let mut models = heapless::Vec::new();
        for (id, m) in self.models.iter_mut().enumerate() {
            let _ = models.push(ModelInfo {
                id: id as ModelId,
                name: short_name(m.name()),
                signature: m.signature(),
                params: m.param_count() as u32,
                trainable: m.trainable(),
                ram: m.ram() as u32,
                heap: m.heap() as u32,
                arena: m.arena() as u32,
            });
        }
        DeviceInfo {
            protocol: proto::PROTOCOL_VERSION,
            firmware: short_name(FIRMWARE),
            models,
            memory: MemoryBudget {
                arena: (self.scratch.len() * 4) as u32,
                ..platform.memory()
            },
            counter: platform.counter(),
            clock_hz: platform.clock_hz(),
        }
    }
}

/// A [`Response::Chunk`] of the `total` bytes that `read` copies out: at most [`CHUNK`]
/// asked, shorter at the end, empty past it.
fn chunk(
    total: usize,
    offset: u32,
    len: u16,
    read: impl FnOnce(usize, &mut [u8]) -> Result<(), ErrorCode>,
) -> Result<Response, (ErrorCode, u32)> {
    if len as usize > CHUNK {
        return Err((ErrorCode::BadLength, CHUNK as u32));
    }
    if offset as usize > total {
        return Err((ErrorCode::BadOffset, total as u32));
    }
    let mut data = heapless::Vec::<u8, CHUNK>::new();
    let want = (len as usize).min(total - offset as usize);
    // Cannot fail: want ≤ len ≤ CHUNK.
    let _ = data.resize(want, 0);
    read(offset as usize, &mut data).map_err(|code| (code, 0))?;
    Ok(Response::Chunk { offset, data })
}

fn model<'a>(
    models: &'a mut [&mut dyn DeviceModel],
    id: ModelId,
) -> Result<&'a mut dyn DeviceModel, ErrorCode> {
    match models.get_mut(id as usize) {
        Some(m) => Ok(&mut **m),
        None => Err(ErrorCode::NoSuchModel),
    }
}

fn learner<'a>(
    models: &'a mut [&mut dyn DeviceModel],
) -> Result<&'a mut dyn DeviceModel, ErrorCode> {
    match models.iter_mut().find(|m| m.trainable()) {
        Some(m) => Ok(&mut **m),
        None => Err(ErrorCode::NotTrainable),
    }
}

/// `s` cut to [`NAME_LEN`] bytes at a character boundary.
fn short_name(s: &str) -> heapless::String<NAME_LEN> {
    let mut out = heapless::String::new();
    for c in s.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

/// The app with its frame decoder and output buffer: the whole device as bytes in, frames out.
pub struct Device<'m> {
    /// The application.
    pub app: App<'m>,
    decoder: proto::Decoder,
    out: [u8; MAX_FRAME],
    /// Bytes dropped since the last frame was answered: that frame lost some.
    dropped: u32,
}

impl<'m> Device<'m> {
    /// A device around `app`.
    pub fn new(app: App<'m>) -> Self {
        Device {
            app,
            decoder: proto::Decoder::new(),
            out: [0; MAX_FRAME],
            dropped: 0,
        }
    }

    /// The frame announcing the device (seq 0), sent once the receiver is on.
    pub fn ready_frame(&mut self) -> &[u8] {
        encode_or_internal(0, &Response::Ready, &mut self.out)
    }

    /// Takes one received byte; when it completes a frame, returns the response frame to send.
    /// Corrupt, oversized and unknown frames are answered with an error frame.
    pub fn on_byte(&mut self, byte: u8, platform: &dyn Platform) -> Option<&[u8]> {
        let frame = self.decoder.feed::<Request>(byte)?;
        let (seq, resp) = match frame {
            // Bytes were lost since the last answer: whatever this frame decodes to, requests
            // went missing with them. It is not run; the host hears how many bytes were lost.
            _ if self.dropped > 0 => {
                let seq = frame.as_ref().map_or_else(|e| e.seq, |(seq, _)| *seq);
                let detail = core::mem::take(&mut self.dropped);
                let code = ErrorCode::Overrun;
                (seq, Response::Error { code, detail })
            }
            Ok((seq, req)) => (seq, self.app.handle(req, platform)),
            Err(FrameError { code, seq }) => (seq, Response::Error { code, detail: 0 }),
        };
        Some(encode_or_internal(seq, &resp, &mut self.out))
    }

    /// The board's receiver dropped `bytes` (its queue was full, or the UART overran): the
    /// next frame is answered with [`ErrorCode::Overrun`], and `Stats` counts them.
    pub fn note_dropped(&mut self, bytes: u32) {
        self.dropped = self.dropped.saturating_add(bytes);
        self.app.rx_dropped = self.app.rx_dropped.saturating_add(bytes);
    }
}

/// Every response fits in [`MAX_FRAME`] (proto's tests prove it); should that ever break, the
/// device still answers, with an error, instead of panicking.
fn encode_or_internal<'b>(seq: u32, resp: &Response, out: &'b mut [u8; MAX_FRAME]) -> &'b [u8] {
    let fallback = Response::Error {
        code: ErrorCode::Oversized,
        detail: 0,
    };
    let n = match proto::encode(seq, resp, &mut out[..]) {
        Ok(f) => f.len(),
        Err(_) => proto::encode(seq, &fallback, &mut out[..]).map_or(0, |f| f.len()),
    };
    &out[..n]
}
