//! The update rules, one hand-computed step (two, to see the state carried over) each, from
//! the formulas documented on `shinso::optim::Rule` (the README's numerical conventions), and
//! 200 steps each against an `f64` twin; every optimizer training a small network to 100 % on
//! XOR within a fixed step budget; and the all-or-nothing step: a refused one changes neither
//! the network (weights, batch-norm running statistics, dropout generator) nor the optimizer
//! (state, step count).

use shinso::{
    argmax, one_hot, stack, Affine, AnyActivation, BatchNorm1d, Dropout, Error, Init, Knobs, Loss,
    Network, Optimizer, Rng, Rule, TanhLayer, Toggle, WeightDecay,
};
use shinso_tests::twin::RuleState;

/// A layer with three parameters: `w = [w₀₀, w₁₀]` (weight, 2×1) and `b = [b₀]`.
type Tiny = Affine<2, 1>;

const W0: [f32; 3] = [1.0, -2.0, 0.5];
const G1: [f32; 3] = [0.5, -1.0, 0.25];
const G2: [f32; 3] = [0.1, 0.2, -0.3];

/// `Tiny` with parameters `W0`.
fn tiny() -> Box<Network<Tiny>> {
    let mut net = Network::<Tiny>::boxed();
    shinso::model::params_from(&mut net.layers, &W0);
    net
}

fn params3(net: &mut Network<Tiny>) -> [f32; 3] {
    shinso_tests::params(&mut net.layers).try_into().unwrap()
}

/// Parameters after one step with `G1` and after a second with `G2`, from `W0`.
fn two_steps(rule: Rule) -> ([f32; 3], [f32; 3]) {
    let mut net = tiny();
    let mut opt = shinso_tests::optimizer::<Tiny>(rule);
    opt.step(&mut net.layers, &G1).unwrap();
    let first = params3(&mut net);
    opt.step(&mut net.layers, &G2).unwrap();
    assert_eq!(opt.steps(), 2);
    (first, params3(&mut net))
}

/// Within `2e-7` relative (a couple of f32 roundings) of the value computed in f64.
#[track_caller]
fn assert_params(what: &str, got: [f32; 3], want: [f64; 3]) {
    for i in 0..3 {
        let err = (got[i] as f64 - want[i]).abs();
        assert!(
            err <= 2e-7 * want[i].abs().max(1.0),
            "{what}[{i}]: got {}, want {}",
            got[i],
            want[i]
        );
    }
}

#[test]
fn sgd_step() {
    // w −= ε g, ε = 0.1.
    let (a, b) = two_steps(Rule::sgd(0.1));
    assert_params("SGD 1", a, [0.95, -1.9, 0.475]);
    assert_params("SGD 2", b, [0.94, -1.92, 0.505]);
}

#[test]
fn momentum_step() {
    // v = μv − εg; w += v with μ = 0.9, ε = 0.1.
    // Step 1: v = −0.1·[0.5, −1, 0.25] = [−0.05, 0.1, −0.025]; w = [0.95, −1.9, 0.475].
    // Step 2: v = 0.9·v − 0.1·[0.1, 0.2, −0.3] = [−0.055, 0.07, 0.0075]; w = [0.895, −1.83, 0.4825].
    let (a, b) = two_steps(Rule::momentum(0.1));
    assert_params("Momentum 1", a, [0.95, -1.9, 0.475]);
    assert_params("Momentum 2", b, [0.895, -1.83, 0.4825]);
    // μ is settable: the course's 0.5. Step 2: v = 0.5·v − 0.1·g₂ = [−0.035, 0.03, 0.0175].
    let (_, b) = two_steps(Rule::Momentum {
        lr: 0.1,
        momentum: 0.5,
    });
    assert_params("Momentum μ=0.5", b, [0.915, -1.87, 0.4925]);
}

