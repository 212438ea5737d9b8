//! Kernel benchmarks at the sizes the course's networks use.
//!
//! ```text
//! cargo bench -p shinso --bench kernels            # everything, ~1 minute
//! cargo bench -p shinso --bench kernels -- gemm    # only names containing "gemm"
//! ```
//!
//! Sizes: the affine layers of the course's MLP over batches of 1, 100 and 1000 (for the
//! 784-40 layer at batch 100: forward `x·W` is gemm_nn 100×784×40, the weight gradient `xᵀ·dy`
//! gemm_tn 784×100×40, the input gradient `dy·Wᵀ` gemm_nt 100×40×784), with one core's peak
//! rate for comparison; the simple convnet's convolution (30 filters of 5×5 on 28×28,
//! 24×24 out) and 2×2 pooling (30×24×24 → 12×12); all per batch of 100 samples unless the name
//! says otherwise.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shinso::kernels::batchnorm::{bn_backward, bn_normalize, bn_stats, BnShape, Norm};
use shinso::kernels::{
    avg_pool, avg_pool_backward, axpy, col2im, conv2d_direct, dot, gemm_nn, gemm_nt, gemm_tn,
    im2col, max_pool, max_pool_backward, max_pool_infer, relu, Geometry,
};
use shinso::{Conv2d, Layer, Mode, Rng};

const BATCH: usize = 100;

fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.normal()).collect()
}

fn vectors(c: &mut Criterion) {
    let (x, mut y) = (data(784, 1), data(784, 2));
    c.bench_function("dot 784", |b| b.iter(|| dot(black_box(&x), black_box(&y))));
    c.bench_function("axpy 784", |b| {
        b.iter(|| axpy(black_box(0.5), black_box(&x), black_box(&mut y)))
    });
}

/// The three products of each affine layer of the course's MLP (784-40, 40-20, 20-10) at
/// batches of 1, 100 and 1000, and of the wide MLPs' first layers (784-400, 784-1000) at 100,
/// with their rate in FLOP/s (criterion's "elem/s", two per MAC).
fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm");
    let mlp = [(784, 40), (40, 20), (20, 10)];
    let layers = [1, 100, 1000]
        .into_iter()
        .flat_map(|batch| mlp.map(|(i, o)| (batch, i, o)));
    for (batch, i, o) in layers.chain([(100, 784, 400), (100, 784, 1000)]) {
        let (x, w, dy) = (data(batch * i, 1), data(i * o, 2), data(batch * o, 3));
        let (mut u, mut dw, mut dx) =
            (vec![0.0; batch * o], vec![0.0; i * o], vec![0.0; batch * i]);
        g.throughput(Throughput::Elements((2 * batch * i * o) as u64));
        g.bench_function(format!("nn {batch}x{i}x{o} (affine forward)"), |b| {
            b.iter(|| gemm_nn(batch, i, o, black_box(&x), black_box(&w), &mut u, false))
        });
        g.bench_function(format!("tn {i}x{batch}x{o} (affine dW)"), |b| {
            b.iter(|| gemm_tn(i, batch, o, black_box(&x), black_box(&dy), &mut dw, false))
        });
        g.bench_function(format!("nt {batch}x{o}x{i} (affine dx)"), |b| {
            b.iter(|| gemm_nt(batch, o, i, black_box(&dy), black_box(&w), &mut dx, false))
        });
    }
    g.finish();
}

