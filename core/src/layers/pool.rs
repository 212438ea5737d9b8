//! Max and average pooling layers: a `PH × PW` window moved with stride `S` over each channel
//! of a `(C, H, W)` sample, without padding (as in the course), giving `(C, OH, OW)`.
//!
//! `OH` and `OW` must be `(H − PH) / S + 1` and `(W − PW) / S + 1`; any other value (or a zero
//! stride, or a window larger than the input) fails to compile where the layer is used.

use bytemuck::Zeroable;

use crate::kernels::{
    avg_pool, avg_pool_backward, max_pool, max_pool_backward, max_pool_infer, Geometry,
};
use crate::layer::{flat, flat_mut, signature, Layer, Mode, Plan};

/// The pooling window; evaluating it checks `OH`, `OW` at compile time.
const fn geometry(c: usize, h: usize, w: usize, ph: usize, pw: usize, s: usize) -> Geometry {
    Geometry {
        c,
        h,
        w,
        fh: ph,
        fw: pw,
        stride: s,
        pad: 0,
    }
}

/// Max pooling. Training caches each output's argmax (a `u32` in a float's place); backward
/// routes the gradient there.
#[derive(Clone, Copy, Zeroable)]
pub struct MaxPool2d<
    const C: usize,
    const H: usize,
    const W: usize,
    const PH: usize,
    const PW: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
> {
    _none: (),
}

/// Average pooling: each output is the mean of its window; no cache.
#[derive(Clone, Copy, Zeroable)]
pub struct AvgPool2d<
    const C: usize,
    const H: usize,
    const W: usize,
    const PH: usize,
    const PW: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
> {
    _none: (),
}

impl<
        const C: usize,
        const H: usize,
        const W: usize,
        const PH: usize,
        const PW: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
    > MaxPool2d<C, H, W, PH, PW, S, OH, OW>
{
    /// The window geometry; evaluating it checks `OH`, `OW` at compile time.
    pub const GEOMETRY: Geometry = geometry(C, H, W, PH, PW, S).checked(OH, OW);
}

impl<
        const C: usize,
        const H: usize,
        const W: usize,
        const PH: usize,
        const PW: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
    > AvgPool2d<C, H, W, PH, PW, S, OH, OW>
{
    /// The window geometry; evaluating it checks `OH`, `OW` at compile time.
    pub const GEOMETRY: Geometry = geometry(C, H, W, PH, PW, S).checked(OH, OW);
}

impl<
        const C: usize,
        const H: usize,
        const W: usize,
        const PH: usize,
        const PW: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
    > Layer for MaxPool2d<C, H, W, PH, PW, S, OH, OW>
{
    type In = [[[f32; W]; H]; C];
    type Out = [[[f32; OW]; OH]; C];
    const ZERO: Self = Self { _none: () };
    const PARAMS: usize = 0;
    const STATE: usize = 0;
    /// Each output's argmax.
    const CACHE: Plan = Plan::new(0, C * OH * OW);
    const WORK: Plan = Plan::ZERO;
    const INFER: Plan = Plan::ZERO;
    const SIGNATURE: u64 = signature(b"maxpool", &[C, H, W, PH, PW, S]);

    fn forward(
        &self,
        x: &[Self::In],
        y: &mut [Self::Out],
        mode: Mode,
        cache: &mut [f32],
        _work: &mut [f32],
    ) {
        let g = const { Self::GEOMETRY };
        let samples = flat(x)
            .chunks_exact(C * H * W)
            .zip(flat_mut(y).chunks_exact_mut(C * OH * OW));
        if mode == Mode::Infer {
            // Nothing to route back: no argmax.
            return samples.for_each(|(xn, yn)| max_pool_infer(&g, xn, yn));
        }
        let args = bytemuck::cast_slice_mut::<f32, u32>(cache).chunks_exact_mut(C * OH * OW);
        for ((xn, yn), arg) in samples.zip(args) {
            max_pool(&g, xn, yn, arg);
        }
    }

    fn backward(
        &self,
        x: &[Self::In],
        _y: &[Self::Out],
        dy: &[Self::Out],
        dx: Option<&mut [Self::In]>,
        _grad: &mut [f32],
        cache: &[f32],
        _work: &mut [f32],
    ) {
        let Some(dx) = dx else { return };
        let args = bytemuck::cast_slice::<f32, u32>(cache).chunks_exact(C * OH * OW);
        let dys = flat(&dy[..x.len()]).chunks_exact(C * OH * OW);
        for ((dyn_, dxn), arg) in dys.zip(flat_mut(dx).chunks_exact_mut(C * H * W)).zip(args) {
            max_pool_backward(arg, dyn_, dxn);
        }
    }
}

