//! Batch normalisation: backward against the numerical gradient of the `f64` twin (dense and
//! per-channel, batch statistics and fixed statistics); per-feature zero mean and unit variance
//! in training; running statistics (momentum 0.9), moved only when a step is accepted, used at
//! inference and saved with the model; untouched by optimizers and weight decay.

use bytemuck::Zeroable;
use shinso::kernels::batchnorm::EPS;
use shinso::layer::flat;
use shinso::{
    model, stack, Affine, BatchNorm1d, BatchNorm2d, Init, Layer, Loss, Mode, Network, Rng, Rule,
    SigmoidLayer, Tensor, TensorKind, WeightDecay,
};
use shinso_tests::{
    assert_close, check_layer, quantized, samples, to_f32, twin, uniform, zeroed, Solo, Tol,
};

const EPS64: f64 = EPS as f64;

/// γ and β random (γ away from 0), running statistics untouched.
fn random_scale_shift<L: Layer>(layer: &mut L, rng: &mut Rng) {
    let mut p = quantized(rng, L::PARAMS);
    let c = L::PARAMS / 2;
    p[..c].iter_mut().for_each(|g| *g = 0.5 + g.abs());
    model::params_from(layer, &p);
}

/// Tolerance: batch normalisation of `n` samples sums `n` terms per channel and divides by a
/// standard deviation around 0.5; the default `1e-4` relative holds.
#[test]
fn batchnorm1d_backward_with_batch_statistics() {
    let mut rng = Rng::new(1);
    for n in [2usize, 5, 8] {
        let mut bn = BatchNorm1d::<6>::zeroed();
        bn.init(Init::He, &mut rng);
        random_scale_shift(&mut bn, &mut rng);
        let mut x: Vec<[f32; 6]> = samples(&quantized(&mut rng, n * 6));
        let twin = |p: &[f32], x: &[f32]| twin::batchnorm_train(6, x, &p[..6], &p[6..], EPS64);
        check_layer(
            &format!("BatchNorm1d n={n}"),
            &mut bn,
            &mut x,
            twin,
            n as u64,
            Tol::default(),
        );
    }
}

#[test]
fn batchnorm2d_backward_with_batch_statistics() {
    let mut rng = Rng::new(2);
    // (A batch of one uses the running statistics, as documented: checked below.)
    for n in [2usize, 3] {
        let mut bn = BatchNorm2d::<3, 3, 4>::zeroed();
        bn.init(Init::He, &mut rng);
        random_scale_shift(&mut bn, &mut rng);
        let mut x: Vec<[[[f32; 4]; 3]; 3]> = samples(&quantized(&mut rng, n * 36));
        let twin =
            |p: &[f32], x: &[f32]| twin::batchnorm2d_train(3, 12, x, &p[..3], &p[3..], EPS64);
        check_layer(
            &format!("BatchNorm2d n={n}"),
            &mut bn,
            &mut x,
            twin,
            n as u64,
            Tol::default(),
        );
    }
}

/// With fixed statistics (inference, or a training batch of one) batch norm is the affine map
/// `γ (x − μ_run)/√(σ²_run + ε) + β`, and its backward must be that map's gradient.
#[test]
fn batchnorm_backward_with_running_statistics() {
    let mut rng = Rng::new(3);
    let mut bn = Solo::<BatchNorm2d<2, 2, 3>>::zeroed();
    bn.init(Init::He, &mut rng);
    random_scale_shift(&mut bn.layer, &mut rng);
    bn.running_mean = [0.25, -0.5];
    bn.running_var = [0.5, 2.0];
    let (rm, rv) = (bn.running_mean, bn.running_var);
    let twin = move |p: &[f32], x: &[f32]| {
        x.iter()
            .enumerate()
            .map(|(i, v)| {
                let ch = i / 6 % 2;
                let xhat = (*v as f64 - rm[ch] as f64) / (rv[ch] as f64 + EPS64).sqrt();
                p[ch] as f64 * xhat + p[2 + ch] as f64
            })
            .collect::<Vec<f64>>()
    };
    let mut x: Vec<[[[f32; 3]; 2]; 2]> = samples(&quantized(&mut rng, 12));
    check_layer(
        "BatchNorm2d, one-sample training batch",
        &mut bn.layer,
        &mut x,
        twin,
        3,
        Tol::default(),
    );
    // A batch of one changes no running statistic, even when accepted.
    let mut y1 = zeroed::<[[[f32; 3]; 2]; 2]>(1);
    bn.forward(&x, &mut y1, Mode::Train);
    bn.commit(1);
    assert_eq!((bn.running_mean, bn.running_var), (rm, rv));
    // Inference on several samples computes the same map.
    let x: Vec<[[[f32; 3]; 2]; 2]> = samples(&quantized(&mut rng, 36));
    let mut y = zeroed::<[[[f32; 3]; 2]; 2]>(3);
    bn.forward(&x, &mut y, Mode::Infer);
    let p = shinso_tests::params(&mut bn.layer);
    assert_close(
        "BatchNorm2d inference",
        flat(&y),
        &to_f32(&twin(&p, flat(&x))),
        1e-5,
        1.0,
    );
    assert_eq!((bn.running_mean, bn.running_var), (rm, rv));
}

