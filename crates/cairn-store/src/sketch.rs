//! A count-min sketch of recent access frequency (TinyLFU, Einziger et al. 2017).
//!
//! It remembers how often keys were asked for, including keys the cache does not hold:
//! that was evicted, which no per-entry counter can. A key is counted in four 4-bit
//! counters and its estimate is their minimum; after 10 increments per key held every
//! counter is halved, so the sketch follows a drifting popularity.
//!
//! Layout, as Caffeine's: the counters live in 64-byte blocks (eight `u64` words of sixteen
//! counters); a key's hash picks one block and, within it, one counter in each pair of
//! words. An increment or an estimate therefore touches one cache line instead of four,
//! which matters because eviction estimates several sampled keys for every write.
//!
//! Size: sixteen counters per key the cache may hold (Caffeine's budget, 8 bytes a key);
//! bench/policy-sim.py measured 2-3 points of hit ratio lost with a quarter of that.

/// Counters per key held.
const COUNTERS_PER_KEY: usize = 16;
const WORDS_PER_BLOCK: usize = 8;
const COUNTERS_PER_BLOCK: usize = WORDS_PER_BLOCK * 16;

#[derive(Debug, Clone, Default)]
pub struct Sketch {
    /// Blocks of eight words; empty until sized.
    words: Vec<u64>,
    /// log2 of the number of blocks.
    block_bits: u32,
    additions: usize,
    /// How many times the counters were halved (mod 16): an estimate remembered elsewhere
    /// with the epoch it was read in can be aged to match (see [`Sketch::cached`]).
    epoch: u8,
}

impl Sketch {
    fn with_counters(counters: usize) -> Sketch {
        let blocks = counters
            .div_ceil(COUNTERS_PER_BLOCK)
            .next_power_of_two()
            .max(1);
        Sketch {
            words: vec![0; blocks * WORDS_PER_BLOCK],
            block_bits: blocks.trailing_zeros(),
            additions: 0,
            epoch: 0,
        }
    }

    fn blocks(&self) -> usize {
        self.words.len() / WORDS_PER_BLOCK
    }

    fn counters(&self) -> usize {
        self.words.len() * 16
    }

