//! What the examples share: a way to state a claim that fails loudly, a small synthetic data
//! set, a trainer loop and an accuracy measure, all on the core's public API.
//!
//! Each example uses only some of these, hence the `allow`.
#![allow(dead_code)]

use shinso::{argmax, one_hot, Error, Layer, Loss, Network, Optimizer, Rng, Rule, WeightDecay};

/// Print a claim the example makes and stop the example (exit code 1) if it does not hold, so
/// that a broken core fails CI rather than printing wrong numbers.
pub fn claim(what: &str, holds: bool) {
    if holds {
        println!("  ok: {what}");
    } else {
        eprintln!("  FAILED: {what}");
        std::process::exit(1);
    }
}

/// `K` classes of `D`-dimensional points: class `c` is a Gaussian cloud (σ = `spread`) around
/// its own centre, drawn once from `Rng::new(99)` so every call sees the same centres.
pub struct Blobs<const D: usize, const K: usize> {
    centres: [[f32; D]; K],
    spread: f32,
}

impl<const D: usize, const K: usize> Blobs<D, K> {
    pub fn new(spread: f32) -> Self {
        let mut rng = Rng::new(99);
        let mut centres = [[0.0; D]; K];
        for c in centres.iter_mut().flatten() {
            *c = 2.0 * rng.normal();
        }
        Self { centres, spread }
    }

    /// One labelled point.
    pub fn sample(&self, rng: &mut Rng) -> ([f32; D], usize) {
        let label = rng.below(K);
        let mut x = self.centres[label];
        for v in &mut x {
            *v += self.spread * rng.normal();
        }
        (x, label)
    }

    /// `n` labelled points from `seed`, with their one-hot targets.
    pub fn draw(&self, n: usize, seed: u64) -> Set<[f32; D], K> {
        let mut rng = Rng::new(seed);
        let (x, labels): (Vec<_>, Vec<_>) = (0..n).map(|_| self.sample(&mut rng)).unzip();
        Set::new(x, labels)
    }
}

/// Inputs (samples of type `I`), labels and one-hot targets of a data set.
pub struct Set<I, const K: usize> {
    pub x: Vec<I>,
    pub labels: Vec<usize>,
    pub t: Vec<[f32; K]>,
}

impl<I, const K: usize> Set<I, K> {
    pub fn new(x: Vec<I>, labels: Vec<usize>) -> Self {
        let t = labels.iter().map(|&l| one_hot(l)).collect();
        Self { x, labels, t }
    }
}

/// An optimizer for `rule` with its state on the heap.
pub fn optimizer<L: Layer>(rule: Rule) -> Optimizer<Vec<f32>> {
    let params = Network::<L>::PARAMS;
    Optimizer::new(rule, params, vec![0.0; rule.state_len(params)])
        .expect("the state is sized by the rule")
}

/// Share of `x` the network classifies as `labels` says (outputs compared by argmax).
pub fn accuracy<L: Layer>(net: &Network<L>, x: &[L::In], labels: &[usize]) -> Result<f32, Error>
where
    L::Out: AsRef<[f32]>,
{
    let mut arena = vec![0.0; Network::<L>::predict_arena(x.len())];
    let out = net.predict(x, &mut arena)?;
    let right = out
        .iter()
        .zip(labels)
        .filter(|(o, &l)| argmax(o.as_ref()) == l)
        .count();
    Ok(right as f32 / x.len().max(1) as f32)
}

/// The loss of the whole set, without training (inference mode: dropout off, batch norm on
/// its running statistics).
pub fn loss<L: Layer>(net: &Network<L>, x: &[L::In], t: &[L::Out], loss: Loss) -> Result<f32, Error>
where
    L::Out: AsRef<[f32]>,
{
    let k = Network::<L>::OUTPUTS;
    let mut arena = vec![0.0; Network::<L>::predict_arena(x.len())];
    let out = net.predict(x, &mut arena)?;
    let flat_out: Vec<f32> = out
        .iter()
        .flat_map(|o| o.as_ref().iter().copied())
        .collect();
    let flat_t: Vec<f32> = t.iter().flat_map(|o| o.as_ref().iter().copied()).collect();
    let mut grad = vec![0.0; flat_out.len()];
    Ok(loss.loss_and_grad(&flat_out, &flat_t, k, &mut grad))
}

/// Mini-batch training: `steps` steps of `batch` samples drawn by reshuffling `set` every
/// epoch (seeded), with a softmax cross-entropy loss.
pub fn train<L, const K: usize>(
    net: &mut Network<L>,
    set: &Set<L::In, K>,
    rule: Rule,
    decay: WeightDecay,
    batch: usize,
    steps: usize,
    seed: u64,
) -> Result<(), Error>
where
    L: Layer<Out = [f32; K]>,
{
    let mut opt = optimizer::<L>(rule);
    let mut arena = vec![0.0; Network::<L>::train_arena(batch)];
    let mut order: Vec<usize> = (0..set.x.len()).collect();
    let mut rng = Rng::new(seed);
    let (mut x, mut t) = (Vec::with_capacity(batch), Vec::with_capacity(batch));
    let mut pos = order.len();
    for _ in 0..steps {
        x.clear();
        t.clear();
        while x.len() < batch {
            if pos == order.len() {
                rng.shuffle(&mut order);
                pos = 0;
            }
            x.push(set.x[order[pos]]);
            t.push(set.t[order[pos]]);
            pos += 1;
        }
        let loss = Loss::SoftmaxCrossEntropy;
        net.train_step(&x, &t, loss, decay, &mut opt, &mut arena)?;
    }
    Ok(())
}
