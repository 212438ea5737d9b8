//! The device's convnets: `shinso::zoo::TwoConv` (conv 3×3 → ReLU → max pool 2, twice, then
//! affine to 10) computed with the core's kernels under a memory plan made for 192 KiB.
//!
//! The core's `Network` keeps every activation between layers and its gradient (for the 8/16
//! learner with batch 1 that is ~135 KiB) and every layer keeps a gradient next to its weights.
//! Here instead:
//! * parameters are one flat array in blob order (the core's visit order), so a blob the host
//!   saved from `zoo::DoubleConvNet` / `zoo::OnlineConvNet` loads as it is;
//! * gradients and activations live in a *scratch arena* borrowed for the duration of one
//!   request, which the app also uses to stage weight pushes: none of them outlives a request;
//! * the first block runs one filter at a time (its 26×26 map is the largest buffer) and pools
//!   before the ReLU (`relu(max(a)) = max(relu(a))`, same value, same gradient), so only the
//!   pooled maps are kept; backward recomputes one filter's map to find its pooling argmax.
//!
//! Same function as the host's networks: the direct convolution sums in another order than the
//! host's im2col + gemm, so scores agree to rounding and predictions almost always exactly.

use crate::{argmax, DeviceModel, Learner, Step};
use alloc::boxed::Box;
use alloc::vec::Vec;
use shinso::kernels::{axpy, conv2d_direct, conv2d_direct_backward, max_pool, Geometry};
use shinso::{Init, Layer, Loss, Rng, Rule, Tensor, TensorKind};
use shinso_proto::{ErrorCode, Optimizer, CLASSES, PIXELS};

/// Floats of a two-conv net with `f1` and `f2` filters.
pub const fn param_count(f1: usize, f2: usize) -> usize {
    f1 * 9 + f1 + f2 * f1 * 9 + f2 + f2 * 25 * CLASSES + CLASSES
}

const G1: Geometry = Geometry {
    c: 1,
    h: 28,
    w: 28,
    fh: 3,
    fw: 3,
    stride: 1,
    pad: 0,
}
.checked(26, 26);
/// Pooling of one 26×26 channel of the first block.
const GP1: Geometry = Geometry {
    c: 1,
    h: 26,
    w: 26,
    fh: 2,
    fw: 2,
    stride: 2,
    pad: 0,
}
.checked(13, 13);
const A1: usize = 26 * 26;
const P1: usize = 13 * 13;
const A2: usize = 11 * 11;
const P2: usize = 5 * 5;

/// A two-conv net with `F1` and `F2` filters and `P` = [`param_count`]`(F1, F2)` parameters.
/// All-zero is a valid (if useless) state, so it can sit in a zeroed static.
pub struct ConvNet<const F1: usize, const F2: usize, const P: usize> {
    /// `[W1 (F1,1,3,3) | b1 | W2 (F2,F1,3,3) | b2 | W3 (F2·25, 10) | b3]`.
    pub p: [f32; P],
}

/// Carves typed buffers off the front of the scratch arena.
struct Carve<'a>(&'a mut [u32]);

impl<'a> Carve<'a> {
    fn u32s(&mut self, n: usize) -> &'a mut [u32] {
        let (head, tail) = core::mem::take(&mut self.0).split_at_mut(n);
        self.0 = tail;
        head
    }
    fn f32s(&mut self, n: usize) -> &'a mut [f32] {
        bytemuck::cast_slice_mut(self.u32s(n))
    }
}

/// What the forward pass keeps for backward.
struct Forward<'a> {
    x: &'a mut [f32],
    p1: &'a mut [f32],
    p2: &'a mut [f32],
    arg2: &'a mut [u32],
    logits: [f32; CLASSES],
    // Dead after the forward pass; backward reuses them.
    a1: &'a mut [f32],
    arg1: &'a mut [u32],
    a2: &'a mut [f32],
}

impl<const F1: usize, const F2: usize, const P: usize> ConvNet<F1, F2, P> {
    const W1: usize = 0;
    const B1: usize = Self::W1 + F1 * 9;
    const W2: usize = Self::B1 + F1;
    const B2: usize = Self::W2 + F2 * F1 * 9;
    const W3: usize = Self::B2 + F2;
    const B3: usize = Self::W3 + F2 * P2 * CLASSES;
    const G2: Geometry = Geometry {
        c: F1,
        h: 13,
        w: 13,
        fh: 3,
        fw: 3,
        stride: 1,
        pad: 0,
    }
    .checked(11, 11);
    const GP2: Geometry = Geometry {
        c: F2,
        h: 11,
        w: 11,
        fh: 2,
        fw: 2,
        stride: 2,
        pad: 0,
    }
    .checked(5, 5);
    const CHECK: () = assert!(Self::B3 + CLASSES == P && P == param_count(F1, F2) && F2 * A2 >= A1);

