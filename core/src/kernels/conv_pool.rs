//! Convolution → ReLU → max pooling of one sample in one pass, without the convolution's output.
//!
//! The unfused blocks store the whole convolution output `(FN, OH, OW)` and its ReLU (for
//! MNIST's first 16-filter layer that is 2 × 42 KiB per sample) only for the pooling to keep a
//! quarter of it. Here each filter's convolution is computed one *band* at a time: the `PH`
//! output rows under one row of pooling windows, at most `PH·max(W, OW)` floats of scratch
//! (the caller's), which is then pooled straight into the output. ReLU costs nothing: the running
//! maximum of a window starts at 0, so `max(0, max window) = max window of ReLU`.
//!
//! The band is computed by "shift and accumulate": for each weight `w[f][c][i][j]` the band rows
//! gain `w · x[c][y·S + i − P][j…]`, contiguous runs when the stride is 1, the padding cut off by
//! ranges ([`super::im2col::Axis::hits`]). With stride 1 and no padding the `PH` rows of a band
//! are laid out `W` apart like the input rows, so the rows merge into one run per weight, and
//! three or four weights are folded per pass over the band (one load and store of the band per
//! three or four multiply-adds, in chunks of eight that vectorise).
//!
//! For training the forward pass records, for every pooled cell, the index of its maximum in
//! the pooling window (`dy·PW + dx`, a `u8`): the pooled output `y` and this index are all
//! backward needs. The gradient of the convolution output is then sparse, one position per
//! pooled cell and only where `y > 0` (ReLU's derivative, 0 at 0 as in [`crate::ReLU`]), so
//! [`conv_relu_pool_backward`] touches `FN·QH·QW` patches instead of `FN·OH·OW`.
//!
//! Ties: the first maximum of a window in row-major order wins, as in [`super::max_pool`]; a
//! window whose convolution outputs are all `≤ 0` gives 0 and passes no gradient.

use core::ops::Range;

use super::gemm::axpy;
use super::im2col::Geometry;
use super::tile::{self, by_window};

/// The shapes of a fused convolution + ReLU + max-pooling block, for one sample: the
/// convolution over `(C, H, W)` with `filters` filters gives `(FN, OH, OW)`, pooled by a
/// `ph × pw` window with stride `ps` (no padding) to `(FN, QH, QW)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvPool {
    /// The convolution window over the input.
    pub conv: Geometry,
    /// Number of filters `FN`.
    pub filters: usize,
    /// Pooling window height `PH`.
    pub ph: usize,
    /// Pooling window width `PW`.
    pub pw: usize,
    /// Pooling stride.
    pub ps: usize,
}

impl ConvPool {
    /// The pooling window over the convolution output `(FN, OH, OW)`.
    pub const fn pool(&self) -> Geometry {
        Geometry {
            c: self.filters,
            h: self.conv.oh(),
            w: self.conv.ow(),
            fh: self.ph,
            fw: self.pw,
            stride: self.ps,
            pad: 0,
        }
    }

    /// Pooled height `QH = (OH − PH) / PS + 1`.
    pub const fn qh(&self) -> usize {
        self.pool().oh()
    }

    /// Pooled width `QW = (OW − PW) / PS + 1`.
    pub const fn qw(&self) -> usize {
        self.pool().ow()
    }

    /// Floats of one output sample, `FN·QH·QW` (also the number of argmax entries).
    pub const fn output_len(&self) -> usize {
        self.filters * self.qh() * self.qw()
    }

    /// Convolution output columns some pooling window reads (the rest are never computed).
    const fn used_cols(&self) -> usize {
        let qw = self.qw();
        if qw == 0 {
            0
        } else {
            (qw - 1) * self.ps + self.pw
        }
    }

    /// Stride 1 and no padding: a band's rows merge into one run per weight.
    const fn merged(&self) -> bool {
        self.conv.stride == 1 && self.conv.pad == 0
    }

    /// Distance between two rows of the band.
    const fn band_stride(&self) -> usize {
        if self.merged() {
            self.conv.w
        } else {
            self.used_cols()
        }
    }

    /// Floats of scratch [`conv_relu_pool`] needs: at most `PH·W` without padding, at most
    /// `PH·OW` with.
    pub const fn band_len(&self) -> usize {
        if self.ph == 0 || self.qw() == 0 {
            0
        } else {
            (self.ph - 1) * self.band_stride() + self.used_cols()
        }
    }

