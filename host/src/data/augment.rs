//! Augmentation: random shifts of whole images, and the one resampler that moves pixels
//! (shifts here, rotations in [`super::rotate`]).

use shinso::Rng;

/// A `rows × cols` image whose pixel `(r, c)` is `img` read at `src(r, c)` (fractional row and
/// column) by bilinear interpolation; what comes from outside the image is background (0). At
/// whole-pixel positions it copies values exactly.
pub(super) fn resample(
    img: &[f32],
    rows: usize,
    cols: usize,
    src: impl Fn(f64, f64) -> (f64, f64),
) -> Vec<f32> {
    let at = |y: f64, x: f64| -> f64 {
        let inside = (0.0..rows as f64).contains(&y) && (0.0..cols as f64).contains(&x);
        if inside {
            img[y as usize * cols + x as usize] as f64
        } else {
            0.0
        }
    };
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let (sy, sx) = src(r as f64, c as f64);
            let (y0, x0) = (sy.floor(), sx.floor());
            let (fy, fx) = (sy - y0, sx - x0);
            let v = at(y0, x0) * (1.0 - fy) * (1.0 - fx)
                + at(y0, x0 + 1.0) * (1.0 - fy) * fx
                + at(y0 + 1.0, x0) * fy * (1.0 - fx)
                + at(y0 + 1.0, x0 + 1.0) * fy * fx;
            out.push(v as f32);
        }
    }
    out
}

/// Shift one `rows x cols` image by `(dx, dy)` pixels (right and down positive), filling
/// uncovered pixels with zero: `dst[y][x] = src[y - dy][x - dx]`.
pub fn shift_image(src: &[f32], dst: &mut [f32], rows: usize, cols: usize, dx: i32, dy: i32) {
    let (dx, dy) = (dx as f64, dy as f64);
    dst.copy_from_slice(&resample(src, rows, cols, |r, c| (r - dy, c - dx)));
}

/// Random translations of up to `±max_shift` pixels in each direction, zero filled,
/// deterministic from the seed.
#[derive(Clone, Debug)]
pub struct Augmenter {
    pub max_shift: u32,
    rng: Rng,
}

impl Augmenter {
    pub fn new(max_shift: u32, seed: u64) -> Self {
        let rng = Rng::new(seed ^ 0xA5A5_5A5A_C3C3_3C3C);
        Self { max_shift, rng }
    }
    /// Shift every image of a batch in place (each by its own random offset).
    pub fn apply(&mut self, batch: &mut [f32], rows: usize, cols: usize) {
        if self.max_shift == 0 {
            return;
        }
        for img in batch.chunks_exact_mut(rows * cols) {
            let k = self.max_shift as usize;
            let dx = self.rng.below(2 * k + 1) as i32 - k as i32;
            let dy = self.rng.below(2 * k + 1) as i32 - k as i32;
            if dx != 0 || dy != 0 {
                let src = img.to_vec();
                shift_image(&src, img, rows, cols, dx, dy);
            }
        }
    }
}
