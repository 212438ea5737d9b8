//! The IDX reader (gzip or raw).
//!
//! An IDX file is a 4-byte magic `00 00 <type> <ndims>` (type 0x08 = unsigned byte), `ndims`
//! big-endian u32 dimensions, then the payload. Images are `idx3` (count, rows, cols),
//! labels `idx1` (count). Files may be gzip-compressed; compression is detected by the gzip
//! magic `1f 8b`, not by the file name.

use std::io::{BufRead, ErrorKind, Read};
use std::path::Path;

use super::DataError;

/// Largest decompressed IDX file we accept (guards against gzip bombs and absurd headers).
const MAX_IDX_BYTES: u64 = 2 << 30;

/// A parsed IDX file of unsigned bytes.
#[derive(Debug, Clone)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads one IDX file (gzip or raw), never more than its header declares: a gzip bomb, a
/// FIFO or `/dev/zero` cost at most the declared size (itself bounded by [`MAX_IDX_BYTES`]).
pub fn read_idx(path: &Path) -> Result<Idx, DataError> {
    let p = || path.to_owned();
    let io = |e: std::io::Error| match e.kind() {
        ErrorKind::NotFound => DataError::NotFound { path: p() },
        _ => DataError::Io {
            path: p(),
            msg: e.to_string(),
        },
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        let msg = "not a regular file".into();
        return Err(DataError::Io { path: p(), msg });
    }
    let mut raw = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let gzip = raw.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
    let mut src: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let gz = |msg| DataError::Gzip { path: p(), msg };
    let mut bytes = Vec::new();
    // Reads on until `bytes` holds `len` bytes or the file ends.
    let mut read_to = |bytes: &mut Vec<u8>, len: u64| {
        let more = len.saturating_sub(bytes.len() as u64);
        let read = (&mut src).take(more).read_to_end(bytes);
        read.map_err(|e| match e.kind() {
            _ if !gzip => io(e),
            ErrorKind::UnexpectedEof => gz("unexpected end of compressed stream".into()),
            _ => gz(e.to_string()),
        })
    };
    let truncated = |expected: u64, actual: usize| DataError::Truncated {
        path: p(),
        expected,
        actual: actual as u64,
    };
    // The magic, then the dimensions it announces, then exactly the payload they describe.
    read_to(&mut bytes, 4)?;
    let ndims = match bytes[..] {
        [] => 0, // truncated: the magic's 4 bytes are missing
        [0, 0, 0x08, n @ 1..=4, ..] => n as u64,
        _ => {
            let found = bytes.clone();
            return Err(DataError::BadMagic { path: p(), found });
        }
    };
    let header = 4 + 4 * ndims;
    read_to(&mut bytes, header)?;
    if (bytes.len() as u64) < header {
        return Err(truncated(header, bytes.len()));
    }
    let dims: Vec<usize> = bytes[4..]
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes(d.try_into().expect("4 bytes")) as usize)
        .collect();
    let payload = dims.iter().fold(1u64, |t, &d| t.saturating_mul(d as u64));
    if payload > MAX_IDX_BYTES {
        let msg = format!("dimensions {dims:?} describe more than {MAX_IDX_BYTES} bytes");
        return Err(DataError::BadHeader { path: p(), msg });
    }
    let expected = header + payload;
    bytes.reserve_exact(payload as usize);
    read_to(&mut bytes, expected + 1)?;
    if (bytes.len() as u64) < expected {
        return Err(truncated(expected, bytes.len()));
    }
    if bytes.len() as u64 > expected {
        let (path, extra) = (p(), meta.len().saturating_sub(expected));
        return Err(match gzip {
            true => DataError::Overlong { path, expected },
            false => DataError::TrailingBytes { path, extra },
        });
    }
    Ok(Idx {
        data: bytes.split_off(header as usize),
        dims,
    })
}
