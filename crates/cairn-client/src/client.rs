//! The client: plain reads and writes with the near cache in front, and the machinery that
//! keeps it honest (background tasks for RESP2 redirects, health checks, the slot map and
//! hot keys).

use bytes::Bytes;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::backend::Backend;
use crate::breaker::BreakerState;
use crate::cluster::ClusterNodes;
use crate::envelope::Envelope;
use crate::error::{Error, LoadError};
use crate::flight::Flights;
use crate::metrics as m;
use crate::near::{FlushReason, NearCache, NearStats};
use crate::node::{Node, host_port};
use crate::options::{ClientOptions, Protocol, Topology};
use crate::ring::{Ring, RingNode};

/// Counters of what the client did, also exported through the `metrics` facade.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Reads the remote cache answered.
    pub hits: u64,
    /// Reads it could not answer.
    pub misses: u64,
    /// The near cache's counters (its hits are not in `hits`).
    pub near: NearStats,
    /// Loader calls.
    pub loads: u64,
    /// Loader failures.
    pub load_errors: u64,
    /// Cache errors (any node, any kind).
    pub errors: u64,
    /// Reads that went to the source because the cache failed.
    pub degraded: u64,
    /// Stale values served while a refresh ran.
    pub stale_served: u64,
    /// Probabilistic early refreshes started.
    pub early_refreshes: u64,
    /// Values stored by loads.
    pub fills: u64,
    /// Guarded fills that lost to a concurrent write and stored nothing.
    pub fills_aborted: u64,
    /// Loads that could not fill (no fill connection, node down).
    pub fills_skipped: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) loads: AtomicU64,
    pub(crate) load_errors: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) degraded: AtomicU64,
    pub(crate) stale_served: AtomicU64,
    pub(crate) early_refreshes: AtomicU64,
    pub(crate) fills: AtomicU64,
    pub(crate) fills_aborted: AtomicU64,
    pub(crate) fills_skipped: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) struct Inner {
    pub(crate) backend: Backend,
    pub(crate) near: Option<Arc<NearCache>>,
    pub(crate) flights: Flights<Result<Option<Bytes>, LoadError>>,
    pub(crate) counters: Counters,
    pub(crate) options: ClientOptions,
    tasks: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
    }
}

/// A cache client. Cheap to clone; clones share connections, the near cache and the
/// single-flight table. Background tasks stop when the last clone is dropped.
#[derive(Clone)]
pub struct CacheClient {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for CacheClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheClient")
            .field("topology", &self.inner.options.topology)
            .finish_non_exhaustive()
    }
}

impl CacheClient {
    /// Connects as `options` say. Standalone and sharded nodes are connected lazily (a
    /// node that is down at start-up is just a node that is down); a cluster must answer
    /// for its slot map.
    pub async fn connect(options: ClientOptions) -> Result<CacheClient, Error> {
        m::describe();
        let near = options.near.as_ref().map(|n| Arc::new(NearCache::new(n)));
        if options.hot_keys.is_some() && near.is_none() {
            return Err(Error::Config(
                "hot-key relief serves hot keys from the near cache: configure one".into(),
            ));
        }
        let backend = match &options.topology {
            Topology::Standalone(url) => Backend::Nodes {
                nodes: vec![Node::new(url, &options, near.clone())?],
                ring: None,
            },
            Topology::Sharded(shards) => {
                if shards.is_empty() {
                    return Err(Error::Config("a sharded topology needs nodes".into()));
                }
                let mut nodes = Vec::new();
                let mut ring_nodes = Vec::new();
                for s in shards {
                    let (host, port) = host_port(&s.url)?;
                    ring_nodes.push(RingNode::new(host, port).with_weight(s.weight));
                    nodes.push(Node::new(&s.url, &options, near.clone())?);
                }
                Backend::Nodes {
                    nodes,
                    ring: Some(Ring::new(&ring_nodes)),
                }
            }
            Topology::Cluster(seeds) => {
                Backend::Cluster(ClusterNodes::connect(seeds, &options, near.clone()).await?)
            }
        };
        let client = CacheClient {
            inner: Arc::new(Inner {
                backend,
                near,
                flights: Flights::new(),
                counters: Counters::default(),
                options,
                tasks: parking_lot::Mutex::new(Vec::new()),
            }),
        };
        client.start_tasks();
        client.await_invalidation_subscribers().await;
        Ok(client)
    }

