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

use core::arch::x86_64::{__m512, __mmask16, _mm512_add_ps, _mm512_loadu_ps, _mm512_mul_ps};
use core::arch::x86_64::{_mm512_castpd_ps, _mm512_castps_pd, _mm512_shuffle_f32x4};
use core::arch::x86_64::{_mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_set1_ps};
use core::arch::x86_64::{_mm512_setzero_ps, _mm512_storeu_ps, _mm512_unpackhi_pd};
use core::arch::x86_64::{_mm512_unpackhi_ps, _mm512_unpacklo_pd, _mm512_unpacklo_ps};
use core::ops::Range;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Whether the products may use these kernels ([`super::allow_avx512`]).
pub static ALLOWED: AtomicBool = AtomicBool::new(true);

/// Whether the products use these kernels: allowed, and this core has AVX-512F (checked once
/// by the standard library, then cached).
pub fn available() -> bool {
    ALLOWED.load(Relaxed) && std::is_x86_feature_detected!("avx512f")
}

/// `R` rows of `V` registers of sums.
type Sums<const R: usize, const V: usize> = [[__m512; V]; R];

/// `acc[r][c] += a[p·R + r] · b[p·stride + c]` for every step `p` in order: the generic
/// [`super::gemm::run`] over one packed tile of `R` rows (`a`) and a panel of `W = 16·V`
/// columns (`b`: packed, `stride = W`, or the rows of a row-major operand read in place), the
/// `R·V` sums in registers (at most 28 with the `V` vectors of `b` and a broadcast, of the 32).
///
/// # Safety
/// The core must have AVX-512F ([`available`]).
#[target_feature(enable = "avx512f")]
pub unsafe fn run<const R: usize, const V: usize, const W: usize>(
    acc: &mut [[f32; W]; R],
    a: &[f32],
    (b, stride): (&[f32], usize),
) {
    const { assert!(W == 16 * V, "W = 16·V") };
    let steps = (a.len() / R).min(steps_in(b.len(), stride, W));
    // SAFETY: the sums are read from and written to `acc` (`W = 16·V` floats a row), and the
    // reads `a[p·R + r]` for `p < steps` lie within `a`, as `steps` was cut to fit.
    unsafe {
        let s = core::array::from_fn(|r| {
            core::array::from_fn(|v| _mm512_loadu_ps(acc[r][16 * v..].as_ptr()))
        });
        let s =
            sweep::<R, V, W, false>(s, |p, r| *a.as_ptr().add(p * R + r), (b, stride, W), steps);
        for (row, sr) in acc.iter_mut().zip(&s) {
            for (v, &sv) in sr.iter().enumerate() {
                _mm512_storeu_ps(row[16 * v..].as_mut_ptr(), sv);
            }
        }
    }
}

/// How many rows of `w` floats, `stride` apart, a slice of `len` floats holds.
fn steps_in(len: usize, stride: usize, w: usize) -> usize {
    match len.checked_sub(w) {
        Some(rest) => rest / stride.max(1) + 1,
        None => 0,
    }
}

/// One tile of `n ≤ W` columns straight on `C`: the tile's sums start from `c[r·ldc + j]`
/// (`j < n`) when `from_c`, else from 0; each step `p` adds `rows[r][p·step] · b[p·stride + j]`,
/// the tile's rows of `A` read in place (a row-major `A` has `step = 1`, a transposed one
/// `step = m`) and `b` a packed panel (`stride = W`) or rows read in place, `width` floats of
/// each; then the rows `keep` are stored back. Masked loads and stores keep the columns past `n`
/// out of `C`, and past `width` out of `b`. For
/// products whose packed rows would be copied once and read once: one panel, or one row.
///
/// # Safety
/// The core must have AVX-512F ([`available`]).
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn narrow_tile<const R: usize, const V: usize, const W: usize>(
    c: &mut [f32],
    (ldc, n): (usize, usize),
    keep: Range<usize>,
    from_c: bool,
    rows: [&[f32]; R],
    step: usize,
    (b, stride, width): (&[f32], usize, usize),
) {
    const { assert!(W == 16 * V, "W = 16·V") };
    assert!(n <= W && keep.end <= R && (R - 1) * ldc + n <= c.len());
    let shortest = rows
        .iter()
        .map(|r| r.len().div_ceil(step))
        .min()
        .unwrap_or(0);
    let steps = shortest.min(steps_in(b.len(), stride, width));
    let rows = rows.map(<[f32]>::as_ptr);
    let mask = |v: usize| lanes(n, v);
    let c = c.as_mut_ptr();
    // SAFETY: `C` is read and written at `r·ldc + j` for `r < R`, `j < n` (masked), within `c`
    // as asserted; `rows[r][p·step]` for `p < steps` lies within row `r`, as `steps` was cut to
    // fit.
    unsafe {
        let s = core::array::from_fn(|r| {
            core::array::from_fn(|v| match from_c {
                true => _mm512_maskz_loadu_ps(mask(v), c.add(r * ldc + 16 * v)),
                false => _mm512_setzero_ps(),
            })
        });
        let a = |p: usize, r: usize| *rows[r].add(p * step);
        let s = match width == W {
            true => sweep::<R, V, W, false>(s, a, (b, stride, W), steps),
            false => sweep::<R, V, W, true>(s, a, (b, stride, width), steps),
        };
        for r in keep {
            for (v, &sv) in s[r].iter().enumerate() {
                _mm512_mask_storeu_ps(c.add(r * ldc + 16 * v), mask(v), sv);
            }
        }
    }
}

