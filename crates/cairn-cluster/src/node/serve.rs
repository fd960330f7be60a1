//! The bus's accepting side: who may connect, for how long, and what each proven peer may
//! ask.
//!
//! A connection first proves the cluster secret ([`crate::bus::handshake`]) within
//! [`HANDSHAKE_TIMEOUT`]; at most [`MAX_HANDSHAKES`] connections are at that stage at once
//! and at most [`MAX_CONNECTIONS`] are open, so neither slow strangers nor a flood of
//! connections holds the node's memory or sockets. Then each request is judged by who
//! sent it: Raft's RPCs and proposals only from members of the configuration (or anyone
//! proven, while this node belongs to no cluster yet and must be able to be brought into
//! one), a join only for the node that sends it. Refusals are logged (at most one line a
//! second) and counted for INFO.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

use super::ClusterNode;
use crate::bus::{self, HANDSHAKE_TIMEOUT, IDLE_TIMEOUT, Identity, Request, Response, handshake};
use crate::config::{NodeId, id_of};

/// Connections that have not completed their handshake, at most, at one time.
pub const MAX_HANDSHAKES: usize = 64;
/// Bus connections open at most (proven ones included): each peer holds a few.
pub const MAX_CONNECTIONS: usize = 4096;

/// What the bus refused since start (INFO: `cairn_bus_*`), and the log's rate limit.
#[derive(Default)]
pub struct Refusals {
    /// Connections closed at once: too many open, or too many handshakes at once.
    pub connections: AtomicU64,
    /// Handshakes that failed: a wrong or missing secret, not a bus hello, too slow.
    pub handshakes: AtomicU64,
    /// Requests from a proven peer that may not make them (not a member).
    pub requests: AtomicU64,
    /// Open connections, and those still in their handshake.
    open: AtomicUsize,
    pending: AtomicUsize,
    /// When a refusal was last logged (ms since the node started), and how many were not.
    logged_at: AtomicU64,
    unlogged: AtomicU64,
}

/// Decrements a counter when the connection (or its handshake) ends.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Takes one of `max` places in `count` (given back by a [`Slot`]), or says it is full.
fn take(count: &AtomicUsize, max: usize) -> bool {
    count
        .fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1))
        .is_ok()
}

impl ClusterNode {
    /// Logs a refusal, at most one line a second (a flood must not flood the log too).
    fn log_refusal(&self, what: std::fmt::Arguments<'_>) {
        let r = &self.refusals;
        let now = self.epoch.elapsed().as_millis() as u64;
        let last = r.logged_at.load(Relaxed);
        if now.saturating_sub(last) >= 1000
            && r.logged_at
                .compare_exchange(last, now.max(1), Relaxed, Relaxed)
                .is_ok()
        {
            let more = r.unlogged.swap(0, Relaxed);
            if more > 0 {
                tracing::warn!("cluster bus: {what} ({more} more refusals not logged)");
            } else {
                tracing::warn!("cluster bus: {what}");
            }
        } else {
            r.unlogged.fetch_add(1, Relaxed);
        }
    }

