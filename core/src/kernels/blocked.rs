//! The host's large products: both operands packed, the rows blocked for the L2 cache and the
//! inner dimension chunked for the L1 cache (the BLIS scheme), around one 6 × 16 micro-kernel —
//! or, with the `std` feature on a core with AVX-512, around the 8 × 48 kernels of
//! [`super::avx512`] ([`with_avx512`], which also takes the narrow and single-row products
//! that are worth its lanes).
//!
//! # Why pack
//!
//! The micro-kernel keeps a tile of `C` — [`R`] rows of [`W`] columns, twelve AVX registers —
//! and for each step `p` of the inner dimension adds the outer product of `R` numbers (one
//! broadcast each) and `W` numbers (two vector loads). Read in place, the `R` numbers sit in
//! `R` different rows of a row-major matrix: six address computations per step besides the
//! arithmetic, which held the old kernel to about 60 % of the core's peak. Packed, both come
//! from one pointer each, contiguous, and the loop is its 24 multiplies and adds, 8 loads and
//! the loop's own 3 instructions: about 95 % of the peak when its operands are in L1.
//!
//! # Blocking
//!
//! For each block of up to [`MC`] rows (its packed rows, `MC × KC` floats, stay in L2) and each
//! chunk of at most [`KC`] steps: every tile's `R` rows are packed once, then each `W`-column
//! panel of the other operand is packed (`KC × W`, stays in L1) and swept by every tile of the
//! block. The chunks are of equal length (784 = 4 × 196, not 3 × 256 + 16), so no chunk pays
//! a tile's load and store of `C` for a handful of steps. The AVX-512 path, on cores with a
//! larger L2, takes chunks of up to [`KC_WIDE`] steps, its panels kept in L2 rather than L1.
//!
//! Tiles that would stick out past a block's or panel's end are moved back to overlap their
//! neighbour, as in [`super::gemm`]: every tile has the full size and only its new entries are
//! stored.

use core::ops::Range;

#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::avx512;
use super::gemm::{chunks, copy, rows_of, run, tiles};

/// The micro-kernel's broadcast side: rows of its tile.
const R: usize = 6;
/// The micro-kernel's vector side: columns of its tile (two AVX registers).
const W: usize = 16;
/// Longest chunk of the inner dimension: a packed `W` panel is `KC × W` floats (16 KiB, in L1
/// beside a tile's packed rows).
const KC: usize = 256;
/// Longest chunk of the inner dimension on the AVX-512 path ([`with_avx512`]): the cores it
/// runs on have an L2 cache of 1 MiB or more, where a panel of 48 columns × 1024 steps
/// (192 KiB) stays beside a block's packed rows. One chunk where `KC` made several spares the
/// sums their trips back to `C` between chunks: measured, 15 % faster on the wide MLP's
/// 100 × 784 × 1000 than four chunks of 196.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
const KC_WIDE: usize = 1024;
#[cfg(not(all(feature = "std", target_arch = "x86_64")))]
const KC_WIDE: usize = KC;
/// Floats of the packed panel: the longest chunk of the widest micro-kernel's columns.
const PANEL: usize = KC_WIDE * 48;
/// Most rows in a block whose chunks are `KC` steps long (a multiple of `R` and of the AVX-512
/// kernels' 8): its packed rows are `MC × KC` floats (360 KiB, in L2). Shorter chunks take more
/// rows in the same space, so a 784-row weight gradient over a batch of 100 is one block, which
/// packs the panels of `dy` once (blocks of 120 rows packed them seven times).
const MC: usize = 360;

/// One operand as the micro-kernel sees it: entry `(i, p)` — `i` along `C`'s side this
/// operand spans, `p` along the inner dimension — is `x[i·along + p·step]`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub x: &'a [f32],
    pub along: usize,
    pub step: usize,
}

