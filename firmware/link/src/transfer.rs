//! Weights to and from a device: the one implementation of the protocol's push (begin, chunks,
//! end) and pull (chunk by chunk) that the host CLI, the end-to-end scenario and the tests use.
//!
//! Both take the request/answer exchange as a closure, `ask`, so that they run over a [`Link`]
//! (`|r| link.request(r, timeout)`), over the device's application logic in process, or over
//! whatever a caller wraps around either (a host that checks whether QEMU died on each
//! failure); its error type `E` comes back unchanged in [`TransferError::Link`].
//!
//! [`Link`]: crate::Link

use crate::answer::refusal;
use shinso_proto::{ErrorCode, ModelId, Request, Response, CHUNK};

/// A blob to send: `payload` is the parameters as little-endian `f32`s (a model blob without
/// the core's header), announced to the device with `signature` and `crc`.
#[derive(Clone, Copy, Debug)]
pub struct Push<'a> {
    /// Target model.
    pub model: ModelId,
    /// The architecture the payload is for; the device refuses another model's.
    pub signature: u64,
    /// The bytes.
    pub payload: &'a [u8],
    /// CRC-32 announced in `PushBegin`, which the device checks the whole payload against.
    pub crc: u32,
}

impl<'a> Push<'a> {
    /// A push of `payload` to `model`, with the payload's own CRC.
    pub fn new(model: ModelId, signature: u64, payload: &'a [u8]) -> Self {
        Push {
            model,
            signature,
            payload,
            crc: shinso::model::crc32(payload),
        }
    }
}

/// Why a transfer stopped.
#[derive(Debug)]
pub enum TransferError<E> {
    /// A request got no answer (the `ask` closure's error).
    Link(E),
    /// The device refused a request; a refused push leaves the old weights in place.
    Refused {
        /// `"push"` or `"pull"`.
        transfer: &'static str,
        /// Its reason.
        code: ErrorCode,
        /// Its number (expected length, offset…).
        detail: u32,
    },
    /// The device answered out of protocol (another message, a chunk not where or not as
    /// long as asked).
    Unexpected {
        /// What was asked, in words.
        asked: String,
        /// What came back.
        answer: Box<Response>,
    },
}

impl<E: std::fmt::Display> std::fmt::Display for TransferError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransferError::Link(e) => write!(f, "{e}"),
            TransferError::Refused {
                transfer,
                code,
                detail,
            } => write!(f, "{transfer}: device refused: {}", refusal(*code, *detail)),
            TransferError::Unexpected { asked, answer } => {
                write!(f, "{asked}: unexpected answer {answer:?}")
            }
        }
    }
}

impl<E: std::fmt::Debug + std::fmt::Display> std::error::Error for TransferError<E> {}

/// `answer` to a push request, which must be `Ok`.
fn accepted<E>(asked: impl FnOnce() -> String, answer: Response) -> Result<(), TransferError<E>> {
    match answer {
        Response::Ok => Ok(()),
        r => Err(unexpected("push", asked, r)),
    }
}

/// A refusal as [`TransferError::Refused`], anything else as [`TransferError::Unexpected`].
fn unexpected<E>(
    transfer: &'static str,
    asked: impl FnOnce() -> String,
    answer: Response,
) -> TransferError<E> {
    match answer {
        Response::Error { code, detail } => TransferError::Refused {
            transfer,
            code,
            detail,
        },
        r => TransferError::Unexpected {
            asked: asked(),
            answer: Box::new(r),
        },
    }
}

/// Sends `blob` in [`CHUNK`]-byte pieces; `progress` hears the bytes sent after each. The
/// device swaps the weights in at the end, once length, CRC and finiteness check; the first
/// refusal stops the push.
pub fn push<E>(
    ask: impl FnMut(&Request) -> Result<Response, E>,
    blob: &Push<'_>,
    progress: impl FnMut(usize),
) -> Result<(), TransferError<E>> {
    let begin = Request::PushBegin {
        model: blob.model,
        signature: blob.signature,
        len: blob.payload.len() as u32,
        crc: blob.crc,
    };
    send(ask, &begin, blob.payload, progress)
}

/// The staged upload every push is: `begin` (a `PushBegin`, or a `RestoreBegin` of the
/// learner's whole state), then `payload` in [`CHUNK`]-byte `PushChunk`s, then `PushEnd`, each
/// of which the device must accept; `progress` hears the bytes sent after each chunk.
pub fn send<E>(
    mut ask: impl FnMut(&Request) -> Result<Response, E>,
    begin: &Request,
    payload: &[u8],
    mut progress: impl FnMut(usize),
) -> Result<(), TransferError<E>> {
    let answer = ask(begin).map_err(TransferError::Link)?;
    accepted(|| format!("{begin:?}"), answer)?;
    for (k, piece) in payload.chunks(CHUNK).enumerate() {
        let offset = k * CHUNK;
        let data = heapless::Vec::from_slice(piece).expect("a piece of CHUNK bytes at most");
        let chunk = Request::PushChunk {
            offset: offset as u32,
            data,
        };
        let answer = ask(&chunk).map_err(TransferError::Link)?;
        accepted(
            || format!("push of {} bytes at {offset}", piece.len()),
            answer,
        )?;
        progress(offset + piece.len());
    }
    let answer = ask(&Request::PushEnd).map_err(TransferError::Link)?;
    accepted(|| "the end of the push".into(), answer)
}

/// Reads `len` bytes of `model`'s parameter blob ([`fetch`] with `Pull` requests).
pub fn pull<E>(
    ask: impl FnMut(&Request) -> Result<Response, E>,
    model: ModelId,
    len: usize,
    progress: impl FnMut(usize),
) -> Result<Vec<u8>, TransferError<E>> {
    let request = |offset, len| Request::Pull { model, offset, len };
    fetch(ask, len, request, progress)
}

/// Reads `len` bytes a [`CHUNK`] at a time with the requests `request(offset, len)` makes (a
/// model's `Pull`, the learner's `PullState`); `progress` hears the bytes read after each
/// chunk. Every chunk must start where the last ended and be no longer than asked (so a
/// device cannot make the host read more than `len`), and none may be empty before `len`.
pub fn fetch<E>(
    mut ask: impl FnMut(&Request) -> Result<Response, E>,
    len: usize,
    request: impl Fn(u32, u16) -> Request,
    mut progress: impl FnMut(usize),
) -> Result<Vec<u8>, TransferError<E>> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let want = CHUNK.min(len - out.len());
        let at = out.len();
        let req = request(at as u32, want as u16);
        match ask(&req).map_err(TransferError::Link)? {
            Response::Chunk { offset, data }
                if offset as usize == at && !data.is_empty() && data.len() <= want =>
            {
                out.extend_from_slice(&data);
                progress(out.len());
            }
            r => {
                return Err(unexpected(
                    "pull",
                    || format!("{req:?}: {want} bytes at {at}"),
                    r,
                ))
            }
        }
    }
    Ok(out)
}