/// Training output: every feature has mean 0 and variance 1 over the batch (γ = 1, β = 0),
/// whatever the input's scale and offset; then `γ`, `β` scale and shift it.
#[test]
fn training_normalises_each_feature() {
    let mut rng = Rng::new(4);
    let mut bn = Solo::<BatchNorm1d<5>>::zeroed();
    bn.init(Init::He, &mut rng);
    // Feature j: offset 10·j − 20, scale 1 + j.
    let x: Vec<[f32; 5]> = (0..32)
        .map(|_| {
            core::array::from_fn(|j| {
                (10.0 * j as f32 - 20.0) + (1.0 + j as f32) * (2.0 * rng.uniform() - 1.0)
            })
        })
        .collect();
    let mut y = zeroed::<[f32; 5]>(32);
    bn.forward(&x, &mut y, Mode::Train);
    for j in 0..5 {
        let col: Vec<f64> = y.iter().map(|r| r[j] as f64).collect();
        let mean = col.iter().sum::<f64>() / 32.0;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 32.0;
        assert!(mean.abs() < 1e-5, "feature {j}: mean {mean}");
        assert!((var - 1.0).abs() < 1e-4, "feature {j}: variance {var}");
    }
    bn.gamma = [2.0; 5];
    bn.beta = [-3.0; 5];
    bn.forward(&x, &mut y, Mode::Train);
    for j in 0..5 {
        let mean = y.iter().map(|r| r[j] as f64).sum::<f64>() / 32.0;
        let var = y.iter().map(|r| (r[j] as f64 - mean).powi(2)).sum::<f64>() / 32.0;
        assert!(
            (mean + 3.0).abs() < 1e-4 && (var - 4.0).abs() < 1e-3,
            "feature {j}: {mean} {var}"
        );
    }
}

/// Per-channel: statistics over samples and positions together.
#[test]
fn training_normalises_each_channel() {
    let mut rng = Rng::new(5);
    let mut bn = Solo::<BatchNorm2d<3, 4, 4>>::zeroed();
    bn.init(Init::He, &mut rng);
    let x: Vec<[[[f32; 4]; 4]; 3]> = samples(
        &uniform(&mut rng, 6 * 48)
            .iter()
            .enumerate()
            .map(|(i, v)| v * 3.0 + (i / 16 % 3) as f32 * 5.0)
            .collect::<Vec<_>>(),
    );
    let mut y = zeroed::<[[[f32; 4]; 4]; 3]>(6);
    bn.forward(&x, &mut y, Mode::Train);
    for ch in 0..3 {
        let vals: Vec<f64> = y
            .iter()
            .flat_map(|s| s[ch].iter().flatten().map(|v| *v as f64))
            .collect();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "channel {ch}: {mean} {var}"
        );
    }
}

