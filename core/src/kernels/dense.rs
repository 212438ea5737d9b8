//! The backward pass of an affine layer for a single sample, the device's online learner's
//! case: `∂E/∂W = x ⊗ dy` (an outer product) and `∂E/∂x = W·dy` (a matrix–vector product).
//!
//! Through the general products ([`super::gemm_tn`], [`super::gemm_nt`]) a batch of one pays
//! for machinery built for many: a packed panel of `W`, tiles padded to the register width,
//! sums stored back between chunks. With the layer's output width `O` a constant, `dy` stays in
//! `O` registers for the whole layer and each row of `W` (or of its gradient) is one
//! multi-register load (store) of `O` contiguous floats: for the device's 400 → 10 layer that
//! is 20 multiplies and 20 adds per input, nothing else in the loop.
//!
//! The floats are those of the general products at a batch of one, bit for bit: every entry
//! starts at 0 and adds its products one rounded multiply and one rounded add at a time, in the
//! order of the inner dimension (`0 + x[i]·dy[o]` for the outer product, `0 + Σₒ dy[o]·W[i][o]`
//! in order of `o` for the other).

/// `dw = x ⊗ dy` (`x.len()` rows of `O`) and, when given, `dx = W·dy` (`dx[i] = Σₒ
/// W[i][o]·dy[o]`) for one sample: the floats of `gemm_tn(I, 1, O, x, dy, dw, false)` and
/// `gemm_nt(1, O, I, dy, w, dx, false)`. Panics if `w` or `dw` has fewer than `x.len()` rows,
/// or `dx` fewer than `x.len()` floats.
pub fn affine_backward_one<const O: usize>(
    x: &[f32],
    w: &[[f32; O]],
    dy: &[f32; O],
    dw: &mut [[f32; O]],
    dx: Option<&mut [f32]>,
) {
    let n = x.len();
    let (w, dw) = (&w[..n], &mut dw[..n]);
    for (row, &xi) in dw.iter_mut().zip(x) {
        // `0 +` as the product's zero start: it turns a product of −0 into +0, as gemm does.
        *row = dy.map(|d| 0.0 + xi * d);
    }
    let Some(dx) = dx else {
        return;
    };
    for (d, wr) in dx[..n].iter_mut().zip(w) {
        let mut s = 0.0;
        for (a, b) in dy.iter().zip(wr) {
            s += a * b;
        }
        *d = s;
    }
}
