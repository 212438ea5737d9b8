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
//! The rule that everything else follows: **nothing from the wire can panic the device or
//! change a model unless the request was valid in full.** A weight push is staged in the
//! scratch arena and only copied into the model after its length, CRC, signature and
//! finiteness have been checked; a learning step whose loss or update is not finite is refused
//! by the model before it writes anything.
//!
//! Memory: the models' parameters are fixed-size (statics on the device); the learner's
//! optimizer state is on the heap (its size depends on the rule chosen over the wire);
//! everything that lives only during one request — gradients, activations, a staged push —
//! shares one *scratch arena* of [`convnet::SCRATCH_WORDS`] words. Because a staged push lives
//! there, an `Infer` or `Learn` in the middle of a push abandons the push (its next chunk is
//! answered with [`ErrorCode::NoPush`]).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod checkpoint;
pub mod convnet;

use shinso_proto::{
    self as proto, Counter, DeviceInfo, ErrorCode, FrameError, LearnStats, MemoryBudget, ModelId,
    ModelInfo, Optimizer, Request, Response, CHUNK, CLASSES, MAX_FRAME, MAX_MODELS, NAME_LEN,
    PIXELS,
};

/// Firmware name and version reported by `Info`.
pub const FIRMWARE: &str = concat!("shinso-fw ", env!("CARGO_PKG_VERSION"));

/// Every model the device holds, in one struct so the firmware can keep them in a single
/// zero-initialised static (`.bss`: no flash image, no copy at boot) and the host emulation
/// holds exactly the same set.
pub struct Models {
    /// Model 0: `zoo::DoubleConvNet`, inference only; its weights are pushed from the host.
    pub infer: convnet::Inference,
    /// Model 1: `zoo::OnlineConvNet`, learns on the device one sample at a time.
    pub learn: convnet::Online,
}

impl Models {
    /// All models zeroed; [`Models::app`] finishes their set-up.
    pub const ZERO: Models = Models {
        infer: convnet::Inference::ZERO,
        learn: convnet::Online::ZERO,
    };

