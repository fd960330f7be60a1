//! The per-key rate limit on lease tokens for missing keys (RESP `LEASE GET`): at most one
//! token per key per `lease-timeout` seconds, as the NSDI'13 memcache paper issues them
//! (one per key per 10 s), so a hot key that keeps being deleted sends one client to the
//! database per period, not one per delete.
//!
//! While a placeholder lives the entry itself says "token already sent"; this table covers
//! the case where the placeholder was deleted early. It holds only keys that received a
//! token within the last period, and drops the older ones whenever it doubles.

use std::collections::HashMap;

use parking_lot::Mutex;

#[derive(Default)]
pub struct LeaseLimiter {
    inner: Mutex<Issued>,
}

#[derive(Default)]
struct Issued {
    /// (database, key) → when its last token was issued, Unix ms.
    at: HashMap<(usize, Box<[u8]>), u64>,
    /// Size after the last pruning; the next one happens at twice this.
    pruned_at: usize,
}

impl LeaseLimiter {
    /// Whether `key` of `db` may get a token at `now_ms`; if so, records that it did.
    pub fn take(&self, db: usize, key: &[u8], now_ms: u64, period_ms: u64) -> bool {
        let mut issued = self.inner.lock();
        let fresh = |t: u64| now_ms < t.saturating_add(period_ms);
        if let Some(&t) = issued.at.get(&(db, key.into()))
            && fresh(t)
        {
            return false;
        }
        if issued.at.len() >= (2 * issued.pruned_at).max(1024) {
            issued.at.retain(|_, t| fresh(*t));
            issued.pruned_at = issued.at.len();
        }
        issued.at.insert((db, key.into()), now_ms);
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().at.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_token_per_key_per_period() {
        let l = LeaseLimiter::default();
        assert!(l.take(0, b"k", 1_000, 10_000));
        assert!(!l.take(0, b"k", 5_000, 10_000));
        assert!(l.take(0, b"other", 5_000, 10_000));
        assert!(l.take(1, b"k", 5_000, 10_000), "databases are apart");
        assert!(l.take(0, b"k", 11_000, 10_000));
    }

    #[test]
    fn old_entries_are_pruned() {
        let l = LeaseLimiter::default();
        for i in 0..5000u32 {
            l.take(0, &i.to_le_bytes(), i as u64 * 100, 1_000);
        }
        assert!(l.len() < 2100, "kept {}", l.len());
    }
}
