//! Framing: [`encode`] a message, and a byte-at-a-time [`Decoder`] that never panics.

use crate::{cobs, ErrorCode, MAX_FRAME, MAX_PAYLOAD};
use serde::{de::DeserializeOwned, Serialize};
use shinso::model::CRC32;

/// Upper bound of the wire size of a frame with `payload` un-encoded bytes (COBS overhead and
/// the `0x00` delimiter included).
pub const fn encoded_len_bound(payload: usize) -> usize {
    payload + cobs::overhead(payload) + 1
}

/// Where [`encode`] puts the raw payload before COBS moves it to the front.
const SRC: usize = cobs::overhead(MAX_PAYLOAD);

/// Why [`encode`] failed. Both mean a bug on the sending side (a message bigger than the
/// protocol allows, or a buffer smaller than [`MAX_FRAME`]), never bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The message does not fit in [`MAX_PAYLOAD`] or in the buffer.
    TooLong,
}

/// Encodes `msg` with its sequence number into `buf` (at least [`MAX_FRAME`] bytes is always
/// enough) and returns the complete frame, delimiter included, ready to write to the wire.
pub fn encode<'b, T: Serialize>(
    seq: u32,
    msg: &T,
    buf: &'b mut [u8],
) -> Result<&'b [u8], EncodeError> {
    let end = buf.len().min(SRC + MAX_PAYLOAD);
    if end <= SRC + 4 {
        return Err(EncodeError::TooLong);
    }
    let body_end = end - 4; // room for the CRC
    let region = &mut buf[SRC..body_end];
    let used = {
        let n = postcard::to_slice(&seq, region)
            .map_err(|_| EncodeError::TooLong)?
            .len();
        n + postcard::to_slice(msg, &mut region[n..])
            .map_err(|_| EncodeError::TooLong)?
            .len()
    };
    let crc = CRC32.checksum(&buf[SRC..SRC + used]);
    buf[SRC + used..SRC + used + 4].copy_from_slice(&crc.to_le_bytes());
    let n = cobs::encode_in_place(buf, SRC, used + 4);
    // n ≤ SRC + used + 4 ≤ end - … so a byte for the delimiter may still be missing.
    if n >= buf.len() {
        return Err(EncodeError::TooLong);
    }
    buf[n] = 0;
    Ok(&buf[..=n])
}

/// A frame that could not be turned into a message. `seq` is the frame's sequence number when it
/// could be read (the CRC was right), else 0; the device answers with
/// [`crate::Response::Error`]`{ code, .. }` under that seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameError {
    /// [`ErrorCode::BadFrame`], [`ErrorCode::BadCrc`], [`ErrorCode::Oversized`] or
    /// [`ErrorCode::Unknown`].
    pub code: ErrorCode,
    /// Sequence number, 0 if unknown.
    pub seq: u32,
}

/// Reassembles frames from a byte stream, one byte at a time (as a UART interrupt delivers them).
///
/// Bytes are collected up to the next `0x00`; then the frame is COBS-decoded, its CRC checked and
/// its message deserialized. A frame longer than [`MAX_FRAME`] is skipped to its delimiter and
/// reported once as [`ErrorCode::Oversized`]; empty frames (`0x00 0x00`) are ignored, so a sender
/// may put a `0x00` in front of a frame to flush garbage a receiver still holds.
pub struct Decoder {
    buf: [u8; MAX_FRAME],
    len: usize,
    overflowed: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// An empty decoder.
    pub const fn new() -> Self {
        Decoder {
            buf: [0; MAX_FRAME],
            len: 0,
            overflowed: false,
        }
    }

    /// Forgets any partial frame.
    pub fn reset(&mut self) {
        self.len = 0;
        self.overflowed = false;
    }

    /// Whether part of a frame is waiting for its delimiter.
    pub fn is_partial(&self) -> bool {
        self.len > 0 || self.overflowed
    }

    /// Takes one byte; at a delimiter returns the frame's message or why it was refused.
    pub fn feed<T: DeserializeOwned>(&mut self, byte: u8) -> Option<Result<(u32, T), FrameError>> {
        if byte != 0 {
            // The delimiter is not stored, so a maximal frame needs MAX_FRAME - 1 bytes.
            if self.len < MAX_FRAME - 1 {
                self.buf[self.len] = byte;
                self.len += 1;
            } else {
                self.overflowed = true;
            }
            return None;
        }
        let (len, overflowed) = (self.len, self.overflowed);
        self.reset();
        if overflowed {
            return Some(Err(FrameError {
                code: ErrorCode::Oversized,
                seq: 0,
            }));
        }
        if len == 0 {
            return None;
        }
        Some(parse(&mut self.buf[..len]))
    }
}

/// Decodes one delimiter-free frame in place.
fn parse<T: DeserializeOwned>(frame: &mut [u8]) -> Result<(u32, T), FrameError> {
    let bad = |code, seq| FrameError { code, seq };
    let n = cobs::decode_in_place(frame).ok_or(bad(ErrorCode::BadFrame, 0))?;
    if n < 5 {
        return Err(bad(ErrorCode::BadFrame, 0));
    }
    let (body, crc) = frame[..n].split_at(n - 4);
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if CRC32.checksum(body) != crc {
        return Err(bad(ErrorCode::BadCrc, 0));
    }
    let (seq, rest) =
        postcard::take_from_bytes::<u32>(body).map_err(|_| bad(ErrorCode::BadFrame, 0))?;
    match postcard::take_from_bytes::<T>(rest) {
        Ok((msg, [])) => Ok((seq, msg)),
        _ => Err(bad(ErrorCode::Unknown, seq)),
    }
}
