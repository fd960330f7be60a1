//! A count-min sketch of recent access frequency (TinyLFU, Einziger et al. 2017).
//!
//! It remembers how often keys were asked for, including keys the cache does not hold:
//! that history is what lets the admission test tell a one-hit wonder from a popular key
//! that was evicted, which no per-entry counter can. Four rows of 4-bit counters, packed
//! sixteen to a `u64`; an estimate is the minimum over the rows. After `10 × width`
//! increments every counter is halved, so the sketch follows a drifting popularity.
//!
//! The width follows the number of keys held (the next power of two), so the sketch costs
//! about 2 bytes per key and needs no configuration.

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

impl Default for Sketch {
    fn default() -> Sketch {
        Sketch::with_width(1024)
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
        1 << self.width_bits
    }

    /// Grows the sketch when the cache holds more keys than it has counters per row.
    /// Growing starts the counts afresh, as Caffeine does; it happens a logarithmic
    /// number of times while a cache fills.
    pub fn ensure_capacity(&mut self, keys: usize) {
        if keys > self.width() {
            *self = Sketch::with_width(keys);
        }
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
        if self.additions >= 10 * self.width() {
            self.age();
        }
    }

    /// Estimated accesses of the key with this hash, 0 to 15.
    pub fn estimate(&self, hash: u64) -> u8 {
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
        for i in 0..10 * 1024 {
            s.increment(h(1000 + i));
        }
        assert!(s.estimate(h(1)) <= 7, "{}", s.estimate(h(1)));
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