    /// RESP2 with a near cache: until a node's invalidation subscriber is up, reads there
    /// cannot be tracked and nothing is kept in L1. Waiting for it here (at most the
    /// connect timeout: a node that is down must not hold the application's start-up)
    /// means the near cache works from the first read instead of some time later.
    async fn await_invalidation_subscribers(&self) {
        let Backend::Nodes { nodes, .. } = &self.inner.backend else {
            return;
        };
        let deadline = tokio::time::Instant::now() + self.inner.options.connect_timeout;
        for node in nodes {
            if let Some(redirect) = &node.redirect {
                let _ = tokio::time::timeout_at(deadline, redirect.up()).await;
            }
        }
    }

    fn start_tasks(&self) {
        let inner = &self.inner;
        let mut tasks = Vec::new();
        let every = inner.options.health_check_every;
        if let Backend::Nodes { nodes, .. } = &inner.backend {
            for node in nodes {
                if let (Some(redirect), Some(near)) = (&node.redirect, &inner.near) {
                    let owner: Weak<dyn crate::redirect::Redirected> =
                        Arc::downgrade(node) as Weak<Node>;
                    tasks.push(tokio::spawn(redirect.clone().keep(
                        owner,
                        near.clone(),
                        inner.options.reconnect_backoff.clone(),
                        inner.options.response_timeout,
                        every,
                    )));
                }
            }
            if inner.near.is_some() && inner.options.protocol == Protocol::Resp2 {
                let weak: Vec<Weak<Node>> = nodes.iter().map(Arc::downgrade).collect();
                tasks.push(tokio::spawn(async move {
                    let mut tick = tokio::time::interval(every);
                    loop {
                        tick.tick().await;
                        for w in &weak {
                            match w.upgrade() {
                                Some(n) => n.ping_connections().await,
                                None => return,
                            }
                        }
                    }
                }));
            }
        }
        if let Backend::Cluster(c) = &inner.backend {
            let weak = Arc::downgrade(c);
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    match weak.upgrade() {
                        Some(c) => {
                            if let Err(e) = c.check_topology().await {
                                tracing::debug!(error = %e, "slot map check failed");
                            }
                        }
                        None => return,
                    }
                }
            }));
        }
        if let (Some(hot), Some(_)) = (&inner.options.hot_keys, &inner.near) {
            let weak = Arc::downgrade(inner);
            let hot = hot.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(hot.every);
                loop {
                    tick.tick().await;
                    let Some(inner) = weak.upgrade() else { return };
                    let keys: HashSet<Bytes> = inner
                        .backend
                        .hotkeys(hot.count)
                        .await
                        .into_iter()
                        .filter(|(_, n)| *n >= hot.min_accesses)
                        .map(|(k, _)| k)
                        .collect();
                    if let Some(near) = &inner.near {
                        near.set_hot(keys);
                    }
                }
            }));
        }
        inner.tasks.lock().extend(tasks);
    }

    /// Reads `key`: from the near cache when it holds it, else from the node (tracked, and
    /// kept in L1, when the key is eligible).
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>, Error> {
        let key = Bytes::copy_from_slice(key.as_ref());
        let (raw, _) = self.read(&key).await?;
        Ok(raw)
    }

    /// The near cache, then the node; stores what the node said in L1 if the read was
    /// tracked and nothing overtook it. The bool says whether L1 answered.
    pub(crate) async fn read(&self, key: &Bytes) -> Result<(Option<Bytes>, bool), Error> {
        let inner = &self.inner;
        let eligible = inner.near.as_ref().is_some_and(|n| n.eligible(key));
        if eligible
            && let Some(near) = &inner.near
            && let Some(v) = near.get(key)
        {
            return Ok((v, true));
        }
        let from_replica = inner.options.replica_reads_for_hot_keys
            && inner.near.as_ref().is_some_and(|n| n.is_hot(key));
        match inner.backend.get(key, eligible, from_replica).await {
            Ok((raw, ticket)) => {
                if let (Some(t), Some(near)) = (ticket, &inner.near) {
                    near.insert(key.clone(), raw.clone(), t);
                }
                Ok((raw, false))
            }
            Err(e) => {
                bump(&inner.counters.errors);
                Err(e)
            }
        }
    }

    /// Writes `key` (expiring after `ttl` when given) and drops it from the near cache.
    pub async fn set(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<(), Error> {
        let key = key.as_ref();
        let r = self.inner.backend.set(key, value.as_ref(), ttl).await;
        self.after_write(key, &r);
        r
    }

    /// Deletes `key`; true if it existed.
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool, Error> {
        let key = key.as_ref();
        let r = self.inner.backend.del(key).await;
        self.after_write(key, &r);
        r
    }

    /// Invalidates a key managed by [`get_or_load`](Self::get_or_load) or the patterns:
    /// writes a short-lived tombstone, so that a fill whose load started before this call
    /// fails its WATCH and stores nothing (a DEL of an absent key would not trip it).
    pub async fn invalidate(&self, key: impl AsRef<[u8]>) -> Result<(), Error> {
        let key = key.as_ref();
        let r = self
            .inner
            .backend
            .set(
                key,
                &Envelope::tombstone().encode(),
                Some(self.inner.options.tombstone_ttl),
            )
            .await;
        self.after_write(key, &r);
        r
    }

    /// Our own write: drop the key from L1 now (the server's invalidation will follow,
    /// but a read in this process must not see the old value meanwhile). Also on error:
    /// the write may have reached the server.
    pub(crate) fn after_write<T>(&self, key: &[u8], r: &Result<T, Error>) {
        if let Some(near) = &self.inner.near {
            near.invalidate(key);
        }
        if r.is_err() {
            bump(&self.inner.counters.errors);
        }
    }

    /// Drops everything from the near cache.
    pub fn flush_near_cache(&self) {
        if let Some(near) = &self.inner.near {
            near.flush(FlushReason::Manual);
        }
    }

    /// The near cache, if one is kept.
    pub fn near_cache(&self) -> Option<&NearCache> {
        self.inner.near.as_deref()
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            hits: l(&c.hits),
            misses: l(&c.misses),
            near: self
                .inner
                .near
                .as_ref()
                .map(|n| n.stats())
                .unwrap_or_default(),
            loads: l(&c.loads),
            load_errors: l(&c.load_errors),
            errors: l(&c.errors),
            degraded: l(&c.degraded),
            stale_served: l(&c.stale_served),
            early_refreshes: l(&c.early_refreshes),
            fills: l(&c.fills),
            fills_aborted: l(&c.fills_aborted),
            fills_skipped: l(&c.fills_skipped),
        }
    }

    /// Each node's circuit breaker state.
    pub fn breaker_states(&self) -> Vec<(String, BreakerState)> {
        self.inner.backend.breaker_states()
    }

    /// The node (`host:port`) that owns `key`.
    pub fn node_for(&self, key: impl AsRef<[u8]>) -> String {
        self.inner.backend.node_name(key.as_ref())
    }

    /// The hottest keys the nodes report now (Cairn's HOTKEYS), as `(key, accesses)`.
    pub async fn hot_keys(&self, count: usize) -> Vec<(Bytes, u64)> {
        self.inner.backend.hotkeys(count).await
    }

    /// Callers waiting on another caller's load of `key` right now (single-flight
    /// followers): for diagnostics and for tests that need a stampede in progress.
    pub fn waiting_on(&self, key: impl AsRef<[u8]>) -> usize {
        self.inner.flights.waiters(key.as_ref())
    }

    /// Waits until no single-flight load is running (for orderly shutdowns and tests).
    pub async fn quiesce(&self) {
        while !self.inner.flights.is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}
