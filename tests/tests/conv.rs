//! Convolution: the im2col / col2im / direct-convolution kernels against their `f64` twins on
//! random shapes, strides and paddings (proptest), col2im as the adjoint of im2col, and the
//! `Conv2d` layer's forward (im2col + gemm, in training and inference, and against the direct
//! kernel) and backward, against the twin's numerical gradient.

use proptest::prelude::*;
use shinso::kernels::{col2im, conv2d_direct, conv2d_direct_backward, im2col, Geometry};
use shinso::layer::{flat, flat_mut};
use shinso::{model, Conv2d, Layer, Mode, Rng};
use shinso_tests::twin::{self, Geom};
use shinso_tests::{
    assert_close, check_layer, quantized, samples, to_f32, uniform, zeroed, Solo, Tol,
};

/// Random geometries: up to 3 samples of up to 3 channels of up to 9×9, windows up to 4×4,
/// strides 1–3, padding 0–2; only those whose window fits.
fn geom() -> impl Strategy<Value = Geom> {
    (
        1usize..4,
        1usize..4,
        1usize..10,
        1usize..10,
        1usize..5,
        1usize..5,
        1usize..4,
        0usize..3,
    )
        .prop_map(|(n, c, h, w, fh, fw, stride, pad)| Geom {
            n,
            c,
            h,
            w,
            fh,
            fw,
            stride,
            pad,
        })
        .prop_filter("window must fit", |g| g.fits())
}

/// shinso's kernels are per sample; run one over a batch.
fn im2col_batch(g: Geom, x: &[f32]) -> Vec<f32> {
    let cg = g.core();
    let mut col = vec![f32::NAN; g.rows() * g.cols()];
    for (xs, cs) in x
        .chunks_exact(cg.input_len())
        .zip(col.chunks_exact_mut(cg.col_len()))
    {
        im2col(&cg, xs, cs);
    }
    col
}

fn col2im_batch(g: Geom, col: &[f32]) -> Vec<f32> {
    let cg = g.core();
    let mut x = vec![f32::NAN; g.input_len()];
    for (cs, xs) in col
        .chunks_exact(cg.col_len())
        .zip(x.chunks_exact_mut(cg.input_len()))
    {
        col2im(&cg, cs, xs);
    }
    x
}

