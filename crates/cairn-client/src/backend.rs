//! Where a key goes: one node, the ketama owner among independent nodes, or the cluster.
//! Everything above this module is topology-blind.

use bytes::Bytes;
use redis::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::breaker::BreakerState;
use crate::cluster::ClusterNodes;
use crate::error::Error;
use crate::near::Ticket;
use crate::node::{FillConn, Node};
use crate::ring::Ring;

pub(crate) enum Backend {
    /// Standalone (one node, no ring) or sharded (a ring over the nodes).
    Nodes {
        nodes: Vec<Arc<Node>>,
        ring: Option<Ring>,
    },
    Cluster(Arc<ClusterNodes>),
}

/// A `SET key value [PX ms]` command.
fn set_cmd(key: &[u8], value: &[u8], ttl: Option<Duration>) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(value);
    if let Some(ttl) = ttl {
        cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
    }
    cmd
}

impl Backend {
    /// The node that owns `key` (standalone and sharded only). A node whose breaker is
    /// open still owns its keys: they are not remapped, they bypass the cache.
    fn node_for(nodes: &[Arc<Node>], ring: &Option<Ring>, key: &[u8]) -> Arc<Node> {
        let i = ring.as_ref().and_then(|r| r.node_for(key)).unwrap_or(0);
        nodes[i].clone()
    }

    /// The name of the node that owns `key`, for errors and tests.
    pub(crate) fn node_name(&self, key: &[u8]) -> String {
        match self {
            Backend::Nodes { nodes, ring } => Backend::node_for(nodes, ring, key).addr.clone(),
            Backend::Cluster(c) => c
                .primary_of(key)
                .map_or_else(|| "cluster".into(), |(h, p)| format!("{h}:{p}")),
        }
    }

    /// GET `key`, tracked for the near cache when `track`.
    pub(crate) async fn get(
        &self,
        key: &Bytes,
        track: bool,
        from_replica: bool,
    ) -> Result<(Option<Bytes>, Option<Ticket>), Error> {
        match self {
            Backend::Nodes { nodes, ring } => {
                Backend::node_for(nodes, ring, key).get(key, track).await
            }
            Backend::Cluster(c) => c.get(key, track, from_replica).await,
        }
    }

    /// SET `key` to `value`, expiring after `ttl` when given.
    pub(crate) async fn set(
        &self,
        key: &[u8],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), Error> {
        let cmd = set_cmd(key, value, ttl);
        match self {
            Backend::Nodes { nodes, ring } => Backend::node_for(nodes, ring, key).query(cmd).await,
            Backend::Cluster(c) => c.query(key, cmd).await,
        }
    }

