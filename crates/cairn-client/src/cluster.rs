//! Cluster mode on redis-rs's cluster client, which owns the slot map, follows MOVED and
//! ASK, reconnects, and refreshes its slot map one refresh at a time. What it does not
//! know about, and this module adds:
//!
//! - tracking on every connection it makes (its handshake sends `CLIENT TRACKING ON
//!   OPTIN` because a cache config is set) and the invalidation pushes of all nodes;
//! - a flush of the near cache when the slot map changes or any node connection drops:
//!   keys may now live on a node that never saw our reads, so nothing would invalidate them;
//! - a breaker per node (by the slot map we keep), guarded fills on a connection of their
//!   own to the key's primary, HOTKEYS from every primary, and replica reads for hot keys.

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{PushInfo, PushKind, Value};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use crate::breaker::{Admission, Breaker};
use crate::error::Error;
use crate::near::{FlushReason, NearCache, Ticket};
use crate::node::{FillPool, count_error, redis_client, report_transition};
use crate::options::{ClientOptions, Protocol};
use crate::slot::slot;

/// Applies pushes from every node of the cluster.
struct ClusterPushSink {
    near: Option<Arc<NearCache>>,
}

impl redis::aio::AsyncPushSender for ClusterPushSink {
    fn send(&self, info: PushInfo) -> Result<(), redis::aio::SendError> {
        if let Some(near) = &self.near {
            match info.kind {
                PushKind::Invalidate => match info.data.first() {
                    Some(payload) => near.apply_invalidation(payload),
                    None => near.flush(FlushReason::ConnectionLost),
                },
                PushKind::Disconnection => near.flush(FlushReason::ConnectionLost),
                _ => {}
            }
        }
        Ok(())
    }
}

/// How many nodes a topology check asks for CLUSTER SLOTS before it gives up.
const TOPOLOGY_TRIES: usize = 3;

/// One range of the slot map.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SlotRange {
    pub(crate) start: u16,
    pub(crate) end: u16,
    pub(crate) primary: (String, u16),
}

/// The cluster as this client sees it.
pub(crate) struct ClusterNodes {
    conn: ClusterConnection,
    near: Option<Arc<NearCache>>,
    options: ClientOptions,
    /// The slot map from the last CLUSTER SLOTS, sorted by start.
    map: RwLock<Vec<SlotRange>>,
    fingerprint: Mutex<Option<u64>>,
    breakers: Mutex<HashMap<String, Arc<Breaker>>>,
    fills: Mutex<HashMap<String, Arc<FillPool>>>,
    pub(crate) no_hotkeys: Mutex<HashSet<String>>,
}

impl ClusterNodes {
    pub(crate) async fn connect(
        seeds: &[String],
        options: &ClientOptions,
        near: Option<Arc<NearCache>>,
    ) -> Result<Arc<ClusterNodes>, Error> {
        let mut builder = redis::cluster::ClusterClientBuilder::new(seeds.to_vec())
            .connection_timeout(options.connect_timeout)
            .response_timeout(options.response_timeout)
            .retries(3);
        if options.protocol == Protocol::Resp3 {
            builder = builder
                .use_protocol(redis::ProtocolVersion::RESP3)
                .push_sender(ClusterPushSink { near: near.clone() });
            if near.is_some() {
                builder = builder.cache_config(
                    redis::caching::CacheConfig::new().set_mode(redis::caching::CacheMode::OptIn),
                );
            }
        } else if near.is_some() {
            return Err(Error::Config(
                "a near cache in cluster mode needs RESP3 (invalidation pushes)".into(),
            ));
        }
        if options.replica_reads_for_hot_keys {
            builder =
                builder.read_routing_strategy(redis::cluster_read_routing::RandomReplicaStrategy);
        }
        let client = builder
            .build()
            .map_err(|e| Error::Config(format!("cluster: {e}")))?;
        let conn = tokio::time::timeout(options.connect_timeout * 4, client.get_async_connection())
            .await
            .map_err(|_| Error::Timeout {
                node: "cluster".into(),
                after: options.connect_timeout * 4,
            })?
            .map_err(|e| Error::from_redis("cluster", e))?;
        let nodes = Arc::new(ClusterNodes {
            conn,
            near,
            options: options.clone(),
            map: RwLock::new(Vec::new()),
            fingerprint: Mutex::new(None),
            breakers: Mutex::new(HashMap::new()),
            fills: Mutex::new(HashMap::new()),
            no_hotkeys: Mutex::new(HashSet::new()),
        });
        nodes.check_topology().await?;
        Ok(nodes)
    }

