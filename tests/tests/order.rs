//! Every kernel variant sums in one fixed order, so host and device compute the same floats:
//! each variant (including the Cortex-M4F's register tiles, compiled here for the host) against
//! an `f32` twin that adds the products one by one in that order, **bit for bit** (compared
//! with `==`: equal floats, a signed zero aside).

use proptest::prelude::*;
use shinso::kernels::{
    affine_backward_one, conv2d_direct, conv2d_direct_rows, conv2d_direct_tiles, conv_relu_pool,
    conv_relu_pool_backward, conv_relu_pool_bands, conv_relu_pool_tiles, gemm_nn, gemm_nt, gemm_tn,
    im2col, max_pool, max_pool_infer, ConvPool, Geometry,
};
use shinso::Rng;
use shinso_tests::twin::{self, Geom};
use shinso_tests::{proptest_config, uniform};

/// The three products against the in-order twin, overwriting and accumulating.
fn check_gemms(m: usize, k: usize, n: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let (a, b, c0) = (
        uniform(&mut rng, m * k),
        uniform(&mut rng, k * n),
        uniform(&mut rng, m * n),
    );
    let zero = vec![0.0; m * n];
    for accumulate in [false, true] {
        let start = if accumulate { &c0 } else { &zero };
        let nn = twin::gemm_in_order(m, k, n, |i, p| a[i * k + p], |p, j| b[p * n + j], start);
        let tn = twin::gemm_in_order(m, k, n, |i, p| a[p * m + i], |p, j| b[p * n + j], start);
        let nt = twin::gemm_in_order(m, k, n, |i, p| a[i * k + p], |p, j| b[j * k + p], start);
        let mut c = c0.clone();
        gemm_nn(m, k, n, &a, &b, &mut c, accumulate);
        assert_eq!(c, nn, "gemm_nn {m}×{k}×{n}, accumulate {accumulate}");
        let mut c = c0.clone();
        gemm_tn(m, k, n, &a, &b, &mut c, accumulate);
        assert_eq!(c, tn, "gemm_tn {m}×{k}×{n}, accumulate {accumulate}");
        let mut c = c0.clone();
        gemm_nt(m, k, n, &a, &b, &mut c, accumulate);
        assert_eq!(c, nt, "gemm_nt {m}×{k}×{n}, accumulate {accumulate}");
    }
}

/// The layers' shapes: MLP widths, batches 1 to 100, the long inner dimension of 784.
#[test]
fn gemms_on_the_zoo_shapes() {
    for (m, k, n) in [
        (1, 784, 40),
        (100, 784, 40),
        (7, 40, 20),
        (33, 20, 10),
        (784, 100, 40),
        (40, 100, 784),
        (10, 144, 121),
        (1, 800, 10),
    ] {
        check_gemms(m, k, n, (m * 31 + k * 7 + n) as u64);
    }
}

/// The device's single-sample affine backward against the in-order twins of `x ⊗ dy` and
/// `W·dy` (`W` with `i` rows of `O`), and bit for bit against the general products it stands in
/// for at a batch of one.
fn check_affine_backward_one<const O: usize>(i: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let (x, dy, w) = (
        uniform(&mut rng, i),
        uniform(&mut rng, O),
        uniform(&mut rng, i * O),
    );
    let dw_twin = twin::gemm_in_order(i, 1, O, |r, _| x[r], |_, c| dy[c], &vec![0.0; i * O]);
    let dx_twin = twin::gemm_in_order(1, O, i, |_, p| dy[p], |p, c| w[c * O + p], &vec![0.0; i]);
    let rows: Vec<[f32; O]> = w.chunks_exact(O).map(|r| r.try_into().unwrap()).collect();
    let (mut dw, mut dx) = (vec![[9.0; O]; i], vec![9.0; i]);
    affine_backward_one(
        &x,
        &rows,
        &dy.clone().try_into().unwrap(),
        &mut dw,
        Some(&mut dx),
    );
    let dw: Vec<f32> = dw.concat();
    assert_eq!(dw, dw_twin, "x ⊗ dy, {i}×{O}");
    assert_eq!(dx, dx_twin, "W·dy, {i}×{O}");
    let (mut dw_gemm, mut dx_gemm) = (vec![0.0; i * O], vec![0.0; i]);
    gemm_tn(i, 1, O, &x, &dy, &mut dw_gemm, false);
    gemm_nt(1, O, i, &dy, &w, &mut dx_gemm, false);
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&dw), bits(&dw_gemm), "x ⊗ dy as gemm_tn, {i}×{O}");
    assert_eq!(bits(&dx), bits(&dx_gemm), "W·dy as gemm_nt, {i}×{O}");
}

