//! Every layer's and every loss's backward pass against the numerical gradient
//! (`shinso::gradcheck`, central difference) of its `f64` twin, on random inputs.
//!
//! Tolerances (see `shinso_tests::Tol`): forward within `1e-5` relative of the twin; gradients
//! within `1e-4` relative (`1e-5` absolute for entries under 0.1). The numerical gradient is
//! exact up to `O(h²)` because the data are quantized so that `x ± h` is exact in `f32` and
//! the twin is evaluated in `f64`.

use bytemuck::Zeroable;
use shinso::gradcheck::numerical_input_gradient;
use shinso::layer::flat;
use shinso::layers::activation::{Any, Kind};
use shinso::{
    model, one_hot, stack, Activation, Affine, AnyActivation, Dropout, Flatten, IdentityLayer,
    Layer, Loss, Mode, Network, ReLU, Rng, SigmoidLayer, Softmax, StepLayer, TanhLayer, Toggle,
    WeightDecay,
};
use shinso_tests::{
    assert_close, check_layer, dot64, quantized, samples, twin, zeroed, Solo, Tol, H,
};

fn random_params<L: Layer>(layer: &mut L, rng: &mut Rng) {
    let p = quantized(rng, L::PARAMS);
    model::params_from(layer, &p);
}

#[test]
fn affine_backward() {
    fn run<const I: usize, const O: usize>(n: usize, seed: u64) {
        let mut rng = Rng::new(seed);
        let mut layer = Affine::<I, O>::zeroed();
        random_params(&mut layer, &mut rng);
        let mut x: Vec<[f32; I]> = samples(&quantized(&mut rng, n * I));
        let twin = |p: &[f32], x: &[f32]| twin::affine(I, O, x, &p[..I * O], &p[I * O..]);
        check_layer(
            &format!("Affine<{I},{O}> n={n}"),
            &mut layer,
            &mut x,
            twin,
            seed,
            Tol::default(),
        );
    }
    run::<3, 2>(4, 1);
    run::<3, 2>(1, 2); // one sample
    run::<17, 9>(5, 3);
    run::<8, 33>(2, 4);
}

fn check_activation<L: Layer<In = [f32; 12], Out = [f32; 12]>>(
    what: &str,
    mut layer: L,
    g: fn(f64) -> f64,
    seed: u64,
) {
    let mut rng = Rng::new(seed);
    // Spread inputs over (−4, 4) to reach the saturated parts of sigmoid and tanh; scaling by a
    // power of two keeps them quantized (x ± h exact).
    let mut x: Vec<[f32; 12]> = samples(
        &quantized(&mut rng, 3 * 12)
            .iter()
            .map(|v| v * 4.0)
            .collect::<Vec<_>>(),
    );
    check_layer(
        what,
        &mut layer,
        &mut x,
        |_, x| twin::map(x, g),
        seed,
        Tol::default(),
    );
}

#[test]
fn activation_backward() {
    check_activation("ReLU", ReLU::<[f32; 12]>::zeroed(), twin::relu, 1);
    check_activation(
        "Sigmoid",
        SigmoidLayer::<[f32; 12]>::zeroed(),
        twin::sigmoid,
        2,
    );
    check_activation("Tanh", TanhLayer::<[f32; 12]>::zeroed(), f64::tanh, 3);
    check_activation("Identity", IdentityLayer::<[f32; 12]>::zeroed(), |x| x, 4);
    // Step: its derivative is zero wherever it exists (the documented reason it cannot learn),
    // and the numerical gradient away from 0 agrees.
    check_activation("Step", StepLayer::<[f32; 12]>::zeroed(), twin::step, 5);
}

#[test]
fn any_activation_matches_the_fixed_ones() {
    type Scalar = fn(f64) -> f64;
    let table: [(Kind, Scalar); 5] = [
        (Kind::Identity, |x| x),
        (Kind::Relu, twin::relu),
        (Kind::Sigmoid, twin::sigmoid),
        (Kind::Tanh, f64::tanh),
        (Kind::Step, twin::step),
    ];
    for (i, (kind, g)) in table.into_iter().enumerate() {
        let layer = AnyActivation::<[f32; 12]>::new(Any::new(kind));
        check_activation(&format!("Any({kind:?})"), layer, g, 10 + i as u64);
    }
}