    /// Grows the sketch when the cache holds more keys than it is sized for, keeping
    /// what it has counted: a key's block is the top bits of its hash and its place in the
    /// block comes from other bits, so every old block hands its counters to each of the
    /// blocks it splits into and every estimate stays what it was.
    pub fn ensure_capacity(&mut self, keys: usize) {
        let want = keys.max(16) * COUNTERS_PER_KEY;
        if want <= self.counters() {
            return;
        }
        let mut grown = Sketch::with_counters(want);
        if let Some(factor) = grown.blocks().checked_div(self.blocks()) {
            for (j, block) in grown.words.chunks_mut(WORDS_PER_BLOCK).enumerate() {
                let from = (j / factor) * WORDS_PER_BLOCK;
                block.copy_from_slice(&self.words[from..from + WORDS_PER_BLOCK]);
            }
            grown.additions = self.additions;
            grown.epoch = self.epoch;
        }
        *self = grown;
    }

    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// The word and bit shift of the key's counter in each of the four word pairs.
    fn slots(&self, hash: u64) -> [(usize, u32); 4] {
        let h = (hash ^ (hash >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let block = if self.block_bits == 0 {
            0
        } else {
            (h >> (64 - self.block_bits)) as usize
        };
        let base = block * WORDS_PER_BLOCK;
        // Five bits per pair: which of its two words, and which of the word's 16 counters.
        std::array::from_fn(|pair| {
            let bits = (hash >> (pair * 5)) as usize & 0x1F;
            (base + pair * 2 + (bits >> 4), ((bits & 0xF) * 4) as u32)
        })
    }

    /// Counts one access to the key with this hash. Returns the key's estimate after it,
    /// packed with the epoch as [`Sketch::cached`] reads it back.
    pub fn increment(&mut self, hash: u64) -> u8 {
        if self.words.is_empty() {
            return 0;
        }
        let mut estimate = 15u8;
        for (w, shift) in self.slots(hash) {
            let c = ((self.words[w] >> shift) & 0xF) as u8;
            if c < 15 {
                self.words[w] += 1 << shift;
            }
            estimate = estimate.min((c + 1).min(15));
        }
        self.additions += 1;
        // Ten samples per key held, as TinyLFU's paper and Caffeine reset.
        if self.additions >= 10 * self.counters() / COUNTERS_PER_KEY {
            self.age();
            estimate /= 2;
        }
        (self.epoch << 4) | estimate
    }

    /// An estimate packed by [`Sketch::increment`], halved once for every ageing since: what
    /// `estimate` would say now if the key has not been seen since, without reading the
    /// counters (eviction scores several sampled keys for every write; each entry keeps its
    /// packed estimate in its header).
    pub fn cached(&self, packed: u8) -> u8 {
        let missed = self.epoch.wrapping_sub(packed >> 4) & 0xF;
        if missed >= 4 {
            0
        } else {
            (packed & 0xF) >> missed
        }
    }

    /// Counts `n` accesses at once (seeding from what entries already know).
    pub fn add(&mut self, hash: u64, n: u8) {
        if self.words.is_empty() {
            return;
        }
        for (w, shift) in self.slots(hash) {
            let c = ((self.words[w] >> shift) & 0xF) as u8;
            let new = c.saturating_add(n).min(15) as u64;
            self.words[w] = (self.words[w] & !(0xF << shift)) | (new << shift);
        }
        self.additions += n as usize;
    }

    /// [`Sketch::estimate`] packed with the epoch, as [`Sketch::increment`] returns it.
    pub fn packed_estimate(&self, hash: u64) -> u8 {
        (self.epoch << 4) | self.estimate(hash)
    }

    /// Estimated accesses of the key with this hash, 0 to 15.
    pub fn estimate(&self, hash: u64) -> u8 {
        if self.words.is_empty() {
            return 0;
        }
        self.slots(hash)
            .into_iter()
            .map(|(w, shift)| ((self.words[w] >> shift) & 0xF) as u8)
            .min()
            .unwrap_or(0)
    }

    /// Halves every counter.
    fn age(&mut self) {
        for w in &mut self.words {
            *w = (*w >> 1) & 0x7777_7777_7777_7777;
        }
        self.additions /= 2;
        self.epoch = (self.epoch + 1) & 0xF;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u64) -> u64 {
        i.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (i << 40)
    }

    #[test]
    fn frequent_keys_estimate_higher_and_counts_age() {
        let mut s = Sketch::default();
        s.ensure_capacity(256);
        for _ in 0..12 {
            s.increment(h(1));
        }
        s.increment(h(2));
        assert_eq!(s.estimate(h(1)), 12);
        assert!(s.estimate(h(2)) >= 1);
        assert!(s.estimate(h(2)) < 12);
        // Enough other traffic to trigger ageing halves the hot key's count.
        for i in 0..10 * 256u64 {
            s.increment(h(1000 + i));
        }
        assert!(s.estimate(h(1)) <= 7, "{}", s.estimate(h(1)));
    }

    #[test]
    fn growing_keeps_every_estimate() {
        let mut s = Sketch::default();
        s.ensure_capacity(16);
        for i in 0..200u64 {
            for _ in 0..(i % 7) {
                s.increment(h(i));
            }
        }
        let before: Vec<u8> = (0..200).map(|i| s.estimate(h(i))).collect();
        s.ensure_capacity(5000);
        assert!(s.counters() >= 5000 * COUNTERS_PER_KEY);
        let after: Vec<u8> = (0..200).map(|i| s.estimate(h(i))).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn counters_saturate_at_15() {
        let mut s = Sketch::default();
        s.ensure_capacity(16);
        for _ in 0..100 {
            s.increment(42);
        }
        assert_eq!(s.estimate(42), 15);
    }

    #[test]
    fn an_empty_sketch_counts_nothing() {
        let mut s = Sketch::default();
        s.increment(7);
        assert_eq!(s.estimate(7), 0);
        assert_eq!(s.bytes(), 0);
    }
}
