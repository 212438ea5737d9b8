//! A 28×28 image as a fixed array that serde can carry, run-length coded on the wire.
//!
//! serde has no impls for arrays longer than 32, and a `heapless::Vec` would let a frame carry
//! the wrong number of pixels. So the image is sent as a byte string (postcard: a varint length
//! and the bytes) and checked on the way in.
//!
//! An MNIST digit is four-fifths background: 141 of 784 pixels are ink on average. Sent raw, an
//! image is 784 bytes, 68 ms at 115,200 baud, several times the device's inference. So in binary
//! formats the byte string holds *runs*: pairs of a count of zero pixels and a count `n` of the
//! pixels after them, each a byte, followed by those `n` pixels as they are, until all 784 are
//! covered. An `Infer` frame then averages 215 bytes over the official test set instead of 798 (375
//! at most; `tests/tests/device_pty.rs` measures it). An image
//! whose runs would take 784 bytes or more (noise, say) goes raw: a string of exactly 784 bytes
//! is always the raw image, any other length is runs, so the encoder never pays more than raw.
//! Decoding checks that the runs cover exactly 784 pixels and reads nothing past the string.
//! Self-describing formats (the host's JSON) carry the 784 pixels plainly.

use crate::PIXELS;
use core::fmt;
use serde::de::{Error, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One MNIST image: 784 bytes, row-major, 0 = background.
#[derive(Clone, PartialEq, Eq)]
pub struct Pixels(pub [u8; PIXELS]);

impl Pixels {
    /// The image from a slice, or `None` if it is not exactly [`PIXELS`] long.
    pub fn from_slice(s: &[u8]) -> Option<Self> {
        Some(Pixels(s.try_into().ok()?))
    }

    /// The image from a data loader's floats (`p / 255`, in `[0, 1]`), back to the bytes the
    /// wire carries: each the nearest byte (out of range saturates, NaN is 0); `None` if not
    /// exactly [`PIXELS`] values. Exact for every byte: `from_unit(p / 255) == p`.
    pub fn from_unit(x: &[f32]) -> Option<Self> {
        let mut p = [0u8; PIXELS];
        if x.len() != PIXELS {
            return None;
        }
        for (o, v) in p.iter_mut().zip(x) {
            // `as` saturates: below 0 (and NaN) gives 0, above 255 gives 255.
            *o = (v * 255.0 + 0.5) as u8;
        }
        Some(Pixels(p))
    }
}

impl Default for Pixels {
    fn default() -> Self {
        Pixels([0; PIXELS])
    }
}

impl fmt::Debug for Pixels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ink = self.0.iter().filter(|&&p| p > 0).count();
        write!(f, "Pixels({ink} ink of {PIXELS})")
    }
}

/// Longest run a count byte can hold.
const RUN: usize = u8::MAX as usize;

/// The runs of `p` into `out`: its length, or `None` if they would take [`PIXELS`] bytes or
/// more (then the raw image is the shorter string).
fn runs(p: &[u8; PIXELS], out: &mut [u8; PIXELS]) -> Option<usize> {
    let (mut i, mut len) = (0, 0);
    while i < PIXELS {
        let zeros = p[i..].iter().take(RUN).take_while(|&&v| v == 0).count();
        i += zeros;
        let ink = p[i..].iter().take(RUN).take_while(|&&v| v != 0).count();
        let end = len + 2 + ink;
        if end >= PIXELS {
            return None;
        }
        out[len] = zeros as u8;
        out[len + 1] = ink as u8;
        out[len + 2..end].copy_from_slice(&p[i..i + ink]);
        (i, len) = (i + ink, end);
    }
    Some(len)
}

/// The image the byte string `v` codes: raw if exactly [`PIXELS`] long, else runs that must
/// cover exactly [`PIXELS`] pixels (`None` otherwise).
fn from_wire(v: &[u8]) -> Option<Pixels> {
    if v.len() == PIXELS {
        return Pixels::from_slice(v);
    }
    let (mut p, mut i, mut rest) = ([0u8; PIXELS], 0, v);
    while let [zeros, ink, tail @ ..] = rest {
        let (zeros, ink) = (usize::from(*zeros), usize::from(*ink));
        if tail.len() < ink || i + zeros + ink > PIXELS {
            return None;
        }
        i += zeros;
        p[i..i + ink].copy_from_slice(&tail[..ink]);
        (i, rest) = (i + ink, &tail[ink..]);
    }
    (i == PIXELS && rest.is_empty()).then_some(Pixels(p))
}

impl Serialize for Pixels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; PIXELS];
        if !s.is_human_readable() {
            if let Some(len) = runs(&self.0, &mut buf) {
                return s.serialize_bytes(&buf[..len]);
            }
        }
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Pixels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pixels;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{PIXELS} pixels, raw or as runs")
            }
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Pixels, E> {
                from_wire(v).ok_or_else(|| E::invalid_length(v.len(), &self))
            }
            // Self-describing formats (JSON on the host) may give a sequence instead.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Pixels, A::Error> {
                let mut p = [0u8; PIXELS];
                for (i, slot) in p.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                if seq.next_element::<u8>()?.is_some() {
                    return Err(A::Error::invalid_length(PIXELS + 1, &self));
                }
                Ok(Pixels(p))
            }
        }
        d.deserialize_bytes(V)
    }
}
