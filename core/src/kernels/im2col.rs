//! `im2col` and `col2im`: a convolution as one matrix product, as in the course.
//!
//! For one sample `(C, H, W)` and a window `(FH, FW)` moved with stride `S` over the image padded
//! with `P` zeros, `im2col` writes one row per output position (`OH·OW` rows, row-major over
//! `(oy, ox)`) holding the `C·FH·FW` pixels under the window (columns ordered `(c, ky, kx)`, the
//! order of a weight tensor `(FN, C, FH, FW)`). Stacked over a batch this is the course's
//! `(N·OH·OW) × (C·FH·FW)` matrix. `col2im` is its adjoint: every entry goes back onto its pixel
//! and overlapping windows add up, which is what a convolution's input gradient needs.
//!
//! Along `kx` a window row reads consecutive pixels whatever the stride, so both directions move
//! whole runs (`copy_from_slice`, or one fused add); the padding is cut off those runs by
//! computing the range of in-image taps once per output row and column, not tested per pixel.

use core::ops::Range;

/// Outputs along one axis of `n` inputs for a window of `f` taps, stride `s`, padding `p`:
/// `(n + 2p − f) / s + 1`, or 0 when the window does not fit or the stride is 0 (so a bad
/// geometry does nothing rather than divide by zero).
pub const fn out_size(n: usize, f: usize, s: usize, p: usize) -> usize {
    if s == 0 || f == 0 || f > n + 2 * p {
        0
    } else {
        (n + 2 * p - f) / s + 1
    }
}

/// One axis of a sliding window: `n` inputs, `f` taps, stride `s`, padding `p`. Output `o`
/// reads inputs `o·s + k − p` for taps `k` in `0..f`; those outside `0..n` are padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    pub n: usize,
    pub f: usize,
    pub s: usize,
    pub p: usize,
}

impl Axis {
    /// Number of outputs.
    pub const fn out(&self) -> usize {
        out_size(self.n, self.f, self.s, self.p)
    }

    /// The taps of output `o` that land inside the image (possibly empty).
    pub fn taps(&self, o: usize) -> Range<usize> {
        let start = o * self.s;
        let lo = self.p.saturating_sub(start).min(self.f);
        let hi = (self.n + self.p).saturating_sub(start).min(self.f);
        lo..hi.max(lo)
    }

    /// The outputs whose tap `k` lands inside the image, `0 ≤ o·s + k − p < n` (possibly
    /// empty): the other side of [`Axis::taps`].
    pub fn outputs(&self, k: usize) -> Range<usize> {
        let lo = self.p.saturating_sub(k).div_ceil(self.s).min(self.out());
        let hi = (self.n + self.p).saturating_sub(k).div_ceil(self.s);
        lo..hi.clamp(lo, self.out())
    }

    /// The input index of tap `k` of output `o`; only meaningful for `k` in [`Axis::taps`].
    pub fn input(&self, o: usize, k: usize) -> usize {
        o * self.s + k - self.p
    }

    /// The input indices under output `o` that lie inside the image (the pixels of
    /// [`Axis::taps`]), possibly empty.
    pub fn inputs(&self, o: usize) -> Range<usize> {
        let t = self.taps(o);
        if t.is_empty() {
            return 0..0;
        }
        let i = self.input(o, t.start);
        i..i + t.len()
    }

    /// The outputs whose tap `k` lands inside the image (the inverse of [`Axis::taps`]):
    /// `o` with `0 ≤ o·s + k − p < n`.
    pub fn hits(&self, k: usize) -> Range<usize> {
        let out = self.out();
        if self.s == 0 || k >= self.n + self.p {
            return 0..0;
        }
        let lo = self.p.saturating_sub(k).div_ceil(self.s).min(out);
        let hi = (self.n + self.p - k).div_ceil(self.s).min(out);
        lo..hi.max(lo)
    }
}

