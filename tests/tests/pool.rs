//! Max and average pooling: the kernels against their `f64` twins on random shapes, strides and
//! paddings (proptest), and the `MaxPool2d` / `AvgPool2d` layers' backward against the
//! numerical gradient of the twin.

use bytemuck::Zeroable;
use proptest::prelude::*;
use shinso::kernels::pool::NO_INPUT;
use shinso::kernels::{avg_pool, avg_pool_backward, max_pool, max_pool_backward};
use shinso::{AvgPool2d, Layer, MaxPool2d, Rng};
use shinso_tests::twin::{self, Geom};
use shinso_tests::{assert_close, check_layer, distinct, samples, to_f32, uniform, Tol};

/// One sample (the kernels' unit) of up to 3 channels of up to 9×9, windows up to 4×4, strides
/// 1–3, padding 0–1 (the course pools without; the kernels document what padding means).
fn geom() -> impl Strategy<Value = Geom> {
    (
        1usize..4,
        1usize..10,
        1usize..10,
        1usize..5,
        1usize..5,
        1usize..4,
        0usize..2,
    )
        .prop_map(|(c, h, w, fh, fw, stride, pad)| Geom {
            n: 1,
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

fn outputs(g: &Geom) -> usize {
    g.c * g.oh() * g.ow()
}

proptest! {
    #![proptest_config(shinso_tests::proptest_config(64))]

    /// Max pooling picks an input: exact equality with the twin, and the recorded argmax
    /// points at that input. Distinct inputs, so the argmax is unambiguous.
    #[test]
    fn max_pool_matches_twin(g in geom(), seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = distinct(&mut rng, g.input_len());
        let (mut y, mut arg) = (vec![f32::NAN; outputs(&g)], vec![0u32; outputs(&g)]);
        max_pool(&g.core(), &x, &mut y, &mut arg);
        prop_assert_eq!(&y, &to_f32(&twin::max_pool(g, &x)));
        for (v, a) in y.iter().zip(&arg) {
            if *a == NO_INPUT {
                // A window wholly in the padding (a 1×1 window over the border): no input, 0.
                prop_assert_eq!(*v, 0.0);
            } else {
                prop_assert_eq!(x[*a as usize], *v);
            }
        }
        let dy = uniform(&mut rng, outputs(&g));
        let mut dx = vec![f32::NAN; g.input_len()];
        max_pool_backward(&arg, &dy, &mut dx);
        assert_close("max_pool_backward", &dx, &to_f32(&twin::max_pool_backward(g, &x, &dy)), 1e-6, 1.0);
    }

    /// Average pooling sums at most 16 floats: within 1e-6 relative (floor 1).
    #[test]
    fn avg_pool_matches_twin(g in geom(), seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = uniform(&mut rng, g.input_len());
        let mut y = vec![f32::NAN; outputs(&g)];
        avg_pool(&g.core(), &x, &mut y);
        assert_close("avg_pool", &y, &to_f32(&twin::avg_pool(g, &x)), 1e-6, 1.0);
        let dy = uniform(&mut rng, outputs(&g));
        let mut dx = vec![f32::NAN; g.input_len()];
        avg_pool_backward(&g.core(), &dy, &mut dx);
        assert_close("avg_pool_backward", &dx, &to_f32(&twin::avg_pool_backward(g, &dy)), 1e-6, 1.0);
    }
}

/// Ties go to the first element of the window (NumPy's argmax), so the gradient is not split.
#[test]
fn max_pool_ties() {
    let g = Geom {
        n: 1,
        c: 1,
        h: 2,
        w: 2,
        fh: 2,
        fw: 2,
        stride: 1,
        pad: 0,
    };
    let (mut y, mut arg, mut dx) = ([0.0], [0u32], [0.0; 4]);
    max_pool(&g.core(), &[1.0, 3.0, 3.0, 3.0], &mut y, &mut arg);
    assert_eq!((y, arg), ([3.0], [1]));
    max_pool_backward(&arg, &[1.0], &mut dx);
    assert_eq!(dx, [0.0, 1.0, 0.0, 0.0]);
    // All negative: the max is negative, not the 0 of an empty window.
    max_pool(&g.core(), &[-4.0, -3.0, -2.0, -5.0], &mut y, &mut arg);
    assert_eq!((y, arg), ([-2.0], [2]));
}

fn pool_geom<const C: usize, const H: usize, const W: usize>(
    ph: usize,
    pw: usize,
    s: usize,
) -> Geom {
    Geom {
        n: 1,
        c: C,
        h: H,
        w: W,
        fh: ph,
        fw: pw,
        stride: s,
        pad: 0,
    }
}

fn check_pools<
    const C: usize,
    const H: usize,
    const W: usize,
    const PH: usize,
    const PW: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
>(
    n: usize,
    seed: u64,
) {
    let what = format!("C{C} {H}x{W} window {PH}x{PW} S{S} n={n}");
    let g1 = pool_geom::<C, H, W>(PH, PW, S);
    let batch = move |x: &[f32]| Geom {
        n: x.len() / g1.input_len(),
        ..g1
    };
    let mut rng = Rng::new(seed);
    // Distinct values at least 4h apart: a central difference never changes a window's max.
    let mut x: Vec<[[[f32; W]; H]; C]> = samples(&distinct(&mut rng, n * C * H * W));
    let mut max = MaxPool2d::<C, H, W, PH, PW, S, OH, OW>::zeroed();
    check_layer(
        &format!("MaxPool2d {what}"),
        &mut max,
        &mut x,
        |_, x| twin::max_pool(batch(x), x),
        seed,
        Tol::default(),
    );
    let mut avg = AvgPool2d::<C, H, W, PH, PW, S, OH, OW>::zeroed();
    check_layer(
        &format!("AvgPool2d {what}"),
        &mut avg,
        &mut x,
        |_, x| twin::avg_pool(batch(x), x),
        seed,
        Tol::default(),
    );
    assert_eq!(<MaxPool2d<C, H, W, PH, PW, S, OH, OW>>::PARAMS, 0);
}

#[test]
fn pool_layers_backward() {
    // The course's 2×2, stride 2.
    check_pools::<2, 4, 4, 2, 2, 2, 2, 2>(3, 1);
    // Overlapping windows (3×3, stride 1).
    check_pools::<1, 5, 6, 3, 3, 1, 3, 4>(2, 2);
    // Rectangular window, stride that leaves the last column out ((7 − 2)/2 + 1 = 3).
    check_pools::<3, 6, 7, 3, 2, 2, 2, 3>(2, 3);
    // The simple convnet's pool, 24×24 → 12×12 (7 of its 30 channels: 4,032 distinct values).
    check_pools::<7, 24, 24, 2, 2, 2, 12, 12>(1, 4);
}