    /// The primary's address for `key` by the last slot map seen.
    pub(crate) fn primary_of(&self, key: &[u8]) -> Option<(String, u16)> {
        let s = slot(key);
        let map = self.map.read();
        let i = map.partition_point(|r| r.end < s);
        map.get(i)
            .filter(|r| r.start <= s && s <= r.end)
            .map(|r| r.primary.clone())
    }

    /// The primaries in the slot map.
    pub(crate) fn primaries(&self) -> Vec<(String, u16)> {
        let mut v: Vec<_> = self.map.read().iter().map(|r| r.primary.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    fn breaker_for(&self, addr: &str) -> Arc<Breaker> {
        self.breakers
            .lock()
            .entry(addr.to_string())
            .or_insert_with(|| Arc::new(Breaker::new(self.options.breaker.clone())))
            .clone()
    }

    /// Breakers by node.
    pub(crate) fn breakers(&self) -> Vec<(String, Arc<Breaker>)> {
        self.breakers
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Reads CLUSTER SLOTS; when the map differs from the last one, flushes the near cache
    /// (a key may now be served by a node that never tracked our reads of it).
    pub(crate) async fn check_topology(&self) -> Result<(), Error> {
        // Asked of a random node, which after a failover may be the dead one: a few tries,
        // so the map does not wait a whole health-check period per unlucky pick.
        let mut reply = self.cluster_slots().await;
        for _ in 0..TOPOLOGY_TRIES - 1 {
            if reply.is_ok() {
                break;
            }
            reply = self.cluster_slots().await;
        }
        let reply = reply?;
        let mut map = parse_slots(&reply).ok_or_else(|| Error::Reply {
            node: "cluster".into(),
            what: format!("CLUSTER SLOTS: {reply:?}"),
        })?;
        map.sort_by_key(|r| r.start);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        map.hash(&mut h);
        let fp = h.finish();
        let changed = {
            let mut last = self.fingerprint.lock();
            let changed = last.is_some_and(|l| l != fp);
            *last = Some(fp);
            changed
        };
        *self.map.write() = map;
        if changed {
            tracing::info!("cluster slot map changed; near cache flushed");
            if let Some(near) = &self.near {
                near.flush(FlushReason::Topology);
            }
        }
        Ok(())
    }

    /// CLUSTER SLOTS from a random node, within the response timeout.
    async fn cluster_slots(&self) -> Result<redis::Value, Error> {
        let mut conn = self.conn.clone();
        tokio::time::timeout(
            self.options.response_timeout,
            conn.route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            ),
        )
        .await
        .map_err(|_| Error::Timeout {
            node: "cluster".into(),
            after: self.options.response_timeout,
        })?
        .map_err(|e| Error::from_redis("cluster", e))
    }

    /// Runs one keyed call through the key's node breaker and the response timeout.
    async fn run<T, F, Fut>(&self, key: &[u8], work: F) -> Result<T, Error>
    where
        F: FnOnce(ClusterConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let addr = self
            .primary_of(key)
            .map_or_else(|| "cluster".to_string(), |(h, p)| format!("{h}:{p}"));
        let breaker = self.breaker_for(&addr);
        if breaker.admit(Instant::now()) == Admission::Rejected {
            let e = Error::NodeDown { node: addr.clone() };
            count_error(&addr, &e);
            return Err(e);
        }
        let timeout = self.options.response_timeout;
        match tokio::time::timeout(timeout, work(self.conn.clone())).await {
            Ok(Ok(v)) => {
                report_transition(&addr, breaker.on_success());
                Ok(v)
            }
            Ok(Err(e)) => {
                if e.is_cluster_error() {
                    // A redirect escaped redis-rs's retries: our picture is out of date.
                    if let Some(near) = &self.near {
                        near.flush(FlushReason::Topology);
                    }
                }
                let err = Error::from_redis(&addr, e);
                count_error(&addr, &err);
                if err.is_node_failure() {
                    report_transition(&addr, breaker.on_failure(Instant::now()));
                } else {
                    report_transition(&addr, breaker.on_success());
                }
                Err(err)
            }
            Err(_) => {
                let err = Error::Timeout {
                    node: addr.clone(),
                    after: timeout,
                };
                count_error(&addr, &err);
                report_transition(&addr, breaker.on_failure(Instant::now()));
                Err(err)
            }
        }
    }

    /// GET, tracked when `track`; hot keys may be read from a replica.
    pub(crate) async fn get(
        &self,
        key: &Bytes,
        track: bool,
        from_replica: bool,
    ) -> Result<(Option<Bytes>, Option<Ticket>), Error> {
        let ticket = match (&self.near, track) {
            (Some(near), true) => Some(near.ticket(key)),
            _ => None,
        };
        let near = self.near.clone();
        self.run(key, |mut conn| async move {
            let addr = if from_replica {
                SlotAddr::ReplicaOptional
            } else {
                SlotAddr::Master
            };
            if ticket.is_none() {
                // Routed explicitly: with replica reads on, an unrouted GET could go to a
                // replica, and only hot keys should.
                let reply = conn
                    .route_command(
                        redis::cmd("GET").arg(&key[..]).clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
                            slot(key),
                            addr,
                        ))),
                    )
                    .await?;
                let v: Option<Vec<u8>> = redis::from_redis_value(reply)?;
                return Ok((v.map(Bytes::from), None));
            }
            let mut pipe = redis::pipe();
            pipe.cmd("CLIENT")
                .arg("CACHING")
                .arg("YES")
                .cmd("GET")
                .arg(&key[..]);
            let route = SingleNodeRoutingInfo::SpecificNode(Route::new(slot(key), addr));
            let mut replies = conn.route_pipeline(pipe, 1, 1, route).await?;
            let reply = replies.pop().unwrap_or(Value::Nil);
            if let Value::ServerError(e) = &reply {
                // MOVED or ASK inside the pipeline: do not keep what we cannot trust.
                if let Some(near) = &near {
                    near.flush(FlushReason::Topology);
                }
                return Err(redis::RedisError::from(e.clone()));
            }
            let v: Option<Vec<u8>> = redis::from_redis_value(reply)?;
            Ok((v.map(Bytes::from), ticket))
        })
        .await
    }

    /// Runs a keyed command.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        key: &[u8],
        cmd: redis::Cmd,
    ) -> Result<T, Error> {
        self.run(
            key,
            |mut conn| async move { cmd.query_async(&mut conn).await },
        )
        .await
    }

    /// A connection of its own to `key`'s primary, for a guarded fill.
    pub(crate) async fn fill_conn(&self, key: &[u8]) -> Option<crate::node::FillConn> {
        let (host, port) = self.primary_of(key)?;
        let addr = format!("{host}:{port}");
        if self.breaker_for(&addr).state(Instant::now()) != crate::breaker::BreakerState::Closed {
            return None;
        }
        let pool = {
            let mut fills = self.fills.lock();
            match fills.get(&addr) {
                Some(p) => p.clone(),
                None => {
                    let client = redis_client(&format!("redis://{addr}"), Protocol::Resp2).ok()?;
                    let p = Arc::new(FillPool::new(
                        client,
                        self.options.fill_connections,
                        &self.options,
                    ));
                    fills.insert(addr.clone(), p.clone());
                    p
                }
            }
        };
        pool.checkout(&addr).await
    }

    /// HOTKEYS from one primary.
    pub(crate) async fn hotkeys_of(
        &self,
        host: &str,
        port: u16,
        count: usize,
    ) -> Result<Value, Error> {
        let mut conn = self.conn.clone();
        let addr = format!("{host}:{port}");
        tokio::time::timeout(
            self.options.response_timeout,
            conn.route_command(
                redis::cmd("HOTKEYS").arg("COUNT").arg(count).clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.to_string(),
                    port,
                }),
            ),
        )
        .await
        .map_err(|_| Error::Timeout {
            node: addr.clone(),
            after: self.options.response_timeout,
        })?
        .map_err(|e| Error::from_redis(&addr, e))
    }
}

/// CLUSTER SLOTS → ranges with their primary.
fn parse_slots(v: &Value) -> Option<Vec<SlotRange>> {
    let Value::Array(rows) = v else { return None };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Value::Array(fields) = row else {
            return None;
        };
        let int = |v: &Value| match v {
            Value::Int(i) => Some(*i),
            _ => None,
        };
        let start = int(fields.first()?)? as u16;
        let end = int(fields.get(1)?)? as u16;
        let Value::Array(primary) = fields.get(2)? else {
            return None;
        };
        let host = match primary.first()? {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            Value::SimpleString(s) => s.clone(),
            _ => return None,
        };
        let port = int(primary.get(1)?)? as u16;
        out.push(SlotRange {
            start,
            end,
            primary: (host, port),
        });
    }
    Some(out)
}