    /// `self`, once checked to be a sound convolution with output `oh × ow` followed by a
    /// sound pooling with output `qh × qw` whose window has at most 256 cells (its argmax is
    /// a `u8`). Meant for the `const` items of layers: a failed check is a compile error.
    pub const fn checked(self, oh: usize, ow: usize, qh: usize, qw: usize) -> Self {
        self.conv.checked(oh, ow);
        assert!(self.filters >= 1, "there must be at least one filter");
        assert!(
            self.ph * self.pw <= 256,
            "the pooling window must have at most 256 cells (its argmax is stored as a u8)"
        );
        self.pool().checked(qh, qw);
        self
    }
}

/// `y = maxpool(relu(w ⋆ x + b))` for one sample, without storing `w ⋆ x + b`.
///
/// Picks, for the target, the faster of two ways that compute the same floats: register
/// tiles on the Cortex-M4F ([`conv_relu_pool_tiles`]), bands of SIMD runs elsewhere
/// ([`conv_relu_pool_bands`]). Every convolution output is the bias plus `w·x` added tap by
/// tap in the filter's order `(c, i, j)`, as the naive loop does.
///
/// `x` is `(C, H, W)`, `w` `(FN, C, FH, FW)`, `bias` `FN` floats, `y` `(FN, QH, QW)`; `band` is
/// scratch of at least [`ConvPool::band_len`] floats (`PH·max(W, OW)` always is; with stride 1
/// and no padding up to 7 floats beyond `band_len` let the runs end on whole SIMD chunks).
/// When `arg` is given (training) it receives, for each pooled cell, the index `dy·PW + dx` of
/// its maximum inside the window; inference passes `None` and no argmax is kept. Panics if a
/// slice is shorter than `g` says.
pub fn conv_relu_pool(
    g: &ConvPool,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    band: &mut [f32],
    y: &mut [f32],
    arg: Option<&mut [u8]>,
) {
    if cfg!(target_arch = "arm") {
        conv_relu_pool_tiles(g, x, w, bias, band, y, arg);
    } else {
        conv_relu_pool_bands(g, x, w, bias, band, y, arg);
    }
}

/// [`conv_relu_pool`] by register tiles ([`super::tile`]): two filters × two neighbouring
/// pooling windows (2 rows × 4 columns of the convolution) at a time, and four filters × one
/// window for an odd last column (fewer filters at the ragged edge); ReLU and pooling straight from the registers, no band. For stride 1,
/// no padding, 2×2 pooling with stride 2 and 3 × 3 or 5 × 5 windows; any other shape goes to
/// [`conv_relu_pool_bands`] (same floats). The device's variant, public so that hosts test it.
pub fn conv_relu_pool_tiles(
    g: &ConvPool,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    band: &mut [f32],
    y: &mut [f32],
    arg: Option<&mut [u8]>,
) {
    let fits = tile::applies(&g.conv) && (g.ph, g.pw, g.ps) == (2, 2, 2);
    if fits && g.output_len() > 0 {
        by_window!(
            (g.conv.fh, g.conv.fw),
            pool_tiles,
            (g, x, w, bias, y, arg),
            conv_relu_pool_bands(g, x, w, bias, band, y, arg)
        );
    } else {
        conv_relu_pool_bands(g, x, w, bias, band, y, arg);
    }
}

/// [`conv_relu_pool_tiles`] for `FW × FW` windows (`X2`, `X4`: see [`tile::by_window`]).
fn pool_tiles<const FW: usize, const X2: usize, const X4: usize>(
    g: &ConvPool,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    y: &mut [f32],
    arg: Option<&mut [u8]>,
) {
    let (k, n) = (g.conv.patch(), g.output_len());
    let (x, w, bias) = (
        &x[..g.conv.input_len()],
        &w[..g.filters * k],
        &bias[..g.filters],
    );
    let mut out = Pooled {
        y: &mut y[..n],
        arg: arg.map(|a| &mut a[..n]),
        qh: g.qh(),
        qw: g.qw(),
    };
    // Pairs of windows, two filters at a time (one for an odd last filter).
    let pairs = out.qw / 2;
    let mut f = 0;
    while f < g.filters {
        let (wf, bf) = (&w[f * k..], &bias[f..]);
        if g.filters - f >= 2 {
            window_tiles::<2, 4, FW, X4>(g, x, (wf, bf, f), (0..pairs, 2), &mut out);
            f += 2;
        } else {
            window_tiles::<1, 4, FW, X4>(g, x, (wf, bf, f), (0..pairs, 2), &mut out);
            f += 1;
        }
    }
    // An odd last window: four filters at a time keep 16 sums in registers there too.
    if out.qw % 2 == 1 {
        let last = out.qw - 1..out.qw;
        let mut f = 0;
        while f < g.filters {
            let (wf, bf) = (&w[f * k..], &bias[f..]);
            let taken = (g.filters - f).min(4);
            let at = (wf, bf, f);
            match taken {
                4 => window_tiles::<4, 2, FW, X2>(g, x, at, (last.clone(), 1), &mut out),
                2 | 3 => window_tiles::<2, 2, FW, X2>(g, x, at, (last.clone(), 1), &mut out),
                _ => window_tiles::<1, 2, FW, X2>(g, x, at, (last.clone(), 1), &mut out),
            }
            f += if taken == 3 { 2 } else { taken };
        }
    }
}