/// `panel[p·W + q] = src[p·stride + q]` for `q < n` and the `steps` steps, 0 for `q ≥ n`: the
/// rows of a row-major operand narrower than a tile (`n ≤ W`), zero-padded, by masked moves.
///
/// # Safety
/// The core must have AVX-512F ([`available`]).
#[target_feature(enable = "avx512f")]
pub unsafe fn pack_narrow<const V: usize, const W: usize>(
    panel: &mut [f32],
    src: &[f32],
    (stride, n): (usize, usize),
    steps: usize,
) {
    const { assert!(W == 16 * V, "W = 16·V") };
    assert!(n <= W && steps * W <= panel.len());
    assert!(steps == 0 || (steps - 1) * stride + n <= src.len());
    let (dst, src) = (panel.as_mut_ptr(), src.as_ptr());
    // SAFETY: the masked reads stay below `(steps − 1)·stride + n ≤ src.len()` and the writes
    // below `steps·W ≤ panel.len()`, as asserted.
    unsafe {
        for p in 0..steps {
            for v in 0..V {
                let row = _mm512_maskz_loadu_ps(lanes(n, v), src.add(p * stride + 16 * v));
                _mm512_storeu_ps(dst.add(p * W + 16 * v), row);
            }
        }
    }
}

/// `panel[p·N + q] = x[at + q·along + p]` for `q < valid` and `p < steps`, 0 for `q ≥ valid`:
/// `N` lines of an operand whose entries for one step are `along` apart (a row-major `A`, a `Bᵀ`
/// stored as `B`: an im2col matrix, a layer's weights in an input gradient), each line read 16
/// steps at a time and each 16 × 16 block transposed in registers. The scalar copies it replaces
/// took an eighth of simple-convnet's inference (its im2col rows, 25 taps long).
///
/// # Safety
/// The core must have AVX-512F ([`available`]).
#[target_feature(enable = "avx512f")]
pub unsafe fn pack_lines<const N: usize>(
    panel: &mut [f32],
    x: &[f32],
    (at, along): (usize, usize),
    valid: usize,
    steps: usize,
) {
    assert!(N.is_multiple_of(16) && valid <= N && steps * N <= panel.len());
    assert!(valid == 0 || steps == 0 || at + (valid - 1) * along + steps <= x.len());
    let (dst, src) = (panel.as_mut_ptr(), x.as_ptr());
    // SAFETY: line `q < valid` is read (masked) at `at + q·along + p` for `p < steps`, within
    // `x` as asserted; the writes stay below `steps·N ≤ panel.len()`.
    unsafe {
        for p0 in (0..steps).step_by(16) {
            let (n, mask) = ((steps - p0).min(16), lanes(steps - p0, 0));
            for v in 0..N / 16 {
                let rows = core::array::from_fn(|l| match 16 * v + l < valid {
                    true => _mm512_maskz_loadu_ps(mask, src.add(at + (16 * v + l) * along + p0)),
                    false => _mm512_setzero_ps(),
                });
                for (t, column) in transpose16(rows).iter().take(n).enumerate() {
                    _mm512_storeu_ps(dst.add((p0 + t) * N + 16 * v), *column);
                }
            }
        }
    }
}

