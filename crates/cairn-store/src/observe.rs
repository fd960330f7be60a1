//! Who else must hear that a key changed: the server's client-side-caching invalidations
//! and keyspace notifications for expiries and evictions.
//!
//! Every change to a key passes through a few places in [`crate::db::Db`] (a write, an
//! insertion, a removal, a flush); those call the installed [`Observer`] while the shard
//! is still locked, so what it hears for one key is in the order the changes happened.
//! Nothing is called while the observer's switch is off: one relaxed load per change.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A write command is about to change it (it may not exist yet).
    Written,
    /// It did not exist and now does (after `Written`).
    Created,
    /// A read looked for it and did not find it (no change: keyspace notifications' `m`).
    Missed,
    /// A command removed it (DEL, RENAME's source, GETDEL, ...).
    Deleted,
    /// Its TTL passed and it was removed.
    Expired,
    /// The memory limit removed it.
    Evicted,
    /// Some of its hash fields' times passed and they were removed (`hexpired`).
    FieldsExpired,
    /// Its last hash field expired, so the key went too (Redis reports a `del`).
    Emptied,
}

/// The server side of [`Change`]s.
pub trait Observer: Send + Sync {
    fn changed(&self, db: usize, key: &[u8], change: Change);
    /// Database `db` was emptied (FLUSHDB, FLUSHALL, and both sides of SWAPDB).
    fn flushed(&self, db: usize);
}

/// An observer with its switch, as each database holds it.
#[derive(Clone)]
pub struct Observing {
    pub on: Arc<AtomicBool>,
    pub sink: Arc<dyn Observer>,
}

impl Observing {
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Observing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observing")
            .field("on", &self.active())
            .finish_non_exhaustive()
    }
}
