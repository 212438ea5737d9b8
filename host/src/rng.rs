//! A small deterministic PRNG for host-side randomness (augmentation, shuffling helpers).
//!
//! SplitMix64: the same seed gives the same sequence on every platform. The core has its
//! own `no_std` generator for initialisation and dropout; this one only drives data-side
//! randomness so the two streams stay independent.

/// SplitMix64 (Steele, Lea, Flood 2014).
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform integer in `0..n` (n > 0), by Lemire's multiply-shift (bias < 2^-32 for small n).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((self.next_u64() >> 32) * n) >> 32
    }

    /// Uniform integer in `-k..=k`.
    pub fn symmetric(&mut self, k: u32) -> i32 {
        if k == 0 {
            return 0;
        }
        self.below(2 * k as u64 + 1) as i32 - k as i32
    }

    /// Uniform f32 in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut c = SplitMix64::new(43);
        assert_ne!(SplitMix64::new(42).next_u64(), c.next_u64());
    }

    #[test]
    fn ranges() {
        let mut r = SplitMix64::new(1);
        let mut seen = [0u32; 5];
        for _ in 0..10_000 {
            let v = r.symmetric(2);
            assert!((-2..=2).contains(&v));
            seen[(v + 2) as usize] += 1;
            let f = r.next_f32();
            assert!((0.0..1.0).contains(&f));
        }
        assert!(seen.iter().all(|&c| c > 1500), "{seen:?}");
    }

    #[test]
    fn shuffle_is_permutation() {
        let mut r = SplitMix64::new(7);
        let mut v: Vec<u32> = (0..100).collect();
        r.shuffle(&mut v);
        let mut s = v.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_ne!(v, s);
    }
}
