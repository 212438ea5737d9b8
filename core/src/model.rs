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
//!
//! [`header`] is the one writer of the header; the *payload* (the floats after it) can also be
//! read and written a chunk at a time ([`read_payload`], [`write_payload`]), which is how a
//! weight push or pull crosses a serial link without a blob-sized buffer on either side.

use crate::error::Error;
use crate::layer::{Layer, Tensor};

/// Blob header bytes.
pub const HEADER: usize = 24;
/// The magic bytes that open a blob.
pub const MAGIC: [u8; 4] = *b"SHNS";
/// The blob format this build writes and reads.
pub const VERSION: u16 = 1;

/// The project's one CRC-32 (ISO-HDLC, the zlib / PNG / Ethernet one): blobs here, frames in
/// the wire protocol, device checkpoints. Its `digest()` checks data that arrives in pieces.
pub const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// CRC-32 (the zlib / PNG one) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

/// Bytes of a blob for network `L`.
pub const fn blob_len<L: Layer>() -> usize {
    HEADER + payload_len::<L>()
}

/// Bytes of the payload of network `L`: its parameters and state as little-endian floats.
pub const fn payload_len<L: Layer>() -> usize {
    4 * (L::PARAMS + L::STATE)
}

/// The blob header for a network of signature `signature` whose payload is `floats` floats
/// with CRC-32 `crc` (see [`crc32`], [`payload_crc`]).
pub fn header(signature: u64, floats: usize, crc: u32) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&signature.to_le_bytes());
    h[16..20].copy_from_slice(&(floats as u32).to_le_bytes());
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Write `net`'s parameters and state into `out`; returns the bytes written.
pub fn save<L: Layer>(net: &mut L, out: &mut [u8]) -> Result<usize, Error> {
    let len = blob_len::<L>();
    let Some(out) = out.get_mut(..len) else {
        return Err(Error::BufferTooSmall { needed: len });
    };
    let (head, payload) = out.split_at_mut(HEADER);
    read_payload(net, 0, payload)?;
    head.copy_from_slice(&header(L::SIGNATURE, L::PARAMS + L::STATE, crc32(payload)));
    Ok(len)
}

/// CRC-32 of `net`'s payload, computed float by float (no payload-sized buffer).
pub fn payload_crc<L: Layer>(net: &mut L) -> u32 {
    let mut digest = CRC32.digest();
    net.visit(&mut |t: Tensor<'_>| {
        for v in t.value.iter() {
            digest.update(&v.to_le_bytes());
        }
    });
    digest.finalize()
}

/// `Ok` when bytes `offset..offset + len` lie within `L`'s payload (and, if `whole`, start
/// and end on float boundaries).
fn in_payload<L: Layer>(offset: usize, len: usize, whole: bool) -> Result<(), Error> {
    let payload = payload_len::<L>();
    let inside = offset.checked_add(len).is_some_and(|end| end <= payload);
    if !inside || (whole && (!offset.is_multiple_of(4) || !len.is_multiple_of(4))) {
        return Err(Error::PayloadRange {
            offset,
            len,
            payload,
        });
    }
    Ok(())
}

/// Show `f` each float of `net` (visit order) whose four payload bytes overlap
/// `offset..offset + len`, with the byte position of the float in the payload.
fn visit_range<L: Layer>(
    net: &mut L,
    offset: usize,
    len: usize,
    mut f: impl FnMut(&mut f32, usize),
) {
    let end = offset + len;
    let mut start = 0;
    net.visit(&mut |t: Tensor<'_>| {
        let tensor_end = start + 4 * t.value.len();
        if tensor_end > offset && start < end {
            let first = offset.saturating_sub(start) / 4;
            let last = (end.min(tensor_end) - start).div_ceil(4);
            for (i, v) in t.value[first..last].iter_mut().enumerate() {
                f(v, start + 4 * (first + i));
            }
        }
        start = tensor_end;
    });
}

/// Copy payload bytes `offset..offset + out.len()` of `net` into `out` (any offset and
/// length within the payload, else [`Error::PayloadRange`]).
pub fn read_payload<L: Layer>(net: &mut L, offset: usize, out: &mut [u8]) -> Result<(), Error> {
    in_payload::<L>(offset, out.len(), false)?;
    let end = offset + out.len();
    visit_range(net, offset, out.len(), |v, at| {
        for (j, b) in v.to_le_bytes().into_iter().enumerate() {
            if (offset..end).contains(&(at + j)) {
                out[at + j - offset] = b;
            }
        }
    });
    Ok(())
}

/// Overwrite the floats of `net` at payload bytes `offset..offset + bytes.len()`, which must be
/// whole floats within the payload ([`Error::PayloadRange`]) and all finite
/// ([`Error::NonFiniteParameter`]); on error nothing is written. Writing a chunk at a time
/// leaves the network a mix of old and new floats until the last chunk: stage a push whose
/// sender may stop halfway, and write it once it is complete and its CRC checks.
pub fn write_payload<L: Layer>(net: &mut L, offset: usize, bytes: &[u8]) -> Result<(), Error> {
    in_payload::<L>(offset, bytes.len(), true)?;
    let float = |at: usize| {
        let b = &bytes[at - offset..at - offset + 4];
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    };
    if !(offset..offset + bytes.len())
        .step_by(4)
        .all(|at| float(at).is_finite())
    {
        return Err(Error::NonFiniteParameter);
    }
    visit_range(net, offset, bytes.len(), |v, at| *v = float(at));
    Ok(())
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
    write_payload(net, 0, &blob[HEADER..])
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
