//! Whole networks: a convnet's backward against the composed twins, a convnet that learns,
//! run-time knobs, the zoo's sizes, and per-sample inference of batch-capacity-0 (device)
//! networks against the batched one from the same blob.

use shinso::layer::flat;
use shinso::zoo::{DoubleConvNet, OnlineConvNet, OnlineMlp};
use shinso::{
    argmax, model, one_hot, stack, ActivationKind, Affine, AvgPool2d, Conv2d, Flatten, Init, Knobs,
    Layer, Loss, MaxPool2d, Network, ReLU, Rng, Rule, TanhLayer, WeightDecay,
};
use shinso_tests::twin::{self, Geom};
use shinso_tests::{assert_close, quantized, samples, H};

type Maps<const C: usize, const H: usize, const W: usize> = [[[f32; W]; H]; C];

/// Conv (2 → 3 channels, 3×3, stride 1, padding 1) → tanh → 2×2 average pool → conv (3 → 2,
/// 2×2, stride 1) → flatten → affine 8 → 3. Smooth everywhere, so the composed `f64` twins
/// give an exact-to-O(h²) numerical gradient.
type SmoothConvNet<const B: usize> = stack![
    Conv2d<2, 6, 6, 3, 3, 3, 1, 1, 6, 6, B>,
    TanhLayer<Maps<3, 6, 6>, B>,
    AvgPool2d<3, 6, 6, 2, 2, 2, 3, 3, B>,
    Conv2d<3, 3, 3, 2, 2, 2, 1, 0, 2, 2, B>,
    Flatten<Maps<2, 2, 2>, [f32; 8], B>,
    Affine<8, 3, B>
];

fn smooth_twin(p: &[f32], x: &[f32]) -> Vec<f64> {
    let n = x.len() / 72;
    let g1 = Geom {
        n,
        c: 2,
        h: 6,
        w: 6,
        fh: 3,
        fw: 3,
        stride: 1,
        pad: 1,
    };
    let (w1, rest) = p.split_at(54);
    let (b1, rest) = rest.split_at(3);
    let (w2, rest) = rest.split_at(24);
    let (b2, rest) = rest.split_at(2);
    let (w3, b3) = rest.split_at(24);
    let h = twin::map(&twin::conv2d(g1, 3, x, w1, b1), f64::tanh);
    let h = twin::avg_pool(
        Geom {
            c: 3,
            fh: 2,
            fw: 2,
            stride: 2,
            pad: 0,
            ..g1
        },
        &h,
    );
    let h = twin::conv2d(
        Geom {
            n,
            c: 3,
            h: 3,
            w: 3,
            fh: 2,
            fw: 2,
            stride: 1,
            pad: 0,
        },
        2,
        &h,
        w2,
        b2,
    );
    twin::affine(8, 3, &h, w3, b3)
}

#[test]
fn convnet_backward() {
    type Net = SmoothConvNet<4>;
    assert_eq!(Network::<Net>::PARAMS, 54 + 3 + 24 + 2 + 24 + 3);
    let mut rng = Rng::new(1);
    let mut net = Network::<Net>::boxed();
    model::params_from(
        &mut net.layers,
        &quantized(&mut rng, Network::<Net>::PARAMS),
    );
    let x: Vec<Maps<2, 6, 6>> = samples(&quantized(&mut rng, 4 * 72));
    let t: Vec<[f32; 3]> = (0..4).map(|i| one_hot(i % 3)).collect();
    let tf: Vec<f64> = flat(&t).iter().map(|v| *v as f64).collect();
    let mut analytic = vec![0.0; Network::<Net>::PARAMS];
    let loss = net
        .gradients(
            &x,
            &t,
            Loss::SoftmaxCrossEntropy,
            WeightDecay::default(),
            &mut analytic,
        )
        .unwrap();
    let p = shinso_tests::params(&mut net.layers);
    let e = |p: &[f32]| twin::softmax_cross_entropy(3, &smooth_twin(p, flat(&x)), &tf);
    assert!((loss as f64 - e(&p)).abs() < 1e-5, "{loss} vs {}", e(&p));
    let mut numeric = vec![0.0; Network::<Net>::PARAMS];
    shinso::gradcheck::numerical_gradient(
        &mut net.layers,
        H,
        |l| e(&shinso_tests::params(l)),
        &mut numeric,
    );
    assert_close("smooth convnet", &analytic, &numeric, 1e-4, 0.1);
}

