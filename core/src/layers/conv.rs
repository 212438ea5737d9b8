//! Convolution (cross-correlation, as in the course) with stride, zero padding, `C` input
//! channels and `FN` filters, computed as im2col followed by one matrix product per sample.
//!
//! Weights are `(FN, C, FH, FW)` and a sample's im2col matrix is `(OH·OW) × (C·FH·FW)`, so the
//! product `W · colᵀ` (`gemm_nt`) lands directly in the `(FN, OH, OW)` layout of the output: no
//! transpose, unlike the course's NumPy code which reshapes `(N·OH·OW, FN)` afterwards.

use bytemuck::Zeroable;

use crate::kernels::{col2im, gemm_nn, gemm_nt, gemm_tn, im2col, im2col_t, Geometry};
use crate::layer::{
    flat, flat_mut, signature, visit_values, Layer, Mode, Plan, SpecVisitor, TensorKind,
    TensorSpec, Visitor,
};

/// The floats under one window, `(C, FH, FW)`: one filter, or one row of the im2col matrix.
pub type Patch<const C: usize, const FH: usize, const FW: usize> = [[[f32; FW]; FH]; C];

/// A 2-D convolution from `(C, H, W)` samples to `(FN, OH, OW)` with `FN` filters of `FH × FW`,
/// stride `S` and `P` zeros of padding on each side.
///
/// `OH` and `OW` must be `(H + 2P − FH) / S + 1` and `(W + 2P − FW) / S + 1`; any other value
/// (or a zero stride, or a window larger than the padded input) fails to compile where the
/// layer is used. They are parameters only because stable Rust cannot compute an array length
/// from generic constants.
///
/// Arena: a training pass caches each sample's im2col matrix for backward, which uses one
/// more as scratch (`dYₙᵀ · W` before col2im); inference builds one sample's matrix at a time
/// in scratch, so it computes the same floats as training.
/// [`super::conv_pool::ConvReluPool`] computes the same convolution without any im2col matrix
/// (the direct kernel), fused with the ReLU and pooling after it, for the device.
///
/// ```
/// use shinso::{Conv2d, Layer, Mode};
/// // The course's example: a 6×6 input, 2×2 filter, stride 1, padding 1 gives 7×7.
/// type Course = Conv2d<1, 6, 6, 1, 2, 2, 1, 1, 7, 7>;
/// let conv = <Course as bytemuck::Zeroable>::zeroed();
/// let mut y = [[[[0.0; 7]; 7]; 1]];
/// let mut work = vec![0.0; Course::INFER.at(1)];
/// conv.forward(&[[[[1.0; 6]; 6]; 1]], &mut y, Mode::Infer, &mut [], &mut work);
/// ```
///
/// A wrong output size does not compile:
///
/// ```compile_fail,E0080
/// use shinso::{Conv2d, Layer, Mode};
/// let conv = <Conv2d<1, 6, 6, 1, 2, 2, 1, 1, 6, 6> as bytemuck::Zeroable>::zeroed();
/// let mut y = [[[[0.0; 6]; 6]; 1]];
/// conv.forward(&[[[[1.0; 6]; 6]; 1]], &mut y, Mode::Infer, &mut [], &mut [0.0; 100]);
/// ```
#[derive(Clone, Copy, Zeroable)]
pub struct Conv2d<
    const C: usize,
    const H: usize,
    const W: usize,
    const FN: usize,
    const FH: usize,
    const FW: usize,
    const S: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
> {
    pub w: [Patch<C, FH, FW>; FN],
    pub b: [f32; FN],
}

impl<
        const C: usize,
        const H: usize,
        const W: usize,
        const FN: usize,
        const FH: usize,
        const FW: usize,
        const S: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
    > Conv2d<C, H, W, FN, FH, FW, S, P, OH, OW>
{
    /// The window geometry; evaluating it checks `OH`, `OW` at compile time.
    pub const GEOMETRY: Geometry = Geometry {
        c: C,
        h: H,
        w: W,
        fh: FH,
        fw: FW,
        stride: S,
        pad: P,
    }
    .checked(OH, OW);

    /// Floats of one sample's im2col matrix.
    const COL: usize = OH * OW * C * FH * FW;
}

