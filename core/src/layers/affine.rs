//! Affine (fully connected) layer: `u = x·W + b`, `W` shaped (inputs, outputs), row-major.

use bytemuck::Zeroable;

use crate::kernels::{affine_backward_one, gemm_nn, gemm_nt, gemm_tn};
use crate::layer::{
    flat, flat_mut, signature, visit_values, Layer, Mode, Plan, SpecVisitor, TensorKind,
    TensorSpec, Visitor,
};

/// `I` inputs, `O` outputs.
#[derive(Clone, Copy, Zeroable)]
pub struct Affine<const I: usize, const O: usize> {
    pub w: [[f32; O]; I],
    pub b: [f32; O],
}

impl<const I: usize, const O: usize> Layer for Affine<I, O> {
    type In = [f32; I];
    type Out = [f32; O];
    const ZERO: Self = Self {
        w: [[0.0; O]; I],
        b: [0.0; O],
    };
    const PARAMS: usize = I * O + O;
    const STATE: usize = 0;
    const CACHE: Plan = Plan::ZERO;
    const WORK: Plan = Plan::ZERO;
    const INFER: Plan = Plan::ZERO;
    const SIGNATURE: u64 = signature(b"affine", &[I, O]);

    fn forward(
        &self,
        x: &[[f32; I]],
        y: &mut [[f32; O]],
        _mode: Mode,
        _cache: &mut [f32],
        _work: &mut [f32],
    ) {
        let n = x.len();
        y.fill(self.b);
        gemm_nn(n, I, O, flat(x), flat(&self.w), flat_mut(y), true);
    }

    fn backward(
        &self,
        x: &[[f32; I]],
        _y: &[[f32; O]],
        dy: &[[f32; O]],
        dx: Option<&mut [[f32; I]]>,
        grad: &mut [f32],
        _cache: &[f32],
        _work: &mut [f32],
    ) {
        let n = x.len();
        let (dw, db) = grad.split_at_mut(I * O);
        // ∂E/∂W = xᵀ·dy, ∂E/∂b = Σ over the batch of dy, ∂E/∂x = dy·Wᵀ.
        db.fill(0.0);
        for row in dy {
            for (g, d) in db.iter_mut().zip(row) {
                *g += d;
            }
        }
        // The device's online learner (one sample): a kernel without the general products'
        // packing and padding, the same floats (the hosts' vectorised products are faster).
        if let (true, [x1], [dy1]) = (cfg!(target_arch = "arm"), x, dy) {
            let dx = dx.map(flat_mut);
            return affine_backward_one(x1, &self.w, dy1, bytemuck::cast_slice_mut(dw), dx);
        }
        gemm_tn(I, n, O, flat(x), flat(dy), dw, false);
        if let Some(dx) = dx {
            gemm_nt(n, O, I, flat(dy), flat(&self.w), flat_mut(dx), false);
        }
    }

    fn visit(&mut self, v: &mut dyn Visitor) {
        visit_values::<Self>(v, [flat_mut(&mut self.w), &mut self.b]);
    }

    fn visit_specs(v: &mut dyn SpecVisitor) {
        v.layer("affine");
        for (kind, shape) in [
            (TensorKind::Weight, [I, O, 0, 0]),
            (TensorKind::Bias, [O, 0, 0, 0]),
        ] {
            v.tensor(TensorSpec {
                kind,
                shape,
                fan_in: I,
            });
        }
    }
}
