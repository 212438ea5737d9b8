//! Weight initialisation: the course's Gaussian, Xavier and He schemes, and zeros.
//!
//! The scale of the initial weights decides whether gradients survive a deep stack: with
//! sigmoid and σ = 0.01 activations collapse and gradients vanish, Xavier keeps the variance of
//! sigmoid/tanh activations constant, He (√2 larger) does so for ReLU.

use crate::rng::Rng;
use crate::tensor::{Tensor, TensorKind};

/// How to draw initial weights. Biases and batch-norm shifts start at 0, scales at 1, whatever
/// the scheme.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// All weights 0: every hidden unit computes the same thing and stays so (a lesson, not a
    /// choice: see the `zero_init` test).
    Zeros,
    /// `σ · N(0, 1)`; the course's default is σ = 0.01.
    Gaussian(f32),
    /// `N(0, 1) / √n_in` (Glorot/Xavier), for sigmoid and tanh.
    Xavier,
    /// `N(0, 1) · √(2 / n_in)` (He), for ReLU.
    He,
}

impl Default for Init {
    fn default() -> Self {
        Init::Gaussian(0.01)
    }
}

impl Init {
    /// Standard deviation of a weight feeding a unit with `fan_in` inputs.
    pub fn std_dev(self, fan_in: usize) -> f32 {
        let n = fan_in.max(1) as f32;
        match self {
            Init::Zeros => 0.0,
            Init::Gaussian(sigma) => sigma,
            Init::Xavier => 1.0 / libm::sqrtf(n),
            Init::He => libm::sqrtf(2.0 / n),
        }
    }

    /// Fill one tensor of a layer according to its role.
    pub fn fill(self, t: Tensor<'_>, rng: &mut Rng) {
        match t.kind {
            TensorKind::Weight => {
                let s = self.std_dev(t.fan_in);
                t.value.iter_mut().for_each(|w| *w = s * rng.normal());
            }
            TensorKind::Bias | TensorKind::Shift | TensorKind::RunningMean => t.value.fill(0.0),
            TensorKind::Scale | TensorKind::RunningVar => t.value.fill(1.0),
        }
    }
}