/// One core's peak rate for separate multiplies and adds (the floats the kernels compute, no
/// fused multiply-add): 12 independent chains `v = v·m + a` of 8-lane AVX2 vectors, and of
/// 16-lane AVX-512 ones where the core has them, all in registers, 2 FLOP per lane per step;
/// criterion's "elem/s" is FLOP/s. (`side_by_side --peak` measures the same by another clock.)
#[cfg(target_arch = "x86_64")]
fn peak(c: &mut Criterion) {
    use std::arch::x86_64::*;
    const STEPS: usize = 10_000;
    #[target_feature(enable = "avx2")]
    fn chains(m: f32, a: f32) -> f32 {
        let (m, a) = (_mm256_set1_ps(m), _mm256_set1_ps(a));
        let mut v = [_mm256_set1_ps(1.0); 12];
        for _ in 0..STEPS {
            for x in v.iter_mut() {
                *x = _mm256_add_ps(_mm256_mul_ps(*x, m), a);
            }
        }
        let s = v
            .iter()
            .fold(_mm256_setzero_ps(), |s, x| _mm256_add_ps(s, *x));
        _mm256_cvtss_f32(s)
    }
    #[target_feature(enable = "avx512f")]
    fn chains16(m: f32, a: f32) -> f32 {
        let (m, a) = (_mm512_set1_ps(m), _mm512_set1_ps(a));
        let mut v = [_mm512_set1_ps(1.0); 12];
        for _ in 0..STEPS {
            for x in v.iter_mut() {
                *x = _mm512_add_ps(_mm512_mul_ps(*x, m), a);
            }
        }
        _mm512_reduce_add_ps(
            v.into_iter()
                .fold(_mm512_setzero_ps(), |s, x| _mm512_add_ps(s, x)),
        )
    }
    if !is_x86_feature_detected!("avx2") {
        return;
    }
    let mut g = c.benchmark_group("peak");
    g.throughput(Throughput::Elements((STEPS * 12 * 8 * 2) as u64));
    g.bench_function("avx2 mul+add, 12 chains", |b| {
        // SAFETY: AVX2 is present (checked above).
        b.iter(|| unsafe { chains(black_box(0.999), black_box(0.001)) })
    });
    if is_x86_feature_detected!("avx512f") {
        g.throughput(Throughput::Elements((STEPS * 12 * 16 * 2) as u64));
        g.bench_function("avx512 mul+add, 12 chains", |b| {
            // SAFETY: AVX-512F is present (checked above).
            b.iter(|| unsafe { chains16(black_box(0.999), black_box(0.001)) })
        });
    }
    g.finish();
}

#[cfg(not(target_arch = "x86_64"))]
fn peak(_: &mut Criterion) {}

/// The simple convnet's convolution: 1×28×28 in, 30 filters of 5×5, stride 1, no padding.
const CONV: Geometry = Geometry {
    c: 1,
    h: 28,
    w: 28,
    fh: 5,
    fw: 5,
    stride: 1,
    pad: 0,
};
/// Its pooling: 30×24×24, 2×2 windows, stride 2.
const POOL: Geometry = Geometry {
    c: 30,
    h: 24,
    w: 24,
    fh: 2,
    fw: 2,
    stride: 2,
    pad: 0,
};

fn im2col_col2im(c: &mut Criterion) {
    let x = data(BATCH * CONV.input_len(), 1);
    let mut col = vec![0.0; BATCH * CONV.col_len()];
    let mut back = vec![0.0; x.len()];
    c.bench_function("im2col 1x28x28 5x5", |b| {
        b.iter(|| {
            for (xs, cs) in x
                .chunks_exact(CONV.input_len())
                .zip(col.chunks_exact_mut(CONV.col_len()))
            {
                im2col(&CONV, black_box(xs), cs);
            }
        })
    });
    c.bench_function("col2im 1x28x28 5x5", |b| {
        b.iter(|| {
            for (cs, xs) in col
                .chunks_exact(CONV.col_len())
                .zip(back.chunks_exact_mut(CONV.input_len()))
            {
                col2im(&CONV, black_box(cs), xs);
            }
        })
    });
}

fn pooling(c: &mut Criterion) {
    let out = POOL.c * POOL.positions();
    let x = data(BATCH * POOL.input_len(), 1);
    let dy = data(BATCH * out, 2);
    let (mut y, mut arg, mut dx) = (
        vec![0.0; BATCH * out],
        vec![0u32; BATCH * out],
        vec![0.0; x.len()],
    );
    c.bench_function("max_pool 30x24x24 2x2", |b| {
        b.iter(|| {
            let samples = x
                .chunks_exact(POOL.input_len())
                .zip(y.chunks_exact_mut(out));
            for ((xs, ys), args) in samples.zip(arg.chunks_exact_mut(out)) {
                max_pool(&POOL, black_box(xs), ys, args);
            }
        })
    });
    c.bench_function("max_pool_infer 30x24x24 2x2 (no argmax)", |b| {
        b.iter(|| {
            let samples = x
                .chunks_exact(POOL.input_len())
                .zip(y.chunks_exact_mut(out));
            for (xs, ys) in samples {
                max_pool_infer(&POOL, black_box(xs), ys);
            }
        })
    });
    let relu_in = data(BATCH * POOL.input_len(), 9);
    let mut relu_out = vec![0.0; relu_in.len()];
    c.bench_function("relu 30x24x24", |b| {
        b.iter(|| relu(black_box(&relu_in), &mut relu_out))
    });
    c.bench_function("max_pool_backward 30x24x24 2x2", |b| {
        b.iter(|| {
            let samples = arg.chunks_exact(out).zip(dy.chunks_exact(out));
            for ((args, dys), dxs) in samples.zip(dx.chunks_exact_mut(POOL.input_len())) {
                max_pool_backward(args, black_box(dys), dxs);
            }
        })
    });
    c.bench_function("avg_pool 30x24x24 2x2", |b| {
        b.iter(|| {
            for (xs, ys) in x
                .chunks_exact(POOL.input_len())
                .zip(y.chunks_exact_mut(out))
            {
                avg_pool(&POOL, black_box(xs), ys);
            }
        })
    });
    c.bench_function("avg_pool_backward 30x24x24 2x2", |b| {
        b.iter(|| {
            for (dys, dxs) in dy
                .chunks_exact(out)
                .zip(dx.chunks_exact_mut(POOL.input_len()))
            {
                avg_pool_backward(&POOL, black_box(dys), dxs);
            }
        })
    });
}