proptest! {
    #![proptest_config(shinso_tests::proptest_config(64))]

    /// im2col only moves floats: it must equal its twin exactly, zeros in the padding included.
    #[test]
    fn im2col_matches_twin(g in geom(), seed in any::<u64>()) {
        let cg = g.core();
        prop_assert_eq!((cg.oh(), cg.ow()), (g.oh(), g.ow()));
        prop_assert_eq!(cg.col_len(), g.oh() * g.ow() * g.cols());
        let x = uniform(&mut Rng::new(seed), g.input_len());
        let col = im2col_batch(g, &x);
        prop_assert_eq!(col, to_f32(&twin::im2col(g, &x)));
    }

    /// The transposed im2col is im2col's twin read the other way round, exactly (the padding's
    /// zeros and strides included), over a buffer of NaN.
    #[test]
    fn im2col_t_is_the_twin_transposed(g in geom(), seed in any::<u64>()) {
        let cg = g.core();
        let x = uniform(&mut Rng::new(seed), g.input_len());
        let want = to_f32(&twin::im2col(g, &x));
        let (positions, taps) = (cg.positions(), cg.patch());
        let samples = x.chunks_exact(cg.input_len()).zip(want.chunks_exact(cg.col_len()));
        for (xn, wn) in samples {
            let mut col_t = vec![f32::NAN; cg.col_len()];
            shinso::kernels::im2col_t(&cg, xn, &mut col_t);
            for (pos, t) in (0..positions).flat_map(|pos| (0..taps).map(move |t| (pos, t))) {
                let (got, want) = (col_t[t * positions + pos], wn[pos * taps + t]);
                let at = format!("{g:?} position {pos} tap {t}");
                prop_assert_eq!(got.to_bits(), want.to_bits(), "{}", at);
            }
        }
    }

    /// col2im sums at most FH·FW floats per pixel: within 1e-6 relative (floor 1) of the twin.
    #[test]
    fn col2im_matches_twin(g in geom(), seed in any::<u64>()) {
        let col = uniform(&mut Rng::new(seed), g.rows() * g.cols());
        let x = col2im_batch(g, &col);
        assert_close(&format!("{g:?}"), &x, &to_f32(&twin::col2im(g, &col)), 1e-6, 1.0);
    }

    /// ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩, both sides in f64 from shinso's f32 results.
    #[test]
    fn col2im_is_the_adjoint_of_im2col(g in geom(), seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = uniform(&mut rng, g.input_len());
        let y = uniform(&mut rng, g.rows() * g.cols());
        let lhs = twin::dot(&im2col_batch(g, &x), &y);
        let rhs = twin::dot(&x, &col2im_batch(g, &y));
        let scale = twin::dot_abs(&im2col_batch(g, &x), &y) + 1.0;
        prop_assert!((lhs - rhs).abs() <= 1e-6 * scale, "{} vs {}", lhs, rhs);
    }

    /// Direct convolution against the twin, with the usual rounding bound
    /// `1e-6·(k + 1)·Σ|x||w|` (`k` = C·FH·FW terms).
    #[test]
    fn conv2d_direct_matches_twin(g in geom(), fnum in 1usize..4, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = uniform(&mut rng, g.input_len());
        let w = uniform(&mut rng, fnum * g.cols());
        let b = uniform(&mut rng, fnum);
        let cg = g.core();
        let per = fnum * cg.positions();
        let mut y = vec![f32::NAN; g.n * per];
        for (xs, ys) in x.chunks_exact(cg.input_len()).zip(y.chunks_exact_mut(per)) {
            conv2d_direct(&cg, xs, &w, &b, ys);
        }
        let want = twin::conv2d(g, fnum, &x, &w, &b);
        let abs = |v: &[f32]| v.iter().map(|a| a.abs()).collect::<Vec<_>>();
        let scale = twin::conv2d(g, fnum, &abs(&x), &abs(&w), &abs(&b));
        for (i, ((got, want), s)) in y.iter().zip(&want).zip(&scale).enumerate() {
            let err = (*got as f64 - want).abs();
            prop_assert!(err <= 1e-6 * (g.cols() as f64 + 1.0) * s + 1e-30, "[{}]: {} vs {}", i, got, want);
        }
    }

    /// The direct convolution's backward kernel (accumulating `dw`, `db` over the samples,
    /// overwriting `dx`) against the twin, same rounding bound with `Σ|dy||x|` and `Σ|dy||w|`.
    #[test]
    fn conv2d_direct_backward_matches_twin(g in geom(), fnum in 1usize..4, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = uniform(&mut rng, g.input_len());
        let w = uniform(&mut rng, fnum * g.cols());
        let cg = g.core();
        let per = fnum * cg.positions();
        let dy = uniform(&mut rng, g.n * per);
        // dw and db start nonzero: the kernel adds to them.
        let (dw0, db0) = (uniform(&mut rng, w.len()), uniform(&mut rng, fnum));
        let (mut dw, mut db, mut dx) = (dw0.clone(), db0.clone(), vec![f32::NAN; g.input_len()]);
        let samples = x.chunks_exact(cg.input_len()).zip(dy.chunks_exact(per));
        for ((xs, dys), dxs) in samples.zip(dx.chunks_exact_mut(cg.input_len())) {
            conv2d_direct_backward(&cg, xs, &w, dys, &mut dw, &mut db, Some(dxs));
        }
        let (tw, tb, tx) = twin::conv2d_backward(g, fnum, &x, &w, &dy);
        let abs = |v: &[f32]| v.iter().map(|a| a.abs()).collect::<Vec<_>>();
        let (sw, sb, sx) = twin::conv2d_backward(g, fnum, &abs(&x), &abs(&w), &abs(&dy));
        let terms = (g.n * g.oh() * g.ow()) as f64 + 2.0;
        let check = |what: &str, got: &[f32], want: &[f64], start: &[f32], scale: &[f64]| {
            for (i, g) in got.iter().enumerate() {
                let want = want[i] + start.get(i).map_or(0.0, |v| *v as f64);
                let s = scale[i] + start.get(i).map_or(0.0, |v| v.abs() as f64);
                let err = (*g as f64 - want).abs();
                assert!(err <= 1e-6 * terms * s + 1e-30, "{what}[{i}]: {g} vs {want}");
            }
        };
        check("dw", &dw, &tw, &dw0, &sw);
        check("db", &db, &tb, &db0, &sb);
        check("dx", &dx, &tx, &[], &sx);
    }
}

/// The course's example: a (2, 1, 4, 4) batch, a 3×3 filter, stride 2 (no padding) has one
/// window per sample, so im2col gives 2 rows of 9: each sample's top-left 3×3 block.
#[test]
fn course_im2col_rows() {
    let x: Vec<f32> = (1..=32).map(|v| v as f32).collect();
    let g = Geom {
        n: 2,
        c: 1,
        h: 4,
        w: 4,
        fh: 3,
        fw: 3,
        stride: 2,
        pad: 0,
    };
    assert_eq!((g.oh(), g.ow(), g.rows(), g.cols()), (1, 1, 2, 9));
    let col = im2col_batch(g, &x);
    #[rustfmt::skip]
    let expected = [
        1.0, 2.0, 3.0, 5.0, 6.0, 7.0, 9.0, 10.0, 11.0,
        17.0, 18.0, 19.0, 21.0, 22.0, 23.0, 25.0, 26.0, 27.0,
    ];
    assert_eq!(col, expected);
    // With padding 1 the same filter has 2×2 windows per sample; the first reads the zero
    // border above and left of pixel 1.
    let g = Geom { pad: 1, ..g };
    let col = im2col_batch(g, &x);
    assert_eq!(col.len(), 2 * 4 * 9);
    assert_eq!(col[..9], [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 5.0, 6.0]);
}