/// The pooled output of [`pool_tiles`] (and its argmax when training), `(FN, QH, QW)`.
struct Pooled<'a> {
    y: &'a mut [f32],
    arg: Option<&'a mut [u8]>,
    qh: usize,
    qw: usize,
}

impl Pooled<'_> {
    /// ReLU and 2×2 max pooling of a tile of 2 rows × `CO` columns for filters `f0..f0 + F`:
    /// window `t` covers columns `2t, 2t + 1` and goes to pooled cell `(qy, qx + t)`. The
    /// maximum starts at 0 (the ReLU), the first largest cell in row-major order wins.
    #[inline(always)]
    fn put<const F: usize, const CO: usize>(
        &mut self,
        s: &tile::Sums<F, 2, CO>,
        f0: usize,
        (qy, qx): (usize, usize),
    ) {
        for (f, sf) in s.iter().enumerate() {
            for t in 0..CO / 2 {
                let cells = [
                    sf[0][2 * t],
                    sf[0][2 * t + 1],
                    sf[1][2 * t],
                    sf[1][2 * t + 1],
                ];
                let o = ((f0 + f) * self.qh + qy) * self.qw + qx + t;
                // Inference keeps no index, so it needs no second register per compare.
                let Some(arg) = self.arg.as_deref_mut() else {
                    self.y[o] = cells.iter().fold(0.0, |m, &v| if v > m { v } else { m });
                    continue;
                };
                let (mut best, mut at) = (0.0f32, 0u8);
                for (a, &v) in (0u8..).zip(&cells) {
                    if v > best {
                        (best, at) = (v, a);
                    }
                }
                (self.y[o], arg[o]) = (best, at);
            }
        }
    }
}

/// The pooled cells of the `F` filters from `f0` (weights `w`, biases `bias`) in every row,
/// `CO / 2` windows per tile: tiles `t` of `tiles`, covering windows `t·step..t·step + CO/2`.
fn window_tiles<const F: usize, const CO: usize, const FW: usize, const XN: usize>(
    g: &ConvPool,
    x: &[f32],
    (w, bias, f0): (&[f32], &[f32], usize),
    (tiles, step): (Range<usize>, usize),
    out: &mut Pooled,
) {
    let b: [f32; F] = core::array::from_fn(|f| bias[f]);
    let (cg, wd) = (&g.conv, g.conv.w);
    for qy in 0..out.qh {
        for qx in tiles.clone().map(|t| t * step) {
            let s = tile::sums::<F, 2, CO, FW, XN>(cg, x, 2 * (qy * wd + qx), w, b);
            out.put(&s, f0, (qy, qx));
        }
    }
}

/// [`conv_relu_pool`] by bands: each filter's convolution one band of `PH` rows at a time,
/// SIMD runs over the band (see the module docs), then pooled. Any geometry. The hosts'
/// variant, public so that it can be tested against the other.
pub fn conv_relu_pool_bands(
    g: &ConvPool,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    band: &mut [f32],
    y: &mut [f32],
    arg: Option<&mut [u8]>,
) {
    let cg = g.conv;
    let (k, qh, qw, n) = (cg.patch(), g.qh(), g.qw(), g.output_len());
    let (x, w, bias) = (
        &x[..cg.input_len()],
        &w[..g.filters * k],
        &bias[..g.filters],
    );
    assert!(band.len() >= g.band_len(), "the band scratch is too short");
    let y = &mut y[..n];
    let mut arg = arg.map(|a| &mut a[..n]);
    if n == 0 {
        return;
    }
    for (f, (wf, &b)) in w.chunks_exact(k).zip(bias).enumerate() {
        for qy in 0..qh {
            band.fill(b);
            conv_band(g, x, wf, qy * g.ps, band);
            let at = (f * qh + qy) * qw;
            let args = arg.as_deref_mut().map(|a| &mut a[at..at + qw]);
            pool_band(g, band, &mut y[at..at + qw], args);
        }
    }
}

