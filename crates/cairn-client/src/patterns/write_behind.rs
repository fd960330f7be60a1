//! Write-behind: a write updates the cache at once and reaches the source later, in
//! batches, from one background worker.
//!
//! Promises:
//! - **Ordered per key.** One worker applies batches in queue order; within a batch only the
//!   last write of each key is kept, and a write for a key is queued under that key's lock
//!   together with its cache update, so the cache and the source see one key's writes in
//!   the same order.
//! - **Bounded.** The queue holds `queue_capacity` writes; past that, [`WriteBehind::put`]
//!   waits (back-pressure) and [`WriteBehind::try_put`] refuses.
//! - **Never silently dropped.** A failed batch is retried with jittered backoff for as long
//!   as it takes; every failure is counted, logged and kept as [`WriteBehind::last_error`].
//!   [`WriteBehind::shutdown`] drains the queue, and if the source still fails when its
//!   deadline passes, hands the writes it could not apply back to the caller.
//! - **Reads see pending writes** (from this process) even if the cache lost them.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

use super::{ReadThrough, Source, Write};
use crate::client::CacheClient;
use crate::envelope::Envelope;
use crate::error::{Error, LoadError};
use crate::jitter::{Backoff, jitter_ttl};
use crate::load::LoadOptions;
use crate::metrics as m;

/// Key-lock stripes.
const STRIPES: usize = 64;

/// Sizing and pacing of write-behind.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WriteBehindOptions {
    /// Writes that may wait for the source before writers are held back.
    pub queue_capacity: usize,
    /// Most writes per batch.
    pub batch_size: usize,
    /// How long the worker gathers a batch after its first write.
    pub flush_every: Duration,
    /// Waits between retries of a failed batch.
    pub retry: Backoff,
}

impl Default for WriteBehindOptions {
    fn default() -> WriteBehindOptions {
        WriteBehindOptions {
            queue_capacity: 10_000,
            batch_size: 256,
            flush_every: Duration::from_millis(20),
            retry: Backoff::new(Duration::from_millis(20), Duration::from_secs(2)),
        }
    }
}

impl WriteBehindOptions {
    /// A queue of `capacity`, batches of up to `batch_size`.
    pub fn new(capacity: usize, batch_size: usize) -> WriteBehindOptions {
        WriteBehindOptions {
            queue_capacity: capacity.max(1),
            batch_size: batch_size.max(1),
            ..WriteBehindOptions::default()
        }
    }

    /// Gathers a batch for `every` after its first write.
    pub fn flush_every(mut self, every: Duration) -> WriteBehindOptions {
        self.flush_every = every;
        self
    }

    /// Retries failed batches with `retry`.
    pub fn retry(mut self, retry: Backoff) -> WriteBehindOptions {
        self.retry = retry;
        self
    }
}

/// Write-behind went wrong in a way the caller must handle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteBehindError {
    /// The queue is full (only from `try_put` / `try_delete`).
    #[error("the write-behind queue is full")]
    Full,
    /// Write-behind was shut down; the write was not accepted.
    #[error("write-behind is shut down")]
    Closed,
    /// Shutdown's deadline passed with the source still failing: these writes were not
    /// applied, in order. Nothing else was lost.
    #[error("{} writes could not be applied before the deadline (last error: {last_error})", .writes.len())]
    Unflushed {
        /// The writes, in queue order.
        writes: Vec<Write>,
        /// The source's last error.
        last_error: String,
    },
}

/// Counters of write-behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteBehindStats {
    /// Writes accepted.
    pub queued: u64,
    /// Writes applied to the source (after coalescing, so possibly fewer than queued).
    pub applied: u64,
    /// Batches that failed (each was retried).
    pub failed_batches: u64,
    /// Writes accepted and not yet applied.
    pub pending: u64,
}

struct Shared {
    /// The latest not-yet-applied write per key, with its sequence number.
    pending: Mutex<HashMap<Bytes, (u64, Option<Bytes>)>>,
    seq: AtomicU64,
    queued: AtomicU64,
    applied: AtomicU64,
    failed_batches: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Set by shutdown: when to stop retrying.
    deadline: Mutex<Option<Instant>>,
    unflushed: Mutex<Vec<Write>>,
    progress: Notify,
}

struct Op {
    seq: u64,
    write: Write,
}

/// Write-behind over `S`.
pub struct WriteBehind<S> {
    reads: ReadThrough<S>,
    tx: Mutex<Option<mpsc::Sender<Op>>>,
    shared: Arc<Shared>,
    locks: Box<[tokio::sync::Mutex<()>]>,
    worker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn stripe(key: &[u8]) -> usize {
    key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) as usize
        % STRIPES
}

