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

/// More of the allocator's figures, for MEMORY STATS and MALLOC-STATS.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllocatorDetail {
    pub mapped: u64,
    pub retained: u64,
    pub metadata: u64,
}

pub fn detail() -> AllocatorDetail {
    let _ = epoch::advance();
    AllocatorDetail {
        mapped: stats::mapped::read().unwrap_or(0) as u64,
        retained: stats::retained::read().unwrap_or(0) as u64,
        metadata: stats::metadata::read().unwrap_or(0) as u64,
    }
}

/// jemalloc's own report (MEMORY MALLOC-STATS).
pub fn malloc_stats() -> String {
    let mut out = Vec::new();
    let mut opts = tikv_jemalloc_ctl::stats_print::Options::default();
    opts.skip_per_arena = true;
    opts.skip_bin_size_classes = true;
    if tikv_jemalloc_ctl::stats_print::stats_print(&mut out, opts).is_err() {
        return "Stats not supported for the current allocator".into();
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Returns dirty pages of every arena to the kernel (MEMORY PURGE).
pub fn purge() -> bool {
    // "arena.<MALLCTL_ARENAS_ALL>.purge" takes neither an old nor a new value, which the
    // typed wrappers of tikv-jemalloc-ctl cannot express, so it is called directly.
    let name = b"arena.4096.purge\0";
    // SAFETY: a NUL-terminated control name, with null old/new pointers and lengths as
    // jemalloc's void controls require.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr() as *const _,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    rc == 0
}
