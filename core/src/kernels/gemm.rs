//! Dot products and the three matrix products a dense or convolutional layer needs.
//!
//! All matrices are row-major slices. `accumulate` chooses `C += …` over `C = …` so a bias can
//! be written first and the product added on top.

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

/// `c += Σₚ coef(p)·B[p]` for one output row, `B` being `k` rows of `n`. Four rows of `B` are
/// folded per pass over `c`, so `c` is loaded and stored a quarter as often as by plain axpy.
fn combine_rows(c: &mut [f32], b: &[f32], k: usize, n: usize, coef: impl Fn(usize) -> f32) {
    let mut p = 0;
    while p + 4 <= k {
        let (a0, a1, a2, a3) = (coef(p), coef(p + 1), coef(p + 2), coef(p + 3));
        let rows = &b[p * n..(p + 4) * n];
        let (b0, rest) = rows.split_at(n);
        let (b1, rest) = rest.split_at(n);
        let (b2, b3) = rest.split_at(n);
        for ((((ci, x0), x1), x2), x3) in c.iter_mut().zip(b0).zip(b1).zip(b2).zip(b3) {
            *ci += ((a0 * x0 + a1 * x1) + a2 * x2) + a3 * x3;
        }
        p += 4;
    }
    while p < k {
        axpy(coef(p), &b[p * n..(p + 1) * n], c);
        p += 1;
    }
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
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        if !accumulate {
            row.fill(0.0);
        }
        let a_row = &a[i * k..(i + 1) * k];
        combine_rows(row, b, k, n, |p| a_row[p]);
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
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        if !accumulate {
            row.fill(0.0);
        }
        combine_rows(row, b, k, n, |p| a[p * m + i]);
    }
}

/// `C (m×n) = A · Bᵀ` with `A` stored `m×k` and `B` `n×k`: every entry is a dot product of two
/// contiguous rows (input gradients `dy·Wᵀ`, and convolution as filters · im2col rows).
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
    for i in 0..m {
        let a_row = &a[i * k..(i + 1) * k];
        for (j, cij) in c[i * n..(i + 1) * n].iter_mut().enumerate() {
            let d = dot(a_row, &b[j * k..(j + 1) * k]);
            *cij = if accumulate { *cij + d } else { d };
        }
    }
}
