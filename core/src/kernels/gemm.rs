//! Dot products and the three matrix products a dense or convolutional layer needs.
//!
//! All matrices are row-major slices. `accumulate` chooses `C += …` over `C = …` so a bias can
//! be written first and the product added on top.
//!
//! # How the products are computed
//!
//! All three products walk `C` in tiles of [`MR`] rows × [`NR`] columns. A tile's partial sums
//! live in a local `[[f32; NR]; MR]` that LLVM keeps in registers, and each step `p` of the
//! inner dimension adds `MR·NR` products to it from only `MR + NR` loaded numbers
//! (`MR` entries of `A`'s column `p`, `NR` entries of `B`'s row `p`). A dot-product or axpy
//! formulation loads one or two numbers per product instead, which is what limited the old
//! kernels, above all for the convolution's tiny inner dimension (`K = 25`).
//!
//! The `NR` entries are contiguous so they vectorise (two AVX registers of 8 on the host). For
//! `gemm_nn` and `gemm_tn` they are a piece of a row of `B`, read in place; `gemm_nt` stores
//! `B` the other way round, so it first copies (packs) `NR` of its rows, transposed, into a
//! small panel on the stack and reuses that panel for every tile in the same columns. A ragged
//! last block of columns is packed too, zero-padded, and a ragged last block of rows repeats
//! its last row: every tile then runs the same full-size loop, and the padding is simply not
//! stored. The inner dimension is cut into chunks of [`KC`] (the panel's length); a tile's sums
//! go back to `C` between chunks.
//!
//! # Summation order
//!
//! Every entry of `C` is summed in one order whatever the tile sizes: its starting value
//! (`C`'s old value, or 0), then `A[i][p]·B[p][j]` for `p = 0, 1, …, k − 1`, one rounded
//! product and one rounded addition at a time (no fused multiply-add). Tiling only changes which
//! entries are computed side by side, so the per-target tile sizes below do not change a bit of
//! the result: the host and the device compute the same floats.

use core::ops::Range;

#[cfg(not(target_arch = "arm"))]
use super::blocked::{self, View};

