//! Naive `f64` twins of shinso's kernels, layers and losses: textbook loops, no tricks.
//!
//! Inputs are any floats (`f32` data or `f64` intermediate results); outputs are `Vec<f64>`.
//! Matrices are row-major; image batches are NCHW.

/// Anything that widens to `f64`.
pub trait Real: Copy + Into<f64> {}
impl<T: Copy + Into<f64>> Real for T {}

fn f<T: Real>(x: T) -> f64 {
    x.into()
}

// ---------------------------------------------------------------------------------- kernels

/// `Σ xᵢ yᵢ` over the shorter slice.
pub fn dot<T: Real>(x: &[T], y: &[T]) -> f64 {
    x.iter().zip(y).map(|(a, b)| f(*a) * f(*b)).sum()
}

/// `Σ |xᵢ yᵢ|`: the scale of a dot product's rounding error.
pub fn dot_abs<T: Real>(x: &[T], y: &[T]) -> f64 {
    x.iter().zip(y).map(|(a, b)| (f(*a) * f(*b)).abs()).sum()
}

/// `y + α x`.
pub fn axpy<T: Real>(alpha: T, x: &[T], y: &[T]) -> Vec<f64> {
    y.iter()
        .zip(x)
        .map(|(yi, xi)| f(*yi) + f(alpha) * f(*xi))
        .collect()
}

/// `C[i][j] = Σₚ a(i, p)·b(p, j)` over `m×n` entries and `k` steps, and `Σ|a·b|` per entry
/// (the rounding scale): the one obvious triple loop behind the three layouts below.
fn product(
    m: usize,
    k: usize,
    n: usize,
    a: impl Fn(usize, usize) -> f64,
    b: impl Fn(usize, usize) -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let (mut c, mut s) = (vec![0.0; m * n], vec![0.0; m * n]);
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                let t = a(i, p) * b(p, j);
                c[i * n + j] += t;
                s[i * n + j] += t.abs();
            }
        }
    }
    (c, s)
}

/// `A (m×k) · B (k×n)`, and `Σ|A||B|` per entry (the rounding scale).
pub fn gemm_nn<T: Real>(m: usize, k: usize, n: usize, a: &[T], b: &[T]) -> (Vec<f64>, Vec<f64>) {
    product(m, k, n, |i, p| f(a[i * k + p]), |p, j| f(b[p * n + j]))
}

/// `Aᵀ · B`, `A` stored `k×m`, `B` `k×n`.
pub fn gemm_tn<T: Real>(m: usize, k: usize, n: usize, a: &[T], b: &[T]) -> (Vec<f64>, Vec<f64>) {
    product(m, k, n, |i, p| f(a[p * m + i]), |p, j| f(b[p * n + j]))
}

/// `A · Bᵀ`, `A` stored `m×k`, `B` `n×k`.
pub fn gemm_nt<T: Real>(m: usize, k: usize, n: usize, a: &[T], b: &[T]) -> (Vec<f64>, Vec<f64>) {
    product(m, k, n, |i, p| f(a[i * k + p]), |p, j| f(b[j * k + p]))
}

/// Geometry of a 2-D convolution or pooling window over an NCHW batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub fh: usize,
    pub fw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Geom {
    /// Output height `(H + 2P − FH) / S + 1`.
    pub fn oh(&self) -> usize {
        (self.h + 2 * self.pad - self.fh) / self.stride + 1
    }
    /// Output width `(W + 2P − FW) / S + 1`.
    pub fn ow(&self) -> usize {
        (self.w + 2 * self.pad - self.fw) / self.stride + 1
    }
    /// Whether the window fits the padded input with a nonzero stride.
    pub fn fits(&self) -> bool {
        self.stride >= 1
            && self.fh >= 1
            && self.fw >= 1
            && self.fh <= self.h + 2 * self.pad
            && self.fw <= self.w + 2 * self.pad
    }
    /// The same window as shinso's per-sample geometry.
    pub fn core(&self) -> shinso::kernels::Geometry {
        shinso::kernels::Geometry {
            c: self.c,
            h: self.h,
            w: self.w,
            fh: self.fh,
            fw: self.fw,
            stride: self.stride,
            pad: self.pad,
        }
    }
    /// Input floats `N·C·H·W`.
    pub fn input_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }
    /// im2col rows `N·OH·OW`.
    pub fn rows(&self) -> usize {
        self.n * self.oh() * self.ow()
    }
    /// im2col columns `C·FH·FW`.
    pub fn cols(&self) -> usize {
        self.c * self.fh * self.fw
    }
    /// The input pixel under window offset `(i, j)` of output `(oy, ox)`, or `None` in the
    /// zero padding.
    fn pixel(&self, oy: usize, ox: usize, i: usize, j: usize) -> Option<(usize, usize)> {
        let y = (oy * self.stride + i) as isize - self.pad as isize;
        let x = (ox * self.stride + j) as isize - self.pad as isize;
        (y >= 0 && x >= 0 && (y as usize) < self.h && (x as usize) < self.w)
            .then_some((y as usize, x as usize))
    }
    fn at(&self, b: usize, ch: usize, y: usize, x: usize) -> usize {
        ((b * self.c + ch) * self.h + y) * self.w + x
    }
}

