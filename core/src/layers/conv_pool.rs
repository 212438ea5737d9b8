//! Convolution → ReLU → max pooling as one layer that never stores the convolution's output.
//!
//! The block `Conv2d → ReLU → MaxPool2d` keeps, per sample, the convolution output and its
//! ReLU (`FN·OH·OW` floats each, plus their gradients in the chain, plus Conv2d's im2col
//! matrices) only for pooling to keep a quarter of it. [`ConvReluPool`] computes the same
//! function band by band ([`conv_relu_pool`]) and caches, per sample, one byte per pooled cell:
//! where the window's maximum was. Its pooled output, which the enclosing chain caches, gives
//! the ReLU mask (`y > 0`), so backward ([`conv_relu_pool_backward`]) has everything it needs.
//!
//! Parameters, visit order, tensor shapes and fan-in are those of [`super::conv::Conv2d`] and
//! the signature is that of `stack![Conv2d, ReLU, MaxPool2d]` with the same sizes, so a blob of
//! one loads into the other.

use bytemuck::Zeroable;

use super::activation::ReLU;
use super::conv::{filter_specs, Conv2d, Patch};
use super::pool::MaxPool2d;
use crate::kernels::{conv_relu_pool, conv_relu_pool_backward, ConvPool, Geometry};
use crate::layer::{flat, flat_mut, mix, visit_values, Layer, Mode, Plan, SpecVisitor, Visitor};