/// `Σ xᵢ·yᵢ` over the shorter of the two slices, with eight independent accumulators (one AVX
/// register on the host; eight in-flight FPU chains on the M4F).
pub fn dot(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail: f32 = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .map(|(a, b)| a * b)
        .sum();
    let mut acc = [0.0f32; 8];
    for (a, b) in xc.zip(yc) {
        for i in 0..8 {
            acc[i] += a[i] * b[i];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `y += α·x`.
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// Rows of a tile of `C` (matrices with fewer rows use tiles of one row).
const MR: usize = 4;

/// Columns of a tile of `C`. On the host two AVX registers of 8, so a 4-row tile is 8 vector
/// accumulators: enough independent additions in flight to hide their latency, with the two
/// `B` vectors and a broadcast `A` entry still within the 16 registers. The M4F has no vectors
/// and 32 single-precision registers: a 4 × 4 tile (16 accumulators) fits without spilling.
#[cfg(not(target_arch = "arm"))]
const NR: usize = 16;
#[cfg(target_arch = "arm")]
const NR: usize = 4;

/// Floats of the panel on the stack (8 KiB on the host; 1 KiB on the device, whose stack is
/// small). A tile `W` columns wide takes the inner dimension in chunks of `PANEL / W` steps.
#[cfg(not(target_arch = "arm"))]
const PANEL: usize = 128 * NR;
#[cfg(target_arch = "arm")]
const PANEL: usize = 64 * NR;

/// Whether [`gemm_nn`] and [`gemm_tn`] copy `B`'s rows into the panel even when they could
/// be read in place (products of more than one tile of rows). On the host the copy, made once
/// per chunk and used by every tile in its columns, turns the inner loop's strided,
/// bounds-checked reads of `B` into one contiguous walk: the loop is then its multiplies, adds
/// and broadcasts plus three instructions. The device keeps reading in place: its products are
/// small and its instruction counts are measured.
const PACK_IN_PLACE_ROWS: bool = cfg!(not(target_arch = "arm"));

/// The partial sums of one tile of `R` rows and `W` columns.
type Tile<const R: usize, const W: usize> = [[f32; W]; R];

/// The micro-kernel: for each step `p` (in order), the column `a` of the tile's rows of `A` and
/// the row `b` of its columns of `B` add their outer product to the tile: `acc[r][c] += a[r]·b[c]`.
/// The tile is passed by value so that it stays in registers for the whole loop.
#[inline(always)]
pub(super) fn run<const R: usize, const W: usize>(
    mut acc: Tile<R, W>,
    steps: impl Iterator<Item = ([f32; R], [f32; W])>,
) -> Tile<R, W> {
    for (a, b) in steps {
        for (row, ar) in acc.iter_mut().zip(a) {
            for (s, bc) in row.iter_mut().zip(b) {
                *s += ar * bc;
            }
        }
    }
    acc
}

/// The tiles of `size` along an axis of `len`: each is `(start, new)`, the tile covering
/// `start..start + size` of which the indices `new` (relative to `start`) are stored. When the
/// last tile would stick out it is moved back to end at `len`, overlapping the one before: its
/// overlap is recomputed (from the same numbers) but only its new part is stored, so every tile
/// has the full size and no ragged edge. An axis shorter than `size` gets one tile whose indices
/// past `len` are padding (only for columns: rows use tiles of one row instead).
pub(super) fn tiles(len: usize, size: usize) -> impl Iterator<Item = (usize, Range<usize>)> {
    (0..len).step_by(size).map(move |s| {
        let start = s.min(len.saturating_sub(size));
        (start, s - start..(len - start).min(size))
    })
}

/// The columns `j + cols` of rows `i..i + R` of `C` (`n` columns), or zeros unless `from_c`
/// (the first chunk of a product that overwrites `C`); other columns are 0.
#[inline(always)]
fn load<const R: usize, const W: usize>(
    c: &[f32],
    n: usize,
    (i, j): (usize, usize),
    cols: &Range<usize>,
    from_c: bool,
) -> Tile<R, W> {
    let mut acc = [[0.0; W]; R];
    if !from_c {
        return acc;
    }
    for (r, row) in acc.iter_mut().enumerate() {
        let at = (i + r) * n + j;
        copy::<W>(&mut row[cols.clone()], &c[at + cols.start..at + cols.end]);
    }
    acc
}

/// `dst = src` for a piece of a tile row. A full row (the usual case) has the constant length
/// `W`, so this becomes a few vector moves rather than a call to `memcpy`.
#[inline(always)]
pub(super) fn copy<const W: usize>(dst: &mut [f32], src: &[f32]) {
    if let (Ok(d), Ok(s)) = (
        <&mut [f32; W]>::try_from(&mut *dst),
        <&[f32; W]>::try_from(src),
    ) {
        *d = *s;
    } else {
        dst.copy_from_slice(src);
    }
}

/// Stores rows `rows` and columns `cols` of `acc` at `(i, j)` of `C` (`n` columns).
#[inline(always)]
fn store<const R: usize, const W: usize>(
    acc: &Tile<R, W>,
    c: &mut [f32],
    n: usize,
    (i, rows): (usize, Range<usize>),
    (j, cols): (usize, &Range<usize>),
) {
    for r in rows {
        let at = (i + r) * n + j;
        copy::<W>(
            &mut c[at + cols.start..at + cols.end],
            &acc[r][cols.clone()],
        );
    }
}

/// `N` consecutive floats taken from every `stride`-th position of `x`, `len` times: a column
/// strip of a row-major matrix read in place. Each window has exactly `N` floats, so the
/// conversion to an array cannot fail and the compiler drops its check.
#[inline(always)]
fn strip<const N: usize>(
    x: &[f32],
    stride: usize,
    len: usize,
) -> impl Iterator<Item = [f32; N]> + '_ {
    x.windows(N)
        .step_by(stride)
        .take(len)
        .map(|w| w.try_into().unwrap())
}

/// Column after column (`ks`) of the `R` rows of a row-major `A` (`k` columns) from row `i`.
#[inline(always)]
fn columns<const R: usize>(
    a: &[f32],
    k: usize,
    i: usize,
    ks: Range<usize>,
) -> impl Iterator<Item = [f32; R]> + '_ {
    let len = ks.len();
    let rows: [&[f32]; R] = core::array::from_fn(|r| &a[(i + r) * k..][ks.clone()][..len]);
    (0..len).map(move |p| core::array::from_fn(|r| rows[r][p]))
}

/// Packs columns `j..j + W` of rows `ks` of a row-major `B` (`n` columns) into `panel`,
/// zero-padded past column `n`. A full row is copied as a fixed-size array: a call to
/// `memcpy` per row of 16 floats took an eighth of a wide MLP's training step.
fn pack_rows<const W: usize>(panel: &mut [f32], b: &[f32], n: usize, j: usize, ks: Range<usize>) {
    for (dst, p) in panel.chunks_exact_mut(W).zip(ks) {
        let src = &b[p * n + j..(p + 1) * n];
        let src = &src[..src.len().min(W)];
        copy::<W>(&mut dst[..src.len()], src);
        dst[src.len()..].fill(0.0);
    }
}

/// Calls `$f::<R, W>` with the tile shape for a product of `$m` rows and `$n` columns: `MR`
/// rows when there are that many, else one (a batch of 1, say); and the widest tile that `$n`
/// fills. A single row's only independent sums are its entries, so its tiles may be as wide
/// as the registers allow (`MR·NR`). A narrower product pads its tile with zero columns.
///
/// The host has two more kinds of tile. The MLP's narrow layers (40, 20 and 10 columns) get
/// tiles exactly as wide, so no work goes to padding or to overlapping tiles (a 40-column
/// product in 16-wide tiles computes 48 columns, a 20-column one 32), with as many rows as
/// keep the accumulators within the 16 AVX registers (2 × 5, 4 × 3 and 4 × 2 vectors). Wide
/// products use 6 × 16 tiles: 12 accumulators, the two `B` vectors and a broadcast, so each
/// step is 24 multiplies and adds for 8 loads and the loop's own 3 instructions, where 4 × 16
/// spends 16 on 6 and the same 3: more of the loop's instructions are arithmetic.
macro_rules! with_tile {
    ($f:ident, $m:expr, $n:expr, $($arg:expr),*) => {
        match ($m >= MR, $n) {
            // The output layer of a single sample on the M4F (10 classes): one tile, exactly
            // as wide, rather than two overlapping tiles of 8.
            #[cfg(target_arch = "arm")]
            (false, 10) => $f::<1, 10>($($arg),*),
            #[cfg(not(target_arch = "arm"))]
            (true, 40) => $f::<2, 40>($($arg),*),
            #[cfg(not(target_arch = "arm"))]
            (true, 20) => $f::<4, 20>($($arg),*),
            #[cfg(not(target_arch = "arm"))]
            (true, 10) => $f::<4, 10>($($arg),*),
            #[cfg(not(target_arch = "arm"))]
            (true, n) if n >= NR && $m >= WIDE_MR => $f::<WIDE_MR, NR>($($arg),*),
            (true, _) => $f::<MR, NR>($($arg),*),
            (false, n) if n >= MR * NR => $f::<1, { MR * NR }>($($arg),*),
            (false, n) if n >= 2 * NR => $f::<1, { 2 * NR }>($($arg),*),
            (false, n) if n >= NR => $f::<1, NR>($($arg),*),
            (false, _) => $f::<1, { NR / 2 }>($($arg),*),
        }
    };
}

/// Rows of the host's tiles for products at least [`NR`] columns wide (see [`with_tile`]).
#[cfg(not(target_arch = "arm"))]
const WIDE_MR: usize = 6;

/// The chunks `p0..p0 + kc` of the inner dimension (`k` steps).
pub(super) fn chunks(k: usize, kc: usize) -> impl Iterator<Item = Range<usize>> {
    (0..k).step_by(kc).map(move |p| p..(p + kc).min(k))
}

/// The rows of a panel of `W` columns, as arrays (each chunk has exactly `W` floats, so the
/// conversion cannot fail and the compiler drops its check).
#[inline(always)]
pub(super) fn rows_of<const W: usize>(panel: &[f32]) -> impl Iterator<Item = [f32; W]> + '_ {
    panel.chunks_exact(W).map(|r| r.try_into().unwrap())
}