    pub(super) async fn serve_bus(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, from)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let r = &self.refusals;
            if !take(&r.open, MAX_CONNECTIONS) {
                r.connections.fetch_add(1, Relaxed);
                self.log_refusal(format_args!(
                    "refused a connection from {from}: {MAX_CONNECTIONS} bus connections are open"
                ));
                continue;
            }
            if !take(&r.pending, MAX_HANDSHAKES) {
                drop(Slot(&r.open));
                r.connections.fetch_add(1, Relaxed);
                self.log_refusal(format_args!(
                    "refused a connection from {from}: {MAX_HANDSHAKES} handshakes in progress"
                ));
                continue;
            }
            // serve_peer gives both places back.
            let _ = stream.set_nodelay(true);
            tokio::spawn(self.clone().serve_peer(stream, from));
        }
    }

    async fn serve_peer(self: Arc<Self>, mut stream: TcpStream, from: SocketAddr) {
        let r = &self.refusals;
        let _open = Slot(&r.open);
        let pending = Slot(&r.pending);
        let proven = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            handshake::accept(&mut stream, &self.local.credentials),
        )
        .await;
        drop(pending);
        let peer = match proven {
            Ok(Ok(name)) => name,
            Ok(Err(why)) => {
                r.handshakes.fetch_add(1, Relaxed);
                self.log_refusal(format_args!("refused {from}: {why}"));
                return;
            }
            Err(_) => {
                r.handshakes.fetch_add(1, Relaxed);
                self.log_refusal(format_args!(
                    "refused {from}: no handshake within {HANDSHAKE_TIMEOUT:?}"
                ));
                return;
            }
        };
        let Some(peer_id) = id_of(&peer) else {
            return;
        };
        loop {
            let read = tokio::time::timeout(
                IDLE_TIMEOUT,
                bus::read_frame::<Request>(&mut stream, self.local.max_frame()),
            )
            .await;
            let req = match read {
                Ok(Ok(req)) => req,
                Ok(Err(e)) => {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        r.requests.fetch_add(1, Relaxed);
                        self.log_refusal(format_args!("closed {from} (node {peer}): {e}"));
                    }
                    return;
                }
                // Idle for IDLE_TIMEOUT (`bus::FRAME_TIMEOUT` bounds a body once begun).
                Err(_) => return,
            };
            if let Err(why) = self.may_ask(peer_id, &peer, &req) {
                r.requests.fetch_add(1, Relaxed);
                self.log_refusal(format_args!("refused a request from {from}: {why}"));
                let refused = match req {
                    Request::Propose(_) => Response::Committed(Err(format!("ERR {why}"))),
                    Request::Join { .. } => Response::Done(Err(format!("ERR {why}"))),
                    // Raft's RPCs get no answer they could take for the callee's.
                    _ => return,
                };
                if bus::write_frame(&mut stream, &refused).await.is_err() {
                    return;
                }
                continue;
            }
            let resp = self.handle(req).await;
            if bus::write_frame(&mut stream, &resp).await.is_err() {
                return;
            }
        }
    }

    /// Whether the proven peer `id` (named `name`) may make `req`.
    fn may_ask(&self, id: NodeId, name: &str, req: &Request) -> Result<(), String> {
        match req {
            Request::Hello | Request::Ping(_) => Ok(()),
            Request::Join { node, .. } if node.name != name => Err(format!(
                "node {name} asked to join as another node ({})",
                node.name
            )),
            Request::Join { .. } => Ok(()),
            Request::Append(_) | Request::Vote(_) | Request::Snapshot(_) | Request::Propose(_) => {
                if !self.is_initialized() || self.is_member(id) {
                    Ok(())
                } else {
                    Err(format!(
                        "node {name} is not a member of this cluster's configuration"
                    ))
                }
            }
        }
    }

    /// Whether `id` is in the committed configuration or in Raft's membership (a node is
    /// added to the configuration before it becomes a Raft learner, and leaves Raft first).
    fn is_member(&self, id: NodeId) -> bool {
        self.config().node(id).is_some() || {
            let m = self.raft.metrics().borrow().membership_config.clone();
            m.membership().get_node(&id).is_some()
        }
    }

    async fn handle(self: &Arc<Self>, req: Request) -> Response {
        match req {
            Request::Hello => Response::Hello(Identity {
                name: self.name.clone(),
                port: self.opts.port,
                bus_port: self.opts.bus_port,
                initialized: self.is_initialized(),
                claimed: self.claimed(),
            }),
            Request::Append(r) => Response::Append(self.raft.append_entries(r).await),
            Request::Vote(r) => Response::Vote(self.raft.vote(r).await),
            Request::Snapshot(r) => Response::Snapshot(self.raft.install_snapshot(r).await),
            Request::Propose(change) => Response::Committed(self.clone().propose_at(change).await),
            Request::Join { node, claimed } => {
                Response::Done(self.clone().join_here(node, claimed).await)
            }
            Request::Ping(p) => {
                self.health.lock().report(Instant::now(), &p);
                Response::Pong(self.ping_payload())
            }
        }
    }
}

/// What INFO shows of the bus.
#[derive(Clone, Copy, Debug, Default)]
pub struct BusStats {
    pub connections: usize,
    pub refused_connections: u64,
    pub refused_handshakes: u64,
    pub refused_requests: u64,
}

impl ClusterNode {
    pub fn bus_stats(&self) -> BusStats {
        let r = &self.refusals;
        BusStats {
            connections: r.open.load(Relaxed),
            refused_connections: r.connections.load(Relaxed),
            refused_handshakes: r.handshakes.load(Relaxed),
            refused_requests: r.requests.load(Relaxed),
        }
    }
}
