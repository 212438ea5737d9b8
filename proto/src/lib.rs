//! The shinso wire protocol, shared by the firmware and the host CLI.
//!
//! A *frame* on the wire is
//!
//! ```text
//! COBS( postcard(seq: u32) ++ postcard(message) ++ crc32_le(everything before) ) ++ 0x00
//! ```
//!
//! * **COBS** removes every zero byte from the payload so `0x00` can delimit frames: a receiver
//!   that lost sync (line noise, a reset half way through a frame) recovers at the next zero.
//! * **CRC-32** (the zlib/Ethernet polynomial, the core's [`shinso::model::crc32`], as for
//!   weight blobs) catches corruption that COBS cannot.
//! * **seq** pairs a response with its request. `0` is reserved for frames that answer no request
//!   (the boot-time [`Response::Ready`], and errors for frames whose seq could not be read), so a
//!   host numbers its requests from 1 and skips 0 when it wraps.
//!
//! **Flow control: one request in flight.** A host sends a request and waits for its answer (or
//! its timeout) before it sends the next. The device reads bytes into a queue of two maximal
//! frames while it computes, so one request can never overflow it; requests written back to
//! back can, and then bytes are dropped, delimiters included, and frames merge. The device
//! counts the bytes it drops ([`LearnStats::rx_dropped`]) and answers the first frame after a
//! drop with [`ErrorCode::Overrun`] instead of running it, so no request is lost in silence.
//!
//! Every message has a bounded size (heapless containers, fixed arrays), so both ends work with
//! fixed buffers of [`MAX_FRAME`] bytes; [`Decoder`] never allocates and never panics, whatever
//! arrives. The host uses [`encode`] + [`Decoder`] exactly as the device does.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cobs;
mod frame;
mod pixels;

pub use frame::{encode, encoded_len_bound, Decoder, EncodeError, FrameError};
pub use pixels::Pixels;

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// Protocol version, reported by [`Response::Info`]; bump on any incompatible change
/// (2: each model's RAM and heap and the arena in `Info`, [`LearnStats::rx_dropped`],
/// [`ErrorCode::Overrun`]; 3: the learner's checkpoints, [`Request::SaveCheckpoint`] to
/// [`Request::RestoreBegin`], [`Request::FineTune`], [`Request::Schedule`], each model's
/// arena share in `Info`; 4: images as runs, see [`Pixels`]).
pub const PROTOCOL_VERSION: u16 = 4;
/// Pixels in one MNIST image (28 × 28, row-major, 0 = white background, 255 = ink).
pub const PIXELS: usize = 784;
/// Number of classes (digits): the core's, which every zoo net scores.
pub use shinso::zoo::CLASSES;
/// Largest weight chunk in one [`Request::PushChunk`] / [`Response::Chunk`].
pub const CHUNK: usize = 512;
/// Most models a device can describe in [`Response::Info`].
pub const MAX_MODELS: usize = 4;
/// Longest model name / firmware version string.
pub const NAME_LEN: usize = 24;
/// Largest un-encoded frame payload (seq + message + CRC). Every message fits (tested).
pub const MAX_PAYLOAD: usize = 1024;
/// Largest frame on the wire, COBS overhead and the 0x00 delimiter included.
pub const MAX_FRAME: usize = encoded_len_bound(MAX_PAYLOAD);

/// Identifies a model on the device (an index into [`Response::Info`]'s list).
pub type ModelId = u8;