/// Adds to `band` the convolution of `x` with one filter `wf` for output rows `r0..r0 + PH`
/// (row `r` of the band at `r·band_stride`), at least the columns some pooling window reads.
fn conv_band(g: &ConvPool, x: &[f32], wf: &[f32], r0: usize, band: &mut [f32]) {
    let cg = &g.conv;
    if g.merged() {
        // Band entry `r·W + ox` is output `(r0 + r, ox)`, which reads `x[c][r0 + r + i][ox + j]`
        // = `x[base(c, i, j) + r·W + ox]`: one run per weight. The entries between rows
        // (`ox ≥ used`) get sums that wrap around a row end; nobody reads them, so the run is
        // also stretched to whole SIMD chunks where the band and the input allow.
        let (hw, wd) = (cg.h * cg.w, cg.w);
        let base = r0 * wd;
        let last = base + (cg.c - 1) * hw + (cg.fh - 1) * wd + cg.fw - 1;
        let len = g.band_len().next_multiple_of(LANES);
        let len = len.min(band.len()).min(x.len() - last);
        let mut fold = Fold::new(&mut band[..len], x, wf.len());
        let mut taps = wf.iter();
        for c in 0..cg.c {
            for i in 0..cg.fh {
                let row = base + c * hw + i * wd;
                for (j, &a) in (0..cg.fw).zip(&mut taps) {
                    fold.push(row + j, a);
                }
            }
        }
        return fold.finish();
    }
    let (rows, cols) = (cg.rows(), cg.cols());
    let (ld, used, s) = (g.band_stride(), g.used_cols(), cg.stride);
    for r in 0..g.ph {
        let oy = r0 + r;
        let out = &mut band[r * ld..r * ld + used];
        for c in 0..cg.c {
            for i in rows.taps(oy) {
                let xrow = &x[(c * cg.h + rows.input(oy, i)) * cg.w..][..cg.w];
                let wrow = &wf[(c * cg.fh + i) * cg.fw..][..cg.fw];
                for (j, &wv) in wrow.iter().enumerate() {
                    let hit = cols.hits(j);
                    let ox = hit.start.min(used)..hit.end.min(used);
                    if ox.is_empty() {
                        continue;
                    }
                    let xs = &xrow[cols.input(ox.start, j)..];
                    let o = &mut out[ox];
                    if s == 1 {
                        axpy(wv, xs, o);
                    } else {
                        o.iter_mut()
                            .zip(xs.iter().step_by(s))
                            .for_each(|(ov, xv)| *ov += wv * xv);
                    }
                }
            }
        }
    }
}

/// Floats per chunk of the merged runs: one AVX register on the host; on the M4F eight
/// independent multiply-adds per step.
const LANES: usize = 8;

/// `out[k] += aₜ·x[oₜ + k]`, one tap after another, over `count` taps `(oₜ, aₜ)` pushed one by one, three or four
/// taps per pass over `out` (nine taps take three passes of three, 144 take 36 of four).
struct Fold<'a> {
    out: &'a mut [f32],
    x: &'a [f32],
    pending: [(usize, f32); 4],
    len: usize,
    /// Passes of four still to come; the others take three (the last one fewer if need be).
    fours: usize,
}

impl<'a> Fold<'a> {
    fn new(out: &'a mut [f32], x: &'a [f32], count: usize) -> Self {
        // `count = 4·fours + 3·(passes − fours)` with `passes = ⌈count / 4⌉`, when count ≥ 6.
        let fours = count.saturating_sub(3 * count.div_ceil(4));
        Fold {
            out,
            x,
            pending: [(0, 0.0); 4],
            len: 0,
            fours,
        }
    }

    #[inline(always)]
    fn push(&mut self, offset: usize, a: f32) {
        self.pending[self.len] = (offset, a);
        self.len += 1;
        if self.len == if self.fours > 0 { 4 } else { 3 } {
            self.finish();
            self.fours = self.fours.saturating_sub(1);
        }
    }

    /// Runs the pending taps (the last, short pass).
    fn finish(&mut self) {
        let [p0, p1, p2, p3] = self.pending;
        match self.len {
            4 => pass(self.out, self.x, [p0, p1, p2, p3]),
            3 => pass(self.out, self.x, [p0, p1, p2]),
            2 => pass(self.out, self.x, [p0, p1]),
            1 => pass(self.out, self.x, [p0]),
            _ => {}
        }
        self.len = 0;
    }
}