impl View<'_> {
    /// `dst[p·N + q] = (i0 + q, p)` for the steps `ks` and `q < valid`, 0 for the rest: the
    /// `N` entries the micro-kernel takes at each step, contiguous (zero-padded past the
    /// operand's edge when it is narrower than a tile). Where they are contiguous in place
    /// already (`along == 1`) they are copied as one fixed-size array.
    #[inline(always)]
    fn pack<const N: usize>(&self, dst: &mut [f32], i0: usize, ks: Range<usize>, valid: usize) {
        let dst = &mut dst[..N * ks.len()];
        if self.along == 1 {
            for (d, p) in dst.chunks_exact_mut(N).zip(ks) {
                let at = i0 + p * self.step;
                let (d, pad) = d.split_at_mut(valid);
                copy::<N>(d, &self.x[at..at + valid]);
                pad.fill(0.0);
            }
            return;
        }
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if N.is_multiple_of(16) && self.step == 1 && avx512::available() {
            let at = (i0 * self.along + ks.start, self.along);
            // SAFETY: this core has AVX-512F (just checked).
            unsafe { avx512::pack_lines::<N>(dst, self.x, at, valid, ks.len()) };
            return;
        }
        // Entry by entry: each of the `valid` lines read front to back (no index to check per
        // entry), written down its column of the panel.
        for q in 0..N {
            let column = dst.chunks_exact_mut(N).map(|d| &mut d[q]);
            if q < valid {
                let at = (i0 + q) * self.along + ks.start * self.step;
                let line = self.x[at..].iter().step_by(self.step);
                column.zip(line).for_each(|(d, x)| *d = *x);
            } else {
                column.for_each(|d| *d = 0.0);
            }
        }
    }
}

/// `C (m×n) += A·B` (or `=` unless `accumulate`) for operands given as views, `C` row-major,
/// when this path is the faster one; returns whether it computed the product (`k ≥ 1`).
///
/// Packing pays when enough panels of `B` reuse each packed row of `A`: from 64 columns on when
/// `A`'s entries for a step are contiguous in place (`gemm_tn`: `Aᵀ` stored), from 96 when each
/// is a scalar copy from another row (`A` row-major: `gemm_nn`, `gemm_nt`). Narrower products,
/// and those with fewer than 6 rows, keep [`super::gemm`]'s tiles, which read `A` in place
/// (among them exact 40-, 20- and 10-column tiles for the MLP's layers): measured, the 40-column
/// layers run faster on those than on 6 × 16 tiles, a sixth of whose columns would be padding.
///
/// With the `std` feature, a core that has AVX-512 gets the micro-kernels of [`super::avx512`]
/// instead ([`with_avx512`]): the same floats, twice the lanes.
pub fn product(
    (m, k, n): (usize, usize, usize),
    a: View,
    b: View,
    c: &mut [f32],
    accumulate: bool,
) -> bool {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if avx512::available() {
        return with_avx512((m, k, n), a, b, c, accumulate);
    }
    let min_n = if a.along == 1 { 64 } else { 96 };
    if m < R || n < min_n {
        return false;
    }
    // Packed panels only (`in_place` is false below): `rows_of` reads rows `W` apart.
    let kernel = |acc: &mut Tile<R, W>, tile: &[f32], (panel, stride): (&[f32], usize)| {
        debug_assert_eq!(stride, W);
        *acc = run(*acc, rows_of::<R>(tile).zip(rows_of::<W>(panel)));
    };
    blocked::<R, W, KC>((m, k, n), a, b, c, (accumulate, false, n), kernel);
    true
}

/// [`product`] on a core with AVX-512, in 8 × 48 tiles (three registers a row: measured, 6 %
/// faster than 12 × 32 on the wide MLP's products, as a step broadcasts 8 numbers instead of 12
/// for the same 24 multiplies and adds). From 64 columns on, both operands packed, and up to 32
/// columns past the last multiple of 48 (from 20 rows) in one narrower panel. Up to 48
/// columns (the MLP's 40-, 20- and 10-column layers) one panel, in tiles of 48, 32 or 16
/// columns, from 16 steps: padding takes a sixth of a 40-column tile and three eighths of a 20-
/// or 10-column one, but twice the lanes of the exact AVX2 tiles ran the 20-column products
/// 2.4× faster and the 10-column ones 1.5–2.8×. The 40-column tiles from 64 rows, the others
/// from a tile's rows (measured: 40 columns on 10 rows, or 10 steps, ran slower than on the
/// AVX2 tiles); a 40-column weight gradient over a long batch transposed instead
/// ([`transposed`]). Fewer than 8 rows (a batch of one) from 33 columns and 64 steps: a row at
/// a time ([`few_rows`]). Other products are left to [`super::gemm`].
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn with_avx512(
    (m, k, n): (usize, usize, usize),
    a: View,
    b: View,
    c: &mut [f32],
    accumulate: bool,
) -> bool {
    match n {
        64.. if m >= 8 => wide((m, k, n), a, b, c, accumulate),
        33..=40 if m >= 64 && k >= 512 && a.along == 1 => {
            transposed((m, k, n), a, b, c, accumulate)
        }
        33..=48 if m >= 64 && k >= 16 => one_panel::<8, 3, 48>((m, k, n), a, b, c, accumulate, n),
        17..=32 if m >= 14 && k >= 16 => one_panel::<14, 2, 32>((m, k, n), a, b, c, accumulate, n),
        1..=16 if m >= 20 && k >= 16 => one_panel::<20, 1, 16>((m, k, n), a, b, c, accumulate, n),
        33.. if m < 8 && k >= 64 && b.along == 1 => few_rows((m, k, n), a, b, c, accumulate),
        _ => return false,
    }
    true
}