fn convolution(c: &mut Criterion) {
    type Conv = Conv2d<1, 28, 28, 30, 5, 5, 1, 0, 24, 24>;
    let mut conv: Box<Conv> = bytemuck::zeroed_box();
    shinso::model::params_from(&mut *conv, &data(Conv::PARAMS, 1));
    let x: Vec<[[[f32; 28]; 28]; 1]> = bytemuck::cast_slice(&data(BATCH * 784, 2)).to_vec();
    let dy: Vec<[[[f32; 24]; 24]; 30]> = bytemuck::cast_slice(&data(BATCH * 30 * 576, 3)).to_vec();
    let mut y: Vec<[[[f32; 24]; 24]; 30]> = vec![bytemuck::Zeroable::zeroed(); BATCH];
    let mut dx: Vec<[[[f32; 28]; 28]; 1]> = vec![bytemuck::Zeroable::zeroed(); BATCH];
    let mut cache = vec![0.0; Conv::CACHE.at(BATCH)];
    let mut work = vec![0.0; Conv::WORK.at(BATCH)];
    c.bench_function("conv forward 1x28x28 -> 30x24x24 (im2col + gemm)", |b| {
        b.iter(|| conv.forward(black_box(&x), &mut y, Mode::Train, &mut cache, &mut work))
    });
    conv.forward(&x, &mut y, Mode::Train, &mut cache, &mut work);
    let mut grad = vec![0.0; 30 * 25 + 30];
    c.bench_function("conv backward 1x28x28 -> 30x24x24 (dW, db, dx)", |b| {
        b.iter(|| {
            let dx = Some(&mut dx[..]);
            conv.backward(
                black_box(&x),
                &y,
                black_box(&dy),
                dx,
                &mut grad,
                &cache,
                &mut work,
            )
        })
    });
    // One sample of the device's first conv layer (8 filters of 3×3), direct.
    let g = Geometry {
        c: 1,
        h: 28,
        w: 28,
        fh: 3,
        fw: 3,
        stride: 1,
        pad: 0,
    };
    let (w, bias) = (data(8 * 9, 4), data(8, 5));
    let mut out = vec![0.0; 8 * 26 * 26];
    c.bench_function("conv2d_direct 1 sample 1x28x28 -> 8x26x26", |b| {
        b.iter(|| {
            conv2d_direct(
                &g,
                black_box(x[0].as_flattened().as_flattened()),
                &w,
                &bias,
                &mut out,
            )
        })
    });
}

fn batchnorm(c: &mut Criterion) {
    let shape = BnShape {
        n: BATCH,
        c: 40,
        s: 1,
    };
    let x = data(BATCH * 40, 1);
    let dy = data(BATCH * 40, 2);
    let (mut mean, mut var, mut y, mut dx) = (
        vec![0.0; 40],
        vec![0.0; 40],
        vec![0.0; x.len()],
        vec![0.0; x.len()],
    );
    let (gamma, beta) = (vec![1.0; 40], vec![0.0; 40]);
    let (mut dg, mut db) = (vec![0.0; 40], vec![0.0; 40]);
    c.bench_function("batchnorm forward 100x40", |b| {
        b.iter(|| {
            bn_stats(shape, black_box(&x), &mut mean, &mut var);
            let norm = Norm {
                mean: &mean,
                var: &var,
                gamma: &gamma,
                beta: &beta,
                from_batch: true,
            };
            bn_normalize(shape, &norm, &x, &mut y);
        })
    });
    let norm = Norm {
        mean: &mean,
        var: &var,
        gamma: &gamma,
        beta: &beta,
        from_batch: true,
    };
    c.bench_function("batchnorm backward 100x40", |b| {
        b.iter(|| {
            bn_backward(
                shape,
                &norm,
                black_box(&x),
                black_box(&dy),
                &mut dg,
                &mut db,
                Some(&mut dx),
            )
        })
    });
}