/// Running statistics: `running = 0.9·running + 0.1·batch` once the step is accepted, from
/// μ = 0 and σ² = 1; after many batches from one distribution they are its statistics, and
/// inference normalises with them.
#[test]
fn running_statistics_at_inference() {
    let mut rng = Rng::new(6);
    let mut bn = Solo::<BatchNorm1d<3>>::zeroed();
    bn.init(Init::He, &mut rng);
    assert_eq!((bn.running_mean, bn.running_var), ([0.0; 3], [1.0; 3]));
    let x: Vec<[f32; 3]> = (0..16)
        .map(|i| [i as f32, 2.0 * i as f32 - 5.0, 0.5])
        .collect();
    // Batch statistics: mean 7.5 / 10 / 0.5, biased variance 21.25 / 85 / 0.
    let mut y = zeroed::<[f32; 3]>(16);
    bn.forward(&x, &mut y, Mode::Train);
    // Not before the step is accepted.
    assert_eq!((bn.running_mean, bn.running_var), ([0.0; 3], [1.0; 3]));
    bn.commit(16);
    let want_mean = [0.75, 1.0, 0.05];
    let want_var = [0.9 + 2.125, 0.9 + 8.5, 0.9];
    for j in 0..3 {
        assert!(
            (bn.running_mean[j] - want_mean[j]).abs() < 1e-5,
            "mean {j}: {}",
            bn.running_mean[j]
        );
        assert!(
            (bn.running_var[j] - want_var[j]).abs() < 1e-4,
            "var {j}: {}",
            bn.running_var[j]
        );
    }
    // Inference does not move them.
    bn.forward(&x, &mut y, Mode::Infer);
    assert!((bn.running_mean[0] - 0.75).abs() < 1e-5);
    // 200 more batches: 0.9²⁰⁰ ≈ 7e-10 of the start is left.
    for _ in 0..200 {
        bn.forward(&x, &mut y, Mode::Train);
        bn.commit(16);
    }
    let mut train = zeroed::<[f32; 3]>(16);
    bn.forward(&x, &mut train, Mode::Train);
    for j in 0..3 {
        let (m, v) = ([7.5, 10.0, 0.5][j], [21.25, 85.0, 0.0][j]);
        assert!(
            (bn.running_mean[j] - m).abs() < 1e-3 * (1.0 + m),
            "mean {j}: {}",
            bn.running_mean[j]
        );
        assert!(
            (bn.running_var[j] - v).abs() < 1e-3 * (1.0 + v),
            "var {j}: {}",
            bn.running_var[j]
        );
    }
    // So inference on the same data now gives the training output (the constant feature 2
    // normalises to 0 either way).
    let mut infer = zeroed::<[f32; 3]>(16);
    bn.forward(&x, &mut infer, Mode::Infer);
    assert_close(
        "inference with converged running statistics",
        flat(&infer),
        flat(&train),
        1e-3,
        1.0,
    );
    // And inference of one sample does not depend on the others in its batch.
    let mut one = zeroed::<[f32; 3]>(1);
    bn.forward(&x[5..6], &mut one, Mode::Infer);
    assert_eq!(one[0], infer[5]);
}

/// A dense network with batch norm, through `Network::gradients`, against the composed twins.
#[test]
fn network_with_batchnorm_backward() {
    type Net = stack![Affine<4, 5>, BatchNorm1d<5>, SigmoidLayer<[f32; 5]>, Affine<5, 3>];
    let mut rng = Rng::new(7);
    let mut net = Network::<Net>::boxed();
    net.init(Init::He, 7);
    let mut p = quantized(&mut rng, Network::<Net>::PARAMS);
    p[25..30].iter_mut().for_each(|g| *g = 0.5 + g.abs()); // γ
    model::params_from(&mut net.layers, &p);
    let x: Vec<[f32; 4]> = samples(&quantized(&mut rng, 24));
    let t: Vec<[f32; 3]> = (0..6).map(|i| shinso::one_hot(i % 3)).collect();
    let mut analytic = vec![0.0; Network::<Net>::PARAMS];
    let mut arena = vec![0.0; Network::<Net>::gradients_arena(6)];
    let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay::default());
    net.gradients(&x, &t, loss, decay, &mut analytic, &mut arena)
        .unwrap();
    let tf: Vec<f64> = flat(&t).iter().map(|v| *v as f64).collect();
    let e = |p: &[f32]| {
        let u = twin::affine(4, 5, flat(&x), &p[..20], &p[20..25]);
        let h = twin::map(
            &twin::batchnorm_train(5, &u, &p[25..30], &p[30..35], EPS64),
            twin::sigmoid,
        );
        let y = twin::affine(5, 3, &h, &p[35..50], &p[50..]);
        twin::softmax_cross_entropy(3, &y, &tf)
    };
    let mut numeric = vec![0.0; Network::<Net>::PARAMS];
    shinso::gradcheck::numerical_gradient(
        &mut net.layers,
        shinso_tests::H,
        |l| e(&shinso_tests::params(l)),
        &mut numeric,
    );
    assert_close(
        "Affine-BatchNorm-Sigmoid-Affine",
        &analytic,
        &numeric,
        1e-4,
        0.1,
    );
}