/// What every product does before its tiles; returns whether that finished it. With nothing
/// to sum (`k = 0`) `C` is its start (0, or as it is). On the host a big enough product goes to
/// [`blocked::product`], which reads entry `(i, p)` of `A` at `i·along + p·step` for the
/// `(along, step)` of `strides[0]`, and entry `(j, p)` of `B` by `strides[1]`.
#[cfg_attr(target_arch = "arm", allow(unused_variables))]
fn finished(
    (m, k, n): (usize, usize, usize),
    (a, b): (&[f32], &[f32]),
    strides: [(usize, usize); 2],
    c: &mut [f32],
    accumulate: bool,
) -> bool {
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return true;
    }
    #[cfg(not(target_arch = "arm"))]
    {
        let [a, b] =
            [(a, strides[0]), (b, strides[1])].map(|(x, (along, step))| View { x, along, step });
        blocked::product((m, k, n), a, b, c, accumulate)
    }
    #[cfg(target_arch = "arm")]
    false
}

/// `C (m×n) = A (m×k) · B (k×n)`, or `+=` when `accumulate`.
pub fn gemm_nn(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    let (a, b, c) = (&a[..m * k], &b[..k * n], &mut c[..m * n]);
    if !finished((m, k, n), (a, b), [(k, 1), (1, n)], c, accumulate) {
        with_tile!(nn, m, n, m, k, n, a, b, c, accumulate);
    }
}