    /// Scratch words [`ConvNet::infer`] needs.
    pub const INFER_SCRATCH: usize = PIXELS + A1 + P1 + F1 * P1 + F2 * A2 + 2 * F2 * P2;
    /// Scratch words a learning step needs (gradients included).
    pub const LEARN_SCRATCH: usize = P + Self::INFER_SCRATCH + F2 * P2 + F1 * P1 + P1;

    /// All zeros.
    pub const ZERO: Self = {
        #[allow(clippy::let_unit_value)]
        let () = Self::CHECK;
        ConvNet { p: [0.0; P] }
    };

    /// Forward pass; keeps what backward needs in `s`.
    fn forward<'a>(&self, pixels: &[u8; PIXELS], s: &mut Carve<'a>) -> Forward<'a> {
        let p = &self.p;
        let x = s.f32s(PIXELS);
        crate::normalise(pixels, x);
        let a1 = s.f32s(A1);
        let arg1 = s.u32s(P1);
        let p1 = s.f32s(F1 * P1);
        // Block 1, one filter at a time: conv → pool → ReLU.
        for (f, pf) in p1.chunks_exact_mut(P1).enumerate() {
            let w = &p[Self::W1 + f * 9..Self::W1 + (f + 1) * 9];
            conv2d_direct(&G1, x, w, &p[Self::B1 + f..Self::B1 + f + 1], a1);
            max_pool(&GP1, a1, pf, arg1);
            relu(pf);
        }
        // Block 2, all filters at once (11×11 maps are small).
        let a2 = s.f32s(F2 * A2);
        conv2d_direct(
            &Self::G2,
            p1,
            &p[Self::W2..Self::B2],
            &p[Self::B2..Self::W3],
            a2,
        );
        let p2 = s.f32s(F2 * P2);
        let arg2 = s.u32s(F2 * P2);
        max_pool(&Self::GP2, a2, p2, arg2);
        relu(p2);
        // Affine: logits = b3 + p2 · W3, skipping the zeros the ReLU made.
        let mut logits = [0f32; CLASSES];
        logits.copy_from_slice(&p[Self::B3..Self::B3 + CLASSES]);
        for (xi, row) in p2.iter().zip(p[Self::W3..Self::B3].chunks_exact(CLASSES)) {
            if *xi != 0.0 {
                axpy(*xi, row, &mut logits);
            }
        }
        Forward {
            x,
            p1,
            p2,
            arg2,
            logits,
            a1,
            arg1,
            a2,
        }
    }

    /// Class probabilities for one image, using `scratch` (at least [`Self::INFER_SCRATCH`]).
    pub fn infer(&self, pixels: &[u8; PIXELS], scratch: &mut [u32]) -> [f32; CLASSES] {
        let f = self.forward(pixels, &mut Carve(scratch));
        let mut y = [0f32; CLASSES];
        Loss::SoftmaxCrossEntropy.output(&f.logits, &mut y);
        y
    }

    /// Loss and gradients (into `grads`, `P` floats) for one labelled image; parameters
    /// unchanged. Returns (loss, prediction before the step).
    fn gradients(
        &self,
        pixels: &[u8; PIXELS],
        label: u8,
        grads: &mut [f32],
        s: &mut Carve<'_>,
    ) -> (f32, u8) {
        let p = &self.p;
        let f = self.forward(pixels, s);
        let predicted = argmax(&f.logits);
        let target = shinso::one_hot::<CLASSES>(label as usize);
        let mut dl = [0f32; CLASSES];
        let loss = Loss::SoftmaxCrossEntropy.loss_and_grad(&f.logits, &target, CLASSES, &mut dl);
        grads.fill(0.0);
        let (g1, rest) = grads.split_at_mut(Self::W2);
        let (gw1, gb1) = g1.split_at_mut(Self::B1);
        let (g2, g3) = rest.split_at_mut(Self::W3 - Self::W2);
        let (gw2, gb2) = g2.split_at_mut(Self::B2 - Self::W2);
        let (gw3, gb3) = g3.split_at_mut(Self::B3 - Self::W3);
        // Affine: dW3 = p2ᵀ·dl, db3 = dl, dp2 = W3·dl masked by the ReLU.
        gb3.copy_from_slice(&dl);
        let dp2 = s.f32s(F2 * P2);
        for (i, (xi, (grow, wrow))) in
            f.p2.iter()
                .zip(
                    gw3.chunks_exact_mut(CLASSES)
                        .zip(p[Self::W3..Self::B3].chunks_exact(CLASSES)),
                )
                .enumerate()
        {
            if *xi > 0.0 {
                axpy(*xi, &dl, grow);
                dp2[i] = shinso::kernels::dot(wrow, &dl);
            } else {
                dp2[i] = 0.0;
            }
        }
        // Block 2: route through the pool's argmax, then the convolution's backward.
        let da2 = f.a2;
        route(f.arg2, dp2, da2);
        let dp1 = s.f32s(F1 * P1);
        conv2d_direct_backward(
            &Self::G2,
            f.p1,
            &p[Self::W2..Self::B2],
            da2,
            gw2,
            gb2,
            Some(dp1),
        );
        // Block 1, one filter at a time: recompute its map for the pooling argmax.
        let (a1, arg1) = (f.a1, f.arg1);
        let pooled = s.f32s(P1);
        let da1 = &mut da2[..A1]; // free again, and large enough (checked with the sizes)
        for f1 in 0..F1 {
            let w = &p[Self::W1 + f1 * 9..Self::W1 + (f1 + 1) * 9];
            conv2d_direct(&G1, f.x, w, &p[Self::B1 + f1..Self::B1 + f1 + 1], a1);
            max_pool(&GP1, a1, pooled, arg1);
            let d = &mut dp1[f1 * P1..(f1 + 1) * P1];
            for (dv, &pv) in d.iter_mut().zip(&f.p1[f1 * P1..(f1 + 1) * P1]) {
                if pv <= 0.0 {
                    *dv = 0.0;
                }
            }
            route(arg1, d, da1);
            conv2d_direct_backward(
                &G1,
                f.x,
                w,
                da1,
                &mut gw1[f1 * 9..(f1 + 1) * 9],
                &mut gb1[f1..f1 + 1],
                None,
            );
        }
        (loss, predicted)
    }
}

