//! Batch normalisation as a layer: after a dense layer (one channel per feature) or a
//! convolution (one channel per filter, normalised over the batch and all positions).
//!
//! Training normalises with the batch's statistics and, once the step is accepted
//! ([`Layer::commit`]), moves the running averages toward them
//! (`running = 0.9·running + 0.1·batch`); inference uses the running averages. Batch
//! statistics that are not finite (inputs so large their variance overflows) are not folded
//! into the running averages.
//!
//! **Batches of one sample** (online learning) use the running statistics in training too: the
//! statistics of a single sample are degenerate (after a dense layer its variance is 0 and every
//! output would be β), and per-image statistics would not match inference. The running
//! statistics are then left unchanged, so a model trained in batches can be fine-tuned one
//! sample at a time; a model trained online from scratch keeps the initial `μ = 0`, `σ² = 1`
//! and its batch norm is the learned affine map `γx + β`.

use core::marker::PhantomData;

use bytemuck::{Pod, Zeroable};

use crate::kernels::{bn_backward, bn_normalize, bn_stats, bn_update_running, BnShape, Norm};
use crate::layer::{
    flat, flat_mut, floats, signature, visit_values, Knobs, Layer, Mode, Plan, SpecVisitor,
    TensorKind, TensorSpec, Visitor,
};

/// Batch norm over samples of type `T` with `C` channels (each channel's values contiguous
/// within a sample, `floats::<T>() / C` of them). Use it through [`BatchNorm1d`] and
/// [`BatchNorm2d`]. A training pass caches the statistics it normalised with (`2·C` floats).
#[derive(Clone, Copy, Zeroable)]
pub struct BatchNorm<T: Pod, const C: usize> {
    /// γ, trained, initially 1.
    pub gamma: [f32; C],
    /// β, trained, initially 0.
    pub beta: [f32; C],
    /// Running mean, saved with the model, initially 0.
    pub running_mean: [f32; C],
    /// Running (biased) variance, saved with the model, initially 1.
    pub running_var: [f32; C],
    _sample: PhantomData<T>,
}

/// Batch norm after a dense layer: `N` features.
pub type BatchNorm1d<const N: usize> = BatchNorm<[f32; N], N>;

/// Batch norm after a convolution: `C` channels of `H × W`.
pub type BatchNorm2d<const C: usize, const H: usize, const W: usize> =
    BatchNorm<[[[f32; W]; H]; C], C>;

impl<T: Pod, const C: usize> BatchNorm<T, C> {
    /// Positions per channel; evaluating it checks at compile time that channels divide the
    /// sample.
    const S: usize = {
        assert!(
            C >= 1 && floats::<T>().is_multiple_of(C),
            "channels must divide the sample evenly"
        );
        floats::<T>() / C
    };

    fn shape(n: usize) -> BnShape {
        BnShape {
            n,
            c: C,
            s: const { Self::S },
        }
    }

    /// The statistics `(mean, var)` to normalise with and the parameters; `from_batch` when
    /// they are a training batch's own.
    fn norm<'a>(&'a self, mean: &'a [f32], var: &'a [f32], from_batch: bool) -> Norm<'a> {
        Norm {
            mean,
            var,
            gamma: &self.gamma,
            beta: &self.beta,
            from_batch,
        }
    }

    /// A training batch of `n` samples normalises with its own statistics; a single sample
    /// with the running ones.
    fn from_batch(n: usize) -> bool {
        n > 1
    }
}

impl<T: Pod, const C: usize> Layer for BatchNorm<T, C> {
    type In = T;
    type Out = T;
    const ZERO: Self = Self {
        gamma: [0.0; C],
        beta: [0.0; C],
        running_mean: [0.0; C],
        running_var: [0.0; C],
        _sample: PhantomData,
    };
    const PARAMS: usize = 2 * C;
    const STATE: usize = 2 * C;
    /// The mean and variance a training pass normalised with.
    const CACHE: Plan = Plan::new(2 * C, 0);
    const WORK: Plan = Plan::ZERO;
    const INFER: Plan = Plan::ZERO;
    const SIGNATURE: u64 = signature(b"batchnorm", &[C, floats::<T>()]);

    fn forward(&self, x: &[T], y: &mut [T], mode: Mode, cache: &mut [f32], _work: &mut [f32]) {
        let (n, shape) = (x.len(), Self::shape(x.len()));
        if mode == Mode::Infer {
            let norm = self.norm(&self.running_mean, &self.running_var, false);
            return bn_normalize(shape, &norm, flat(x), flat_mut(y));
        }
        let (mean, var) = cache[..2 * C].split_at_mut(C);
        if Self::from_batch(n) {
            bn_stats(shape, flat(x), mean, var);
        } else {
            mean.copy_from_slice(&self.running_mean);
            var.copy_from_slice(&self.running_var);
        }
        let norm = self.norm(mean, var, Self::from_batch(n));
        bn_normalize(shape, &norm, flat(x), flat_mut(y));
    }

