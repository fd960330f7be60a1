//! Cluster mode in the server (docs/cluster.md): starting this node's
//! [`ClusterNode`], routing every keyed command by hash slot (MOVED, ASK, CROSSSLOT,
//! TRYAGAIN, CLUSTERDOWN), and following the roles the committed configuration gives this
//! node (replicate a primary, or be promoted).
//!
//! The routing reads a [`Routing`] rebuilt once per configuration change: the slot table
//! plus what is derived from it (full coverage, this node's primary, addresses), so a
//! command pays one atomic load and one table lookup.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use cairn_cluster::{ClusterNode, Config, Host, NodeId, Options, Role, SLOTS};
use cairn_protocol::Args;

use crate::commands::{CmdError, CommandSpec, flags};
use crate::server::Server;
use crate::session::Session;

/// What routing needs, derived once per configuration.
pub struct Routing {
    pub config: Arc<Config>,
    /// Every slot has an owner.
    pub full: bool,
    pub me: NodeId,
    /// The primary this node replicates, if it is a replica.
    pub my_primary: Option<NodeId>,
    addrs: HashMap<NodeId, String>,
}

impl Routing {
    fn new(config: Arc<Config>, me: NodeId) -> Routing {
        let full = config.slots_assigned() == SLOTS;
        let my_primary = match config.node(me).map(|n| n.role) {
            Some(Role::Replica { of }) => Some(of),
            _ => None,
        };
        let addrs = config.nodes.values().map(|n| (n.id, n.addr())).collect();
        Routing {
            config,
            full,
            me,
            my_primary,
            addrs,
        }
    }

    pub fn addr(&self, id: NodeId) -> &str {
        self.addrs.get(&id).map_or("", String::as_str)
    }
}

/// How long a former source answers ASK (not MOVED) for a slot it handed over.
const HANDOVER_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The cluster as the server holds it.
pub struct Cluster {
    pub node: Arc<ClusterNode>,
    routing: ArcSwap<Routing>,
    /// Slots this node was migrating away when their handover was applied here: the new
    /// owner, and when. Nodes apply a committed change at slightly different moments; a
    /// client told MOVED by this node could be told MOVED back by a target that has not
    /// applied the handover yet, and bounce until its retries run out. ASK instead sends
    /// it to the target with ASKING, which the target serves in either state.
    handovers: parking_lot::Mutex<HashMap<u16, (NodeId, Instant)>>,
    /// Keys MIGRATE sent that stayed here because they changed meanwhile, by slot: the
    /// target's copy of those is this node's, older, and the next pass replaces it.
    /// Forgotten when the slot's migration ends.
    sent: parking_lot::Mutex<HashMap<u16, std::collections::HashSet<Vec<u8>>>>,
}

impl Cluster {
    /// The routing of the configuration applied last. Rebuilt here, on the first command
    /// after a change, rather than by a background task: a command that follows a change
    /// this node has applied (IMPORTING, then the first key) must route by it.
    pub fn routing(&self) -> Arc<Routing> {
        let r = self.routing.load_full();
        let config = self.node.config();
        if Arc::ptr_eq(&r.config, &config) {
            return r;
        }
        let fresh = Arc::new(Routing::new(config, self.node.me));
        let now = Instant::now();
        let mut handovers = self.handovers.lock();
        handovers.retain(|_, (_, at)| now.duration_since(*at) < HANDOVER_GRACE);
        for (slot, m) in &r.config.migrations {
            if m.from == r.me && fresh.config.owner(*slot) == Some(m.to) {
                handovers.insert(*slot, (m.to, now));
            }
        }
        drop(handovers);
        self.sent
            .lock()
            .retain(|slot, _| fresh.config.migrations.contains_key(slot));
        self.routing.store(fresh.clone());
        fresh
    }

    /// Whether MIGRATE sent `key` to the target earlier in this slot's migration.
    pub fn sent_before(&self, slot: u16, key: &[u8]) -> bool {
        self.sent
            .lock()
            .get(&slot)
            .is_some_and(|keys| keys.contains(key))
    }

    pub fn remember_sent(&self, slot: u16, key: &[u8]) {
        self.sent
            .lock()
            .entry(slot)
            .or_default()
            .insert(key.to_vec());
    }

