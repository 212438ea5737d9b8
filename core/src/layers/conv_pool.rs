//! Convolution → ReLU → max pooling as one layer that never stores the convolution's output.
//!
//! The block `Conv2d → ReLU → MaxPool2d` keeps, per sample, the convolution output and its
//! ReLU (`FN·OH·OW` floats each, plus their gradients in the chain, plus Conv2d's im2col
//! matrices) only for pooling to keep a quarter of it. [`ConvReluPool`] computes the same
//! function band by band ([`conv_relu_pool`]) and keeps, per sample, one byte per pooled cell:
//! where the window's maximum was. Its pooled output, which the enclosing chain owns, gives the
//! ReLU mask (`y > 0`), so backward ([`conv_relu_pool_backward`]) has everything it needs.
//!
//! Parameters, visit order, tensor shapes and fan-in are those of [`super::conv::Conv2d`] and
//! the signature is that of `stack![Conv2d, ReLU, MaxPool2d]` with the same sizes, so a blob of
//! one loads into the other.

use bytemuck::Zeroable;

use super::activation::ReLU;
use super::conv::{visit_filters, Conv2d, Patch};
use super::pool::MaxPool2d;
use crate::kernels::{conv_relu_pool, conv_relu_pool_backward, ConvPool, Geometry};
use crate::layer::{flat, flat_mut, mix, Layer, Mode, Visitor};

/// `maxpool(relu(conv(x)))`: a 2-D convolution from `(C, H, W)` to `(FN, OH, OW)` (`FN`
/// filters of `FH × FW`, stride `S`, `P` zeros of padding), ReLU, then max pooling with a
/// `PH × PW` window and stride `PS` to `(FN, QH, QW)`; batches of up to `B`.
///
/// `OH`, `OW` must be `(H + 2P − FH) / S + 1`, `(W + 2P − FW) / S + 1` and `QH`, `QW` must be
/// `(OH − PH) / PS + 1`, `(OW − PW) / PS + 1`, with at most 256 cells in a pooling window; any
/// other value fails to compile where the layer is used (as for [`Conv2d`] and [`MaxPool2d`]).
///
/// Memory: the weights, one byte per pooled cell and sample for training (`B·FN·QH·QW`, none
/// for inference or with `B = 0`), and on the stack a band of `PH·(W + OW)` floats during a
/// forward pass and two patches of `C·FH·FW` floats during a backward pass. With the double
/// convnet's first block (16 filters, 26×26) the unfused layers keep 4 × 42 KiB per sample
/// between them (two activations and their gradients) plus Conv2d's im2col buffers; this layer
/// keeps 2.6 KiB of argmax. [`crate::zoo::DoubleConvNet`] at batch 1 needs 37 KiB of activations
/// and caches in all, against 461 KiB unfused ([`crate::Network::memory`]).
///
/// ```
/// use shinso::{ConvReluPool, Layer, Mode};
/// // 1×6×6, two 3×3 filters → 2×4×4, 2×2 pooling → 2×2×2; batches of 1.
/// type Block = ConvReluPool<1, 6, 6, 2, 3, 3, 1, 0, 4, 4, 2, 2, 2, 2, 2, 1>;
/// let mut l = <Block as bytemuck::Zeroable>::zeroed();
/// l.b = [1.0, -1.0];
/// let mut y = [[[[0.0; 2]; 2]; 2]];
/// l.forward(&[[[[1.0; 6]; 6]; 1]], &mut y, Mode::Infer);
/// assert_eq!(y[0], [[[1.0; 2]; 2], [[0.0; 2]; 2]]);
/// ```
///
/// A wrong pooled size does not compile:
///
/// ```compile_fail,E0080
/// use shinso::{ConvReluPool, Layer, Mode};
/// type Block = ConvReluPool<1, 6, 6, 2, 3, 3, 1, 0, 4, 4, 2, 2, 2, 3, 3, 1>; // 4×4 pools to 2×2
/// let mut l = <Block as bytemuck::Zeroable>::zeroed();
/// let mut y = [[[[0.0; 3]; 3]; 2]];
/// l.forward(&[[[[1.0; 6]; 6]; 1]], &mut y, Mode::Infer);
/// ```
#[derive(Clone, Copy, Zeroable)]
pub struct ConvReluPool<
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
    const PH: usize,
    const PW: usize,
    const PS: usize,
    const QH: usize,
    const QW: usize,
    const B: usize,
