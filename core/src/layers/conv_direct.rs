//! Convolution without im2col buffers, for training on a microcontroller.
//!
//! [`super::conv::Conv2d`] caches one im2col matrix per sample and uses one more for backward
//! (`C·FH·FW` floats per output position, 9× the output for a 3×3 filter on one channel).
//! This layer computes the same function and gradients straight from `x` and `dy`
//! ([`conv2d_direct`], [`conv2d_direct_backward`]) and needs no arena at all. It has
//! the same parameters, visit order and signature as `Conv2d`, so a model trained on the host
//! with one loads on the device with the other.

use bytemuck::Zeroable;

use super::conv::{visit_filters, Patch};
use crate::kernels::{conv2d_direct, conv2d_direct_backward, Geometry};
use crate::layer::{flat, flat_mut, signature, Layer, Mode, Plan, Visitor};

/// A 2-D convolution from `(C, H, W)` to `(FN, OH, OW)`, `FN` filters of `FH × FW`, stride `S`,
/// padding `P`: the parameters and rules of [`super::conv::Conv2d`]
/// (a wrong `OH`/`OW` fails to compile), no cache.
#[derive(Clone, Copy, Zeroable)]
pub struct Conv2dDirect<
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
    > Conv2dDirect<C, H, W, FN, FH, FW, S, P, OH, OW>
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
    > Layer for Conv2dDirect<C, H, W, FN, FH, FW, S, P, OH, OW>
{
    type In = [[[f32; W]; H]; C];
    type Out = [[[f32; OW]; OH]; FN];
    const ZERO: Self = Self {
        w: [[[[0.0; FW]; FH]; C]; FN],
        b: [0.0; FN],
    };
    const PARAMS: usize = FN * C * FH * FW + FN;
    const STATE: usize = 0;
    const CACHE: Plan = Plan::ZERO;
    const WORK: Plan = Plan::ZERO;
    const INFER: Plan = Plan::ZERO;
    const SIGNATURE: u64 = signature(b"conv", &[C, H, W, FN, FH, FW, S, P]);

    fn forward(
        &self,
        x: &[Self::In],
        y: &mut [Self::Out],
        _mode: Mode,
        _cache: &mut [f32],
        _work: &mut [f32],
    ) {
        let g = const { Self::GEOMETRY };
        let ys = flat_mut(y).chunks_exact_mut(FN * OH * OW);
        for (xn, yn) in flat(x).chunks_exact(C * H * W).zip(ys) {
            conv2d_direct(&g, xn, flat(&self.w), &self.b, yn);
        }
    }

    fn backward(
        &self,
        x: &[Self::In],
        _y: &[Self::Out],
        dy: &[Self::Out],
        dx: Option<&mut [Self::In]>,
        grad: &mut [f32],
        _cache: &[f32],
        _work: &mut [f32],
    ) {
        let g = const { Self::GEOMETRY };
        let w = flat(&self.w);
        let (dw, dbias) = grad.split_at_mut(FN * C * FH * FW);
        dw.fill(0.0);
        dbias.fill(0.0);
        let mut dxs = dx.map(|d| flat_mut(d).chunks_exact_mut(C * H * W));
        let dys = flat(&dy[..x.len()]).chunks_exact(FN * OH * OW);
        for (xn, dyn_) in flat(x).chunks_exact(C * H * W).zip(dys) {
            let dxn = dxs.as_mut().and_then(Iterator::next);
            conv2d_direct_backward(&g, xn, w, dyn_, dw, dbias, dxn);
        }
    }

    fn visit(&mut self, v: &mut dyn Visitor) {
        visit_filters(v, &mut self.w, &mut self.b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::conv::Conv2d;

    #[test]
    fn matches_conv2d() {
        type Im2col = Conv2d<2, 5, 4, 3, 3, 2, 2, 1, 3, 3>;
        let mut a = Im2col::zeroed();
        let mut b = Conv2dDirect::<2, 5, 4, 3, 3, 2, 2, 1, 3, 3>::zeroed();
        assert_eq!(
            <Im2col as Layer>::SIGNATURE,
            <Conv2dDirect<2, 5, 4, 3, 3, 2, 2, 1, 3, 3> as Layer>::SIGNATURE
        );
        for (i, w) in flat_mut(&mut a.w).iter_mut().enumerate() {
            *w = ((i * 7) % 5) as f32 * 0.25 - 0.5;
        }
        (b.w, b.b, a.b) = (a.w, [0.1, 0.2, 0.3], [0.1, 0.2, 0.3]);
        let x: [[[[f32; 4]; 5]; 2]; 2] =
            bytemuck::cast(core::array::from_fn::<f32, 80, _>(|i| ((i * 3) % 7) as f32));
        let dy: [[[[f32; 3]; 3]; 3]; 2] = bytemuck::cast(core::array::from_fn::<f32, 54, _>(|i| {
            ((i * 5) % 4) as f32 - 1.5
        }));
        let (mut ya, mut yb) = ([[[[0.0; 3]; 3]; 3]; 2], [[[[0.0; 3]; 3]; 3]; 2]);
        let (mut dxa, mut dxb) = ([[[[0.0; 4]; 5]; 2]; 2], [[[[0.0; 4]; 5]; 2]; 2]);
        let mut cache = [0.0; Im2col::CACHE.at(2)];
        let mut work = [0.0; Im2col::WORK.at(2)];
        a.forward(&x, &mut ya, Mode::Train, &mut cache, &mut work);
        b.forward(&x, &mut yb, Mode::Train, &mut [], &mut []);
        let (mut ga, mut gb) = ([0.0; 39], [0.0; 39]);
        a.backward(&x, &ya, &dy, Some(&mut dxa), &mut ga, &cache, &mut work);
        b.backward(&x, &yb, &dy, Some(&mut dxb), &mut gb, &[], &mut []);
        let close = |p: &[f32], q: &[f32]| p.iter().zip(q).all(|(u, v)| (u - v).abs() < 1e-4);
        assert!(close(flat(&ya), flat(&yb)));
        assert!(close(&ga, &gb));
        assert!(close(flat(&dxa), flat(&dxb)));
    }
}