#[test]
fn adagrad_step() {
    // h starts at h₀ = 1e-4; h += g²; w −= ε g / (√h + δ), ε = 0.1, δ = 1e-7.
    let (e, d) = (0.1f64, 1e-7f64);
    let h1: [f64; 3] = [1e-4 + 0.25, 1e-4 + 1.0, 1e-4 + 0.0625];
    let w1 = [
        1.0 - e * 0.5 / (h1[0].sqrt() + d), // 1 − 0.05/0.5001   = 0.900020...
        -2.0 + e * 1.0 / (h1[1].sqrt() + d), // −2 + 0.1/1.00005  = −1.900005...
        0.5 - e * 0.25 / (h1[2].sqrt() + d), // 0.5 − 0.025/0.2502 = 0.400080...
    ];
    let h2: [f64; 3] = [h1[0] + 0.01, h1[1] + 0.04, h1[2] + 0.09];
    let w2 = [
        w1[0] - e * 0.1 / (h2[0].sqrt() + d),
        w1[1] - e * 0.2 / (h2[1].sqrt() + d),
        w1[2] + e * 0.3 / (h2[2].sqrt() + d),
    ];
    let (a, b) = two_steps(Rule::adagrad(0.1));
    assert_params("AdaGrad 1", a, w1);
    assert_params("AdaGrad 2", b, w2);
    // h₀ and δ are settable; with h₀ = 0 the first step is exactly ε·sign(g) (up to δ).
    let (a, _) = two_steps(Rule::AdaGrad {
        lr: 0.1,
        h0: 0.0,
        delta: 1e-7,
    });
    assert_params("AdaGrad h0=0", a, [0.9, -1.9, 0.4]);
}

#[test]
fn rmsprop_step() {
    // h = ρh + (1 − ρ)g²; w −= ε g / (√h + δ), ρ = 0.99, ε = 0.01, δ = 1e-7.
    let (e, r, d) = (0.01f64, 0.99f64, 1e-7f64);
    let g1 = [0.5f64, -1.0, 0.25];
    let g2 = [0.1f64, 0.2, -0.3];
    let h1 = g1.map(|g| (1.0 - r) * g * g); // [0.0025, 0.01, 0.000625]
                                            // First step: √h = 0.1·|g|, so w moves by ε·g/(0.1|g|) = 0.1·sign(g): [0.9, −1.9, 0.4].
    let w1 = [0, 1, 2].map(|i| W0[i] as f64 - e * g1[i] / (h1[i].sqrt() + d));
    let h2 = [0, 1, 2].map(|i| r * h1[i] + (1.0 - r) * g2[i] * g2[i]);
    let w2 = [0, 1, 2].map(|i| w1[i] - e * g2[i] / (h2[i].sqrt() + d));
    let (a, b) = two_steps(Rule::rmsprop(0.01));
    assert_params("RMSProp 1", a, w1);
    assert_params("RMSProp 2", b, w2);
    // By hand, to within the f32 rounding of 1 − ρ (0.99 is not exact in f32).
    for (i, want) in [0.9f32, -1.9, 0.4].into_iter().enumerate() {
        assert!(
            (a[i] - want).abs() < 2e-6,
            "RMSProp by hand [{i}]: {}",
            a[i]
        );
    }
    // ρ settable: the course's 0.55.
    let h1 = g1.map(|g| 0.45 * g * g);
    let w1 = [0, 1, 2].map(|i| W0[i] as f64 - e * g1[i] / (h1[i].sqrt() + d));
    let (a, _) = two_steps(Rule::RmsProp {
        lr: 0.01,
        rho: 0.55,
        delta: 1e-7,
    });
    assert_params("RMSProp ρ=0.55", a, w1);
}

