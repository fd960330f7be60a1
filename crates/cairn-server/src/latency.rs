//! The latency monitor (LATENCY): for each event, the worst latency of each of the last
//! 160 seconds it occurred in, and its all-time maximum, as Redis's `latency.c` keeps
//! them. The commands are in `crate::commands::latency`.
//!
//! Dispatch hands every command that ran to [`LatencyMonitor::observe`]: the `command`
//! event, or `fast-command` for a FAST command, sampled only when the command took at
//! least `latency-monitor-threshold` milliseconds (0: off). The common case costs a
//! relaxed load and a comparison.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
pub const TS_LEN: usize = 160;

/// One event's samples.
#[derive(Clone)]
pub struct Series {
    /// (Unix seconds, milliseconds); time 0: an unused slot.
    pub samples: [(i64, u32); TS_LEN],
    /// The slot the next sample goes to.
    pub idx: usize,
    pub max: u32,
}

impl Series {
    /// The used samples, oldest first.
    pub fn in_order(&self) -> impl Iterator<Item = (i64, u32)> + '_ {
        (0..TS_LEN)
            .map(move |j| self.samples[(self.idx + j) % TS_LEN])
            .filter(|s| s.0 != 0)
    }

    /// The latest sample.
    pub fn last(&self) -> (i64, u32) {
        self.samples[(self.idx + TS_LEN - 1) % TS_LEN]
    }
}

/// The events and the threshold (see the module doc).
pub struct LatencyMonitor {
    /// `latency-monitor-threshold`, milliseconds (0: off).
    threshold_ms: AtomicU64,
    /// Every event with samples, in the order they first occurred.
    events: Mutex<Vec<(String, Box<Series>)>>,
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl LatencyMonitor {
    pub fn new(threshold_ms: u64) -> LatencyMonitor {
        LatencyMonitor {
            threshold_ms: AtomicU64::new(threshold_ms),
            events: Mutex::new(Vec::new()),
        }
    }

    /// Applies `latency-monitor-threshold` (`Server::set_config`).
    pub fn set_threshold(&self, ms: u64) {
        self.threshold_ms.store(ms, Ordering::Relaxed);
    }

    pub fn threshold(&self) -> u64 {
        self.threshold_ms.load(Ordering::Relaxed)
    }

    /// Samples the `command` or (`fast`) `fast-command` event for a command that ran
    /// `usec` microseconds, if the monitor is on and the command reached its threshold.
    #[inline]
    pub fn observe(&self, fast: bool, usec: u64) {
        let event = if fast { "fast-command" } else { "command" };
        self.sample_if_needed(event, usec / 1000);
    }

    /// Samples `event` if the monitor is on and `ms` reached its threshold (Redis's
    /// `latencyAddSampleIfNeeded`), for other moments worth timing.
    #[inline]
    pub fn sample_if_needed(&self, event: &str, ms: u64) {
        let t = self.threshold_ms.load(Ordering::Relaxed);
        if t != 0 && ms >= t {
            self.add_sample(event, ms);
        }
    }

    /// Redis's `latencyAddSample`: one sample per second, the worst of that second.
    #[cold]
    #[inline(never)]
    fn add_sample(&self, event: &str, ms: u64) {
        let ms = u32::try_from(ms).unwrap_or(u32::MAX);
        let now = unix_now();
        let mut events = self.events.lock();
        let i = match events.iter().position(|(e, _)| e == event) {
            Some(i) => i,
            None => {
                events.push((
                    event.to_string(),
                    Box::new(Series {
                        samples: [(0, 0); TS_LEN],
                        idx: 0,
                        max: 0,
                    }),
                ));
                events.len() - 1
            }
        };
        let ts = &mut events[i].1;
        ts.max = ts.max.max(ms);
        let prev = (ts.idx + TS_LEN - 1) % TS_LEN;
        if ts.samples[prev].0 == now {
            ts.samples[prev].1 = ts.samples[prev].1.max(ms);
            return;
        }
        ts.samples[ts.idx] = (now, ms);
        ts.idx = (ts.idx + 1) % TS_LEN;
    }

    /// Every event with a copy of its samples, in the order they first occurred.
    pub fn events(&self) -> Vec<(String, Series)> {
        self.events
            .lock()
            .iter()
            .map(|(e, s)| (e.clone(), (**s).clone()))
            .collect()
    }

    /// One event's samples.
    pub fn find(&self, name: &[u8]) -> Option<(String, Series)> {
        self.events
            .lock()
            .iter()
            .find(|(e, _)| e.as_bytes() == name)
            .map(|(e, s)| (e.clone(), (**s).clone()))
    }

    /// LATENCY RESET: drops the named events (all when `names` is empty); how many went.
    pub fn reset<'n>(&self, mut names: impl Iterator<Item = &'n [u8]>) -> usize {
        let mut events = self.events.lock();
        let mut n = 0;
        let first = names.next();
        let Some(first) = first else {
            let n = events.len();
            events.clear();
            return n;
        };
        for name in std::iter::once(first).chain(names) {
            if let Some(i) = events.iter().position(|(e, _)| e.as_bytes() == name) {
                events.remove(i);
                n += 1;
            }
        }
        n
    }
}