/// im2col as in the course: row `(b, oy, ox)`, column `(ch, i, j)`, zero padding.
pub fn im2col<T: Real>(g: Geom, x: &[T]) -> Vec<f64> {
    let (oh, ow) = (g.oh(), g.ow());
    let mut col = vec![0.0; g.rows() * g.cols()];
    for b in 0..g.n {
        for oy in 0..oh {
            for ox in 0..ow {
                let row = (b * oh + oy) * ow + ox;
                for ch in 0..g.c {
                    for i in 0..g.fh {
                        for j in 0..g.fw {
                            let colx = (ch * g.fh + i) * g.fw + j;
                            if let Some((y, xx)) = g.pixel(oy, ox, i, j) {
                                col[row * g.cols() + colx] = f(x[g.at(b, ch, y, xx)]);
                            }
                        }
                    }
                }
            }
        }
    }
    col
}

/// col2im: the adjoint of [`im2col`], summing every column entry back onto its pixel.
pub fn col2im<T: Real>(g: Geom, col: &[T]) -> Vec<f64> {
    let (oh, ow) = (g.oh(), g.ow());
    let mut x = vec![0.0; g.input_len()];
    for b in 0..g.n {
        for oy in 0..oh {
            for ox in 0..ow {
                let row = (b * oh + oy) * ow + ox;
                for ch in 0..g.c {
                    for i in 0..g.fh {
                        for j in 0..g.fw {
                            let colx = (ch * g.fh + i) * g.fw + j;
                            if let Some((y, xx)) = g.pixel(oy, ox, i, j) {
                                x[g.at(b, ch, y, xx)] += f(col[row * g.cols() + colx]);
                            }
                        }
                    }
                }
            }
        }
    }
    x
}

/// Direct convolution (cross-correlation, as in the course): `w` is `(FN, C, FH, FW)`, `bias`
/// `FN`; output `(N, FN, OH, OW)`.
pub fn conv2d<T: Real, U: Real>(g: Geom, fnum: usize, x: &[T], w: &[U], bias: &[U]) -> Vec<f64> {
    let (oh, ow) = (g.oh(), g.ow());
    let mut out = vec![0.0; g.n * fnum * oh * ow];
    for b in 0..g.n {
        for k in 0..fnum {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = f(bias[k]);
                    for ch in 0..g.c {
                        for i in 0..g.fh {
                            for j in 0..g.fw {
                                if let Some((y, xx)) = g.pixel(oy, ox, i, j) {
                                    s += f(x[g.at(b, ch, y, xx)])
                                        * f(w[((k * g.c + ch) * g.fh + i) * g.fw + j]);
                                }
                            }
                        }
                    }
                    out[((b * fnum + k) * oh + oy) * ow + ox] = s;
                }
            }
        }
    }
    out
}