#[test]
fn adam_step() {
    // εₜ = ε √(1 − β₂ᵗ) / (1 − β₁ᵗ); m += (1 − β₁)(g − m); v += (1 − β₂)(g² − v);
    // w −= εₜ m / (√v + δ); ε = 0.001, β₁ = 0.9, β₂ = 0.999, δ = 1e-7.
    let (e, b1, b2, d) = (0.001f64, 0.9f64, 0.999f64, 1e-7f64);
    let g1 = [0.5f64, -1.0, 0.25];
    let g2 = [0.1f64, 0.2, -0.3];
    let e1 = e * (1.0 - b2).sqrt() / (1.0 - b1); // 0.001·√0.001/0.1 = 3.1623e-4
    let m1 = g1.map(|g| (1.0 - b1) * g);
    let v1 = g1.map(|g| (1.0 - b2) * g * g);
    let w1 = [0, 1, 2].map(|i| W0[i] as f64 - e1 * m1[i] / (v1[i].sqrt() + d));
    let e2 = e * (1.0 - b2 * b2).sqrt() / (1.0 - b1 * b1);
    let m2 = [0, 1, 2].map(|i| m1[i] + (1.0 - b1) * (g2[i] - m1[i]));
    let v2 = [0, 1, 2].map(|i| v1[i] + (1.0 - b2) * (g2[i] * g2[i] - v1[i]));
    let w2 = [0, 1, 2].map(|i| w1[i] - e2 * m2[i] / (v2[i].sqrt() + d));
    let (a, b) = two_steps(Rule::adam(0.001));
    assert_params("Adam 1", a, w1);
    assert_params("Adam 2", b, w2);
    // The well-known first Adam step: ε·sign(g) (to within δ).
    for i in 0..3 {
        let moved = (W0[i] - a[i]) as f64;
        assert!(
            (moved - e * g1[i].signum()).abs() < 1e-6,
            "Adam first step {i}: {moved}"
        );
    }
    // Every hyperparameter settable.
    let rule = Rule::Adam {
        lr: 0.01,
        beta1: 0.5,
        beta2: 0.75,
        delta: 1e-3,
    };
    let e1 = 0.01 * (0.25f64).sqrt() / 0.5;
    let w1 = [0, 1, 2]
        .map(|i| W0[i] as f64 - e1 * (0.5 * g1[i]) / ((0.25 * g1[i] * g1[i]).sqrt() + 1e-3));
    assert_params("Adam custom", two_steps(rule).0, w1);
}

#[test]
fn learning_rate_and_reset() {
    let rule = Rule::adam(0.001).with_lr(0.5);
    assert_eq!(rule.lr(), 0.5);
    assert_eq!(
        rule,
        Rule::Adam {
            lr: 0.5,
            beta1: 0.9,
            beta2: 0.999,
            delta: 1e-7
        }
    );
    assert_eq!(Rule::sgd(0.1).state_len(10), 0);
    assert_eq!(Rule::momentum(0.1).state_len(10), 10);
    assert_eq!(Rule::adam(0.1).state_len(10), 20);

    // After reset an optimizer behaves as new (AdaGrad's h back to h₀, Adam's t back to 1).
    for rule in [
        Rule::adagrad(0.1),
        Rule::adam(0.001),
        Rule::momentum(0.1),
        Rule::rmsprop(0.01),
    ] {
        let mut net = tiny();
        let mut opt = shinso_tests::optimizer::<Tiny>(rule);
        opt.step(&mut net.layers, &G2).unwrap();
        opt.reset();
        assert_eq!(opt.steps(), 0);
        let h0 = if matches!(rule, Rule::AdaGrad { .. }) {
            1e-4
        } else {
            0.0
        };
        assert!(opt.state().iter().all(|&s| s == h0));
        shinso::model::params_from(&mut net.layers, &W0);
        opt.step(&mut net.layers, &G1).unwrap();
        opt.step(&mut net.layers, &G2).unwrap();
        assert_eq!(params3(&mut net), two_steps(rule).1, "{rule:?} after reset");
    }
}

// -------------------------------------------------------------------------------- XOR

type Xor = stack![Affine<2, 8>, TanhLayer<[f32; 8]>, Affine<8, 2>];

const X: [[f32; 2]; 4] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
const LABELS: [usize; 4] = [0, 1, 1, 0];

