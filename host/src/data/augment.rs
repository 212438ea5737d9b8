//! Augmentation: random shifts of whole images.

use shinso::Rng;

/// Shift one `rows x cols` image by `(dx, dy)` pixels (right and down positive), filling
/// uncovered pixels with zero: `dst[y][x] = src[y - dy][x - dx]`.
pub fn shift_image(src: &[f32], dst: &mut [f32], rows: usize, cols: usize, dx: i32, dy: i32) {
    debug_assert_eq!(src.len(), rows * cols);
    debug_assert_eq!(dst.len(), rows * cols);
    dst.fill(0.0);
    let (r, c) = (rows as i32, cols as i32);
    if dx.abs() >= c || dy.abs() >= r {
        return;
    }
    let x0 = dx.max(0) as usize; // first destination column written
    let x1 = (c + dx.min(0)) as usize; // one past the last
    let sx0 = (x0 as i32 - dx) as usize;
    for y in dy.max(0)..(r + dy.min(0)) {
        let sy = (y - dy) as usize;
        let d = y as usize * cols;
        let s = sy * cols;
        dst[d + x0..d + x1].copy_from_slice(&src[s + sx0..s + sx0 + (x1 - x0)]);
    }
}

/// Random translations of up to `±max_shift` pixels in each direction, zero filled,
/// deterministic from the seed.
#[derive(Clone, Debug)]
pub struct Augmenter {
    pub max_shift: u32,
    rng: Rng,
    scratch: Vec<f32>,
}

impl Augmenter {
    pub fn new(max_shift: u32, seed: u64) -> Self {
        Self {
            max_shift,
            rng: Rng::new(seed ^ 0xA5A5_5A5A_C3C3_3C3C),
            scratch: Vec::new(),
        }
    }
    /// Shift every image of a batch in place (each by its own random offset).
    pub fn apply(&mut self, batch: &mut [f32], rows: usize, cols: usize) {
        if self.max_shift == 0 {
            return;
        }
        let p = rows * cols;
        self.scratch.resize(p, 0.0);
        for img in batch.chunks_exact_mut(p) {
            let k = self.max_shift as usize;
            let dx = self.rng.below(2 * k + 1) as i32 - k as i32;
            let dy = self.rng.below(2 * k + 1) as i32 - k as i32;
            if dx == 0 && dy == 0 {
                continue;
            }
            self.scratch.copy_from_slice(img);
            shift_image(&self.scratch, img, rows, cols, dx, dy);
        }
    }
}