    /// The new owner of `slot`, if this node handed it over within the grace period.
    fn handed_over(&self, slot: u16) -> Option<NodeId> {
        let h = self.handovers.lock();
        h.get(&slot)
            .filter(|(_, at)| at.elapsed() < HANDOVER_GRACE)
            .map(|(to, _)| *to)
    }

    fn refresh(&self) {
        let _ = self.routing();
    }
}

/// The replication offset pings carry.
struct Offset(std::sync::Weak<Server>);

impl Host for Offset {
    fn repl_offset(&self) -> u64 {
        self.0.upgrade().map_or(0, |s| s.persist.stream.offset())
    }

    fn synced(&self) -> bool {
        self.0
            .upgrade()
            .and_then(|s| s.replication.link())
            .is_some_and(|l| l.has_synced())
    }
}

/// Starts this node's cluster side once the client port is known.
pub async fn start(server: &Arc<Server>, port: u16) -> std::io::Result<()> {
    let cfg = server.config();
    let bus_port = match cfg.cluster_port {
        0 if port <= 55535 => port + 10000,
        0 => std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port(),
        p => p,
    };
    let host = if !cfg.cluster_announce_ip.is_empty() {
        cfg.cluster_announce_ip.clone()
    } else {
        cfg.bind
            .iter()
            .find(|b| !matches!(b.as_str(), "*" | "0.0.0.0" | "::" | "::*"))
            .cloned()
            .unwrap_or_else(|| "127.0.0.1".into())
    };
    let bus_bind = cfg
        .bind
        .iter()
        .map(|b| match b.as_str() {
            "*" => "0.0.0.0".to_string(),
            "::*" => "::".to_string(),
            other => other.trim_start_matches('-').to_string(),
        })
        .collect();
    let opts = Options {
        dir: std::path::Path::new(&cfg.dir).join("cluster"),
        host,
        port,
        bus_port,
        bus_bind,
        node_timeout: std::time::Duration::from_millis(cfg.cluster_node_timeout),
        secret: configured_secret(&cfg)?,
        max_frame: cfg.cluster_bus_max_frame as usize,
    };
    let node = ClusterNode::start(opts, Arc::new(Offset(Arc::downgrade(server)))).await?;
    tracing::warn!("cluster node {} on bus port {bus_port}", node.name);
    let cluster = Arc::new(Cluster {
        routing: ArcSwap::from_pointee(Routing::new(node.config(), node.me)),
        node,
        handovers: parking_lot::Mutex::new(HashMap::new()),
        sent: parking_lot::Mutex::new(HashMap::new()),
    });
    let _ = server.cluster.set(cluster.clone());
    tokio::spawn(follow_roles(server.clone(), cluster));
    Ok(())
}

/// The secret the settings give: `cluster-secret`, else the file `cluster-secret-file`
/// names (a file that cannot be read stops the start), else none (the node then uses the
/// one a run-time change left in its directory, if any).
fn configured_secret(cfg: &crate::config::Config) -> std::io::Result<Option<Vec<u8>>> {
    if !cfg.cluster_secret.is_empty() {
        return Ok(Some(cfg.cluster_secret.as_bytes().to_vec()));
    }
    if cfg.cluster_secret_file.is_empty() {
        return Ok(None);
    }
    let s = std::fs::read(&cfg.cluster_secret_file).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot read cluster-secret-file {}: {e}",
                cfg.cluster_secret_file
            ),
        )
    })?;
    let s = s.trim_ascii();
    if s.len() < 16 {
        return Err(std::io::Error::other(format!(
            "cluster-secret-file {} holds fewer than 16 characters",
            cfg.cluster_secret_file
        )));
    }
    Ok(Some(s.to_vec()))
}

/// CONFIG SET of the cluster's run-time settings: a new secret for the bus (kept in the
/// node's directory), a new frame limit.
pub fn apply_config(
    server: &Server,
    before: &crate::config::Config,
    next: &crate::config::Config,
) -> Result<(), String> {
    let Some(cluster) = server.cluster.get() else {
        return Ok(());
    };
    if next.cluster_secret != before.cluster_secret {
        let secret =
            (!next.cluster_secret.is_empty()).then(|| next.cluster_secret.as_bytes().to_vec());
        cluster
            .node
            .set_secret(secret)
            .map_err(|e| format!("cannot keep the cluster secret in the node's directory: {e}"))?;
    }
    cluster
        .node
        .set_max_frame(next.cluster_bus_max_frame as usize);
    Ok(())
}

