//! The host rows of the XLA comparison (`bench/xla_side_by_side.py`): training steps and
//! inference of the course's networks at the batch sizes of its table, one case at a time.
//!
//! ```text
//! cargo bench -p shinso --bench side_by_side              # a table, one round
//! cargo bench -p shinso --bench side_by_side -- --json    # one JSON object per line
//! cargo bench -p shinso --bench side_by_side -- --peak    # the core's peak mul+add GFLOP/s,
//!                                                         # and the micro-kernel's loop in L1
//! cargo bench -p shinso --bench side_by_side -- --avx2    # products on AVX2 even where the
//!                                                         # core has AVX-512
//! cargo bench -p shinso --bench side_by_side -- infer     # only the cases named "…infer…"
//! ```
//!
//! criterion is not used here: the script alternates rounds of this binary with rounds of the
//! JAX reference on the same pinned core, and each round must be short and machine-readable.
//! A round times each case in five bursts of about 60 ms and reports the median burst's time
//! per call. Inputs are random pixels: the work per step does not depend on the data.

use std::hint::black_box;
use std::time::{Duration, Instant};

use shinso::{
    one_hot, stack, zoo, Affine, Init, Knobs, Layer, Loss, Network, Optimizer, Rng, Rule,
    WeightDecay,
};

/// The course's MLP with a wider first hidden layer (the issue's 784-400-20-10 and
/// 784-1000-20-10 rows).
type WideMlp<const H: usize> = stack![zoo::Dense<784, H>, zoo::Dense<H, 20>, Affine<20, 10>];

/// Bursts per case; the median is reported.
const BURSTS: usize = 5;
/// Length of one burst.
const BURST: Duration = Duration::from_millis(60);

/// The median over [`BURSTS`] bursts of the time of one call of `f`, in microseconds.
fn time(mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < BURST {
        f();
        calls += 1;
    }
    let mut bursts: Vec<f64> = (0..BURSTS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(calls)
        })
        .collect();
    bursts.sort_by(f64::total_cmp);
    bursts[BURSTS / 2]
}

/// `n` random images and their (cycled) one-hot targets.
fn data<L: Layer<Out = [f32; 10]>>(n: usize) -> (Vec<f32>, Vec<[f32; 10]>) {
    let mut rng = Rng::new(2);
    let pixels = (0..n * Network::<L>::INPUTS)
        .map(|_| rng.uniform())
        .collect();
    (pixels, (0..n).map(|i| one_hot(i % 10)).collect())
}

/// Microseconds per training step on a batch of `n`.
fn train<L: Layer<Out = [f32; 10]>>(rule: Rule, n: usize) -> f64 {
    let mut net = Network::<L>::boxed();
    net.configure(&Knobs::default());
    net.init(Init::He, 1);
    let params = Network::<L>::PARAMS;
    let mut opt = Optimizer::new(rule, params, vec![0.0; rule.state_len(params)]).unwrap();
    let mut arena = vec![0.0; Network::<L>::train_arena(n)];
    let (pixels, t) = data::<L>(n);
    let x: &[L::In] = bytemuck::cast_slice(&pixels);
    time(|| {
        let loss = Loss::SoftmaxCrossEntropy;
        let step = net.train_step(x, &t, loss, WeightDecay::default(), &mut opt, &mut arena);
        black_box(step.unwrap());
    })
}

/// Microseconds per inference of a batch of `n`.
fn infer<L: Layer<Out = [f32; 10]>>(n: usize) -> f64 {
    let mut net = Network::<L>::boxed();
    net.configure(&Knobs::default());
    net.init(Init::He, 1);
    let mut arena = vec![0.0; Network::<L>::predict_arena(n)];
    let (pixels, _) = data::<L>(n);
    let x: &[L::In] = bytemuck::cast_slice(&pixels);
    time(|| {
        black_box(net.predict(x, &mut arena).unwrap());
    })
}

