//! Initialisation: the same seed gives the same numbers, another seed others; each scheme's
//! spread; biases at zero; and the course's lesson on zero initialisation, shown by training.

use shinso::{
    argmax, one_hot, stack, Affine, Dropout, Init, Layer, Loss, Mode, Network, ReLU, Rule,
    SigmoidLayer, Tensor, TensorKind, WeightDecay,
};

type Mlp = stack![Affine<784, 40>, ReLU<[f32; 40]>, Affine<40, 10>];

fn init_params(init: Init, seed: u64) -> Vec<f32> {
    let mut net = Network::<Mlp>::boxed();
    net.init(init, seed);
    shinso_tests::params(&mut net.layers)
}

#[test]
fn same_seed_same_numbers_other_seed_others() {
    for init in [Init::Gaussian(0.01), Init::Xavier, Init::He] {
        let a = init_params(init, 42);
        let b = init_params(init, 42);
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{init:?}: same seed differs"
        );
        let c = init_params(init, 43);
        let same = a
            .iter()
            .zip(&c)
            .filter(|(x, y)| x == y && **x != 0.0)
            .count();
        assert!(
            same < 10,
            "{init:?}: seeds 42 and 43 share {same} nonzero weights"
        );
    }
}

/// Standard deviation and mean of each layer's weights, and the biases, per scheme. With 31,360
/// and 400 draws the sample standard deviation is within 2 % and 10 % of the truth at > 5σ.
#[test]
fn schemes_have_the_right_spread() {
    for init in [
        Init::Gaussian(0.01),
        Init::Gaussian(0.5),
        Init::Xavier,
        Init::He,
        Init::Zeros,
    ] {
        let mut net = Network::<Mlp>::boxed();
        net.init(init, 1);
        let mut layer = 0;
        net.layers.visit(&mut |t: Tensor<'_>| match t.kind {
            TensorKind::Weight => {
                let n = t.value.len() as f64;
                let mean = t.value.iter().map(|v| *v as f64).sum::<f64>() / n;
                let sd = (t
                    .value
                    .iter()
                    .map(|v| (*v as f64 - mean).powi(2))
                    .sum::<f64>()
                    / n)
                    .sqrt();
                let fan_in = [784.0f64, 40.0][layer];
                let want = match init {
                    Init::Gaussian(s) => s as f64,
                    Init::Xavier => 1.0 / fan_in.sqrt(),
                    Init::He => (2.0 / fan_in).sqrt(),
                    Init::Zeros => 0.0,
                };
                assert_eq!(t.fan_in as f64, fan_in);
                let rel = [0.02, 0.1][layer];
                assert!(
                    (sd - want).abs() <= rel * want,
                    "{init:?} layer {layer}: sd {sd}, want {want}"
                );
                assert!(
                    mean.abs() <= 5.0 * want / n.sqrt() + 1e-12,
                    "{init:?} layer {layer}: mean {mean}"
                );
                layer += 1;
            }
            TensorKind::Bias => {
                assert!(t.value.iter().all(|b| *b == 0.0), "{init:?}: nonzero bias")
            }
            _ => unreachable!(),
        });
        assert_eq!(layer, 2);
    }
}

/// Init also reseeds dropout: two networks initialised with the same seed drop the same units.
#[test]
fn dropout_masks_follow_the_seed() {
    type Net = stack![Affine<4, 64>, Dropout<[f32; 64]>, Affine<64, 2>];
    let run = |seed| {
        let mut net = Network::<Net>::boxed();
        net.init(Init::He, seed);
        net.layers.second.first.ratio = 0.5;
        let (mut cache, mut work) = shinso_tests::layer_arena::<Net>(2);
        let mut y = [[0.0; 2]; 2];
        let x = [[1.0, 2.0, 3.0, 4.0]; 2];
        net.layers
            .forward(&x, &mut y, Mode::Train, &mut cache, &mut work);
        y
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

type Xor = stack![Affine<2, 4>, SigmoidLayer<[f32; 4]>, Affine<4, 2>];
// XOR with one point twice: with the classes balanced, a zero-initialised net sits at a fixed
// point where no weight moves at all (Σ over the batch of (y − d) is 0); unbalanced, it
// trains, which shows the symmetry rather than a stall.
const X: [[f32; 2]; 5] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0]];
const LABELS: [usize; 5] = [0, 1, 1, 0, 0];