    fn backward(
        &self,
        x: &[T],
        _y: &[T],
        dy: &[T],
        dx: Option<&mut [T]>,
        grad: &mut [f32],
        cache: &[f32],
        _work: &mut [f32],
    ) {
        let shape = Self::shape(x.len());
        let (mean, var) = cache[..2 * C].split_at(C);
        let (dgamma, dbeta) = grad.split_at_mut(C);
        bn_backward(
            shape,
            &self.norm(mean, var, Self::from_batch(x.len())),
            flat(x),
            flat(dy),
            dgamma,
            dbeta,
            dx.map(flat_mut),
        );
    }

    fn commit(&mut self, n: usize, cache: &[f32]) {
        if !Self::from_batch(n) {
            return;
        }
        let (mean, var) = cache[..2 * C].split_at(C);
        // Batch statistics that overflowed would poison the saved model for good: keep the
        // old ones.
        if mean.iter().chain(var).all(|v| v.is_finite()) {
            bn_update_running(&mut self.running_mean, mean);
            bn_update_running(&mut self.running_var, var);
        }
    }

    fn enabled_by(knobs: &Knobs) -> bool {
        knobs.batch_norm
    }

    fn visit(&mut self, v: &mut dyn Visitor) {
        let values = [
            &mut self.gamma,
            &mut self.beta,
            &mut self.running_mean,
            &mut self.running_var,
        ];
        visit_values::<Self>(v, values.map(|t| &mut t[..]));
    }

    fn visit_specs(v: &mut dyn SpecVisitor) {
        v.layer("batchnorm");
        for kind in [
            TensorKind::Scale,
            TensorKind::Shift,
            TensorKind::RunningMean,
            TensorKind::RunningVar,
        ] {
            v.tensor(TensorSpec {
                kind,
                shape: [C, 0, 0, 0],
                fan_in: 1,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Init;
    use crate::rng::Rng;

    #[test]
    fn train_batch_then_infer_and_online() {
        let mut bn = BatchNorm2d::<2, 1, 2>::zeroed();
        bn.init(Init::He, &mut Rng::new(1));
        assert_eq!((bn.gamma, bn.running_var), ([1.0; 2], [1.0; 2]));
        let x: [[[[f32; 2]; 1]; 2]; 4] =
            bytemuck::cast(core::array::from_fn::<f32, 16, _>(|i| i as f32));
        let mut y = [[[[0.0; 2]; 1]; 2]; 4];
        let mut cache = [0.0; 4];
        bn.forward(&x, &mut y, Mode::Train, &mut cache, &mut []);
        // Nothing changes before the step is accepted.
        assert_eq!((bn.running_mean, bn.running_var), ([0.0; 2], [1.0; 2]));
        bn.commit(4, &cache);
        // Channel 0 holds 0, 1, 4, 5, 8, 9, 12, 13: mean 6.5, variance 20.25.
        assert!(
            (bn.running_mean[0] - 0.65).abs() < 1e-6 && (bn.running_mean[1] - 0.85).abs() < 1e-6
        );
        assert!((bn.running_var[0] - (0.9 + 2.025)).abs() < 1e-5);
        let ch0: f32 = y.iter().map(|s| s[0][0].iter().sum::<f32>()).sum();
        assert!(ch0.abs() < 1e-5);

        // Inference and one-sample training both use the running statistics.
        let (mut yi, mut yt) = ([[[[0.0; 2]; 1]; 2]; 1], [[[[0.0; 2]; 1]; 2]; 1]);
        bn.forward(&x[..1], &mut yi, Mode::Infer, &mut [], &mut []);
        let before = bn.running_mean;
        bn.forward(&x[..1], &mut yt, Mode::Train, &mut cache, &mut []);
        bn.commit(1, &cache);
        assert_eq!((yi, bn.running_mean), (yt, before));
        let mut dx = [[[[0.0; 2]; 1]; 2]; 1];
        let mut grad = [0.0; 4];
        bn.backward(
            &x[..1],
            &yt,
            &[[[[1.0; 2]; 1]; 2]],
            Some(&mut dx),
            &mut grad,
            &cache,
            &mut [],
        );
        let a = 1.0 / libm::sqrtf(bn.running_var[1] + 1e-7);
        assert!((dx[0][1][0][0] - a).abs() < 1e-6);
        assert_eq!(grad[2..], [2.0; 2]); // ∂E/∂β
    }
}