impl<
        const C: usize,
        const H: usize,
        const W: usize,
        const FN: usize,
        const FH: usize,
        const FW: usize,
        const S: usize,
        const P: usize,
        const OH: usize,
        const OW: usize,
    > Layer for Conv2d<C, H, W, FN, FH, FW, S, P, OH, OW>
{
    type In = [[[f32; W]; H]; C];
    type Out = [[[f32; OW]; OH]; FN];
    const ZERO: Self = Self {
        w: [[[[0.0; FW]; FH]; C]; FN],
        b: [0.0; FN],
    };
    const PARAMS: usize = FN * C * FH * FW + FN;
    const STATE: usize = 0;
    /// Each sample's im2col matrix: `dW = Σₙ dYₙ · colₙ`.
    const CACHE: Plan = Plan::new(0, Self::COL);
    /// One sample's `dYₙᵀ · W`, folded back onto the input by col2im.
    const WORK: Plan = Plan::new(Self::COL, 0);
    /// One sample's im2col matrix at a time.
    const INFER: Plan = Plan::new(Self::COL, 0);
    const SIGNATURE: u64 = signature(b"conv", &[C, H, W, FN, FH, FW, S, P]);

    fn forward(
        &self,
        x: &[Self::In],
        y: &mut [Self::Out],
        mode: Mode,
        cache: &mut [f32],
        work: &mut [f32],
    ) {
        let g = const { Self::GEOMETRY };
        let (xs, ys) = (
            flat(x).chunks_exact(C * H * W),
            flat_mut(y).chunks_exact_mut(FN * OH * OW),
        );
        let w = flat(&self.w);
        for (i, (xn, yn)) in xs.zip(ys).enumerate() {
            for (plane, b) in yn.chunks_exact_mut(OH * OW).zip(&self.b) {
                plane.fill(*b);
            }
            // Training keeps every sample's matrix as backward reads it; inference reuses one,
            // transposed, which is quicker to build and to multiply (the same sums in the same
            // order either way).
            match mode {
                Mode::Train => {
                    let col = &mut cache[i * Self::COL..(i + 1) * Self::COL];
                    im2col(&g, xn, col);
                    gemm_nt(FN, g.patch(), OH * OW, w, col, yn, true);
                }
                Mode::Infer => {
                    let col_t = &mut work[..Self::COL];
                    im2col_t(&g, xn, col_t);
                    gemm_nn(FN, g.patch(), OH * OW, w, col_t, yn, true);
                }
            }
        }
    }

    fn backward(
        &self,
        x: &[Self::In],
        _y: &[Self::Out],
        dy: &[Self::Out],
        dx: Option<&mut [Self::In]>,
        grad: &mut [f32],
        cache: &[f32],
        work: &mut [f32],
    ) {
        let g = const { Self::GEOMETRY };
        let (k, p) = (g.patch(), OH * OW);
        let dys = flat(&dy[..x.len()]).chunks_exact(FN * p);
        // ∂E/∂W = Σₙ dYₙ · colₙ, ∂E/∂b = Σ over samples and positions of dY.
        let (dw, dbias) = grad.split_at_mut(FN * k);
        dw.fill(0.0);
        dbias.fill(0.0);
        for (dyn_, col) in dys.clone().zip(cache.chunks_exact(Self::COL)) {
            gemm_nn(FN, p, k, dyn_, col, dw, true);
            for (db, plane) in dbias.iter_mut().zip(dyn_.chunks_exact(p)) {
                *db += plane.iter().sum::<f32>();
            }
        }
        // ∂E/∂x = col2im(dYₙᵀ · W), one sample at a time through one buffer.
        let Some(dx) = dx else { return };
        let dcol = &mut work[..Self::COL];
        for (dyn_, dxn) in dys.zip(flat_mut(dx).chunks_exact_mut(C * H * W)) {
            gemm_tn(p, FN, k, dyn_, flat(&self.w), dcol, false);
            col2im(&g, dcol, dxn);
        }
    }

    fn visit(&mut self, v: &mut dyn Visitor) {
        visit_values::<Self>(v, [flat_mut(&mut self.w), &mut self.b]);
    }

    fn visit_specs(v: &mut dyn SpecVisitor) {
        filter_specs(v, [FN, C, FH, FW]);
    }
}

/// Describes a convolution's filters `(FN, C, FH, FW)` and biases to `v`: shared by [`Conv2d`]
/// and [`super::conv_pool::ConvReluPool`], whose blobs are therefore interchangeable.
pub(crate) fn filter_specs(v: &mut dyn SpecVisitor, [fnum, c, fh, fw]: [usize; 4]) {
    v.layer("conv");
    let fan_in = c * fh * fw;
    for (kind, shape) in [
        (TensorKind::Weight, [fnum, c, fh, fw]),
        (TensorKind::Bias, [fnum, 0, 0, 0]),
    ] {
        v.tensor(TensorSpec {
            kind,
            shape,
            fan_in,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The course's example: 6×6 input, 2×2 filter, stride 1, padding 1 → 7×7.
    type Course = Conv2d<1, 6, 6, 1, 2, 2, 1, 1, 7, 7>;

    #[test]
    fn course_shape_and_modes_agree() {
        let mut conv = Course::zeroed();
        for (i, w) in flat_mut(&mut conv.w).iter_mut().enumerate() {
            *w = i as f32 - 1.0;
        }
        conv.b = [0.25];
        let x: [[[[f32; 6]; 6]; 1]; 2] =
            bytemuck::cast(core::array::from_fn::<f32, 72, _>(|i| (i % 7) as f32));
        let (mut y1, mut y2) = ([[[[0.0; 7]; 7]; 1]; 2], [[[[0.0; 7]; 7]; 1]; 2]);
        let mut cache = [0.0; Course::CACHE.at(2)];
        let mut work = [0.0; Course::WORK.at(2)];
        conv.forward(&x, &mut y1, Mode::Train, &mut cache, &mut work);
        conv.forward(&x, &mut y2, Mode::Infer, &mut [], &mut work);
        assert_eq!(y1, y2);
        // Top-left output: only x[0][0] under the bottom-right tap (w = 2).
        assert_eq!(y1[0][0][0][0], 0.25 + 2.0 * x[0][0][0][0]);
        // Backward with dy = 1 everywhere: db = number of outputs.
        let (dy, mut dx) = ([[[[1.0; 7]; 7]; 1]; 2], [[[[0.0; 6]; 6]; 1]; 2]);
        let mut grad = [0.0; 5];
        conv.backward(&x, &y1, &dy, Some(&mut dx), &mut grad, &cache, &mut work);
        assert_eq!(grad[4], 98.0);
        // Every pixel sits under every tap once (padding 1, 2×2): dx = Σ w.
        assert!(flat(&dx).iter().all(|&d| d == 2.0));
    }
}
