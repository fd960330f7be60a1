//! Always-on hot-key detection: a sampled top-K of the most-accessed keys.
//!
//! One keyed command in [`SAMPLE_EVERY`] is fed to its worker thread's Space-Saving
//! summary (Metwally et al. 2005): at most [`CAPACITY`] counters; a key not yet counted
//! takes over the smallest counter and inherits its count as an error bound. Any key
//! with more than 1/CAPACITY of the sampled accesses is guaranteed to be present, which
//! is exactly what "hot key" means. The cost on the request path is a thread-local
//! countdown; the summary's lock is taken once per sample and is only ever contended by
//! HOTKEYS / INFO. The cron halves every count each [`DECAY_SECS`] seconds, so the list
//! follows what is hot now, not what was hot an hour ago.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// One keyed command in this many is sampled.
pub const SAMPLE_EVERY: u32 = 16;
/// Counters per worker thread (about 10 KB with 32-byte keys).
pub const CAPACITY: usize = 128;
/// Counts halve this often.
pub const DECAY_SECS: u64 = 10;
/// Keys longer than this are counted under their first bytes, so a client sending huge
/// keys cannot make the summary large.
const MAX_KEY: usize = 256;

#[derive(Default)]
struct TopK {
    /// (key, count, error)
    slots: Vec<(Box<[u8]>, u64, u64)>,
    index: HashMap<Box<[u8]>, usize>,
}

impl TopK {
    fn record(&mut self, key: &[u8]) {
        let key = &key[..key.len().min(MAX_KEY)];
        if let Some(&i) = self.index.get(key) {
            self.slots[i].1 += 1;
            return;
        }
        if self.slots.len() < CAPACITY {
            self.index.insert(key.into(), self.slots.len());
            self.slots.push((key.into(), 1, 0));
            return;
        }
        let (i, min) = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.1))
            .min_by_key(|&(_, c)| c)
            .expect("full summary");
        let old = std::mem::replace(&mut self.slots[i], (key.into(), min + 1, min));
        self.index.remove(&old.0);
        self.index.insert(key.into(), i);
    }

    fn decay(&mut self) {
        for s in &mut self.slots {
            s.1 /= 2;
            s.2 /= 2;
        }
        // Counters that fell to zero free their place.
        self.slots.retain(|s| s.1 > 0);
        self.index = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.0.clone(), i))
            .collect();
    }
}

/// A hot key as HOTKEYS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotKey {
    pub key: Vec<u8>,
    /// Estimated accesses in the current window (sampled count × SAMPLE_EVERY).
    pub accesses: u64,
    /// How much of that estimate may be inherited from keys it displaced.
    pub error: u64,
}

#[derive(Default)]
pub struct HotKeys {
    workers: Mutex<Vec<Arc<Mutex<TopK>>>>,
    sampled: std::sync::atomic::AtomicU64,
}

thread_local! {
    static COUNTDOWN: Cell<u32> = const { Cell::new(SAMPLE_EVERY) };
    static MINE: RefCell<Option<Arc<Mutex<TopK>>>> = const { RefCell::new(None) };
}

impl HotKeys {
    /// Called for every command with a key; records one in [`SAMPLE_EVERY`].
    #[inline]
    pub fn observe(&self, key: &[u8]) {
        let due = COUNTDOWN.with(|c| {
            let left = c.get() - 1;
            if left == 0 {
                // A little jitter keeps the sample from locking onto a pipeline's rhythm.
                c.set(SAMPLE_EVERY / 2 + fastrand::u32(..SAMPLE_EVERY));
                true
            } else {
                c.set(left);
                false
            }
        });
        if due {
            self.record(key);
        }
    }

    fn record(&self, key: &[u8]) {
        self.sampled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        MINE.with(|m| {
            let mut m = m.borrow_mut();
            let mine = m.get_or_insert_with(|| {
                let t = Arc::new(Mutex::new(TopK::default()));
                self.workers.lock().push(t.clone());
                t
            });
            mine.lock().record(key);
        });
    }

    /// Halves every count (the cron, every [`DECAY_SECS`]).
    pub fn decay(&self) {
        for w in self.workers.lock().iter() {
            w.lock().decay();
        }
    }

    /// Accesses sampled since the start.
    pub fn sampled(&self) -> u64 {
        self.sampled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The `count` hottest keys, merged over every worker, hottest first.
    pub fn top(&self, count: usize) -> Vec<HotKey> {
        let mut merged: HashMap<Box<[u8]>, (u64, u64)> = HashMap::new();
        for w in self.workers.lock().iter() {
            for (k, c, e) in &w.lock().slots {
                let m = merged.entry(k.clone()).or_default();
                m.0 += c;
                m.1 += e;
            }
        }
        let mut all: Vec<HotKey> = merged
            .into_iter()
            .map(|(k, (c, e))| HotKey {
                key: k.into_vec(),
                accesses: c * SAMPLE_EVERY as u64,
                error: e * SAMPLE_EVERY as u64,
            })
            .collect();
        all.sort_by(|a, b| b.accesses.cmp(&a.accesses).then_with(|| a.key.cmp(&b.key)));
        all.truncate(count);
        all
    }

    /// Forgets everything (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for w in self.workers.lock().iter() {
            *w.lock() = TopK::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_hitters_surface_among_many_cold_keys() {
        let hk = HotKeys::default();
        for i in 0..200_000u32 {
            // Three hot keys take 30% of the traffic; the rest is spread over 50k keys.
            let key = match i % 10 {
                0 => b"hot:a".to_vec(),
                1 => b"hot:b".to_vec(),
                2 => b"hot:c".to_vec(),
                _ => format!("cold:{}", fastrand::u32(..50_000)).into_bytes(),
            };
            hk.observe(&key);
        }
        let top = hk.top(3);
        let mut keys: Vec<&[u8]> = top.iter().map(|h| &h.key[..]).collect();
        keys.sort();
        assert_eq!(keys, [&b"hot:a"[..], b"hot:b", b"hot:c"], "{top:?}");
        // Each had 20,000 accesses; the sampled estimate is within 25%.
        for h in &top {
            assert!((15_000..25_000).contains(&h.accesses), "{h:?}");
        }
        hk.decay();
        assert!(hk.top(1)[0].accesses < 15_000);
        hk.reset();
        assert!(hk.top(10).is_empty());
    }
}