/// A window `(FH, FW)` with stride and zero padding over one sample `(C, H, W)`: the shape
/// arguments of the convolution and pooling kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub fh: usize,
    pub fw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Geometry {
    /// The vertical axis.
    pub const fn rows(&self) -> Axis {
        Axis {
            n: self.h,
            f: self.fh,
            s: self.stride,
            p: self.pad,
        }
    }

    /// The horizontal axis.
    pub const fn cols(&self) -> Axis {
        Axis {
            n: self.w,
            f: self.fw,
            s: self.stride,
            p: self.pad,
        }
    }

    /// Output height `(H + 2P − FH) / S + 1`.
    pub const fn oh(&self) -> usize {
        self.rows().out()
    }

    /// Output width `(W + 2P − FW) / S + 1`.
    pub const fn ow(&self) -> usize {
        self.cols().out()
    }

    /// Output positions per channel, `OH·OW`: the rows of one sample's im2col matrix.
    pub const fn positions(&self) -> usize {
        self.oh() * self.ow()
    }

    /// Floats under one window, `C·FH·FW`: the columns of the im2col matrix.
    pub const fn patch(&self) -> usize {
        self.c * self.fh * self.fw
    }

    /// Floats of one input sample, `C·H·W`.
    pub const fn input_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Floats of one sample's im2col matrix, `OH·OW·C·FH·FW`.
    pub const fn col_len(&self) -> usize {
        self.positions() * self.patch()
    }

    /// `self`, once checked to be a sound window whose output is `oh × ow`. Meant for the
    /// `const` items of layers, where a failed check is a compile error naming the rule.
    pub const fn checked(self, oh: usize, ow: usize) -> Self {
        assert!(
            self.c >= 1 && self.h >= 1 && self.w >= 1,
            "the input must not be empty"
        );
        assert!(self.stride >= 1, "the stride must be at least 1");
        assert!(
            self.fh >= 1 && self.fw >= 1,
            "the window must be at least 1×1"
        );
        assert!(
            self.fh <= self.h + 2 * self.pad && self.fw <= self.w + 2 * self.pad,
            "the window must fit inside the padded input"
        );
        assert!(
            oh == self.oh() && ow == self.ow(),
            "output size must be OH = (H + 2P - FH) / S + 1 and OW = (W + 2P - FW) / S + 1"
        );
        self
    }
}

/// Calls `f(col_at, x_at, len)` for every run of in-image taps: `len` consecutive im2col
/// entries from `col_at` hold the `len` consecutive pixels of `x` from `x_at`. Taps in the
/// padding are skipped, so each caller decides what padding means (zeros, or nothing to add).
fn runs(g: &Geometry, mut f: impl FnMut(usize, usize, usize)) {
    let (rows, cols) = (g.rows(), g.cols());
    let (ow, k) = (g.ow(), g.patch());
    for oy in 0..g.oh() {
        let ky_in = rows.taps(oy);
        for ox in 0..ow {
            let kx_in = cols.taps(ox);
            if kx_in.is_empty() {
                continue;
            }
            let row = (oy * ow + ox) * k;
            let x0 = cols.input(ox, kx_in.start);
            for c in 0..g.c {
                for ky in ky_in.clone() {
                    let col_at = row + (c * g.fh + ky) * g.fw + kx_in.start;
                    let x_at = (c * g.h + rows.input(oy, ky)) * g.w + x0;
                    f(col_at, x_at, kx_in.len());
                }
            }
        }
    }
}

/// Unfold one sample `x` (`C·H·W` floats) into `col` (`OH·OW` rows of `C·FH·FW`), padding
/// with zeros. Panics if a slice is shorter than the geometry says (a programming error: the
/// layers' sizes are checked when they compile).
pub fn im2col(g: &Geometry, x: &[f32], col: &mut [f32]) {
    let (x, col) = (&x[..g.input_len()], &mut col[..g.col_len()]);
    // Without padding every entry is a pixel, written below.
    if g.pad > 0 {
        col.fill(0.0);
    }
    runs(g, |c, i, n| copy_run(&mut col[c..c + n], &x[i..i + n]));
}

/// [`im2col`] transposed: `col_t` gets one row per tap `(c, ky, kx)` (`C·FH·FW` rows of
/// `OH·OW`), the pixel under that tap at each output position in order (0 in the padding).
/// Inference multiplies the filters by it (`W·colᵀ`), its rows read whole where `W·colᵀ`
/// from [`im2col`]'s rows would first transpose them; and with stride 1 an output row's
/// entries are one run of an input row, copied whole (25 runs of 24 floats a row for
/// simple-convnet's 5 × 5 filters, where im2col copies 120 runs of 5).
pub fn im2col_t(g: &Geometry, x: &[f32], col_t: &mut [f32]) {
    let (x, col_t) = (&x[..g.input_len()], &mut col_t[..g.col_len()]);
    let (rows, cols, ow, s) = (g.rows(), g.cols(), g.ow(), g.stride);
    let taps = col_t.chunks_exact_mut(g.positions());
    for (t, tap) in taps.enumerate() {
        let (c, ky, kx) = (t / (g.fh * g.fw), t / g.fw % g.fh, t % g.fw);
        let (in_rows, in_cols) = (rows.outputs(ky), cols.outputs(kx));
        for (oy, out) in tap.chunks_exact_mut(ow).enumerate() {
            if !in_rows.contains(&oy) {
                out.fill(0.0);
                continue;
            }
            let line = &x[(c * g.h + rows.input(oy, ky)) * g.w..][..g.w];
            let (pad_lo, rest) = out.split_at_mut(in_cols.start);
            let (inside, pad_hi) = rest.split_at_mut(in_cols.len());
            pad_lo.fill(0.0);
            pad_hi.fill(0.0);
            if inside.is_empty() {
                continue;
            }
            let first = cols.input(in_cols.start, kx);
            match s {
                1 => inside.copy_from_slice(&line[first..first + inside.len()]),
                _ => inside
                    .iter_mut()
                    .zip(line[first..].iter().step_by(s))
                    .for_each(|(o, v)| *o = *v),
            }
        }
    }
}

