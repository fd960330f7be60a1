//! RESP2 invalidations: a RESP2 connection cannot carry pushes, so each node gets one extra
//! connection subscribed to `__redis__:invalidate`, and every data connection turns tracking
//! on with `REDIRECT <that connection's id>`.
//!
//! The subscriber's loss is the dangerous moment: the server keeps redirecting to an id that
//! is gone, and every invalidation is silently lost. So when it drops (its stream ends, or a
//! PING gets no answer within the response timeout) the near cache is flushed and stays
//! unfillable until a new subscriber is up; the data connections pointed at the old one are
//! then dropped so they reconnect pointed at the new one (a generation number tells them
//! apart).

use futures_util::StreamExt;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::near::{FlushReason, NearCache};

const CHANNEL: &str = "__redis__:invalidate";

/// The node a subscriber serves, as far as the subscriber needs it: alive while it can be
/// upgraded, and told to drop its data connections when the redirect target changes.
pub(crate) trait Redirected: Send + Sync {
    fn drop_connections(&self);
}

/// A node's redirect target.
pub(crate) struct Redirect {
    client: redis::Client,
    /// The subscriber's client id and generation, while it is up.
    target: RwLock<Option<(i64, u64)>>,
    generation: AtomicU64,
    /// Woken whenever a subscriber comes up.
    raised: tokio::sync::Notify,
}

impl Redirect {
    pub(crate) fn new(client: redis::Client) -> Redirect {
        Redirect {
            client,
            target: RwLock::new(None),
            generation: AtomicU64::new(0),
            raised: tokio::sync::Notify::new(),
        }
    }

    /// The current target, if the subscriber is up.
    pub(crate) fn target(&self) -> Option<(i64, u64)> {
        *self.target.read()
    }

    /// Resolves once a subscriber is up (at once if one is).
    pub(crate) async fn up(&self) {
        loop {
            let notified = self.raised.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.target().is_some() {
                return;
            }
            notified.await;
        }
    }

    /// Connects, learns the connection's id, and subscribes.
    async fn open(&self, timeout: Duration) -> Result<(i64, redis::aio::PubSub), String> {
        let info = self.client.get_connection_info();
        let (host, port) = match info.addr() {
            redis::ConnectionAddr::Tcp(h, p) => (h.clone(), *p),
            other => return Err(format!("unsupported address {other:?}")),
        };
        let connect = tokio::net::TcpStream::connect((host.as_str(), port));
        let mut stream = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        // The id must be asked before SUBSCRIBE (a RESP2 subscriber may send nothing else),
        // and after AUTH when there is a password.
        if let Some(pw) = info.redis_settings().password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = info.redis_settings().username() {
                auth.arg(user);
            }
            auth.arg(pw);
            let line = exchange(&mut stream, &auth.get_packed_command(), timeout).await?;
            if !line.starts_with('+') {
                return Err(format!("AUTH: {line}"));
            }
        }
        let line = exchange(
            &mut stream,
            &redis::cmd("CLIENT").arg("ID").get_packed_command(),
            timeout,
        )
        .await?;
        let id: i64 = line
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("CLIENT ID: {line}"))?;
        let mut pubsub = tokio::time::timeout(
            timeout,
            redis::aio::PubSub::new(info.redis_settings(), stream),
        )
        .await
        .map_err(|_| "setup timed out".to_string())?
        .map_err(|e| e.to_string())?;
        tokio::time::timeout(timeout, pubsub.subscribe(CHANNEL))
            .await
            .map_err(|_| "SUBSCRIBE timed out".to_string())?
            .map_err(|e| e.to_string())?;
        Ok((id, pubsub))
    }

    /// Keeps a subscriber up for as long as the node exists.
    pub(crate) async fn keep(
        self: Arc<Self>,
        node: Weak<dyn Redirected>,
        near: Arc<NearCache>,
        backoff: crate::jitter::Backoff,
        timeout: Duration,
        ping_every: Duration,
    ) {
        let mut failures = 0u32;
        loop {
            if node.upgrade().is_none() {
                return;
            }
            let (id, pubsub) = match self.open(timeout).await {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "invalidation subscriber: connect failed");
                    tokio::time::sleep(backoff.delay(failures)).await;
                    failures = failures.saturating_add(1);
                    continue;
                }
            };
            failures = 0;
            let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
            *self.target.write() = Some((id, generation));
            if let Some(n) = node.upgrade() {
                n.drop_connections();
            }
            self.raised.notify_waiters();
            let (mut sink, mut messages) = pubsub.split();
            let mut tick = tokio::time::interval(ping_every);
            tick.tick().await;
            loop {
                tokio::select! {
                    msg = messages.next() => match msg {
                        Some(msg) => {
                            if msg.get_channel_name() == CHANNEL {
                                match msg.get_payload::<redis::Value>() {
                                    Ok(v) => near.apply_invalidation(&v),
                                    Err(_) => near.flush(FlushReason::ConnectionLost),
                                }
                            }
                        }
                        None => break,
                    },
                    _ = tick.tick() => {
                        if node.upgrade().is_none() {
                            return;
                        }
                        let ping = sink.ping::<redis::Value>();
                        if !matches!(tokio::time::timeout(timeout, ping).await, Ok(Ok(_))) {
                            break;
                        }
                    }
                }
            }
            // Lost: nothing we hold is known to be current any more.
            *self.target.write() = None;
            near.flush(FlushReason::ConnectionLost);
            tracing::warn!("invalidation subscriber lost; near cache flushed, reconnecting");
        }
    }
}

/// Sends one packed command on a raw stream and reads one reply line (no CRLF).
async fn exchange(
    stream: &mut tokio::net::TcpStream,
    packed: &[u8],
    timeout: Duration,
) -> Result<String, String> {
    let io = async {
        stream.write_all(packed).await?;
        let mut line = Vec::new();
        loop {
            let b = stream.read_u8().await?;
            if b == b'\n' && line.last() == Some(&b'\r') {
                line.pop();
                return Ok::<_, std::io::Error>(String::from_utf8_lossy(&line).into_owned());
            }
            line.push(b);
        }
    };
    tokio::time::timeout(timeout, io)
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())
}