/// Vertical (class 0) or horizontal (class 1) bar at a random place on an 8×8 image, in noise.
fn bars(rng: &mut Rng, n: usize) -> (Vec<Maps<1, 8, 8>>, Vec<usize>) {
    let mut xs = Vec::new();
    let mut labels = Vec::new();
    for _ in 0..n {
        let mut img = [[[0.0f32; 8]; 8]; 1];
        img[0]
            .iter_mut()
            .flatten()
            .for_each(|v| *v = 0.3 * (rng.uniform() - 0.5));
        let (label, at) = (rng.below(2), rng.below(8));
        for (i, row) in img[0].iter_mut().enumerate() {
            if label == 0 {
                row[at] += 1.0;
            } else if i == at {
                row.iter_mut().for_each(|v| *v += 1.0);
            }
        }
        xs.push(img);
        labels.push(label);
    }
    (xs, labels)
}

/// A small convnet (conv 4×3×3 → ReLU → max pool 2 → affine) learns to tell vertical from
/// horizontal bars: 100 % on 64 fresh images after 150 Adam steps of 16.
#[test]
fn convnet_learns_bars() {
    type Net = stack![
        Conv2d<1, 8, 8, 4, 3, 3, 1, 1, 8, 8, 16>,
        ReLU<Maps<4, 8, 8>, 16>,
        MaxPool2d<4, 8, 8, 2, 2, 2, 4, 4, 16>,
        Flatten<Maps<4, 4, 4>, [f32; 64], 16>,
        Affine<64, 2, 16>
    ];
    let mut rng = Rng::new(3);
    let mut net = Network::<Net>::boxed();
    net.init(Init::He, 3);
    let mut opt = shinso_tests::optimizer::<Net>(Rule::adam(0.01));
    for _ in 0..150 {
        let (x, labels) = bars(&mut rng, 16);
        let t: Vec<[f32; 2]> = labels.iter().map(|l| one_hot(*l)).collect();
        net.train_step(
            &x,
            &t,
            Loss::SoftmaxCrossEntropy,
            WeightDecay::default(),
            &mut opt,
        )
        .unwrap();
    }
    let mut right = 0;
    for _ in 0..4 {
        let (x, labels) = bars(&mut rng, 16);
        let out = net.predict(&x).unwrap();
        right += out
            .iter()
            .zip(&labels)
            .filter(|(o, l)| argmax(*o) == **l)
            .count();
    }
    assert_eq!(right, 64);
}

/// The sizes `shinso::zoo` and the firmware README give for the device's networks.
#[test]
fn zoo_parameter_counts() {
    assert_eq!(Network::<DoubleConvNet<1>>::PARAMS, 12_810);
    assert_eq!(Network::<OnlineConvNet<1>>::PARAMS, 5_258);
    assert_eq!(4 * Network::<DoubleConvNet<1>>::PARAMS, 51_240); // "50 KiB in f32"
                                                                 // The batch capacity is not part of the blob: a model saved from one loads into the other.
    assert_eq!(
        <DoubleConvNet<1> as Layer>::SIGNATURE,
        <DoubleConvNet<50> as Layer>::SIGNATURE
    );
    assert_ne!(
        <DoubleConvNet<1> as Layer>::SIGNATURE,
        <OnlineConvNet<1> as Layer>::SIGNATURE
    );
}

fn knobs(batch_norm: bool, dropout: f32) -> Knobs {
    Knobs {
        activation: ActivationKind::Relu,
        batch_norm,
        dropout,
    }
}

/// Knobs switch batch norm and dropout on and off at run time; inference stays deterministic
/// with dropout on, training does not.
#[test]
fn knobs_switch_layers() {
    let mut net = Network::<OnlineMlp<4>>::boxed();
    net.configure(&knobs(true, 0.5));
    net.init(Init::He, 1);
    let dense = &net.layers.first;
    assert!(dense.second.first.on, "batch norm off");
    assert!(dense.second.second.second.on, "dropout off");
    assert_eq!(dense.second.second.second.layer.ratio, 0.5);
    assert_eq!(dense.second.second.first.f.kind, ActivationKind::Relu);

    let mut rng = Rng::new(2);
    let x: Vec<[f32; 784]> = samples(&shinso_tests::uniform(&mut rng, 4 * 784));
    let a = net.predict(&x).unwrap().to_vec();
    let b = net.predict(&x).unwrap().to_vec();
    assert_eq!(a, b, "inference with dropout is not deterministic");
    let c = net.forward(&x, shinso::Mode::Train).unwrap().to_vec();
    let d = net.forward(&x, shinso::Mode::Train).unwrap().to_vec();
    assert_ne!(c, d, "training with dropout 0.5 drew the same masks twice");

    net.configure(&knobs(false, 0.0));
    assert!(!net.layers.first.second.first.on && !net.layers.first.second.second.second.on);
    let c = net.forward(&x, shinso::Mode::Train).unwrap().to_vec();
    let d = net.forward(&x, shinso::Mode::Train).unwrap().to_vec();
    assert_eq!(c, d);
}

