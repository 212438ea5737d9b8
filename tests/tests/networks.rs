//! Whole networks: a convnet's backward against the composed twins, a convnet that learns,
//! run-time knobs, the zoo's sizes; the arena plans (exactly that much arena suffices, filled
//! with NaN so that reading what was not written shows; one float less is an error); and
//! one-sample inference, as a device runs it, against batched inference.

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
type SmoothConvNet = stack![
    Conv2d<2, 6, 6, 3, 3, 3, 1, 1, 6, 6>,
    TanhLayer<Maps<3, 6, 6>>,
    AvgPool2d<3, 6, 6, 2, 2, 2, 3, 3>,
    Conv2d<3, 3, 3, 2, 2, 2, 1, 0, 2, 2>,
    Flatten<Maps<2, 2, 2>, [f32; 8]>,
    Affine<8, 3>
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
    type Net = SmoothConvNet;
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
    let mut arena = vec![0.0; Network::<Net>::gradients_arena(4)];
    let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay::default());
    let loss = net
        .gradients(&x, &t, loss, decay, &mut analytic, &mut arena)
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
        Conv2d<1, 8, 8, 4, 3, 3, 1, 1, 8, 8>,
        ReLU<Maps<4, 8, 8>>,
        MaxPool2d<4, 8, 8, 2, 2, 2, 4, 4>,
        Flatten<Maps<4, 4, 4>, [f32; 64]>,
        Affine<64, 2>
    ];
    let mut rng = Rng::new(3);
    let mut net = Network::<Net>::boxed();
    net.init(Init::He, 3);
    let mut opt = shinso_tests::optimizer::<Net>(Rule::adam(0.01));
    let mut arena = shinso_tests::train_arena::<Net>(16);
    let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay::default());
    for _ in 0..150 {
        let (x, labels) = bars(&mut rng, 16);
        let t: Vec<[f32; 2]> = labels.iter().map(|l| one_hot(*l)).collect();
        net.train_step(&x, &t, loss, decay, &mut opt, &mut arena)
            .unwrap();
    }
    let mut right = 0;
    for _ in 0..4 {
        let (x, labels) = bars(&mut rng, 16);
        let out = net.predict(&x, &mut arena).unwrap();
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
    assert_eq!(Network::<DoubleConvNet>::PARAMS, 12_810);
    assert_eq!(Network::<OnlineConvNet>::PARAMS, 5_258);
    assert_eq!(4 * Network::<DoubleConvNet>::PARAMS, 51_240); // "50 KiB in f32"
    assert_ne!(
        <DoubleConvNet as Layer>::SIGNATURE,
        <OnlineConvNet as Layer>::SIGNATURE
    );
    // A network is its parameters: nothing else lives in it.
    assert_eq!(size_of::<Network<DoubleConvNet>>(), 51_240);
}

