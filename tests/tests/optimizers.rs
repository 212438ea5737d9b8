//! The update rules, one hand-computed step (two, to see the state carried over) each, from
//! the formulas documented on `shinso::optim::Rule` (the README's numerical conventions); and
//! every optimizer training a small network to 100 % on XOR within a fixed step budget.

use bytemuck::Zeroable;
use shinso::{
    argmax, one_hot, stack, Affine, Init, Loss, Network, Optimizer, Rule, TanhLayer, WeightDecay,
};

/// A layer with three parameters: `w = [w₀₀, w₁₀]` (weight, 2×1) and `b = [b₀]`.
type Tiny = Affine<2, 1, 1>;

const W0: [f32; 3] = [1.0, -2.0, 0.5];
const G1: [f32; 3] = [0.5, -1.0, 0.25];
const G2: [f32; 3] = [0.1, 0.2, -0.3];

fn set_grads(opt: &mut Optimizer<Vec<f32>>, g: [f32; 3]) {
    opt.grads_mut().copy_from_slice(&g);
}

/// Parameters after one step with `G1` and after a second with `G2`, from `W0`.
fn two_steps(rule: Rule) -> ([f32; 3], [f32; 3]) {
    let mut layer = Tiny::zeroed();
    shinso::model::params_from(&mut layer, &W0);
    let mut opt = shinso_tests::optimizer::<Tiny>(rule);
    set_grads(&mut opt, G1);
    opt.step(&mut layer);
    let first = shinso_tests::params(&mut layer).try_into().unwrap();
    set_grads(&mut opt, G2);
    opt.step(&mut layer);
    assert_eq!(opt.steps(), 2);
    (first, shinso_tests::params(&mut layer).try_into().unwrap())
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
    // The optimizer's buffer: gradients first, then the state.
    assert_eq!(Rule::sgd(0.1).buffer_len(10), 10);
    assert_eq!(Rule::adam(0.1).buffer_len(10), 30);

    // After reset an optimizer behaves as new (AdaGrad's h back to h₀, Adam's t back to 1).
    for rule in [
        Rule::adagrad(0.1),
        Rule::adam(0.001),
        Rule::momentum(0.1),
        Rule::rmsprop(0.01),
    ] {
        let mut layer = Tiny::zeroed();
        shinso::model::params_from(&mut layer, &W0);
        let mut opt = shinso_tests::optimizer::<Tiny>(rule);
        set_grads(&mut opt, G2);
        opt.step(&mut layer);
        opt.reset();
        assert_eq!(opt.steps(), 0);
        assert_eq!(opt.grads(), [0.0; 3]);
        shinso::model::params_from(&mut layer, &W0);
        set_grads(&mut opt, G1);
        opt.step(&mut layer);
        set_grads(&mut opt, G2);
        opt.step(&mut layer);
        let after: [f32; 3] = shinso_tests::params(&mut layer).try_into().unwrap();
        assert_eq!(after, two_steps(rule).1, "{rule:?} after reset");
    }
}

// -------------------------------------------------------------------------------- XOR

type Xor = stack![Affine<2, 8, 4>, TanhLayer<[f32; 8], 4>, Affine<8, 2, 4>];

const X: [[f32; 2]; 4] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
const LABELS: [usize; 4] = [0, 1, 1, 0];

/// Steps until the network classifies all four XOR points with a probability of at least 0.9
/// for the right class (checked every 10 steps), or `None` within `budget`.
fn steps_to_solve_xor(rule: Rule, budget: u32) -> Option<u32> {
    let mut net = Network::<Xor>::boxed();
    net.init(Init::Xavier, 7);
    let t = LABELS.map(one_hot::<2>);
    let mut opt = shinso_tests::optimizer::<Xor>(rule);
    for step in 1..=budget {
        let loss = net
            .train_step(
                &X,
                &t,
                Loss::SoftmaxCrossEntropy,
                WeightDecay::default(),
                &mut opt,
            )
            .unwrap();
        assert!(loss.is_finite());
        if step % 10 == 0 {
            let out = net.predict(&X).unwrap();
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
    let mut layer = Tiny::zeroed();
    shinso::model::params_from(&mut layer, &W0);
    // A buffer sized for momentum (gradients + one float of state per parameter).
    let mut opt = Optimizer::new(
        Rule::sgd(0.1),
        3,
        vec![0.0; Rule::momentum(0.1).buffer_len(3)],
    );
    set_grads(&mut opt, G1);
    opt.step(&mut layer);
    assert_eq!(
        opt.set_rule(Rule::adam(0.001)),
        Err(shinso::Error::BufferTooSmall { needed: 4 * 9 })
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
    let from: [f32; 3] = shinso_tests::params(&mut layer).try_into().unwrap();
    set_grads(&mut opt, G2);
    opt.step(&mut layer);
    let after: [f32; 3] = shinso_tests::params(&mut layer).try_into().unwrap();
    for i in 0..3 {
        assert!((after[i] - (from[i] - 0.05 * G2[i])).abs() < 1e-7);
    }
}

#[test]
#[should_panic(expected = "optimizer buffer too small")]
fn too_small_a_buffer_is_a_setup_error() {
    let _ = Optimizer::new(Rule::adam(0.1), 3, vec![0.0; 8]);
}
