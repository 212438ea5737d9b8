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
    let mut bytes = Vec::new();
    // Reads on until `bytes` holds `len` bytes or the file ends.
    let mut read_to = |bytes: &mut Vec<u8>, len: u64| {
        let more = len.saturating_sub(bytes.len() as u64);
        let read = (&mut src).take(more).read_to_end(bytes);
        read.map_err(|e| match (gzip, e.kind()) {
            (false, _) => io(e),
            (true, ErrorKind::UnexpectedEof) => DataError::Gzip {
                path: p(),
                msg: "unexpected end of compressed stream".into(),
            },
            (true, _) => DataError::Gzip {
                path: p(),
                msg: e.to_string(),
            },
        })
    };
    // The magic, then the dimensions it announces, then exactly the payload they describe.
    read_to(&mut bytes, 4)?;
    if let Some(&ndims) = bytes.get(3) {
        read_to(&mut bytes, 4 + 4 * ndims.min(4) as u64)?;
    }
    let (dims, header) = idx_header(path, &bytes)?;
    let expected = header as u64 + dims.iter().product::<usize>() as u64;
    bytes.reserve_exact(expected as usize - header);
    read_to(&mut bytes, expected + 1)?;
    let actual = bytes.len() as u64;
    if actual < expected {
        return Err(DataError::Truncated {
            path: p(),
            expected,
            actual,
        });
    }
    if actual > expected {
        let extra = meta.len().saturating_sub(expected);
        return Err(if gzip {
            DataError::Overlong {
                path: p(),
                expected,
            }
        } else {
            DataError::TrailingBytes { path: p(), extra }
        });
    }
    Ok(Idx {
        dims,
        data: bytes.split_off(header),
    })
}

/// An IDX header's dimensions and length, from the file's first bytes (at least the header's,
/// unless the file is shorter).
fn idx_header(path: &Path, bytes: &[u8]) -> Result<(Vec<usize>, usize), DataError> {
    let p = || path.to_owned();
    match bytes {
        [] => {
            return Err(DataError::Truncated {
                path: p(),
                expected: 4,
                actual: 0,
            })
        }
        [0, 0, 0x08, 1..=4, ..] => {}
        _ => {
            let found = bytes[..bytes.len().min(4)].to_vec();
            return Err(DataError::BadMagic { path: p(), found });
        }
    }
    let header = 4 + 4 * bytes[3] as usize;
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: p(),
            expected: header as u64,
            actual: bytes.len() as u64,
        });
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes(d.try_into().expect("4 bytes")) as usize)
        .collect();
    let total = dims.iter().fold(1u64, |t, &d| t.saturating_mul(d as u64));
    if total > MAX_IDX_BYTES {
        let msg = format!("dimensions {dims:?} describe more than {MAX_IDX_BYTES} bytes");
        return Err(DataError::BadHeader { path: p(), msg });
    }
    Ok((dims, header))
}
