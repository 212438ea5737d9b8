//! Direct convolution: the same cross-correlation as im2col followed by a matrix product, and
//! its gradients, without the im2col buffer (`OH·OW·C·FH·FW` floats per sample, twice that for
//! training: more than a microcontroller can spare for a second convolution on MNIST).
//!
//! Every kernel walks the same loop: for each weight `(f, c, ky, kx)` and each output row `oy`
//! it reaches, the in-image run of that row ([`super::im2col::Axis::hits`] cuts the padding off
//! by ranges). Forward adds `w·x` to the output row, a contiguous axpy when the stride is 1; the
//! weight gradient is a dot product of the output-gradient row and the input row; the input
//! gradient adds `w·dy` back onto the input row.
//!
//! The forward pass sums each output in the im2col product's order (bias, then tap by tap), so
//! the two agree bit for bit; the gradients sum in other orders and agree to rounding. With one
//! input channel the direct path is also the faster of the two on the host; with many, the
//! im2col path's long dot products win.

use super::gemm::{axpy, dot};
use super::im2col::Geometry;
use super::tile::{self, by_window};

/// Calls `f(wi, xi, yi, len)` for each weight and each output row it reaches: outputs
/// `yi..yi + len` of the flat `(FN, OH, OW)` output read inputs `xi, xi + S, …` of the flat
/// `(C, H, W)` input through weight `wi` of the flat `(FN, C, FH, FW)` filters.
fn tap_rows(g: &Geometry, fnum: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
    let (rows, cols) = (g.rows(), g.cols());
    let (oh, ow) = (g.oh(), g.ow());
    for fi in 0..fnum {
        for c in 0..g.c {
            for ky in 0..g.fh {
                for kx in 0..g.fw {
                    let ox = cols.hits(kx);
                    if ox.is_empty() {
                        continue;
                    }
                    let wi = ((fi * g.c + c) * g.fh + ky) * g.fw + kx;
                    let x0 = cols.input(ox.start, kx);
                    for oy in rows.hits(ky) {
                        let xi = (c * g.h + rows.input(oy, ky)) * g.w + x0;
                        f(wi, xi, (fi * oh + oy) * ow + ox.start, ox.len());
                    }
                }
            }
        }
    }
}

/// `y = w ⋆ x + b` for one sample: `x` is `(C, H, W)`, `w` is `(FN, C, FH, FW)`, `bias` has `FN`
/// entries and `y` is `(FN, OH, OW)`, `FN = bias.len()`. Panics if a slice is shorter than the
/// geometry says.
///
/// Picks, for the target, the faster of two ways that compute the same floats: register tiles
/// on the Cortex-M4F ([`conv2d_direct_tiles`]), axpys over output rows elsewhere
/// ([`conv2d_direct_rows`]). Each output is its bias plus `w·x` added tap by tap in the
/// filter's order `(c, i, j)`, the order of the im2col product too.
pub fn conv2d_direct(g: &Geometry, x: &[f32], w: &[f32], bias: &[f32], y: &mut [f32]) {
    if cfg!(target_arch = "arm") {
        conv2d_direct_tiles(g, x, w, bias, y);
    } else {
        conv2d_direct_rows(g, x, w, bias, y);
    }
}

/// [`conv2d_direct`] by register tiles ([`super::tile`]) of two filters × 2 output rows ×
/// 4 output columns (one filter for an odd last one; the last rows and columns of a ragged
/// edge are recomputed, identically, by a tile moved back to end at the edge). For stride 1,
/// no padding, 3 × 3 or 5 × 5 windows and outputs of at least 2 × 4; anything else goes to
/// [`conv2d_direct_rows`] (same floats). The device's variant, public so that hosts test it.
pub fn conv2d_direct_tiles(g: &Geometry, x: &[f32], w: &[f32], bias: &[f32], y: &mut [f32]) {
    if tile::applies(g) && g.oh() >= 2 && g.ow() >= 4 {
        by_window!(
            (g.fh, g.fw),
            direct_tiles,
            (g, x, w, bias, y),
            conv2d_direct_rows(g, x, w, bias, y)
        );
    } else {
        conv2d_direct_rows(g, x, w, bias, y);
    }
}

/// [`conv2d_direct_tiles`] for `FW × FW` windows (`X4 = 4 + FW − 1`; see [`tile::by_window`]).
fn direct_tiles<const FW: usize, const X2: usize, const X4: usize>(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
    let (fnum, k, p) = (bias.len(), g.patch(), g.positions());
    let (x, w, y) = (&x[..g.input_len()], &w[..fnum * k], &mut y[..fnum * p]);
    let mut f = 0;
    while f < fnum {
        let (wf, yf) = (&w[f * k..], &mut y[f * p..]);
        if fnum - f >= 2 {
            plane_tiles::<2, FW, X4>(g, x, wf, [bias[f], bias[f + 1]], yf);
            f += 2;
        } else {
            plane_tiles::<1, FW, X4>(g, x, wf, [bias[f]], yf);
            f += 1;
        }
    }
}

/// The output planes `y` (`(F, OH, OW)`) of the `F` filters whose weights start `w`.
fn plane_tiles<const F: usize, const FW: usize, const X4: usize>(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    bias: [f32; F],
    y: &mut [f32],
) {
    let (oh, ow) = (g.oh(), g.ow());
    // Tile origins: every `size`-th index, the last moved back to end at `len` (`len ≥ size`).
    let starts = |len: usize, size: usize| (0..len).step_by(size).map(move |s| s.min(len - size));
    for oy in starts(oh, 2) {
        for ox in starts(ow, 4) {
            let s = tile::sums::<F, 2, 4, FW, X4>(g, x, oy * g.w + ox, w, bias);
            for (f, sf) in s.iter().enumerate() {
                for (r, sr) in sf.iter().enumerate() {
                    let at = (f * oh + oy + r) * ow + ox;
                    y[at..at + 4].copy_from_slice(sr);
                }
            }
        }
    }
}

