//! Shared helpers for the integration tests: naive `f64` reference implementations ("twins")
//! of every kernel, layer and loss of `shinso`, random test data, and a gradient checker that
//! holds a layer's backward pass to the numerical gradient of its twin.
//!
//! The twins are written for obviousness, not speed: one loop per index of the textbook
//! formula, everything accumulated in `f64`.

pub mod twin;

use bytemuck::Zeroable;
use shinso::gradcheck::{max_relative_error, numerical_gradient, numerical_input_gradient};
use shinso::layer::{flat, flat_mut, floats};
use shinso::{model, Layer, Mode, Rng};

/// The proptest configuration of every property test here: `cases` random cases from a fixed
/// seed, so `cargo test` is reproducible. Set `PROPTEST_RNG_SEED` (any number) to explore
/// other cases, `PROPTEST_CASES` to run more; failures are not persisted to files.
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngSeed};
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x0058_1950);
    }
    config
}

/// Step of the numerical gradients in these tests: the course's `h = 1e-4` rounded to the
/// power of two `2⁻¹³ ≈ 1.22e-4`. The test data are odd multiples of `2⁻¹²` in `(−1, 1)`
/// (see [`quantized`]), so `x ± h` is exact in `f32`: the step taken is exactly `2h`, and the
/// only error left in a central difference of an `f64` twin is its `O(h²)` truncation.
pub const H: f32 = 1.0 / 8192.0;

/// `n` random odd multiples of `2⁻¹²` in `(−1, 1)`. Never zero and at least `2h` away from
/// zero, so a central difference never straddles the kink of ReLU or step at 0.
pub fn quantized(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| (2.0 * rng.below(4096) as f32 - 4095.0) / 4096.0)
        .collect()
}

/// `n` distinct odd multiples of `2⁻¹²` in `(−1, 1)`, in random order: any two differ by at
/// least `4h`, so a central difference never changes which element of a window is the max.
pub fn distinct(rng: &mut Rng, n: usize) -> Vec<f32> {
    assert!(n <= 4096);
    let mut all: Vec<f32> = (0..4096)
        .map(|k| (2.0 * k as f32 - 4095.0) / 4096.0)
        .collect();
    rng.shuffle(&mut all);
    all.truncate(n);
    all
}

/// `n` floats uniform in `[−1, 1)`, for kernel comparisons (not quantized).
pub fn uniform(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| 2.0 * rng.uniform() - 1.0).collect()
}

/// A zeroed vector of `n` samples of type `T`.
pub fn zeroed<T: Zeroable + Clone>(n: usize) -> Vec<T> {
    vec![T::zeroed(); n]
}

/// A vector of `n` samples of type `T` filled from the floats of `data`.
pub fn samples<T: bytemuck::Pod>(data: &[f32]) -> Vec<T> {
    let n = data.len() / floats::<T>();
    let mut v = zeroed::<T>(n);
    flat_mut(&mut v).copy_from_slice(data);
    v
}

/// The trainable parameters of `layer`, in visit order.
pub fn params<L: Layer>(layer: &mut L) -> Vec<f32> {
    let mut p = vec![0.0; L::PARAMS];
    model::params_to(layer, &mut p);
    p
}

/// An optimizer for network `L` with `rule`, its state on the heap.
pub fn optimizer<L: Layer>(rule: shinso::Rule) -> shinso::Optimizer<Vec<f32>> {
    let state = vec![0.0; rule.state_len(L::PARAMS)];
    shinso::Optimizer::new(rule, L::PARAMS, state).expect("state sized for the rule")
}

/// The arena a training step of `n` samples of network `L` needs, zeroed.
pub fn train_arena<L: Layer>(n: usize) -> Vec<f32> {
    vec![0.0; shinso::Network::<L>::train_arena(n)]
}

/// A layer's training buffers for `n` samples: `(cache, work)`, exactly as large as its plans
/// say.
pub fn layer_arena<L: Layer>(n: usize) -> (Vec<f32>, Vec<f32>) {
    (vec![0.0; L::CACHE.at(n)], vec![0.0; L::WORK.at(n)])
}

/// `Σ aᵢ·bᵢ` in `f64`.
pub fn dot64(a: &[f32], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * y).sum()
}

/// Panics with a readable message unless `max_relative_error(got, want, floor) <= tol`.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32, floor: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    if let Some(i) = got.iter().chain(want).position(|v| !v.is_finite()) {
        panic!(
            "{what}: non-finite value at index {} of {}",
            i % got.len(),
            if i < got.len() { "got" } else { "want" }
        );
    }
    let err = max_relative_error(got, want, floor);
    if err > tol || err.is_nan() {
        let worst = got
            .iter()
            .zip(want)
            .enumerate()
            .max_by(|(_, (a, b)), (_, (c, d))| {
                let e1 = (*a - *b).abs() / a.abs().max(b.abs()).max(floor);
                let e2 = (*c - *d).abs() / c.abs().max(d.abs()).max(floor);
                e1.total_cmp(&e2)
            })
            .map(|(i, (a, b))| format!("index {i}: got {a}, want {b}"))
            .unwrap_or_default();
        panic!("{what}: relative error {err} > {tol} (floor {floor}); worst at {worst}");
    }
}

/// `f64` results as `f32`, for comparisons.
pub fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|x| *x as f32).collect()
}

/// Tolerances of [`check_layer`].
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    /// Forward output against the twin (relative, with floor 1).
    pub forward: f32,
    /// Backward against the numerical gradient (relative, floor [`Tol::floor`]).
    pub backward: f32,
    pub floor: f32,
}