/// What the host asks. Every request carries a `seq` in its frame, echoed by the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Describe the firmware, its models and its memory budget → [`Response::Info`].
    Info,
    /// Classify one image with `model` → [`Response::Inferred`].
    Infer {
        /// Which model.
        model: ModelId,
        /// The image.
        pixels: Pixels,
    },
    /// One online-learning step of the device's learner on a labelled image → [`Response::Learned`].
    /// The learner first predicts (for the prequential accuracy), then updates, both on the
    /// image moved by one pixel (see [`Response::Learned`]).
    Learn {
        /// The image.
        pixels: Pixels,
        /// Its digit, `0..CLASSES`.
        label: u8,
    },
    /// Learner statistics → [`Response::Stats`].
    Stats,
    /// Choose the learner's optimizer and learning rate (resets optimizer state) → [`Response::Ok`].
    Configure {
        /// Update rule; hyperparameters other than the rate take the course's defaults
        /// ([`Kind::rule`](shinso::optim::Kind::rule)). On the wire: the kind's index in
        /// [`Kind::ALL`](shinso::optim::Kind::ALL).
        optimizer: shinso::optim::Kind,
        /// Learning rate, in the range the rule can train with
        /// (`shinso::optim::limits::lr_range`); otherwise [`ErrorCode::BadValue`] with the
        /// largest accepted rate, as `f32` bits, in `detail`.
        lr: f32,
    },
    /// Re-initialise the learner's weights from `seed` and clear its statistics → [`Response::Ok`].
    Reset {
        /// PRNG seed for the initialisation.
        seed: u64,
    },
    /// Start replacing `model`'s parameters with a blob of `len` bytes (little-endian f32) whose
    /// CRC-32 is `crc`. `signature` must equal the model's (so weights for another architecture
    /// are refused up front). The old weights stay in use until [`Request::PushEnd`] verifies
    /// the whole blob.
    PushBegin {
        /// Target model.
        model: ModelId,
        /// Architecture signature the blob was exported for.
        signature: u64,
        /// Blob length in bytes.
        len: u32,
        /// CRC-32 of the whole blob.
        crc: u32,
    },
    /// The next piece of the blob; `offset` must equal the bytes received so far.
    PushChunk {
        /// Byte offset of `data` in the blob.
        offset: u32,
        /// The bytes.
        data: Vec<u8, CHUNK>,
    },
    /// Check length, CRC and finiteness, then swap the new weights in → [`Response::Ok`].
    PushEnd,
    /// Read `len` (≤ [`CHUNK`]) bytes of `model`'s parameter blob from `offset` → [`Response::Chunk`].
    Pull {
        /// Source model.
        model: ModelId,
        /// Byte offset.
        offset: u32,
        /// Bytes wanted (the answer is shorter at the end of the blob).
        len: u16,
    },
    /// Save the learner's whole state (weights, optimizer state, step count) to the device's
    /// checkpoint flash now → [`Response::Checkpoints`], after the save. A failed save
    /// ([`ErrorCode::Flash`]) keeps the previous checkpoint.
    SaveCheckpoint,
    /// When the device saves by itself: after every `steps`-th learning step (0: never, the
    /// setting at boot) → [`Response::Ok`].
    CheckpointEvery {
        /// Learning steps between saves, counted by the learner's step count.
        steps: u32,
    },
    /// The learner's state and the checkpoints in flash → [`Response::Checkpoints`].
    CheckpointStatus,
    /// Read `len` (≤ [`CHUNK`]) bytes of the learner's whole state from `offset`, the bytes a
    /// checkpoint holds (`shinso_app::slot::state` describes them) → [`Response::Chunk`].
    PullState {
        /// Byte offset.
        offset: u32,
        /// Bytes wanted (the answer is shorter at the end).
        len: u16,
    },
    /// Start replacing the learner's whole state with `len` bytes of CRC-32 `crc`, sent as
    /// [`Request::PushChunk`]s; [`Request::PushEnd`] checks all of it (CRC, signature, lengths,
    /// rule, finiteness) before anything changes.
    RestoreBegin {
        /// State length in bytes.
        len: u32,
        /// CRC-32 of the whole state.
        crc: u32,
    },
    /// One fine-tuning step of a pushed `model` (not the learner) on a labelled image: its last
    /// layer and bias learn by SGD on what the frozen layers before it compute →
    /// [`Response::Learned`] (`samples_seen`: fine-tuning steps since its weights arrived). The
    /// rate is the model's [`Request::Schedule`] (until one: 0.01, constant). A step whose loss
    /// or update is not finite changes nothing ([`ErrorCode::RolledBack`]); the learner answers
    /// [`ErrorCode::NotTrainable`] (it learns whole, by [`Request::Learn`]).
    FineTune {
        /// Which model.
        model: ModelId,
        /// The image.
        pixels: Pixels,
        /// Its digit, `0..CLASSES`.
        label: u8,
    },
    /// The learning rate of `model`'s steps from now on: `lr` at the next step, decaying
    /// linearly to 0 over `decay_steps` steps (step `k` takes `lr · (1 − k / decay_steps)`;
    /// from step `decay_steps − 1` on it stays at `lr / decay_steps`); `decay_steps` 0 keeps
    /// it constant. For the learner it applies to [`Request::Learn`] under the rule
    /// [`Request::Configure`] chose (which sets a constant rate again); for a pushed model, to
    /// [`Request::FineTune`]. [`Request::Reset`] and a push restart the count. `lr` must be in the rule's range
    /// (otherwise [`ErrorCode::BadValue`], `detail` the largest rate as `f32` bits) →
    /// [`Response::Ok`].
    Schedule {
        /// Which model.
        model: ModelId,
        /// Rate of the next step.
        lr: f32,
        /// Steps over which it decays to 0 (0: constant).
        decay_steps: u32,
    },
}

