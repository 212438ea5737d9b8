//! Loss functions with their gradients, over a batch of `n` rows of `k` outputs (flat slices).
//!
//! Every loss is averaged over the batch, so every gradient carries a `1 / n`:
//! - MSE: `½‖y − d‖²` per sample, gradient `(y − d) / n`;
//! - cross-entropy of probabilities: `−Σ d·ln(y + 1e-7) / n`, gradient `−d / (y + 1e-7) / n`;
//! - softmax-with-loss (fused, on logits): gradient `(softmax(x) − d) / n`;
//! - sigmoid-with-loss (binary cross-entropy on logits): gradient `(σ(x) − d) / n`. The course
//!   writes `y − d` for one sample; ours is the same at `n = 1` and matches the averaged loss
//!   (the gradient check holds it to that).
//!
//! The `1e-7` keeps `ln 0` finite. `exp` and `ln` are [`crate::math`]'s (libm, or micromath
//! with the `fast-math` feature).

use crate::layers::softmax::{softmax, softmax_rows};
use crate::math;

/// Guard added inside logarithms, as in the course.
pub const LOG_EPS: f32 = 1e-7;

/// Which loss to apply to a network's outputs; by name in the host's flags and files with the
/// `clap` and `serde` features (`mse`, `cross-entropy`, `softmax-ce`, `sigmoid-ce`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Loss {
    /// Mean squared error on raw outputs (against one-hot targets).
    Mse,
    /// Cross-entropy on outputs that already are probabilities (after a `Softmax` layer).
    #[cfg_attr(feature = "clap", value(skip))]
    CrossEntropy,
    /// Softmax then cross-entropy, fused: the network outputs logits (the course's
    /// SoftmaxWithLoss).
    #[cfg_attr(feature = "serde", serde(rename = "softmax-ce"))]
    #[cfg_attr(feature = "clap", value(name = "softmax-ce"))]
    SoftmaxCrossEntropy,
    /// Sigmoid then binary cross-entropy per output, fused: the network outputs logits.
    #[cfg_attr(feature = "serde", serde(rename = "sigmoid-ce"))]
    #[cfg_attr(feature = "clap", value(name = "sigmoid-ce"))]
    SigmoidCrossEntropy,
}

impl Loss {
    /// Loss of outputs `y` against targets `d` (`n·k` floats each, `k` per row); writes
    /// `∂E/∂y` into `dy`.
    pub fn loss_and_grad(self, y: &[f32], d: &[f32], k: usize, dy: &mut [f32]) -> f32 {
        let n = y.len() / k.max(1);
        let inv_n = 1.0 / n.max(1) as f32;
        if self == Loss::SoftmaxCrossEntropy {
            // All rows' probabilities first, in one pass (their exponentials vectorise).
            softmax_rows(y, dy, k);
        }
        let mut total = 0.0;
        let rows = y
            .chunks_exact(k)
            .zip(d.chunks_exact(k))
            .zip(dy.chunks_exact_mut(k));
        for ((yr, dr), gr) in rows {
            total += match self {
                Loss::Mse => mse_row(yr, dr, gr),
                Loss::CrossEntropy => cross_entropy_row(yr, dr, gr),
                Loss::SoftmaxCrossEntropy => softmax_cross_entropy_row(dr, gr),
                Loss::SigmoidCrossEntropy => sigmoid_cross_entropy_row(yr, dr, gr),
            };
            gr.iter_mut().for_each(|g| *g *= inv_n);
        }
        total * inv_n
    }

    /// Turn the network's raw outputs into what the loss compares (probabilities for the fused
    /// losses); used to report predictions.
    pub fn output(self, raw: &[f32], out: &mut [f32]) {
        match self {
            Loss::SoftmaxCrossEntropy => softmax(raw, out),
            Loss::SigmoidCrossEntropy => raw
                .iter()
                .zip(out)
                .for_each(|(x, o)| *o = 1.0 / (1.0 + math::exp(-x))),
            Loss::Mse | Loss::CrossEntropy => out.copy_from_slice(raw),
        }
    }
}

fn mse_row(y: &[f32], d: &[f32], g: &mut [f32]) -> f32 {
    let mut sum = 0.0;
    for ((yi, di), gi) in y.iter().zip(d).zip(g) {
        *gi = yi - di;
        sum += *gi * *gi;
    }
    0.5 * sum
}

fn cross_entropy_row(y: &[f32], d: &[f32], g: &mut [f32]) -> f32 {
    let mut sum = 0.0;
    for ((yi, di), gi) in y.iter().zip(d).zip(g) {
        sum -= di * math::ln(yi + LOG_EPS);
        *gi = -di / (yi + LOG_EPS);
    }
    sum
}

/// The loss of one row whose probabilities `g` already holds (`softmax_rows`), which become
/// its gradient.
fn softmax_cross_entropy_row(d: &[f32], g: &mut [f32]) -> f32 {
    let mut sum = 0.0;
    for (gi, &di) in g.iter_mut().zip(d) {
        // A class the target gives no weight adds exactly nothing (`0·ln(p + ε)` is ±0 for a
        // probability `p`, and `sum − ±0` is `sum`) unless `p` is NaN: for one-hot targets one
        // logarithm per sample instead of one per class, the same floats.
        if di != 0.0 || gi.is_nan() {
            sum -= di * math::ln(*gi + LOG_EPS);
        }
        *gi -= di;
    }
    sum
}

fn sigmoid_cross_entropy_row(x: &[f32], d: &[f32], g: &mut [f32]) -> f32 {
    let mut sum = 0.0;
    for ((xi, di), gi) in x.iter().zip(d).zip(g) {
        let y = 1.0 / (1.0 + math::exp(-xi));
        sum -= di * math::ln(y + LOG_EPS) + (1.0 - di) * math::ln(1.0 - y + LOG_EPS);
        *gi = y - di;
    }
    sum
}

/// Index of the largest value; the first one on ties; NaN never wins (all NaN gives 0). For
/// a prediction use [`class_of`], which refuses scores that are not all finite.
pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in x.iter().enumerate() {
        if *v > x[best] || x[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best
}

/// The predicted class of one row of scores, by the one rule the host and the device share:
/// the [`argmax`], first on ties. A row with NaN or an infinity in it has no class (a network
/// that produces one is broken, and its "class 9 of ten NaNs" would be a lie).
pub fn class_of(scores: &[f32]) -> Result<usize, crate::Error> {
    if scores.is_empty() || !scores.iter().all(|s| s.is_finite()) {
        return Err(crate::Error::NonFiniteOutput);
    }
    Ok(argmax(scores))
}

/// One-hot row for class `label` (`k` outputs; labels out of range give all zeros).
pub fn one_hot<const K: usize>(label: usize) -> [f32; K] {
    let mut row = [0.0; K];
    if let Some(r) = row.get_mut(label) {
        *r = 1.0;
    }
    row
}
