//! One cache node of a standalone or sharded topology: a few multiplexed connections
//! (redis-rs pipelines every concurrent request on each), reconnection with jittered
//! backoff coalesced to one attempt per connection at a time, a timeout on every call, a
//! circuit breaker, tracking set up on every new connection, and a small pool of
//! connections kept for guarded fills (WATCH needs a connection to itself).
//!
//! ```text
//!   callers ──▶ Node::run ──▶ breaker.admit ──▶ ConnSlot (round robin) ──▶ redis-rs
//!                                 │                 │ none? one task reconnects,
//!                                 │                 │ the others wait for it
//!                                 ▼                 ▼
//!                           NodeDown error    CLIENT TRACKING ON ... OPTIN
//! ```

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::breaker::{Admission, Breaker, Transition};
use crate::error::Error;
use crate::metrics as m;
use crate::near::{FlushReason, NearCache, Ticket};
use crate::options::{ClientOptions, Protocol};
use crate::redirect::Redirect;

/// A connection in service, with what its reads promise about invalidations.
#[derive(Clone)]
pub(crate) struct Live {
    pub(crate) conn: MultiplexedConnection,
    /// Distinguishes it from the connection that replaces it.
    id: u64,
    /// Its reads are tracked: in RESP3 always (with a near cache), in RESP2 while the
    /// redirect target it was pointed at is still the node's current one.
    tracked: bool,
    /// The RESP2 redirect generation it was pointed at.
    redirect_gen: u64,
}

/// One connection position: the live connection, if any, and the reconnection state.
struct ConnSlot {
    current: RwLock<Option<Live>>,
    /// Held by the one task that reconnects; the others wait on it, then use its result.
    connecting: tokio::sync::Mutex<Retry>,
}

struct Retry {
    failures: u32,
    next_try: Option<Instant>,
}

impl ConnSlot {
    fn new() -> ConnSlot {
        ConnSlot {
            current: RwLock::new(None),
            connecting: tokio::sync::Mutex::new(Retry {
                failures: 0,
                next_try: None,
            }),
        }
    }

    /// Forgets connection `id` if it is still the current one.
    fn discard(&self, id: u64) -> bool {
        let mut cur = self.current.write();
        if cur.as_ref().is_some_and(|l| l.id == id) {
            *cur = None;
            true
        } else {
            false
        }
    }
}

/// Receives a RESP3 connection's pushes inside redis-rs's read loop, so an invalidation is
/// applied before any reply read after it is handed to its caller.
struct PushSink {
    near: Option<Arc<NearCache>>,
    slot: Weak<ConnSlot>,
    conn_id: u64,
}

