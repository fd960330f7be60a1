//! Freeing memory off the request path (UNLINK, FLUSHALL ASYNC).
//!
//! Dropping a large value or a whole database can take milliseconds; a dedicated thread
//! does it so that the shard lock is released and other clients keep being served.
//! Redis's `lazyfree-lazy-*` settings say which of the server's own removals go there
//! ([`When`]); Cairn's defaults are all yes (Redis 7.0's are no; its 8.0 turned them on).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

type Garbage = Box<dyn Send>;

/// Which of the server's own removals of big values are freed in the background:
/// `lazyfree-lazy-eviction`, `-expire`, `-server-del` and `replica-lazy-flush`, as
/// applied (atomics: read on the request path and the cron).
#[derive(Debug, Default)]
pub struct When {
    pub eviction: AtomicBool,
    pub expire: AtomicBool,
    pub server_del: AtomicBool,
    pub replica_flush: AtomicBool,
}

impl When {
    /// Applies the settings of `c`.
    pub fn configure(&self, c: &crate::config::Config) {
        self.eviction
            .store(c.lazyfree_lazy_eviction, Ordering::Relaxed);
        self.expire.store(c.lazyfree_lazy_expire, Ordering::Relaxed);
        self.server_del
            .store(c.lazyfree_lazy_server_del, Ordering::Relaxed);
        self.replica_flush
            .store(c.replica_lazy_flush, Ordering::Relaxed);
    }
}

#[derive(Clone)]
pub struct LazyFree {
    tx: mpsc::Sender<Garbage>,
    /// Objects handed over and not yet freed (INFO lazyfree_pending_objects).
    pending: Arc<AtomicU64>,
    freed: Arc<AtomicU64>,
}

impl LazyFree {
    pub fn start() -> LazyFree {
        let (tx, rx) = mpsc::channel::<Garbage>();
        let pending = Arc::new(AtomicU64::new(0));
        let freed = Arc::new(AtomicU64::new(0));
        let (p, f) = (pending.clone(), freed.clone());
        std::thread::Builder::new()
            .name("cairn-lazyfree".into())
            .spawn(move || {
                for garbage in rx {
                    drop(garbage);
                    p.fetch_sub(1, Ordering::Relaxed);
                    f.fetch_add(1, Ordering::Relaxed);
                }
            })
            .expect("spawn lazyfree thread");
        LazyFree { tx, pending, freed }
    }

    /// Frees `garbage` on the background thread when `lazy`, else here and now.
    pub fn free_if<T: Send + 'static>(&self, lazy: &AtomicBool, garbage: T) {
        if lazy.load(Ordering::Relaxed) {
            self.free(garbage);
        } else {
            drop(garbage);
        }
    }

    /// Frees `garbage` on the background thread.
    pub fn free<T: Send + 'static>(&self, garbage: T) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        if let Err(mpsc::SendError(g)) = self.tx.send(Box::new(garbage)) {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            drop(g);
        }
    }

    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    pub fn freed(&self) -> u64 {
        self.freed.load(Ordering::Relaxed)
    }
}