/// The affine layers of the device's nets (400 and 800 → 10) and a few others.
#[test]
fn affine_backward_one_on_the_zoo_shapes() {
    check_affine_backward_one::<10>(400, 1);
    check_affine_backward_one::<10>(800, 2);
    check_affine_backward_one::<40>(784, 3);
    check_affine_backward_one::<3>(7, 4);
    check_affine_backward_one::<1>(1, 5);
}

/// One convolution geometry and its input, weights and bias.
struct Case {
    g: Geom,
    fnum: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
}

impl Case {
    fn new(g: Geom, fnum: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let k = g.c * g.fh * g.fw;
        Case {
            x: uniform(&mut rng, g.input_len()),
            w: uniform(&mut rng, fnum * k),
            b: uniform(&mut rng, fnum),
            g,
            fnum,
        }
    }

    /// Every forward convolution variant, and the im2col product with the bias written first.
    fn check_conv(&self) {
        let (g, core) = (self.g, self.g.core());
        let want = twin::conv2d_in_order(g, self.fnum, &self.x, &self.w, &self.b);
        type Conv = fn(&Geometry, &[f32], &[f32], &[f32], &mut [f32]);
        let variants: [(&str, Conv); 3] = [
            ("conv2d_direct", conv2d_direct),
            ("conv2d_direct_rows", conv2d_direct_rows),
            ("conv2d_direct_tiles", conv2d_direct_tiles),
        ];
        for (name, conv) in variants {
            let mut y = vec![f32::NAN; want.len()];
            conv(&core, &self.x, &self.w, &self.b, &mut y);
            assert_eq!(y, want, "{name} {g:?}, {} filters", self.fnum);
        }
        let (p, k) = (core.positions(), core.patch());
        let mut col = vec![0.0; core.col_len()];
        im2col(&core, &self.x, &mut col);
        let mut y: Vec<f32> = self
            .b
            .iter()
            .flat_map(|&b| std::iter::repeat_n(b, p))
            .collect();
        gemm_nt(self.fnum, k, p, &self.w, &col, &mut y, true);
        assert_eq!(y, want, "im2col + gemm_nt {g:?}");
    }

    /// Every variant of the fused convolution → ReLU → max pooling, with and without argmax.
    fn check_fused(&self, (ph, pw, ps): (usize, usize, usize)) {
        let core = self.g.core();
        let cp = ConvPool {
            conv: core,
            filters: self.fnum,
            ph,
            pw,
            ps,
        };
        let pool = Geom {
            n: 1,
            c: self.fnum,
            h: core.oh(),
            w: core.ow(),
            fh: ph,
            fw: pw,
            stride: ps,
            pad: 0,
        };
        let maps = twin::conv2d_in_order(self.g, self.fnum, &self.x, &self.w, &self.b);
        let (want, want_arg) = twin::relu_max_pool_in_order(pool, &maps);
        type Fused =
            fn(&ConvPool, &[f32], &[f32], &[f32], &mut [f32], &mut [f32], Option<&mut [u8]>);
        let variants: [(&str, Fused); 3] = [
            ("conv_relu_pool", conv_relu_pool),
            ("conv_relu_pool_bands", conv_relu_pool_bands),
            ("conv_relu_pool_tiles", conv_relu_pool_tiles),
        ];
        let mut band = vec![0.0; ph * core.w.max(core.ow())];
        for (name, fused) in variants {
            let (mut y, mut arg) = (vec![f32::NAN; want.len()], vec![99u8; want.len()]);
            fused(
                &cp,
                &self.x,
                &self.w,
                &self.b,
                &mut band,
                &mut y,
                Some(&mut arg),
            );
            assert_eq!(y, want, "{name} {cp:?}");
            assert_eq!(arg, want_arg, "{name} argmax {cp:?}");
            let mut y = vec![f32::NAN; want.len()];
            fused(&cp, &self.x, &self.w, &self.b, &mut band, &mut y, None);
            assert_eq!(y, want, "{name} without argmax {cp:?}");
        }
        if (self.g.stride, self.g.pad) == (1, 0) {
            self.check_fused_backward(&cp, &want, &want_arg);
        }
    }

