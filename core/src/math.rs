//! The two transcendental functions of the course's maths, `eˣ` and `ln x`, as softmax, sigmoid
//! and the losses use them. By default they are libm's (correctly rounded to within an ulp, the
//! same on host and device). The opt-in `fast-math` feature swaps in micromath's
//! approximations: fewer instructions, at a relative error of up to 2.4e-3 for `exp` and an
//! absolute error of up to 6e-5 for `ln` (measured against `std` in `core/tests/math.rs`; timed
//! in `benches/math.rs`). Other maths (`sqrt`, `tanh`, the initialisers' `ln` and `cos`) stays
//! on libm either way.

/// `eˣ`; overflows to `+∞` and underflows to 0 as `f32` does.
#[inline]
pub fn exp(x: f32) -> f32 {
    #[cfg(not(feature = "fast-math"))]
    {
        libm::expf(x)
    }
    #[cfg(feature = "fast-math")]
    {
        micromath::F32(x).exp().0
    }
}

/// `eˣ` of every entry of `x`, in place: the floats of [`exp`], entry by entry. On the host
/// (libm, no `fast-math`) sixteen at a time, by [`exp_lanes`]; the device keeps libm's
/// branches, which run fewer instructions than computing every path for every entry.
pub fn exp_in_place(x: &mut [f32]) {
    #[cfg(not(any(feature = "fast-math", target_arch = "arm")))]
    {
        let mut chunks = x.chunks_exact_mut(LANES);
        for chunk in &mut chunks {
            exp_lanes(chunk.try_into().expect("chunks of LANES"));
        }
        chunks
            .into_remainder()
            .iter_mut()
            .for_each(|v| *v = exp(*v));
    }
    #[cfg(any(feature = "fast-math", target_arch = "arm"))]
    x.iter_mut().for_each(|v| *v = exp(*v));
}

/// Entries [`exp_lanes`] takes side by side: two AVX2 registers (measured, a little faster
/// than one).
#[cfg(not(any(feature = "fast-math", target_arch = "arm")))]
const LANES: usize = 16;

/// libm's `expf` (0.2, FreeBSD's `e_expf.c`) on `LANES` entries at once, bit for bit: the same
/// single-precision operations in the same order, its branches turned into selections so the
/// compiler vectorises the lanes (on softmax's varied inputs libm's branches mispredict: 4 ns
/// an entry in a training step, against under 1 here). Lanes past its main range (`|x| ≥
/// 87.34`, where the result may be subnormal or overflow, and NaN) are rare: a chunk with one
/// takes libm itself. Checked against libm on every 61st bit pattern of `f32`
/// (`tests/tests/order.rs`) and, once, on all of them.
#[cfg(not(any(feature = "fast-math", target_arch = "arm")))]
fn exp_lanes(x: &mut [f32; LANES]) {
    // libm's constants, by their bits.
    const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
    const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);
    const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
    const P1: f32 = f32::from_bits(0x3e2a_aa8f);
    const P2: f32 = f32::from_bits(0xbb35_5215);
    let largest = x.iter().fold(0, |m, v| m.max(v.to_bits() & 0x7fff_ffff));
    if largest >= 0x42ae_ac50 {
        x.iter_mut().for_each(|v| *v = libm::expf(*v));
        return;
    }
    for v in x.iter_mut() {
        let (xv, hx, negative) = (*v, v.to_bits() & 0x7fff_ffff, *v < 0.0);
        // Argument reduction: x = k·ln 2 + r, |r| ≤ ½ ln 2 (k = 0 leaves x as it is).
        let k: i32 = match (hx > 0x3f85_1592, hx > 0x3eb1_7218) {
            (true, _) => (INV_LN2 * xv + if negative { -0.5 } else { 0.5 }) as i32,
            (false, true) => 1 - 2 * i32::from(negative),
            _ => 0,
        };
        let kf = k as f32;
        let (hi, lo) = (xv - kf * LN2_HI, kf * LN2_LO);
        let r = hi - lo;
        let rr = r * r;
        let c = r - rr * (P1 + rr * P2);
        let y = 1.0 + (r * c / (2.0 - c) - lo + hi);
        // `scalbnf(y, k)`: one exact multiply by 2ᵏ in this range (|k| ≤ 126).
        let scaled = y * f32::from_bits(((0x7f + k) as u32) << 23);
        *v = if hx > 0x3900_0000 { scaled } else { 1.0 + xv };
    }
}

/// `ln x` for `x > 0` (the callers add 1e-7 first, so `x` is never 0).
///
/// With `fast-math`, `x < 1` is taken as `−ln(1/x)` with an exact division: micromath 2.1's own
/// path below 1 uses its approximate reciprocal, which puts `ln 0.75` at −0.405 instead of
/// −0.288 (an error of 0.12, measured), too coarse for a probability's logarithm.
#[inline]
pub fn ln(x: f32) -> f32 {
    #[cfg(not(feature = "fast-math"))]
    {
        libm::logf(x)
    }
    #[cfg(feature = "fast-math")]
    {
        if x < 1.0 {
            -micromath::F32(1.0 / x).ln().0
        } else {
            micromath::F32(x).ln().0
        }
    }
}