/// A product of 64 columns or more (and 8 rows or more) on a core with AVX-512: 8 × 48 tiles,
/// both operands packed.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn wide((m, k, n): (usize, usize, usize), a: View, b: View, c: &mut [f32], accumulate: bool) {
    // SAFETY: the caller saw that this core has AVX-512F.
    let kernel = |acc: &mut _, t: &_, p: (&_, _)| unsafe { avx512::run::<8, 3, 48>(acc, t, p) };
    // Columns past the last multiple of 48, up to 32 of them, in a tile of their own width: in
    // an 8 × 48 tile they would leave two thirds of it or more padding (the 16 of 400 columns,
    // measured: 5 % of the wide MLP's step).
    let rest = n % 48;
    let (split, ldc) = (matches!(rest, 1..=32) && m >= 20, n);
    let main = if split { n - rest } else { n };
    blocked::<8, 48, KC_WIDE>((m, k, main), a, b, c, (accumulate, true, ldc), kernel);
    if split {
        let (b, c) = (
            View {
                x: &b.x[main * b.along..],
                ..b
            },
            &mut c[main..],
        );
        match rest {
            1..=16 => one_panel::<20, 1, 16>((m, k, rest), a, b, c, accumulate, ldc),
            _ => one_panel::<14, 2, 32>((m, k, rest), a, b, c, accumulate, ldc),
        }
    }
}

/// A product of at most 48 columns on a core with AVX-512, in tiles of `R` rows and `W = 16·V`
/// columns (the narrowest `W` that holds them all): one zero-padded panel of `B` per chunk of
/// the inner dimension, swept by tiles whose rows of `A` are read in place (with one panel, a
/// packed row would be copied once and read once), their sums loaded from and stored to `C`
/// directly (`ldc` floats a row: the product may be the last columns of a wider one).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn one_panel<const R: usize, const V: usize, const W: usize>(
    (m, k, n): (usize, usize, usize),
    a: View,
    b: View,
    c: &mut [f32],
    accumulate: bool,
    ldc: usize,
) {
    let kc = k.div_ceil(k.div_ceil(KC_WIDE));
    with_scratch(W * kc, |panel| {
        for ks in chunks(k, kc) {
            let panel = &mut panel[..W * ks.len()];
            if b.along == 1 {
                let src = &b.x[ks.start * b.step..];
                // SAFETY: the caller saw that this core has AVX-512F.
                unsafe { avx512::pack_narrow::<V, W>(panel, src, (b.step, n), ks.len()) };
            } else {
                b.pack::<W>(panel, 0, ks.clone(), n);
            }
            for (i, rows) in tiles(m, R) {
                let a_rows = core::array::from_fn(|r| {
                    let at = (i + r) * a.along + ks.start * a.step;
                    &a.x[at..at + (ks.len() - 1) * a.step + 1]
                });
                let (c, from_c) = (&mut c[i * ldc..], accumulate || ks.start > 0);
                let panel = (&panel[..], W, W);
                // SAFETY: the caller saw that this core has AVX-512F.
                unsafe {
                    avx512::narrow_tile::<R, V, W>(c, (ldc, n), rows, from_c, a_rows, a.step, panel)
                };
            }
        }
    });
}

