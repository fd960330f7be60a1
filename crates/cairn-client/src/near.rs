//! The near cache (L1): a bounded in-process copy of chosen keys, kept coherent by the
//! server's CLIENT TRACKING invalidations.
//!
//! # The coherence protocol
//!
//! A read that may fill L1 is sent with `CLIENT CACHING YES` in front of it (tracking is on
//! in OPTIN mode, so the server remembers only the keys we mean to keep). When any client
//! changes such a key, the server sends us an invalidation: an `invalidate` push (RESP3) or
//! a message on `__redis__:invalidate` (RESP2, REDIRECT to a connection of ours). We drop
//! the key.
//!
//! The race to guard: a read fetched v1; a writer sets v2; the invalidation arrives and is
//! applied; only then does the reader insert v1, which nothing will ever remove. So every
//! insert carries a [`Ticket`] taken *before* the read was sent, holding two epochs: the
//! key's stripe epoch and the global epoch. An invalidation bumps the stripe's epoch and a
//! flush bumps the global one, each under the stripe lock the insert also takes, so an
//! insert whose read could predate an invalidation finds a newer epoch and is refused.
//! (Stripes: several keys share an epoch, which only costs a refused insert now and then.)
//!
//! When invalidations may have been lost — the tracking connection dropped, a node was
//! reconnected, the cluster's slot map changed, a failover — the whole L1 is flushed and
//! the global epoch bumped before anything is served from it again.
//!
//! A key is kept only if it starts with one of the configured prefixes (opt-in per prefix)
//! or the server reports it hot (HOTKEYS).

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::metrics as m;

/// Stripes of invalidation epochs (a power of two).
const STRIPES: usize = 256;

/// How big the near cache may grow and which keys it keeps.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NearOptions {
    /// At most this many entries.
    pub max_entries: u64,
    /// At most about this many bytes of keys and values (plus 64 bytes per entry).
    pub max_bytes: u64,
    /// An entry lives at most this long even without an invalidation: a bound on the damage
    /// of an invalidation lost in a way nothing detected.
    pub ttl: Duration,
    /// Keys starting with one of these are kept (an empty prefix keeps every key).
    pub prefixes: Vec<Bytes>,
}

impl Default for NearOptions {
    fn default() -> NearOptions {
        NearOptions {
            max_entries: 100_000,
            max_bytes: 64 << 20,
            ttl: Duration::from_secs(60),
            prefixes: Vec::new(),
        }
    }
}

impl NearOptions {
    /// Keeps keys under `prefixes`, with the default bounds.
    pub fn for_prefixes<I, P>(prefixes: I) -> NearOptions
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        NearOptions {
            prefixes: prefixes
                .into_iter()
                .map(|p| Bytes::copy_from_slice(p.as_ref()))
                .collect(),
            ..NearOptions::default()
        }
    }

    /// The same options with other bounds.
    pub fn bounded(mut self, max_entries: u64, max_bytes: u64, ttl: Duration) -> NearOptions {
        self.max_entries = max_entries.max(1);
        self.max_bytes = max_bytes.max(1);
        self.ttl = ttl;
        self
    }
}

/// The epochs a read saw before it was sent; an insert is accepted only if they still hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    global: u64,
    stripe: u64,
}

/// Why L1 was flushed, for the log and the `reason` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushReason {
    /// The server sent a null invalidation (FLUSHALL / FLUSHDB).
    ServerFlush,
    /// A connection that carried tracking (or its redirect target) dropped.
    ConnectionLost,
    /// The cluster's slot map changed (MOVED, failover, resharding).
    Topology,
    /// The application asked.
    Manual,
}

impl FlushReason {
    fn label(self) -> &'static str {
        match self {
            FlushReason::ServerFlush => "server_flush",
            FlushReason::ConnectionLost => "connection_lost",
            FlushReason::Topology => "topology",
            FlushReason::Manual => "manual",
        }
    }
}

/// Counters of the near cache's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NearStats {
    /// Reads answered from L1.
    pub hits: u64,
    /// Keys dropped because the server said they changed.
    pub invalidations: u64,
    /// Whole-cache flushes.
    pub flushes: u64,
    /// Inserts refused because an invalidation or flush may have overtaken their read.
    pub refused_inserts: u64,
    /// Values stored.
    pub inserts: u64,
}

/// The near cache.
pub struct NearCache {
    cache: moka::sync::Cache<Bytes, Option<Bytes>>,
    prefixes: Vec<Bytes>,
    /// Keys the server reports hot; kept in L1 whatever their prefix.
    hot: RwLock<HashSet<Bytes>>,
    /// Per-stripe invalidation epochs. The lock is held across an insert's check-and-insert
    /// and an invalidation's bump-and-remove, which is what makes them atomic to each other.
    stripes: Box<[Mutex<u64>]>,
    global: AtomicU64,
    hits: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
    refused: AtomicU64,
    inserts: AtomicU64,
}