/// Running statistics are model state: saved and loaded with the blob, left alone by
/// optimizers (no gradient) and by weight decay (γ and β are not weights either).
#[test]
fn running_statistics_are_state() {
    type Net = stack![Affine<2, 3>, BatchNorm1d<3>, Affine<3, 2>];
    assert_eq!(<Net as Layer>::STATE, 6);
    assert_eq!(Network::<Net>::memory(&Rule::sgd(0.1), 4).state, 4 * 6);
    let mut net = Network::<Net>::boxed();
    net.init(Init::He, 1);
    let x = [[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [-2.0, 1.0]];
    let t = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]];
    let rule = Rule::adam(0.1);
    let mut opt = shinso_tests::optimizer::<Net>(rule);
    let mut arena = shinso_tests::train_arena::<Net>(4);
    let decay = WeightDecay { l1: 0.5, l2: 0.5 };
    net.train_step(&x, &t, Loss::Mse, decay, &mut opt, &mut arena)
        .unwrap();
    // The training batch moved the running statistics.
    assert!(net
        .layers
        .second
        .first
        .running_mean
        .iter()
        .any(|m| *m != 0.0));

    // An optimizer step does not touch them (they are not trainable).
    let bn = net.layers.second.first;
    opt.step(&mut net.layers, &[1.0; Network::<Net>::PARAMS])
        .unwrap();
    let after = net.layers.second.first;
    assert_eq!(
        (after.running_mean, after.running_var),
        (bn.running_mean, bn.running_var)
    );
    assert_ne!(after.gamma, bn.gamma);

    // Weight decay does not touch γ, β.
    let mut seen = vec![];
    net.layers
        .visit(&mut |t: Tensor<'_>| seen.push((t.kind, t.kind.trainable())));
    assert_eq!(
        seen[2..6].iter().map(|s| s.0).collect::<Vec<_>>(),
        [
            TensorKind::Scale,
            TensorKind::Shift,
            TensorKind::RunningMean,
            TensorKind::RunningVar
        ]
    );
    assert_eq!(
        (seen[4].1, seen[5].1),
        (false, false),
        "running statistics have no gradient"
    );
    let mut plain = vec![0.0; Network::<Net>::PARAMS];
    net.gradients(
        &x,
        &t,
        Loss::Mse,
        WeightDecay::default(),
        &mut plain,
        &mut arena,
    )
    .unwrap();
    let mut decayed = vec![0.0; Network::<Net>::PARAMS];
    net.gradients(&x, &t, Loss::Mse, decay, &mut decayed, &mut arena)
        .unwrap();
    assert_eq!(
        &plain[9..15],
        &decayed[9..15],
        "decay changed the gradient of γ or β"
    );

    // Round trip through a blob restores the running statistics too.
    let mut blob = vec![0u8; model::blob_len::<Net>()];
    net.save(&mut blob).unwrap();
    let mut fresh = Network::<Net>::boxed();
    fresh.init(Init::He, 2);
    fresh.load(&blob).unwrap();
    assert_eq!(
        fresh.layers.second.first.running_mean,
        net.layers.second.first.running_mean
    );
    assert_eq!(
        fresh.layers.second.first.running_var,
        net.layers.second.first.running_var
    );
}

/// A refused training step leaves the whole model as it was — running statistics included,
/// since they are saved with it. Finite but huge inputs overflow the batch variance; the step
/// must fail (it does) without leaving an infinite running variance behind. (This test found
/// the bug fixed in 46706ba: the NaN / ∞ statistics were folded into the running averages,
/// breaking inference for good and making `save` write a blob `load` refuses.)
#[test]
fn refused_step_leaves_running_statistics_alone() {
    type Net = stack![Affine<2, 3>, BatchNorm1d<3>, Affine<3, 2>];
    let mut net = Network::<Net>::boxed();
    net.init(Init::He, 1);
    let mut before = vec![0u8; model::blob_len::<Net>()];
    net.save(&mut before).unwrap();
    let x = [[3e38, -3e38], [-3e38, 3e38], [1.0, 2.0], [0.0, 0.0]];
    let t = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]];
    let mut opt = shinso_tests::optimizer::<Net>(Rule::sgd(0.1));
    let mut arena = shinso_tests::train_arena::<Net>(4);
    let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay::default());
    let r = net.train_step(&x, &t, loss, decay, &mut opt, &mut arena);
    assert!(r.is_err(), "step on overflowing data succeeded: {r:?}");
    let mut after = vec![0u8; model::blob_len::<Net>()];
    let saved = net.save(&mut after);
    let bn = &net.layers.second.first;
    assert_eq!(saved, Ok(after.len()));
    assert!(
        before == after,
        "refused step changed the model: running mean {:?}, running var {:?}",
        bn.running_mean,
        bn.running_var
    );
}