/// Gradients of [`conv2d`] given `dy` `(N, FN, OH, OW)`: `(∂E/∂w, ∂E/∂b, ∂E/∂x)`, summed over
/// the batch.
pub fn conv2d_backward<T: Real, U: Real, V: Real>(
    g: Geom,
    fnum: usize,
    x: &[T],
    w: &[U],
    dy: &[V],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (oh, ow) = (g.oh(), g.ow());
    let (mut dw, mut db, mut dx) = (
        vec![0.0; fnum * g.cols()],
        vec![0.0; fnum],
        vec![0.0; g.input_len()],
    );
    for b in 0..g.n {
        for k in 0..fnum {
            for oy in 0..oh {
                for ox in 0..ow {
                    let d = f(dy[((b * fnum + k) * oh + oy) * ow + ox]);
                    db[k] += d;
                    for ch in 0..g.c {
                        for i in 0..g.fh {
                            for j in 0..g.fw {
                                if let Some((y, xx)) = g.pixel(oy, ox, i, j) {
                                    let wi = ((k * g.c + ch) * g.fh + i) * g.fw + j;
                                    dw[wi] += d * f(x[g.at(b, ch, y, xx)]);
                                    dx[g.at(b, ch, y, xx)] += d * f(w[wi]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (dw, db, dx)
}

/// Pooling over windows: `reduce` gets the in-image pixels under each window (the padding, if
/// any, is left out). Output `(N, C, OH, OW)`.
fn pool<T: Real>(g: Geom, x: &[T], reduce: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let (oh, ow) = (g.oh(), g.ow());
    let mut out = vec![0.0; g.n * g.c * oh * ow];
    let mut win = Vec::with_capacity(g.fh * g.fw);
    for b in 0..g.n {
        for ch in 0..g.c {
            for oy in 0..oh {
                for ox in 0..ow {
                    win.clear();
                    for i in 0..g.fh {
                        for j in 0..g.fw {
                            if let Some((y, xx)) = g.pixel(oy, ox, i, j) {
                                win.push(f(x[g.at(b, ch, y, xx)]));
                            }
                        }
                    }
                    out[((b * g.c + ch) * oh + oy) * ow + ox] = reduce(&win);
                }
            }
        }
    }
    out
}

/// Max pooling, `(N, C, H, W)` → `(N, C, OH, OW)`. Padding is ignored; a window wholly in the
/// padding gives 0.
pub fn max_pool<T: Real>(g: Geom, x: &[T]) -> Vec<f64> {
    pool(g, x, |w| w.iter().copied().reduce(f64::max).unwrap_or(0.0))
}

/// Average pooling, `(N, C, H, W)` → `(N, C, OH, OW)`: the sum of the window over `FH·FW`
/// (padding counts as zeros).
pub fn avg_pool<T: Real>(g: Geom, x: &[T]) -> Vec<f64> {
    let area = (g.fh * g.fw) as f64;
    pool(g, x, |w| w.iter().sum::<f64>() / area)
}

/// Gradient of max pooling: each output's gradient goes to the (first) largest pixel of its
/// window, summed over overlapping windows.
pub fn max_pool_backward<T: Real, U: Real>(g: Geom, x: &[T], dy: &[U]) -> Vec<f64> {
    let (oh, ow) = (g.oh(), g.ow());
    let mut dx = vec![0.0; g.input_len()];
    for b in 0..g.n {
        for ch in 0..g.c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut best: Option<(f64, usize)> = None;
                    for i in 0..g.fh {
                        for j in 0..g.fw {
                            if let Some((y, xx)) = g.pixel(oy, ox, i, j) {
                                let at = g.at(b, ch, y, xx);
                                if best.is_none_or(|(v, _)| f(x[at]) > v) {
                                    best = Some((f(x[at]), at));
                                }
                            }
                        }
                    }
                    if let Some((_, at)) = best {
                        dx[at] += f(dy[((b * g.c + ch) * oh + oy) * ow + ox]);
                    }
                }
            }
        }
    }
    dx
}

/// Gradient of average pooling: each output's gradient over `FH·FW`, onto every in-image
/// pixel of its window.
pub fn avg_pool_backward<U: Real>(g: Geom, dy: &[U]) -> Vec<f64> {
    let (oh, ow) = (g.oh(), g.ow());
    let area = (g.fh * g.fw) as f64;
    let mut dx = vec![0.0; g.input_len()];
    for b in 0..g.n {
        for ch in 0..g.c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let d = f(dy[((b * g.c + ch) * oh + oy) * ow + ox]) / area;
                    for i in 0..g.fh {
                        for j in 0..g.fw {
                            if let Some((y, xx)) = g.pixel(oy, ox, i, j) {
                                dx[g.at(b, ch, y, xx)] += d;
                            }
                        }
                    }
                }
            }
        }
    }
    dx
}

// ----------------------------------------------------------------------------------- layers

/// `u = x·W + b` for `n` samples: `x` is `n×i`, `w` `i×o` row-major, `b` `o`.
pub fn affine<T: Real, U: Real>(i: usize, o: usize, x: &[T], w: &[U], b: &[U]) -> Vec<f64> {
    let n = x.len() / i;
    let mut u = vec![0.0; n * o];
    for s in 0..n {
        for j in 0..o {
            let mut acc = f(b[j]);
            for p in 0..i {
                acc += f(x[s * i + p]) * f(w[p * o + j]);
            }
            u[s * o + j] = acc;
        }
    }
    u
}

pub fn relu(x: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub fn step(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else {
        0.0
    }
}

/// `g` applied to every element.
pub fn map<T: Real>(x: &[T], g: impl Fn(f64) -> f64) -> Vec<f64> {
    x.iter().map(|v| g(f(*v))).collect()
}

/// Softmax of one row, the textbook way (max subtracted, as any sane implementation).
pub fn softmax<T: Real>(x: &[T]) -> Vec<f64> {
    let m = x.iter().map(|v| f(*v)).fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (f(*v) - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Softmax of every row of `k` features.
pub fn softmax_rows<T: Real>(k: usize, x: &[T]) -> Vec<f64> {
    x.chunks(k).flat_map(softmax).collect()
}

/// Batch normalisation in training mode over `n` samples of `k` features (`x` is `n×k`):
/// `γ (x − μ)/√(σ² + eps) + β`, biased (population) batch variance.
pub fn batchnorm_train<T: Real, U: Real>(
    k: usize,
    x: &[T],
    gamma: &[U],
    beta: &[U],
    eps: f64,
) -> Vec<f64> {
    let n = x.len() / k;
    let mut y = vec![0.0; x.len()];
    for j in 0..k {
        let mean = (0..n).map(|s| f(x[s * k + j])).sum::<f64>() / n as f64;
        let var = (0..n)
            .map(|s| (f(x[s * k + j]) - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        for s in 0..n {
            y[s * k + j] = f(gamma[j]) * (f(x[s * k + j]) - mean) / (var + eps).sqrt() + f(beta[j]);
        }
    }
    y
}

/// Per-channel batch normalisation of an `(N, C, H·W)` batch in training mode: statistics
/// over `N·H·W` for each channel.
pub fn batchnorm2d_train<T: Real, U: Real>(
    c: usize,
    hw: usize,
    x: &[T],
    gamma: &[U],
    beta: &[U],
    eps: f64,
) -> Vec<f64> {
    let n = x.len() / (c * hw);
    let idx = |b: usize, ch: usize, p: usize| (b * c + ch) * hw + p;
    let mut y = vec![0.0; x.len()];
    for ch in 0..c {
        let all = || (0..n).flat_map(move |b| (0..hw).map(move |p| (b, p)));
        let m = (n * hw) as f64;
        let mean = all().map(|(b, p)| f(x[idx(b, ch, p)])).sum::<f64>() / m;
        let var = all()
            .map(|(b, p)| (f(x[idx(b, ch, p)]) - mean).powi(2))
            .sum::<f64>()
            / m;
        for (b, p) in all() {
            y[idx(b, ch, p)] =
                f(gamma[ch]) * (f(x[idx(b, ch, p)]) - mean) / (var + eps).sqrt() + f(beta[ch]);
        }
    }
    y
}

/// Batch-norm statistics of a sample-major `(n, C, S)` batch: per-channel mean and biased
/// variance over the `n·S` values.
pub fn bn_stats<T: Real>(n: usize, c: usize, s: usize, x: &[T]) -> (Vec<f64>, Vec<f64>) {
    let vals = |ch: usize| (0..n).flat_map(move |i| (0..s).map(move |p| (i * c + ch) * s + p));
    let m = (n * s) as f64;
    let mean: Vec<f64> = (0..c)
        .map(|ch| vals(ch).map(|k| f(x[k])).sum::<f64>() / m)
        .collect();
    let var = (0..c)
        .map(|ch| vals(ch).map(|k| (f(x[k]) - mean[ch]).powi(2)).sum::<f64>() / m)
        .collect();
    (mean, var)
}

/// The batch-norm backward pass the course derives step by step through its computational
/// graph (not the compacted formula): `(∂E/∂γ, ∂E/∂β, ∂E/∂x)` for an `(n, C, S)` batch
/// normalised with its own statistics.
pub fn bn_backward<T: Real, U: Real, V: Real>(
    n: usize,
    c: usize,
    s: usize,
    x: &[T],
    gamma: &[U],
    dy: &[V],
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mean, var) = bn_stats(n, c, s, x);
    let m = (n * s) as f64;
    let (mut dgamma, mut dbeta, mut dx) = (vec![0.0; c], vec![0.0; c], vec![0.0; x.len()]);
    for ch in 0..c {
        let idx: Vec<usize> = (0..n)
            .flat_map(|i| (0..s).map(move |p| (i * c + ch) * s + p))
            .collect();
        let std = (var[ch] + eps).sqrt();
        let xc: Vec<f64> = idx.iter().map(|k| f(x[*k]) - mean[ch]).collect();
        let xhat: Vec<f64> = xc.iter().map(|v| v / std).collect();
        let d: Vec<f64> = idx.iter().map(|k| f(dy[*k])).collect();
        dbeta[ch] = d.iter().sum();
        dgamma[ch] = d.iter().zip(&xhat).map(|(a, b)| a * b).sum();
        // Through x̂ = xc / std, std = √(var + ε), var = Σ xc² / m, xc = x − μ, μ = Σ x / m.
        let dxhat: Vec<f64> = d.iter().map(|v| v * f(gamma[ch])).collect();
        let dxc1: Vec<f64> = dxhat.iter().map(|v| v / std).collect();
        let dstd = -dxhat.iter().zip(&xc).map(|(a, b)| a * b).sum::<f64>() / (std * std);
        let dvar = 0.5 * dstd / std;
        let dxc: Vec<f64> = dxc1
            .iter()
            .zip(&xc)
            .map(|(a, b)| a + 2.0 * b * dvar / m)
            .collect();
        let dmu = -dxc.iter().sum::<f64>();
        for (j, k) in idx.iter().enumerate() {
            dx[*k] = dxc[j] + dmu / m;
        }
    }
    (dgamma, dbeta, dx)
}

// ----------------------------------------------------------------------------------- losses

/// `½‖y − d‖²` per row, averaged over the rows.
pub fn mse<T: Real>(k: usize, y: &[T], d: &[T]) -> f64 {
    let n = (y.len() / k) as f64;
    y.iter()
        .zip(d)
        .map(|(a, b)| 0.5 * (f(*a) - f(*b)).powi(2))
        .sum::<f64>()
        / n
}

/// `−Σ d ln(y + 1e-7)`, averaged over the rows.
pub fn cross_entropy<T: Real>(k: usize, y: &[T], d: &[T]) -> f64 {
    let n = (y.len() / k) as f64;
    -y.iter()
        .zip(d)
        .map(|(a, b)| f(*b) * (f(*a) + 1e-7).ln())
        .sum::<f64>()
        / n
}

/// Cross-entropy of the softmax of the logits `x`, averaged over rows.
pub fn softmax_cross_entropy<T: Real>(k: usize, x: &[T], d: &[T]) -> f64 {
    let p = softmax_rows(k, x);
    cross_entropy(k, &p, &d.iter().map(|v| f(*v)).collect::<Vec<_>>())
}

/// Binary cross-entropy of `σ(x)` per output, summed over outputs, averaged over rows.
pub fn sigmoid_cross_entropy<T: Real>(k: usize, x: &[T], d: &[T]) -> f64 {
    let n = (x.len() / k) as f64;
    x.iter()
        .zip(d)
        .map(|(a, b)| {
            let y = sigmoid(f(*a));
            let d = f(*b);
            -(d * (y + 1e-7).ln() + (1.0 - d) * (1.0 - y + 1e-7).ln())
        })
        .sum::<f64>()
        / n
}

// ----------------------------------------------------------------------------- optimizers

/// The state of one update rule over `n` parameters, in `f64`: velocities (Momentum), squared
/// sums (AdaGrad, RMSProp), or the two moments (Adam), plus the step count.
pub struct RuleState {
    pub rule: shinso::Rule,
    pub t: u32,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
}

impl RuleState {
    /// Fresh state (AdaGrad's `h` at `h₀`, everything else 0).
    pub fn new(rule: shinso::Rule, n: usize) -> Self {
        let h0 = match rule {
            shinso::Rule::AdaGrad { h0, .. } => h0 as f64,
            _ => 0.0,
        };
        Self {
            rule,
            t: 0,
            a: vec![h0; n],
            b: vec![0.0; n],
        }
    }

    /// One update of `w` from `g`, the formulas documented on `shinso::optim::Rule` written out.
    pub fn step(&mut self, w: &mut [f64], g: &[f32]) {
        use shinso::Rule;
        self.t += 1;
        for i in 0..w.len() {
            let g = g[i] as f64;
            match self.rule {
                Rule::Sgd { lr } => w[i] -= lr as f64 * g,
                Rule::Momentum { lr, momentum } => {
                    self.a[i] = momentum as f64 * self.a[i] - lr as f64 * g;
                    w[i] += self.a[i];
                }
                Rule::AdaGrad { lr, delta, .. } => {
                    self.a[i] += g * g;
                    w[i] -= lr as f64 * g / (self.a[i].sqrt() + delta as f64);
                }
                Rule::RmsProp { lr, rho, delta } => {
                    let rho = rho as f64;
                    self.a[i] = rho * self.a[i] + (1.0 - rho) * g * g;
                    w[i] -= lr as f64 * g / (self.a[i].sqrt() + delta as f64);
                }
                Rule::Adam {
                    lr,
                    beta1,
                    beta2,
                    delta,
                } => {
                    let (b1, b2, t) = (beta1 as f64, beta2 as f64, self.t as i32);
                    let lr_t = lr as f64 * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
                    self.a[i] += (1.0 - b1) * (g - self.a[i]);
                    self.b[i] += (1.0 - b2) * (g * g - self.b[i]);
                    w[i] -= lr_t * self.a[i] / (self.b[i].sqrt() + delta as f64);
                }
            }
        }
    }
}

// ------------------------------------------------ f32 twins in the kernels' summation order

/// `C[i][j] = c0[i][j] + Σₚ a(i, p)·b(p, j)` in `f32`, adding the products one at a time for
/// `p = 0, 1, …, k − 1`, each product and each sum rounded (no fused multiply-add): the one
/// order every gemm tiling keeps, on every target. The kernels must match it bit for bit.
pub fn gemm_in_order(
    m: usize,
    k: usize,
    n: usize,
    a: impl Fn(usize, usize) -> f32,
    b: impl Fn(usize, usize) -> f32,
    c0: &[f32],
) -> Vec<f32> {
    let mut c = c0[..m * n].to_vec();
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                c[i * n + j] += a(i, p) * b(p, j);
            }
        }
    }
    c
}

/// Direct convolution of one sample in `f32`: each output is its bias plus `w·x` added tap by
/// tap in the filter's order `(c, i, j)`, taps in the padding skipped. Output `(FN, OH, OW)`.
pub fn conv2d_in_order(g: Geom, fnum: usize, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
    let (oh, ow) = (g.oh(), g.ow());
    let mut out = vec![0.0f32; fnum * oh * ow];
    for k in 0..fnum {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut s = bias[k];
                for ch in 0..g.c {
                    for i in 0..g.fh {
                        for j in 0..g.fw {
                            if let Some((y, xx)) = g.pixel(oy, ox, i, j) {
                                s += w[((k * g.c + ch) * g.fh + i) * g.fw + j]
                                    * x[g.at(0, ch, y, xx)];
                            }
                        }
                    }
                }
                out[(k * oh + oy) * ow + ox] = s;
            }
        }
    }
    out
}

/// Max pooling of `maps` (`(C, H, W)` as `pool` says, no padding) with ReLU folded in, as the
/// fused kernel does: each cell is the first largest value of its window in row-major order,
/// starting from 0, and its index `dy·PW + dx` in the window (0 when nothing beats 0).
pub fn relu_max_pool_in_order(pool: Geom, maps: &[f32]) -> (Vec<f32>, Vec<u8>) {
    let (oh, ow) = (pool.oh(), pool.ow());
    let (mut y, mut arg) = (vec![0.0; pool.c * oh * ow], vec![0u8; pool.c * oh * ow]);
    for c in 0..pool.c {
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut best, mut at) = (0.0f32, 0usize);
                for i in 0..pool.fh {
                    for j in 0..pool.fw {
                        let v = maps[pool.at(0, c, oy * pool.stride + i, ox * pool.stride + j)];
                        if v > best {
                            (best, at) = (v, i * pool.fw + j);
                        }
                    }
                }
                let o = (c * oh + oy) * ow + ox;
                (y[o], arg[o]) = (best, at as u8);
            }
        }
    }
    (y, arg)
}