/// A product of 33 to 40 columns whose `A` is stored transposed (the weight gradient `xᵀ·dy` of
/// a 40-unit layer over a batch of 512 or more; over shorter ones the two transpositions cost
/// more than the padding saves, measured) on a core with AVX-512, as `Cᵀ = Bᵀ·Aᵀ`: its 40 rows
/// are five whole 8-row tiles and its columns are many, both operands packed as cheaply as `C`'s
/// (contiguous runs), where the 48-column tiles of [`one_panel`] would spend a sixth of their
/// work on padding. Then transposed into `C` (and, to accumulate, out of it first). The same
/// floats: each entry is its start, then the products `b·a` (which equal `a·b`) in the inner
/// dimension's order.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn transposed((m, k, n): (usize, usize, usize), a: View, b: View, c: &mut [f32], accumulate: bool) {
    std::thread_local!(static CT: core::cell::RefCell<std::vec::Vec<f32>> =
        const { core::cell::RefCell::new(std::vec::Vec::new()) });
    CT.with_borrow_mut(|ct| {
        ct.resize(m * n, 0.0);
        if accumulate {
            transpose(c, (m, n), ct);
        }
        wide((n, k, m), b, a, ct, accumulate);
        transpose(ct, (n, m), c);
    });
}

/// `dst (cols × rows) = srcᵀ` for a row-major `src` of `rows × cols`, in blocks of 16 × 16 that
/// stay in L1.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn transpose(src: &[f32], (rows, cols): (usize, usize), dst: &mut [f32]) {
    for i0 in (0..rows).step_by(16) {
        for j0 in (0..cols).step_by(16) {
            for i in i0..(i0 + 16).min(rows) {
                for j in j0..(j0 + 16).min(cols) {
                    dst[j * rows + i] = src[i * cols + j];
                }
            }
        }
    }
}

/// A product of fewer than 8 rows (a batch of one, say) on a core with AVX-512, `B`'s rows
/// contiguous: each row of `C` in tiles of up to 112 columns (seven registers), the last one
/// masked, with `A`'s row and `B` read in place, once each, the whole inner dimension in one
/// sweep (nothing is reused, so nothing is packed).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn few_rows((m, k, n): (usize, usize, usize), a: View, b: View, c: &mut [f32], accumulate: bool) {
    const W: usize = 112;
    for i in 0..m {
        let at = i * a.along;
        let row = [&a.x[at..at + (k - 1) * a.step + 1]];
        for j in (0..n).step_by(W) {
            let cols = (n - j).min(W);
            let b_rows = &b.x[j..][..(k - 1) * b.step + cols];
            let c = &mut c[i * n + j..];
            // SAFETY: the caller saw that this core has AVX-512F.
            unsafe {
                avx512::narrow_tile::<1, 7, W>(
                    c,
                    (n, cols),
                    0..1,
                    accumulate,
                    row,
                    a.step,
                    (b_rows, b.step, cols),
                )
            };
        }
    }
}

/// Runs `f` on `len` floats of scratch memory (at most a block's and a panel's), whatever they
/// held: the products pack into it before they read it. With `std`, a buffer of the thread's,
/// kept between calls: a fresh stack array would be zeroed on every call, and 400 KiB of zeros
/// cost as much as a small product's arithmetic (a convolution's 30 × 25 × 576 for one image).
fn with_scratch<T>(len: usize, f: impl FnOnce(&mut [f32]) -> T) -> T {
    assert!(len <= MC * KC + PANEL, "scratch for a block and a panel");
    #[cfg(feature = "std")]
    {
        std::thread_local!(static SCRATCH: core::cell::RefCell<std::vec::Vec<f32>> =
            const { core::cell::RefCell::new(std::vec::Vec::new()) });
        SCRATCH.with_borrow_mut(|s| {
            if s.len() < len {
                s.resize(len, 0.0);
            }
            f(&mut s[..len])
        })
    }
    #[cfg(not(feature = "std"))]
    {
        let mut buf = [0.0f32; MC * KC + PANEL];
        f(&mut buf[..len])
    }
}

/// A tile of `C`'s sums: `RT` rows of `WT` columns.
type Tile<const RT: usize, const WT: usize> = [[f32; WT]; RT];