impl<S: Source> WriteBehind<S> {
    /// Starts the worker. Reads go through `cache` to `source` with `load` options; writes
    /// are cached with the same TTL.
    pub fn new(
        cache: CacheClient,
        source: Arc<S>,
        load: LoadOptions,
        options: WriteBehindOptions,
    ) -> WriteBehind<S> {
        let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            failed_batches: AtomicU64::new(0),
            last_error: Mutex::new(None),
            deadline: Mutex::new(None),
            unflushed: Mutex::new(Vec::new()),
            progress: Notify::new(),
        });
        let worker = tokio::spawn(run_worker(source.clone(), shared.clone(), rx, options));
        WriteBehind {
            reads: ReadThrough::new(cache, source, load),
            tx: Mutex::new(Some(tx)),
            shared,
            locks: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            worker: Mutex::new(Some(worker)),
        }
    }

    /// The value of `key`: a pending write of ours first, then the cache, then the source.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>, LoadError> {
        let key = key.as_ref();
        if let Some((_, v)) = self.shared.pending.lock().get(key) {
            return Ok(v.clone());
        }
        self.reads.get(key).await
    }

    /// Writes `value` under `key`: the cache now, the source soon. Waits while the queue is
    /// full.
    pub async fn put(&self, key: impl AsRef<[u8]>, value: Bytes) -> Result<(), WriteBehindError> {
        let key = Bytes::copy_from_slice(key.as_ref());
        self.enqueue(Write::Put { key, value }, true).await
    }

    /// Deletes `key`: from the cache now, the source soon. Waits while the queue is full.
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<(), WriteBehindError> {
        let key = Bytes::copy_from_slice(key.as_ref());
        self.enqueue(Write::Delete { key }, true).await
    }

    /// [`put`](Self::put), but refuses with [`WriteBehindError::Full`] instead of waiting.
    pub async fn try_put(
        &self,
        key: impl AsRef<[u8]>,
        value: Bytes,
    ) -> Result<(), WriteBehindError> {
        let key = Bytes::copy_from_slice(key.as_ref());
        self.enqueue(Write::Put { key, value }, false).await
    }

    async fn enqueue(&self, write: Write, wait: bool) -> Result<(), WriteBehindError> {
        let tx = self.tx.lock().clone().ok_or(WriteBehindError::Closed)?;
        let key = write.key().clone();
        // One key's cache update and queue position are taken together, so the cache and
        // the source see its writes in one order.
        let _key_lock = self.locks[stripe(&key)].lock().await;
        let permit = if wait {
            tx.reserve().await.map_err(|_| WriteBehindError::Closed)?
        } else {
            tx.try_reserve().map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => WriteBehindError::Full,
                mpsc::error::TrySendError::Closed(_) => WriteBehindError::Closed,
            })?
        };
        if let Err(e) = self.update_cache(&write).await {
            // The source will still get the write; the cache may hold the old value until
            // this key's next successful write or its TTL.
            tracing::warn!(error = %e, "write-behind: cache update failed");
        }
        let seq = self.shared.seq.fetch_add(1, Ordering::SeqCst);
        let value = match &write {
            Write::Put { value, .. } => Some(value.clone()),
            Write::Delete { .. } => None,
        };
        self.shared.pending.lock().insert(key, (seq, value));
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!(m::WRITE_BEHIND_PENDING).increment(1.0);
        permit.send(Op { seq, write });
        Ok(())
    }

    async fn update_cache(&self, write: &Write) -> Result<(), Error> {
        let cache = self.reads.cache();
        match write {
            Write::Put { key, value } => {
                let o = self.reads.options();
                let fresh = jitter_ttl(o.ttl, o.ttl_jitter);
                let env = Envelope::value(value.clone(), fresh, Duration::ZERO).encode();
                cache.set(key, env, Some(fresh + o.stale_for)).await
            }
            Write::Delete { key } => cache.invalidate(key).await,
        }
    }

    /// Waits until every write accepted so far has reached the source.
    pub async fn flush(&self) {
        loop {
            let notified = self.shared.progress.notified();
            if self.shared.pending.lock().is_empty() {
                return;
            }
            notified.await;
        }
    }

    /// Stops accepting writes, applies everything queued, and stops the worker. If the
    /// source still fails `deadline` from now, returns the writes it could not apply.
    pub async fn shutdown(&self, deadline: Duration) -> Result<(), WriteBehindError> {
        *self.shared.deadline.lock() = Some(Instant::now() + deadline);
        self.tx.lock().take();
        let worker = self.worker.lock().take();
        if let Some(w) = worker {
            let _ = w.await;
        }
        let writes = std::mem::take(&mut *self.shared.unflushed.lock());
        if writes.is_empty() {
            Ok(())
        } else {
            Err(WriteBehindError::Unflushed {
                writes,
                last_error: self.last_error().unwrap_or_default(),
            })
        }
    }

    /// The source's last error, if a batch failed since the last success.
    pub fn last_error(&self) -> Option<String> {
        self.shared.last_error.lock().clone()
    }

    /// The counters so far.
    pub fn stats(&self) -> WriteBehindStats {
        WriteBehindStats {
            queued: self.shared.queued.load(Ordering::Relaxed),
            applied: self.shared.applied.load(Ordering::Relaxed),
            failed_batches: self.shared.failed_batches.load(Ordering::Relaxed),
            pending: self.shared.pending.lock().len() as u64,
        }
    }
}