impl Default for Tol {
    /// The layer computes in `f32` (relative rounding ~1e-7 per operation, sums of up to a few
    /// hundred terms); the reference is the central difference of the `f64` twin with an exact
    /// step, whose error is `O(h²) ≈ 1e-8` for smooth functions. `1e-4` relative leaves a
    /// hundredfold margin over the `f32` rounding and still catches any wrong term (which is
    /// off by O(1)). Entries below `0.1` are compared absolutely at `1e-5`.
    fn default() -> Self {
        Tol {
            forward: 1e-5,
            backward: 1e-4,
            floor: 0.1,
        }
    }
}

/// A layer with an arena of its own, sized to each call by the layer's plans: for tests that
/// drive one layer at a time. Derefs to the layer (its weights, `visit`, ...).
pub struct Solo<L: Layer> {
    pub layer: L,
    cache: Vec<f32>,
    work: Vec<f32>,
}

impl<L: Layer> Solo<L> {
    pub fn new(layer: L) -> Self {
        Self {
            layer,
            cache: Vec::new(),
            work: Vec::new(),
        }
    }

    /// The zeroed layer.
    pub fn zeroed() -> Self {
        Self::new(L::ZERO)
    }

    /// `forward` with a cache of exactly `CACHE.at(n)` floats and scratch of exactly
    /// `WORK.at(n)` (training) or `INFER.at(n)` (inference), filled with NaN first so that a
    /// layer reading what it did not write shows.
    pub fn forward(&mut self, x: &[L::In], y: &mut [L::Out], mode: Mode) {
        let n = x.len();
        let work = match mode {
            Mode::Train => L::WORK.at(n),
            Mode::Infer => L::INFER.at(n),
        };
        self.cache = vec![
            f32::NAN;
            if mode == Mode::Train {
                L::CACHE.at(n)
            } else {
                0
            }
        ];
        self.work = vec![f32::NAN; work];
        self.layer
            .forward(x, y, mode, &mut self.cache, &mut self.work);
    }

    /// `backward` after a training [`Solo::forward`] on the same `x`.
    pub fn backward(
        &mut self,
        x: &[L::In],
        y: &[L::Out],
        dy: &[L::Out],
        dx: Option<&mut [L::In]>,
        grad: &mut [f32],
    ) {
        self.work = vec![f32::NAN; L::WORK.at(x.len())];
        self.layer
            .backward(x, y, dy, dx, grad, &self.cache, &mut self.work);
    }

    /// Accept the last training pass of `n` samples ([`Layer::commit`]).
    pub fn commit(&mut self, n: usize) {
        self.layer.commit(n, &self.cache);
    }
}

impl<L: Layer> std::ops::Deref for Solo<L> {
    type Target = L;
    fn deref(&self) -> &L {
        &self.layer
    }
}

impl<L: Layer> std::ops::DerefMut for Solo<L> {
    fn deref_mut(&mut self) -> &mut L {
        &mut self.layer
    }
}

/// Check a layer against its twin on the batch `x`:
/// 1. its training forward pass equals `twin(params, x)`;
/// 2. given a random upstream gradient `c`, its backward pass gives the parameter gradients and
///    input gradient of `E = Σ c·twin(params, x)`, computed numerically by
///    [`shinso::gradcheck`] (central difference, `f64` evaluation, exact step [`H`]).
///
/// The twin takes the layer's trainable parameters (visit order) and the flat input batch and
/// returns the flat output batch.
#[track_caller]
pub fn check_layer<L: Layer>(
    what: &str,
    layer: &mut L,
    x: &mut [L::In],
    twin: impl Fn(&[f32], &[f32]) -> Vec<f64>,
    seed: u64,
    tol: Tol,
) {
    let n = x.len();
    let mut y = zeroed::<L::Out>(n);
    let (mut cache, mut work) = layer_arena::<L>(n);
    layer.forward(x, &mut y, Mode::Train, &mut cache, &mut work);
    let p = params(layer);
    let want = twin(&p, flat(x));
    assert_close(
        &format!("{what}: forward"),
        flat(&y),
        &to_f32(&want),
        tol.forward,
        1.0,
    );

    let mut rng = Rng::new(seed ^ 0xC0FFEE);
    let c = quantized(&mut rng, n * floats::<L::Out>());
    let dy: Vec<L::Out> = samples(&c);
    let mut dx = zeroed::<L::In>(n);
    // Backward must overwrite the gradient buffer, not add to it.
    let mut analytic = vec![f32::NAN; L::PARAMS];
    layer.backward(x, &y, &dy, Some(&mut dx), &mut analytic, &cache, &mut work);

    let xs = flat(x).to_vec();
    if L::PARAMS > 0 {
        let mut numeric = vec![0.0; L::PARAMS];
        numerical_gradient(
            layer,
            H,
            |l| dot64(&c, &twin(&params(l), &xs)),
            &mut numeric,
        );
        assert_close(
            &format!("{what}: ∂E/∂θ"),
            &analytic,
            &numeric,
            tol.backward,
            tol.floor,
        );
    }
    let mut xv = xs.clone();
    let mut numeric = vec![0.0; xv.len()];
    numerical_input_gradient(&mut xv, H, |xf| dot64(&c, &twin(&p, xf)), &mut numeric);
    assert_close(
        &format!("{what}: ∂E/∂x"),
        flat(&dx),
        &numeric,
        tol.backward,
        tol.floor,
    );
}