fn train_xor(init: Init) -> Box<Network<Xor>> {
    let mut net = Network::<Xor>::boxed();
    net.init(init, 5);
    let rule = Rule::sgd(0.5);
    let mut opt = shinso_tests::optimizer::<Xor>(rule);
    let t = LABELS.map(one_hot::<2>);
    let mut arena = shinso_tests::train_arena::<Xor>(5);
    let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay::default());
    for _ in 0..2000 {
        net.train_step(&X, &t, loss, decay, &mut opt, &mut arena)
            .unwrap();
    }
    net
}

fn xor_accuracy(net: &mut Network<Xor>) -> usize {
    let mut arena = vec![0.0; Network::<Xor>::predict_arena(5)];
    let out = net.predict(&X, &mut arena).unwrap();
    out.iter()
        .zip(LABELS)
        .filter(|(o, l)| argmax(*o) == *l)
        .count()
}

/// Why zero initialisation fails (the course's question): every hidden unit computes the same
/// function, receives the same gradient and so stays the same through training — the four
/// hidden units are one unit four times. Such a net is linear in effect and cannot solve XOR,
/// while the same net from He initialisation does.
#[test]
fn zero_init_hidden_units_stay_identical() {
    let mut net = train_xor(Init::Zeros);
    let l1 = &net.layers.first;
    let l2 = &net.layers.second.second;
    // Training did move the weights...
    assert!(
        l1.w.iter().flatten().any(|w| *w != 0.0),
        "first-layer weights never moved"
    );
    assert!(
        l2.w.iter().flatten().any(|w| *w != 0.0),
        "second-layer weights never moved"
    );
    // ...but every hidden unit j has the same incoming weights (column j of W1), bias, and
    // outgoing weights (row j of W2), bit for bit.
    for j in 1..4 {
        for i in 0..2 {
            assert_eq!(l1.w[i][j].to_bits(), l1.w[i][0].to_bits(), "W1[{i}][{j}]");
        }
        assert_eq!(l1.b[j].to_bits(), l1.b[0].to_bits(), "b1[{j}]");
        assert_eq!(l2.w[j], l2.w[0], "W2 row {j}");
    }
    assert!(
        xor_accuracy(&mut net) < 5,
        "a net of one repeated unit solved XOR"
    );

    let mut he = train_xor(Init::He);
    assert_eq!(xor_accuracy(&mut he), 5);
}

/// The generator behind every random choice: uniform in [0, 1), standard normal, integers
/// below n, shuffles that are permutations; all fixed by the seed.
#[test]
fn rng_distributions() {
    let mut rng = shinso::Rng::new(9);
    const N: usize = 100_000;
    let u: Vec<f32> = (0..N).map(|_| rng.uniform()).collect();
    assert!(u.iter().all(|v| (0.0..1.0).contains(v)));
    let mean = u.iter().map(|v| *v as f64).sum::<f64>() / N as f64;
    assert!(
        (mean - 0.5).abs() < 5.0 * (1.0f64 / 12.0 / N as f64).sqrt(),
        "uniform mean {mean}"
    );
    let z: Vec<f64> = (0..N).map(|_| rng.normal() as f64).collect();
    assert!(z.iter().all(|v| v.is_finite()));
    let m = z.iter().sum::<f64>() / N as f64;
    let v = z.iter().map(|x| (x - m).powi(2)).sum::<f64>() / N as f64;
    assert!(
        m.abs() < 5.0 / (N as f64).sqrt() && (v - 1.0).abs() < 0.03,
        "normal mean {m}, variance {v}"
    );
    let mut counts = [0usize; 7];
    (0..70_000).for_each(|_| counts[rng.below(7)] += 1);
    assert!(
        counts.iter().all(|c| (9_500..10_500).contains(c)),
        "{counts:?}"
    );
    let mut items: Vec<usize> = (0..50).collect();
    rng.shuffle(&mut items);
    assert_ne!(items, (0..50).collect::<Vec<_>>());
    let mut sorted = items.clone();
    sorted.sort();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    let (mut a, mut b) = (shinso::Rng::new(4), shinso::Rng::new(4));
    assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
}