impl<
        const C: usize,
        const H: usize,
        const W: usize,
        const PH: usize,
        const PW: usize,
        const S: usize,
        const OH: usize,
        const OW: usize,
    > Layer for AvgPool2d<C, H, W, PH, PW, S, OH, OW>
{
    type In = [[[f32; W]; H]; C];
    type Out = [[[f32; OW]; OH]; C];
    const ZERO: Self = Self { _none: () };
    const PARAMS: usize = 0;
    const STATE: usize = 0;
    const CACHE: Plan = Plan::ZERO;
    const WORK: Plan = Plan::ZERO;
    const INFER: Plan = Plan::ZERO;
    const SIGNATURE: u64 = signature(b"avgpool", &[C, H, W, PH, PW, S]);

    fn forward(
        &self,
        x: &[Self::In],
        y: &mut [Self::Out],
        _mode: Mode,
        _cache: &mut [f32],
        _work: &mut [f32],
    ) {
        let g = const { Self::GEOMETRY };
        let samples = flat(x)
            .chunks_exact(C * H * W)
            .zip(flat_mut(y).chunks_exact_mut(C * OH * OW));
        for (xn, yn) in samples {
            avg_pool(&g, xn, yn);
        }
    }

    fn backward(
        &self,
        x: &[Self::In],
        _y: &[Self::Out],
        dy: &[Self::Out],
        dx: Option<&mut [Self::In]>,
        _grad: &mut [f32],
        _cache: &[f32],
        _work: &mut [f32],
    ) {
        let g = const { Self::GEOMETRY };
        let Some(dx) = dx else { return };
        let dys = flat(&dy[..x.len()]).chunks_exact(C * OH * OW);
        for (dyn_, dxn) in dys.zip(flat_mut(dx).chunks_exact_mut(C * H * W)) {
            avg_pool_backward(&g, dyn_, dxn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_a_batch() {
        // Two samples of one 4×4 channel, 2×2 windows, stride 2.
        let x: [[[[f32; 4]; 4]; 1]; 2] =
            bytemuck::cast(core::array::from_fn::<f32, 32, _>(|i| i as f32));
        let mut y = [[[[0.0; 2]; 2]; 1]; 2];
        let max = MaxPool2d::<1, 4, 4, 2, 2, 2, 2, 2>::zeroed();
        let mut cache = [0.0; 8];
        max.forward(&x, &mut y, Mode::Train, &mut cache, &mut []);
        assert_eq!(y[1][0], [[21.0, 23.0], [29.0, 31.0]]);
        let (dy, mut dx) = ([[[[1.0; 2]; 2]; 1]; 2], [[[[9.0; 4]; 4]; 1]; 2]);
        max.backward(&x, &y, &dy, Some(&mut dx), &mut [], &cache, &mut []);
        assert_eq!(dx[1][0][1], [0.0, 1.0, 0.0, 1.0]);
        assert_eq!(dx[1][0][0], [0.0; 4]);

        let avg = AvgPool2d::<1, 4, 4, 2, 2, 2, 2, 2>::zeroed();
        avg.forward(&x, &mut y, Mode::Infer, &mut [], &mut []);
        assert_eq!(y[0][0], [[2.5, 4.5], [10.5, 12.5]]);
        avg.backward(&x, &y, &dy, Some(&mut dx), &mut [], &[], &mut []);
        assert!(flat(&dx).iter().all(|&d| d == 0.25));
    }
}
