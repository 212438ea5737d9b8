//! The fused `ConvReluPool` layer against the unfused `Conv2d → ReLU → MaxPool2d` it replaces
//! (outputs, parameter and input gradients, blobs both ways), against the numerical gradient of
//! the `f64` twin `maxpool(relu(conv))`, in inference mode (no cache at all), and the zoo's
//! two-conv nets against their unfused equivalent.

use proptest::prelude::*;
use shinso::kernels::{conv_relu_pool, conv_relu_pool_backward, ConvPool};
use shinso::layer::{flat, floats};
use shinso::zoo::{DoubleConvNet, OnlineConvNet};
use shinso::{
    model, one_hot, stack, Affine, Conv2d, ConvReluPool, Flatten, Layer, Loss, MaxPool2d, Mode,
    Network, ReLU, Rng, Rule, WeightDecay,
};
use shinso_tests::twin::{self, Geom};
use shinso_tests::{
    assert_close, check_layer, quantized, samples, to_f32, uniform, zeroed, Solo, Tol,
};

type Maps<const C: usize, const H: usize, const W: usize> = [[[f32; W]; H]; C];

/// Whether `maxpool(relu(u))` is smooth within `margin` of the convolution output `u`
/// (`(N, FN, OH, OW)`, pooled by `pool`): in every window the largest value is either below
/// `−margin` (the cell is 0 and stays 0) or above `margin` and more than `margin` ahead of the
/// runner-up. Then moving one weight or one input by `h` (which moves any `u` by at most `h`,
/// all data being below 1 in magnitude) with `2h < margin` changes neither the ReLU mask nor an
/// argmax, so central differences are exact to `O(h²)` and two implementations that round
/// differently still route every gradient to the same place.
fn smooth(u: &[f64], pool: Geom, margin: f64) -> bool {
    let (oh, ow) = (pool.h, pool.w);
    let (qh, qw) = (pool.oh(), pool.ow());
    for plane in u.chunks_exact(oh * ow) {
        for qy in 0..qh {
            for qx in 0..qw {
                let (mut top, mut second) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
                for i in 0..pool.fh {
                    for j in 0..pool.fw {
                        let v = plane[(qy * pool.stride + i) * ow + qx * pool.stride + j];
                        if v > top {
                            (top, second) = (v, top);
                        } else if v > second {
                            second = v;
                        }
                    }
                }
                let ok = top < -margin || (top > margin && top - second > margin);
                if !ok {
                    return false;
                }
            }
        }
    }
    true
}

// ----------------------------------------------------------------------------- the kernels

/// A random conv + pool geometry for one sample: up to 3 channels of up to 11×11, windows up
/// to 4×4, strides 1–3, padding 0–2, up to 3 filters, pooling windows up to 3×3 with strides
/// 1–3; only those whose windows fit.
fn geom() -> impl Strategy<Value = (Geom, Geom)> {
    (
        (1usize..4, 1usize..12, 1usize..12, 1usize..5, 1usize..5),
        (1usize..4, 0usize..3, 1usize..4),
        (1usize..4, 1usize..4, 1usize..4),
    )
        .prop_map(|((c, h, w, fh, fw), (stride, pad, fnum), (ph, pw, ps))| {
            let conv = Geom {
                n: 1,
                c,
                h,
                w,
                fh,
                fw,
                stride,
                pad,
            };
            let pool = Geom {
                n: 1,
                c: fnum,
                h: 0,
                w: 0,
                fh: ph,
                fw: pw,
                stride: ps,
                pad: 0,
            };
            (conv, pool)
        })
        .prop_filter("windows must fit", |(conv, pool)| {
            conv.fits() && pool.fh <= conv.oh() && pool.fw <= conv.ow()
        })
        .prop_map(|(conv, pool)| {
            (
                conv,
                Geom {
                    h: conv.oh(),
                    w: conv.ow(),
                    ..pool
                },
            )
        })
}

