//! A cluster node: its Raft instance, its bus, its pings, and the configuration it
//! serves from.
//!
//! Everything here runs on a runtime of its own (one thread), so heartbeats, pings and
//! verdicts are not delayed by a busy data plane. The server holds the [`ClusterNode`]
//! and reads [`ClusterNode::config`] (an `ArcSwap`, one atomic load) for every routed
//! command, [`ClusterNode::writable_at`] before writes, and waits on
//! [`ClusterNode::subscribe`] to follow role changes.
//!
//! - [`serve`]: the bus's accepting side: the handshake, limits, who may ask what.
//! - [`voters`]: which nodes vote, kept to the live ones as nodes fail and return.

mod serve;
mod voters;

pub use serve::{BusStats, MAX_CONNECTIONS, MAX_HANDSHAKES};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use openraft::{BasicNode, ChangeMembers};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::bus::{self, Client, Credentials, Local, Ping, Request, Response};
use crate::config::{Change, Config, Node, NodeId, Role, id_of, to_ranges};
use crate::health::Health;
use crate::raft::{self, Raft, log::LogStore, network::Network, state::StateMachine};

/// What the cluster needs to know about the server it runs in.
pub trait Host: Send + Sync + 'static {
    /// This node's replication offset (the failover picks the replica holding the most).
    fn repl_offset(&self) -> u64;
    /// Whether this node, as a replica, has completed a sync with its current primary.
    fn synced(&self) -> bool;
}

/// How a node is set up (from `cluster-*` settings).
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the node id, the Raft log and the snapshot live.
    pub dir: PathBuf,
    /// The address other nodes and clients reach this node at.
    pub host: String,
    pub port: u16,
    pub bus_port: u16,
    /// Addresses the bus listens on.
    pub bus_bind: Vec<String>,
    /// `cluster-node-timeout`.
    pub node_timeout: Duration,
    /// `cluster-secret`: what every bus connection proves (`crate::bus::handshake`).
    /// `None`: the one kept in `dir/secret` from a run-time change, if any.
    pub secret: Option<Vec<u8>>,
    /// `cluster-bus-max-frame`.
    pub max_frame: usize,
}

pub struct ClusterNode {
    pub me: NodeId,
    pub name: String,
    opts: Options,
    raft: Raft,
    log: LogStore,
    config: Arc<ArcSwap<Config>>,
    /// Bumped for every configuration applied.
    version: watch::Sender<u64>,
    health: Mutex<Health>,
    /// Bus clients for pings and forwarded requests, by node.
    peers: Mutex<HashMap<NodeId, Arc<Client>>>,
    writable: AtomicBool,
    /// Until when writes may be acknowledged, in ms since `epoch` (u64::MAX: no limit);
    /// checked against the data plane's own clock reading, so a node that was frozen
    /// (SIGSTOP) refuses writes the moment it runs again, before any ping round.
    writable_until: AtomicU64,
    epoch: Instant,
    host: Arc<dyn Host>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    /// This node's name and secret for the bus, shared by every client it opens.
    local: Arc<Local>,
    /// What the bus refused (INFO), and its connection counts.
    refusals: serve::Refusals,
    /// Held across every Raft membership change (a join's new learner, the voters'
    /// upkeep, a removal): openraft refuses a change while another is in progress.
    membership: tokio::sync::Mutex<()>,
    /// Slots claimed with CLUSTER ADDSLOTS while this node belongs to no cluster (as
    /// `redis-cli --cluster create` does before the nodes meet): assigned to it by the
    /// change that brings it into a cluster. Meaningless once it is in one.
    claimed: Mutex<BTreeSet<u16>>,
}

fn new_name() -> String {
    (0..40)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).expect("hex digit"))
        .collect::<String>()
        .chars()
        .enumerate()
        // Never all zeros in the id part (0 means "no node").
        .map(|(i, c)| if i == 0 && c == '0' { '1' } else { c })
        .collect()
}

/// The secret a run-time `CONFIG SET cluster-secret` left in `dir/secret`.
fn load_secret(dir: &std::path::Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(dir.join("secret")) {
        Ok(s) => {
            let s = s.trim_ascii().to_vec();
            Ok((!s.is_empty()).then_some(s))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Keeps `secret` in `dir/secret` (readable by the owner only), or removes it.
fn store_secret(dir: &std::path::Path, secret: Option<&[u8]>) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("secret");
    let Some(secret) = secret else {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(secret)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)
}

/// Reads this node's name from `dir/myid`, making one on first start.
fn load_name(dir: &std::path::Path) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("myid");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_string();
        if id_of(&s).is_some() {
            return Ok(s);
        }
    }
    let name = new_name();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &name)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(name)
}