/// A zoo MLP straight from `boxed()` whose `configure` was forgotten is not quietly a linear
/// model: its activations have no function, so its scores are NaN (no class) and a training
/// step refuses its loss. Configured, the same network gives finite scores.
#[test]
fn unconfigured_activations_fail_loudly() {
    type Net = OnlineMlp;
    let mut net = Network::<Net>::boxed();
    net.init(Init::He, 3);
    let x = [bytemuck::Zeroable::zeroed(); 2];
    let mut arena = vec![0.0; Network::<Net>::train_arena(2)];
    let scores = net.predict(&x, &mut arena).unwrap().to_vec();
    for row in &scores {
        assert!(row.iter().all(|s| s.is_nan()), "{row:?}");
        assert_eq!(shinso::class_of(row), Err(shinso::Error::NonFiniteOutput));
    }
    let t = [one_hot::<10>(1), one_hot(2)];
    let mut opt = shinso_tests::optimizer::<Net>(Rule::sgd(0.1));
    let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay::default());
    let step = net.train_step(&x, &t, loss, decay, &mut opt, &mut arena);
    assert_eq!(step, Err(shinso::Error::NonFiniteLoss));
    net.configure(&Knobs::default());
    let scores = net.predict(&x, &mut arena).unwrap();
    assert!(scores.iter().flatten().all(|s| s.is_finite()));
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
    let mut net = Network::<OnlineMlp>::boxed();
    net.configure(&knobs(true, 0.5));
    net.init(Init::He, 1);
    let dense = &net.layers.first;
    assert!(dense.second.first.on, "batch norm off");
    assert!(dense.second.second.second.on, "dropout off");
    assert_eq!(dense.second.second.second.layer.ratio, 0.5);
    assert_eq!(
        dense.second.second.first.f.kind(),
        Some(ActivationKind::Relu)
    );

    let mut rng = Rng::new(2);
    let x: Vec<[f32; 784]> = samples(&shinso_tests::uniform(&mut rng, 4 * 784));
    let mut arena = shinso_tests::train_arena::<OnlineMlp>(4);
    let a = net.predict(&x, &mut arena).unwrap().to_vec();
    let b = net.predict(&x, &mut arena).unwrap().to_vec();
    assert_eq!(a, b, "inference with dropout is not deterministic");
    // Two accepted training steps draw two masks: the gradients differ (with a learning rate
    // of 0 the weights stay put, so only the masks can make them differ).
    let t: Vec<[f32; 10]> = (0..4).map(one_hot).collect();
    let mut opt = shinso_tests::optimizer::<OnlineMlp>(Rule::sgd(0.0));
    let mut grads_of_a_step = |net: &mut Network<OnlineMlp>| {
        let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay::default());
        net.train_step(&x, &t, loss, decay, &mut opt, &mut arena)
            .unwrap();
        arena[..Network::<OnlineMlp>::PARAMS].to_vec()
    };
    let (c, d) = (grads_of_a_step(&mut net), grads_of_a_step(&mut net));
    assert_ne!(c, d, "training with dropout 0.5 drew the same masks twice");

    net.configure(&knobs(false, 0.0));
    assert!(!net.layers.first.second.first.on && !net.layers.first.second.second.second.on);
    let (c, d) = (grads_of_a_step(&mut net), grads_of_a_step(&mut net));
    assert_eq!(c, d);
}

/// A buffer of `n` NaNs: a layer that reads scratch or cache it did not write turns its
/// results into NaN, which the checks below catch.
fn nans(n: usize) -> Vec<f32> {
    vec![f32::NAN; n]
}

