//! What the process holds in memory, as INFO memory reports it.
//!
//! `used_memory` is what the allocator (jemalloc) has handed out; `used_memory_rss` is
//! what the kernel charges the process. Reading jemalloc's statistics needs an epoch
//! bump, so the cron refreshes them and requests read the cached figures.

use tikv_jemalloc_ctl::{epoch, stats};

/// A reading of the allocator and the kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryReading {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
    pub rss: u64,
}

pub fn read() -> MemoryReading {
    let _ = epoch::advance();
    MemoryReading {
        allocated: stats::allocated::read().unwrap_or(0) as u64,
        active: stats::active::read().unwrap_or(0) as u64,
        resident: stats::resident::read().unwrap_or(0) as u64,
        rss: rss_bytes(),
    }
}

/// Bytes the allocator has handed out: all the cron needs for maxmemory, without the
/// /proc read that [`read`] does for INFO.
pub fn allocated() -> u64 {
    let _ = epoch::advance();
    stats::allocated::read().unwrap_or(0) as u64
}

/// Resident set size from /proc (0 where there is no /proc).
pub fn rss_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Formats a byte count as Redis's `bytesToHuman` does (`1.50M`).
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    const K: f64 = 1024.0;
    if b < K {
        format!("{bytes}B")
    } else if b < K * K {
        format!("{:.2}K", b / K)
    } else if b < K * K * K {
        format!("{:.2}M", b / (K * K))
    } else if b < K * K * K * K {
        format!("{:.2}G", b / (K * K * K))
    } else {
        format!("{:.2}T", b / (K * K * K * K))
    }
}
