//! Every slice kernel against its naive `f64` twin on random shapes (proptest).
//!
//! Tolerance: a sum of `k` products computed in `f32` is off by at most about
//! `k · 2⁻²⁴ · Σ|aᵢbᵢ|`; the kernels split sums over several accumulators, which only lowers
//! that. We allow `1e-6 · (k + 1) · Σ|aᵢbᵢ| + 1e-30`: far below any wrong index or missing term
//! (an error of the order of one whole product).

use proptest::prelude::*;
use shinso::kernels::{axpy, dot, gemm_nn, gemm_nt, gemm_tn};
use shinso::Rng;
use shinso_tests::{twin, uniform};

/// Sentinel written after the end of every output: kernels must not touch it.
const GUARD: f32 = 1234.5;

fn bound(k: usize, scale: f64) -> f64 {
    1e-6 * (k as f64 + 1.0) * scale + 1e-30
}

#[track_caller]
fn assert_matches(what: &str, got: &[f32], want: &[f64], scale: &[f64], k: usize) {
    for (i, ((g, w), s)) in got.iter().zip(want).zip(scale).enumerate() {
        let err = (*g as f64 - w).abs();
        assert!(
            err <= bound(k, *s),
            "{what}[{i}]: got {g}, want {w} (error {err:e}, scale {s:e})"
        );
    }
}

/// Which of the three products.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Nn,
    Tn,
    Nt,
}

fn check_gemm(kind: Kind, m: usize, k: usize, n: usize, accumulate: bool, extra: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    // Inputs longer than needed: the kernels must read only their first m·k / k·n floats.
    let a = uniform(&mut rng, m * k + extra);
    let b = uniform(&mut rng, k * n + extra);
    let c0 = uniform(&mut rng, m * n);
    let mut c = c0.clone();
    c.extend(std::iter::repeat_n(GUARD, extra + 1));
    let (prod, scale) = match kind {
        Kind::Nn => {
            gemm_nn(m, k, n, &a, &b, &mut c, accumulate);
            twin::gemm_nn(m, k, n, &a, &b)
        }
        Kind::Tn => {
            gemm_tn(m, k, n, &a, &b, &mut c, accumulate);
            twin::gemm_tn(m, k, n, &a, &b)
        }
        Kind::Nt => {
            gemm_nt(m, k, n, &a, &b, &mut c, accumulate);
            twin::gemm_nt(m, k, n, &a, &b)
        }
    };
    let want: Vec<f64> = if accumulate {
        prod.iter().zip(&c0).map(|(p, c)| p + *c as f64).collect()
    } else {
        prod
    };
    let scale: Vec<f64> = if accumulate {
        scale
            .iter()
            .zip(&c0)
            .map(|(s, c)| s + c.abs() as f64)
            .collect()
    } else {
        scale
    };
    assert_matches(
        &format!("{kind:?} {m}x{k}x{n} acc={accumulate}"),
        &c[..m * n],
        &want,
        &scale,
        k + 1,
    );
    assert!(
        c[m * n..].iter().all(|v| *v == GUARD),
        "{kind:?}: wrote past the end of C"
    );
}

proptest! {
    #![proptest_config(shinso_tests::proptest_config(48))]

    #[test]
    fn dot_matches_twin(len in 0usize..80, extra in 0usize..3, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = uniform(&mut rng, len);
        let y = uniform(&mut rng, len + extra);
        let got = dot(&x, &y);
        // Over the shorter slice, in either order.
        assert_matches("dot", &[got], &[twin::dot(&x, &y)], &[twin::dot_abs(&x, &y)], len);
        prop_assert_eq!(dot(&y, &x).to_bits(), got.to_bits());
    }

    #[test]
    fn axpy_matches_twin(len in 0usize..80, alpha in -2.0f32..2.0, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = uniform(&mut rng, len);
        let y0 = uniform(&mut rng, len);
        let mut y = y0.clone();
        axpy(alpha, &x, &mut y);
        let want = twin::axpy(alpha, &x, &y0);
        let scale: Vec<f64> = x.iter().zip(&y0).map(|(a, b)| (alpha * a).abs() as f64 + b.abs() as f64).collect();
        assert_matches("axpy", &y, &want, &scale, 1);
    }

    #[test]
    fn gemm_nn_matches_twin(m in 1usize..24, k in 1usize..40, n in 1usize..24, acc in any::<bool>(), extra in 0usize..3, seed in any::<u64>()) {
        check_gemm(Kind::Nn, m, k, n, acc, extra, seed);
    }

    #[test]
    fn gemm_tn_matches_twin(m in 1usize..24, k in 1usize..40, n in 1usize..24, acc in any::<bool>(), extra in 0usize..3, seed in any::<u64>()) {
        check_gemm(Kind::Tn, m, k, n, acc, extra, seed);
    }

    #[test]
    fn gemm_nt_matches_twin(m in 1usize..24, k in 1usize..40, n in 1usize..24, acc in any::<bool>(), extra in 0usize..3, seed in any::<u64>()) {
        check_gemm(Kind::Nt, m, k, n, acc, extra, seed);
    }
}

/// Layer-like sizes (a 784-40 affine layer over a batch of 100), once each, with the unroll
/// remainders (784 = 4·196, 40 = 8·5) exercised by the odd variants.
#[test]
fn gemm_at_layer_sizes() {
    for (m, k, n) in [(100, 784, 40), (7, 785, 41), (784, 100, 40), (100, 40, 784)] {
        for kind in [Kind::Nn, Kind::Tn, Kind::Nt] {
            check_gemm(kind, m, k, n, false, 0, (m * k * n) as u64);
        }
    }
}

/// Empty products leave `C` zeroed (or untouched when accumulating).
#[test]
fn gemm_with_empty_inner_dimension() {
    let mut c = [1.0f32; 6];
    gemm_nn(2, 0, 3, &[], &[], &mut c, true);
    assert_eq!(c, [1.0; 6]);
    gemm_nn(2, 0, 3, &[], &[], &mut c, false);
    assert_eq!(c, [0.0; 6]);
    let mut c = [1.0f32; 6];
    gemm_nt(2, 0, 3, &[], &[], &mut c, false);
    assert_eq!(c, [0.0; 6]);
    let mut c = [1.0f32; 6];
    gemm_tn(2, 0, 3, &[], &[], &mut c, false);
    assert_eq!(c, [0.0; 6]);
}