/// Steps until the network classifies all four XOR points with a probability of at least 0.9
/// for the right class (checked every 10 steps), or `None` within `budget`.
fn steps_to_solve_xor(rule: Rule, budget: u32) -> Option<u32> {
    let mut net = Network::<Xor>::boxed();
    net.init(Init::Xavier, 7);
    let t = LABELS.map(one_hot::<2>);
    let mut opt = shinso_tests::optimizer::<Xor>(rule);
    let mut arena = shinso_tests::train_arena::<Xor>(4);
    let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay::default());
    for step in 1..=budget {
        let value = net
            .train_step(&X, &t, loss, decay, &mut opt, &mut arena)
            .unwrap();
        assert!(value.is_finite());
        if step % 10 == 0 {
            let out = net.predict(&X, &mut arena).unwrap();
            let confident = out.iter().zip(LABELS).all(|(o, l)| {
                let mut p = [0.0; 2];
                Loss::SoftmaxCrossEntropy.output(o, &mut p);
                argmax(o) == l && p[l] >= 0.9
            });
            if confident {
                return Some(step);
            }
        }
    }
    None
}

/// Budget: 500 steps of the whole 4-point batch. With this seed the rules need 30 (AdaGrad,
/// RMSProp) to 80 (Adam at 0.01) steps, so the budget checks that every rule learns, not its
/// exact speed.
#[test]
fn every_optimizer_learns_xor() {
    let rules = [
        Rule::sgd(0.5),
        Rule::momentum(0.1),
        Rule::adagrad(0.1),
        Rule::rmsprop(0.01),
        Rule::adam(0.01),
    ];
    for rule in rules {
        let steps = steps_to_solve_xor(rule, 500);
        assert!(
            steps.is_some(),
            "{rule:?} did not reach 100 % on XOR in 500 steps"
        );
    }
}

/// The rule can change at run time (over the wire, on the device) if the buffer holds its
/// state; otherwise nothing changes. The learning rate alone changes without a reset.
#[test]
fn switching_rules() {
    let mut net = tiny();
    // State sized for momentum (one float per parameter).
    let state = vec![0.0; Rule::momentum(0.1).state_len(3)];
    let mut opt = Optimizer::new(Rule::sgd(0.1), 3, state).unwrap();
    opt.step(&mut net.layers, &G1).unwrap();
    assert_eq!(
        opt.set_rule(Rule::adam(0.001)),
        Err(Error::ArenaTooSmall {
            needed: 6,
            found: 3
        })
    );
    assert_eq!((opt.rule(), opt.steps()), (Rule::sgd(0.1), 1));
    assert_eq!(opt.set_rule(Rule::momentum(0.1)), Ok(()));
    assert_eq!((opt.rule(), opt.steps()), (Rule::momentum(0.1), 0));
    opt.set_lr(0.05);
    assert_eq!(
        opt.rule(),
        Rule::Momentum {
            lr: 0.05,
            momentum: 0.9
        }
    );
    // After the switch it behaves as a fresh momentum optimizer from here.
    let from = params3(&mut net);
    opt.step(&mut net.layers, &G2).unwrap();
    let after = params3(&mut net);
    for i in 0..3 {
        assert!((after[i] - (from[i] - 0.05 * G2[i])).abs() < 1e-7);
    }
}

/// Too little state, too few gradients or a network larger than the optimizer was made for
/// are errors, not panics, and change nothing.
#[test]
fn too_small_buffers_are_errors() {
    assert_eq!(
        Optimizer::new(Rule::adam(0.1), 3, vec![0.0; 5]).err(),
        Some(Error::ArenaTooSmall {
            needed: 6,
            found: 5
        })
    );
    let mut net = tiny();
    let mut opt = shinso_tests::optimizer::<Tiny>(Rule::adam(0.1));
    assert_eq!(
        opt.step(&mut net.layers, &G1[..2]),
        Err(Error::ArenaTooSmall {
            needed: 3,
            found: 2
        })
    );
    let mut small = Optimizer::new(Rule::sgd(0.1), 2, Vec::new()).unwrap();
    assert!(matches!(
        small.step(&mut net.layers, &G1),
        Err(Error::ArenaTooSmall { .. })
    ));
    assert_eq!((opt.steps(), small.steps(), params3(&mut net)), (0, 0, W0));
}