/// The `f64` reference of the backward kernel: every pooled cell whose window maximum (the
/// first one, in row-major order) is positive sends `dy` through that convolution output.
fn backward_twin(
    conv: Geom,
    pool: Geom,
    x: &[f32],
    w: &[f32],
    u: &[f64],
    dy: &[f32],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (oh, ow, k) = (conv.oh(), conv.ow(), conv.cols());
    let (mut dw, mut db, mut dx) = (vec![0.0; pool.c * k], vec![0.0; pool.c], vec![0.0; x.len()]);
    let pixel = |oy: usize, ox: usize, i: usize, j: usize| {
        let y = (oy * conv.stride + i) as isize - conv.pad as isize;
        let xx = (ox * conv.stride + j) as isize - conv.pad as isize;
        (y >= 0 && xx >= 0 && (y as usize) < conv.h && (xx as usize) < conv.w)
            .then(|| y as usize * conv.w + xx as usize)
    };
    let (qh, qw) = (pool.oh(), pool.ow());
    for f in 0..pool.c {
        for qy in 0..qh {
            for qx in 0..qw {
                let mut best = (f64::NEG_INFINITY, 0, 0);
                for a in 0..pool.fh {
                    for b in 0..pool.fw {
                        let (oy, ox) = (qy * pool.stride + a, qx * pool.stride + b);
                        if u[(f * oh + oy) * ow + ox] > best.0 {
                            best = (u[(f * oh + oy) * ow + ox], oy, ox);
                        }
                    }
                }
                if best.0 <= 0.0 {
                    continue;
                }
                let d = dy[(f * qh + qy) * qw + qx] as f64;
                db[f] += d;
                for ch in 0..conv.c {
                    for i in 0..conv.fh {
                        for j in 0..conv.fw {
                            if let Some(p) = pixel(best.1, best.2, i, j) {
                                let wi = ((f * conv.c + ch) * conv.fh + i) * conv.fw + j;
                                let xi = ch * conv.h * conv.w + p;
                                dw[wi] += d * x[xi] as f64;
                                dx[xi] += d * w[wi] as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    (dw, db, dx)
}

proptest! {
    #![proptest_config(shinso_tests::proptest_config(128))]

    /// Both kernels against the twins on random geometries (strides, padding, overlapping or
    /// skipping pooling windows), with the conv rounding bound `1e-6·(k + 1)` relative to
    /// `Σ|x||w|` (`k` = C·FH·FW terms). Data near a kink (see `smooth`) is skipped.
    #[test]
    fn kernels_match_twins((conv, pool) in geom(), seed in any::<u64>()) {
        let (fnum, k) = (pool.c, conv.cols());
        let mut rng = Rng::new(seed);
        let x = uniform(&mut rng, conv.input_len());
        let w = uniform(&mut rng, fnum * k);
        let b = uniform(&mut rng, fnum);
        let u = twin::conv2d(conv, fnum, &x, &w, &b);
        prop_assume!(smooth(&u, pool, 1e-4));
        let g = ConvPool {
            conv: conv.core(),
            filters: fnum,
            ph: pool.fh,
            pw: pool.fw,
            ps: pool.stride,
        };
        prop_assert_eq!((g.qh(), g.qw()), (pool.oh(), pool.ow()));
        let n = g.output_len();
        // Exactly the documented scratch (the layers give more, which the kernel may use).
        let mut band = vec![f32::NAN; g.band_len()];
        let (mut y, mut yi, mut arg) = (vec![f32::NAN; n], vec![f32::NAN; n], vec![0u8; n]);
        conv_relu_pool(&g, &x, &w, &b, &mut band, &mut y, Some(&mut arg));
        conv_relu_pool(&g, &x, &w, &b, &mut band, &mut yi, None);
        prop_assert_eq!(&y, &yi);
        let want = twin::max_pool(pool, &twin::map(&u, twin::relu));
        let abs = |v: &[f32]| v.iter().map(|a| a.abs()).collect::<Vec<_>>();
        let scale = twin::conv2d(conv, fnum, &abs(&x), &abs(&w), &abs(&b));
        let bound = 1e-6 * (k as f64 + 1.0) * scale.iter().copied().fold(1.0, f64::max);
        for (i, (got, want)) in y.iter().zip(&want).enumerate() {
            prop_assert!((*got as f64 - want).abs() <= bound, "y[{}]: {} vs {}", i, got, want);
        }

        let dy = uniform(&mut rng, n);
        // dw and db start nonzero (the kernel adds to them); dx is overwritten.
        let (dw0, db0) = (uniform(&mut rng, fnum * k), uniform(&mut rng, fnum));
        let (mut dw, mut db, mut dx) = (dw0.clone(), db0.clone(), vec![f32::NAN; x.len()]);
        let mut patch = vec![f32::NAN; 2 * k];
        let dxs = Some(&mut dx[..]);
        conv_relu_pool_backward(&g, &x, &w, &y, &arg, &dy, &mut dw, &mut db, dxs, &mut patch);
        let (tw, tb, tx) = backward_twin(conv, pool, &x, &w, &u, &dy);
        let plus = |a: &[f32], t: &[f64]| {
            a.iter().zip(t).map(|(a, t)| (*a as f64 + t) as f32).collect::<Vec<_>>()
        };
        assert_close("dw", &dw, &plus(&dw0, &tw), 1e-5, 1.0);
        assert_close("db", &db, &plus(&db0, &tb), 1e-5, 1.0);
        assert_close("dx", &dx, &to_f32(&tx), 1e-5, 1.0);
    }
}

// ------------------------------------------------------------------------------ the layer

/// Check `ConvReluPool` with the given sizes on `n` samples.
fn check<
    const C: usize,
    const H: usize,
    const W: usize,
    const FN: usize,
    const FH: usize,
    const FW: usize,
    const S: usize,
    const P: usize,
    const OH: usize,
    const OW: usize,
    const PH: usize,
    const PW: usize,
    const PS: usize,
    const QH: usize,
    const QW: usize,
>(
    n: usize,
    seed: u64,
) {
    let what =
        format!("ConvReluPool C{C} {H}x{W} FN{FN} {FH}x{FW} S{S} P{P} pool {PH}x{PW}/{PS} n={n}");
    let mut fused =
        Solo::<ConvReluPool<C, H, W, FN, FH, FW, S, P, OH, OW, PH, PW, PS, QH, QW>>::zeroed();
    let mut unfused = Solo::<
        stack![
            Conv2d<C, H, W, FN, FH, FW, S, P, OH, OW>,
            ReLU<Maps<FN, OH, OW>>,
            MaxPool2d<FN, OH, OW, PH, PW, PS, QH, QW>
        ],
    >::zeroed();
    let params = FN * C * FH * FW + FN;
    assert_eq!(shinso_tests::params(&mut fused.layer).len(), params);

    let conv = Geom {
        n,
        c: C,
        h: H,
        w: W,
        fh: FH,
        fw: FW,
        stride: S,
        pad: P,
    };
    let pool = Geom {
        n,
        c: FN,
        h: OH,
        w: OW,
        fh: PH,
        fw: PW,
        stride: PS,
        pad: 0,
    };
    let nw = FN * C * FH * FW;
    let twin = move |p: &[f32], x: &[f32]| {
        let n = x.len() / (C * H * W);
        let u = twin::conv2d(Geom { n, ..conv }, FN, x, &p[..nw], &p[nw..]);
        twin::max_pool(Geom { n, ..pool }, &twin::map(&u, twin::relu))
    };
    // Draw weights and inputs until no window is within 4h of a kink (see `smooth`).
    let mut rng = Rng::new(seed);
    let (p, xs) = (0..1000)
        .map(|_| {
            (
                quantized(&mut rng, params),
                quantized(&mut rng, n * C * H * W),
            )
        })
        .find(|(p, xs)| {
            let u = twin::conv2d(conv, FN, xs, &p[..nw], &p[nw..]);
            smooth(&u, pool, 4.0 * shinso_tests::H as f64)
        })
        .expect("smooth data within 1000 draws");
    model::params_from(&mut fused.layer, &p);
    model::params_from(&mut unfused.layer, &p);
    let mut x: Vec<Maps<C, H, W>> = samples(&xs);

    // Forward: training and inference agree exactly, and with the unfused block to rounding.
    let (mut yf, mut yi, mut yu) = (
        zeroed::<Maps<FN, QH, QW>>(n),
        zeroed::<Maps<FN, QH, QW>>(n),
        zeroed::<Maps<FN, QH, QW>>(n),
    );
    fused.forward(&x, &mut yf, Mode::Train);
    unfused.forward(&x, &mut yu, Mode::Train);
    assert_close(&format!("{what}: forward"), flat(&yf), flat(&yu), 1e-5, 1.0);
    fused.forward(&x, &mut yi, Mode::Infer);
    assert_eq!(flat(&yf), flat(&yi), "{what}: inference");
    // That inference did not touch the cache: backward needs the training pass's.
    fused.forward(&x, &mut yf, Mode::Train);

    // Backward: parameter and input gradients of the unfused block, to 1e-5 relative.
    let dy: Vec<Maps<FN, QH, QW>> = samples(&uniform(&mut rng, n * FN * QH * QW));
    let (mut dxf, mut dxu) = (zeroed::<Maps<C, H, W>>(n), zeroed::<Maps<C, H, W>>(n));
    let (mut gf, mut gu) = (vec![f32::NAN; params], vec![f32::NAN; params]);
    fused.backward(&x, &yf, &dy, Some(&mut dxf), &mut gf);
    unfused.backward(&x, &yu, &dy, Some(&mut dxu), &mut gu);
    assert_close(&format!("{what}: ∂E/∂θ vs unfused"), &gf, &gu, 1e-5, 0.1);
    assert_close(
        &format!("{what}: ∂E/∂x vs unfused"),
        flat(&dxf),
        flat(&dxu),
        1e-5,
        0.1,
    );
    // Without dx the parameter gradients are the same, and overwritten, not accumulated.
    let mut again = vec![7.0; params];
    fused.backward(&x, &yf, &dy, None, &mut again);
    assert_eq!(gf, again, "{what}: gradient without dx");

    // Blobs: the same bytes from either, each loads into the other.
    let len = model::HEADER + 4 * params;
    let (mut bf, mut bu) = (vec![0u8; len], vec![0u8; len]);
    model::save(&mut fused.layer, &mut bf).unwrap();
    model::save(&mut unfused.layer, &mut bu).unwrap();
    assert_eq!(bf, bu, "{what}: blobs");
    let mut other = zeroed_like(&unfused);
    model::load(&mut other.layer, &bf).unwrap();
    other.forward(&x, &mut yu, Mode::Infer);
    assert_close(
        &format!("{what}: fused blob, unfused net"),
        flat(&yu),
        flat(&yf),
        1e-5,
        1.0,
    );
    let mut back = zeroed_like(&fused);
    model::load(&mut back.layer, &bu).unwrap();
    back.forward(&x, &mut yi, Mode::Infer);
    assert_eq!(flat(&yi), flat(&yf), "{what}: unfused blob, fused net");

    // The twin and its numerical gradient (`shinso::gradcheck`, f64, exact step).
    check_layer(&what, &mut fused.layer, &mut x, twin, seed, Tol::default());
}

/// A zeroed layer of the same type as `_l`.
fn zeroed_like<L: Layer>(_l: &Solo<L>) -> Solo<L> {
    Solo::zeroed()
}

#[test]
fn matches_unfused_and_numerical_gradient() {
    // Stride 1, no padding, 2×2 pooling (the zoo's shape, small); one and two samples.
    check::<1, 8, 8, 3, 3, 3, 1, 0, 6, 6, 2, 2, 2, 3, 3>(2, 1);
    check::<1, 8, 8, 3, 3, 3, 1, 0, 6, 6, 2, 2, 2, 3, 3>(1, 2);
    // Several channels, stride 2 with padding, rectangular input.
    check::<3, 9, 7, 4, 3, 3, 2, 1, 5, 4, 2, 2, 2, 2, 2>(3, 3);
    // Padding 1, stride 1, odd conv output (the last row and column are pooled by nobody).
    check::<2, 7, 7, 3, 3, 3, 1, 1, 7, 7, 2, 2, 2, 3, 3>(1, 4);
    // Overlapping pooling windows (3×3, stride 2).
    check::<2, 10, 10, 2, 3, 3, 1, 0, 8, 8, 3, 3, 2, 3, 3>(2, 5);
    // Stride 2 without padding, 1-stride pooling, a short batch.
    check::<2, 6, 6, 2, 2, 2, 2, 0, 3, 3, 2, 2, 1, 2, 2>(3, 6);
    // Pooling that skips conv outputs (1×2 windows, stride 3), rectangular filters.
    check::<2, 8, 9, 3, 2, 3, 1, 0, 7, 7, 1, 2, 3, 3, 2>(2, 7);
    // The double convnet's second block, with fewer channels and filters.
    check::<4, 13, 13, 5, 3, 3, 1, 0, 11, 11, 2, 2, 2, 5, 5>(2, 8);
}

type Small = ConvReluPool<2, 8, 8, 3, 3, 3, 1, 0, 6, 6, 2, 2, 2, 3, 3>;

/// Inference in between a training forward pass and its backward pass leaves the argmax cache
/// alone; a layer is its parameters only, and inference needs no cache at all.
#[test]
fn inference_leaves_the_cache_alone() {
    let mut rng = Rng::new(11);
    let p = uniform(&mut rng, Small::PARAMS);
    let layer = {
        let mut l = Small::ZERO;
        model::params_from(&mut l, &p);
        l
    };
    let x: Vec<Maps<2, 8, 8>> = samples(&uniform(&mut rng, 2 * 128));
    let other: Vec<Maps<2, 8, 8>> = samples(&uniform(&mut rng, 2 * 128));
    let dy: Vec<Maps<3, 3, 3>> = samples(&uniform(&mut rng, 2 * 27));
    let mut y = zeroed::<Maps<3, 3, 3>>(2);
    let (mut g1, mut g2) = (vec![0.0; Small::PARAMS], vec![0.0; Small::PARAMS]);
    let (mut dx1, mut dx2) = (zeroed::<Maps<2, 8, 8>>(2), zeroed::<Maps<2, 8, 8>>(2));
    let mut cache = vec![0.0; Small::CACHE.at(2)];
    let mut work = vec![0.0; Small::WORK.at(2)];
    layer.forward(&x, &mut y, Mode::Train, &mut cache, &mut work);
    layer.backward(&x, &y, &dy, Some(&mut dx1), &mut g1, &cache, &mut work);
    let mut yo = zeroed::<Maps<3, 3, 3>>(2);
    layer.forward(&other, &mut yo, Mode::Infer, &mut [], &mut work);
    layer.backward(&x, &y, &dy, Some(&mut dx2), &mut g2, &cache, &mut work);
    assert_eq!(g1, g2);
    assert_eq!(flat(&dx1), flat(&dx2));

    // Parameters only; one byte of argmax per pooled cell and sample in training; a band of
    // `PH·W` floats of scratch for inference, whatever the batch.
    assert_eq!(size_of::<Small>(), 4 * Small::PARAMS);
    assert_eq!(Small::CACHE.at(2), 2 * 27usize.div_ceil(4));
    assert_eq!((Small::INFER.at(1), Small::INFER.at(100)), (16, 16));
    // One sample at a time, with the bare minimum of scratch, infers the same.
    for (xn, yn) in other.iter().zip(&yo) {
        let mut out = [[[[0.0; 3]; 3]; 3]];
        let mut band = [0.0; 16];
        layer.forward(
            core::slice::from_ref(xn),
            &mut out,
            Mode::Infer,
            &mut [],
            &mut band,
        );
        assert_eq!(out[0], *yn);
    }
}

/// The unfused net the zoo's `TwoConv` replaced (with ReLU).
type Unfused<const F1: usize, const F2: usize, const FLAT: usize> = stack![
    Conv2d<1, 28, 28, F1, 3, 3, 1, 0, 26, 26>,
    ReLU<Maps<F1, 26, 26>>,
    MaxPool2d<F1, 26, 26, 2, 2, 2, 13, 13>,
    Conv2d<F1, 13, 13, F2, 3, 3, 1, 0, 11, 11>,
    ReLU<Maps<F2, 11, 11>>,
    MaxPool2d<F2, 11, 11, 2, 2, 2, 5, 5>,
    Flatten<Maps<F2, 5, 5>, [f32; FLAT]>,
    Affine<FLAT, 10>
];

/// Same parameters (same flat order), same scores and loss gradients as the unfused net, on `n`
/// samples.
fn zoo_matches<Fused: Layer, Plain: Layer<In = Fused::In, Out = Fused::Out>>(n: usize, seed: u64) {
    assert_eq!(Fused::PARAMS, Plain::PARAMS);
    let mut rng = Rng::new(seed);
    let (mut a, mut b) = (Network::<Fused>::boxed(), Network::<Plain>::boxed());
    a.init(shinso::Init::He, seed);
    let p = shinso_tests::params(&mut a.layers);
    model::params_from(&mut b.layers, &p);
    // Images in [0, 1), as MNIST's.
    let pixels: Vec<f32> = uniform(&mut rng, n * floats::<Fused::In>())
        .iter()
        .map(|v| 0.5 * (v + 1.0))
        .collect();
    let x: Vec<Fused::In> = samples(&pixels);
    let labels: Vec<f32> = (0..n).flat_map(|i| one_hot::<10>(i % 10)).collect();
    let t: Vec<Fused::Out> = samples(&labels);
    let mut arena = vec![0.0; Network::<Plain>::gradients_arena(n)];
    let sa = flat(a.predict(&x, &mut arena).unwrap()).to_vec();
    let sb = flat(b.predict(&x, &mut arena).unwrap()).to_vec();
    assert_close("zoo scores", &sa, &sb, 1e-5, 1.0);
    let (mut ga, mut gb) = (vec![0.0; Fused::PARAMS], vec![0.0; Fused::PARAMS]);
    let (loss, decay) = (Loss::SoftmaxCrossEntropy, WeightDecay::default());
    let la = a
        .gradients(&x, &t, loss, decay, &mut ga, &mut arena)
        .unwrap();
    let lb = b
        .gradients(&x, &t, loss, decay, &mut gb, &mut arena)
        .unwrap();
    assert!((la - lb).abs() < 1e-5, "{la} vs {lb}");
    // Sums of up to ~10³ products in another order, through two layers: ~3e-6 seen.
    assert_close("zoo gradients", &ga, &gb, 1e-5, 0.1);
}

#[test]
fn zoo_two_conv_is_the_unfused_net() {
    zoo_matches::<DoubleConvNet, Unfused<16, 32, 800>>(3, 21);
    zoo_matches::<OnlineConvNet, Unfused<8, 16, 400>>(1, 22);
}

/// What fusion buys at batch 1 (the device): the activations and caches between layers.
#[test]
fn zoo_memory() {
    let adam = Rule::adam(0.001);
    let fused = Network::<DoubleConvNet>::memory(&adam, 1);
    let unfused = Network::<Unfused<16, 32, 800>>::memory(&adam, 1);
    let activations = |m: shinso::Memory| m.arena - m.params;
    assert!(10 * activations(fused) < activations(unfused));
    // The online learner trains with Adam in the F405's 128 KiB of SRAM.
    assert!(Network::<OnlineConvNet>::memory(&adam, 1).total() < 128 * 1024);
}
