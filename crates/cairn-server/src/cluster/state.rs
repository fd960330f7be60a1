//! The cluster as the server holds it: this node's [`ClusterNode`], the routing derived
//! from the configuration it applied last, and what slot handovers and migrations leave
//! behind. Routing a command by it is `super::route`; starting it and following roles,
//! `super::node`.
//!
//! The routing reads a [`Routing`] rebuilt once per configuration change: the slot table
//! plus what is derived from it (full coverage, this node's primary, addresses), so a
//! command pays one atomic load and one table lookup.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use cairn_cluster::{ClusterNode, Config, NodeId, Role, SLOTS};

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
    pub fn new(config: Arc<Config>, me: NodeId) -> Routing {
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
    pub fn new(node: Arc<ClusterNode>) -> Cluster {
        Cluster {
            routing: ArcSwap::from_pointee(Routing::new(node.config(), node.me)),
            node,
            handovers: parking_lot::Mutex::new(HashMap::new()),
            sent: parking_lot::Mutex::new(HashMap::new()),
        }
    }

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
    pub fn handed_over(&self, slot: u16) -> Option<NodeId> {
        let h = self.handovers.lock();
        h.get(&slot)
            .filter(|(_, at)| at.elapsed() < HANDOVER_GRACE)
            .map(|(to, _)| *to)
    }

    pub fn refresh(&self) {
        let _ = self.routing();
    }
}
