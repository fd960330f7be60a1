//! The cluster bus: node-to-node requests on the bus port (by default the client port
//! plus 10000, as Redis Cluster's).
//!
//! ```text
//! connection  handshake (both sides prove the cluster secret, see [`handshake`]),
//!             then requests and responses in turn
//! frame       length u32 LE | JSON body    (at most `cluster-bus-max-frame` bytes)
//! ```
//!
//! Carried: openraft's three RPCs, proposals forwarded to the leader, joins, and the
//! health pings every node sends every other node. JSON rather than a binary encoding:
//! openraft's types are tested with serde_json, the traffic is a few hundred small frames
//! a second, and a frame can be read in a packet capture.
//!
//! Nothing is read from a connection before its handshake, and a frame's announced length
//! is checked against the limit before anything is allocated for it. The accepting side
//! (the node's listener, `crate::node`) bounds connections, the handshake's time and idle
//! time: [`HANDSHAKE_TIMEOUT`], [`IDLE_TIMEOUT`], [`FRAME_TIMEOUT`].

pub mod handshake;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{Change, Node, NodeId};
use crate::raft::TypeConfig;
pub use handshake::{Credentials, Refusal};

/// The default `cluster-bus-max-frame`: a configuration snapshot chunk (1 MiB, see
/// `crate::node`) or a batch of log entries fits many times over.
pub const DEFAULT_MAX_FRAME: usize = 4 << 20;
/// A connection must complete its handshake within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// A proven connection that sends no request for this long is closed; clients open a new
/// one once theirs has been idle for half of it, so they never send on a closing one.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Once its length has arrived, a frame's body must arrive within this.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(30);

/// Who answers at a bus address.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Identity {
    pub name: String,
    pub port: u16,
    pub bus_port: u16,
    /// It belongs to a cluster already (its Raft has a membership).
    pub initialized: bool,
    /// Slots it claimed with ADDSLOTS while alone, for the cluster it joins to assign.
    #[serde(default)]
    pub claimed: Vec<(u16, u16)>,
}

/// What a node tells the others every ping interval.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Ping {
    pub from: NodeId,
    /// Its replication offset (a failover promotes the replica with the highest).
    pub offset: u64,
    /// A replica whose link to its current primary has completed a sync: only such a
    /// replica holds its primary's data and may be promoted.
    pub synced: bool,
    /// The nodes it has not heard from within the node timeout.
    pub suspects: Vec<NodeId>,
    /// The index of the last log entry it holds (appended, committed or not) that can take
    /// slots away from a primary: see `crate::health` on why a lease needs it.
    pub log_index: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Hello,
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// A configuration change, for the leader to commit.
    Propose(Change),
    /// Add this node to the cluster (to the leader), with the slots it claimed while
    /// alone.
    Join {
        node: Node,
        #[serde(default)]
        claimed: Vec<(u16, u16)>,
    },
    Ping(Ping),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    Hello(Identity),
    Append(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    Snapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Done(Result<(), String>),
    /// A proposal's outcome, with the log index it was committed at.
    Committed(Result<u64, String>),
    Pong(Ping),
}

pub async fn write_frame<T: Serialize>(s: &mut TcpStream, v: &T) -> std::io::Result<()> {
    let body = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    s.write_all(&out).await
}

/// Reads one frame of at most `max` bytes: the length is checked before the body is
/// allocated, and the body must follow within [`FRAME_TIMEOUT`].
pub async fn read_frame<T: for<'de> Deserialize<'de>>(
    s: &mut TcpStream,
    max: usize,
) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a bus frame of {len} bytes is over cluster-bus-max-frame ({max})"),
        ));
    }
    let mut body = vec![0u8; len];
    tokio::time::timeout(FRAME_TIMEOUT, s.read_exact(&mut body))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "a bus frame's body did not arrive in time",
            )
        })??;
    serde_json::from_slice(&body).map_err(std::io::Error::other)
}

/// Who this node is on the bus, what it proves with, and the frame limit; shared by every
/// client the node opens.
pub struct Local {
    pub credentials: Credentials,
    pub max_frame: std::sync::atomic::AtomicUsize,
}

impl Local {
    pub fn max_frame(&self) -> usize {
        self.max_frame.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A connection to one peer's bus, made (and proven) on first use and again after a
/// failure or a long idle. One request at a time: Raft replication holds clients of its own
/// (raft/network.rs); pings, forwarded proposals and joins share one per peer, so a call's
/// timeout also bounds its wait for the client.
pub struct Client {
    addr: String,
    local: Arc<Local>,
    conn: tokio::sync::Mutex<Option<(TcpStream, tokio::time::Instant)>>,
}

impl Client {
    pub fn new(addr: impl Into<String>, local: Arc<Local>) -> Client {
        Client {
            addr: addr.into(),
            local,
            conn: tokio::sync::Mutex::new(None),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `req` and waits for its response, within `timeout` in all, the wait for a
    /// call already in flight on this client included (a ping must not outlast its timeout
    /// behind a slow forwarded join).
    pub async fn call(&self, req: &Request, timeout: Duration) -> std::io::Result<Response> {
        let deadline = tokio::time::Instant::now() + timeout;
        let Ok(mut conn) = tokio::time::timeout_at(deadline, self.conn.lock()).await else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{} is busy with another call", self.addr),
            ));
        };
        let result = tokio::time::timeout_at(deadline, async {
            // The other side closes connections idle for IDLE_TIMEOUT: never send on one
            // that may be closing.
            if conn
                .as_ref()
                .is_some_and(|(_, used)| used.elapsed() > IDLE_TIMEOUT / 2)
            {
                *conn = None;
            }
            if conn.is_none() {
                let mut s = TcpStream::connect(&self.addr).await?;
                let _ = s.set_nodelay(true);
                handshake::offer(&mut s, &self.local.credentials)
                    .await
                    .map_err(|r| match r {
                        Refusal::Io(e) => e,
                        other => std::io::Error::new(
                            std::io::ErrorKind::PermissionDenied,
                            format!("the cluster bus at {} refused: {other}", self.addr),
                        ),
                    })?;
                *conn = Some((s, tokio::time::Instant::now()));
            }
            let (s, used) = conn.as_mut().expect("just connected");
            *used = tokio::time::Instant::now();
            write_frame(s, req).await?;
            read_frame::<Response>(s, self.local.max_frame()).await
        })
        .await;
        match result {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                *conn = None;
                Err(e)
            }
            Err(_) => {
                // The reply may still come: the connection is out of step, drop it.
                *conn = None;
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer from {} within {timeout:?}", self.addr),
                ))
            }
        }
    }
}

/// Asks the node at `addr` who it is.
pub async fn hello(
    addr: SocketAddr,
    local: Arc<Local>,
    timeout: Duration,
) -> std::io::Result<Identity> {
    match Client::new(addr.to_string(), local)
        .call(&Request::Hello, timeout)
        .await?
    {
        Response::Hello(id) => Ok(id),
        other => Err(std::io::Error::other(format!("unexpected reply {other:?}"))),
    }
}