/// A gradient with a NaN or an infinity in it is refused as such by every rule, whichever
/// parameter it falls on, at any rate (zero included: `0·∞` is no number either), and the step
/// changes nothing.
#[test]
fn non_finite_gradients_are_refused() {
    for rule in shinso::optim::Kind::ALL.map(|kind| kind.rule(0.1)) {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in 0..3 {
                for lr in [rule.lr(), 0.0] {
                    let mut net = tiny();
                    let mut opt = shinso_tests::optimizer::<Tiny>(rule);
                    opt.step(&mut net.layers, &G1).unwrap();
                    let (before, state) = (params3(&mut net), opt.state().to_vec());
                    opt.set_lr(lr);
                    let mut g = G2;
                    g[at] = bad;
                    let r = opt.step(&mut net.layers, &g);
                    assert_eq!(r, Err(Error::NonFiniteGradient), "{rule:?} lr {lr}: {g:?}");
                    assert_eq!(params3(&mut net), before, "{rule:?}: weights");
                    assert_eq!((opt.state(), opt.steps()), (&state[..], 1), "{rule:?}");
                }
            }
        }
    }
}

// ------------------------------------------------------------------- 200 steps vs f64

/// Every rule stepped 200 times with random gradients stays within `1e-4` relative of an `f64`
/// twin of the same formulas: the state is carried correctly step after step (an off-by-one
/// in Adam's `t`, a state slice of the wrong tensor, a missing `(1 − ρ)` all drift far more).
#[test]
fn two_hundred_steps_match_the_f64_twin() {
    type Net = stack![Affine<3, 4>, Affine<4, 2>];
    const P: usize = 3 * 4 + 4 + 4 * 2 + 2;
    for rule in [
        Rule::sgd(0.01),
        Rule::momentum(0.01),
        Rule::adagrad(0.05),
        Rule::rmsprop(0.001),
        Rule::adam(0.001),
    ] {
        let mut rng = Rng::new(17);
        let mut net = Network::<Net>::boxed();
        net.init(Init::He, 3);
        let mut opt = shinso_tests::optimizer::<Net>(rule);
        let mut want: Vec<f64> = shinso_tests::params(&mut net.layers)
            .iter()
            .map(|&w| w as f64)
            .collect();
        let mut twin = RuleState::new(rule, P);
        for _ in 0..200 {
            // Gradients of both signs and of magnitudes from 1e-3 to 1.
            let g: Vec<f32> = (0..P)
                .map(|_| (2.0 * rng.uniform() - 1.0) * 10f32.powf(-3.0 * rng.uniform()))
                .collect();
            opt.step(&mut net.layers, &g).unwrap();
            twin.step(&mut want, &g);
        }
        assert_eq!(opt.steps(), 200);
        let got = shinso_tests::params(&mut net.layers);
        let want: Vec<f32> = want.iter().map(|&w| w as f32).collect();
        shinso_tests::assert_close(&format!("{rule:?} after 200 steps"), &got, &want, 1e-4, 0.1);
    }
}

// ------------------------------------------------------------------ all or nothing

/// Batch norm (its running statistics are state) and dropout (its generator advances with each
/// accepted step) between two affine layers.
type Guarded = stack![
    Affine<4, 6>,
    Toggle<BatchNorm1d<6>>,
    AnyActivation<[f32; 6]>,
    Toggle<Dropout<[f32; 6]>>,
    Affine<6, 3>
];

/// A `Guarded` net and an optimizer after three accepted steps, so that the running statistics,
/// the optimizer state and the dropout generator have all moved from their initial values.
fn trained(rule: Rule) -> (Box<Network<Guarded>>, Optimizer<Vec<f32>>, Vec<f32>) {
    let mut net = Network::<Guarded>::boxed();
    net.configure(&Knobs {
        batch_norm: true,
        dropout: 0.25,
        ..Knobs::default()
    });
    net.init(Init::He, 5);
    let mut opt = shinso_tests::optimizer::<Guarded>(rule);
    let mut arena = shinso_tests::train_arena::<Guarded>(5);
    for k in 0..3 {
        let (x, t) = batch(k, 1.0);
        let decay = WeightDecay { l1: 0.0, l2: 1e-3 };
        net.train_step(&x, &t, Loss::Mse, decay, &mut opt, &mut arena)
            .unwrap();
    }
    (net, opt, arena)
}