/// Train a `B = 4` network a little (so batch-norm running statistics are not trivial), save
/// it, load the blob into the `B = 0` twin type and compare per-sample `infer` with batched
/// `predict`, within `tol` relative (floor 1).
fn b0_matches<B4: Layer, B0: Layer<In = B4::In, Out = B4::Out>>(
    k: Knobs,
    x: &[B4::In],
    t: &[B4::Out],
    tol: f32,
) {
    let mut net = Network::<B4>::boxed();
    net.configure(&k);
    net.init(Init::He, 5);
    let mut opt = shinso_tests::optimizer::<B4>(Rule::adam(0.01));
    for _ in 0..3 {
        net.train_step(
            x,
            t,
            Loss::SoftmaxCrossEntropy,
            WeightDecay::default(),
            &mut opt,
        )
        .unwrap();
    }
    let mut blob = vec![0u8; model::blob_len::<B4>()];
    net.save(&mut blob).unwrap();
    let mut device = Network::<B0>::boxed();
    device.configure(&k);
    device.load(&blob).unwrap();
    let want = net.predict(x).unwrap().to_vec();
    let mut scratch = vec![f32::NAN; B0::SCRATCH];
    for (xi, wi) in x.iter().zip(&want) {
        let mut y = <B4::Out as bytemuck::Zeroable>::zeroed();
        device.infer(xi, &mut y, &mut scratch).unwrap();
        assert_close(
            "infer (B = 0) vs predict (B = 4)",
            flat(&[y]),
            flat(&[*wi]),
            tol,
            1.0,
        );
    }
    // Non-finite input is refused there too.
    let mut bad = x[0];
    shinso::layer::flat_mut(std::slice::from_mut(&mut bad))[3] = f32::NAN;
    let mut y = <B4::Out as bytemuck::Zeroable>::zeroed();
    assert_eq!(
        device.infer(&bad, &mut y, &mut scratch),
        Err(shinso::Error::NonFiniteInput)
    );
}

#[test]
fn batch_capacity_zero_mlp_with_batchnorm_and_dropout() {
    let mut rng = Rng::new(6);
    let x: Vec<[f32; 784]> = samples(&shinso_tests::uniform(&mut rng, 4 * 784));
    let t: Vec<[f32; 10]> = (0..4).map(one_hot).collect();
    // Same arithmetic per sample: bit for bit would do; allow rounding anyway.
    b0_matches::<OnlineMlp<4>, OnlineMlp<0>>(knobs(true, 0.3), &x, &t, 1e-6);
}

#[test]
fn batch_capacity_zero_convnets() {
    let mut rng = Rng::new(7);
    let x: Vec<Maps<1, 28, 28>> = samples(&shinso_tests::uniform(&mut rng, 4 * 784));
    let t: Vec<[f32; 10]> = (0..4).map(|i| one_hot(i * 2)).collect();
    // B = 4 convolves by im2col + gemm, B = 0 directly: equal to rounding.
    b0_matches::<DoubleConvNet<4>, DoubleConvNet<0>>(knobs(false, 0.0), &x, &t, 1e-4);
    // Average pooling and a second max pool in a net of our own.
    type Own<const B: usize> = stack![
        Conv2d<1, 28, 28, 3, 5, 5, 1, 2, 28, 28, B>,
        ReLU<Maps<3, 28, 28>, B>,
        MaxPool2d<3, 28, 28, 2, 2, 2, 14, 14, B>,
        Conv2d<3, 14, 14, 4, 3, 3, 1, 0, 12, 12, B>,
        TanhLayer<Maps<4, 12, 12>, B>,
        AvgPool2d<4, 12, 12, 3, 3, 3, 4, 4, B>,
        Flatten<Maps<4, 4, 4>, [f32; 64], B>,
        Affine<64, 10, B>
    ];
    b0_matches::<Own<4>, Own<0>>(knobs(false, 0.0), &x, &t, 1e-4);
}
