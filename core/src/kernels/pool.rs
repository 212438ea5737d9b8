//! Max and average pooling of one sample `(C, H, W)`, each channel on its own: a window
//! `(PH, PW)` (the geometry's `fh`, `fw`) moved with a stride, output `(C, OH, OW)`.
//!
//! The course pools without padding; if a geometry has some, max pooling ignores the padded
//! cells and average pooling counts them as zeros (the im2col formulation: the divisor is always
//! `PH·PW`).

use core::ops::Range;

use super::im2col::Geometry;

/// The argmax recorded for a window that lies wholly in the padding: it has no input, so it
/// passes no gradient back.
pub const NO_INPUT: u32 = u32::MAX;

/// Calls `f(o, plane, ys, xs)` for output `o` (flat over `(C, OH, OW)`), the offset `plane` of
/// its channel in the input and the in-image input rows `ys` and columns `xs` under its window.
fn windows(g: &Geometry, mut f: impl FnMut(usize, usize, Range<usize>, Range<usize>)) {
    let (rows, cols) = (g.rows(), g.cols());
    let (oh, ow) = (g.oh(), g.ow());
    for c in 0..g.c {
        let plane = c * g.h * g.w;
        for oy in 0..oh {
            let ys = rows.inputs(oy);
            for ox in 0..ow {
                f((c * oh + oy) * ow + ox, plane, ys.clone(), cols.inputs(ox));
            }
        }
    }
}

/// `y[o]` = the largest input under window `o`, and `arg[o]` its index in `x` (the first one
/// on ties, as NumPy's `argmax`), which [`max_pool_backward`] routes the gradient to. `x` is
/// `C·H·W` floats, `y` `C·OH·OW`. `arg` is `C·OH·OW` too, or empty when nothing will be
/// routed back (inference). Panics if `x` or `y` is shorter than that.
pub fn max_pool(g: &Geometry, x: &[f32], y: &mut [f32], arg: &mut [u32]) {
    let n = g.c * g.positions();
    let (x, y) = (&x[..g.input_len()], &mut y[..n]);
    windows(g, |o, plane, ys, xs| {
        // Strictly greater keeps the first maximum; starting below every finite value saves
        // a first-element test in the inner loop.
        let (mut best, mut at) = (f32::NEG_INFINITY, NO_INPUT as usize);
        for iy in ys {
            let start = plane + iy * g.w;
            for (i, &v) in x[start..][xs.clone()].iter().enumerate() {
                if v > best {
                    (best, at) = (v, start + xs.start + i);
                }
            }
        }
        // A window wholly in the padding has no input: it outputs 0.
        y[o] = if at == NO_INPUT as usize { 0.0 } else { best };
        if let Some(a) = arg.get_mut(o) {
            *a = at as u32;
        }
    });
}

/// [`max_pool`] for inference: the same outputs (the first largest input of each window, 0 for
/// a window wholly in the padding or with no input above −∞), without the argmax. It works a
/// row of outputs at a time, taking the running maximum of the whole row per window tap, a
/// compare-and-select that vectorises. `x` is `C·H·W` floats, `y` `C·OH·OW`.
pub fn max_pool_infer(g: &Geometry, x: &[f32], y: &mut [f32]) {
    let (oh, ow) = (g.oh(), g.ow());
    let (x, y) = (&x[..g.input_len()], &mut y[..g.c * oh * ow]);
    let (rows, cols) = (g.rows(), g.cols());
    if ow == 0 {
        return;
    }
    if (g.fh, g.fw, g.stride, g.pad) == (2, 2, 2, 0) {
        return max_pool_2x2(g, x, y);
    }
    for (c, plane) in y.chunks_exact_mut(oh * ow).enumerate() {
        for (oy, yrow) in plane.chunks_exact_mut(ow).enumerate() {
            yrow.fill(f32::NEG_INFINITY);
            for iy in rows.inputs(oy) {
                let xrow = &x[(c * g.h + iy) * g.w..][..g.w];
                for j in 0..g.fw {
                    let hit = cols.hits(j);
                    if hit.is_empty() {
                        continue;
                    }
                    let xs = xrow[cols.input(hit.start, j)..].iter().step_by(g.stride);
                    // Strictly greater, as `max_pool`: NaN never wins, and neither does a
                    // later equal value (which matters only for the sign of a zero).
                    for (b, &v) in yrow[hit].iter_mut().zip(xs) {
                        *b = if v > *b { v } else { *b };
                    }
                }
            }
            for b in yrow.iter_mut() {
                if *b == f32::NEG_INFINITY {
                    *b = 0.0;
                }
            }
        }
    }
}

