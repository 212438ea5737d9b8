//! Chapter: im2col and col2im, on the course's convolution example: the 4×4 input
//! `[[1,2,3,0],[0,1,2,3],[3,0,1,2],[2,3,0,1]]` and the 3×3 filter `[[2,0,1],[0,1,2],[1,0,2]]`,
//! whose output is `[[15,16],[6,15]]` (`[[18,19],[9,18]]` with a bias of 3).
//!
//! im2col unrolls every window of the input into a row, so that a convolution becomes one
//! matrix product (rows `OH·OW`, columns `C·FH·FW`, as in the course); col2im is its adjoint,
//! adding each row back where it came from, which is how the convolution's input gradient is
//! formed.
//!
//! `cargo run --release -p shinso --example im2col`

mod common;

use common::claim;
use shinso::kernels::{col2im, im2col, Geometry};
use shinso::{Conv2d, Layer, Mode};

const X: [[f32; 4]; 4] = [
    [1.0, 2.0, 3.0, 0.0],
    [0.0, 1.0, 2.0, 3.0],
    [3.0, 0.0, 1.0, 2.0],
    [2.0, 3.0, 0.0, 1.0],
];
const FILTER: [[f32; 3]; 3] = [[2.0, 0.0, 1.0], [0.0, 1.0, 2.0], [1.0, 0.0, 2.0]];

fn print_matrix(name: &str, m: &[f32], cols: usize) {
    println!("{name} ({} × {cols}):", m.len() / cols);
    for row in m.chunks(cols) {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>3}")).collect();
        println!("  [{}]", cells.join(" "));
    }
}

fn main() {
    let x = X.as_flattened();
    let g = Geometry {
        c: 1,
        h: 4,
        w: 4,
        fh: 3,
        fw: 3,
        stride: 1,
        pad: 0,
    };
    print_matrix("input", x, 4);
    let mut col = vec![0.0; g.col_len()];
    im2col(&g, x, &mut col);
    print_matrix("im2col, 3×3 windows, stride 1", &col, g.patch());
    // By hand: row (oy, ox) holds X[oy + ky][ox + kx], row by row.
    let by_hand: Vec<f32> = (0..2)
        .flat_map(|oy| (0..2).map(move |ox| (oy, ox)))
        .flat_map(|(oy, ox)| (0..9).map(move |k| X[oy + k / 3][ox + k % 3]))
        .collect();
    claim("every row is its window, read row by row", col == by_hand);

    // The convolution as a product: each row · the flattened filter.
    let product: Vec<f32> = col
        .chunks(9)
        .map(|row| {
            row.iter()
                .zip(FILTER.as_flattened())
                .map(|(a, b)| a * b)
                .sum()
        })
        .collect();
    print_matrix("im2col · filter", &product, 2);
    claim(
        "the course's output [[15, 16], [6, 15]]",
        product == [15.0, 16.0, 6.0, 15.0],
    );

    // The layer does the same (im2col, then gemm), with the course's bias of 3.
    type Conv = Conv2d<1, 4, 4, 1, 3, 3, 1, 0, 2, 2>;
    let mut conv = Conv::ZERO;
    conv.w = [[FILTER]];
    conv.b = [3.0];
    let mut y = [[[[0.0f32; 2]; 2]; 1]];
    let mut work = vec![0.0; Conv::INFER.at(1)];
    conv.forward(&[[X]], &mut y, Mode::Infer, &mut [], &mut work);
    print_matrix("Conv2d layer, bias 3", y[0][0].as_flattened(), 2);
    claim(
        "the layer gives [[18, 19], [9, 18]]",
        y[0][0] == [[18.0, 19.0], [9.0, 18.0]],
    );

    // Stride 2 with 2×2 windows: four disjoint blocks.
    let g2 = Geometry {
        fh: 2,
        fw: 2,
        stride: 2,
        ..g
    };
    let mut col2 = vec![0.0; g2.col_len()];
    im2col(&g2, x, &mut col2);
    print_matrix("im2col, 2×2 windows, stride 2", &col2, g2.patch());
    claim(
        "stride 2 gives the four disjoint 2×2 blocks",
        col2 == [
            1., 2., 0., 1., 3., 0., 2., 3., 3., 0., 2., 3., 1., 2., 0., 1.,
        ],
    );

    // col2im of an all-ones matrix counts how many windows cover each pixel: 3×3 windows,
    // padding 1 (the output stays 4×4, as the course's padding example).
    let g3 = Geometry { pad: 1, ..g };
    let mut counts = vec![0.0; g3.input_len()];
    col2im(&g3, &vec![1.0; g3.col_len()], &mut counts);
    print_matrix(
        "col2im of ones, 3×3 windows, padding 1: windows covering each pixel",
        &counts,
        4,
    );
    let cover = |i: usize| if i == 0 || i == 3 { 2.0 } else { 3.0 };
    let want: Vec<f32> = (0..16).map(|p| cover(p / 4) * cover(p % 4)).collect();
    claim("corners 4, edges 6, inside 9", counts == want);
}