    /// DEL `key`; true if it existed.
    pub(crate) async fn del(&self, key: &[u8]) -> Result<bool, Error> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(key);
        let n: i64 = match self {
            Backend::Nodes { nodes, ring } => {
                Backend::node_for(nodes, ring, key).query(cmd).await?
            }
            Backend::Cluster(c) => c.query(key, cmd).await?,
        };
        Ok(n > 0)
    }

    /// A connection of its own to `key`'s node for a guarded fill, if one is free and the
    /// node is not marked down.
    pub(crate) async fn fill_conn(&self, key: &[u8]) -> Option<FillConn> {
        match self {
            Backend::Nodes { nodes, ring } => {
                let node = Backend::node_for(nodes, ring, key);
                if node.breaker.state(Instant::now()) != BreakerState::Closed {
                    return None;
                }
                node.fills.checkout(&node.addr).await
            }
            Backend::Cluster(c) => c.fill_conn(key).await,
        }
    }

    /// The hottest keys of every node (Cairn's HOTKEYS); nodes that do not know the
    /// command are asked once and then left alone.
    pub(crate) async fn hotkeys(&self, count: usize) -> Vec<(Bytes, u64)> {
        let mut out = Vec::new();
        match self {
            Backend::Nodes { nodes, .. } => {
                for node in nodes {
                    if node.no_hotkeys.load(Ordering::Relaxed) {
                        continue;
                    }
                    let mut cmd = redis::cmd("HOTKEYS");
                    cmd.arg("COUNT").arg(count);
                    match node.query::<Value>(cmd).await {
                        Ok(v) => out.extend(parse_hotkeys(&v)),
                        Err(Error::Server { .. }) => {
                            tracing::info!(node = %node.addr, "no HOTKEYS on this node; hot-key polling off for it");
                            node.no_hotkeys.store(true, Ordering::Relaxed);
                        }
                        Err(_) => {}
                    }
                }
            }
            Backend::Cluster(c) => {
                for (host, port) in c.primaries() {
                    let addr = format!("{host}:{port}");
                    if c.no_hotkeys.lock().contains(&addr) {
                        continue;
                    }
                    match c.hotkeys_of(&host, port, count).await {
                        Ok(v) => out.extend(parse_hotkeys(&v)),
                        Err(Error::Server { .. }) => {
                            c.no_hotkeys.lock().insert(addr);
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        out
    }

    /// Every node's breaker state now.
    pub(crate) fn breaker_states(&self) -> Vec<(String, BreakerState)> {
        let now = Instant::now();
        match self {
            Backend::Nodes { nodes, .. } => nodes
                .iter()
                .map(|n| (n.addr.clone(), n.breaker.state(now)))
                .collect(),
            Backend::Cluster(c) => c
                .breakers()
                .into_iter()
                .map(|(a, b)| (a, b.state(now)))
                .collect(),
        }
    }
}

/// HOTKEYS' reply: an array of `[key, accesses]` pairs.
fn parse_hotkeys(v: &Value) -> Vec<(Bytes, u64)> {
    let Value::Array(pairs) = v else {
        return Vec::new();
    };
    pairs
        .iter()
        .filter_map(|p| match p {
            Value::Array(kv) if kv.len() == 2 => {
                let key = match &kv[0] {
                    Value::BulkString(b) => Bytes::copy_from_slice(b),
                    Value::SimpleString(s) => Bytes::copy_from_slice(s.as_bytes()),
                    _ => return None,
                };
                let n = match &kv[1] {
                    Value::Int(i) => (*i).max(0) as u64,
                    _ => return None,
                };
                Some((key, n))
            }
            _ => None,
        })
        .collect()
}

impl FillConn {
    /// WATCH the key and read it, in one round trip.
    pub(crate) async fn watch_get(&mut self, key: &[u8]) -> Result<Option<Bytes>, Error> {
        let mut pipe = redis::pipe();
        pipe.cmd("WATCH").arg(key).ignore().cmd("GET").arg(key);
        let fut = pipe.query_async::<(Option<Vec<u8>>,)>(&mut self.conn);
        match tokio::time::timeout(self.response_timeout, fut).await {
            Ok(Ok((v,))) => Ok(v.map(Bytes::from)),
            Ok(Err(e)) => {
                self.healthy = false;
                Err(Error::from_redis(&self.node, e))
            }
            Err(_) => {
                self.healthy = false;
                Err(Error::Timeout {
                    node: self.node.clone(),
                    after: self.response_timeout,
                })
            }
        }
    }

    /// `MULTI; SET key value PX ttl; EXEC`: true if stored, false if the WATCH saw a write
    /// in between (EXEC answered nil) and nothing was stored.
    pub(crate) async fn exec_set(
        &mut self,
        key: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, Error> {
        let mut pipe = redis::pipe();
        pipe.atomic().add_command(set_cmd(key, value, Some(ttl)));
        let fut = pipe.query_async::<Value>(&mut self.conn);
        match tokio::time::timeout(self.response_timeout, fut).await {
            Ok(Ok(Value::Nil)) => Ok(false),
            Ok(Ok(_)) => Ok(true),
            Ok(Err(e)) => {
                self.healthy = false;
                Err(Error::from_redis(&self.node, e))
            }
            Err(_) => {
                self.healthy = false;
                Err(Error::Timeout {
                    node: self.node.clone(),
                    after: self.response_timeout,
                })
            }
        }
    }

    /// UNWATCH before the connection goes back to the pool.
    pub(crate) async fn unwatch(&mut self) {
        let cmd = redis::cmd("UNWATCH");
        let fut = cmd.query_async::<()>(&mut self.conn);
        if !matches!(
            tokio::time::timeout(self.response_timeout, fut).await,
            Ok(Ok(()))
        ) {
            self.healthy = false;
        }
    }
}