/// One conv block of the double convnet, fused (`ConvReluPool`, `F`) against the unfused
/// `Conv2d → ReLU → MaxPool2d` (`U`) with the same weights: training forward, and backward (with
/// `dx` when `with_dx`, as for the second block; the first block of a net skips it), on `n`
/// samples.
fn fused_vs_unfused<F: Layer, U: Layer<In = F::In, Out = F::Out>>(
    c: &mut Criterion,
    name: &str,
    n: usize,
    with_dx: bool,
) {
    let p = data(F::PARAMS, 1);
    let x: Vec<F::In> =
        bytemuck::cast_slice(&data(n * std::mem::size_of::<F::In>() / 4, 2)).to_vec();
    let dy: Vec<F::Out> =
        bytemuck::cast_slice(&data(n * std::mem::size_of::<F::Out>() / 4, 3)).to_vec();
    block::<F>(
        c,
        &format!("fused {{}} {name} batch {n}"),
        &p,
        &x,
        &dy,
        with_dx,
    );
    block::<U>(
        c,
        &format!("unfused {{}} {name} batch {n}"),
        &p,
        &x,
        &dy,
        with_dx,
    );
}

fn block<L: Layer>(
    c: &mut Criterion,
    name: &str,
    p: &[f32],
    x: &[L::In],
    dy: &[L::Out],
    with_dx: bool,
) {
    let mut layer: Box<L> = bytemuck::zeroed_box();
    shinso::model::params_from(&mut *layer, p);
    let mut y: Vec<L::Out> = vec![bytemuck::Zeroable::zeroed(); x.len()];
    let mut dx: Vec<L::In> = vec![bytemuck::Zeroable::zeroed(); x.len()];
    let mut grad = vec![0.0; L::PARAMS];
    let mut cache = vec![0.0; L::CACHE.at(x.len())];
    let mut work = vec![0.0; L::WORK.at(x.len())];
    let label = |pass: &str| format!("conv_relu_pool {}", name.replace("{}", pass));
    c.bench_function(&label("forward"), |b| {
        b.iter(|| layer.forward(black_box(x), &mut y, Mode::Train, &mut cache, &mut work))
    });
    layer.forward(x, &mut y, Mode::Train, &mut cache, &mut work);
    c.bench_function(&label("backward"), |b| {
        b.iter(|| {
            let dx = with_dx.then_some(&mut dx[..]);
            layer.backward(
                black_box(x),
                &y,
                black_box(dy),
                dx,
                &mut grad,
                &cache,
                &mut work,
            )
        })
    });
}

/// The double convnet's blocks (1×28×28 → 16×13×13, 16×13×13 → 32×5×5) fused and unfused, at
/// batch 100 (host training) and 1 (online learning).
fn conv_relu_pool(c: &mut Criterion) {
    use shinso::{stack, ConvReluPool, MaxPool2d, ReLU};
    type M<const C: usize, const H: usize, const W: usize> = [[[f32; W]; H]; C];
    type F1 = ConvReluPool<1, 28, 28, 16, 3, 3, 1, 0, 26, 26, 2, 2, 2, 13, 13>;
    type U1 = stack![
        Conv2d<1, 28, 28, 16, 3, 3, 1, 0, 26, 26>,
        ReLU<M<16, 26, 26>>,
        MaxPool2d<16, 26, 26, 2, 2, 2, 13, 13>
    ];
    type F2 = ConvReluPool<16, 13, 13, 32, 3, 3, 1, 0, 11, 11, 2, 2, 2, 5, 5>;
    type U2 = stack![
        Conv2d<16, 13, 13, 32, 3, 3, 1, 0, 11, 11>,
        ReLU<M<32, 11, 11>>,
        MaxPool2d<32, 11, 11, 2, 2, 2, 5, 5>
    ];
    for n in [BATCH, 1] {
        fused_vs_unfused::<F1, U1>(c, "1x28x28 -> 16x13x13", n, false);
        fused_vs_unfused::<F2, U2>(c, "16x13x13 -> 32x5x5", n, true);
    }
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
    targets = peak, vectors, gemm, im2col_col2im, pooling, convolution, batchnorm, conv_relu_pool
}
criterion_main!(benches);