/// The learner's checkpoints in [`Response::Checkpoints`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckpointStatus {
    /// Whether the device has checkpoint flash (the host emulation has none).
    pub flash: bool,
    /// Bytes of the learner's state now (what a save writes, a pull reads).
    pub state_len: u32,
    /// The learner's step count: updates applied since its weights were set.
    pub steps: u32,
    /// [`Request::CheckpointEvery`]'s setting (0: never).
    pub every: u32,
    /// Sequence number of the newest valid checkpoint in flash.
    pub latest: Option<u32>,
    /// Sequence number of the checkpoint the learner resumed from at boot.
    pub resumed: Option<u32>,
    /// Saves that failed since boot (each kept the checkpoint before it).
    pub failed: u32,
}

/// What the device says. Each answers the request with the same seq, except [`Response::Ready`].
// Messages are fixed-size by design (no heap on the device); boxing the big variant is not an option.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Sent once at boot (seq 0) as soon as the receiver is on: bytes sent earlier are lost
    /// (QEMU drops them), so the host waits for this before its first request.
    Ready,
    /// Answer to [`Request::Info`].
    Info(DeviceInfo),
    /// Answer to [`Request::Infer`]. Scores that are not all finite name no class: the device
    /// answers [`ErrorCode::NonFinite`] instead.
    Inferred {
        /// Arg-max of `scores`.
        class: u8,
        /// Softmax probabilities.
        scores: [f32; CLASSES],
        /// Cost of the inference in [`DeviceInfo::counter`] units.
        count: u64,
    },
    /// Answer to [`Request::Learn`].
    Learned {
        /// Loss of the sample before the update.
        loss: f32,
        /// The learner's prediction before the update (prequential evaluation). Both it and
        /// `loss` are of the image the learner learns from: the one sent, moved by one pixel
        /// in the direction of its step (`k`-th step since the schedule was set or the
        /// learner reset, `k % 8` in the order up-left, up, up-right, left, right, down-left,
        /// down, down-right; zeros come in at the edge). Inference of that moved image
        /// gives the same prediction.
        predicted_before: u8,
        /// Samples learned since the last reset.
        samples_seen: u32,
        /// Cost of the whole step (predict + backward + update) in [`DeviceInfo::counter`] units.
        count: u64,
    },
    /// Answer to [`Request::Stats`].
    Stats(LearnStats),
    /// Success without data.
    Ok,
    /// Answer to [`Request::Pull`] and [`Request::PullState`].
    Chunk {
        /// Byte offset of `data` in the blob.
        offset: u32,
        /// The bytes (empty past the end).
        data: Vec<u8, CHUNK>,
    },
    /// The request failed; nothing changed on the device (see [`ErrorCode`]).
    Error {
        /// What went wrong.
        code: ErrorCode,
        /// A number that helps: expected length, offset, byte count… (0 if none).
        detail: u32,
    },
    /// Answer to [`Request::SaveCheckpoint`] and [`Request::CheckpointStatus`].
    Checkpoints(CheckpointStatus),
}

/// Description of the device in [`Response::Info`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// [`PROTOCOL_VERSION`] the firmware speaks.
    pub protocol: u16,
    /// Firmware name and version, e.g. `shinso-fw 0.1.0`.
    pub firmware: String<NAME_LEN>,
    /// The models, indexed by [`ModelId`].
    pub models: Vec<ModelInfo, MAX_MODELS>,
    /// Memory the firmware uses.
    pub memory: MemoryBudget,
    /// Unit of the `count` fields of [`Response::Inferred`] / [`Response::Learned`].
    pub counter: Counter,
    /// Core clock in Hz (16 MHz under QEMU, 168 MHz on a board).
    pub clock_hz: u32,
}