    /// The fused block's backward (stride 1, no padding) against an `f32` twin that adds, filter
    /// by filter and cell by cell in row-major order, each live cell's `g·x` onto `dw` (which
    /// starts from what it held), `g` onto `db`, and `g·w` onto `dx` (from 0); `dx` is summed
    /// in that order by the filter-by-filter kernel of the 3 × 3 and 5 × 5 windows only.
    fn check_fused_backward(&self, cp: &ConvPool, y: &[f32], arg: &[u8]) {
        let (g, k, fnum) = (self.g, cp.conv.patch(), self.fnum);
        let (qw, cells, window) = (cp.qw(), cp.qh() * cp.qw(), cp.ph * cp.pw);
        let mut rng = Rng::new(fnum as u64);
        let (dy, dw0, db0) = (
            uniform(&mut rng, y.len()),
            uniform(&mut rng, fnum * k),
            uniform(&mut rng, fnum),
        );
        let (mut tw, mut tb, mut tx) = (dw0.clone(), db0.clone(), vec![0.0; g.input_len()]);
        for f in 0..fnum {
            for q in 0..cells {
                let (i, a) = (f * cells + q, arg[f * cells + q] as usize);
                if !(y[i] > 0.0 && a < window) {
                    continue;
                }
                let (oy, ox) = ((q / qw) * cp.ps + a / cp.pw, (q % qw) * cp.ps + a % cp.pw);
                tb[f] += dy[i];
                for c in 0..g.c {
                    for ii in 0..g.fh {
                        for jj in 0..g.fw {
                            let xi = (c * g.h + oy + ii) * g.w + ox + jj;
                            let p = f * k + (c * g.fh + ii) * g.fw + jj;
                            tw[p] += dy[i] * self.x[xi];
                            tx[xi] += dy[i] * self.w[p];
                        }
                    }
                }
            }
        }
        let (mut dw, mut db, mut dx) = (dw0, db0, vec![f32::NAN; g.input_len()]);
        let mut patch = vec![0.0; 2 * k];
        conv_relu_pool_backward(
            cp,
            &self.x,
            &self.w,
            y,
            arg,
            &dy,
            &mut dw,
            &mut db,
            Some(&mut dx),
            &mut patch,
        );
        assert_eq!(dw, tw, "backward dw {cp:?}");
        assert_eq!(db, tb, "backward db {cp:?}");
        if matches!((g.fh, g.fw), (3, 3) | (5, 5)) {
            assert_eq!(dx, tx, "backward dx {cp:?}");
        }
    }
}

fn conv_geom(c: usize, h: usize, w: usize, f: (usize, usize), stride: usize, pad: usize) -> Geom {
    Geom {
        n: 1,
        c,
        h,
        w,
        fh: f.0,
        fw: f.1,
        stride,
        pad,
    }
}

/// The zoo's convolutions (the device's two-conv nets, SimpleConvNet, LeNet), whose shapes the
/// register tiles are built for, with filter counts that leave a ragged last tile.
#[test]
fn convolutions_on_the_zoo_shapes() {
    let shapes = [
        (conv_geom(1, 28, 28, (3, 3), 1, 0), 16),
        (conv_geom(16, 13, 13, (3, 3), 1, 0), 32),
        (conv_geom(8, 13, 13, (3, 3), 1, 0), 5),
        (conv_geom(1, 28, 28, (5, 5), 1, 0), 3),
        (conv_geom(6, 14, 14, (5, 5), 1, 0), 16),
        (conv_geom(1, 28, 28, (5, 5), 1, 2), 6),
    ];
    for (i, (g, fnum)) in shapes.into_iter().enumerate() {
        let case = Case::new(g, fnum, 40 + i as u64);
        case.check_conv();
        case.check_fused((2, 2, 2));
        case.check_fused((3, 3, 2));
    }
}