/// Activations work on samples of any shape (here a conv feature map).
#[test]
fn activation_on_feature_maps() {
    let mut rng = Rng::new(7);
    let mut layer = Activation::<shinso::layers::activation::TanhFn, [[[f32; 3]; 2]; 2]>::zeroed();
    let mut x: Vec<[[[f32; 3]; 2]; 2]> = samples(&quantized(&mut rng, 2 * 12));
    check_layer(
        "Tanh on 2x2x3 maps",
        &mut layer,
        &mut x,
        |_, x| twin::map(x, f64::tanh),
        7,
        Tol::default(),
    );
}

#[test]
fn softmax_backward() {
    let mut rng = Rng::new(3);
    let mut layer = Softmax::<7>;
    let mut x: Vec<[f32; 7]> = samples(
        &quantized(&mut rng, 4 * 7)
            .iter()
            .map(|v| v * 8.0)
            .collect::<Vec<_>>(),
    );
    check_layer(
        "Softmax",
        &mut layer,
        &mut x,
        |_, x| twin::softmax_rows(7, x),
        3,
        Tol::default(),
    );
}

#[test]
fn flatten_backward() {
    let mut rng = Rng::new(4);
    let mut layer = Flatten::<[[[f32; 3]; 2]; 2], [f32; 12]>::zeroed();
    let mut x: Vec<[[[f32; 3]; 2]; 2]> = samples(&quantized(&mut rng, 3 * 12));
    check_layer(
        "Flatten",
        &mut layer,
        &mut x,
        |_, x| twin::map(x, |v| v),
        4,
        Tol::default(),
    );
}

#[test]
fn toggle_backward() {
    let mut rng = Rng::new(5);
    let mut layer = Toggle::<SigmoidLayer<[f32; 6]>>::zeroed();
    let mut x: Vec<[f32; 6]> = samples(&quantized(&mut rng, 12));
    check_layer(
        "Toggle off",
        &mut layer,
        &mut x,
        |_, x| twin::map(x, |v| v),
        5,
        Tol::default(),
    );
    layer.on = true;
    check_layer(
        "Toggle on",
        &mut layer,
        &mut x,
        |_, x| twin::map(x, twin::sigmoid),
        5,
        Tol::default(),
    );
}

/// A toggled-off layer with parameters reports zero gradients for them, so optimizers leave
/// them alone.
#[test]
fn toggle_off_zeroes_inner_gradients() {
    type L = Toggle<Affine<3, 3>>;
    let mut layer = Solo::<L>::zeroed();
    model::params_from(&mut layer.layer, &[0.5; 12]);
    let mut grad = [7.0f32; 12];
    let x = [[1.0, 2.0, 3.0]; 2];
    let mut y = [[0.0; 3]; 2];
    layer.forward(&x, &mut y, Mode::Train);
    assert_eq!(y, x);
    layer.backward(&x, &y, &[[1.0; 3]; 2], None, &mut grad);
    assert_eq!(grad, [0.0; 12]);
}

/// Dropout's mask is random, so its twin is the layer itself replayed: a copy taken before the
/// forward pass draws the same mask. The gradient must be `dy·mask`, and a central difference
/// through the replayed forward pass must agree.
#[test]
fn dropout_backward() {
    let mut rng = Rng::new(6);
    let mut layer = Solo::<Dropout<[f32; 10]>>::zeroed();
    layer.ratio = 0.4;
    layer.seed(99);
    let x0 = quantized(&mut rng, 40);
    let x: Vec<[f32; 10]> = samples(&x0);
    let mut y = zeroed::<[f32; 10]>(4);
    layer.forward(&x, &mut y, Mode::Train);
    let c = quantized(&mut rng, 40);
    let dy: Vec<[f32; 10]> = samples(&c);
    let mut dx = zeroed::<[f32; 10]>(4);
    layer.backward(&x, &y, &dy, Some(&mut dx), &mut []);

    // Until a step commits it, a training pass leaves the generator where it was: the same
    // layer replays the same mask.
    let mut replay = |xf: &[f32]| {
        let xs: Vec<[f32; 10]> = samples(xf);
        let mut ys = zeroed::<[f32; 10]>(4);
        layer.forward(&xs, &mut ys, Mode::Train);
        flat(&ys).iter().map(|v| *v as f64).collect::<Vec<f64>>()
    };
    let mut xv = x0.clone();
    let mut numeric = vec![0.0; 40];
    numerical_input_gradient(&mut xv, H, |xf| dot64(&c, &replay(xf)), &mut numeric);
    assert_close("Dropout ∂E/∂x", flat(&dx), &numeric, 1e-4, 0.1);
    // Some units were dropped, some kept.
    let kept = flat(&y).iter().filter(|v| **v != 0.0).count();
    assert!(kept > 5 && kept < 40, "kept {kept} of 40");
}

