//! `exp` and `ln` and what uses them, to compare libm (default) with micromath (`fast-math`):
//!
//! ```text
//! cargo bench -p shinso --bench math                        # libm
//! cargo bench -p shinso --bench math --features fast-math   # micromath
//! ```
//!
//! Sizes: 1,000 arguments in the ranges softmax and the losses see; softmax and the fused
//! softmax cross-entropy over the course's MLP outputs (100 samples × 10 classes); a sigmoid
//! layer over its first hidden layer (100 × 40).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use shinso::layers::softmax::softmax;
use shinso::math::{exp, ln};
use shinso::{one_hot, Layer, Loss, Mode, Rng, SigmoidLayer};

const BATCH: usize = 100;

fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| lo + (hi - lo) * rng.uniform()).collect()
}

fn scalar(c: &mut Criterion) {
    let (x, p) = (uniform(1000, -20.0, 0.0, 1), uniform(1000, 1e-7, 1.0, 2));
    let mut y = vec![0.0f32; 1000];
    c.bench_function("exp ×1000", |b| {
        b.iter(|| {
            y.iter_mut()
                .zip(black_box(&x))
                .for_each(|(o, &v)| *o = exp(v))
        })
    });
    c.bench_function("ln ×1000", |b| {
        b.iter(|| {
            y.iter_mut()
                .zip(black_box(&p))
                .for_each(|(o, &v)| *o = ln(v))
        })
    });
}

fn layers(c: &mut Criterion) {
    let logits = uniform(BATCH * 10, -5.0, 5.0, 3);
    let mut out = vec![0.0f32; BATCH * 10];
    c.bench_function("softmax 100×10", |b| {
        b.iter(|| {
            for (x, y) in black_box(&logits).chunks(10).zip(out.chunks_mut(10)) {
                softmax(x, y);
            }
        })
    });
    let targets: Vec<f32> = (0..BATCH).flat_map(|i| one_hot::<10>(i % 10)).collect();
    c.bench_function("softmax cross-entropy 100×10", |b| {
        b.iter(|| {
            Loss::SoftmaxCrossEntropy.loss_and_grad(black_box(&logits), &targets, 10, &mut out)
        })
    });
    let x: Vec<[f32; 40]> = uniform(BATCH * 40, -4.0, 4.0, 4)
        .chunks(40)
        .map(|r| r.try_into().expect("40 floats"))
        .collect();
    let mut y = vec![[0.0f32; 40]; BATCH];
    let sigmoid = SigmoidLayer::<[f32; 40]>::ZERO;
    c.bench_function("sigmoid forward 100×40", |b| {
        b.iter(|| sigmoid.forward(black_box(&x), &mut y, Mode::Infer, &mut [], &mut []))
    });
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = scalar, layers
}
criterion_main!(benches);