proptest! {
    #![proptest_config(proptest_config(64))]

    /// Products of any shape, including the narrow and the ragged.
    #[test]
    fn gemms_of_any_shape(m in 1usize..40, k in 0usize..70, n in 1usize..40, seed in any::<u64>()) {
        check_gemms(m, k, n, seed);
    }

    /// Convolutions and fused blocks of any shape; stride 1 without padding and 2×2 pooling
    /// (what the register tiles take) come up often.
    #[test]
    fn convolutions_of_any_shape(
        (c, h, w) in (1usize..4, 2usize..14, 2usize..14),
        (fh, fw) in (1usize..6, 1usize..6),
        (stride, pad) in prop_oneof![Just((1usize, 0usize)), (1usize..3, 0usize..3)],
        fnum in 1usize..6,
        pooling in prop_oneof![Just((2usize, 2usize, 2usize)), (1usize..4, 1usize..4, 1usize..4)],
        seed in any::<u64>(),
    ) {
        let g = conv_geom(c, h, w, (fh, fw), stride, pad);
        prop_assume!(g.fits());
        let case = Case::new(g, fnum, seed);
        case.check_conv();
        let (ph, pw, _) = pooling;
        if ph <= g.oh() && pw <= g.ow() {
            case.check_fused(pooling);
        }
    }

    /// Inference pooling gives exactly the training pooling's outputs.
    #[test]
    fn max_pool_infer_is_max_pool(
        (c, h, w) in (1usize..4, 1usize..12, 1usize..12),
        (fh, fw, stride, pad) in (1usize..4, 1usize..4, 1usize..4, 0usize..2),
        seed in any::<u64>(),
    ) {
        let g = conv_geom(c, h, w, (fh, fw), stride, pad);
        prop_assume!(g.fits() && fh > pad && fw > pad);
        let core = g.core();
        let mut rng = Rng::new(seed);
        let mut x = uniform(&mut rng, core.input_len());
        // Ties, −∞ and NaN too.
        x.iter_mut().step_by(5).for_each(|v| *v = 0.5);
        x.iter_mut().step_by(11).for_each(|v| *v = f32::NEG_INFINITY);
        x.iter_mut().step_by(13).for_each(|v| *v = f32::NAN);
        let n = c * core.positions();
        let (mut want, mut arg, mut got) = (vec![0.0; n], vec![0; n], vec![f32::NAN; n]);
        max_pool(&core, &x, &mut want, &mut arg);
        max_pool_infer(&core, &x, &mut got);
        prop_assert_eq!(got, want);
    }
}