/// Batch `k` of five samples, targets scaled by `scale`.
fn batch(k: u64, scale: f32) -> (Vec<[f32; 4]>, Vec<[f32; 3]>) {
    let mut rng = Rng::new(100 + k);
    let x = (0..5).map(|_| [(); 4].map(|_| rng.normal())).collect();
    let t = (0..5)
        .map(|i| one_hot::<3>(i % 3).map(|v| v * scale))
        .collect();
    (x, t)
}

/// Everything a step may change, as bits: the blob (weights and running statistics), the
/// optimizer's state and its step count.
fn snapshot(net: &mut Network<Guarded>, opt: &Optimizer<Vec<f32>>) -> (Vec<u8>, Vec<u32>, u32) {
    let mut blob = vec![0u8; shinso::model::blob_len::<Guarded>()];
    net.save(&mut blob).unwrap();
    let state = opt.state().iter().map(|v| v.to_bits()).collect();
    (blob, state, opt.steps())
}

/// A step refused for a non-finite update (finite gradients, but a learning rate that takes
/// a weight past `f32::MAX`) or a non-finite loss leaves every bit as it was, and the next
/// accepted step is the one that would have come without it (same dropout mask included), for
/// every rule.
#[test]
fn a_refused_step_changes_nothing() {
    for rule in [
        Rule::sgd(0.01),
        Rule::momentum(0.01),
        Rule::adagrad(0.01),
        Rule::rmsprop(0.01),
        Rule::adam(0.01),
    ] {
        let (mut net, mut opt, mut arena) = trained(rule);
        let (mut twin, mut twin_opt, _) = trained(rule);
        let before = snapshot(&mut net, &opt);
        assert_eq!(before, snapshot(&mut twin, &twin_opt));
        let decay = WeightDecay::default();

        // Targets of 1e3 give gradients far above 1: at the largest learning rate the update
        // overflows.
        opt.set_lr(f32::MAX);
        let (x, t) = batch(7, 1e3);
        let r = net.train_step(&x, &t, Loss::Mse, decay, &mut opt, &mut arena);
        assert_eq!(r, Err(Error::NonFiniteUpdate), "{rule:?}");
        assert_eq!(snapshot(&mut net, &opt), before, "{rule:?}: refused update");
        opt.set_lr(rule.lr());

        // Finite inputs whose loss overflows.
        let huge = vec![[3e38f32; 4]; 5];
        let r = net.train_step(&huge, &t, Loss::Mse, decay, &mut opt, &mut arena);
        assert!(
            matches!(r, Err(Error::NonFiniteLoss | Error::NonFiniteGradient)),
            "{rule:?}: {r:?}"
        );
        assert_eq!(snapshot(&mut net, &opt), before, "{rule:?}: refused loss");

        // The next accepted step, bit for bit as on a network that never saw the refusals.
        let (x, t) = batch(8, 1.0);
        let mut twin_arena = shinso_tests::train_arena::<Guarded>(5);
        let a = net.train_step(&x, &t, Loss::Mse, decay, &mut opt, &mut arena);
        let b = twin.train_step(&x, &t, Loss::Mse, decay, &mut twin_opt, &mut twin_arena);
        assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits), "{rule:?}");
        assert_eq!(
            snapshot(&mut net, &opt),
            snapshot(&mut twin, &twin_opt),
            "{rule:?}: after"
        );
        assert_ne!(snapshot(&mut net, &opt), before);
    }
}

