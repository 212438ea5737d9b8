//! The learner's augmentation: each learning step trains on its image moved by one pixel, the
//! eight directions in turn.
//!
//! One streamed pass sees each training image once; moving it by one pixel makes every step a
//! slightly different view of its digit, which the network must recognise wherever it sits. It
//! takes the online learner's one pass over the 10,000 bundled training images from 0.9689 to
//! 0.9719 on the official test set (firmware README), at no cost in RAM (the moved image is
//! written where the plain one would be) and none in flash worth counting.
//!
//! The move is a function of the learner's step count ([`Schedule::step`](crate::schedule::Schedule)),
//! which a checkpoint keeps: a resumed learner goes on with the move it would have taken, and a
//! host twin replaying the same steps moves the same images the same way. Only the learner
//! moves its images: fine-tuning a pushed model and inference see them as sent.

use shinso_proto::PIXELS;

/// Rows and columns of an image.
const SIDE: usize = 28;
const _: () = assert!(SIDE * SIDE == PIXELS);

/// The eight one-pixel moves as `(dy, dx)` (down, right positive), in the order steps take
/// them: step `k` moves by `MOVES[k % 8]`.
pub const MOVES: [(i8, i8); 8] = [
    (-1, -1),
    (-1, 0),
    (-1, 1),
    (0, -1),
    (0, 1),
    (1, -1),
    (1, 0),
    (1, 1),
];

/// The move of learning step `step`.
pub const fn move_of(step: u32) -> (i8, i8) {
    MOVES[step as usize % MOVES.len()]
}

/// Writes `pixels` moved by step `step`'s move `(dy, dx)`, each through `f`, into `out`:
/// `out[r][c] = f(pixels[r − dy][c − dx])`, and `f(0)` (background) where that falls off the
/// image. `out` holds at least [`PIXELS`] values (only the first are written).
pub fn shift_into<T>(pixels: &[u8; PIXELS], step: u32, out: &mut [T], f: impl Fn(u8) -> T) {
    let (dy, dx) = move_of(step);
    for (i, o) in out.iter_mut().take(PIXELS).enumerate() {
        let (r, c) = ((i / SIDE) as isize, (i % SIDE) as isize);
        let (sr, sc) = (r - dy as isize, c - dx as isize);
        let inside = (0..SIDE as isize).contains(&sr) && (0..SIDE as isize).contains(&sc);
        *o = f(if inside {
            pixels[sr as usize * SIDE + sc as usize]
        } else {
            0
        });
    }
}

/// `pixels` moved by step `step`'s move, as bytes: the image the learner learns from at that
/// step (what a host twin replays, or sends to `Infer` to see the learner's input).
pub fn shifted(pixels: &[u8; PIXELS], step: u32) -> [u8; PIXELS] {
    let mut out = [0; PIXELS];
    shift_into(pixels, step, &mut out, |p| p);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// An image with four marked pixels: the top-left corner (1), one on the top edge (2), one
    /// inside (3), and the bottom-right corner (4).
    fn marked() -> [u8; PIXELS] {
        let mut x = [0; PIXELS];
        x[0] = 1; // (0, 0)
        x[5] = 2; // (0, 5)
        x[10 * SIDE + 7] = 3; // (10, 7)
        x[27 * SIDE + 27] = 4; // (27, 27)
        x
    }

    /// The nonzero pixels as `(row, column, value)`, in row-major order.
    fn marks(x: &[u8; PIXELS]) -> Vec<(usize, usize, u8)> {
        (0..PIXELS)
            .filter(|&i| x[i] != 0)
            .map(|i| (i / SIDE, i % SIDE, x[i]))
            .collect()
    }

    /// Each move by hand: the inside pixel always moves with it, and a mark moved past an edge
    /// is gone (nothing wraps to the other side).
    #[test]
    fn each_move_by_hand() {
        let want: [&[(usize, usize, u8)]; 8] = [
            // (-1, -1): up-left; the top row and the left column leave.
            &[(9, 6, 3), (26, 26, 4)],
            // (-1, 0): up; the top row leaves.
            &[(9, 7, 3), (26, 27, 4)],
            // (-1, 1): up-right; the top row and the right column leave.
            &[(9, 8, 3)],
            // (0, -1): left; the left column leaves.
            &[(0, 4, 2), (10, 6, 3), (27, 26, 4)],
            // (0, 1): right; the right column leaves.
            &[(0, 1, 1), (0, 6, 2), (10, 8, 3)],
            // (1, -1): down-left; the bottom row and the left column leave.
            &[(1, 4, 2), (11, 6, 3)],
            // (1, 0): down; the bottom row leaves.
            &[(1, 0, 1), (1, 5, 2), (11, 7, 3)],
            // (1, 1): down-right; the bottom row and the right column leave.
            &[(1, 1, 1), (1, 6, 2), (11, 8, 3)],
        ];
        for (k, want) in want.iter().enumerate() {
            assert_eq!(marks(&shifted(&marked(), k as u32)), *want, "move {k}");
        }
    }

    /// The moves cycle with the step count, every 8 steps, from any point.
    #[test]
    fn the_moves_cycle_every_eight_steps() {
        for k in [0, 3, 7, 8, 12345, u32::MAX - 7] {
            assert_eq!(shifted(&marked(), k), shifted(&marked(), k % 8), "step {k}");
        }
        let mut seen = MOVES.to_vec();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 8, "eight different moves");
        assert!(!MOVES.contains(&(0, 0)), "every step moves its image");
    }

    /// The learner's floats are the moved bytes, each scaled as the data loader does: back to
    /// bytes (the wire's exact inverse of `p / 255`) they are the moved image.
    #[test]
    fn the_scaled_input_is_the_moved_bytes_scaled() {
        let x = marked();
        for k in 0..8 {
            let mut floats = [f32::NAN; PIXELS];
            shift_into(&x, k, &mut floats, |p| p as f32 * (1.0 / 255.0));
            let back = shinso_proto::Pixels::from_unit(&floats).unwrap();
            assert!(back.0 == shifted(&x, k), "move {k}");
        }
    }
}