/// One pass of [`Fold`] with `T` taps: whole chunks of [`LANES`] (fixed-size arrays, which
/// the compiler turns into vector operations), then the tail.
#[inline(always)]
fn pass<const T: usize>(out: &mut [f32], x: &[f32], taps: [(usize, f32); T]) {
    let n = out.len();
    let xs: [&[f32]; T] = taps.map(|(o, _)| &x[o..o + n]);
    let a: [f32; T] = taps.map(|(_, a)| a);
    let (body, tail) = out.split_at_mut(n - n % LANES);
    for (c, o) in body.chunks_exact_mut(LANES).enumerate() {
        let at = c * LANES;
        let xc: [&[f32; LANES]; T] = xs.map(|s| s[at..at + LANES].try_into().unwrap());
        // Through a local copy: every load of `x` comes before the store, whatever aliases.
        // Each tap is added on its own, in order (not summed first): the order of the naive
        // loop and of the register tiles.
        let mut acc: [f32; LANES] = o.try_into().unwrap();
        for (l, v) in acc.iter_mut().enumerate() {
            for t in 0..T {
                *v += a[t] * xc[t][l];
            }
        }
        o.copy_from_slice(&acc);
    }
    let at = body.len();
    for (l, o) in tail.iter_mut().enumerate() {
        for t in 0..T {
            *o += a[t] * xs[t][at + l];
        }
    }
}

/// Max pooling of one band (with ReLU: the maximum starts at 0) into one row of pooled cells.
fn pool_band(g: &ConvPool, band: &[f32], y: &mut [f32], mut arg: Option<&mut [u8]>) {
    let ld = g.band_stride();
    for (qx, yv) in y.iter_mut().enumerate() {
        let c0 = qx * g.ps;
        let (mut best, mut at) = (0.0f32, 0usize);
        for r in 0..g.ph {
            let row = &band[r * ld + c0..][..g.pw];
            for (j, &v) in row.iter().enumerate() {
                if v > best {
                    (best, at) = (v, r * g.pw + j);
                }
            }
        }
        *yv = best;
        if let Some(a) = arg.as_deref_mut() {
            a[qx] = at as u8;
        }
    }
}

/// Gradients of [`conv_relu_pool`] for one sample from its pooled output `y`, the `arg` it
/// recorded and `dy = ∂E/∂y` (all `(FN, QH, QW)`): **adds** `∂E/∂w` to `dw` and `∂E/∂b` to `db`
/// (so a batch accumulates sample by sample) and, when given, overwrites `dx` with `∂E/∂x`.
///
/// Only pooled cells with `y > 0` pass a gradient `g`, each to the one convolution output `pos`
/// its `arg` names: `dw[f][c][i][j] += g·x[c][pos + (i, j)]`, `db[f] += g`,
/// `dx[c][pos + (i, j)] += g·w[f][c][i][j]`. An `arg` outside the window passes nothing.
///
/// Every filter reading one position shares its input patch: it is gathered once into `patch`
/// (scratch of `2·C·FH·FW` floats, the second half collecting the patch's input gradient), so
/// the updates are contiguous axpys of `C·FH·FW`, like a row of the im2col matrix.
///
/// With stride 1, no padding and a 3×3 or 5×5 window the work goes filter by filter instead
/// ([`filter_backward`]): no patch is gathered, and a channel's weight gradient sits in
/// registers while the filter's live cells stream past. The two orders differ only in how
/// `dx` sums (`dw` and `db` add the cells in the same order), and which one runs depends on
/// the geometry alone, so every target computes the same floats.
#[allow(clippy::too_many_arguments)]
pub fn conv_relu_pool_backward(
    g: &ConvPool,
    x: &[f32],
    w: &[f32],
    y: &[f32],
    arg: &[u8],
    dy: &[f32],
    dw: &mut [f32],
    db: &mut [f32],
    dx: Option<&mut [f32]>,
    patch: &mut [f32],
) {
    let c = &g.conv;
    if tile::applies(c) && g.output_len() > 0 {
        let args = (g, x, w, y, arg, dy, dw, db, dx);
        match (c.fh, c.fw) {
            (3, 3) => return filter_backward::<3, 3, 9>(args),
            (5, 5) => return filter_backward::<5, 5, 25>(args),
            _ => {}
        }
        let (g, x, w, y, arg, dy, dw, db, dx) = args;
        return patch_backward(g, x, w, y, arg, dy, dw, db, dx, patch);
    }
    patch_backward(g, x, w, y, arg, dy, dw, db, dx, patch);
}

/// The arguments of [`conv_relu_pool_backward`] but the patch scratch.
type BackwardArgs<'a> = (
    &'a ConvPool,
    &'a [f32],
    &'a [f32],
    &'a [f32],
    &'a [u8],
    &'a [f32],
    &'a mut [f32],
    &'a mut [f32],
    Option<&'a mut [f32]>,
);

/// Live cells gathered at a time by [`filter_backward`] (on the stack: 256 bytes).
const LIVE: usize = 32;

