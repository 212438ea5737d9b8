//! The numerical-gradient checker itself: it must restore what it perturbs, bit for bit, and
//! be accurate enough to judge backpropagation (the course's worked example included).

use bytemuck::Zeroable;
use shinso::gradcheck::{max_relative_error, numerical_gradient, numerical_input_gradient, H};
use shinso::{Affine, Rng};

/// After a numerical gradient every parameter is exactly what it was, for arbitrary (not
/// quantized) values: a check must not change the model it checks.
#[test]
fn parameters_are_restored_exactly() {
    let mut layer = Affine::<8, 8>::zeroed();
    let mut rng = Rng::new(1);
    let p: Vec<f32> = (0..72).map(|_| rng.normal()).collect();
    shinso::model::params_from(&mut layer, &p);
    let mut g = vec![0.0; 72];
    numerical_gradient(&mut layer, H, |_| 0.0, &mut g);
    let after = shinso_tests::params(&mut layer);
    let changed: Vec<_> = p
        .iter()
        .zip(&after)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .collect();
    assert!(
        changed.is_empty(),
        "{} of 72 parameters changed, e.g. {:?}",
        changed.len(),
        changed[0]
    );

    let mut x = p.clone();
    numerical_input_gradient(&mut x, H, |_| 0.0, &mut g);
    assert_eq!(x, p);
}

/// The course's example, f(x₀, x₁) = x₀² + x₁²: the gradient at (3, 4) is (6, 8) (NumPy in f64
/// gets 6.00000000000378, 7.999999999999119). In f32, 3 + 1e-4 is not representable, so the
/// step actually taken is not 2h; a checker that divides by the nominal 2h is off by ~1e-3
/// relative (5.9938 here). Dividing by the step really taken makes it exact to rounding.
#[test]
fn course_example_is_accurate() {
    for (x0, want) in [
        ([3.0f32, 4.0], [6.0f32, 8.0]),
        ([0.0, 2.0], [0.0, 4.0]),
        ([3.0, 0.0], [6.0, 0.0]),
    ] {
        let mut x = x0;
        let mut g = [0.0f32; 2];
        numerical_input_gradient(
            &mut x,
            H,
            |v| v.iter().map(|a| (*a as f64).powi(2)).sum(),
            &mut g,
        );
        assert!(
            max_relative_error(&g, &want, 1.0) < 1e-5,
            "at {x0:?}: {g:?}, want {want:?}"
        );
    }
    // The same through a layer's parameters: E = Σ w² over an Affine<1, 2>'s three parameters.
    let mut layer = Affine::<1, 2>::zeroed();
    shinso::model::params_from(&mut layer, &[3.0, 4.0, -5.0]);
    let mut g = [0.0f32; 3];
    numerical_gradient(
        &mut layer,
        H,
        |l| {
            shinso_tests::params(l)
                .iter()
                .map(|a| (*a as f64).powi(2))
                .sum()
        },
        &mut g,
    );
    assert!(
        max_relative_error(&g, &[6.0, 8.0, -10.0], 1.0) < 1e-5,
        "{g:?}"
    );
}

#[test]
fn relative_error_measure() {
    assert_eq!(max_relative_error(&[1.0, 2.0], &[1.0, 2.0], 1e-3), 0.0);
    assert!((max_relative_error(&[1.0, 2.0], &[1.0, 2.2], 1e-3) - 0.2 / 2.2).abs() < 1e-6);
    // Below the floor, the error is absolute over the floor.
    assert!((max_relative_error(&[1e-6], &[3e-6], 0.1) - 2e-5).abs() < 1e-9);
    // A NaN is an infinite error, never a pass.
    assert_eq!(max_relative_error(&[f32::NAN], &[1.0], 0.1), f32::INFINITY);
    assert_eq!(
        max_relative_error(&[1.0, 2.0], &[1.0, f32::INFINITY], 0.1),
        f32::INFINITY
    );
}
