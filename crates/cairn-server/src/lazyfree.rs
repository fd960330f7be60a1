//! Freeing memory off the request path (UNLINK, FLUSHALL ASYNC).
//!
//! Dropping a large value or a whole database can take milliseconds; a dedicated thread
//! does it so that the shard lock is released and other clients keep being served.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

type Garbage = Box<dyn Send>;

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