/// [`conv_relu_pool_backward`] filter by filter, for stride 1, no padding and an `FH × FW`
/// window (`T = FH·FW` taps per channel). For each filter, its live cells (`y > 0`) are
/// listed in batches as (gradient, input offset of the window at the cell's argmax), walking
/// the pooled rows so that no cell needs a division; then [`live_grads`] takes the batch
/// channel by channel. `dw` and `db` add the cells in the same order as [`patch_backward`];
/// `dx` adds filter after filter.
fn filter_backward<const FH: usize, const FW: usize, const T: usize>(
    (g, x, w, y, arg, dy, dw, db, dx): BackwardArgs,
) {
    const { assert!(T == FH * FW) };
    let cg = g.conv;
    let (k, n, (qh, qw)) = (cg.patch(), g.output_len(), (g.qh(), g.qw()));
    let (x, w) = (&x[..cg.input_len()], &w[..g.filters * k]);
    let (y, arg, dy) = (&y[..n], &arg[..n], &dy[..n]);
    let (dw, db) = (&mut dw[..g.filters * k], &mut db[..g.filters]);
    let mut dx = dx.map(|d| {
        let d = &mut d[..cg.input_len()];
        d.fill(0.0);
        d
    });
    let (window, ps, pw, wd) = (g.ph * g.pw, g.ps, g.pw, cg.w);
    // Keeps every read of `live_grads` in the image: the last pooling window ends inside the
    // convolution output (`(QH − 1)·PS + PH ≤ OH`, and across), and a window of the stride-1
    // unpadded convolution at an output `(oy, ox)` ends at `(oy + FH − 1, ox + FW − 1) ≤ (H − 1,
    // W − 1)`.
    assert!(
        (qh - 1) * ps + g.ph <= cg.oh() && (qw - 1) * ps + pw <= cg.ow(),
        "a pooled cell outside the convolution"
    );
    for f in 0..g.filters {
        let cells = f * qh * qw..(f + 1) * qh * qw;
        let (yf, af, gf) = (&y[cells.clone()], &arg[cells.clone()], &dy[cells]);
        let (wf, dwf) = (&w[f * k..(f + 1) * k], &mut dw[f * k..(f + 1) * k]);
        let mut live = [(0.0f32, 0usize); LIVE];
        let (mut count, mut dbf) = (0, db[f]);
        let rows = yf.chunks_exact(qw).zip(af.chunks_exact(qw));
        for (qy, ((yr, ar), gr)) in rows.zip(gf.chunks_exact(qw)).enumerate() {
            for (qx, ((&yv, &a), &gv)) in yr.iter().zip(ar).zip(gr).enumerate() {
                let a = a as usize;
                if yv > 0.0 && a < window {
                    dbf += gv;
                    let at = (qy * ps + a / pw) * wd + qx * ps + a % pw;
                    live[count] = (gv, at);
                    count += 1;
                    if count == LIVE {
                        live_grads::<FH, FW, T>(&cg, x, (wf, dwf), dx.as_deref_mut(), &live);
                        count = 0;
                    }
                }
            }
        }
        live_grads::<FH, FW, T>(&cg, x, (wf, dwf), dx.as_deref_mut(), &live[..count]);
        db[f] = dbf;
    }
}

/// For one filter (weights `wf`, weight gradient `dwf`) and a batch of its live cells
/// (gradient, offset of the window's top left in a channel): channel by channel, the `T`
/// weight gradients summed in registers over the batch, each window row one run of `FW`
/// floats; then, when asked, `g·w` added onto `dx` under each window, a run at a time. `x`
/// and `dx` are the image's `C·H·W` floats and the caller checked that every window lies
/// inside it.
#[inline(always)]
fn live_grads<const FH: usize, const FW: usize, const T: usize>(
    cg: &Geometry,
    x: &[f32],
    (wf, dwf): (&[f32], &mut [f32]),
    mut dx: Option<&mut [f32]>,
    live: &[(f32, usize)],
) {
    let (hw, wd) = (cg.h * cg.w, cg.w);
    for c in 0..cg.c {
        let taps = c * T..(c + 1) * T;
        let dwc: &mut [f32; T] = (&mut dwf[taps.clone()]).try_into().unwrap();
        let mut acc = *dwc;
        for &(gv, at) in live {
            let at = at + c * hw;
            // The whole window first, in registers: each row one multi-register load.
            // SAFETY: `at + i·W + FW ≤ (C − 1)·H·W + (H − 1)·W + W = C·H·W = x.len()` for a
            // window inside the image (checked by the caller).
            let xs: [[f32; FW]; FH] = core::array::from_fn(|i| *unsafe { run(x, at + i * wd) });
            for (s, &xv) in acc.iter_mut().zip(xs.as_flattened()) {
                *s += gv * xv;
            }
        }
        *dwc = acc;
        let Some(dx) = dx.as_deref_mut() else {
            continue;
        };
        let wc: &[f32; T] = wf[taps].try_into().unwrap();
        for &(gv, at) in live {
            let at = at + c * hw;
            for (i, wr) in wc.chunks_exact(FW).enumerate() {
                // SAFETY: as above; `dx` has `C·H·W` floats too.
                let run: &mut [f32; FW] = unsafe { run_mut(dx, at + i * wd) };
                let mut d = *run;
                for (d, &wv) in d.iter_mut().zip(wr) {
                    *d += gv * wv;
                }
                *run = d;
            }
        }
    }
}

