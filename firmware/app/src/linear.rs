//! Softmax regression (784 → 10): the smallest real MNIST model, ~92 % when trained.
//!
//! It needs nothing from the core crate, so the protocol, the weight transfer and online
//! learning can be exercised on the device before (and independently of) the convnets.
//! `W` is (inputs, outputs) row-major and the blob is `W` then `b`, as the core lays out an
//! Affine layer.

use crate::{argmax, normalise, DeviceModel, Learner, Step};
use alloc::boxed::Box;
use alloc::vec::Vec;
use shinso_proto::{ErrorCode, Optimizer, CLASSES, PIXELS};

const N_W: usize = PIXELS * CLASSES;
/// Parameters: weights and biases.
pub const PARAMS: usize = N_W + CLASSES;
/// Momentum coefficient μ (the course's default).
const MU: f32 = 0.9;

/// 64-bit FNV-1a, for signatures derived from an architecture's name.
pub const fn fnv1a(s: &str) -> u64 {
    let b = s.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < b.len() {
        h ^= b[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

const NAME: &str = "linear-784-10";

/// Softmax regression; learns with SGD or Momentum when built `trainable`.
pub struct Linear {
    /// `[W (784×10) | b (10)]`.
    p: [f32; PARAMS],
    trainable: bool,
    optimizer: Optimizer,
    lr: f32,
    /// Momentum's velocity, allocated when Momentum is chosen (sized at run time: on the heap).
    v: Option<Box<[f32]>>,
}

/// Learning rate until `Configure` says otherwise.
pub const DEFAULT_LR: f32 = 0.01;

impl Linear {
    /// Architecture signature of this model's blob.
    pub const SIGNATURE: u64 = fnv1a(NAME);

    /// An inference-only model with all-zero weights. Every byte of it is zero, so a `static`
    /// holding it lands in `.bss`: no flash image, no copy at boot.
    pub const ZERO: Linear = Linear { p: [0.0; PARAMS], trainable: false, optimizer: Optimizer::Sgd, lr: 0.0, v: None };

    /// Makes this model the device's learner: SGD at [`DEFAULT_LR`] until configured.
    /// Zero weights are a fine start (softmax regression is convex).
    pub fn make_learner(&mut self) {
        self.trainable = true;
        self.optimizer = Optimizer::Sgd;
        self.lr = DEFAULT_LR;
        self.v = None;
    }

    /// A new model (on the host; on the device use [`Linear::ZERO`] in a static).
    pub fn new(trainable: bool) -> Self {
        let mut m = Self::ZERO;
        if trainable {
            m.make_learner();
        }
        m
    }

    fn velocity(&self, k: usize) -> f32 {
        self.v.as_ref().map_or(0.0, |v| v[k])
    }

    fn forward(&self, x: &[f32; PIXELS]) -> [f32; CLASSES] {
        let (w, b) = self.p.split_at(N_W);
        let mut u = [0f32; CLASSES];
        u.copy_from_slice(b);
        for (xi, row) in x.iter().zip(w.chunks_exact(CLASSES)) {
            if *xi != 0.0 {
                for (uj, wij) in u.iter_mut().zip(row) {
                    *uj += xi * wij;
                }
            }
        }
        softmax(&mut u);
        u
    }

    /// New value of parameter `k` and of its velocity, given its gradient.
    #[inline(always)]
    fn update(&self, k: usize, g: f32) -> (f32, f32) {
        match self.optimizer {
            Optimizer::Momentum => {
                let v = MU * self.velocity(k) - self.lr * g;
                (self.p[k] + v, v)
            }
            _ => (self.p[k] - self.lr * g, 0.0),
        }
    }

    /// Visits every parameter with its gradient `x_i·(y_j − d_j)` (bias: `y_j − d_j`).
    fn for_each_grad(x: &[f32; PIXELS], g: &[f32; CLASSES], mut f: impl FnMut(usize, f32) -> bool) -> bool {
        for (i, xi) in x.iter().enumerate() {
            for (j, gj) in g.iter().enumerate() {
                if !f(i * CLASSES + j, xi * gj) {
                    return false;
                }
            }
        }
        g.iter().enumerate().all(|(j, gj)| f(N_W + j, *gj))
    }
}

/// Softmax in place, max subtracted (finite for any finite input).
pub fn softmax(u: &mut [f32; CLASSES]) {
    let m = u.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in u.iter_mut() {
        *v = libm::expf(*v - m);
        sum += *v;
    }
    for v in u.iter_mut() {
        *v /= sum;
    }
}

impl DeviceModel for Linear {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> u64 {
        Self::SIGNATURE
    }
    fn param_count(&self) -> usize {
        PARAMS
    }
    fn read_params(&self, offset: usize, out: &mut [u8]) -> usize {
        read_f32_le(&self.p, offset, out)
    }
    fn load_params(&mut self, blob: &[u8]) {
        for (p, b) in self.p.iter_mut().zip(blob.chunks_exact(4)) {
            *p = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        self.v.iter_mut().for_each(|v| v.fill(0.0));
    }
    fn infer(&mut self, pixels: &[u8; PIXELS]) -> [f32; CLASSES] {
        let mut x = [0f32; PIXELS];
        normalise(pixels, &mut x);
        self.forward(&x)
    }
    fn learner(&mut self) -> Option<&mut dyn Learner> {
        if self.trainable {
            Some(self)
        } else {
            None
        }
    }
}

impl Learner for Linear {
    fn learn(&mut self, pixels: &[u8; PIXELS], label: u8) -> Result<Step, ErrorCode> {
        let mut x = [0f32; PIXELS];
        normalise(pixels, &mut x);
        let y = self.forward(&x);
        let predicted = argmax(&y);
        let loss = -libm::logf(y[label as usize] + 1e-7);
        let mut g = y;
        g[label as usize] -= 1.0;
        if !loss.is_finite() || !g.iter().all(|v| v.is_finite()) {
            return Err(ErrorCode::RolledBack);
        }
        // Check the whole update first, then apply it: a step that would make any weight
        // non-finite leaves the model untouched.
        if !Self::for_each_grad(&x, &g, |k, gk| {
            let (p, v) = self.update(k, gk);
            p.is_finite() && v.is_finite()
        }) {
            return Err(ErrorCode::RolledBack);
        }
        let mut new = |k: usize, gk: f32| {
            let (p, v) = self.update(k, gk);
            self.p[k] = p;
            if let Some(slot) = self.v.as_mut().and_then(|vel| vel.get_mut(k)) {
                *slot = v;
            }
            true
        };
        Self::for_each_grad(&x, &g, &mut new);
        Ok(Step { loss, predicted })
    }

    fn configure(&mut self, optimizer: Optimizer, lr: f32) -> Result<(), ErrorCode> {
        let v = match optimizer {
            Optimizer::Sgd => None,
            Optimizer::Momentum => {
                let mut v = Vec::new();
                v.try_reserve_exact(PARAMS).map_err(|_| ErrorCode::OutOfMemory)?;
                v.resize(PARAMS, 0.0);
                Some(v.into_boxed_slice())
            }
            _ => return Err(ErrorCode::BadValue),
        };
        self.v = v; // frees the old state after the new one was allocated
        self.optimizer = optimizer;
        self.lr = lr;
        Ok(())
    }

    fn reset(&mut self, seed: u64) {
        // Small Gaussian weights (σ = 0.01, the course's default), zero biases.
        let mut rng = SplitMix64(seed);
        for w in &mut self.p[..N_W] {
            *w = 0.01 * rng.normal();
        }
        self.p[N_W..].iter_mut().for_each(|b| *b = 0.0);
        self.v.iter_mut().for_each(|v| v.fill(0.0));
    }
}

/// Little-endian bytes of `params` from byte `offset` into `out`; returns bytes written.
pub fn read_f32_le(params: &[f32], offset: usize, out: &mut [u8]) -> usize {
    let total = params.len() * 4;
    let n = out.len().min(total.saturating_sub(offset));
    for (k, o) in out[..n].iter_mut().enumerate() {
        let at = offset + k;
        *o = params[at / 4].to_le_bytes()[at % 4];
    }
    n
}

/// SplitMix64: tiny, seeded, deterministic.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 1.0) * (1.0 / (1u64 << 24) as f32)
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let (u1, u2) = (self.uniform(), self.uniform());
        libm::sqrtf(-2.0 * libm::logf(u1)) * libm::cosf(core::f32::consts::TAU * u2)
    }
}