/// A whole network through `Network::gradients`: chain backward, fused loss and the hand-off
/// between layers. The reference is the composed twins, in `f64`.
#[test]
fn network_backward_with_every_loss() {
    type Net = stack![Affine<5, 6>, SigmoidLayer<[f32; 6]>, Affine<6, 4>, TanhLayer<[f32; 4]>, Affine<4, 3>];
    let forward = |p: &[f32], x: &[f32]| {
        let (w1, rest) = p.split_at(30);
        let (b1, rest) = rest.split_at(6);
        let (w2, rest) = rest.split_at(24);
        let (b2, rest) = rest.split_at(4);
        let (w3, b3) = rest.split_at(12);
        let h1 = twin::map(&twin::affine(5, 6, x, w1, b1), twin::sigmoid);
        let h2 = twin::map(&twin::affine(6, 4, &h1, w2, b2), f64::tanh);
        twin::affine(4, 3, &h2, w3, b3)
    };
    let mut rng = Rng::new(11);
    let x: Vec<[f32; 5]> = samples(&quantized(&mut rng, 15));
    for loss in [
        Loss::Mse,
        Loss::SoftmaxCrossEntropy,
        Loss::SigmoidCrossEntropy,
    ] {
        let targets: Vec<[f32; 3]> = match loss {
            Loss::SoftmaxCrossEntropy => vec![one_hot(0), one_hot(2), one_hot(1)],
            _ => samples(
                &quantized(&mut rng, 9)
                    .iter()
                    .map(|v| v.abs())
                    .collect::<Vec<_>>(),
            ),
        };
        let mut net = Network::<Net>::boxed();
        random_params(&mut net.layers, &mut rng);
        let mut analytic = vec![0.0; Network::<Net>::PARAMS];
        let mut arena = vec![0.0; Network::<Net>::gradients_arena(x.len())];
        let decay = WeightDecay::default();
        let value = net
            .gradients(&x, &targets, loss, decay, &mut analytic, &mut arena)
            .unwrap();
        let t = flat(&targets);
        let e = |p: &[f32]| {
            let y = forward(p, flat(&x));
            match loss {
                Loss::Mse => twin::mse(3, &y, &t.iter().map(|v| *v as f64).collect::<Vec<_>>()),
                Loss::SoftmaxCrossEntropy => twin::softmax_cross_entropy(
                    3,
                    &y,
                    &t.iter().map(|v| *v as f64).collect::<Vec<_>>(),
                ),
                Loss::SigmoidCrossEntropy => twin::sigmoid_cross_entropy(
                    3,
                    &y,
                    &t.iter().map(|v| *v as f64).collect::<Vec<_>>(),
                ),
                Loss::CrossEntropy => unreachable!(),
            }
        };
        let p = shinso_tests::params(&mut net.layers);
        assert!(
            ((value as f64) - e(&p)).abs() < 1e-5 * (1.0 + e(&p).abs()),
            "{loss:?}: loss {value} vs {}",
            e(&p)
        );
        let mut numeric = vec![0.0; Network::<Net>::PARAMS];
        shinso::gradcheck::numerical_gradient(
            &mut net.layers,
            H,
            |l| e(&shinso_tests::params(l)),
            &mut numeric,
        );
        assert_close(
            &format!("network with {loss:?}"),
            &analytic,
            &numeric,
            1e-4,
            0.1,
        );
    }
}