impl std::fmt::Debug for NearCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCache")
            .field("entries", &self.cache.entry_count())
            .field("prefixes", &self.prefixes)
            .finish_non_exhaustive()
    }
}

fn stripe_of(key: &[u8]) -> usize {
    // any stable spread will do; FNV-1a is short and needs nothing
    let mut h: u32 = 0x811c_9dc5;
    for &b in key {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h as usize & (STRIPES - 1)
}

impl NearCache {
    /// An empty near cache.
    pub fn new(options: &NearOptions) -> NearCache {
        // moka bounds one weight; make every entry weigh at least max_bytes / max_entries so
        // that the byte bound also caps the number of entries.
        let floor = (options.max_bytes / options.max_entries.max(1)).max(1);
        let cache = moka::sync::Cache::builder()
            .max_capacity(options.max_bytes)
            .weigher(move |k: &Bytes, v: &Option<Bytes>| {
                let bytes = (k.len() + v.as_ref().map_or(0, Bytes::len) + 64) as u64;
                bytes.max(floor).min(u64::from(u32::MAX)) as u32
            })
            .time_to_live(options.ttl)
            .build();
        NearCache {
            cache,
            prefixes: options.prefixes.clone(),
            hot: RwLock::new(HashSet::new()),
            stripes: (0..STRIPES).map(|_| Mutex::new(0)).collect(),
            global: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            inserts: AtomicU64::new(0),
        }
    }

    /// Whether `key` may live in L1: under an opted-in prefix, or hot.
    pub fn eligible(&self, key: &[u8]) -> bool {
        self.prefixes.iter().any(|p| key.starts_with(p)) || self.hot.read().contains(key)
    }

    /// The cached answer for `key`: `Some(Some(v))` a value, `Some(None)` a known miss,
    /// `None` not cached.
    pub fn get(&self, key: &[u8]) -> Option<Option<Bytes>> {
        let found = self.cache.get(key);
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(m::L1_HITS).increment(1);
        }
        found
    }

    /// Takes the epochs for a read of `key` that is about to be sent.
    pub fn ticket(&self, key: &[u8]) -> Ticket {
        let stripe = *self.stripes[stripe_of(key)].lock();
        Ticket {
            global: self.global.load(Ordering::SeqCst),
            stripe,
        }
    }

    /// Stores what a read returned, unless an invalidation or flush may have overtaken it.
    /// Returns whether it was stored.
    pub fn insert(&self, key: Bytes, value: Option<Bytes>, ticket: Ticket) -> bool {
        let stripe = self.stripes[stripe_of(&key)].lock();
        if *stripe != ticket.stripe || self.global.load(Ordering::SeqCst) != ticket.global {
            drop(stripe);
            self.refused.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(m::L1_REFUSED).increment(1);
            return false;
        }
        self.cache.insert(key, value);
        drop(stripe);
        self.inserts.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Drops `key` because it changed (a server invalidation, or our own write).
    pub fn invalidate(&self, key: &[u8]) {
        let mut stripe = self.stripes[stripe_of(key)].lock();
        *stripe += 1;
        self.cache.invalidate(key);
        drop(stripe);
        self.invalidations.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(m::L1_INVALIDATIONS).increment(1);
    }

    /// Drops everything, and refuses every insert whose read started before now.
    pub fn flush(&self, reason: FlushReason) {
        // Hold every stripe so no insert is between its check and its insert while the
        // epoch moves and the entries go.
        let guards: Vec<_> = self.stripes.iter().map(|s| s.lock()).collect();
        self.global.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate_all();
        drop(guards);
        self.flushes.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(m::L1_FLUSHES, "reason" => reason.label()).increment(1);
        tracing::debug!(reason = reason.label(), "near cache flushed");
    }

    /// Replaces the set of keys the server reports hot.
    pub fn set_hot(&self, keys: HashSet<Bytes>) {
        *self.hot.write() = keys;
    }

    /// Whether `key` is in the hot set.
    pub fn is_hot(&self, key: &[u8]) -> bool {
        self.hot.read().contains(key)
    }

    /// The current counters.
    pub fn stats(&self) -> NearStats {
        NearStats {
            hits: self.hits.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            refused_inserts: self.refused.load(Ordering::Relaxed),
            inserts: self.inserts.load(Ordering::Relaxed),
        }
    }

    /// Entries held (moka's estimate; exact once its housekeeping ran).
    pub fn len(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies one invalidation message's payload: a list of keys, or nil for "everything".
    pub(crate) fn apply_invalidation(&self, payload: &redis::Value) {
        match payload {
            redis::Value::Nil => self.flush(FlushReason::ServerFlush),
            redis::Value::Array(keys) | redis::Value::Set(keys) => {
                for k in keys {
                    match k {
                        redis::Value::BulkString(b) => self.invalidate(b),
                        redis::Value::SimpleString(s) => self.invalidate(s.as_bytes()),
                        // A shape we do not understand: do not guess which key it meant.
                        _ => self.flush(FlushReason::ConnectionLost),
                    }
                }
            }
            redis::Value::BulkString(b) => self.invalidate(b),
            _ => self.flush(FlushReason::ConnectionLost),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near() -> NearCache {
        NearCache::new(&NearOptions::for_prefixes(["user:"]))
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn only_opted_in_prefixes_and_hot_keys_are_eligible() {
        let n = near();
        assert!(n.eligible(b"user:1"));
        assert!(!n.eligible(b"order:1"));
        n.set_hot([b("order:1")].into_iter().collect());
        assert!(n.eligible(b"order:1"));
    }

    #[test]
    fn an_invalidation_between_read_and_insert_refuses_the_insert() {
        let n = near();
        let t = n.ticket(b"user:1");
        // the read is on the wire; the server's invalidation for the key arrives first
        n.invalidate(b"user:1");
        assert!(!n.insert(b("user:1"), Some(b("v1")), t));
        assert_eq!(n.get(b"user:1"), None);
        // a read that starts after the invalidation may fill
        let t = n.ticket(b"user:1");
        assert!(n.insert(b("user:1"), Some(b("v2")), t));
        assert_eq!(n.get(b"user:1"), Some(Some(b("v2"))));
        assert_eq!(n.stats().refused_inserts, 1);
    }

    #[test]
    fn a_flush_refuses_every_older_read() {
        let n = near();
        let t1 = n.ticket(b"user:1");
        let t2 = n.ticket(b"user:2");
        assert!(n.insert(b("user:2"), None, t2));
        n.flush(FlushReason::ConnectionLost);
        assert!(!n.insert(b("user:1"), Some(b("v")), t1));
        assert_eq!(n.get(b"user:2"), None);
    }

    #[test]
    fn null_invalidation_flushes_and_key_lists_drop_keys() {
        let n = near();
        for k in ["user:1", "user:2", "user:3"] {
            let t = n.ticket(k.as_bytes());
            n.insert(b(k), Some(b("v")), t);
        }
        n.apply_invalidation(&redis::Value::Array(vec![redis::Value::BulkString(
            b"user:1".to_vec(),
        )]));
        assert_eq!(n.get(b"user:1"), None);
        assert!(n.get(b"user:2").is_some());
        n.apply_invalidation(&redis::Value::Nil);
        assert_eq!(n.get(b"user:2"), None);
        assert_eq!(n.stats().flushes, 1);
    }

    #[test]
    fn bounded_by_entries() {
        let n = NearCache::new(&NearOptions::for_prefixes([""]).bounded(
            100,
            1 << 30,
            Duration::from_secs(60),
        ));
        for i in 0..1000 {
            let k = format!("k{i}");
            let t = n.ticket(k.as_bytes());
            n.insert(b(&k), Some(b("v")), t);
        }
        assert!(n.len() <= 100, "{}", n.len());
    }

    #[test]
    fn bounded_by_bytes() {
        let n = NearCache::new(&NearOptions::for_prefixes([""]).bounded(
            1_000_000,
            100_000,
            Duration::from_secs(60),
        ));
        let big = Bytes::from(vec![0u8; 10_000]);
        for i in 0..100 {
            let k = format!("k{i}");
            let t = n.ticket(k.as_bytes());
            n.insert(b(&k), Some(big.clone()), t);
        }
        assert!(n.len() <= 10, "{}", n.len());
    }
}

#[cfg(test)]
mod metrics_tests {
    use super::*;
    use metrics::{
        Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };
    use std::sync::Arc;

    /// Counts increments per metric name and labels, to check what reaches the facade.
    #[derive(Default)]
    struct Tally(parking_lot::Mutex<Vec<(String, u64)>>);

    struct Handle(Arc<Tally>, String);

    impl CounterFn for Handle {
        fn increment(&self, value: u64) {
            self.0.0.lock().push((self.1.clone(), value));
        }
        fn absolute(&self, _: u64) {}
    }

    struct Rec(Arc<Tally>);

    impl Recorder for Rec {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            Counter::from_arc(Arc::new(Handle(self.0.clone(), name)))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[test]
    fn near_cache_events_reach_the_metrics_facade() {
        let tally = Arc::new(Tally::default());
        let rec = Rec(tally.clone());
        metrics::with_local_recorder(&rec, || {
            let n = NearCache::new(&NearOptions::for_prefixes(["k"]));
            let t = n.ticket(b"k1");
            n.insert(Bytes::from_static(b"k1"), None, t);
            n.get(b"k1");
            n.invalidate(b"k1");
            n.insert(Bytes::from_static(b"k1"), None, t);
            n.flush(FlushReason::Topology);
        });
        let seen = tally.0.lock().clone();
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "cairn_client_l1_hits_total{}",
                "cairn_client_l1_invalidations_total{}",
                "cairn_client_l1_refused_inserts_total{}",
                "cairn_client_l1_flushes_total{reason=topology}",
            ]
        );
    }
}