/// The one vocabulary of optimizers: each kind's rule carries the course's hyperparameters
/// (written out here, not taken from the constructors), its usual rate, and the names a user
/// types and the host's files store.
#[test]
fn kinds_name_the_course_rules() {
    use clap::ValueEnum;
    use shinso::optim::Kind;
    let want = [
        (Kind::Sgd, Rule::Sgd { lr: 0.1 }, "sgd", "SGD"),
        (
            Kind::Momentum,
            Rule::Momentum {
                lr: 0.01,
                momentum: 0.9,
            },
            "momentum",
            "Momentum",
        ),
        (
            Kind::AdaGrad,
            Rule::AdaGrad {
                lr: 0.01,
                h0: 1e-4,
                delta: 1e-7,
            },
            "adagrad",
            "AdaGrad",
        ),
        (
            Kind::RmsProp,
            Rule::RmsProp {
                lr: 0.001,
                rho: 0.99,
                delta: 1e-7,
            },
            "rmsprop",
            "RMSProp",
        ),
        (
            Kind::Adam,
            Rule::Adam {
                lr: 0.001,
                beta1: 0.9,
                beta2: 0.999,
                delta: 1e-7,
            },
            "adam",
            "Adam",
        ),
    ];
    assert_eq!(Kind::ALL, want.map(|w| w.0));
    for (kind, rule, cli, name) in want {
        assert_eq!(kind.rule(kind.default_lr()), rule);
        assert_eq!(rule.kind(), kind);
        assert_eq!(kind.rule(0.5).lr(), 0.5);
        assert_eq!(kind.name(), name);
        assert_eq!(Kind::from_str(cli, false), Ok(kind));
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{cli}\""));
        assert_eq!(
            serde_json::from_str::<Kind>(&format!("\"{cli}\"")).unwrap(),
            kind
        );
    }
}

/// A training forward pass the caller looks at and then drops, or whose step it refuses with
/// the wrong number of targets, changes nothing; stepping it gives bit for bit what
/// `train_step` gives on a twin (the same dropout mask, running statistics and update): the
/// forward pass is not run twice and not skipped.
#[test]
fn a_forward_pass_then_its_step_is_a_train_step() {
    let rule = Rule::adam(0.01);
    let (mut net, mut opt, mut arena) = trained(rule);
    let (mut twin, mut twin_opt, mut twin_arena) = trained(rule);
    let before = snapshot(&mut net, &opt);
    let decay = WeightDecay { l1: 0.0, l2: 1e-3 };
    let (x, t) = batch(9, 1.0);

    let outputs = net
        .forward_train(&x, &mut arena)
        .unwrap()
        .outputs()
        .to_vec();
    assert_eq!(outputs.len(), 5);
    assert!(outputs.iter().flatten().all(|v| v.is_finite()));
    assert_eq!(snapshot(&mut net, &opt), before, "dropped");

    let pass = net.forward_train(&x, &mut arena).unwrap();
    let r = pass.step(&t[..4], Loss::Mse, decay, &mut opt);
    let wrong = Err(Error::BatchSize {
        samples: 5,
        targets: 4,
    });
    assert_eq!(r, wrong);
    assert_eq!(snapshot(&mut net, &opt), before, "refused");

    let pass = net.forward_train(&x, &mut arena).unwrap();
    let a = pass.step(&t, Loss::Mse, decay, &mut opt);
    let b = twin.train_step(&x, &t, Loss::Mse, decay, &mut twin_opt, &mut twin_arena);
    assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
    assert_eq!(snapshot(&mut net, &opt), snapshot(&mut twin, &twin_opt));
    assert_ne!(snapshot(&mut net, &opt), before);
}

/// Without batch norm and dropout a training forward pass computes inference's floats, so a
/// learner can report its prediction before the update from the pass it learns from.
#[test]
fn a_training_forward_pass_predicts_as_inference() {
    let mut net = Network::<Guarded>::boxed();
    net.configure(&Knobs::default());
    net.init(Init::He, 6);
    let (x, _) = batch(10, 1.0);
    let mut arena = shinso_tests::train_arena::<Guarded>(5);
    let trained: Vec<[f32; 3]> = net
        .forward_train(&x, &mut arena)
        .unwrap()
        .outputs()
        .to_vec();
    let predicted = net.predict(&x, &mut arena).unwrap();
    let bits = |y: &[[f32; 3]]| y.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&trained), bits(predicted));
}