/// Each loss's gradient with respect to its input, against the central difference of its
/// `f64` twin, for batches of 1 and 4.
#[test]
fn loss_gradients() {
    const K: usize = 5;
    let mut rng = Rng::new(21);
    for n in [1usize, 4] {
        for loss in [
            Loss::Mse,
            Loss::CrossEntropy,
            Loss::SoftmaxCrossEntropy,
            Loss::SigmoidCrossEntropy,
        ] {
            let mut y = quantized(&mut rng, n * K);
            let d: Vec<f32> = match loss {
                // Probabilities, and targets one-hot (cross-entropy) or in [0, 1].
                Loss::CrossEntropy | Loss::SoftmaxCrossEntropy => {
                    (0..n).flat_map(|_| one_hot::<K>(rng.below(K))).collect()
                }
                Loss::SigmoidCrossEntropy => {
                    quantized(&mut rng, n * K).iter().map(|v| v.abs()).collect()
                }
                Loss::Mse => quantized(&mut rng, n * K),
            };
            if loss == Loss::CrossEntropy {
                // Probabilities bounded away from 0: |q| ∈ (0, 1) quantized, so y ∈ (0.25, 0.75).
                y.iter_mut().for_each(|v| *v = 0.25 + v.abs() / 2.0);
            } else {
                y.iter_mut().for_each(|v| *v *= 4.0);
            }
            let twin_loss = |y: &[f32]| match loss {
                Loss::Mse => twin::mse(K, y, &d),
                Loss::CrossEntropy => twin::cross_entropy(K, y, &d),
                Loss::SoftmaxCrossEntropy => twin::softmax_cross_entropy(K, y, &d),
                Loss::SigmoidCrossEntropy => twin::sigmoid_cross_entropy(K, y, &d),
            };
            let mut dy = vec![0.0; n * K];
            let value = loss.loss_and_grad(&y, &d, K, &mut dy);
            let want = twin_loss(&y);
            assert!(
                ((value as f64) - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "{loss:?} n={n}: {value} vs {want}"
            );
            let mut numeric = vec![0.0; n * K];
            numerical_input_gradient(&mut y, H, twin_loss, &mut numeric);
            assert_close(&format!("{loss:?} n={n}"), &dy, &numeric, 1e-4, 0.1);
        }
    }
}

/// The f32 route the course takes: numerical gradient of the network's own `f32` loss (no
/// twin), checked at the coarser tolerance that `f32` evaluation allows: each loss value is
/// rounded at ~1e-7 relative, divided by 2h ≈ 2.4e-4, i.e. ~1e-3 of the loss; we accept 2e-2
/// relative with floor 0.1.
#[test]
fn network_backward_against_its_own_f32_loss() {
    type Net = stack![Affine<4, 8>, ReLU<[f32; 8]>, Affine<8, 3>];
    let mut rng = Rng::new(31);
    let mut net = Network::<Net>::boxed();
    random_params(&mut net.layers, &mut rng);
    let x: Vec<[f32; 4]> = samples(&quantized(&mut rng, 24));
    let t: Vec<[f32; 3]> = (0..6).map(|i| one_hot(i % 3)).collect();
    let mut analytic = vec![0.0; Network::<Net>::PARAMS];
    let mut arena = vec![0.0; Network::<Net>::gradients_arena(x.len())];
    let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay::default());
    net.gradients(&x, &t, loss, decay, &mut analytic, &mut arena)
        .unwrap();
    let mut numeric = vec![0.0; Network::<Net>::PARAMS];
    let mut out = [[0.0f32; 3]; 6];
    let mut scratch = [0.0f32; 18];
    let mut work = vec![0.0; <Net as Layer>::INFER.at(6)];
    shinso::gradcheck::numerical_gradient(
        &mut net.layers,
        shinso::gradcheck::H,
        |l| {
            l.forward(&x, &mut out, Mode::Infer, &mut [], &mut work);
            Loss::SoftmaxCrossEntropy.loss_and_grad(flat(&out), flat(&t), 3, &mut scratch) as f64
        },
        &mut numeric,
    );
    assert_close("f32 gradcheck", &analytic, &numeric, 2e-2, 0.1);
}