/// `dst = src` for one run of im2col: a row of a window, 5 or 3 floats in the course's
/// networks. Those two lengths are copied as fixed-size arrays (a few moves) rather than
/// through a call to `memmove`, which costs more than the copy itself at that size.
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    fn fixed<const N: usize>(dst: &mut [f32], src: &[f32]) -> bool {
        match (<&mut [f32; N]>::try_from(dst), <&[f32; N]>::try_from(src)) {
            (Ok(d), Ok(s)) => {
                *d = *s;
                true
            }
            _ => false,
        }
    }
    if !(fixed::<5>(dst, src) || fixed::<3>(dst, src)) {
        dst.copy_from_slice(src);
    }
}

/// The adjoint of [`im2col`]: `x` (`C·H·W` floats) is overwritten with the sum, over every
/// window, of the `col` entries that came from each pixel; entries of the padding are dropped.
pub fn col2im(g: &Geometry, col: &[f32], x: &mut [f32]) {
    let (col, x) = (&col[..g.col_len()], &mut x[..g.input_len()]);
    x.fill(0.0);
    runs(g, |c, i, n| {
        for (xi, ci) in x[i..i + n].iter_mut().zip(&col[c..c + n]) {
            *xi += ci;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp<const N: usize>() -> [f32; N] {
        core::array::from_fn(|i| i as f32 + 1.0)
    }

    #[test]
    fn course_output_size() {
        // A 6×6 input with a 2×2 filter, stride 1, padding 1 gives 7×7.
        let g = Geometry {
            c: 1,
            h: 6,
            w: 6,
            fh: 2,
            fw: 2,
            stride: 1,
            pad: 1,
        };
        assert_eq!((g.oh(), g.ow()), (7, 7));
        assert_eq!(out_size(4, 3, 2, 0), 1);
        assert_eq!(out_size(2, 3, 1, 0), 0);
        assert_eq!(out_size(5, 3, 0, 0), 0);
    }

    #[test]
    fn course_im2col_rows() {
        // A (2, 1, 4, 4) batch, 3×3 filter, stride 2, no padding: one window per sample, so
        // the im2col matrix is 2 × 9 and each row is the top-left 3×3 block of its sample.
        let x: [f32; 32] = ramp();
        let g = Geometry {
            c: 1,
            h: 4,
            w: 4,
            fh: 3,
            fw: 3,
            stride: 2,
            pad: 0,
        };
        assert_eq!((g.positions(), g.patch()), (1, 9));
        let mut col = [0.0; 18];
        for (xs, cs) in x.chunks_exact(16).zip(col.chunks_exact_mut(9)) {
            im2col(&g, xs, cs);
        }
        let expect = [
            1., 2., 3., 5., 6., 7., 9., 10., 11., //
            17., 18., 19., 21., 22., 23., 25., 26., 27.,
        ];
        assert_eq!(col, expect);
    }

    #[test]
    fn padding_is_zero() {
        // 1 channel 2×2, 2×2 window, stride 1, pad 1: 3×3 outputs; the corner windows see one
        // pixel each.
        let g = Geometry {
            c: 1,
            h: 2,
            w: 2,
            fh: 2,
            fw: 2,
            stride: 1,
            pad: 1,
        };
        let mut col = [9.0; 36];
        im2col(&g, &[1., 2., 3., 4.], &mut col);
        assert_eq!(col[..4], [0., 0., 0., 1.]);
        assert_eq!(col[16..20], [1., 2., 3., 4.]);
        assert_eq!(col[32..], [4., 0., 0., 0.]);
    }

    #[test]
    fn col2im_is_adjoint() {
        // ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩ for strided, padded, multi-channel windows.
        for (stride, pad) in [(1, 0), (1, 1), (2, 1), (3, 2), (2, 0)] {
            let g = Geometry {
                c: 2,
                h: 5,
                w: 4,
                fh: 3,
                fw: 2,
                stride,
                pad,
            };
            let x: [f32; 40] = core::array::from_fn(|i| ((i * 7) % 11) as f32 - 5.0);
            let y: [f32; 512] = core::array::from_fn(|i| ((i * 5) % 13) as f32 - 6.0);
            let (mut col, mut back) = ([0.0; 512], [0.0; 40]);
            im2col(&g, &x, &mut col);
            col2im(&g, &y, &mut back);
            let n = g.col_len();
            let lhs: f32 = col[..n].iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f32 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert_eq!(lhs, rhs, "stride {stride} pad {pad}");
        }
    }

    #[test]
    fn hits_inverts_taps() {
        for (n, f, s, p) in [
            (5, 3, 1, 0),
            (5, 3, 2, 1),
            (7, 2, 3, 2),
            (4, 5, 1, 2),
            (3, 3, 2, 3),
        ] {
            let a = Axis { n, f, s, p };
            for k in 0..f {
                for o in 0..a.out() {
                    assert_eq!(
                        a.taps(o).contains(&k),
                        a.hits(k).contains(&o),
                        "{a:?} o {o} k {k}"
                    );
                }
            }
        }
    }
}
