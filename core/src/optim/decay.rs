//! L1 and L2 weight decay: a penalty on weights added to the loss and its gradient added to
//! the weights' gradients. Biases, batch-norm scales and shifts are left alone.

use crate::layer::{visit_trainable, Layer, Tensor, TensorKind};

/// `loss += λ₁ Σ|W| + ½ λ₂ Σ W²`, `grad += λ₁ sign(W) + λ₂ W`. Both zero by default.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WeightDecay {
    pub l1: f32,
    pub l2: f32,
}

impl WeightDecay {
    /// Add the penalty's gradient to the weight gradients in `grads` (`L::PARAMS` floats, call
    /// after backward) and return the penalty, to be added to the loss.
    pub fn apply<L: Layer>(self, net: &mut L, grads: &mut [f32]) -> f32 {
        if self.l1 == 0.0 && self.l2 == 0.0 {
            return 0.0;
        }
        let mut penalty = 0.0;
        visit_trainable(net, |t: Tensor<'_>, at| {
            if t.kind != TensorKind::Weight {
                return;
            }
            for (w, g) in t.value.iter().zip(&mut grads[at..]) {
                penalty += self.l1 * w.abs() + 0.5 * self.l2 * w * w;
                *g += self.l1 * sign(*w) + self.l2 * w;
            }
        });
        penalty
    }
}

/// `sign(0) = 0`, as NumPy's.
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}
