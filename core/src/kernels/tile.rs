//! The register tile of the direct convolutions (stride 1, no padding): `F` filters × `R`
//! output rows × `CO` output columns whose partial sums stay in registers while the whole
//! filter `(C, FH, FW)` streams past.
//!
//! Written for the Cortex-M4F, which has 32 single-precision registers and no vectors: with
//! `F·R·CO` = 16 accumulators, each filter row `(c, i)` loads the `R` input runs of
//! `CO + FW − 1` floats it needs once (multi-register loads) and then, per tap `j`, `F` weights,
//! and spends `2·F·R·CO` arithmetic instructions on them, a multiply and an add per MAC. A row
//! of a 3-wide filter with `F = 2`, `R = 2`, `CO = 4` is 2 + 6 loads and 96 multiplies and adds
//! for 48 MACs.
//!
//! Every sum starts from the bias and adds `w[f][k]·x[…]` for `k = (c, i, j)` in order, one
//! rounded product and one rounded addition at a time: the order of the naive loop, of the
//! im2col product ([`super::gemm_nt`] with the bias written first) and of the band kernels, so
//! all of them compute the same floats.

use super::im2col::Geometry;

/// Partial sums of one tile: `[filter][row][column]`.
pub(crate) type Sums<const F: usize, const R: usize, const CO: usize> = [[[f32; CO]; R]; F];

/// Whether the tiles apply: stride 1 and no padding (every tap lands in the image, and the
/// taps of neighbouring outputs are neighbouring pixels).
pub(crate) const fn applies(g: &Geometry) -> bool {
    g.stride == 1 && g.pad == 0 && g.c >= 1 && g.fh >= 1 && g.fw >= 1
}

/// The sums of the tile whose top-left output reads pixel `at` of `x` (flat `(C, H, W)`):
/// `s[f][r][co] = bias[f] + Σₖ w[f][k]·x[at + tap(k) + r·W + co]` with `tap(c, i, j) =
/// (c·H + i)·W + j`, for the `F` filters whose weights start `w` (`(F, C, FH, FW)` flat).
///
/// The window is square, `FW × FW` (`g.fh = g.fw = FW`), and `XN = CO + FW − 1` is the floats
/// each input run holds: as constants they let the compiler keep the runs in registers and
/// unroll a channel's taps completely. Panics, before the loop, if `x` or `w` is shorter than
/// the tile reads.
#[inline(always)]
pub(crate) fn sums<
    const F: usize,
    const R: usize,
    const CO: usize,
    const FW: usize,
    const XN: usize,
>(
    g: &Geometry,
    x: &[f32],
    at: usize,
    w: &[f32],
    bias: [f32; F],
) -> Sums<F, R, CO> {
    const { assert!(XN == CO + FW - 1, "XN must be CO + FW - 1") };
    assert!(
        applies(g) && (g.fh, g.fw) == (FW, FW),
        "the tile needs stride 1, no padding and an FW × FW window"
    );
    let (hw, wd, k) = (g.h * g.w, g.w, g.patch());
    let last = at + (g.c - 1) * hw + (g.fh - 1 + R - 1) * wd + XN - 1;
    assert!(
        last < x.len() && F * k <= w.len(),
        "the tile reads past its slices"
    );
    // SAFETY (both closures): the largest input index read is `row + (R − 1)·W + XN − 1 ≤
    // last < x.len()`, and the largest weight index `(F − 1)·k + tap + FW − 1 < F·k ≤ w.len()`
    // (`tap + FW ≤ k`), checked above.
    let runs = |row: usize| -> [[f32; XN]; R] {
        core::array::from_fn(|r| {
            core::array::from_fn(|t| unsafe { *x.get_unchecked(row + r * wd + t) })
        })
    };
    let taps = |tap: usize| -> [f32; F] {
        core::array::from_fn(|f| unsafe { *w.get_unchecked(f * k + tap) })
    };
    // The first tap starts the sums, `bias + w·x`: the same rounding as writing the bias and
    // adding `w·x` to it, without first copying the bias into every sum.
    let (xs, wv) = (runs(at), taps(0));
    let mut s: Sums<F, R, CO> = core::array::from_fn(|f| {
        core::array::from_fn(|r| core::array::from_fn(|co| bias[f] + wv[f] * xs[r][co]))
    });
    add_row(&mut s, &xs, 1..FW, taps);
    for i in 1..FW {
        add_row(&mut s, &runs(at + i * wd), 0..FW, |j| taps(i * FW + j));
    }
    for c in 1..g.c {
        for i in 0..FW {
            let (row, tap) = (at + c * hw + i * wd, (c * FW + i) * FW);
            add_row(&mut s, &runs(row), 0..FW, |j| taps(tap + j));
        }
    }
    s
}

/// Adds, for the taps `j` of one filter row, `w(j)[f]·runs[r][co + j]` to every sum.
#[inline(always)]
fn add_row<const F: usize, const R: usize, const CO: usize, const XN: usize>(
    s: &mut Sums<F, R, CO>,
    runs: &[[f32; XN]; R],
    js: core::ops::Range<usize>,
    w: impl Fn(usize) -> [f32; F],
) {
    for j in js {
        let wv = w(j);
        for (sf, &wf) in s.iter_mut().zip(&wv) {
            for (sr, xr) in sf.iter_mut().zip(runs) {
                for (v, &xv) in sr.iter_mut().zip(&xr[j..j + CO]) {
                    *v += wf * xv;
                }
            }
        }
    }
}

/// Calls `$f::<FW, X2, X4>($args)` for the windows the tiles are compiled for (3 × 3 and 5 × 5,
/// the zoo's), with `X2 = 2 + FW − 1` and `X4 = 4 + FW − 1` the run lengths of tiles two and
/// four columns wide; evaluates `$else` for any other window `($fh, $fw)`.
macro_rules! by_window {
    ($window:expr, $f:ident, ($($arg:expr),*), $else:expr) => {
        match $window {
            (3, 3) => $f::<3, 4, 6>($($arg),*),
            (5, 5) => $f::<5, 6, 8>($($arg),*),
            _ => $else,
        }
    };
}
pub(crate) use by_window;
