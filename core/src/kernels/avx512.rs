//! The blocked products' micro-kernel in AVX-512, for hosts that have it (chosen at run time,
//! `std` feature): a tile of 8 × 48 sums held in 24 of the 32 vector registers.
//!
//! A core with full-width AVX-512 units (AMD Zen 5, Intel's server cores) does a 16-lane
//! multiply or add in the time an AVX2 build does an 8-lane one, so on such a core the
//! portable x86-64-v3 micro-kernel reaches only half of the machine's peak. Written with
//! intrinsics rather than left to the auto-vectoriser: an `x86-64-v4` build of the generic
//! kernel gathered and scattered its accumulators, 12–40× slower.
//!
//! The floats are the portable kernel's, bit for bit: each sum still takes its products in the
//! order of the inner dimension, a rounded multiply then a rounded add (`vmulps`, `vaddps`, never
//! a fused multiply-add); only how many sums are computed side by side changes.

use core::arch::x86_64::{__m512, _mm512_add_ps, _mm512_loadu_ps, _mm512_mul_ps};
use core::arch::x86_64::{_mm512_set1_ps, _mm512_storeu_ps};

use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Whether the products may use these kernels ([`super::allow_avx512`]).
pub static ALLOWED: AtomicBool = AtomicBool::new(true);

/// Whether the products use these kernels: allowed, and this core has AVX-512F (checked once
/// by the standard library, then cached).
pub fn available() -> bool {
    ALLOWED.load(Relaxed) && std::is_x86_feature_detected!("avx512f")
}

/// `acc[r][c] += a[p·R + r] · b[p·W + c]` for every step `p` in order: the generic
/// [`super::gemm::run`] over one packed tile of `R` rows (`a`) and one packed panel of
/// `W = 16·V` columns (`b`), the `R·V` sums in registers (at most 28 with the `V` vectors of
/// `b` and a broadcast, of the 32).
///
/// # Safety
/// The core must have AVX-512F ([`available`]).
#[target_feature(enable = "avx512f")]
pub unsafe fn run<const R: usize, const V: usize, const W: usize>(
    acc: &mut [[f32; W]; R],
    a: &[f32],
    b: &[f32],
) {
    let steps = (a.len() / R).min(b.len() / W);
    // SAFETY: the reads `a[p·R + r]` for `p < steps` lie within `a`, as `steps` was cut to fit.
    unsafe { sweep::<R, V, W>(acc, |p, r| *a.as_ptr().add(p * R + r), b, steps) }
}

/// [`run`] with the tile's rows of `A` read in place: at step `p`, row `r`'s number is
/// `rows[r][p·step]` (a row-major `A` has `step = 1`, a transposed one `step = m`). For a
/// product with a single panel, where packing the rows would be copied once and read once.
///
/// # Safety
/// The core must have AVX-512F ([`available`]).
#[target_feature(enable = "avx512f")]
pub unsafe fn run_in_place<const R: usize, const V: usize, const W: usize>(
    acc: &mut [[f32; W]; R],
    rows: [&[f32]; R],
    step: usize,
    b: &[f32],
) {
    let shortest = rows
        .iter()
        .map(|r| r.len().div_ceil(step))
        .min()
        .unwrap_or(0);
    let steps = shortest.min(b.len() / W);
    let rows = rows.map(<[f32]>::as_ptr);
    // SAFETY: `p·step < rows[r].len()` for `p < steps`, as `steps` was cut to fit.
    unsafe { sweep::<R, V, W>(acc, |p, r| *rows[r].add(p * step), b, steps) }
}

/// The loop of [`run`] and [`run_in_place`]: `acc[r][c] += a(p, r) · b[p·W + c]` for `p` in
/// `0..steps`. The caller has AVX-512F and `b` holds `steps · W` floats.
#[inline(always)]
unsafe fn sweep<const R: usize, const V: usize, const W: usize>(
    acc: &mut [[f32; W]; R],
    a: impl Fn(usize, usize) -> f32,
    b: &[f32],
    steps: usize,
) {
    const {
        assert!(
            W == 16 * V && R * V + V < 32,
            "W = 16·V, and the sums fit the registers"
        )
    };
    debug_assert!(b.len() >= steps * W);
    // SAFETY: the sums are loaded from and stored to `acc` (`W = 16·V` floats a row), and the
    // panel is read below `steps · W ≤ b.len()`.
    unsafe {
        let mut s: [[__m512; V]; R] = core::array::from_fn(|r| {
            core::array::from_fn(|v| _mm512_loadu_ps(acc[r][16 * v..].as_ptr()))
        });
        let b = b.as_ptr();
        for p in 0..steps {
            let bv: [__m512; V] = core::array::from_fn(|v| _mm512_loadu_ps(b.add(p * W + 16 * v)));
            for (r, sr) in s.iter_mut().enumerate() {
                let ar = _mm512_set1_ps(a(p, r));
                for (sv, &bv) in sr.iter_mut().zip(&bv) {
                    *sv = _mm512_add_ps(*sv, _mm512_mul_ps(ar, bv));
                }
            }
        }
        for (row, sr) in acc.iter_mut().zip(&s) {
            for (v, &sv) in sr.iter().enumerate() {
                _mm512_storeu_ps(row[16 * v..].as_mut_ptr(), sv);
            }
        }
    }
}
