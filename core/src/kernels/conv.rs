//! Direct convolution: the same cross-correlation as im2col followed by a matrix product, without
//! the im2col buffer (`OH·OW·C·FH·FW` floats per sample, often more than the device can spare
//! for inference).
//!
//! Each weight is applied to a whole output row at once (`y[f, oy, ·] += w·x[c, iy, ·]`), a
//! contiguous axpy when the stride is 1, with the padding cut off by ranges ([`super::im2col::Axis::hits`]).
//! It sums in a different order from the im2col path, so the two agree to rounding, not bit for
//! bit.

use super::gemm::axpy;
use super::im2col::Geometry;

/// `y = w ⋆ x + b` for one sample: `x` is `(C, H, W)`, `w` is `(FN, C, FH, FW)`, `bias` has `FN`
/// entries and `y` is `(FN, OH, OW)`, `FN = bias.len()`. Panics if a slice is shorter than the
/// geometry says.
pub fn conv2d_direct(g: &Geometry, x: &[f32], w: &[f32], bias: &[f32], y: &mut [f32]) {
    let (rows, cols) = (g.rows(), g.cols());
    let (oh, ow, fnum) = (g.oh(), g.ow(), bias.len());
    let plane = g.h * g.w;
    let (x, w, y) = (
        &x[..g.input_len()],
        &w[..fnum * g.patch()],
        &mut y[..fnum * oh * ow],
    );
    if oh * ow == 0 {
        return;
    }
    for (yf, b) in y.chunks_exact_mut(oh * ow).zip(bias) {
        yf.fill(*b);
    }
    if g.patch() == 0 {
        return;
    }
    for (yf, wf) in y.chunks_exact_mut(oh * ow).zip(w.chunks_exact(g.patch())) {
        for (xc, wc) in x
            .chunks_exact(plane.max(1))
            .zip(wf.chunks_exact(g.fh * g.fw))
        {
            for (ky, wrow) in wc.chunks_exact(g.fw).enumerate() {
                for (kx, &wk) in wrow.iter().enumerate() {
                    let ox = cols.hits(kx);
                    if ox.is_empty() {
                        continue;
                    }
                    let x0 = cols.input(ox.start, kx);
                    for oy in rows.hits(ky) {
                        let xrow = &xc[rows.input(oy, ky) * g.w..][x0..];
                        let yrow = &mut yf[oy * ow..][ox.clone()];
                        row_axpy(wk, xrow, g.stride, yrow);
                    }
                }
            }
        }
    }
}

/// `y[i] += a·x[i·s]`; plain axpy (vectorised) for `s = 1`.
fn row_axpy(a: f32, x: &[f32], s: usize, y: &mut [f32]) {
    if s == 1 {
        axpy(a, x, y);
    } else {
        for (yi, xi) in y.iter_mut().zip(x.iter().step_by(s)) {
            *yi += a * xi;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{gemm_nt, im2col};

    #[test]
    fn agrees_with_im2col_path() {
        for (stride, pad) in [(1, 0), (1, 1), (2, 1), (3, 2), (2, 0)] {
            let g = Geometry {
                c: 2,
                h: 6,
                w: 5,
                fh: 3,
                fw: 2,
                stride,
                pad,
            };
            let fnum = 3;
            let x: [f32; 60] = core::array::from_fn(|i| ((i * 7) % 11) as f32 * 0.1 - 0.5);
            let w: [f32; 36] = core::array::from_fn(|i| ((i * 5) % 13) as f32 * 0.1 - 0.6);
            let b = [0.5, -1.0, 0.25];
            let (mut col, mut y1, mut y2) = ([0.0; 600], [0.0; 150], [0.0; 150]);
            im2col(&g, &x, &mut col);
            let p = g.positions();
            for (yf, bf) in y1.chunks_exact_mut(p).zip(&b) {
                yf.fill(*bf);
            }
            gemm_nt(fnum, g.patch(), p, &w, &col, &mut y1, true);
            conv2d_direct(&g, &x, &w, &b, &mut y2);
            for (a, d) in y1[..fnum * p].iter().zip(&y2) {
                assert!(
                    (a - d).abs() < 1e-5,
                    "stride {stride} pad {pad}: {a} vs {d}"
                );
            }
        }
    }
}
