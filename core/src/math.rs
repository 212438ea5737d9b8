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
