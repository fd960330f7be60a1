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
    /// Percent of the base period (10 increments per key) between halvings; set by
    /// [`Tuner`]. 0 reads as 100.
    period_percent: u16,
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
            period_percent: 0,
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
            grown.period_percent = self.period_percent;
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
        let slots = self.slots(hash);
        let counts = slots.map(|(w, shift)| ((self.words[w] >> shift) & 0xF) as u8);
        let min = counts.into_iter().min().unwrap_or(0);
        let mut estimate = min;
        if min < 15 {
            for ((w, shift), c) in slots.into_iter().zip(counts) {
                if c == min {
                    self.words[w] += 1 << shift;
                }
            }
            estimate += 1;
        }
        self.additions += 1;
        if self.additions >= self.period() {
            self.age();
            estimate /= 2;
        }
        (self.epoch << 4) | estimate
    }

    /// Increments between halvings: ten per key held (TinyLFU's paper and Caffeine), times
    /// what the tuner says.
    fn period(&self) -> usize {
        let percent = match self.period_percent {
            0 => 100,
            p => p as usize,
        };
        10 * (self.counters() / COUNTERS_PER_KEY) * percent / 100
    }

    /// Sets how long the sketch remembers, in percent of the base period (see [`Tuner`]).
    pub fn set_period_percent(&mut self, percent: u16) {
        self.period_percent = percent;
    }

    /// Halves every counter `times` times now: popularity moved, and what the sketch
    /// remembers describes a workload that is gone.
    pub fn forget(&mut self, times: u32) {
        if self.words.is_empty() {
            return;
        }
        for _ in 0..times {
            self.age();
        }
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

/// Tunes how long the sketches remember, from the keyspace's hit ratio (no memory per key).
///
/// A fixed period is a bet on how fast popularity moves: remember long and a stable
/// workload's estimates sharpen, but keys that were popular an hour ago keep out the ones
/// popular now. The tuner compares the hit ratio of successive windows of requests (two
/// per key held). While it holds, the period grows by half, up to [`Tuner::MAX_PERCENT`]
/// of the base; when it falls by more than [`Tuner::DROP`], popularity moved: every
/// sketch is halved [`Tuner::HALVINGS`] times at once and the period goes back to the base.
/// `bench/policy-sim.py --sketch-adapt 2 --sketch-adapt-halvings 3` is this rule; on the
/// issue-3 trace it gained 1.5 points on a static workload and lost none when popularity
/// drifted (docs/eviction.md).
#[derive(Debug, Default)]
pub struct Tuner {
    /// Read requests (hits, misses) counted when the window opened.
    start: Option<(u64, u64)>,
    /// The previous window's hit ratio.
    previous: Option<f64>,
    percent: u16,
}

/// What the sketches should do at the end of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// The period between halvings, in percent of the base.
    pub period_percent: u16,
    /// Halvings to apply now.
    pub halvings: u32,
}

impl Tuner {
    /// Windows last this many read requests per key held.
    pub const WINDOW_PER_KEY: u64 = 2;
    /// A hit-ratio fall (absolute) that means popularity moved.
    pub const DROP: f64 = 0.02;
    pub const HALVINGS: u32 = 3;
    pub const MAX_PERCENT: u16 = 400;

    /// Feeds the keyspace's read counters so far and the keys held; returns a tuning when a
    /// window closes.
    pub fn observe(&mut self, hits: u64, misses: u64, keys: usize) -> Option<Tuning> {
        let (h0, m0) = *self.start.get_or_insert((hits, misses));
        if hits < h0 || misses < m0 {
            // The counters were reset (CONFIG RESETSTAT): start the window again.
            self.start = Some((hits, misses));
            return None;
        }
        let (h, m) = (hits - h0, misses - m0);
        if h + m < Self::WINDOW_PER_KEY * (keys as u64).max(1000) {
            return None;
        }
        self.start = Some((hits, misses));
        let ratio = h as f64 / (h + m) as f64;
        let percent = self.percent.max(100);
        let dropped = self.previous.is_some_and(|p| ratio < p - Self::DROP);
        self.previous = Some(ratio);
        let tuning = if dropped {
            Tuning {
                period_percent: 100,
                halvings: Self::HALVINGS,
            }
        } else {
            Tuning {
                period_percent: (percent + percent / 2).min(Self::MAX_PERCENT),
                halvings: 0,
            }
        };
        self.percent = tuning.period_percent;
        Some(tuning)
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
    fn conservative_increments_leave_counters_above_the_minimum() {
        let mut s = Sketch::default();
        s.ensure_capacity(16);
        let slots = s.slots(h(3));
        // A busier key shares one counter with h(3): raise that counter alone.
        let (w, shift) = slots[0];
        s.words[w] += 5 << shift;
        assert_eq!(s.estimate(h(3)), 0);
        s.increment(h(3));
        assert_eq!(s.estimate(h(3)), 1);
        // The shared counter did not move; the three at the minimum did.
        assert_eq!((s.words[w] >> shift) & 0xF, 5);
    }

    #[test]
    fn a_longer_period_halves_later() {
        let count_until_halved = |percent: u16| {
            let mut s = Sketch::default();
            s.ensure_capacity(64);
            s.set_period_percent(percent);
            let epoch = s.epoch;
            let mut n = 0u64;
            while s.epoch == epoch {
                s.increment(h(n));
                n += 1;
            }
            n
        };
        assert_eq!(count_until_halved(0), count_until_halved(100));
        assert_eq!(count_until_halved(300), 3 * count_until_halved(100));
    }

    #[test]
    fn the_tuner_lengthens_memory_while_the_hit_ratio_holds_and_forgets_when_it_drops() {
        let mut t = Tuner::default();
        let keys = 1000;
        let window = Tuner::WINDOW_PER_KEY * keys as u64;
        let (mut hits, mut misses) = (0, 0);
        let mut step = |t: &mut Tuner, ratio: f64| {
            // Half a window first: nothing to say yet.
            let h = (window as f64 * ratio) as u64;
            hits += h / 2;
            misses += (window - h) / 2;
            assert_eq!(t.observe(hits, misses, keys), None);
            hits += h - h / 2;
            misses += window - h - (window - h) / 2;
            t.observe(hits, misses, keys).expect("the window closed")
        };
        assert_eq!(t.observe(0, 0, keys), None);
        let first = step(&mut t, 0.5);
        assert_eq!((first.period_percent, first.halvings), (150, 0));
        assert_eq!(step(&mut t, 0.5).period_percent, 225);
        assert_eq!(step(&mut t, 0.51).period_percent, 337);
        assert_eq!(step(&mut t, 0.50).period_percent, Tuner::MAX_PERCENT);
        assert_eq!(step(&mut t, 0.49).period_percent, Tuner::MAX_PERCENT);
        let drop = step(&mut t, 0.40);
        assert_eq!((drop.period_percent, drop.halvings), (100, Tuner::HALVINGS));
        assert_eq!(step(&mut t, 0.40).period_percent, 150);
        // Counters reset under it: the window starts again.
        assert_eq!(t.observe(0, 0, keys), None);
    }

    #[test]
    fn an_empty_sketch_counts_nothing() {
        let mut s = Sketch::default();
        s.increment(7);
        assert_eq!(s.estimate(7), 0);
        assert_eq!(s.bytes(), 0);
    }
}
