//! Single-flight: at most one load per key at a time within the process; everyone else who
//! asks for the key meanwhile waits for that load's result instead of starting their own.
//!
//! This is what turns a stampede (a hot key expires, a thousand requests miss together and
//! a thousand identical queries reach the database) into one query per process.
//!
//! The leader's work runs in the leader's own future. If that future is dropped before it
//! finishes (the caller timed out or went away), its waiters do not hang: the shared channel
//! closes, and one of them becomes the new leader.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::watch;

/// Whether a caller did the work or shared someone else's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// This caller ran the work.
    Leader,
    /// This caller waited for another caller's work.
    Follower,
}

struct Call<T> {
    /// Tells the key's flight apart from a later one under the same key.
    id: u64,
    rx: watch::Receiver<Option<T>>,
    /// Callers waiting on this flight (for tests and the stampede report).
    waiting: Arc<AtomicUsize>,
}

/// The flights in progress, keyed by cache key.
pub struct Flights<T> {
    calls: Mutex<HashMap<Bytes, Call<T>>>,
    next_id: AtomicU64,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Flights {
            calls: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }
}

/// Removes a flight from the table when its leader finishes or is dropped.
struct Landing<'a, T> {
    flights: &'a Flights<T>,
    key: Bytes,
    id: u64,
}

impl<T> Drop for Landing<'_, T> {
    fn drop(&mut self) {
        let mut calls = self.flights.calls.lock();
        if calls.get(&self.key).is_some_and(|c| c.id == self.id) {
            calls.remove(&self.key);
        }
    }
}

impl<T: Clone + Send + Sync> Flights<T> {
    /// A table with no flights.
    pub fn new() -> Flights<T> {
        Flights::default()
    }

    /// Runs `work` for `key` unless a flight for `key` is already out, in which case waits
    /// for that flight's result. `work` is only called by the leader.
    pub async fn run<F, Fut>(&self, key: &Bytes, work: F) -> (T, Role)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let mut work = Some(work);
        loop {
            let joined = {
                let mut calls = self.calls.lock();
                match calls.get(key) {
                    Some(call) => {
                        call.waiting.fetch_add(1, Ordering::SeqCst);
                        Err((call.rx.clone(), Waiting(call.waiting.clone())))
                    }
                    None => {
                        let (tx, rx) = watch::channel(None);
                        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                        let waiting = Arc::new(AtomicUsize::new(0));
                        calls.insert(key.clone(), Call { id, rx, waiting });
                        Ok((tx, id))
                    }
                }
            };
            match joined {
                Ok((tx, id)) => {
                    let _landing = Landing {
                        flights: self,
                        key: key.clone(),
                        id,
                    };
                    let work = work.take().expect("a caller leads at most once");
                    let value = work().await;
                    // Waiters that already hold a receiver see this value; the landing then
                    // removes the flight so the next caller starts afresh.
                    let _ = tx.send(Some(value.clone()));
                    return (value, Role::Leader);
                }
                Err((mut rx, waiting)) => {
                    let outcome = rx.wait_for(Option::is_some).await.map(|v| v.clone());
                    drop(waiting);
                    match outcome {
                        Ok(Some(value)) => return (value, Role::Follower),
                        // The leader was dropped before it finished: try to lead.
                        _ => continue,
                    }
                }
            }
        }
    }

    /// How many callers wait on `key`'s flight (0 when none is out).
    pub fn waiters(&self, key: &[u8]) -> usize {
        self.calls
            .lock()
            .get(key)
            .map_or(0, |c| c.waiting.load(Ordering::SeqCst))
    }

    /// How many flights are out.
    pub fn len(&self) -> usize {
        self.calls.lock().len()
    }

    /// True when no flight is out.
    pub fn is_empty(&self) -> bool {
        self.calls.lock().is_empty()
    }
}

/// Counts a follower out of its flight's waiters when it stops waiting, however it stops.
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_callers_share_one_load() {
        let flights = Arc::new(Flights::<u64>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = watch::channel(false);
        let key = Bytes::from_static(b"hot");
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            let (flights, calls, key) = (flights.clone(), calls.clone(), key.clone());
            let mut release = release_rx.clone();
            tasks.push(tokio::spawn(async move {
                flights
                    .run(&key, || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        // hold the flight open until every other caller has joined it
                        release.wait_for(|r| *r).await.unwrap();
                        42
                    })
                    .await
            }));
        }
        while flights.waiters(b"hot") < 999 {
            tokio::task::yield_now().await;
        }
        release_tx.send(true).unwrap();
        let mut leaders = 0;
        for t in tasks {
            let (v, role) = t.await.unwrap();
            assert_eq!(v, 42);
            leaders += usize::from(role == Role::Leader);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(leaders, 1);
        assert!(flights.is_empty());
    }

    #[tokio::test]
    async fn a_dropped_leader_hands_over_to_a_waiter() {
        let flights = Arc::new(Flights::<u32>::new());
        let key = Bytes::from_static(b"k");
        let (started_tx, mut started_rx) = tokio::sync::mpsc::channel(1);
        let leader = {
            let (flights, key) = (flights.clone(), key.clone());
            tokio::spawn(async move {
                flights
                    .run(&key, || async move {
                        started_tx.send(()).await.unwrap();
                        std::future::pending::<u32>().await
                    })
                    .await
            })
        };
        started_rx.recv().await.unwrap();
        let follower = {
            let (flights, key) = (flights.clone(), key.clone());
            tokio::spawn(async move { flights.run(&key, || async { 7 }).await })
        };
        while flights.waiters(b"k") < 1 {
            tokio::task::yield_now().await;
        }
        leader.abort();
        let (v, role) = follower.await.unwrap();
        assert_eq!((v, role), (7, Role::Leader));
        assert!(flights.is_empty());
    }

    #[tokio::test]
    async fn sequential_calls_each_run() {
        let flights = Flights::<u32>::new();
        let key = Bytes::from_static(b"k");
        assert_eq!(flights.run(&key, || async { 1 }).await.0, 1);
        assert_eq!(flights.run(&key, || async { 2 }).await.0, 2);
    }
}
