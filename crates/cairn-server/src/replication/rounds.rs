//! Replicas waiting for a full sync, and whether a round of one shared snapshot is
//! being produced for them (`super::primary` produces it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use super::backlog::Pin;
use crate::persist::stream::Origin;

/// A snapshot chunk, or how the snapshot ended.
pub(super) enum Chunk {
    Data(Bytes),
    Done,
    Failed(String),
}

/// What a round tells each of its replicas at the cut.
pub(super) struct Cut {
    pub(super) origin: Origin,
    pub(super) pin: Pin,
}

pub(super) struct Joiner {
    pub(super) cut: oneshot::Sender<Cut>,
    pub(super) chunks: mpsc::Sender<Chunk>,
    pub(super) since: Instant,
}

/// Replicas waiting for a full sync, and whether a round is being produced.
#[derive(Default)]
pub struct Rounds {
    pub(super) waiting: Mutex<Vec<Joiner>>,
    /// A task is counting down or a thread is producing a snapshot.
    pub(super) busy: AtomicBool,
    pub(super) delay_s: AtomicU64,
    pub(super) max_replicas: AtomicU64,
    pub(super) backlog_size: AtomicU64,
    /// DEBUG SYNC-CHUNK-DELAY: a slow network, for tests that act mid-sync.
    pub chunk_delay_ms: AtomicU64,
}

impl Rounds {
    pub(crate) fn settings(&self, c: &crate::config::Config) {
        self.delay_s.store(c.repl_diskless_sync_delay, Relaxed);
        self.max_replicas
            .store(c.repl_diskless_sync_max_replicas, Relaxed);
        self.backlog_size.store(c.repl_backlog_size, Relaxed);
    }

    /// Queues a replica for the next snapshot.
    /// Returns the replica's receivers, and whether a round must be started for it (none
    /// is counting down or producing).
    pub(super) fn join(&self) -> (oneshot::Receiver<Cut>, mpsc::Receiver<Chunk>, bool) {
        let (cut_tx, cut_rx) = oneshot::channel();
        // A few blocks in flight per replica: the snapshot goes at the slowest
        // replica's pace and never piles up in memory.
        let (tx, rx) = mpsc::channel(8);
        self.waiting.lock().push(Joiner {
            cut: cut_tx,
            chunks: tx,
            since: Instant::now(),
        });
        let start = !self.busy.swap(true, Relaxed);
        (cut_rx, rx, start)
    }
}