/// [`conv2d_direct`] by output rows: for each weight and each output row it reaches, an axpy
/// of the weight times the input row onto the output row. Any geometry. The hosts' variant,
/// public so that it can be tested against the other.
pub fn conv2d_direct_rows(g: &Geometry, x: &[f32], w: &[f32], bias: &[f32], y: &mut [f32]) {
    let (fnum, p) = (bias.len(), g.positions());
    let (x, w, y) = (
        &x[..g.input_len()],
        &w[..fnum * g.patch()],
        &mut y[..fnum * p],
    );
    for (yf, b) in y.chunks_exact_mut(p.max(1)).zip(bias) {
        yf.fill(*b);
    }
    let s = g.stride;
    tap_rows(g, fnum, |wi, xi, yi, n| {
        let (yrow, xrow) = (&mut y[yi..yi + n], &x[xi..]);
        if s == 1 {
            axpy(w[wi], xrow, yrow);
        } else {
            yrow.iter_mut()
                .zip(xrow.iter().step_by(s))
                .for_each(|(yv, xv)| *yv += w[wi] * xv);
        }
    });
}

/// Gradients of [`conv2d_direct`] for one sample given `dy` (`(FN, OH, OW)`): **adds**
/// `∂E/∂w` to `dw` and `∂E/∂b` to `db` (so a batch accumulates sample by sample) and, when
/// given, overwrites `dx` with `∂E/∂x`. `FN = db.len()`.
pub fn conv2d_direct_backward(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    db: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let (fnum, p) = (db.len(), g.positions());
    let (x, dy) = (&x[..g.input_len()], &dy[..fnum * p]);
    let (w, dw) = (&w[..fnum * g.patch()], &mut dw[..fnum * g.patch()]);
    for (b, dyf) in db.iter_mut().zip(dy.chunks_exact(p.max(1))) {
        *b += dyf.iter().sum::<f32>();
    }
    let s = g.stride;
    tap_rows(g, fnum, |wi, xi, yi, n| {
        let (dyrow, xrow) = (&dy[yi..yi + n], &x[xi..]);
        dw[wi] += if s == 1 {
            dot(dyrow, xrow)
        } else {
            dyrow
                .iter()
                .zip(xrow.iter().step_by(s))
                .map(|(d, xv)| d * xv)
                .sum()
        };
    });
    let Some(dx) = dx else { return };
    let dx = &mut dx[..g.input_len()];
    dx.fill(0.0);
    tap_rows(g, fnum, |wi, xi, yi, n| {
        let (dyrow, dxrow) = (&dy[yi..yi + n], &mut dx[xi..]);
        if s == 1 {
            axpy(w[wi], dyrow, dxrow);
        } else {
            dxrow
                .iter_mut()
                .step_by(s)
                .zip(dyrow)
                .for_each(|(dv, d)| *dv += w[wi] * d);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{col2im, gemm_nn, gemm_nt, gemm_tn, im2col};

    const GEOMS: [(usize, usize); 5] = [(1, 0), (1, 1), (2, 1), (3, 2), (2, 0)];

    fn data<const N: usize>(a: usize, b: usize) -> [f32; N] {
        core::array::from_fn(|i| ((i * a) % b) as f32 * 0.1 - 0.5)
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
    }

    #[test]
    fn agrees_with_im2col_path() {
        for (stride, pad) in GEOMS {
            let g = Geometry {
                c: 2,
                h: 6,
                w: 5,
                fh: 3,
                fw: 2,
                stride,
                pad,
            };
            let (fnum, p, k) = (3, g.positions(), g.patch());
            let (x, w, dy) = (data::<60>(7, 11), data::<36>(5, 13), data::<150>(3, 8));
            let b = [0.5, -1.0, 0.25];
            let (mut col, mut y1, mut y2) = ([0.0; 600], [0.0; 150], [0.0; 150]);
            // Forward: W · colᵀ + b.
            im2col(&g, &x, &mut col);
            for (yf, bf) in y1.chunks_exact_mut(p).zip(&b) {
                yf.fill(*bf);
            }
            gemm_nt(fnum, k, p, &w, &col, &mut y1, true);
            conv2d_direct(&g, &x, &w, &b, &mut y2);
            assert!(
                close(&y1[..fnum * p], &y2),
                "forward, stride {stride} pad {pad}"
            );
            // Backward: dW = dY · col, dx = col2im(dYᵀ · W), db = Σ dY.
            let (mut dw1, mut dw2, mut db) = ([0.0; 36], [0.0; 36], [0.0; 3]);
            let (mut dcol, mut dx1, mut dx2) = ([0.0; 600], [0.0; 60], [9.0; 60]);
            gemm_nn(fnum, p, k, &dy, &col, &mut dw1, false);
            gemm_tn(p, fnum, k, &dy, &w, &mut dcol, false);
            col2im(&g, &dcol, &mut dx1);
            conv2d_direct_backward(&g, &x, &w, &dy, &mut dw2, &mut db, Some(&mut dx2));
            assert!(close(&dw1, &dw2), "dw, stride {stride} pad {pad}");
            assert!(close(&dx1, &dx2), "dx, stride {stride} pad {pad}");
            let sums: [f32; 3] = core::array::from_fn(|f| dy[f * p..(f + 1) * p].iter().sum());
            assert!(close(&db, &sums), "db, stride {stride} pad {pad}");
        }
    }
}