> {
    pub w: [Patch<C, FH, FW>; FN],
    pub b: [f32; FN],
    /// For each pooled cell of each sample of the last training batch, where its maximum is in
    /// the pooling window (`dy·PW + dx`).
    arg: [[[[u8; QW]; QH]; FN]; B],
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
        const PH: usize,
        const PW: usize,
        const PS: usize,
        const QH: usize,
        const QW: usize,
        const B: usize,
    > ConvReluPool<C, H, W, FN, FH, FW, S, P, OH, OW, PH, PW, PS, QH, QW, B>
{
    /// The convolution and pooling windows; evaluating it checks `OH`, `OW`, `QH`, `QW` at
    /// compile time.
    pub const GEOMETRY: ConvPool = {
        let g = ConvPool {
            conv: Geometry {
                c: C,
                h: H,
                w: W,
                fh: FH,
                fw: FW,
                stride: S,
                pad: P,
            },
            filters: FN,
            ph: PH,
            pw: PW,
            ps: PS,
        }
        .checked(OH, OW, QH, QW);
        // The stack band of `forward` is big enough (the kernel's bound, restated).
        assert!(g.band_len() <= PH * if P == 0 { W } else { OW });
        g
    };
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
        const PH: usize,
        const PW: usize,
        const PS: usize,
        const QH: usize,
        const QW: usize,
        const B: usize,
    > Layer for ConvReluPool<C, H, W, FN, FH, FW, S, P, OH, OW, PH, PW, PS, QH, QW, B>
{
    type In = [[[f32; W]; H]; C];
    type Out = [[[f32; QW]; QH]; FN];
    type OutBatch = [Self::Out; B];
    const BATCH: usize = B;
    const PARAMS: usize = FN * C * FH * FW + FN;
    const STATE: usize = 0;
    /// The argmax bytes, counted in floats.
    const CACHE: usize = (B * FN * QH * QW).div_ceil(4);
    /// That of the unfused `stack![Conv2d, ReLU, MaxPool2d]` (same function, same blob).
    const SIGNATURE: u64 = mix(
        <Conv2d<C, H, W, FN, FH, FW, S, P, OH, OW, B> as Layer>::SIGNATURE,
        mix(
            <ReLU<[[[f32; OW]; OH]; FN], B> as Layer>::SIGNATURE,
            <MaxPool2d<FN, OH, OW, PH, PW, PS, QH, QW, B> as Layer>::SIGNATURE,
        ),
    );

    fn forward(&mut self, x: &[Self::In], y: &mut [Self::Out], mode: Mode) {
        let g = const { Self::GEOMETRY };
        let (w, b) = (flat(&self.w), &self.b);
        // Scratch for one band of convolution rows: `PH × W` floats fit it without padding,
        // `PH × OW` with.
        let (mut wide, mut narrow) = ([[0.0f32; W]; PH], [[0.0f32; OW]; PH]);
        let band = if P == 0 {
            wide.as_flattened_mut()
        } else {
            narrow.as_flattened_mut()
        };
        let samples = flat(x)
            .chunks_exact(C * H * W)
            .zip(flat_mut(y).chunks_exact_mut(FN * QH * QW));
        if mode == Mode::Infer {
            // Nothing to route back: the argmax cache is left alone (absent when B = 0).
            for (xn, yn) in samples {
                conv_relu_pool(&g, xn, w, b, band, yn, None);
            }
            return;
        }
        let args =
            bytemuck::cast_slice_mut::<_, u8>(&mut self.arg[..]).chunks_exact_mut(FN * QH * QW);
        for ((xn, yn), arg) in samples.zip(args) {
            conv_relu_pool(&g, xn, w, b, band, yn, Some(arg));
        }
    }

    fn backward(
        &mut self,
        x: &[Self::In],
        y: &[Self::Out],
        dy: &[Self::Out],
        dx: Option<&mut [Self::In]>,
        grad: &mut [f32],
    ) {
        let g = const { Self::GEOMETRY };
        let (n, out) = (x.len(), FN * QH * QW);
        let w = flat(&self.w);
        let (dw, db) = grad[..Self::PARAMS].split_at_mut(FN * C * FH * FW);
        dw.fill(0.0);
        db.fill(0.0);
        let mut dxs = dx.map(|d| flat_mut(d).chunks_exact_mut(C * H * W));
        // One window's input and its gradient.
        let mut patch = [[[[0.0f32; FW]; FH]; C]; 2];
        let patch = flat_mut(&mut patch[..]);
        let args = bytemuck::cast_slice::<_, u8>(&self.arg[..]).chunks_exact(out);
        let outs = flat(&y[..n])
            .chunks_exact(out)
            .zip(flat(&dy[..n]).chunks_exact(out));
        for ((xn, (yn, dyn_)), arg) in flat(x).chunks_exact(C * H * W).zip(outs).zip(args) {
            let dxn = dxs.as_mut().and_then(Iterator::next);
            conv_relu_pool_backward(&g, xn, w, yn, arg, dyn_, dw, db, dxn, patch);
        }
    }

    fn visit(&mut self, v: &mut dyn Visitor) {
        visit_filters(v, &mut self.w, &mut self.b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::conv_direct::Conv2dDirect;

    type Fused = ConvReluPool<2, 6, 5, 3, 3, 2, 1, 1, 6, 6, 2, 2, 2, 3, 3, 2>;
    type Conv = Conv2dDirect<2, 6, 5, 3, 3, 2, 1, 1, 6, 6, 2>;
    type Relu = ReLU<[[[f32; 6]; 6]; 3], 2>;
    type Pool = MaxPool2d<3, 6, 6, 2, 2, 2, 3, 3, 2>;

    /// The same numbers as the three layers in a row, forward and backward.
    #[test]
    fn matches_the_unfused_block() {
        let (mut fused, mut conv) = (Fused::zeroed(), Conv::zeroed());
        let (mut relu, mut pool) = (Relu::zeroed(), Pool::zeroed());
        for (i, w) in flat_mut(&mut conv.w).iter_mut().enumerate() {
            *w = ((i * 7) % 9) as f32 * 0.25 - 1.0;
        }
        (fused.w, fused.b, conv.b) = (conv.w, [0.1, -0.2, 0.3], [0.1, -0.2, 0.3]);
        let x: [[[[f32; 5]; 6]; 2]; 2] = bytemuck::cast(core::array::from_fn::<f32, 120, _>(|i| {
            ((i * 5) % 11) as f32 - 5.0
        }));
        let dy: [[[[f32; 3]; 3]; 3]; 2] = bytemuck::cast(core::array::from_fn::<f32, 54, _>(|i| {
            ((i * 3) % 7) as f32 - 3.0
        }));
        let (mut u, mut r) = ([[[[0.0; 6]; 6]; 3]; 2], [[[[0.0; 6]; 6]; 3]; 2]);
        let (mut y1, mut y2) = ([[[[0.0; 3]; 3]; 3]; 2], [[[[0.0; 3]; 3]; 3]; 2]);
        conv.forward(&x, &mut u, Mode::Train);
        relu.forward(&u, &mut r, Mode::Train);
        pool.forward(&r, &mut y1, Mode::Train);
        fused.forward(&x, &mut y2, Mode::Train);
        assert_eq!(y1, y2);

        let (mut dr, mut du, mut dx1, mut dx2) = (r, u, x, x);
        let (mut g1, mut g2) = ([0.0; 39], [9.0; 39]);
        pool.backward(&r, &y1, &dy, Some(&mut dr), &mut []);
        relu.backward(&u, &r, &dr, Some(&mut du), &mut []);
        conv.backward(&x, &u, &du, Some(&mut dx1), &mut g1);
        fused.backward(&x, &y2, &dy, Some(&mut dx2), &mut g2);
        let close = |p: &[f32], q: &[f32]| p.iter().zip(q).all(|(a, b)| (a - b).abs() < 1e-4);
        assert!(close(&g1, &g2));
        assert!(close(flat(&dx1), flat(&dx2)));
        assert_eq!(
            Fused::SIGNATURE,
            <crate::stack![Conv2d<2, 6, 5, 3, 3, 2, 1, 1, 6, 6, 2>, Relu, Pool] as Layer>::SIGNATURE
        );
    }
}
