//! One training step (forward, backward, optimizer update) on a batch of 100, for the course's
//! MLP (SGD, as the course trains it) and simple convnet (Adam), and the device's two nets.
//!
//! ```text
//! cargo bench -p shinso --bench training
//! ```
//!
//! Inputs are random pixels in [0, 1): the work per step does not depend on the data (the
//! CLI's `shinso bench` times the same step on MNIST).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shinso::{one_hot, zoo, Init, Knobs, Layer, Loss, Network, Optimizer, Rng, Rule, WeightDecay};

const BATCH: usize = 100;

fn step<L>(c: &mut Criterion, name: &str, rule: Rule)
where
    L: Layer<Out = [f32; 10]>,
{
    let mut net = Network::<L>::boxed();
    net.configure(&Knobs::default());
    net.init(Init::He, 1);
    let params = Network::<L>::PARAMS;
    let mut opt = Optimizer::new(rule, params, vec![0.0; rule.state_len(params)]).unwrap();
    let mut arena = vec![0.0; Network::<L>::train_arena(BATCH)];
    let mut rng = Rng::new(2);
    let pixels: Vec<f32> = (0..BATCH * 784).map(|_| rng.uniform()).collect();
    let x: &[L::In] = bytemuck::cast_slice(&pixels);
    let t: Vec<[f32; 10]> = (0..BATCH).map(|i| one_hot(i % 10)).collect();
    let mut group = c.benchmark_group("train step, batch 100");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let loss = Loss::SoftmaxCrossEntropy;
            let decay = WeightDecay::default();
            black_box(net.train_step(x, &t, loss, decay, &mut opt, &mut arena))
        })
    });
    group.finish();
}

fn steps(c: &mut Criterion) {
    step::<zoo::Mlp>(c, "mlp 784-40-20-10, SGD", Rule::sgd(0.1));
    step::<zoo::SimpleConvNet>(c, "simple-convnet, Adam", Rule::adam(0.001));
    step::<zoo::DoubleConvNet>(c, "double-convnet, Adam", Rule::adam(0.001));
    step::<zoo::OnlineConvNet>(c, "online-convnet, Adam", Rule::adam(0.001));
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = steps
}
criterion_main!(benches);