/// ReLU in place.
fn relu(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

/// Max pooling's backward: `dx` zero except each window's argmax, which gets its `dy`.
fn route(arg: &[u32], dy: &[f32], dx: &mut [f32]) {
    shinso::kernels::max_pool_backward(arg, dy, dx);
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

fn load_f32_le(params: &mut [f32], blob: &[u8]) {
    for (p, b) in params.iter_mut().zip(blob.chunks_exact(4)) {
        *p = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

/// The inference net: `zoo::DoubleConvNet` (16 and 32 filters, 12,810 parameters).
pub type InferNet = ConvNet<16, 32, { param_count(16, 32) }>;
/// The online learner's net: `zoo::OnlineConvNet` (8 and 16 filters, 5,258 parameters).
pub type LearnNet = ConvNet<8, 16, { param_count(8, 16) }>;
const LEARN_PARAMS: usize = param_count(8, 16);

/// Scratch words the device needs: the larger of a learning step, an inference, and a staged
/// push of the largest blob.
pub const SCRATCH_WORDS: usize = max(
    max(LearnNet::LEARN_SCRATCH, InferNet::INFER_SCRATCH),
    param_count(16, 32),
);

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// The inference model (weights from the host).
pub struct Inference {
    /// The network.
    pub net: InferNet,
}

impl Inference {
    /// Zero weights (every class equally likely until a push).
    pub const ZERO: Self = Inference {
        net: InferNet::ZERO,
    };
    /// Signature of `zoo::DoubleConvNet` (the batch size does not enter it).
    pub const SIGNATURE: u64 = <shinso::zoo::DoubleConvNet<1> as Layer>::SIGNATURE;
}

impl DeviceModel for Inference {
    fn name(&self) -> &str {
        "double-convnet"
    }
    fn signature(&self) -> u64 {
        Self::SIGNATURE
    }
    fn param_count(&self) -> usize {
        self.net.p.len()
    }
    fn read_params(&self, offset: usize, out: &mut [u8]) -> usize {
        read_f32_le(&self.net.p, offset, out)
    }
    fn load_params(&mut self, blob: &[u8]) {
        load_f32_le(&mut self.net.p, blob)
    }
    fn infer(&mut self, pixels: &[u8; PIXELS], scratch: &mut [u32]) -> [f32; CLASSES] {
        self.net.infer(pixels, scratch)
    }
}

/// The online learner: `zoo::OnlineConvNet` with an update rule whose state lives on the heap
/// (its size depends on the rule chosen over the wire).
pub struct Online {
    /// The network.
    pub net: LearnNet,
    /// Meaningful once `state` is `Some` (kept out of an `Option` so that `ZERO` is all zero
    /// bytes and lands in `.bss`).
    rule: Rule,
    state: Option<Box<[f32]>>,
    steps: u32,
}

/// The learner's rule until `Configure`: Adam, lr 0.001 (one online pass over the bundled
/// 10,000 images reaches ~0.96).
pub const DEFAULT_RULE: Rule = Rule::adam(0.001);
/// Seed of the learner's initial weights until `Reset`.
pub const DEFAULT_SEED: u64 = 42;

impl Online {
    /// Zero weights and no rule; [`Online::start`] makes it ready.
    pub const ZERO: Self = Online {
        net: LearnNet::ZERO,
        rule: Rule::Sgd { lr: 0.0 },
        state: None,
        steps: 0,
    };
    /// Signature of `zoo::OnlineConvNet`.
    pub const SIGNATURE: u64 = <shinso::zoo::OnlineConvNet<1> as Layer>::SIGNATURE;

    /// He-initialised from [`DEFAULT_SEED`], [`DEFAULT_RULE`]; fails only if the heap cannot
    /// hold the rule's state.
    pub fn start(&mut self) -> Result<(), ErrorCode> {
        self.reset(DEFAULT_SEED);
        self.set_rule(DEFAULT_RULE)
    }

    fn set_rule(&mut self, rule: Rule) -> Result<(), ErrorCode> {
        // Free the old state first: old and new together may not fit.
        self.state = None;
        let n = rule.state_len(LEARN_PARAMS);
        let mut v = Vec::new();
        if v.try_reserve_exact(n).is_err() {
            return Err(ErrorCode::OutOfMemory);
        }
        let fill = if let Rule::AdaGrad { h0, .. } = rule {
            h0
        } else {
            0.0
        };
        v.resize(n, fill);
        self.state = Some(v.into_boxed_slice());
        self.rule = rule;
        self.steps = 0;
        Ok(())
    }

    /// Heap bytes of the rule's state.
    pub fn state_bytes(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.len() * 4)
    }
}

impl DeviceModel for Online {
    fn name(&self) -> &str {
        "online-convnet"
    }
    fn signature(&self) -> u64 {
        Self::SIGNATURE
    }
    fn param_count(&self) -> usize {
        self.net.p.len()
    }
    fn read_params(&self, offset: usize, out: &mut [u8]) -> usize {
        read_f32_le(&self.net.p, offset, out)
    }
    fn load_params(&mut self, blob: &[u8]) {
        load_f32_le(&mut self.net.p, blob);
        // New weights, new history.
        if self.state.is_some() {
            let _ = self.set_rule(self.rule);
        }
    }
    fn infer(&mut self, pixels: &[u8; PIXELS], scratch: &mut [u32]) -> [f32; CLASSES] {
        self.net.infer(pixels, scratch)
    }
    fn learner(&mut self) -> Option<&mut dyn Learner> {
        Some(self)
    }
}

impl Learner for Online {
    fn learn(
        &mut self,
        pixels: &[u8; PIXELS],
        label: u8,
        scratch: &mut [u32],
    ) -> Result<Step, ErrorCode> {
        let (rule, Some(state)) = (self.rule, self.state.as_mut()) else {
            return Err(ErrorCode::OutOfMemory);
        };
        let mut s = Carve(scratch);
        let grads = s.f32s(LEARN_PARAMS);
        let (loss, predicted) = self.net.gradients(pixels, label, grads, &mut s);
        if !loss.is_finite() || !grads.iter().all(|g| g.is_finite()) {
            return Err(ErrorCode::RolledBack);
        }
        // Check the whole update, then apply it: a step that would make any weight or any
        // optimizer state non-finite changes nothing.
        let t = self.steps + 1;
        if !update(rule, t, &mut self.net.p, grads, state, false) {
            return Err(ErrorCode::RolledBack);
        }
        update(rule, t, &mut self.net.p, grads, state, true);
        self.steps = t;
        Ok(Step { loss, predicted })
    }

    fn configure(&mut self, optimizer: Optimizer, lr: f32) -> Result<(), ErrorCode> {
        let rule = match optimizer {
            Optimizer::Sgd => Rule::sgd(lr),
            Optimizer::Momentum => Rule::momentum(lr),
            Optimizer::AdaGrad => Rule::adagrad(lr),
            Optimizer::RmsProp => Rule::rmsprop(lr),
            Optimizer::Adam => Rule::adam(lr),
        };
        self.set_rule(rule)
    }

    fn reset(&mut self, seed: u64) {
        // The core's He initialisation, tensor by tensor in visit order from one generator:
        // the same weights `Network::<zoo::OnlineConvNet<_>>::init(Init::He, seed)` draws.
        let mut rng = Rng::new(seed);
        let p = &mut self.net.p;
        let (w1, rest) = p.split_at_mut(LearnNet::B1);
        let (b1, rest) = rest.split_at_mut(LearnNet::W2 - LearnNet::B1);
        let (w2, rest) = rest.split_at_mut(LearnNet::B2 - LearnNet::W2);
        let (b2, rest) = rest.split_at_mut(LearnNet::W3 - LearnNet::B2);
        let (w3, b3) = rest.split_at_mut(LearnNet::B3 - LearnNet::W3);
        let tensors: [(TensorKind, usize, &mut [f32]); 6] = [
            (TensorKind::Weight, 9, w1),
            (TensorKind::Bias, 9, b1),
            (TensorKind::Weight, 8 * 9, w2),
            (TensorKind::Bias, 8 * 9, b2),
            (TensorKind::Weight, 16 * P2, w3),
            (TensorKind::Bias, 16 * P2, b3),
        ];
        for (kind, fan_in, value) in tensors {
            Init::He.fill(
                Tensor {
                    kind,
                    shape: [value.len(), 0, 0, 0],
                    fan_in,
                    value,
                },
                &mut rng,
            );
        }
        if self.state.is_some() {
            let _ = self.set_rule(self.rule);
        }
    }
}

/// One step of `rule` (the core's update rules, `shinso::optim`, over one flat tensor) at step
/// `t`. With `commit == false` nothing is written and the result says whether every new weight
/// and state value would be finite.
fn update(rule: Rule, t: u32, w: &mut [f32], g: &[f32], state: &mut [f32], commit: bool) -> bool {
    let mut ok = true;
    let mut put = |slot: &mut f32, v: f32| {
        ok &= v.is_finite();
        if commit {
            *slot = v;
        }
    };
    match rule {
        Rule::Sgd { lr } => {
            for (wi, gi) in w.iter_mut().zip(g) {
                put(wi, *wi - lr * gi);
            }
        }
        Rule::Momentum { lr, momentum } => {
            for ((wi, gi), vi) in w.iter_mut().zip(g).zip(state) {
                let v = momentum * *vi - lr * gi;
                put(wi, *wi + v);
                put(vi, v);
            }
        }
        Rule::AdaGrad { lr, delta, .. } => {
            for ((wi, gi), hi) in w.iter_mut().zip(g).zip(state) {
                let h = *hi + gi * gi;
                put(wi, *wi - lr * gi / (libm::sqrtf(h) + delta));
                put(hi, h);
            }
        }
        Rule::RmsProp { lr, rho, delta } => {
            for ((wi, gi), hi) in w.iter_mut().zip(g).zip(state) {
                let h = rho * *hi + (1.0 - rho) * gi * gi;
                put(wi, *wi - lr * gi / (libm::sqrtf(h) + delta));
                put(hi, h);
            }
        }
        Rule::Adam {
            lr,
            beta1,
            beta2,
            delta,
        } => {
            let lr_t = lr * libm::sqrtf(1.0 - libm::powf(beta2, t as f32))
                / (1.0 - libm::powf(beta1, t as f32));
            let (m, v) = state.split_at_mut(w.len());
            for (((wi, gi), mi), vi) in w.iter_mut().zip(g).zip(m).zip(v) {
                let mn = *mi + (1.0 - beta1) * (gi - *mi);
                let vn = *vi + (1.0 - beta2) * (gi * gi - *vi);
                put(wi, *wi - lr_t * mn / (libm::sqrtf(vn) + delta));
                put(mi, mn);
                put(vi, vn);
            }
        }
    }
    ok
}