/// The `N` floats of `x` from `at`, as an array (a multi-register load on the M4F), without a
/// bounds check.
///
/// # Safety
/// `at + N ≤ x.len()`.
#[inline(always)]
unsafe fn run<const N: usize>(x: &[f32], at: usize) -> &[f32; N] {
    // SAFETY: the caller keeps `at..at + N` inside `x`; `[f32; N]` has `f32`'s alignment.
    unsafe { &*x.as_ptr().add(at).cast::<[f32; N]>() }
}

/// [`run`], writable.
///
/// # Safety
/// `at + N ≤ x.len()`.
#[inline(always)]
unsafe fn run_mut<const N: usize>(x: &mut [f32], at: usize) -> &mut [f32; N] {
    // SAFETY: as in `run`, through the exclusive borrow of `x`.
    unsafe { &mut *x.as_mut_ptr().add(at).cast::<[f32; N]>() }
}

/// [`conv_relu_pool_backward`] for any geometry, position by position: the input patch under
/// each live position is gathered once for every filter reading it.
#[allow(clippy::too_many_arguments)]
fn patch_backward(
    g: &ConvPool,
    x: &[f32],
    w: &[f32],
    y: &[f32],
    arg: &[u8],
    dy: &[f32],
    dw: &mut [f32],
    db: &mut [f32],
    mut dx: Option<&mut [f32]>,
    patch: &mut [f32],
) {
    let cg = g.conv;
    let (k, qh, qw, n) = (cg.patch(), g.qh(), g.qw(), g.output_len());
    let (x, w) = (&x[..cg.input_len()], &w[..g.filters * k]);
    let (y, arg, dy) = (&y[..n], &arg[..n], &dy[..n]);
    let (dw, db) = (&mut dw[..g.filters * k], &mut db[..g.filters]);
    let (xp, dp) = patch[..2 * k].split_at_mut(k);
    if let Some(dx) = dx.as_deref_mut() {
        dx[..cg.input_len()].fill(0.0);
    }
    let cells = qh * qw;
    for q in 0..cells {
        let (qy, qx) = (q / qw, q % qw);
        for a in 0..g.ph * g.pw {
            let (oy, ox) = (qy * g.ps + a / g.pw, qx * g.ps + a % g.pw);
            let mut gathered = false;
            for f in 0..g.filters {
                let i = f * cells + q;
                let live = y[i] > 0.0 && arg[i] as usize == a;
                if !live {
                    continue;
                }
                if !gathered {
                    gather(&cg, x, oy, ox, xp);
                    dp.fill(0.0);
                    gathered = true;
                }
                let gv = dy[i];
                db[f] += gv;
                axpy(gv, xp, &mut dw[f * k..(f + 1) * k]);
                if dx.is_some() {
                    axpy(gv, &w[f * k..(f + 1) * k], dp);
                }
            }
            if let (true, Some(dx)) = (gathered, dx.as_deref_mut()) {
                scatter(&cg, dp, oy, ox, dx);
            }
        }
    }
}

/// Calls `f(p, xi, len)` for each in-image run of the window at output `(oy, ox)`: patch
/// entries `p..p + len` (order `(c, i, j)`) are the pixels `xi..xi + len` of the input.
#[inline(always)]
fn patch_runs(g: &Geometry, oy: usize, ox: usize, mut f: impl FnMut(usize, usize, usize)) {
    if g.pad == 0 {
        // Every tap is in the image: runs of FW, rows W apart.
        let base = oy * g.stride * g.w + ox * g.stride;
        for c in 0..g.c {
            for i in 0..g.fh {
                f((c * g.fh + i) * g.fw, (c * g.h + i) * g.w + base, g.fw);
            }
        }
        return;
    }
    let (rows, cols) = (g.rows(), g.cols());
    let tx = cols.taps(ox);
    if tx.is_empty() {
        return;
    }
    let x0 = cols.input(ox, tx.start);
    for c in 0..g.c {
        for i in rows.taps(oy) {
            let p = (c * g.fh + i) * g.fw + tx.start;
            f(p, (c * g.h + rows.input(oy, i)) * g.w + x0, tx.len());
        }
    }
}