/// The blocked loop around a micro-kernel of `RT × WT` sums: `C (m×n)` row-major, entry `(i, j)`
/// the sum over `p` of `(i, p)` of `a` times `(j, p)` of `b`. `kernel(acc, tile, (panel,
/// stride))` adds to `acc` the products of one packed tile of rows (`RT` numbers a step) and one
/// panel (`WT` numbers a step, `stride` apart), step after step. The panel is packed (`stride =
/// WT`) unless `in_place`, `b`'s rows are contiguous and all rows are one block: the kernel then
/// reads them where they are, once, rather than copying them first (a layer's weights in its
/// forward pass; measured, 4 % faster on the wide MLP's 100 × 784 × 400, while for several
/// blocks, which read the panel again each, packing stays faster).
fn blocked<const RT: usize, const WT: usize, const KCM: usize>(
    (m, k, n): (usize, usize, usize),
    a: View,
    b: View,
    c: &mut [f32],
    (accumulate, in_place, ldc): (bool, bool, usize),
    kernel: impl Fn(&mut Tile<RT, WT>, &[f32], (&[f32], usize)),
) {
    let kc = k.div_ceil(k.div_ceil(KCM));
    // Blocks of equal size (rounded up to whole tiles) rather than full ones and a remnant.
    let most = (MC * KC / kc) / RT * RT;
    let mc = m.div_ceil(m.div_ceil(most)).next_multiple_of(RT).min(m);
    let block_len = mc.next_multiple_of(RT) * kc;
    with_scratch(block_len + WT * kc, |scratch| {
        let (block, panel) = scratch.split_at_mut(block_len);
        let in_place = in_place && b.along == 1 && n >= WT && mc == m;
        let flags = (accumulate, in_place, ldc);
        blocks((m, k, n), (mc, kc), a, b, c, flags, (block, panel), &kernel)
    });
}

/// The loops of [`blocked`] over its scratch memory: `block` holds a block's packed rows,
/// `panel` one packed panel.
#[allow(clippy::too_many_arguments)]
fn blocks<const RT: usize, const WT: usize>(
    (m, k, n): (usize, usize, usize),
    (mc, kc): (usize, usize),
    a: View,
    b: View,
    c: &mut [f32],
    (accumulate, in_place, ldc): (bool, bool, usize),
    (block, panel): (&mut [f32], &mut [f32]),
    kernel: &impl Fn(&mut Tile<RT, WT>, &[f32], (&[f32], usize)),
) {
    for (i0, new) in tiles(m, mc) {
        for ks in chunks(k, kc) {
            let len = ks.len();
            let from_c = accumulate || ks.start > 0;
            for (t, (i, _)) in tiles(mc, RT).enumerate() {
                a.pack::<RT>(
                    &mut block[t * RT * len..][..RT * len],
                    i0 + i,
                    ks.clone(),
                    RT,
                );
            }
            for (j, cols) in tiles(n, WT) {
                let panel = match in_place {
                    true => (
                        &b.x[j + ks.start * b.step..][..(len - 1) * b.step + WT],
                        b.step,
                    ),
                    false => {
                        b.pack::<WT>(&mut panel[..WT * len], j, ks.clone(), cols.end);
                        (&panel[..WT * len], WT)
                    }
                };
                for (t, (i, rows)) in tiles(mc, RT).enumerate() {
                    let at = |r: usize| (i0 + i + r) * ldc + j;
                    let mut acc = [[0.0f32; WT]; RT];
                    if from_c {
                        for (r, row) in acc.iter_mut().enumerate() {
                            copy::<WT>(&mut row[..cols.end], &c[at(r)..][..cols.end]);
                        }
                    }
                    kernel(&mut acc, &block[t * RT * len..][..RT * len], panel);
                    // Rows before the block's new ones belong to the block before it.
                    let rows = rows.start.max(new.start.saturating_sub(i))..rows.end;
                    if rows == (0..RT) && cols == (0..WT) {
                        // The usual tile, all new: stored straight from the registers.
                        for (r, sums) in acc.iter().enumerate() {
                            copy::<WT>(&mut c[at(r)..][..WT], sums);
                        }
                    } else {
                        for r in rows {
                            copy::<WT>(&mut c[at(r)..][cols.clone()], &acc[r][cols.clone()]);
                        }
                    }
                }
            }
        }
    }
}