impl redis::aio::AsyncPushSender for PushSink {
    fn send(&self, info: PushInfo) -> Result<(), redis::aio::SendError> {
        match info.kind {
            PushKind::Invalidate => {
                if let Some(near) = &self.near {
                    match info.data.first() {
                        Some(payload) => near.apply_invalidation(payload),
                        None => near.flush(FlushReason::ConnectionLost),
                    }
                }
            }
            PushKind::Disconnection => {
                if let Some(slot) = self.slot.upgrade() {
                    slot.discard(self.conn_id);
                }
                // Whatever it tracked is tracked no more.
                if let Some(near) = &self.near {
                    near.flush(FlushReason::ConnectionLost);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Exclusive connections for guarded fills.
pub(crate) struct FillPool {
    client: redis::Client,
    idle: Mutex<Vec<MultiplexedConnection>>,
    permits: Arc<tokio::sync::Semaphore>,
    connect_timeout: Duration,
    response_timeout: Duration,
}

/// A fill connection on loan; goes back to the pool on drop unless it failed.
pub(crate) struct FillConn {
    pub(crate) conn: MultiplexedConnection,
    pool: Arc<FillPool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
    pub(crate) healthy: bool,
    pub(crate) node: String,
    pub(crate) response_timeout: Duration,
}

impl Drop for FillConn {
    fn drop(&mut self) {
        if self.healthy {
            self.pool.idle.lock().push(self.conn.clone());
        }
    }
}

impl FillPool {
    pub(crate) fn new(client: redis::Client, size: usize, options: &ClientOptions) -> FillPool {
        FillPool {
            client,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(size)),
            connect_timeout: options.connect_timeout,
            response_timeout: options.response_timeout,
        }
    }

    /// A connection of its own, or `None` when all are lent out or none can be made (the
    /// caller then loads without filling, which is always safe).
    pub(crate) async fn checkout(self: &Arc<Self>, node: &str) -> Option<FillConn> {
        // Wait a little for a free one: under a burst of misses on different keys, waiting
        // beats loading without filling (which leaves the next read to miss again).
        let permit =
            tokio::time::timeout(self.response_timeout, self.permits.clone().acquire_owned())
                .await
                .ok()?
                .ok()?;
        let idle = self.idle.lock().pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let cfg = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(self.response_timeout));
                tokio::time::timeout(
                    self.connect_timeout,
                    self.client
                        .get_multiplexed_async_connection_with_config(&cfg),
                )
                .await
                .ok()?
                .ok()?
            }
        };
        Some(FillConn {
            conn,
            pool: self.clone(),
            _permit: permit,
            healthy: true,
            node: node.to_string(),
            response_timeout: self.response_timeout,
        })
    }
}

/// A node: its connections, breaker and tracking state.
pub(crate) struct Node {
    /// `host:port`, the name in errors, metrics and on the ring.
    pub(crate) addr: String,
    client: redis::Client,
    slots: Box<[Arc<ConnSlot>]>,
    next: AtomicUsize,
    next_conn_id: AtomicU64,
    pub(crate) breaker: Breaker,
    options: ClientOptions,
    near: Option<Arc<NearCache>>,
    /// RESP2 with a near cache: the connection that receives this node's invalidations.
    pub(crate) redirect: Option<Arc<Redirect>>,
    pub(crate) fills: Arc<FillPool>,
    /// Set once the node answered HOTKEYS with an unknown-command error (not Cairn).
    pub(crate) no_hotkeys: std::sync::atomic::AtomicBool,
}

/// `host` and `port` of a redis URL.
pub(crate) fn host_port(url: &str) -> Result<(String, u16), Error> {
    let info = url
        .into_connection_info()
        .map_err(|e| Error::Config(format!("{url}: {e}")))?;
    match info.addr() {
        redis::ConnectionAddr::Tcp(host, port) => Ok((host.clone(), *port)),
        other => Err(Error::Config(format!(
            "{url}: only plain TCP nodes are supported, not {other:?}"
        ))),
    }
}

/// A redis-rs client for `url` speaking `protocol`.
pub(crate) fn redis_client(url: &str, protocol: Protocol) -> Result<redis::Client, Error> {
    let info = url
        .into_connection_info()
        .map_err(|e| Error::Config(format!("{url}: {e}")))?;
    let settings = info.redis_settings().clone().set_protocol(match protocol {
        Protocol::Resp2 => ProtocolVersion::RESP2,
        Protocol::Resp3 => ProtocolVersion::RESP3,
    });
    let info = info.set_redis_settings(settings);
    redis::Client::open(info).map_err(|e| Error::Config(format!("{url}: {e}")))
}

/// Exports a breaker transition.
pub(crate) fn report_transition(node: &str, t: Option<Transition>) {
    if let Some(t) = t {
        metrics::gauge!(m::BREAKER_STATE, "node" => node.to_string()).set(t.to.as_gauge());
        tracing::warn!(node, from = ?t.from, to = ?t.to, "cache node circuit breaker");
    }
}

/// Counts an error in metrics under its node and kind.
pub(crate) fn count_error(node: &str, e: &Error) {
    let kind = match e {
        Error::NodeDown { .. } => "node_down",
        Error::Timeout { .. } => "timeout",
        Error::Transport { .. } => "transport",
        Error::Server { .. } => "server",
        Error::Reply { .. } => "reply",
        _ => "other",
    };
    metrics::counter!(m::ERRORS, "node" => node.to_string(), "kind" => kind).increment(1);
}

impl Node {
    pub(crate) fn new(
        url: &str,
        options: &ClientOptions,
        near: Option<Arc<NearCache>>,
    ) -> Result<Arc<Node>, Error> {
        let (host, port) = host_port(url)?;
        let client = redis_client(url, options.protocol)?;
        let fill_client = redis_client(url, Protocol::Resp2)?;
        let redirect = (near.is_some() && options.protocol == Protocol::Resp2)
            .then(|| Arc::new(Redirect::new(fill_client.clone())));
        let addr = format!("{host}:{port}");
        metrics::gauge!(m::BREAKER_STATE, "node" => addr.clone()).set(0.0);
        Ok(Arc::new(Node {
            addr,
            client,
            slots: (0..options.connections_per_node.max(1))
                .map(|_| Arc::new(ConnSlot::new()))
                .collect(),
            next: AtomicUsize::new(0),
            next_conn_id: AtomicU64::new(0),
            breaker: Breaker::new(options.breaker.clone()),
            options: options.clone(),
            fills: Arc::new(FillPool::new(
                fill_client,
                options.fill_connections,
                options,
            )),
            near,
            redirect,
            no_hotkeys: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Makes a connection for `slot`, with tracking set up if a near cache is kept.
    async fn connect(&self, slot: &Arc<ConnSlot>) -> Result<Live, Error> {
        let id = self.next_conn_id.fetch_add(1, Ordering::Relaxed);
        let mut cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.connect_timeout))
            .set_response_timeout(Some(self.options.response_timeout));
        let resp3 = self.options.protocol == Protocol::Resp3;
        if resp3 {
            cfg = cfg.set_push_sender(PushSink {
                near: self.near.clone(),
                slot: Arc::downgrade(slot),
                conn_id: id,
            });
            if self.near.is_some() {
                // redis-rs sends CLIENT TRACKING ON OPTIN in the connection's handshake, so
                // no connection ever serves a read untracked.
                cfg = cfg.set_cache_config(
                    redis::caching::CacheConfig::new().set_mode(redis::caching::CacheMode::OptIn),
                );
            }
        }
        let fut = self
            .client
            .get_multiplexed_async_connection_with_config(&cfg);
        let mut conn = match tokio::time::timeout(self.options.connect_timeout, fut).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(Error::from_redis(&self.addr, e)),
            Err(_) => {
                return Err(Error::Timeout {
                    node: self.addr.clone(),
                    after: self.options.connect_timeout,
                });
            }
        };
        let (mut tracked, mut redirect_gen) = (self.near.is_some() && resp3, 0);
        if let Some(redirect) = &self.redirect
            && let Some((client_id, generation)) = redirect.target()
        {
            let on: redis::RedisResult<()> = redis::cmd("CLIENT")
                .arg("TRACKING")
                .arg("ON")
                .arg("REDIRECT")
                .arg(client_id)
                .arg("OPTIN")
                .query_async(&mut conn)
                .await;
            on.map_err(|e| Error::from_redis(&self.addr, e))?;
            tracked = true;
            redirect_gen = generation;
        }
        Ok(Live {
            conn,
            id,
            tracked,
            redirect_gen,
        })
    }

    /// The connection for the next call, connecting if the slot has none. Concurrent
    /// callers on one slot share one attempt; after a failure the slot fails fast until its
    /// jittered backoff has passed.
    async fn live(&self) -> Result<(Live, Arc<ConnSlot>), Error> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let slot = &self.slots[i];
        if let Some(l) = slot.current.read().clone() {
            return Ok((l, slot.clone()));
        }
        let mut retry = slot.connecting.lock().await;
        if let Some(l) = slot.current.read().clone() {
            return Ok((l, slot.clone()));
        }
        if let Some(at) = retry.next_try
            && Instant::now() < at
        {
            return Err(Error::Transport {
                node: self.addr.clone(),
                source: Arc::new(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "reconnecting: waiting out the backoff",
                ))),
            });
        }
        match self.connect(slot).await {
            Ok(l) => {
                retry.failures = 0;
                retry.next_try = None;
                *slot.current.write() = Some(l.clone());
                Ok((l, slot.clone()))
            }
            Err(e) => {
                let wait = self.options.reconnect_backoff.delay(retry.failures);
                retry.failures = retry.failures.saturating_add(1);
                retry.next_try = Some(Instant::now() + wait);
                Err(e)
            }
        }
    }

    /// Whether reads on `live` are tracked right now.
    fn tracking_holds(&self, live: &Live) -> bool {
        if !live.tracked {
            return false;
        }
        match &self.redirect {
            Some(r) => r.target().is_some_and(|(_, g)| g == live.redirect_gen),
            None => true,
        }
    }

    /// Runs one call through the breaker with the response timeout. `work` gets the
    /// connection and, for a key the near cache may keep, the ticket taken before sending.
    pub(crate) async fn run<T, F, Fut>(&self, near_key: Option<&[u8]>, work: F) -> Result<T, Error>
    where
        F: FnOnce(MultiplexedConnection, Option<Ticket>) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let admission = self.breaker.admit(Instant::now());
        if admission == Admission::Rejected {
            let e = Error::NodeDown {
                node: self.addr.clone(),
            };
            count_error(&self.addr, &e);
            return Err(e);
        }
        let (live, slot) = match self.live().await {
            Ok(x) => x,
            Err(e) => {
                self.failed(&e);
                return Err(e);
            }
        };
        let ticket = match (near_key, &self.near) {
            (Some(k), Some(near)) if self.tracking_holds(&live) => Some(near.ticket(k)),
            _ => None,
        };
        let timeout = self.options.response_timeout;
        match tokio::time::timeout(timeout, work(live.conn.clone(), ticket)).await {
            Ok(Ok(v)) => {
                report_transition(&self.addr, self.breaker.on_success());
                Ok(v)
            }
            Ok(Err(e)) => {
                let dead = e.is_unrecoverable_error() || e.is_connection_dropped();
                let err = Error::from_redis(&self.addr, e);
                if err.is_node_failure() {
                    self.failed(&err);
                    if dead && slot.discard(live.id) {
                        // RESP2 gives no disconnect notice: whatever this connection tracked
                        // is lost, so L1 goes too.
                        if let Some(near) = &self.near {
                            near.flush(FlushReason::ConnectionLost);
                        }
                    }
                } else {
                    count_error(&self.addr, &err);
                    report_transition(&self.addr, self.breaker.on_success());
                }
                Err(err)
            }
            Err(_) => {
                let err = Error::Timeout {
                    node: self.addr.clone(),
                    after: timeout,
                };
                self.failed(&err);
                Err(err)
            }
        }
    }

    fn failed(&self, e: &Error) {
        count_error(&self.addr, e);
        report_transition(&self.addr, self.breaker.on_failure(Instant::now()));
    }

    /// RESP2 health check: pings each live data connection so a dead one (which took its
    /// tracking with it, silently) is found and L1 flushed.
    pub(crate) async fn ping_connections(&self) {
        for s in self.slots.iter() {
            let live = s.current.read().clone();
            if let Some(mut l) = live {
                let cmd = redis::cmd("PING");
                let ping = cmd.query_async::<()>(&mut l.conn);
                let ok = matches!(
                    tokio::time::timeout(self.options.response_timeout, ping).await,
                    Ok(Ok(()))
                );
                if !ok
                    && s.discard(l.id)
                    && let Some(near) = &self.near
                {
                    near.flush(FlushReason::ConnectionLost);
                }
            }
        }
    }

    /// GET, tracked (CLIENT CACHING YES first) when `track`; returns the value and, when
    /// the read was tracked, the ticket to insert it into L1 with.
    pub(crate) async fn get(
        &self,
        key: &Bytes,
        track: bool,
    ) -> Result<(Option<Bytes>, Option<Ticket>), Error> {
        let near_key = track.then_some(&key[..]);
        self.run(near_key, |mut conn, ticket| async move {
            match ticket {
                Some(t) => {
                    let (v,): (Option<Vec<u8>>,) = redis::pipe()
                        .cmd("CLIENT")
                        .arg("CACHING")
                        .arg("YES")
                        .ignore()
                        .cmd("GET")
                        .arg(&key[..])
                        .query_async(&mut conn)
                        .await?;
                    Ok((v.map(Bytes::from), Some(t)))
                }
                None => {
                    let v: Option<Vec<u8>> = redis::cmd("GET")
                        .arg(&key[..])
                        .query_async(&mut conn)
                        .await?;
                    Ok((v.map(Bytes::from), None))
                }
            }
        })
        .await
    }

    /// Runs a command whose reply converts to `T`.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: redis::Cmd,
    ) -> Result<T, Error> {
        self.run(None, |mut conn, _| async move {
            cmd.query_async(&mut conn).await
        })
        .await
    }
}

impl crate::redirect::Redirected for Node {
    /// Drops every data connection (they reconnect on next use); used when the RESP2
    /// redirect target changed, so new connections point at the new one.
    fn drop_connections(&self) {
        for s in self.slots.iter() {
            *s.current.write() = None;
        }
    }
}
