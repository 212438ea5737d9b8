//! The IDX reader (gzip or raw).
//!
//! An IDX file is a 4-byte magic `00 00 <type> <ndims>` (type 0x08 = unsigned byte), `ndims`
//! big-endian u32 dimensions, then the payload. Images are `idx3` (count, rows, cols),
//! labels `idx1` (count). Files may be gzip-compressed; compression is detected by the gzip
//! magic `1f 8b`, not by the file name.

use std::io::Read;
use std::path::Path;

use super::DataError;

/// Largest decompressed IDX file we accept (guards against gzip bombs and absurd headers).
pub const MAX_IDX_BYTES: u64 = 2 << 30;

/// A parsed IDX file of unsigned bytes.
#[derive(Debug, Clone)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads one IDX file (gzip or raw), never more than its header declares: a gzip bomb, a
/// FIFO or `/dev/zero` cost at most the declared size (itself bounded by [`MAX_IDX_BYTES`]).
pub fn read_idx(path: &Path) -> Result<Idx, DataError> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::NotFound {
            path: path.to_owned(),
        },
        _ => DataError::Io {
            path: path.to_owned(),
            msg: e.to_string(),
        },
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(DataError::Io {
            path: path.to_owned(),
            msg: "not a regular file".into(),
        });
    }
    let mut raw = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let gzip = std::io::BufRead::fill_buf(&mut raw)
        .map_err(io)?
        .starts_with(&[0x1f, 0x8b]);
    let gz_err = |e: std::io::Error| DataError::Gzip {
        path: path.to_owned(),
        msg: match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "unexpected end of compressed stream".into(),
            _ => e.to_string(),
        },
    };
    let mut src: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut read_to = |bytes: &mut Vec<u8>, len: u64| {
        let more = len.saturating_sub(bytes.len() as u64);
        (&mut src)
            .take(more)
            .read_to_end(bytes)
            .map_err(|e| if gzip { gz_err(e) } else { io(e) })
    };
    // The magic, then the dimensions it announces, then exactly the payload they describe.
    let mut bytes = Vec::new();
    read_to(&mut bytes, 4)?;
    if let Some(&ndims) = bytes.get(3) {
        read_to(&mut bytes, 4 + 4 * ndims.min(4) as u64)?;
    }
    let Ok((_, header, total)) = idx_header(path, &bytes) else {
        return parse_idx(path, &bytes); // the header's own error
    };
    let expected = header as u64 + total;
    bytes.reserve_exact(total as usize);
    read_to(&mut bytes, expected + 1)?;
    if bytes.len() as u64 > expected {
        return Err(if gzip {
            DataError::Overlong {
                path: path.to_owned(),
                expected,
            }
        } else {
            DataError::TrailingBytes {
                path: path.to_owned(),
                extra: meta.len().saturating_sub(expected),
            }
        });
    }
    parse_idx(path, &bytes)
}

/// An IDX header: dimensions, header bytes and payload bytes.
fn idx_header(path: &Path, bytes: &[u8]) -> Result<(Vec<usize>, usize, u64), DataError> {
    let p = || path.to_owned();
    if bytes.len() < 4 {
        if bytes.is_empty() {
            return Err(DataError::Truncated {
                path: p(),
                expected: 4,
                actual: 0,
            });
        }
        return Err(DataError::BadMagic {
            path: p(),
            found: bytes.to_vec(),
        });
    }
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] == 0 || bytes[3] > 4 {
        return Err(DataError::BadMagic {
            path: p(),
            found: bytes[..4].to_vec(),
        });
    }
    let ndims = bytes[3] as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: p(),
            expected: header as u64,
            actual: bytes.len() as u64,
        });
    }
    let mut dims = Vec::with_capacity(ndims);
    let mut total: u64 = 1;
    for i in 0..ndims {
        let o = 4 + 4 * i;
        let d = u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as u64;
        total = total.saturating_mul(d);
        dims.push(d as usize);
    }
    if total > MAX_IDX_BYTES {
        return Err(DataError::BadHeader {
            path: p(),
            msg: format!("dimensions {dims:?} describe more than {MAX_IDX_BYTES} bytes"),
        });
    }
    Ok((dims, header, total))
}

/// Parse IDX bytes (already decompressed). `path` only names the file in errors.
pub fn parse_idx(path: &Path, bytes: &[u8]) -> Result<Idx, DataError> {
    let p = || path.to_owned();
    let (dims, header, total) = idx_header(path, bytes)?;
    let expected = header as u64 + total;
    let actual = bytes.len() as u64;
    if actual < expected {
        return Err(DataError::Truncated {
            path: p(),
            expected,
            actual,
        });
    }
    if actual > expected {
        return Err(DataError::TrailingBytes {
            path: p(),
            extra: actual - expected,
        });
    }
    Ok(Idx {
        dims,
        data: bytes[header..].to_vec(),
    })
}