/// Train a network a little on `x` (so batch-norm running statistics are not trivial), then
/// check its arena plans at the batch size of `x` and at one sample:
/// - `predict`, `gradients` and `train_step` succeed with exactly `predict_arena(n)`,
///   `gradients_arena(n)`, `train_arena(n)` floats of NaN, and give the bits they give with a
///   roomy zeroed arena;
/// - one float less is `Error::ArenaTooSmall` with the sizes, and changes nothing;
/// - predicting one sample at a time (as the device does) matches the batched prediction
///   within `tol` relative (the kernels may sum in another order for one row).
fn arena_plans_hold<L: Layer>(k: Knobs, x: &[L::In], t: &[L::Out], tol: f32) {
    let mut net = Network::<L>::boxed();
    net.configure(&k);
    net.init(Init::He, 5);
    let rule = Rule::adam(0.01);
    let mut opt = shinso_tests::optimizer::<L>(rule);
    let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay { l1: 0.0, l2: 1e-3 });
    let roomy = |n| vec![0.0; 2 * Network::<L>::train_arena(n) + 64];
    for _ in 0..3 {
        net.train_step(x, t, loss, decay, &mut opt, &mut roomy(x.len()))
            .unwrap();
    }
    let blob = |net: &mut Network<L>| {
        let mut b = vec![0u8; model::blob_len::<L>()];
        net.save(&mut b).unwrap();
        b
    };
    for n in [x.len(), 1] {
        let (x, t) = (&x[..n], &t[..n]);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        let too_small = |needed| shinso::Error::ArenaTooSmall {
            needed,
            found: needed - 1,
        };

        let need = Network::<L>::predict_arena(n);
        let want = bits(flat(net.predict(x, &mut roomy(n)).unwrap()));
        assert_eq!(bits(flat(net.predict(x, &mut nans(need)).unwrap())), want);
        assert_eq!(
            net.predict(x, &mut nans(need - 1)).err(),
            Some(too_small(need))
        );

        let need = Network::<L>::gradients_arena(n);
        let p = Network::<L>::PARAMS;
        let (mut g1, mut g2) = (vec![0.0; p], vec![0.0; p]);
        let l1 = net
            .gradients(x, t, loss, decay, &mut g1, &mut roomy(n))
            .unwrap();
        let l2 = net
            .gradients(x, t, loss, decay, &mut g2, &mut nans(need))
            .unwrap();
        assert_eq!(
            (l1.to_bits(), bits(&g1)),
            (l2.to_bits(), bits(&g2)),
            "n = {n}"
        );
        let r = net.gradients(x, t, loss, decay, &mut g2, &mut nans(need - 1));
        assert_eq!(r, Err(too_small(need)));
        assert_eq!(
            net.gradients(x, t, loss, decay, &mut g2[..p - 1], &mut roomy(n)),
            Err(too_small(p))
        );

        // A step one float short is refused and changes nothing; with exactly enough it is
        // taken, and its gradients (at the arena's front) are the ones computed above.
        let need = Network::<L>::train_arena(n);
        let (before, steps) = (blob(&mut net), opt.steps());
        let r = net.train_step(x, t, loss, decay, &mut opt, &mut nans(need - 1));
        assert_eq!(r, Err(too_small(need)));
        assert_eq!((blob(&mut net), opt.steps()), (before, steps));
        let mut arena = nans(need);
        let value = net.train_step(x, t, loss, decay, &mut opt, &mut arena);
        assert_eq!(value.map(f32::to_bits), Ok(l1.to_bits()), "n = {n}");
        assert_eq!(bits(&arena[..p]), bits(&g1), "n = {n}");
        assert_eq!(opt.steps(), steps + 1);
    }

    // One sample at a time with exactly the arena of one, against the batch.
    let want = net.predict(x, &mut roomy(x.len())).unwrap().to_vec();
    for (xi, wi) in x.iter().zip(&want) {
        let mut arena = nans(Network::<L>::predict_arena(1));
        let y = net.predict(std::slice::from_ref(xi), &mut arena).unwrap();
        assert_close(
            "one sample vs the batch",
            flat(y),
            flat(std::slice::from_ref(wi)),
            tol,
            1.0,
        );
    }
    // Non-finite input is refused there too.
    let mut bad = x[0];
    shinso::layer::flat_mut(std::slice::from_mut(&mut bad))[3] = f32::NAN;
    let mut arena = roomy(1);
    let r = net.predict(std::slice::from_ref(&bad), &mut arena);
    assert_eq!(r.err(), Some(shinso::Error::NonFiniteInput));
}

#[test]
fn arena_plans_mlp_with_batchnorm_and_dropout() {
    let mut rng = Rng::new(6);
    let x: Vec<[f32; 784]> = samples(&shinso_tests::uniform(&mut rng, 4 * 784));
    let t: Vec<[f32; 10]> = (0..4).map(one_hot).collect();
    arena_plans_hold::<OnlineMlp>(knobs(true, 0.3), &x, &t, 1e-6);
}

#[test]
fn arena_plans_convnets() {
    let mut rng = Rng::new(7);
    let x: Vec<Maps<1, 28, 28>> = samples(&shinso_tests::uniform(&mut rng, 4 * 784));
    let t: Vec<[f32; 10]> = (0..4).map(|i| one_hot(i * 2)).collect();
    arena_plans_hold::<DoubleConvNet>(knobs(false, 0.0), &x, &t, 1e-5);
    arena_plans_hold::<OnlineConvNet>(knobs(false, 0.0), &x, &t, 1e-5);
    // Average pooling, a second max pool, im2col convolutions, in a net of our own.
    type Own = stack![
        Conv2d<1, 28, 28, 3, 5, 5, 1, 2, 28, 28>,
        ReLU<Maps<3, 28, 28>>,
        MaxPool2d<3, 28, 28, 2, 2, 2, 14, 14>,
        Conv2d<3, 14, 14, 4, 3, 3, 1, 0, 12, 12>,
        TanhLayer<Maps<4, 12, 12>>,
        AvgPool2d<4, 12, 12, 3, 3, 3, 4, 4>,
        Flatten<Maps<4, 4, 4>, [f32; 64]>,
        Affine<64, 10>
    ];
    arena_plans_hold::<Own>(knobs(false, 0.0), &x, &t, 1e-5);
}
