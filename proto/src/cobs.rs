//! Consistent Overhead Byte Stuffing, in place (no second buffer on the device).
//!
//! COBS rewrites a payload so it contains no `0x00`, at a cost of one byte per 254, which lets
//! `0x00` delimit frames unambiguously.

/// Bytes COBS may add to `n` payload bytes (without the delimiter).
pub const fn overhead(n: usize) -> usize {
    1 + n / 254
}

/// Encodes `buf[src..src + n]` into `buf[..]` and returns the encoded length.
///
/// The source must start at least [`overhead`]`(n)` bytes in: the write position then never
/// passes the read position, so one buffer serves both.
pub fn encode_in_place(buf: &mut [u8], src: usize, n: usize) -> usize {
    debug_assert!(src >= overhead(n) && src + n <= buf.len());
    let mut code_at = 0;
    let mut out = 1;
    let mut code: u8 = 1;
    for i in 0..n {
        let b = buf[src + i];
        if b == 0 {
            buf[code_at] = code;
            code_at = out;
            out += 1;
            code = 1;
        } else {
            buf[out] = b;
            out += 1;
            code += 1;
            if code == 0xFF {
                buf[code_at] = code;
                code_at = out;
                out += 1;
                code = 1;
            }
        }
    }
    buf[code_at] = code;
    out
}

/// Decodes a COBS block (delimiter removed) in place; `None` if it is not valid COBS.
pub fn decode_in_place(buf: &mut [u8]) -> Option<usize> {
    let (mut r, mut w) = (0, 0);
    while r < buf.len() {
        let code = buf[r] as usize;
        if code == 0 {
            return None;
        }
        r += 1;
        let run = code - 1;
        if r + run > buf.len() {
            return None;
        }
        for _ in 0..run {
            let b = buf[r];
            if b == 0 {
                return None;
            }
            buf[w] = b;
            w += 1;
            r += 1;
        }
        if code < 0xFF && r < buf.len() {
            buf[w] = 0;
            w += 1;
        }
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        let off = overhead(data.len());
        let mut buf = [0u8; 1200];
        buf[off..off + data.len()].copy_from_slice(data);
        let n = encode_in_place(&mut buf, off, data.len());
        assert!(n <= data.len() + off);
        assert!(!buf[..n].contains(&0));
        let m = decode_in_place(&mut buf[..n]).unwrap();
        assert_eq!(&buf[..m], data);
    }

    #[test]
    fn edge_cases() {
        round_trip(&[]);
        round_trip(&[0]);
        round_trip(&[0, 0]);
        round_trip(&[1, 2, 0, 3]);
        for len in [253, 254, 255, 508, 509, 1000] {
            round_trip(&[7u8; 1000][..len]);
            let mut v = [0u8; 1000];
            for (i, b) in v.iter_mut().enumerate() {
                *b = (i % 5) as u8;
            }
            round_trip(&v[..len]);
        }
    }
}
