//! A count-min sketch of recent access frequency (TinyLFU, Einziger et al. 2017).
//!
//! It remembers how often keys were asked for, including keys the cache does not hold:
//! that history is what lets the admission test tell a one-hit wonder from a popular key
//! that was evicted, which no per-entry counter can. Four rows of 4-bit counters, packed
//! sixteen to a `u64`; an estimate is the minimum over the rows. After `10 × width`
//! increments every counter is halved, so the sketch follows a drifting popularity.
//!
//! Each row has four counters per key held (rounded up to a power of two), the budget
//! Caffeine gives its sketch: about 8 bytes a key, allocated on the first access. With
//! one counter per key the rows are so crowded that the estimates stop telling keys
//! apart; bench/policy-sim.py measured 2-3 points of hit ratio lost that way.

const ROWS: usize = 4;
const SEEDS: [u64; ROWS] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0x85EB_CA77_C2B2_AE63,
];

#[derive(Debug, Clone)]
pub struct Sketch {
    /// `ROWS` rows of `width / 16` words each.
    words: Vec<u64>,
    width_bits: u32,
    additions: usize,
}

/// Counters per row for each key held.
const COUNTERS_PER_KEY: usize = 4;

impl Default for Sketch {
    /// An empty sketch: no memory until [`Sketch::ensure_capacity`] sizes it.
    fn default() -> Sketch {
        Sketch {
            words: Vec::new(),
            width_bits: 0,
            additions: 0,
        }
    }
}

impl Sketch {
    fn with_width(width: usize) -> Sketch {
        let width = width.next_power_of_two().max(64);
        Sketch {
            words: vec![0; ROWS * width / 16],
            width_bits: width.trailing_zeros(),
            additions: 0,
        }
    }

    fn width(&self) -> usize {
        if self.words.is_empty() {
            0
        } else {
            1 << self.width_bits
        }
    }

    /// Grows the sketch when the cache holds more keys than its rows are sized for,
    /// keeping what it has counted: a counter's position is the top bits of the hash, so
    /// each old counter becomes the parent of a run of new ones and hands them its count.
    /// Every key's estimate is unchanged by growing (Caffeine starts afresh instead, which
    /// forgets everything read while a cache fills).
    pub fn ensure_capacity(&mut self, keys: usize) {
        let want = keys.max(16) * COUNTERS_PER_KEY;
        let old_width = self.width();
        if want <= old_width {
            return;
        }
        let mut grown = Sketch::with_width(want);
        if let Some(factor) = grown.width().checked_div(old_width) {
            let (old_wpr, new_wpr) = (old_width / 16, grown.width() / 16);
            for row in 0..ROWS {
                for j in 0..grown.width() {
                    let i = j / factor;
                    let count = (self.words[row * old_wpr + i / 16] >> ((i % 16) * 4)) & 0xF;
                    grown.words[row * new_wpr + j / 16] |= count << ((j % 16) * 4);
                }
            }
            grown.additions = self.additions;
        }
        *self = grown;
    }

    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }

    fn index(&self, hash: u64, row: usize) -> (usize, u32) {
        let h = (hash ^ (hash >> 29)).wrapping_mul(SEEDS[row]);
        let counter = (h >> (64 - self.width_bits)) as usize;
        let words_per_row = self.width() / 16;
        (
            row * words_per_row + counter / 16,
            (counter % 16) as u32 * 4,
        )
    }

    /// Counts one access to the key with this hash.
    pub fn increment(&mut self, hash: u64) {
        for row in 0..ROWS {
            let (w, shift) = self.index(hash, row);
            if (self.words[w] >> shift) & 0xF < 15 {
                self.words[w] += 1 << shift;
            }
        }
        self.additions += 1;
        // Ten samples per key held, as TinyLFU's paper and Caffeine reset.
        if self.additions >= 10 * self.width() / COUNTERS_PER_KEY {
            self.age();
        }
    }

    /// Counts `n` accesses at once (seeding from what entries already know).
    pub fn add(&mut self, hash: u64, n: u8) {
        for row in 0..ROWS {
            let (w, shift) = self.index(hash, row);
            let c = ((self.words[w] >> shift) & 0xF) as u8;
            let new = c.saturating_add(n).min(15) as u64;
            self.words[w] = (self.words[w] & !(0xF << shift)) | (new << shift);
        }
        self.additions += n as usize;
    }

    /// Estimated accesses of the key with this hash, 0 to 15.
    pub fn estimate(&self, hash: u64) -> u8 {
        if self.words.is_empty() {
            return 0;
        }
        (0..ROWS)
            .map(|row| {
                let (w, shift) = self.index(hash, row);
                ((self.words[w] >> shift) & 0xF) as u8
            })
            .min()
            .unwrap_or(0)
    }

    /// Halves every counter.
    fn age(&mut self) {
        for w in &mut self.words {
            *w = (*w >> 1) & 0x7777_7777_7777_7777;
        }
        self.additions /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequent_keys_estimate_higher_and_counts_age() {
        let mut s = Sketch::with_width(1024);
        let h = |i: u64| i.wrapping_mul(0x2545_F491_4F6C_DD1D);
        for _ in 0..12 {
            s.increment(h(1));
        }
        s.increment(h(2));
        assert_eq!(s.estimate(h(1)), 12);
        assert!(s.estimate(h(2)) >= 1);
        assert!(s.estimate(h(2)) < 12);
        // Enough other traffic to trigger ageing halves the hot key's count.
        for i in 0..(10 * 1024 / COUNTERS_PER_KEY) as u64 {
            s.increment(h(1000 + i));
        }
        assert!(s.estimate(h(1)) <= 7, "{}", s.estimate(h(1)));
    }

    #[test]
    fn growing_keeps_every_estimate() {
        let mut s = Sketch::default();
        s.ensure_capacity(16);
        let h = |i: u64| i.wrapping_mul(0x2545_F491_4F6C_DD1D);
        for i in 0..200u64 {
            for _ in 0..(i % 7) {
                s.increment(h(i));
            }
        }
        let before: Vec<u8> = (0..200).map(|i| s.estimate(h(i))).collect();
        s.ensure_capacity(5000);
        assert!(s.width() >= 20_000);
        let after: Vec<u8> = (0..200).map(|i| s.estimate(h(i))).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn counters_saturate_at_15() {
        let mut s = Sketch::with_width(64);
        for _ in 0..100 {
            s.increment(42);
        }
        assert_eq!(s.estimate(42), 15);
    }
}