/// The 16 × 16 transpose of `r` (row `i` is `r[i]`): unpacking pairs of floats, then pairs of
/// pairs, then gathering 128-bit lanes twice. The caller has AVX-512F.
#[inline(always)]
unsafe fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    // SAFETY: register operations only (the caller has AVX-512F).
    unsafe {
        // t[2i] lane L: rows 2i, 2i+1 at columns 4L, 4L+1; t[2i+1]: at 4L+2, 4L+3.
        let t: [__m512; 16] = core::array::from_fn(|j| match j % 2 {
            0 => _mm512_unpacklo_ps(r[j], r[j + 1]),
            _ => _mm512_unpackhi_ps(r[j - 1], r[j]),
        });
        // u[4i + e] lane L: rows 4i..4i+3 at column 4L + e.
        let u: [__m512; 16] = core::array::from_fn(|j| {
            let (i, e) = (j / 4 * 4, j % 4);
            let (a, b) = (
                _mm512_castps_pd(t[i + e / 2]),
                _mm512_castps_pd(t[i + 2 + e / 2]),
            );
            _mm512_castpd_ps(match e % 2 {
                0 => _mm512_unpacklo_pd(a, b),
                _ => _mm512_unpackhi_pd(a, b),
            })
        });
        // Column 4L + e: lane L of u[e], u[4 + e], u[8 + e], u[12 + e].
        let mut out = [_mm512_setzero_ps(); 16];
        for e in 0..4 {
            let x0 = _mm512_shuffle_f32x4::<0x44>(u[e], u[4 + e]);
            let x1 = _mm512_shuffle_f32x4::<0xee>(u[e], u[4 + e]);
            let y0 = _mm512_shuffle_f32x4::<0x44>(u[8 + e], u[12 + e]);
            let y1 = _mm512_shuffle_f32x4::<0xee>(u[8 + e], u[12 + e]);
            out[e] = _mm512_shuffle_f32x4::<0x88>(x0, y0);
            out[4 + e] = _mm512_shuffle_f32x4::<0xdd>(x0, y0);
            out[8 + e] = _mm512_shuffle_f32x4::<0x88>(x1, y1);
            out[12 + e] = _mm512_shuffle_f32x4::<0xdd>(x1, y1);
        }
        out
    }
}

/// The mask of register `v`'s lanes (floats `16·v ..= 16·v + 15` of a row) that lie below
/// `width`.
fn lanes(width: usize, v: usize) -> __mmask16 {
    match width.saturating_sub(16 * v) {
        16.. => !0,
        k => (1 << k) - 1,
    }
}

/// The loop of [`run`] and [`narrow_tile`]: `s[r][v][l] += a(p, r) · b[p·stride + 16·v + l]`
/// for `p` in `0..steps`, a rounded multiply then a rounded add, `b`'s rows read up to `width`
/// floats (`MASKED`: the lanes past it add zeros; otherwise `width = W`, and plain loads, which
/// measured 5–12 % faster on the MLP's steps than loads under an all-ones mask). The caller
/// has AVX-512F.
#[inline(always)]
unsafe fn sweep<const R: usize, const V: usize, const W: usize, const MASKED: bool>(
    mut s: Sums<R, V>,
    a: impl Fn(usize, usize) -> f32,
    (b, stride, width): (&[f32], usize, usize),
    steps: usize,
) -> Sums<R, V> {
    const {
        assert!(
            R * V + V < 32,
            "the sums, a row of the panel and a broadcast fit"
        )
    };
    assert!(width <= W && (MASKED || width == W) && steps <= steps_in(b.len(), stride, width));
    let b = b.as_ptr();
    let masks: [__mmask16; V] = core::array::from_fn(|v| lanes(width, v));
    // SAFETY: the panel is read (masked) below `(steps − 1)·stride + width ≤ b.len()`
    // (asserted).
    unsafe {
        for p in 0..steps {
            let bv: [__m512; V] = core::array::from_fn(|v| match MASKED {
                true => _mm512_maskz_loadu_ps(masks[v], b.add(p * stride + 16 * v)),
                false => _mm512_loadu_ps(b.add(p * stride + 16 * v)),
            });
            for (r, sr) in s.iter_mut().enumerate() {
                let ar = _mm512_set1_ps(a(p, r));
                for (sv, &bv) in sr.iter_mut().zip(&bv) {
                    *sv = _mm512_add_ps(*sv, _mm512_mul_ps(ar, bv));
                }
            }
        }
    }
    s
}
