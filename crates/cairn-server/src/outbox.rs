//! What other connections send a client: Pub/Sub messages, and later keyspace
//! notifications and tracking invalidations.
//!
//! A publisher must never wait for a subscriber, and a subscriber that stops reading must
//! not make the server's memory grow without bound. So every connection has an outbox: an
//! unbounded queue of encoded frames, drained into the socket by the connection's own task,
//! and a count of the bytes waiting in it. A frame that would take the count past the
//! pubsub class of `client-output-buffer-limit` (its hard limit, or its soft limit for
//! longer than the soft seconds) is not queued: the client is disconnected, as Redis does.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;

/// One class of `client-output-buffer-limit`: bytes, bytes, seconds; 0 turns a limit off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

pub struct Outbox {
    tx: mpsc::UnboundedSender<Bytes>,
    queued: AtomicUsize,
    /// Milliseconds since `epoch` when the queue went over the soft limit (0: it is not).
    over_soft_since: AtomicU64,
    epoch: Instant,
}

/// Why a frame was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The output buffer limit was reached: disconnect the client.
    OverLimit,
    /// The connection is gone.
    Closed,
}

impl Outbox {
    pub fn new() -> (Outbox, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let outbox = Outbox {
            tx,
            queued: AtomicUsize::new(0),
            over_soft_since: AtomicU64::new(0),
            epoch: Instant::now(),
        };
        (outbox, rx)
    }

    /// Queues `frame` for the client, within `limit`.
    pub fn offer(&self, frame: Bytes, limit: OutputLimit) -> Result<(), Refused> {
        let len = frame.len();
        let after = self.queued.fetch_add(len, Ordering::Relaxed) + len;
        if let Err(refused) = self.check(after as u64, limit) {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return Err(refused);
        }
        self.tx.send(frame).map_err(|_| {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            Refused::Closed
        })
    }

    fn check(&self, queued: u64, limit: OutputLimit) -> Result<(), Refused> {
        if limit.hard != 0 && queued > limit.hard {
            return Err(Refused::OverLimit);
        }
        if limit.soft == 0 || queued <= limit.soft {
            return Ok(());
        }
        let now = (self.epoch.elapsed().as_millis() as u64).max(1);
        match self
            .over_soft_since
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => Ok(()),
            Err(since) if now.saturating_sub(since) > limit.soft_seconds * 1000 => {
                Err(Refused::OverLimit)
            }
            Err(_) => Ok(()),
        }
    }

    /// The connection took `n` bytes out of the queue to write them.
    pub fn taken(&self, n: usize) {
        let left = self.queued.fetch_sub(n, Ordering::Relaxed) - n;
        if left == 0 {
            self.over_soft_since.store(0, Ordering::Relaxed);
        }
    }

    /// Bytes waiting (CLIENT LIST omem).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hard_limit_refuses_and_taking_makes_room() {
        let (o, mut rx) = Outbox::new();
        let limit = OutputLimit {
            hard: 10,
            soft: 0,
            soft_seconds: 0,
        };
        o.offer(Bytes::from_static(b"123456"), limit).unwrap();
        assert_eq!(
            o.offer(Bytes::from_static(b"123456"), limit),
            Err(Refused::OverLimit)
        );
        assert_eq!(o.queued(), 6);
        let f = rx.try_recv().unwrap();
        o.taken(f.len());
        o.offer(Bytes::from_static(b"123456"), limit).unwrap();
    }

    #[test]
    fn the_soft_limit_allows_a_burst_but_not_a_long_one() {
        let (o, _rx) = Outbox::new();
        let limit = OutputLimit {
            hard: 0,
            soft: 4,
            soft_seconds: 0,
        };
        o.offer(Bytes::from_static(b"12345"), limit).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(
            o.offer(Bytes::from_static(b"1"), limit),
            Err(Refused::OverLimit)
        );
    }

    #[test]
    fn no_limit_queues_anything_and_a_closed_client_refuses() {
        let (o, rx) = Outbox::new();
        o.offer(Bytes::from(vec![0; 1 << 20]), OutputLimit::default())
            .unwrap();
        drop(rx);
        assert_eq!(
            o.offer(Bytes::from_static(b"x"), OutputLimit::default()),
            Err(Refused::Closed)
        );
        assert_eq!(o.queued(), 1 << 20);
    }
}