    /// Sets the models up (the learner's initial weights and optimizer state) and hands them
    /// and the scratch arena (at least [`convnet::SCRATCH_WORDS`] words) to an [`App`].
    pub fn app<'a>(&'a mut self, scratch: &'a mut [u32]) -> App<'a> {
        // Fails only if the heap cannot hold Adam's state; then Learn answers OutOfMemory
        // until a Configure with a smaller rule succeeds.
        let _ = self.learn.start();
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
    /// Number of `f32` parameters; the blob is four times as many bytes.
    fn param_count(&self) -> usize;
    /// Copies blob bytes starting at `offset` into `out`; returns how many were copied
    /// (fewer at the end of the blob, 0 past it).
    fn read_params(&self, offset: usize, out: &mut [u8]) -> usize;
    /// Replaces every parameter. The app has checked that `blob` is exactly
    /// `4 * param_count()` bytes of finite little-endian `f32`.
    fn load_params(&mut self, blob: &[u8]);
    /// Class probabilities for one image; `scratch` is the arena, free for the duration.
    fn infer(&mut self, pixels: &[u8; PIXELS], scratch: &mut [u32]) -> [f32; CLASSES];
    /// The model's learning side, if it learns on the device.
    fn learner(&mut self) -> Option<&mut dyn Learner> {
        None
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

/// A model that learns online, one sample at a time.
pub trait Learner {
    /// One step on `(pixels, label)` (`label < CLASSES`, checked by the app). Returns
    /// [`ErrorCode::RolledBack`] and leaves the model exactly as it was when the loss or the
    /// update is not finite.
    fn learn(
        &mut self,
        pixels: &[u8; PIXELS],
        label: u8,
        scratch: &mut [u32],
    ) -> Result<Step, ErrorCode>;
    /// Chooses the update rule (the app has checked `lr` is finite and positive); optimizer
    /// state starts afresh. May fail with [`ErrorCode::OutOfMemory`] or
    /// [`ErrorCode::BadValue`] (a rule it does not support); then nothing changes.
    fn configure(&mut self, optimizer: Optimizer, lr: f32) -> Result<(), ErrorCode>;
    /// Re-initialises the weights from `seed` and clears optimizer state.
    fn reset(&mut self, seed: u64);
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

/// A weight push in progress: the blob is staged in the scratch arena, never in the model.
struct Push {
    model: ModelId,
    crc: u32,
    len: usize,
    received: usize,
}

/// Answers requests with the models it holds.
pub struct App<'m> {
    models: heapless::Vec<&'m mut dyn DeviceModel, MAX_MODELS>,
    scratch: &'m mut [u32],
    stats: LearnStats,
    push: Option<Push>,
}

impl<'m> App<'m> {
    /// An app holding `models` (their index is their [`ModelId`]; models beyond
    /// [`MAX_MODELS`] are ignored) and the scratch arena they and weight pushes share.
    pub fn new(
        models: impl IntoIterator<Item = &'m mut dyn DeviceModel>,
        scratch: &'m mut [u32],
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
        }
    }

    /// The learner's statistics.
    pub fn stats(&self) -> LearnStats {
        self.stats
    }

    fn model(&mut self, id: ModelId) -> Result<&mut dyn DeviceModel, ErrorCode> {
        model(&mut self.models, id)
    }

    fn learner(&mut self) -> Result<&mut dyn Learner, ErrorCode> {
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
                let scores = m.infer(&pixels.0, self.scratch);
                let count = platform.now().wrapping_sub(t0);
                Response::Inferred {
                    class: argmax(&scores),
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
                let s = &mut self.stats;
                s.samples_seen += 1;
                s.prequential_correct += (step.predicted == label) as u32;
                s.prequential_accuracy = s.prequential_correct as f32 / s.samples_seen as f32;
                s.last_loss = step.loss;
                Response::Learned {
                    loss: step.loss,
                    predicted_before: step.predicted,
                    samples_seen: s.samples_seen,
                    count,
                }
            }
            Request::Stats => Response::Stats(self.stats),
            Request::Configure { optimizer, lr } => {
                if !lr.is_finite() {
                    return Err(e(ErrorCode::NonFinite));
                }
                if lr <= 0.0 {
                    return Err(e(ErrorCode::BadValue));
                }
                self.learner()
                    .map_err(e)?
                    .configure(optimizer, lr)
                    .map_err(e)?;
                Response::Ok
            }
            Request::Reset { seed } => {
                self.learner().map_err(e)?.reset(seed);
                self.stats = LearnStats::default();
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
                    model,
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
                let staging: &mut [u8] = bytemuck::cast_slice_mut(&mut *self.scratch);
                staging[p.received..p.received + data.len()].copy_from_slice(&data);
                p.received += data.len();
                Response::Ok
            }
            Request::PushEnd => {
                let p = self.push.take().ok_or(e(ErrorCode::NoPush))?;
                if p.received != p.len {
                    return Err((ErrorCode::BadLength, p.received as u32));
                }
                let blob: &[u8] = &bytemuck::cast_slice(&*self.scratch)[..p.len];
                if proto::crc32(blob) != p.crc {
                    return Err(e(ErrorCode::BadBlobCrc));
                }
                if let Some(i) = blob
                    .chunks_exact(4)
                    .position(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
                {
                    return Err((ErrorCode::NonFinite, i as u32));
                }
                model(&mut self.models, p.model)
                    .map_err(e)?
                    .load_params(blob);
                Response::Ok
            }
            Request::Pull { model, offset, len } => {
                let m = self.model(model).map_err(e)?;
                if len as usize > CHUNK {
                    return Err((ErrorCode::BadLength, CHUNK as u32));
                }
                let total = m.param_count() * 4;
                if offset as usize > total {
                    return Err((ErrorCode::BadOffset, total as u32));
                }
                let mut data = heapless::Vec::<u8, CHUNK>::new();
                let want = (len as usize).min(total - offset as usize);
                // Cannot fail: want ≤ len ≤ CHUNK.
                let _ = data.resize(want, 0);
                let got = m.read_params(offset as usize, &mut data);
                data.truncate(got);
                Response::Chunk { offset, data }
            }
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
                trainable: m.learner().is_some(),
            });
        }
        DeviceInfo {
            protocol: proto::PROTOCOL_VERSION,
            firmware: short_name(FIRMWARE),
            models,
            memory: platform.memory(),
            counter: platform.counter(),
            clock_hz: platform.clock_hz(),
        }
    }
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

fn learner<'a>(models: &'a mut [&mut dyn DeviceModel]) -> Result<&'a mut dyn Learner, ErrorCode> {
    models
        .iter_mut()
        .find_map(|m| m.learner())
        .ok_or(ErrorCode::NotTrainable)
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

/// Index of the largest score (the first on ties; NaN never wins).
pub fn argmax(scores: &[f32; CLASSES]) -> u8 {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] || scores[best].is_nan() {
            best = i;
        }
    }
    best as u8
}

/// The app with its frame decoder and output buffer: the whole device as bytes in, frames out.
pub struct Device<'m> {
    /// The application.
    pub app: App<'m>,
    decoder: proto::Decoder,
    out: [u8; MAX_FRAME],
}

impl<'m> Device<'m> {
    /// A device around `app`.
    pub fn new(app: App<'m>) -> Self {
        Device {
            app,
            decoder: proto::Decoder::new(),
            out: [0; MAX_FRAME],
        }
    }

    /// The frame announcing the device (seq 0), sent once the receiver is on.
    pub fn ready_frame(&mut self) -> &[u8] {
        encode_or_internal(0, &Response::Ready, &mut self.out)
    }

    /// Takes one received byte; when it completes a frame, returns the response frame to send.
    /// Corrupt, oversized and unknown frames are answered with an error frame.
    pub fn on_byte(&mut self, byte: u8, platform: &dyn Platform) -> Option<&[u8]> {
        let (seq, resp) = match self.decoder.feed::<Request>(byte)? {
            Ok((seq, req)) => (seq, self.app.handle(req, platform)),
            Err(FrameError { code, seq }) => (seq, Response::Error { code, detail: 0 }),
        };
        Some(encode_or_internal(seq, &resp, &mut self.out))
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

/// Pixels as the model input: `p / 255` in `[0, 1]` (the host's data loader uses the same).
pub fn normalise(pixels: &[u8; PIXELS], out: &mut [f32]) {
    for (o, &p) in out.iter_mut().zip(pixels) {
        *o = p as f32 * (1.0 / 255.0);
    }
}
