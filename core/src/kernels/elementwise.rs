//! Whole-slice element-wise kernels: one call per layer, not one function call per element, so
//! the loops vectorise on the host (a `match` on the activation inside the loop stops that).

/// `y = max(x, 0)`, element by element over the shorter slice (NaN gives 0, as
/// [`f32::max`] in [`crate::ReLU`]).
pub fn relu(x: &[f32], y: &mut [f32]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = xi.max(0.0);
    }
}

/// Whether every entry is finite. No early exit: the whole slice is scanned in one
/// vectorisable pass (an input is checked once, and almost always passes).
pub fn all_finite(x: &[f32]) -> bool {
    // `v·0` is ±0 for finite `v` and NaN for ±∞ and NaN; NaN survives the sum. 32 lanes are
    // four AVX registers: four additions in flight instead of one chain waiting on the last.
    let mut acc = [0.0f32; 32];
    let chunks = x.chunks_exact(32);
    let tail = chunks.remainder().iter().fold(0.0, |s, v| s + v * 0.0);
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v * 0.0;
        }
    }
    acc.iter().fold(tail, |s, a| s + a) == 0.0
}

/// `√x`, correctly rounded (IEEE 754), so every target gets the same bits: the FPU's
/// `VSQRT.F32` on a hard-float ARM core (14 cycles on the Cortex-M4F; `libm::sqrtf` is ~50–90
/// instructions of integer code there, and `f32::sqrt` needs `std`); with `std` elsewhere,
/// `f32::sqrt`, which the compiler vectorises (`vsqrtps`: Adam's update over a slice, measured
/// 6× faster); else [`libm::sqrtf`] (the `sqrtss` instruction on x86-64, but in inline
/// assembly, which keeps the loop around it scalar).
///
/// Stable Rust has no `sqrt` intrinsic in `core`, and its inline assembly only takes `f32`
/// operands in FPU registers with the `vfp2` target feature, which the M4F's single-precision
/// FPU (`vfp4d16sp`) does not imply. So the operand crosses through a core register and `s15`
/// (declared clobbered): two `VMOV`s around the `VSQRT`, a cycle each.
#[inline(always)]
pub fn sqrt(x: f32) -> f32 {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    {
        let bits: u32;
        // SAFETY: moves a word into `s15` (declared clobbered), takes its square root there
        // and moves it back; it touches no memory, no stack, and of the FPSCR only its sticky
        // exception bits.
        unsafe {
            core::arch::asm!(
                "vmov s15, {x}",
                "vsqrt.f32 s15, s15",
                "vmov {y}, s15",
                x = in(reg) x.to_bits(),
                y = lateout(reg) bits,
                out("s15") _,
                options(pure, nomem, nostack)
            );
        }
        f32::from_bits(bits)
    }
    #[cfg(all(feature = "std", not(all(target_arch = "arm", target_abi = "eabihf"))))]
    {
        x.sqrt()
    }
    #[cfg(not(any(feature = "std", all(target_arch = "arm", target_abi = "eabihf"))))]
    {
        libm::sqrtf(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_over_a_slice() {
        let x = [-2.0, -0.0, 0.0, 0.5, f32::NAN, 3.0, -1e-30, 1e30, 7.0];
        let mut y = [9.0; 9];
        relu(&x, &mut y);
        assert_eq!(y, [0.0, 0.0, 0.0, 0.5, 0.0, 3.0, 0.0, 1e30, 7.0]);
    }

    #[test]
    fn finiteness_anywhere_in_the_slice() {
        let mut x = [1.5f32; 71];
        assert!(all_finite(&x));
        assert!(all_finite(&[]));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, 7, 8, 16, 18, 31, 32, 40, 63, 64, 70] {
                x[at] = bad;
                assert!(!all_finite(&x), "{bad} at {at}");
                x[at] = f32::MAX;
                assert!(all_finite(&x));
            }
        }
    }

    #[test]
    fn sqrt_is_correctly_rounded() {
        for x in [0.0f32, 1.0, 2.0, 1e-7, 0.999, 12345.678, f32::MAX, 1e-45] {
            let r = sqrt(x);
            // Correct rounding: no neighbour of r is closer to the exact root.
            let exact = (x as f64).sqrt();
            for n in [
                f32::from_bits(r.to_bits() + 1),
                f32::from_bits(r.to_bits().max(1) - 1),
            ] {
                assert!((r as f64 - exact).abs() <= (n as f64 - exact).abs(), "√{x}");
            }
        }
        assert!(sqrt(-1.0).is_nan());
    }
}