impl ClusterNode {
    /// Starts the node on a runtime of its own: loads what was committed, opens the bus,
    /// starts pinging.
    pub async fn start(opts: Options, host: Arc<dyn Host>) -> std::io::Result<Arc<ClusterNode>> {
        // One worker thread of its own: heartbeats and pings are not delayed by a busy
        // data plane, and the node never needs anyone to drive its runtime.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("cairn-cluster")
            .build()?;
        let name = load_name(&opts.dir)?;
        let me = id_of(&name).expect("a valid name");
        let secret = match opts.secret.clone() {
            Some(s) => Some(s),
            None => load_secret(&opts.dir)?,
        };
        if secret.is_none() {
            tracing::warn!(
                "no cluster-secret: this node refuses every cluster bus connection until one is set (CONFIG SET cluster-secret, or `cairn cluster create` installs one)"
            );
        }
        let local = Arc::new(Local {
            credentials: Credentials::new(name.clone(), secret),
            max_frame: opts.max_frame.into(),
        });
        let config = Arc::new(ArcSwap::from_pointee(Config::default()));
        let (version, _) = watch::channel(0u64);
        let publish = {
            let config = config.clone();
            let version = version.clone();
            Arc::new(move |c: Arc<Config>| {
                config.store(c);
                version.send_modify(|v| *v += 1);
            }) as raft::state::Publish
        };
        let log = LogStore::open(&opts.dir)?;
        let sm = StateMachine::open(&opts.dir, publish)?;
        let raft_config = openraft::Config {
            cluster_name: "cairn".into(),
            heartbeat_interval: 50,
            election_timeout_min: 250,
            election_timeout_max: 500,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(500),
            max_in_snapshot_log_to_keep: 100,
            // Well under the bus's frame limit.
            snapshot_max_chunk_size: 1 << 20,
            ..Default::default()
        }
        .validate()
        .map_err(std::io::Error::other)?;
        let listeners: Vec<std::net::TcpListener> = opts
            .bus_bind
            .iter()
            .map(|a| std::net::TcpListener::bind((a.as_str(), opts.bus_port)))
            .collect::<std::io::Result<_>>()?;
        let log_view = log.clone();
        let persisted = log.last_index();
        let network = Network {
            local: local.clone(),
        };
        let created = runtime
            .spawn(async move { Raft::new(me, Arc::new(raft_config), network, log, sm).await })
            .await;
        let raft = match created {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                runtime.shutdown_background();
                return Err(std::io::Error::other(e));
            }
            Err(e) => {
                runtime.shutdown_background();
                return Err(std::io::Error::other(e));
            }
        };
        let node = Arc::new(ClusterNode {
            me,
            name,
            health: Mutex::new(Health::new(opts.node_timeout)),
            opts,
            raft,
            log: log_view,
            config,
            version,
            peers: Mutex::new(HashMap::new()),
            writable: AtomicBool::new(true),
            writable_until: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
            host,
            runtime: Mutex::new(None),
            claimed: Mutex::new(BTreeSet::new()),
            local,
            refusals: serve::Refusals::default(),
            membership: tokio::sync::Mutex::new(()),
        });
        // A node that was in a cluster starts fenced: until Raft has loaded its log, its
        // voters are unknown, and then it has no lease until a majority of them answers
        // (a restarted primary that was failed over while down must not take a write on
        // its old configuration's word).
        if let Some(index) = persisted {
            let raft = node.raft.clone();
            let loaded = runtime
                .spawn(async move {
                    raft.wait(Some(Duration::from_secs(5)))
                        .log_index(Some(index), "the persisted log is loaded")
                        .await
                        .is_ok()
                })
                .await
                .unwrap_or(false);
            if !loaded {
                tracing::warn!("the Raft log took long to load; writes wait for the first lease");
                node.writable_until.store(0, Relaxed);
            }
        }
        node.refresh_fence();
        for l in listeners {
            l.set_nonblocking(true)?;
            let n = node.clone();
            runtime.spawn(async move {
                match TcpListener::from_std(l) {
                    Ok(l) => n.serve_bus(l).await,
                    Err(e) => tracing::warn!("cluster bus: {e}"),
                }
            });
        }
        runtime.spawn(node.clone().ping_loop());
        *node.runtime.lock() = Some(runtime);
        Ok(node)
    }

    /// The configuration being served.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Wakes on every configuration change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Whether this node, if a primary, may acknowledge writes at `now` (fencing; see
    /// `crate::health`).
    pub fn writable_at(&self, now: Instant) -> bool {
        let until = self.writable_until.load(Relaxed);
        until == u64::MAX || (now.saturating_duration_since(self.epoch).as_millis() as u64) < until
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// `CONFIG SET cluster-secret`: new bus connections prove this one (those already
    /// proven stay up). Kept in the node's directory, so a restart without a
    /// `cluster-secret` setting still has it; `None` removes it.
    pub fn set_secret(&self, secret: Option<Vec<u8>>) -> std::io::Result<()> {
        store_secret(&self.opts.dir, secret.as_deref())?;
        self.local.credentials.set_secret(secret);
        Ok(())
    }

    pub fn has_secret(&self) -> bool {
        self.local.credentials.has_secret()
    }

    /// `cluster-bus-max-frame` at run time.
    pub fn set_max_frame(&self, max: usize) {
        self.local.max_frame.store(max, Relaxed);
    }

    /// Runs `f` on the cluster's runtime and waits for it from any other runtime.
    async fn on_runtime<F, T>(&self, f: F) -> T
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let handle = self
            .runtime
            .lock()
            .as_ref()
            .map(|r| r.handle().clone())
            .expect("started");
        handle.spawn(f).await.expect("cluster task panicked")
    }

    /// The voters of the committed membership.
    pub fn voters(&self) -> Vec<NodeId> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership().voter_ids().collect()
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    pub fn raft_term(&self) -> u64 {
        self.raft.metrics().borrow().current_term
    }

    /// Whether this node belongs to no cluster yet.
    pub fn is_alone(&self) -> bool {
        !self.is_initialized()
    }

    /// CLUSTER ADDSLOTS (`add`) or DELSLOTS on a node that belongs to no cluster: the
    /// claim is kept here until the node meets a cluster. Redis's errors for a slot
    /// claimed twice or not claimed.
    pub fn claim(&self, ranges: &[(u16, u16)], add: bool) -> Result<(), String> {
        let mut claimed = self.claimed.lock();
        for &(a, b) in ranges {
            for s in a..=b {
                match (add, claimed.contains(&s)) {
                    (true, true) => return Err(format!("ERR Slot {s} is already busy")),
                    (false, false) => return Err(format!("ERR Slot {s} is already unassigned")),
                    _ => {}
                }
            }
        }
        for &(a, b) in ranges {
            for s in a..=b {
                if add {
                    claimed.insert(s);
                } else {
                    claimed.remove(&s);
                }
            }
        }
        Ok(())
    }

    /// The slots claimed while alone, as ranges (empty once in a cluster).
    pub fn claimed(&self) -> Vec<(u16, u16)> {
        if self.is_initialized() {
            return Vec::new();
        }
        to_ranges(self.claimed.lock().iter().copied())
    }

    fn is_initialized(&self) -> bool {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership().nodes().next().is_some()
    }

    /// This node as the configuration lists it.
    fn myself(&self) -> Node {
        Node {
            id: self.me,
            name: self.name.clone(),
            host: self.opts.host.clone(),
            port: self.opts.port,
            bus_port: self.opts.bus_port,
            role: Role::Primary,
            epoch: 0,
            failed: false,
        }
    }

    fn bus_addr(n: &Node) -> String {
        format!("{}:{}", n.host, n.bus_port)
    }

    fn client_for(&self, id: NodeId, addr: String) -> Arc<Client> {
        let mut peers = self.peers.lock();
        let c = peers
            .entry(id)
            .or_insert_with(|| Arc::new(Client::new(addr.clone(), self.local.clone())));
        if c.addr() != addr {
            *c = Arc::new(Client::new(addr, self.local.clone()));
        }
        c.clone()
    }

    /// Commits a configuration change (on the leader directly, or forwarded to it) and
    /// returns once this node has applied it too, so whoever asked can rely on this node
    /// routing by it (a SETSLOT IMPORTING must hold here before the first key arrives).
    pub async fn propose(self: &Arc<Self>, change: Change) -> Result<(), String> {
        let me = self.clone();
        self.on_runtime(async move {
            let index = me.clone().propose_at(change).await?;
            me.raft
                .wait(Some(Duration::from_secs(10)))
                .applied_index_at_least(Some(index), "the proposal is applied here")
                .await
                .map_err(|e| format!("CLUSTERDOWN committed but not applied here yet: {e}"))?;
            Ok(())
        })
        .await
    }

    async fn propose_here(self: Arc<Self>, change: Change) -> Result<(), String> {
        self.propose_at(change).await.map(|_| ())
    }

    /// Commits a change; returns the log index it was committed at.
    async fn propose_at(self: Arc<Self>, change: Change) -> Result<u64, String> {
        for _ in 0..20 {
            match self.leader() {
                Some(l) if l == self.me => {
                    return match self.raft.client_write(change.clone()).await {
                        Ok(r) => r.data.map(|()| r.log_id.index),
                        Err(e) => Err(format!(
                            "CLUSTERDOWN the configuration could not be changed: {e}"
                        )),
                    };
                }
                Some(l) => {
                    let addr = self.config().node(l).map(Self::bus_addr).or_else(|| {
                        let m = self.raft.metrics().borrow().membership_config.clone();
                        m.membership().get_node(&l).map(|n| n.addr.clone())
                    });
                    if let Some(addr) = addr {
                        let c = self.client_for(l, addr);
                        match c
                            .call(&Request::Propose(change.clone()), Duration::from_secs(5))
                            .await
                        {
                            Ok(Response::Committed(r)) => return r,
                            Ok(other) => return Err(format!("ERR unexpected reply {other:?}")),
                            Err(_) => {}
                        }
                    }
                }
                None => {}
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("CLUSTERDOWN no leader reachable to change the configuration".into())
    }

    /// CLUSTER MEET: brings the node at `addr` (its client port; the bus is at
    /// `bus_port`) into this node's cluster, or this node into its.
    pub async fn meet(self: &Arc<Self>, host: String, bus_port: u16) -> Result<(), String> {
        let me = self.clone();
        self.on_runtime(async move { me.meet_here(host, bus_port).await })
            .await
    }

    async fn meet_here(self: Arc<Self>, host: String, bus_port: u16) -> Result<(), String> {
        let addr: SocketAddr = tokio::net::lookup_host((host.as_str(), bus_port))
            .await
            .map_err(|e| format!("ERR Invalid node address specified: {host}:{bus_port} ({e})"))?
            .next()
            .ok_or_else(|| format!("ERR Invalid node address specified: {host}:{bus_port}"))?;
        if !self.has_secret() {
            return Err("ERR this node has no cluster-secret: set the same one on every node (CONFIG SET cluster-secret, or `cairn cluster create` installs one)".into());
        }
        let them = bus::hello(addr, self.local.clone(), Duration::from_secs(5))
            .await
            .map_err(|e| format!("ERR cannot reach the cluster bus at {addr}: {e}"))?;
        if them.name == self.name {
            return Ok(());
        }
        let node = Node {
            id: id_of(&them.name).ok_or("ERR the node answered with a bad id")?,
            name: them.name.clone(),
            host: host.clone(),
            port: them.port,
            bus_port: them.bus_port,
            role: Role::Primary,
            epoch: 0,
            failed: false,
        };
        let mine = self.is_initialized();
        if !mine && them.initialized {
            // Join their cluster.
            let c = Client::new(addr.to_string(), self.local.clone());
            let join = Request::Join {
                node: self.myself(),
                claimed: self.claimed(),
            };
            return match c.call(&join, Duration::from_secs(10)).await {
                Ok(Response::Done(r)) => r,
                Ok(other) => Err(format!("ERR unexpected reply {other:?}")),
                Err(e) => Err(format!("ERR joining through {addr} failed: {e}")),
            };
        }
        if mine && them.initialized {
            return if self.config().node(node.id).is_some() {
                Ok(())
            } else {
                Err("ERR the node already belongs to another cluster".into())
            };
        }
        if !mine {
            self.bootstrap().await?;
        }
        self.join_here(node, them.claimed).await
    }

    /// Starts a cluster of one: this node.
    async fn bootstrap(self: &Arc<Self>) -> Result<(), String> {
        let mut members = BTreeMap::new();
        members.insert(
            self.me,
            BasicNode {
                addr: Self::bus_addr(&self.myself()),
            },
        );
        if let Err(e) = self.raft.initialize(members).await
            && !self.is_initialized()
        {
            return Err(format!("ERR cannot start the cluster: {e}"));
        }
        for _ in 0..100 {
            if self.leader() == Some(self.me) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let me = self.myself();
        match self.clone().propose_here(Change::AddNode(me)).await {
            Ok(()) => {}
            Err(e) if e.contains("already in the cluster") => {}
            Err(e) => return Err(e),
        }
        let claimed = to_ranges(self.claimed.lock().iter().copied());
        self.clone().assign_claimed(self.me, claimed).await
    }

    /// Assigns `node` the slots it claimed while alone, those it does not own already;
    /// a slot another node owns refuses the whole claim.
    async fn assign_claimed(
        self: Arc<Self>,
        node: NodeId,
        claimed: Vec<(u16, u16)>,
    ) -> Result<(), String> {
        let config = self.config();
        let mut todo = Vec::new();
        for (a, b) in claimed {
            for s in a..=b {
                match config.owner(s) {
                    None => todo.push(s),
                    Some(o) if o == node => {}
                    Some(_) => return Err(format!("ERR Slot {s} is already busy")),
                }
            }
        }
        if todo.is_empty() {
            return Ok(());
        }
        let ranges = to_ranges(todo);
        self.propose_here(Change::AssignSlots { node, ranges })
            .await
    }

    /// Adds `node` (on the leader, or forwarded there): into the configuration, as a Raft
    /// learner, and as a voter while the cluster has fewer than it should.
    async fn join_here(
        self: Arc<Self>,
        node: Node,
        claimed: Vec<(u16, u16)>,
    ) -> Result<(), String> {
        if self.leader() != Some(self.me) {
            let Some(l) = self.leader() else {
                return Err("CLUSTERDOWN no leader to add the node".into());
            };
            let addr = self
                .config()
                .node(l)
                .map(Self::bus_addr)
                .ok_or("CLUSTERDOWN the leader is unknown")?;
            let c = self.client_for(l, addr);
            let join = Request::Join { node, claimed };
            return match c.call(&join, Duration::from_secs(10)).await {
                Ok(Response::Done(r)) => r,
                Ok(other) => Err(format!("ERR unexpected reply {other:?}")),
                Err(e) => Err(format!("CLUSTERDOWN the leader did not answer: {e}")),
            };
        }
        // A slot claimed while alone that another node owns refuses the join before
        // anything changes.
        let config = self.config();
        for &(a, b) in &claimed {
            if let Some(s) = (a..=b).find(|&s| config.owner(s).is_some_and(|o| o != node.id)) {
                return Err(format!("ERR Slot {s} is already busy"));
            }
        }
        match config.node(node.id) {
            Some(known)
                if known.host == node.host
                    && known.port == node.port
                    && known.bus_port == node.bus_port => {}
            Some(_) => {
                self.clone()
                    .propose_here(Change::SetAddress {
                        node: node.id,
                        host: node.host.clone(),
                        port: node.port,
                        bus_port: node.bus_port,
                    })
                    .await?
            }
            None => {
                self.clone()
                    .propose_here(Change::AddNode(node.clone()))
                    .await?
            }
        }
        self.clone().assign_claimed(node.id, claimed).await?;
        let bus = BasicNode {
            addr: Self::bus_addr(&node),
        };
        let _changing = self.membership.lock().await;
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let known = membership.membership().get_node(&node.id).is_some();
        if !known && let Err(e) = self.raft.add_learner(node.id, bus, false).await {
            return Err(format!("CLUSTERDOWN cannot add the node to Raft: {e}"));
        }
        self.keep_voters().await;
        Ok(())
    }

    /// Removes a node: out of Raft's membership, then out of the configuration.
    pub async fn forget(self: &Arc<Self>, id: NodeId) -> Result<(), String> {
        let me = self.clone();
        self.on_runtime(async move {
            if me.leader() == Some(me.me) {
                let _changing = me.membership.lock().await;
                let membership = me.raft.metrics().borrow().membership_config.clone();
                if membership.membership().get_node(&id).is_some() {
                    let mut gone = std::collections::BTreeSet::new();
                    gone.insert(id);
                    let is_voter = membership.membership().voter_ids().any(|v| v == id);
                    let change = if is_voter {
                        ChangeMembers::RemoveVoters(gone)
                    } else {
                        ChangeMembers::RemoveNodes(gone)
                    };
                    if let Err(e) = me.raft.change_membership(change, false).await {
                        return Err(format!("ERR cannot remove the node from Raft: {e}"));
                    }
                    if is_voter {
                        let mut gone = std::collections::BTreeSet::new();
                        gone.insert(id);
                        let _ = me
                            .raft
                            .change_membership(ChangeMembers::RemoveNodes(gone), false)
                            .await;
                    }
                }
            }
            me.clone().propose_here(Change::RemoveNode(id)).await
        })
        .await
    }

    fn ping_payload(&self) -> Ping {
        Ping {
            from: self.me,
            offset: self.host.repl_offset(),
            synced: self.host.synced(),
            suspects: self.health.lock().suspects(Instant::now()),
            log_index: self.log.fence_index(),
        }
    }

    /// The last log index applied here.
    fn applied_index(&self) -> u64 {
        self.raft
            .metrics()
            .borrow()
            .last_applied
            .map_or(0, |l| l.index)
    }

    /// Every ping interval: ping every other node, then judge.
    async fn ping_loop(self: Arc<Self>) {
        let every = (self.opts.node_timeout / 10)
            .clamp(Duration::from_millis(20), Duration::from_millis(200));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let config = self.config();
            let peers: Vec<&Node> = config.nodes.values().filter(|n| n.id != self.me).collect();
            let ids: Vec<NodeId> = peers.iter().map(|n| n.id).collect();
            self.health.lock().track(Instant::now(), &ids);
            let payload = self.ping_payload();
            for n in peers {
                let client = self.client_for(n.id, Self::bus_addr(n));
                let me = self.clone();
                let payload = payload.clone();
                let id = n.id;
                let timeout = self.opts.node_timeout;
                tokio::spawn(async move {
                    let sent = Instant::now();
                    let applied = me.applied_index();
                    // One ping at a time per peer: skip if the last has not returned.
                    if let Ok(Response::Pong(p)) =
                        client.call(&Request::Ping(payload), timeout).await
                    {
                        me.health.lock().pong(id, sent, &p, applied);
                        // A lease granted counts at once, not at the next round.
                        me.refresh_fence();
                    }
                });
            }
            self.judge(&config).await;
        }
    }

    /// Fencing for this node, and the leader's verdicts.
    async fn judge(self: &Arc<Self>, config: &Config) {
        let voters = self.refresh_fence();
        let now = Instant::now();
        let writable = self.writable_at(now);
        if writable != self.writable.swap(writable, Relaxed) {
            if writable {
                tracing::warn!("a majority of the voters answers again: accepting writes");
            } else {
                tracing::warn!("cannot reach a majority of the voters: refusing writes (fenced)");
            }
        }
        if self.leader() != Some(self.me) {
            return;
        }
        let me_synced = self.host.synced();
        let verdicts = self
            .health
            .lock()
            .verdicts(now, self.me, me_synced, &voters, config);
        for change in verdicts {
            match &change {
                Change::Failover { replica } => tracing::warn!(
                    "failing over to {}",
                    config.node(*replica).map_or(String::new(), |n| n.addr())
                ),
                Change::SetFailed { node, failed } => tracing::warn!(
                    "node {} marked {}",
                    config.node(*node).map_or(String::new(), |n| n.addr()),
                    if *failed { "failed" } else { "alive" }
                ),
                _ => {}
            }
            // Bounded: a leader that lost its majority would wait here for good, and with
            // it every ping round and this node's lease.
            match tokio::time::timeout(self.opts.node_timeout, self.raft.client_write(change)).await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!("verdict not committed: {e}");
                    break;
                }
                Err(_) => {
                    tracing::warn!("verdict not committed within the node timeout");
                    break;
                }
            }
        }
        // Failed voters out, live learners in (see `voters`); not while a join or a
        // removal is changing the membership (the next round will).
        if let Ok(_changing) = self.membership.try_lock() {
            self.keep_voters().await;
        }
    }

    /// Recomputes until when this node may take writes (fencing, see `crate::health`),
    /// after every pong and every ping round; returns the voters it judged by.
    fn refresh_fence(&self) -> Vec<NodeId> {
        let voters = self.voters();
        let far = Instant::now() + Duration::from_secs(3600 * 24 * 365);
        let deadline = self.health.lock().lease_deadline(self.me, &voters, far);
        self.writable_until.store(
            deadline.map_or(u64::MAX, |d| {
                d.saturating_duration_since(self.epoch).as_millis() as u64
            }),
            Relaxed,
        );
        voters
    }

    /// Voters that currently report `node` unreachable (CLUSTER COUNT-FAILURE-REPORTS).
    pub fn failure_reports(&self, node: NodeId) -> usize {
        let voters = self.voters();
        self.health
            .lock()
            .reports_against(Instant::now(), self.me, &voters, node)
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.get_mut().take() {
            rt.shutdown_background();
        }
    }
}
