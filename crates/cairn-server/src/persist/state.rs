//! What the rest of the server sees of persistence: the write stream, whether the AOF is
//! on and how it syncs, the file set being appended to, counters for INFO, and the
//! MISCONF error that write commands get while the disk refuses writes. The work that
//! changes it is in the sibling modules; nothing here reaches the server.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

use super::aof::{Layout, Manifest};
use super::stream::{Position, Stream};

/// Redis's words for a write refused because the last snapshot failed.
pub(super) const RDB_MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Seconds before a failed background save or AOF rewrite is tried again by itself
/// (Redis's CONFIG_BGSAVE_RETRY_DELAY).
pub(super) const RETRY_SECS: u64 = 5;

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Fsync {
    No = 0,
    EverySec = 1,
    Always = 2,
}

impl Fsync {
    pub fn parse(s: &str) -> Fsync {
        match s {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

pub(super) fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A request to the writer thread: finish the current increment and continue in `file`;
/// answers with the stream's position where the switch happened.
pub(super) struct Switch {
    pub(super) file: File,
    pub(super) done: std::sync::mpsc::Sender<Position>,
}

/// The append-only file set being written.
#[derive(Clone)]
pub(super) struct FileSet {
    pub(super) layout: Layout,
    pub(super) manifest: Manifest,
    /// Whether `manifest` is the one on disk. A new AOF (started at start-up or at run
    /// time, or again after a replica's full sync) has none until its first base is
    /// written: a manifest naming its increments without that base would load as a set
    /// missing everything from before them.
    pub(super) published: bool,
}

#[derive(Default)]
pub struct Persistence {
    pub stream: Arc<Stream>,
    /// The AOF is on: the stream buffers effects and the writer drains them.
    pub aof_on: AtomicBool,
    pub(super) fsync: AtomicU8,
    /// The last write or fsync of the AOF failed: write commands get MISCONF until one
    /// succeeds again.
    pub(super) aof_error: Mutex<Option<String>>,
    pub(super) aof_failing: AtomicBool,
    /// `stop-writes-on-bgsave-error yes` with `save` points set: a failed save turns
    /// writes into MISCONF (read on every write, so kept here rather than in the config).
    pub(super) stop_writes_on_save_error: AtomicBool,
    pub(super) stop_writer: AtomicBool,
    pub(super) writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(super) switch: Mutex<Option<Switch>>,
    /// The file set being appended to.
    pub(super) files: Mutex<Option<FileSet>>,
    /// Bytes in the AOF parts now, and in the base after the last rewrite.
    pub aof_size: AtomicU64,
    pub aof_base_size: AtomicU64,
    pub rewrite_running: AtomicBool,
    pub rewrites: AtomicU64,
    pub(super) last_rewrite_ok: AtomicBool,
    pub(super) last_rewrite_secs: AtomicI64,
    /// Unix seconds the last rewrite started.
    pub(super) last_rewrite_try: AtomicU64,
    /// Rewrites failed since the last one that succeeded.
    pub(super) rewrite_failures: AtomicU64,
    pub loading: AtomicBool,
    pub bgsave_running: AtomicBool,
    pub saves: AtomicU64,
    /// Unix seconds of the last successful save (LASTSAVE).
    pub last_save: AtomicU64,
    pub(super) last_bgsave_ok: AtomicBool,
    pub(super) last_bgsave_secs: AtomicI64,
    pub(super) last_bgsave_try: AtomicU64,
    pub loaded_keys: AtomicU64,
    /// SHUTDOWN SAVE / NOSAVE.
    pub(super) shutdown_save: Mutex<Option<bool>>,
    /// DEBUG AOF-WRITE-DELAY: a slow disk, for tests.
    pub write_delay_ms: AtomicU64,
}

impl Persistence {
    pub fn new() -> Persistence {
        let p = Persistence::default();
        p.last_rewrite_ok.store(true, Relaxed);
        p.last_bgsave_ok.store(true, Relaxed);
        p.last_rewrite_secs.store(-1, Relaxed);
        p.last_bgsave_secs.store(-1, Relaxed);
        p.last_save.store(unix_secs(), Relaxed);
        p
    }

    pub fn set_shutdown_save(&self, save: Option<bool>) {
        *self.shutdown_save.lock() = save;
    }

    pub fn shutdown_save(&self) -> Option<bool> {
        *self.shutdown_save.lock()
    }

    /// Whether a connection must wait for its writes to reach the disk before it answers
    /// (`appendfsync always`).
    pub fn must_wait(&self) -> bool {
        self.aof_on.load(Relaxed) && self.fsync.load(Relaxed) == Fsync::Always as u8
    }

    /// The MISCONF error write commands get, if the disk is refusing writes: the last
    /// save failed (with save points and `stop-writes-on-bgsave-error yes`, judged now, so
    /// turning either off lifts it at once), or the AOF cannot be written. Redis's order
    /// and words.
    pub fn misconf(&self) -> Option<String> {
        if !self.last_bgsave_ok.load(Relaxed) && self.stop_writes_on_save_error.load(Relaxed) {
            return Some(RDB_MISCONF.into());
        }
        if self.aof_failing.load(Relaxed) {
            let why = self.aof_error.lock().clone().unwrap_or_default();
            return Some(format!("MISCONF Errors writing to the AOF file: {why}"));
        }
        None
    }

    /// Copies the settings [`Persistence::misconf`] and the writer read.
    pub(super) fn apply_settings(&self, cfg: &crate::config::Config) {
        self.fsync
            .store(Fsync::parse(&cfg.appendfsync) as u8, Relaxed);
        self.stream
            .set_urgent(Fsync::parse(&cfg.appendfsync) == Fsync::Always);
        self.stop_writes_on_save_error.store(
            cfg.stop_writes_on_bgsave_error && !cfg.save.trim().is_empty(),
            Relaxed,
        );
    }

    pub(super) fn fail(&self, e: &std::io::Error) {
        let first = !self.aof_failing.swap(true, Relaxed);
        // strerror's words, as Redis prints them ("No space left on device").
        let text = e.to_string();
        let text = text.split(" (os error").next().unwrap_or(&text).to_string();
        *self.aof_error.lock() = Some(text);
        if first {
            tracing::warn!(
                "writing the append-only file failed: {e}; write commands are refused with MISCONF until it succeeds"
            );
        }
    }

    pub(super) fn recovered(&self) {
        if self.aof_failing.swap(false, Relaxed) {
            *self.aof_error.lock() = None;
            tracing::warn!(
                "the append-only file is being written again; write commands are accepted"
            );
        }
    }
}