/// One model the device holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Its [`ModelId`].
    pub id: ModelId,
    /// Human-readable architecture name.
    pub name: String<NAME_LEN>,
    /// Architecture signature; a pushed blob must carry the same.
    pub signature: u64,
    /// Number of f32 parameters (blob length is 4× this).
    pub params: u32,
    /// Whether [`Request::Learn`] trains it.
    pub trainable: bool,
    /// Bytes of static RAM it takes: its network (parameters, and what a training step keeps
    /// between forward and backward).
    pub ram: u32,
    /// Bytes of heap it holds now: the optimizer state of the rule chosen over the wire.
    pub heap: u32,
    /// Bytes of the shared arena its largest request takes: a learning step for the learner
    /// (the image, the gradients, what backward needs), a fine-tuning step or an inference for
    /// a pushed model.
    pub arena: u32,
}

/// Memory budget in bytes (measured by the firmware from its linker symbols). The models' own
/// parts are in [`ModelInfo::ram`] and [`ModelInfo::heap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemoryBudget {
    /// Flash used by code and constants.
    pub flash: u32,
    /// Static RAM (.data + .bss), CCM included.
    pub ram: u32,
    /// Of `ram`, the scratch arena every request borrows (activations, gradients, a staged
    /// push).
    pub arena: u32,
    /// Stack reserved.
    pub stack: u32,
    /// Deepest stack use so far (the stack is painted at boot; 0 where not measured).
    pub stack_used: u32,
    /// Heap size.
    pub heap: u32,
    /// Heap in use now.
    pub heap_used: u32,
}

/// What the device's `count` fields measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Counter {
    /// Executed instructions (QEMU with `-icount shift=0`).
    Instructions,
    /// CPU cycles (DWT cycle counter on hardware).
    Cycles,
    /// No counter (host emulation).
    None,
}

/// Learner statistics in [`Response::Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LearnStats {
    /// Samples learned since the last reset.
    pub samples_seen: u32,
    /// Of those, how many the learner predicted right *before* learning them.
    pub prequential_correct: u32,
    /// `prequential_correct / samples_seen` (0 when none).
    pub prequential_accuracy: f32,
    /// Loss of the last sample.
    pub last_loss: f32,
    /// Steps rolled back because the loss or the update was not finite.
    pub rolled_back: u32,
    /// Bytes the device's receiver dropped since boot (its queue was full: requests were sent
    /// without waiting for answers). Not cleared by [`Request::Reset`].
    pub rx_dropped: u32,
}

/// Why a request failed. Frame-level codes come from [`Decoder`]; the rest from the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// COBS or length invalid (truncated frame, garbage between frames).
    BadFrame,
    /// CRC mismatch.
    BadCrc,
    /// The CRC was right but the message is not one this side knows (other version?).
    Unknown,
    /// The frame was longer than [`MAX_FRAME`]; it was skipped up to its delimiter.
    Oversized,
    /// A number that must be finite was NaN or infinite (learning rate, pushed weights).
    NonFinite,
    /// A pushed blob's signature is not the model's.
    BadSignature,
    /// A length is wrong (blob length, pull length, push past the announced length).
    BadLength,
    /// A chunk's offset is not where the push stands.
    BadOffset,
    /// The whole blob's CRC does not match [`Request::PushBegin`]'s.
    BadBlobCrc,
    /// No model with that id.
    NoSuchModel,
    /// The model cannot learn.
    NotTrainable,
    /// Label outside `0..CLASSES`, or another out-of-range value.
    BadValue,
    /// A chunk or end came without a begin.
    NoPush,
    /// The learning step gave a non-finite loss or weights; it was undone.
    RolledBack,
    /// The device cannot allocate what the request needs.
    OutOfMemory,
    /// The device's receiver dropped bytes (`detail` of them) before this frame ended, so
    /// requests were lost; this frame was not run. Send one request at a time.
    Overrun,
    /// A checkpoint save failed; the previous checkpoint is kept. `detail`: 0 the flash
    /// reported an error, 1 it reported none but reads back wrong (QEMU's flash, a ROM).
    Flash,
    /// The device has no checkpoint flash.
    NoFlash,
}