// ------------------------------------------------------------------------------ the layer

fn conv_twin(g1: Geom, fnum: usize) -> impl Fn(&[f32], &[f32]) -> Vec<f64> {
    move |p, x| {
        let g = Geom {
            n: x.len() / g1.input_len() * g1.n,
            ..g1
        };
        let nw = fnum * g.cols();
        twin::conv2d(g, fnum, x, &p[..nw], &p[nw..])
    }
}

/// Check `Conv2d` with the given sizes on `n` samples: forward in both modes against the twin,
/// backward against the numerical gradient.
fn check_conv<
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
>(
    n: usize,
    seed: u64,
) {
    type Of<const C: usize, const H: usize, const W: usize> = [[[f32; W]; H]; C];
    let what = format!("Conv2d C{C} {H}x{W} FN{FN} {FH}x{FW} S{S} P{P} n={n}");
    let mut rng = Rng::new(seed);
    let mut layer = Solo::<Conv2d<C, H, W, FN, FH, FW, S, P, OH, OW>>::zeroed();
    model::params_from(
        &mut layer.layer,
        &quantized(&mut rng, FN * C * FH * FW + FN),
    );
    let mut x: Vec<Of<C, H, W>> = samples(&quantized(&mut rng, n * C * H * W));
    let g1 = Geom {
        n: 1,
        c: C,
        h: H,
        w: W,
        fh: FH,
        fw: FW,
        stride: S,
        pad: P,
    };
    let twin = conv_twin(g1, FN);

    let p = shinso_tests::params(&mut layer.layer);
    let want = to_f32(&twin(&p, flat(&x)));
    let mut y = zeroed::<[[[f32; OW]; OH]; FN]>(n);
    layer.forward(&x, &mut y, Mode::Infer);
    assert_close(&format!("{what}: inference"), flat(&y), &want, 1e-5, 1.0);

    // Sums of up to C·FH·FW = 75 products: the default tolerances hold with a wide margin.
    check_layer(&what, &mut layer.layer, &mut x, twin, seed, Tol::default());
}

#[test]
fn conv_layer_backward() {
    // The course's 6×6, 2×2, stride 1, padding 1 → 7×7.
    check_conv::<1, 6, 6, 1, 2, 2, 1, 1, 7, 7>(2, 1);
    // Several channels and filters, stride 2 with padding, rectangular.
    check_conv::<3, 7, 5, 4, 3, 3, 2, 1, 4, 3>(3, 2);
    // A short batch; a stride that skips the last row and column ((6 − 2)/3 + 1 = 2).
    check_conv::<2, 6, 6, 2, 2, 2, 3, 0, 2, 2>(1, 3);
    // The simple convnet's first layer in small: 5×5 filters on a 12×12 image.
    check_conv::<1, 12, 12, 3, 5, 5, 1, 0, 8, 8>(2, 4);
    // A 1×1 convolution (a per-pixel affine map) and a window as large as the padded input.
    check_conv::<4, 3, 3, 2, 1, 1, 1, 0, 3, 3>(1, 5);
    check_conv::<1, 3, 4, 2, 5, 6, 1, 1, 1, 1>(2, 6);
}

/// `Conv2d` (im2col + gemm) and the direct convolution kernel agree on wide random data (not
/// only quantized), and inference computes the same floats as training.
#[test]
fn conv_paths_agree() {
    type L = Conv2d<3, 10, 10, 5, 3, 3, 1, 1, 10, 10>;
    let mut rng = Rng::new(9);
    let mut layer = Solo::<L>::zeroed();
    let p = uniform(&mut rng, L::PARAMS);
    model::params_from(&mut layer.layer, &p);
    let x: Vec<[[[f32; 10]; 10]; 3]> = samples(&uniform(&mut rng, 4 * 300));
    let out = || zeroed::<[[[f32; 10]; 10]; 5]>(4);
    let (mut a, mut b, mut c) = (out(), out(), out());
    layer.forward(&x, &mut a, Mode::Train);
    layer.forward(&x, &mut b, Mode::Infer);
    assert_eq!(flat(&a), flat(&b));
    let g = Geometry {
        c: 3,
        h: 10,
        w: 10,
        fh: 3,
        fw: 3,
        stride: 1,
        pad: 1,
    };
    let (w, bias) = p.split_at(5 * 27);
    for (xs, ys) in x.iter().zip(c.iter_mut()) {
        conv2d_direct(
            &g,
            flat(core::slice::from_ref(xs)),
            w,
            bias,
            flat_mut(core::slice::from_mut(ys)),
        );
    }
    assert_close("im2col vs direct", flat(&a), flat(&c), 1e-5, 1.0);
}
