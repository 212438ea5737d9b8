//! A network's parameters as one flat sequence, and as a self-checking byte blob.
//!
//! Blob layout (little-endian), the device's weight format:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `SHNS` |
//! | 4..6 | format version (1) |
//! | 6..8 | reserved, 0 |
//! | 8..16 | network signature ([`Layer::SIGNATURE`]) |
//! | 16..20 | number of floats `N` (`PARAMS + STATE`) |
//! | 20..24 | CRC-32 (ISO-HDLC, as zlib) of the payload |
//! | 24.. | `N` floats, tensors in [`Layer::visit`] order |

use crate::error::Error;
use crate::layer::{Layer, Tensor};

/// Blob header bytes.
pub const HEADER: usize = 24;
/// The magic bytes that open a blob.
pub const MAGIC: [u8; 4] = *b"SHNS";
/// The blob format this build writes and reads.
pub const VERSION: u16 = 1;

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// CRC-32 (the zlib / PNG one) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

/// Bytes of a blob for network `L`.
pub const fn blob_len<L: Layer>() -> usize {
    HEADER + 4 * (L::PARAMS + L::STATE)
}

/// Write `net`'s parameters and state into `out`; returns the bytes written.
pub fn save<L: Layer>(net: &mut L, out: &mut [u8]) -> Result<usize, Error> {
    let len = blob_len::<L>();
    let Some(out) = out.get_mut(..len) else {
        return Err(Error::BufferTooSmall { needed: len });
    };
    let (header, payload) = out.split_at_mut(HEADER);
    let mut at = 0;
    net.visit(&mut |t: Tensor<'_>| {
        for v in t.value.iter() {
            payload[at..at + 4].copy_from_slice(&v.to_le_bytes());
            at += 4;
        }
    });
    header[0..4].copy_from_slice(&MAGIC);
    header[4..6].copy_from_slice(&VERSION.to_le_bytes());
    header[6..8].fill(0);
    header[8..16].copy_from_slice(&L::SIGNATURE.to_le_bytes());
    header[16..20].copy_from_slice(&((L::PARAMS + L::STATE) as u32).to_le_bytes());
    header[20..24].copy_from_slice(&crc32(payload).to_le_bytes());
    Ok(len)
}

/// Check that `blob` is a sound blob for network `L` without touching any network: right
/// magic, version, signature, length, checksum, and only finite values.
pub fn check<L: Layer>(blob: &[u8]) -> Result<(), Error> {
    let expected = blob_len::<L>();
    if blob.len() < HEADER {
        return Err(Error::BlobLength {
            expected,
            found: blob.len(),
        });
    }
    let (header, payload) = blob.split_at(HEADER);
    let u32_at =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    if header[0..4] != MAGIC {
        return Err(Error::BadMagic);
    }
    let version = u16::from_le_bytes([header[4], header[5]]);
    if version != VERSION {
        return Err(Error::BadVersion(version));
    }
    let mut sig = [0u8; 8];
    sig.copy_from_slice(&header[8..16]);
    let found = u64::from_le_bytes(sig);
    if found != L::SIGNATURE {
        return Err(Error::WrongSignature {
            expected: L::SIGNATURE,
            found,
        });
    }
    if u32_at(16) as usize != L::PARAMS + L::STATE {
        return Err(Error::BlobCount {
            expected: L::PARAMS + L::STATE,
            found: u32_at(16),
        });
    }
    if blob.len() != expected {
        return Err(Error::BlobLength {
            expected,
            found: blob.len(),
        });
    }
    let crc = crc32(payload);
    if crc != u32_at(20) {
        return Err(Error::BadChecksum {
            expected: u32_at(20),
            found: crc,
        });
    }
    let finite = payload
        .chunks_exact(4)
        .all(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite());
    if !finite {
        return Err(Error::NonFiniteParameter);
    }
    Ok(())
}

/// Load a blob into `net`. The blob is checked whole first, so on any error `net` is unchanged.
pub fn load<L: Layer>(net: &mut L, blob: &[u8]) -> Result<(), Error> {
    check::<L>(blob)?;
    let mut floats = blob[HEADER..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    net.visit(&mut |t: Tensor<'_>| {
        t.value
            .iter_mut()
            .zip(&mut floats)
            .for_each(|(v, f)| *v = f);
    });
    Ok(())
}

/// Copy every trainable parameter of `net`, in visit order, into `out` (`L::PARAMS` floats).
pub fn params_to<L: Layer>(net: &mut L, out: &mut [f32]) {
    let mut it = out.iter_mut();
    net.visit(&mut |t: Tensor<'_>| {
        if t.kind.trainable() {
            t.value.iter().zip(&mut it).for_each(|(v, o)| *o = *v);
        }
    });
}

/// Set every trainable parameter of `net` from `values` (visit order).
pub fn params_from<L: Layer>(net: &mut L, values: &[f32]) {
    let mut it = values.iter();
    net.visit(&mut |t: Tensor<'_>| {
        if t.kind.trainable() {
            t.value.iter_mut().zip(&mut it).for_each(|(v, x)| *v = *x);
        }
    });
}