impl<S> Drop for WriteBehind<S> {
    fn drop(&mut self) {
        // Without a shutdown the worker keeps draining the queue on its own (it holds the
        // receiver until the last sender, ours, is gone) and keeps retrying failures.
        self.tx.lock().take();
    }
}

/// Keeps the last write of each key, in the order of each key's first appearance.
fn coalesce(batch: Vec<Op>) -> Vec<Op> {
    let mut index: HashMap<Bytes, usize> = HashMap::new();
    let mut out: Vec<Op> = Vec::with_capacity(batch.len());
    for op in batch {
        match index.get(op.write.key()) {
            Some(&i) => out[i] = op,
            None => {
                index.insert(op.write.key().clone(), out.len());
                out.push(op);
            }
        }
    }
    out
}

async fn run_worker<S: Source>(
    source: Arc<S>,
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Op>,
    options: WriteBehindOptions,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let gather_until = tokio::time::Instant::now() + options.flush_every;
        while batch.len() < options.batch_size {
            match tokio::time::timeout_at(gather_until, rx.recv()).await {
                Ok(Some(op)) => batch.push(op),
                _ => break,
            }
        }
        let batch = coalesce(batch);
        let writes: Vec<Write> = batch.iter().map(|o| o.write.clone()).collect();
        let mut attempt = 0u32;
        loop {
            match source.apply_batch(&writes).await {
                Ok(()) => {
                    *shared.last_error.lock() = None;
                    break;
                }
                Err(e) => {
                    shared.failed_batches.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(m::WRITE_BEHIND_FAILURES).increment(1);
                    tracing::error!(error = %e, writes = writes.len(), attempt, "write-behind batch failed; retrying");
                    *shared.last_error.lock() = Some(e.to_string());
                    let past_deadline = shared.deadline.lock().is_some_and(|d| Instant::now() >= d);
                    if past_deadline {
                        // Hand everything left back, in order: this batch, then the queue.
                        let mut left = writes;
                        rx.close();
                        while let Some(op) = rx.recv().await {
                            left.push(op.write);
                        }
                        shared.unflushed.lock().extend(left);
                        shared.progress.notify_waiters();
                        return;
                    }
                    tokio::time::sleep(options.retry.delay(attempt)).await;
                    attempt = attempt.saturating_add(1);
                }
            }
        }
        let mut pending = shared.pending.lock();
        for op in &batch {
            if pending
                .get(op.write.key())
                .is_some_and(|(s, _)| *s == op.seq)
            {
                pending.remove(op.write.key());
            }
        }
        drop(pending);
        shared
            .applied
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        metrics::counter!(m::WRITE_BEHIND_APPLIED).increment(batch.len() as u64);
        metrics::gauge!(m::WRITE_BEHIND_PENDING).decrement(batch.len() as f64);
        shared.progress.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str, seq: u64) -> Op {
        Op {
            seq,
            write: Write::Put {
                key: Bytes::copy_from_slice(k.as_bytes()),
                value: Bytes::copy_from_slice(v.as_bytes()),
            },
        }
    }

    #[test]
    fn coalescing_keeps_each_keys_last_write() {
        let out = coalesce(vec![
            put("a", "1", 0),
            put("b", "1", 1),
            put("a", "2", 2),
            Op {
                seq: 3,
                write: Write::Delete {
                    key: Bytes::from_static(b"b"),
                },
            },
            put("c", "1", 4),
        ]);
        let seqs: Vec<u64> = out.iter().map(|o| o.seq).collect();
        assert_eq!(seqs, [2, 3, 4]);
    }
}
