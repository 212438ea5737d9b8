//! A 28×28 image as a fixed array that serde can carry.
//!
//! serde has no impls for arrays longer than 32, and a `heapless::Vec` would let a frame carry
//! the wrong number of pixels. So the image is sent as a byte string (postcard: a varint length
//! and the raw bytes) and the length is checked on the way in.

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

impl Serialize for Pixels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Pixels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pixels;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{PIXELS} bytes")
            }
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Pixels, E> {
                Pixels::from_slice(v).ok_or_else(|| E::invalid_length(v.len(), &self))
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