/// `maxpool(relu(conv(x)))`: a 2-D convolution from `(C, H, W)` to `(FN, OH, OW)` (`FN`
/// filters of `FH × FW`, stride `S`, `P` zeros of padding), ReLU, then max pooling with a
/// `PH × PW` window and stride `PS` to `(FN, QH, QW)`.
///
/// `OH`, `OW` must be `(H + 2P − FH) / S + 1`, `(W + 2P − FW) / S + 1` and `QH`, `QW` must be
/// `(OH − PH) / PS + 1`, `(OW − PW) / PS + 1`, with at most 256 cells in a pooling window; any
/// other value fails to compile where the layer is used (as for [`Conv2d`] and [`MaxPool2d`]).
///
/// Arena: a training pass caches one byte per pooled cell and sample (`FN·QH·QW`, rounded up
/// to whole floats); a forward pass uses a band of `PH·W` floats of scratch (`PH·OW` with
/// padding), a backward pass two patches of `C·FH·FW`. With the double convnet's first block
/// (16 filters, 26×26) the unfused layers keep 4 × 42 KiB per sample between them (two
/// activations and their gradients) plus Conv2d's im2col matrices; this layer caches 2.6 KiB of
/// argmax.
///
/// ```
/// use shinso::{ConvReluPool, Layer, Mode};
/// // 1×6×6, two 3×3 filters → 2×4×4, 2×2 pooling → 2×2×2.
/// type Block = ConvReluPool<1, 6, 6, 2, 3, 3, 1, 0, 4, 4, 2, 2, 2, 2, 2>;
/// let mut l = <Block as bytemuck::Zeroable>::zeroed();
/// l.b = [1.0, -1.0];
/// let mut y = [[[[0.0; 2]; 2]; 2]];
/// let mut work = [0.0; Block::INFER.at(1)];
/// l.forward(&[[[[1.0; 6]; 6]; 1]], &mut y, Mode::Infer, &mut [], &mut work);
/// assert_eq!(y[0], [[[1.0; 2]; 2], [[0.0; 2]; 2]]);
/// ```
///
/// A wrong pooled size does not compile:
///
/// ```compile_fail,E0080
/// use shinso::{ConvReluPool, Layer, Mode};
/// type Block = ConvReluPool<1, 6, 6, 2, 3, 3, 1, 0, 4, 4, 2, 2, 2, 3, 3>; // 4×4 pools to 2×2
/// let l = <Block as bytemuck::Zeroable>::zeroed();
/// let mut y = [[[[0.0; 3]; 3]; 2]];
/// l.forward(&[[[[1.0; 6]; 6]; 1]], &mut y, Mode::Infer, &mut [], &mut [0.0; 64]);
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
        const PH: usize,
        const PW: usize,
        const PS: usize,
        const QH: usize,
        const QW: usize,
    > ConvReluPool<C, H, W, FN, FH, FW, S, P, OH, OW, PH, PW, PS, QH, QW>
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
        // The band of `forward` is big enough (the kernel's bound, restated).
        assert!(g.band_len() <= Self::BAND);
        g
    };

    /// Floats of scratch for one band of convolution rows: `PH × W` fit it without padding,
    /// `PH × OW` with.
    const BAND: usize = PH * if P == 0 { W } else { OW };
    /// Floats of one window's input and its gradient, for backward.
    const PATCHES: usize = 2 * C * FH * FW;
    /// Floats caching one sample's argmax bytes.
    const ARG: usize = (FN * QH * QW).div_ceil(4);

    /// Sample `i`'s argmax bytes in a training cache.
    fn arg(cache: &[f32], i: usize) -> &[u8] {
        let floats = &cache[i * Self::ARG..(i + 1) * Self::ARG];
        &bytemuck::cast_slice(floats)[..FN * QH * QW]
    }

    /// The same, to be written by the forward pass.
    fn arg_mut(cache: &mut [f32], i: usize) -> &mut [u8] {
        let floats = &mut cache[i * Self::ARG..(i + 1) * Self::ARG];
        &mut bytemuck::cast_slice_mut(floats)[..FN * QH * QW]
    }
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
    > Layer for ConvReluPool<C, H, W, FN, FH, FW, S, P, OH, OW, PH, PW, PS, QH, QW>
{
    type In = [[[f32; W]; H]; C];
    type Out = [[[f32; QW]; QH]; FN];
    const ZERO: Self = Self {
        w: [[[[0.0; FW]; FH]; C]; FN],
        b: [0.0; FN],
    };
    const PARAMS: usize = FN * C * FH * FW + FN;
    const STATE: usize = 0;
    /// Each sample's argmax bytes.
    const CACHE: Plan = Plan::new(0, Self::ARG);
    /// The band (forward) or the two patches (backward).
    const WORK: Plan = Plan::new(Self::BAND, 0).max(Plan::new(Self::PATCHES, 0));
    const INFER: Plan = Plan::new(Self::BAND, 0);
    /// That of the unfused `stack![Conv2d, ReLU, MaxPool2d]` (same function, same blob).
    const SIGNATURE: u64 = mix(
        <Conv2d<C, H, W, FN, FH, FW, S, P, OH, OW> as Layer>::SIGNATURE,
        mix(
            <ReLU<[[[f32; OW]; OH]; FN]> as Layer>::SIGNATURE,
            <MaxPool2d<FN, OH, OW, PH, PW, PS, QH, QW> as Layer>::SIGNATURE,
        ),
    );

    fn forward(
        &self,
        x: &[Self::In],
        y: &mut [Self::Out],
        mode: Mode,
        cache: &mut [f32],
        work: &mut [f32],
    ) {
        let g = const { Self::GEOMETRY };
        let (w, b) = (flat(&self.w), &self.b);
        let band = &mut work[..Self::BAND];
        let samples = flat(x)
            .chunks_exact(C * H * W)
            .zip(flat_mut(y).chunks_exact_mut(FN * QH * QW));
        if mode == Mode::Infer {
            // Nothing to route back: no argmax.
            for (xn, yn) in samples {
                conv_relu_pool(&g, xn, w, b, band, yn, None);
            }
            return;
        }
        for (i, (xn, yn)) in samples.enumerate() {
            let arg = Self::arg_mut(cache, i);
            conv_relu_pool(&g, xn, w, b, band, yn, Some(arg));
        }
    }

    fn backward(
        &self,
        x: &[Self::In],
        y: &[Self::Out],
        dy: &[Self::Out],
        dx: Option<&mut [Self::In]>,
        grad: &mut [f32],
        cache: &[f32],
        work: &mut [f32],
    ) {
        let g = const { Self::GEOMETRY };
        let (n, out) = (x.len(), FN * QH * QW);
        let w = flat(&self.w);
        let (dw, db) = grad[..Self::PARAMS].split_at_mut(FN * C * FH * FW);
        dw.fill(0.0);
        db.fill(0.0);
        let mut dxs = dx.map(|d| flat_mut(d).chunks_exact_mut(C * H * W));
        let patch = &mut work[..Self::PATCHES];
        let outs = flat(&y[..n])
            .chunks_exact(out)
            .zip(flat(&dy[..n]).chunks_exact(out));
        for (i, (xn, (yn, dyn_))) in flat(x).chunks_exact(C * H * W).zip(outs).enumerate() {
            let dxn = dxs.as_mut().and_then(Iterator::next);
            let arg = Self::arg(cache, i);
            conv_relu_pool_backward(&g, xn, w, yn, arg, dyn_, dw, db, dxn, patch);
        }
    }

    fn visit(&mut self, v: &mut dyn Visitor) {
        visit_values::<Self>(v, [flat_mut(&mut self.w), &mut self.b]);
    }

    fn visit_specs(v: &mut dyn SpecVisitor) {
        filter_specs(v, [FN, C, FH, FW]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Fused = ConvReluPool<2, 6, 5, 3, 3, 2, 1, 1, 6, 6, 2, 2, 2, 3, 3>;
    type Conv = Conv2d<2, 6, 5, 3, 3, 2, 1, 1, 6, 6>;
    type Relu = ReLU<[[[f32; 6]; 6]; 3]>;
    type Pool = MaxPool2d<3, 6, 6, 2, 2, 2, 3, 3>;

    /// The same numbers as the three layers in a row, forward and backward.
    #[test]
    fn matches_the_unfused_block() {
        let (mut fused, mut conv) = (Fused::zeroed(), Conv::zeroed());
        let (relu, pool) = (Relu::zeroed(), Pool::zeroed());
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
        let mut pool_cache = [0.0; Pool::CACHE.at(2)];
        let (mut cache, mut work) = ([0.0; Fused::CACHE.at(2)], [0.0; Fused::WORK.at(2)]);
        let (mut conv_cache, mut conv_work) = ([0.0; Conv::CACHE.at(2)], [0.0; Conv::WORK.at(2)]);
        conv.forward(&x, &mut u, Mode::Train, &mut conv_cache, &mut conv_work);
        relu.forward(&u, &mut r, Mode::Train, &mut [], &mut []);
        pool.forward(&r, &mut y1, Mode::Train, &mut pool_cache, &mut []);
        fused.forward(&x, &mut y2, Mode::Train, &mut cache, &mut work);
        assert_eq!(y1, y2);

        let (mut dr, mut du, mut dx1, mut dx2) = (r, u, x, x);
        let (mut g1, mut g2) = ([0.0; 39], [9.0; 39]);
        pool.backward(&r, &y1, &dy, Some(&mut dr), &mut [], &pool_cache, &mut []);
        relu.backward(&u, &r, &dr, Some(&mut du), &mut [], &[], &mut []);
        conv.backward(
            &x,
            &u,
            &du,
            Some(&mut dx1),
            &mut g1,
            &conv_cache,
            &mut conv_work,
        );
        fused.backward(&x, &y2, &dy, Some(&mut dx2), &mut g2, &cache, &mut work);
        let close = |p: &[f32], q: &[f32]| p.iter().zip(q).all(|(a, b)| (a - b).abs() < 1e-4);
        assert!(close(&g1, &g2));
        assert!(close(flat(&dx1), flat(&dx2)));
        assert_eq!(
            Fused::SIGNATURE,
            <crate::stack![Conv, Relu, Pool] as Layer>::SIGNATURE
        );
    }
}