/// One core's peak of separate multiplies and adds, in GFLOP/s, with the vectors the products
/// use: twelve independent chains of one register each (8 lanes of AVX2, or 16 of AVX-512
/// where the products run on it) doing `s = s·a + b`, so a multiply and an add per lane and
/// step and enough chains in flight to cover both latencies. The best of 50 runs of 2 M steps
/// per chain (about 10 ms each): the shortest run is the one the other processes on the machine
/// interrupted least.
fn peak(lanes: usize) -> f64 {
    const STEPS: u32 = 2_000_000;
    let (a, b) = (black_box(0.999_f32), black_box(0.001_f32));
    let best = (0..50)
        .map(|_| {
            let start = Instant::now();
            match lanes {
                16 => _ = black_box(chains16(STEPS, a, b)),
                _ => _ = black_box(chains::<8>(STEPS, a, b)),
            }
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    f64::from(STEPS) * 12.0 * lanes as f64 * 2.0 / best / 1e9
}

/// Twelve chains of `L` lanes, `steps` steps of `s = s·a + b` (auto-vectorised: one AVX2
/// register each for `L = 8`).
fn chains<const L: usize>(steps: u32, a: f32, b: f32) -> [[f32; L]; 12] {
    let mut s = [[1.0f32; L]; 12];
    for _ in 0..steps {
        for chain in &mut s {
            for x in chain {
                *x = *x * a + b;
            }
        }
    }
    s
}

/// [`chains`] in AVX-512 registers of 16 lanes, written with intrinsics as the products' kernel
/// is (only called where the products use AVX-512).
#[cfg(target_arch = "x86_64")]
fn chains16(steps: u32, a: f32, b: f32) -> f32 {
    use std::arch::x86_64::*;
    #[target_feature(enable = "avx512f")]
    fn run(steps: u32, a: f32, b: f32) -> f32 {
        let (a, b) = (_mm512_set1_ps(a), _mm512_set1_ps(b));
        let mut s = [_mm512_set1_ps(1.0); 12];
        for _ in 0..steps {
            for x in &mut s {
                *x = _mm512_add_ps(_mm512_mul_ps(*x, a), b);
            }
        }
        _mm512_reduce_add_ps(
            s.into_iter()
                .fold(_mm512_setzero_ps(), |t, x| _mm512_add_ps(t, x)),
        )
    }
    assert!(
        shinso::kernels::uses_avx512(),
        "16 lanes only where the products use them"
    );
    // SAFETY: this core has AVX-512F (asserted above).
    unsafe { run(steps, a, b) }
}

#[cfg(not(target_arch = "x86_64"))]
fn chains16(_: u32, _: f32, _: f32) -> f32 {
    unreachable!("AVX-512 is x86-64's")
}

/// What a matrix product's inner loop can reach, in GFLOP/s: the blocked products' micro-kernel
/// shape (a 6 × 16 tile of sums in registers; per step six broadcast numbers of one packed
/// panel and sixteen of the other, multiplied and added), its operands 256 steps long and in
/// L1, the tile stored after each sweep. It differs from [`peak`] only by the operands' loads,
/// so the two side by side say what the loads cost on this machine. Best of 50 runs.
fn ceiling() -> f64 {
    const K: usize = 256;
    const SWEEPS: usize = 20_000;
    let a: Vec<f32> = (0..6 * K).map(|i| 1.0 + i as f32 * 1e-6).collect();
    let b: Vec<f32> = (0..16 * K).map(|i| 1.0 - i as f32 * 1e-6).collect();
    let mut out = [[0.0f32; 16]; 6];
    let best = (0..50)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..SWEEPS {
                let mut acc = [[0.0f32; 16]; 6];
                for (a, b) in black_box(&a)
                    .chunks_exact(6)
                    .zip(black_box(&b).chunks_exact(16))
                {
                    for (row, ar) in acc.iter_mut().zip(a) {
                        for (s, bc) in row.iter_mut().zip(b) {
                            *s += ar * bc;
                        }
                    }
                }
                out = black_box(acc);
            }
            black_box(&out);
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    (SWEEPS * K * 6 * 16 * 2) as f64 / best / 1e9
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    // The presets' optimizers (host/src/presets.rs): SGD 0.1 for the MLPs, Adam for the convnets.
    let sgd = Rule::sgd(0.1);
    let adam = Rule::adam(0.001);
    let cases: [(&str, &dyn Fn() -> f64); 12] = [
        ("train mlp 784-40-20-10 b1", &|| train::<zoo::Mlp>(sgd, 1)),
        ("train mlp 784-40-20-10 b10", &|| train::<zoo::Mlp>(sgd, 10)),
        ("train mlp 784-40-20-10 b100", &|| {
            train::<zoo::Mlp>(sgd, 100)
        }),
        ("train mlp 784-40-20-10 b1000", &|| {
            train::<zoo::Mlp>(sgd, 1000)
        }),
        ("train mlp 784-400-20-10 b100", &|| {
            train::<WideMlp<400>>(sgd, 100)
        }),
        ("train mlp 784-1000-20-10 b100", &|| {
            train::<WideMlp<1000>>(sgd, 100)
        }),
        ("train simple-convnet b100", &|| {
            train::<zoo::SimpleConvNet>(adam, 100)
        }),
        ("train double-convnet b100", &|| {
            train::<zoo::DoubleConvNet>(adam, 100)
        }),
        ("infer mlp b1", &|| infer::<zoo::Mlp>(1)),
        ("infer mlp b100", &|| infer::<zoo::Mlp>(100)),
        ("infer simple-convnet b1", &|| {
            infer::<zoo::SimpleConvNet>(1)
        }),
        ("infer simple-convnet b100", &|| {
            infer::<zoo::SimpleConvNet>(100)
        }),
    ];
    if std::env::args().any(|a| a == "--avx2") {
        shinso::kernels::allow_avx512(false);
    }
    let lanes = if shinso::kernels::uses_avx512() {
        16
    } else {
        8
    };
    if std::env::args().any(|a| a == "--peak") {
        let (gflops, avx2, loop_gflops) = (peak(lanes), peak(8), ceiling());
        if json {
            println!("{{\"peak_gflops\": {gflops:.1}, \"lanes\": {lanes}, \"avx2_peak_gflops\": {avx2:.1}, \"kernel_loop_gflops\": {loop_gflops:.1}}}");
        } else {
            println!("peak mul+add with the products' {lanes}-lane vectors: {gflops:.1} GFLOP/s");
            println!("peak mul+add, 8 lanes (AVX2): {avx2:.1} GFLOP/s");
            println!("AVX2 micro-kernel loop, operands in L1: {loop_gflops:.1} GFLOP/s");
        }
        return;
    }
    // Other arguments (criterion-style) keep only the cases whose names contain one of them.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    for (name, run) in cases {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let us = run();
        if json {
            println!("{{\"case\": \"{name}\", \"us\": {us:.3}}}");
        } else {
            println!("{name:<32} {us:>12.1} µs");
        }
    }
}