mod kernels {
    use proptest::prelude::*;
    use shinso::kernels::batchnorm::{
        bn_backward, bn_normalize, bn_stats, bn_update_running, BnShape, Norm, EPS,
    };
    use shinso::Rng;
    use shinso_tests::{assert_close, to_f32, twin, uniform};
    proptest! {
        #![proptest_config(shinso_tests::proptest_config(64))]

        /// Statistics, normalisation and the backward pass of the batch-norm kernels against
        /// the twins (the backward one the course's step-by-step graph), on random `(n, C, S)`
        /// with an offset so the mean is far from 0. Tolerances: statistics 1e-5 relative,
        /// outputs 1e-4; gradients 1e-4 of their channel's scale `γ/√(σ² + ε)·max|dy|`: the
        /// input gradient is a difference of terms of that size that cancel (exactly, for two
        /// values per channel), so its error is relative to them, not to the result. Channels of
        /// variance under 0.01 are left out: there `1/σ` amplifies the f32 rounding of `x − μ`
        /// (inherent to batch norm in f32, not a defect of the kernel).
        #[test]
        fn batchnorm_kernels_match_twin(n in 2usize..9, c in 1usize..5, s in 1usize..10, offset in -4.0f32..4.0, seed in any::<u64>()) {
            let mut rng = Rng::new(seed);
            let shape = BnShape { n, c, s };
            let x: Vec<f32> = uniform(&mut rng, n * c * s).iter().map(|v| v + offset).collect();
            let gamma: Vec<f32> = uniform(&mut rng, c).iter().map(|g| 0.5 + g.abs()).collect();
            let beta = uniform(&mut rng, c);
            let dy = uniform(&mut rng, n * c * s);
            let (mut mean, mut var) = (vec![0.0; c], vec![0.0; c]);
            bn_stats(shape, &x, &mut mean, &mut var);
            let (tm, tv) = twin::bn_stats(n, c, s, &x);
            prop_assume!(tv.iter().all(|v| *v >= 0.01));
            assert_close("mean", &mean, &to_f32(&tm), 1e-5, 1.0);
            assert_close("var", &var, &to_f32(&tv), 1e-5, 1.0);

            let norm = Norm { mean: &mean, var: &var, gamma: &gamma, beta: &beta, from_batch: true };
            let mut y = vec![f32::NAN; x.len()];
            bn_normalize(shape, &norm, &x, &mut y);
            // The twin is per sample-major (n, C·S): lay the batch out as n × (C·S) with the
            // per-feature statistics repeated S times per channel.
            let want: Vec<f64> = (0..x.len())
                .map(|k| {
                    let ch = k / s % c;
                    gamma[ch] as f64 * (x[k] as f64 - tm[ch]) / (tv[ch] + EPS as f64).sqrt() + beta[ch] as f64
                })
                .collect();
            assert_close("normalize", &y, &to_f32(&want), 1e-4, 1.0);

            let (mut dg, mut db, mut dx) = (vec![f32::NAN; c], vec![f32::NAN; c], vec![f32::NAN; x.len()]);
            bn_backward(shape, &norm, &x, &dy, &mut dg, &mut db, Some(&mut dx));
            let (tg, tb, tx) = twin::bn_backward(n, c, s, &x, &gamma, &dy, EPS as f64);
            assert_close("dgamma", &dg, &to_f32(&tg), 1e-4, 0.1);
            assert_close("dbeta", &db, &to_f32(&tb), 1e-4, 0.1);
            for k in 0..x.len() {
                let ch = k / s % c;
                let dy_max = (0..x.len()).filter(|j| j / s % c == ch).map(|j| dy[j].abs()).fold(0.0f32, f32::max) as f64;
                let scale = gamma[ch] as f64 / (tv[ch] + EPS as f64).sqrt() * dy_max;
                let err = (dx[k] as f64 - tx[k]).abs();
                prop_assert!(err <= 1e-4 * scale + 1e-12, "dx[{}]: {} vs {} (scale {})", k, dx[k], tx[k], scale);
            }

            // Fixed statistics: dx = γ/√(σ² + ε)·dy.
            let fixed = Norm { from_batch: false, ..norm };
            bn_backward(shape, &fixed, &x, &dy, &mut dg, &mut db, Some(&mut dx));
            let want: Vec<f64> = (0..x.len()).map(|k| {
                let ch = k / s % c;
                gamma[ch] as f64 / (var[ch] as f64 + EPS as f64).sqrt() * dy[k] as f64
            }).collect();
            assert_close("dx, fixed statistics", &dx, &to_f32(&want), 1e-5, 0.1);
            assert_close("dbeta, fixed statistics", &db, &to_f32(&tb), 1e-4, 0.1);

            let mut running = mean.clone();
            let old = running.clone();
            bn_update_running(&mut running, &var);
            for i in 0..c {
                prop_assert!((running[i] - (0.9 * old[i] + 0.1 * var[i])).abs() <= 1e-6 * (1.0 + old[i].abs() + var[i].abs()));
            }
        }
    }
}