/// [`max_pool_infer`] for the course's 2 × 2 windows at stride 2 without padding: each output
/// row reads two whole input rows in pairs, with no index arithmetic per window, so the
/// compiler can vectorise it. Same comparisons in the same order (the window's top row left to
/// right, then its bottom row), hence the same floats, signs of zeros included.
fn max_pool_2x2(g: &Geometry, x: &[f32], y: &mut [f32]) {
    let ow = g.ow();
    let pairs = |row: usize| x[row * g.w..][..2 * ow].chunks_exact(2);
    for (r, yrow) in y.chunks_exact_mut(ow).enumerate() {
        // Output row `r` (flat over channels and rows) of channel `c` reads input rows
        // `2·oy` and `2·oy + 1` of that channel.
        let (c, oy) = (r / g.oh(), r % g.oh());
        let top = c * g.h + 2 * oy;
        for (b, (t, u)) in yrow.iter_mut().zip(pairs(top).zip(pairs(top + 1))) {
            let mut m = f32::NEG_INFINITY;
            for v in [t[0], t[1], u[0], u[1]] {
                m = if v > m { v } else { m };
            }
            *b = if m == f32::NEG_INFINITY { 0.0 } else { m };
        }
    }
}

/// `dx = ∂E/∂x` of max pooling: zero except at each window's argmax, which receives that
/// output's gradient (summed where windows overlap). `arg` is what [`max_pool`] recorded;
/// out-of-range entries (such as [`NO_INPUT`]) are skipped.
pub fn max_pool_backward(arg: &[u32], dy: &[f32], dx: &mut [f32]) {
    dx.fill(0.0);
    for (&i, &d) in arg.iter().zip(dy) {
        if let Some(slot) = dx.get_mut(i as usize) {
            *slot += d;
        }
    }
}

/// `y[o]` = the mean of window `o` (`Σ / (PH·PW)`). `x` is `C·H·W` floats, `y` `C·OH·OW`.
pub fn avg_pool(g: &Geometry, x: &[f32], y: &mut [f32]) {
    let (x, y) = (&x[..g.input_len()], &mut y[..g.c * g.positions()]);
    let scale = 1.0 / (g.fh * g.fw).max(1) as f32;
    windows(g, |o, plane, ys, xs| {
        let mut sum = 0.0;
        for iy in ys {
            sum += x[plane + iy * g.w..][xs.clone()].iter().sum::<f32>();
        }
        y[o] = sum * scale;
    });
}

/// `dx = ∂E/∂x` of average pooling: every input of window `o` receives `dy[o] / (PH·PW)`,
/// summed where windows overlap.
pub fn avg_pool_backward(g: &Geometry, dy: &[f32], dx: &mut [f32]) {
    let (dy, dx) = (&dy[..g.c * g.positions()], &mut dx[..g.input_len()]);
    let scale = 1.0 / (g.fh * g.fw).max(1) as f32;
    dx.fill(0.0);
    windows(g, |o, plane, ys, xs| {
        let d = dy[o] * scale;
        for iy in ys {
            dx[plane + iy * g.w..][xs.clone()]
                .iter_mut()
                .for_each(|v| *v += d);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Geometry = Geometry {
        c: 2,
        h: 4,
        w: 4,
        fh: 2,
        fw: 2,
        stride: 2,
        pad: 0,
    };

    fn input() -> [f32; 32] {
        core::array::from_fn(|i| ((i * 7) % 16) as f32)
    }

    #[test]
    fn max_pool_2x2() {
        let x = input();
        let (mut y, mut arg, mut dx) = ([0.0; 8], [0; 8], [0.0; 32]);
        max_pool(&G, &x, &mut y, &mut arg);
        for (o, (&v, &a)) in y.iter().zip(&arg).enumerate() {
            let (c, oy, ox) = (o / 4, o / 2 % 2, o % 2);
            let base = c * 16 + oy * 8 + ox * 2;
            let window = [x[base], x[base + 1], x[base + 4], x[base + 5]];
            assert_eq!(v, window.iter().copied().fold(f32::MIN, f32::max));
            assert_eq!(x[a as usize], v);
        }
        max_pool_backward(&arg, &[1.0; 8], &mut dx);
        assert_eq!(dx.iter().sum::<f32>(), 8.0);
        assert!(arg.iter().all(|&a| dx[a as usize] == 1.0));
    }

    #[test]
    fn avg_pool_2x2_and_adjoint() {
        let x = input();
        let (mut y, mut dx) = ([0.0; 32], [0.0; 32]);
        avg_pool(&G, &x, &mut y);
        assert_eq!(y[0], (x[0] + x[1] + x[4] + x[5]) / 4.0);
        // ⟨avg_pool(x), dy⟩ = ⟨x, avg_pool_backward(dy)⟩, also with overlapping windows.
        for stride in [1, 2, 3] {
            let g = Geometry { stride, fh: 3, ..G };
            let dy: [f32; 32] = core::array::from_fn(|i| i as f32 - 3.0);
            let n = g.c * g.positions();
            avg_pool(&g, &x, &mut y);
            avg_pool_backward(&g, &dy, &mut dx);
            let lhs: f32 = y[..n].iter().zip(&dy).map(|(a, b)| a * b).sum();
            let rhs: f32 = x.iter().zip(&dx).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-4, "stride {stride}: {lhs} vs {rhs}");
        }
    }
}