/// [`gemm_nn`] with tiles of `R × W`, adding to `C`.
fn nn<const R: usize, const W: usize>(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    with_rows_of_b::<R, W, _>(m, k, n, b, c, accumulate, |i, ks| columns::<R>(a, k, i, ks));
}

/// The body [`gemm_nn`] and [`gemm_tn`] share: `C += (tile rows of A) · B`, B read in place
/// (or through a zero-padded panel when narrower than a tile). `a_cols(i, ks)` yields, for each
/// step `p` of `ks`, column `p` of the `R` rows of the left operand starting at row `i`; only
/// that differs between `A` stored as is and `A` stored transposed.
#[allow(clippy::too_many_arguments)]
fn with_rows_of_b<const R: usize, const W: usize, I>(
    m: usize,
    k: usize,
    n: usize,
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
    a_cols: impl Fn(usize, Range<usize>) -> I,
) where
    I: Iterator<Item = [f32; R]>,
{
    let mut panel = [0.0f32; PANEL];
    for (j, cols) in tiles(n, W) {
        for ks in chunks(k, PANEL / W) {
            let packed = n < W || (PACK_IN_PLACE_ROWS && m > R);
            if packed {
                pack_rows::<W>(&mut panel, b, n, j, ks.clone());
            }
            for (i, rows) in tiles(m, R) {
                let acc = load::<R, W>(c, n, (i, j), &cols, accumulate || ks.start > 0);
                let a_cols = a_cols(i, ks.clone());
                let acc = if packed {
                    run(acc, a_cols.zip(rows_of(&panel)))
                } else {
                    run(acc, a_cols.zip(strip(&b[ks.start * n + j..], n, ks.len())))
                };
                store(&acc, c, n, (i, rows), (j, &cols));
            }
        }
    }
}

/// `C (m×n) = Aᵀ · B` with `A` stored `k×m` and `B` `k×n` (weight gradients: `xᵀ·dy`).
pub fn gemm_tn(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    let (a, b, c) = (&a[..k * m], &b[..k * n], &mut c[..m * n]);
    if !finished((m, k, n), (a, b), [(1, m), (1, n)], c, accumulate) {
        with_tile!(tn, m, n, m, k, n, a, b, c, accumulate);
    }
}

/// [`gemm_tn`] with tiles of `R × W`, adding to `C`. Column `p` of the tile's rows of `Aᵀ` is
/// a piece of row `p` of `A`: both operands are read in place as strips.
fn tn<const R: usize, const W: usize>(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    with_rows_of_b::<R, W, _>(m, k, n, b, c, accumulate, |i, ks| {
        strip::<R>(&a[ks.start * m + i..], m, ks.len())
    });
}

/// `C (m×n) = A · Bᵀ` with `A` stored `m×k` and `B` `n×k` (input gradients `dy·Wᵀ`, and
/// convolution as filters · im2col rows). Each block of `NR` rows of `B` is packed transposed
/// into a panel once per chunk of the inner dimension, and used by every tile in its columns.
pub fn gemm_nt(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    let (a, b, c) = (&a[..m * k], &b[..n * k], &mut c[..m * n]);
    if !finished((m, k, n), (a, b), [(k, 1), (k, 1)], c, accumulate) {
        with_tile!(nt, m, n, m, k, n, a, b, c, accumulate);
    }
}

/// [`gemm_nt`] with tiles of `R × W`, adding to `C`.
fn nt<const R: usize, const W: usize>(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    let mut panel = [0.0f32; PANEL];
    for (j, cols) in tiles(n, W) {
        for ks in chunks(k, PANEL / W) {
            // panel[p][q] = B[j + q][p] (zero past the last row of B).
            let panel = &mut panel[..ks.len() * W];
            panel.fill(0.0);
            for (q, brow) in b[j * k..].chunks_exact(k).take(W).enumerate() {
                for (dst, x) in panel.chunks_exact_mut(W).zip(&brow[ks.clone()]) {
                    dst[q] = *x;
                }
            }
            for (i, rows) in tiles(m, R) {
                let acc = load::<R, W>(c, n, (i, j), &cols, accumulate || ks.start > 0);
                let a_cols = columns::<R>(a, k, i, ks.clone());
                let acc = run(acc, a_cols.zip(rows_of(panel)));
                store(&acc, c, n, (i, rows), (j, &cols));
            }
        }
    }
}