/// Every path the host picks, each against the in-order loop bit for bit: the small products'
/// tiles (1, 4, 5 rows; the exact 40-, 20- and 10-column tiles; 11 × 17), the blocked products
/// (packed operands, 6 × 16 tiles, from 64 columns for `gemm_tn` and 96 for the others) with
/// ragged last tiles and panels (130, 1000 columns), several row blocks (250, 300, 784 rows;
/// a block holds at most 120) and several chunks of the inner dimension (513, 600, 1000 steps; a
/// chunk holds at most 256), the smallest ones (6 rows, one step), and the wide MLP's first
/// layer (100 × 784 × 1000).
///
/// On a core with AVX-512 the large products have their own kernels (8 × 48 tiles, packed from
/// 64 columns and 8 rows; one panel of them for 33 to 48 columns from 64 rows and 16 steps; rows
/// one at a time in 112-column tiles below 8 rows, from 33 columns and 64 steps): the shapes run both ways, and the edges of those ranges are among them.
#[test]
fn gemms_on_every_tile_shape() {
    let shapes = [
        (1, 1, 1),
        (1, 784, 10),
        (4, 3, 10),
        (5, 97, 20),
        (7, 1000, 40),
        (13, 64, 40),
        (100, 784, 1000),
        (6, 200, 16),
        (11, 130, 17),
        (1000, 20, 10),
        (1000, 40, 20),
        (784, 1000, 40),
        (100, 784, 10),
        (6, 1, 96),
        (250, 513, 130),
        (300, 600, 7),
        (121, 257, 100),
        (130, 300, 1030),
        (8, 5, 64),
        (7, 70, 64),
        (13, 300, 63),
        (64, 64, 33),
        (64, 63, 48),
        (63, 64, 40),
        (64, 16, 40),
        (1000, 15, 40),
        (1, 4320, 100),
        (3, 64, 113),
        (7, 200, 224),
        (1, 64, 33),
        (2, 63, 300),
        (200, 600, 47),
        (1000, 100, 49),
        (100, 1000, 20),
        (40, 1000, 20),
        (14, 16, 17),
        (13, 16, 32),
        (20, 1000, 10),
        (21, 16, 1),
        (99, 300, 16),
        (784, 100, 1000),
        (1000, 300, 64),
        (2000, 40, 64),
        (64, 2100, 64),
        (70, 2100, 40),
        (100, 784, 400),
        (64, 100, 100),
        (30, 50, 90),
        (19, 70, 80),
        (20, 64, 80),
        (100, 300, 112),
        (64, 512, 33),
        (100, 600, 36),
    ];
    for avx512 in [true, false] {
        shinso::kernels::allow_avx512(avx512);
        for (m, k, n) in shapes {
            check_gemms(m, k, n, (m * 31 + k * 7 + n) as u64);
        }
    }
    shinso::kernels::allow_avx512(true);
}

/// The 2 × 2, stride-2 windows inference takes a shortcut for, on even and odd sizes, against
/// the general max pooling: ties, −∞ and NaN included.
#[test]
fn max_pool_infer_on_2x2_windows_is_max_pool() {
    for (c, h, w) in [(1, 2, 2), (3, 5, 7), (30, 24, 24), (2, 9, 4)] {
        let g = conv_geom(c, h, w, (2, 2), 2, 0).core();
        let mut rng = Rng::new((c * h * w) as u64);
        let mut x = uniform(&mut rng, g.input_len());
        x.iter_mut().step_by(5).for_each(|v| *v = 0.5);
        x.iter_mut().step_by(3).for_each(|v| *v = -0.0);
        x.iter_mut()
            .step_by(11)
            .for_each(|v| *v = f32::NEG_INFINITY);
        x.iter_mut().step_by(13).for_each(|v| *v = f32::NAN);
        let n = c * g.positions();
        let (mut want, mut arg, mut got) = (vec![0.0; n], vec![0; n], vec![f32::NAN; n]);
        max_pool(&g, &x, &mut want, &mut arg);
        max_pool_infer(&g, &x, &mut got);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{c}×{h}×{w}");
    }
}

/// The host's vectorised exponential (softmax's) against libm's `expf`, which the device runs,
/// bit for bit on every 61st bit pattern of `f32` (about 70 million inputs: every exponent,
/// both signs, the special values' neighbourhoods), in slices whose lengths leave remainders.
#[test]
fn exp_in_place_is_libm_expf() {
    let mut inputs = (0..=u32::MAX).step_by(61).map(f32::from_bits).chain([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        87.33654,
        -87.33655,
        88.72283,
        -103.97208,
        1.0e-30,
    ]);
    let mut batch = Vec::with_capacity(1 << 16);
    loop {
        batch.clear();
        batch.extend(inputs.by_ref().take((1 << 16) - 3));
        if batch.is_empty() {
            break;
        }
        let mut got = batch.clone();
        shinso::math::exp_in_place(&mut got);
        for (x, y) in batch.iter().zip(&got) {
            let want = libm::expf(*x);
            assert!(
                want.to_bits() == y.to_bits() || want.is_nan() && y.is_nan(),
                "exp({x:e}) = {want:e}, got {y:e}"
            );
        }
    }
}
