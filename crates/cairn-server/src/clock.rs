//! Wall-clock time for commands without a system call per command.
//!
//! Expiry needs Unix milliseconds; latency needs a monotonic `Instant`. Reading both costs
//! two clock reads, and at one request per round trip those reads are a visible share of
//! the server's own CPU time. So the connection reads `Instant::now()` once per batch and
//! derives the wall clock from it with an offset the cron re-reads every tick: a wall-clock
//! step (NTP) is followed within one tick.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use cairn_store::db::Now;

pub struct Clock {
    base: Instant,
    /// Unix milliseconds at `base`, as last measured.
    offset_ms: AtomicI64,
}

impl Default for Clock {
    fn default() -> Self {
        let c = Clock {
            base: Instant::now(),
            offset_ms: AtomicI64::new(0),
        };
        c.resync();
        c
    }
}

impl Clock {
    /// Re-reads the wall clock (the cron calls this every tick).
    pub fn resync(&self) {
        let at = Instant::now();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let since_base = at.duration_since(self.base).as_millis() as i64;
        self.offset_ms.store(wall - since_base, Ordering::Relaxed);
    }

    /// The wall-clock time at `at`.
    pub fn at(&self, at: Instant) -> Now {
        let since_base = at.saturating_duration_since(self.base).as_millis() as i64;
        Now::from_unix_ms((self.offset_ms.load(Ordering::Relaxed) + since_base).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_the_system_clock() {
        let c = Clock::default();
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let ours = c.at(Instant::now()).ms as i64;
        assert!((ours - sys).abs() < 50, "{ours} vs {sys}");
    }
}