/// Keeps the routing current and this node in the role the configuration gives it.
async fn follow_roles(server: Arc<Server>, cluster: Arc<Cluster>) {
    let mut changes = cluster.node.subscribe();
    loop {
        cluster.refresh();
        let routing = cluster.routing();
        let repl = &server.replication;
        match routing.config.node(routing.me).map(|n| n.role) {
            Some(Role::Replica { of }) => {
                if let Some(p) = routing.config.node(of)
                    && repl.follow(&server, p.host.clone(), p.port)
                {
                    server.set_replicaof(format!("{} {}", p.host, p.port));
                    // Writes held for a manual failover now get redirected instead.
                    server.unpause();
                    tracing::warn!("replicating {} as the cluster configuration says", p.addr());
                }
            }
            Some(Role::Primary) if repl.is_replica() => {
                repl.promote(&server);
                server.set_replicaof(String::new());
                tracing::warn!(
                    "promoted to primary by the cluster configuration (epoch {})",
                    routing.config.epoch
                );
            }
            Some(Role::Primary) => {}
            None => {}
        }
        tokio::select! {
            _ = server.wait_shutdown() => return,
            r = changes.changed() => if r.is_err() { return },
        }
    }
}

fn slot_error(slot: u16, addr: &str, ask: bool) -> CmdError {
    CmdError::new(format!(
        "{} {slot} {addr}",
        if ask { "ASK" } else { "MOVED" }
    ))
}

/// Decides whether this node serves `args` now, as Redis Cluster does; the error is the
/// redirect or refusal the client gets. `at` is the connection's clock reading for the
/// batch (fencing is judged against it).
pub fn route(
    server: &Server,
    cluster: &Cluster,
    session: &mut Session,
    spec: &CommandSpec,
    args: Args,
    queued_flags: u32,
    at: Instant,
) -> Result<(), CmdError> {
    let asking = std::mem::take(&mut session.asking) || spec.name == "restore-asking";
    let Some(first) = spec.first_key(args.len()) else {
        return Ok(());
    };
    let slot = cairn_store::key_slot(args.get(first));
    let keys = spec.key_indexes(args.len());
    if keys
        .clone()
        .skip(1)
        .any(|i| cairn_store::key_slot(args.get(i)) != slot)
    {
        return Err(CmdError::new(
            "CROSSSLOT Keys in request don't hash to the same slot",
        ));
    }
    let r = cluster.routing();
    let writes = (spec.flags | queued_flags) & flags::WRITE != 0;
    if !r.full
        && server.with_config(|c| {
            c.cluster_require_full_coverage && (writes || !c.cluster_allow_reads_when_down)
        })
    {
        return Err(CmdError::new("CLUSTERDOWN The cluster is down"));
    }
    let fenced = || {
        if writes && !cluster.node.writable_at(at) {
            Err(CmdError::new(
                "CLUSTERDOWN The cluster is down (this node cannot reach a majority of the voters)",
            ))
        } else {
            Ok(())
        }
    };
    let migration = r.config.migrations.get(&slot).copied();
    match r.config.owner(slot) {
        None => Err(CmdError::new("CLUSTERDOWN Hash slot not served")),
        Some(owner) if owner == r.me => {
            if let Some(m) = migration.filter(|m| m.from == r.me) {
                // Keys already moved are served by the target: ASK for them.
                let now = server.clock.at(at);
                let mut shard = server.keyspace.lock(slot);
                let db = shard.db(session.db);
                let (mut present, mut all) = (0, 0);
                for i in keys {
                    all += 1;
                    present += usize::from(db.contains(slot, args.get(i), now));
                }
                if present == 0 {
                    return Err(slot_error(slot, r.addr(m.to), true));
                }
                if present < all {
                    return Err(CmdError::new(
                        "TRYAGAIN Multiple keys request during rehashing of slot",
                    ));
                }
            }
            fenced()
        }
        Some(owner) => {
            if asking && migration.is_some_and(|m| m.to == r.me) {
                return fenced();
            }
            if !writes && session.readonly && r.my_primary == Some(owner) {
                return Ok(());
            }
            let ask = cluster.handed_over(slot) == Some(owner);
            Err(slot_error(slot, r.addr(owner), ask))
        }
    }
}
