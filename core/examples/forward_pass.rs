//! Chapter: the forward pass by hand. The course's three-layer network (2 inputs, 3 and 2
//! sigmoid units, 2 identity outputs) with its hand-picked weights, evaluated by shinso and by
//! the same sums written out in `f64`.
//!
//! `cargo run --release -p shinso --example forward_pass`

mod common;

use common::claim;
use shinso::{stack, Affine, IdentityLayer, Network, SigmoidLayer};

type ThreeLayer = stack![
    Affine<2, 3>,
    SigmoidLayer<[f32; 3]>,
    Affine<3, 2>,
    SigmoidLayer<[f32; 2]>,
    Affine<2, 2>,
    IdentityLayer<[f32; 2]>
];

const W1: [[f32; 3]; 2] = [[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]];
const B1: [f32; 3] = [0.1, 0.2, 0.3];
const W2: [[f32; 2]; 3] = [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]];
const B2: [f32; 2] = [0.1, 0.2];
const W3: [[f32; 2]; 2] = [[0.1, 0.3], [0.2, 0.4]];
const B3: [f32; 2] = [0.1, 0.2];

/// `σ(x·W + b)` (or without σ) in `f64`, one output at a time: the course's `np.dot` spelled out.
fn layer<const I: usize, const O: usize>(
    x: &[f64; I],
    w: &[[f32; O]; I],
    b: &[f32; O],
    sigmoid: bool,
) -> [f64; O] {
    let mut u = [0.0; O];
    for (j, u) in u.iter_mut().enumerate() {
        *u = f64::from(b[j]) + (0..I).map(|i| x[i] * f64::from(w[i][j])).sum::<f64>();
        if sigmoid {
            *u = 1.0 / (1.0 + (-*u).exp());
        }
    }
    u
}

fn main() -> Result<(), shinso::Error> {
    let mut net = Network::<ThreeLayer>::boxed();
    // A stack is nested pairs: `first` is a layer, `second` the rest of the stack.
    let l = &mut net.layers;
    (l.first.w, l.first.b) = (W1, B1);
    let rest = &mut l.second.second;
    (rest.first.w, rest.first.b) = (W2, B2);
    let last = &mut rest.second.second.first;
    (last.w, last.b) = (W3, B3);

    let x = [1.0f32, 0.5];
    let mut arena = vec![0.0; Network::<ThreeLayer>::predict_arena(1)];
    let y = net.predict(&[x], &mut arena)?[0];
    println!("x = {x:?}");
    println!("y = [{:.8} {:.8}]", y[0], y[1]);

    let a1 = layer(&[1.0, 0.5], &W1, &B1, true);
    let a2 = layer(&a1, &W2, &B2, true);
    let want = layer(&a2, &W3, &B3, false);
    println!("hidden a1 = {a1:.6?}, a2 = {a2:.6?}");
    println!("by hand (f64) y = [{:.8} {:.8}]", want[0], want[1]);
    let close = |a: f32, b: f64| (f64::from(a) - b).abs() < 1e-6;
    claim(
        "shinso's forward pass matches the sums by hand to 1e-6",
        close(y[0], want[0]) && close(y[1], want[1]),
    );
    claim(
        "the course's printed output [0.31682708 0.69627909]",
        close(y[0], 0.316_827_08) && close(y[1], 0.696_279_09),
    );
    Ok(())
}