/// The input under the window at output `(oy, ox)` (zeros for the padding): one im2col row.
fn gather(g: &Geometry, x: &[f32], oy: usize, ox: usize, patch: &mut [f32]) {
    if g.pad > 0 {
        patch.fill(0.0);
    }
    patch_runs(g, oy, ox, |p, xi, n| {
        patch[p..p + n].copy_from_slice(&x[xi..xi + n])
    });
}

/// Adds `patch` back onto the input under the window at output `(oy, ox)` (padding dropped).
fn scatter(g: &Geometry, patch: &[f32], oy: usize, ox: usize, dx: &mut [f32]) {
    patch_runs(g, oy, ox, |p, xi, n| {
        for (d, v) in dx[xi..xi + n].iter_mut().zip(&patch[p..p + n]) {
            *d += v;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{conv2d_direct, conv2d_direct_backward, max_pool};

    fn data<const N: usize>(a: usize, b: usize) -> [f32; N] {
        core::array::from_fn(|i| ((i * a) % b) as f32 * 0.1 - 0.45)
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
    }

    /// conv (stride, pad), then pooling (ph, pw, ps): overlapping, disjoint and skipping windows.
    const CASES: [(usize, usize, usize, usize, usize); 7] = [
        (1, 0, 2, 2, 2),
        (1, 1, 2, 2, 2),
        (2, 1, 2, 2, 1),
        (1, 0, 3, 2, 1),
        (2, 0, 1, 2, 3),
        (1, 2, 3, 3, 2),
        (3, 2, 2, 1, 1),
    ];

    /// Against `conv2d_direct`, ReLU, `max_pool` (and for backward, `conv2d_direct_backward`
    /// of the conv-output gradient routed back through the pooling and ReLU).
    #[test]
    fn agrees_with_unfused() {
        for (stride, pad, ph, pw, ps) in CASES {
            let conv = Geometry {
                c: 2,
                h: 7,
                w: 8,
                fh: 3,
                fw: 2,
                stride,
                pad,
            };
            let g = ConvPool {
                conv,
                filters: 3,
                ph,
                pw,
                ps,
            };
            let what = (stride, pad, ph, pw, ps);
            let (x, w, b) = (data::<112>(7, 11), data::<36>(5, 13), [0.05, -0.2, 0.1]);
            let (p, n) = (conv.positions(), g.output_len());
            let (mut u, mut y1, mut arg1) = ([0.0; 300], [0.0; 300], [0u32; 300]);
            conv2d_direct(&conv, &x, &w, &b, &mut u);
            u.iter_mut().for_each(|v| *v = v.max(0.0));
            max_pool(&g.pool(), &u, &mut y1, &mut arg1);
            let (mut band, mut y2, mut arg2, mut y3) =
                ([0.0; 64], [9.0; 300], [0u8; 300], [0.0; 300]);
            assert!(g.band_len() <= 64);
            conv_relu_pool(&g, &x, &w, &b, &mut band, &mut y2, Some(&mut arg2));
            conv_relu_pool(&g, &x, &w, &b, &mut band, &mut y3, None);
            assert!(close(&y1[..n], &y2[..n]), "forward {what:?}");
            assert_eq!(y2[..n], y3[..n], "inference {what:?}");

            let dy = data::<300>(3, 8);
            let mut du = [0.0; 300];
            for (o, &a) in arg1[..n].iter().enumerate() {
                if u[a as usize] > 0.0 {
                    du[a as usize] += dy[o];
                }
            }
            let (mut dw1, mut db1, mut dx1) = ([0.0; 36], [0.0; 3], [0.0; 112]);
            conv2d_direct_backward(
                &conv,
                &x,
                &w,
                &du[..3 * p],
                &mut dw1,
                &mut db1,
                Some(&mut dx1),
            );
            let (mut dw2, mut db2, mut dx2) = ([0.0; 36], [0.0; 3], [7.0; 112]);
            conv_relu_pool_backward(
                &g,
                &x,
                &w,
                &y2,
                &arg2,
                &dy,
                &mut dw2,
                &mut db2,
                Some(&mut dx2),
                &mut [0.0; 24],
            );
            assert!(close(&dw1, &dw2), "dw {what:?}");
            assert!(close(&db1, &db2), "db {what:?}");
            assert!(close(&dx1, &dx2), "dx {what:?}");
        }
    }
}
