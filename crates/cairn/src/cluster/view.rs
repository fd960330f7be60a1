//! The cluster as the tool sees it: a connection to every member the entry node lists,
//! each member's own `CLUSTER NODES`, and what follows from comparing them (the slot map,
//! agreement, open slots).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

use super::node::{Node, resolve_id};
use super::topology::{self, Marker, NodeEntry, short};

/// A member we could connect to.
pub struct Member {
    /// The connection.
    pub node: Node,
    /// The entry node's line for it: role, primary, slots (the map the tool works from).
    pub entry: NodeEntry,
    /// The member's own `CLUSTER NODES`: its markers and what it believes.
    pub view: Vec<NodeEntry>,
}

impl Member {
    /// The member's own line.
    pub fn me(&self) -> Option<&NodeEntry> {
        self.view.iter().find(|e| e.is_myself())
    }
}

/// Every member reachable from the entry node.
pub struct Cluster {
    /// Reachable members, the entry node first.
    pub members: Vec<Member>,
    /// Members the entry node lists that could not be reached, with why.
    pub unreachable: Vec<(NodeEntry, String)>,
}

/// One slot in the middle of a migration: every marker any member shows for it.
#[derive(Debug, Clone)]
pub struct OpenSlot {
    pub slot: u16,
    /// `(node, to)`: `node` shows `[slot->-to]`.
    pub migrating: Vec<(String, String)>,
    /// `(node, from)`: `node` shows `[slot-<-from]`.
    pub importing: Vec<(String, String)>,
}

impl OpenSlot {
    /// The migration's two ends as the markers name them: (source, target).
    pub fn ends(&self) -> (Option<&str>, Option<&str>) {
        let source = self
            .migrating
            .first()
            .map(|(n, _)| n.as_str())
            .or_else(|| self.importing.first().map(|(_, from)| from.as_str()));
        let target = self
            .importing
            .first()
            .map(|(n, _)| n.as_str())
            .or_else(|| self.migrating.first().map(|(_, to)| to.as_str()));
        (source, target)
    }

    /// Whether the markers tell one consistent story (at most one node migrating, at most
    /// one importing, and naming each other when both are there).
    pub fn consistent(&self) -> bool {
        match (self.migrating.as_slice(), self.importing.as_slice()) {
            ([], [_]) | ([_], []) => true,
            ([(m, to)], [(i, from)]) => to == i && from == m,
            _ => false,
        }
    }

    /// `MIGRATING on a (to b), IMPORTING on b (from a)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (n, to) in &self.migrating {
            parts.push(format!("MIGRATING on {} to {}", short(n), short(to)));
        }
        for (n, from) in &self.importing {
            parts.push(format!("IMPORTING on {} from {}", short(n), short(from)));
        }
        parts.join(", ")
    }
}

impl Cluster {
    /// Connects to `addr`, reads its `CLUSTER NODES`, then connects to every other member
    /// it lists (in a handshake or without an address: skipped) and reads theirs.
    pub fn load(addr: &str) -> anyhow::Result<Cluster> {
        let mut first = Node::connect(addr)?;
        let entries = first.nodes()?;
        let mut members = Vec::new();
        let mut unreachable = Vec::new();
        let me = entries
            .iter()
            .find(|e| e.is_myself())
            .cloned()
            .ok_or_else(|| anyhow!("{addr}: CLUSTER NODES has no myself line"))?;
        let view = entries.clone();
        members.push(Member {
            node: first,
            entry: me,
            view,
        });
        for e in entries
            .iter()
            .filter(|e| !e.is_myself() && !e.is_transient())
        {
            match Node::connect(&e.addr()) {
                Ok(mut node) if node.id == e.id => match node.nodes() {
                    Ok(view) => members.push(Member {
                        node,
                        entry: e.clone(),
                        view,
                    }),
                    Err(err) => unreachable.push((e.clone(), format!("{err:#}"))),
                },
                Ok(node) => unreachable.push((
                    e.clone(),
                    format!("{} now answers as node {}", e.addr(), short(&node.id)),
                )),
                Err(err) => unreachable.push((e.clone(), format!("{err:#}"))),
            }
        }
        Ok(Cluster {
            members,
            unreachable,
        })
    }

    /// Re-reads every member's `CLUSTER NODES`, and the map from the entry node.
    pub fn refresh(&mut self) -> anyhow::Result<()> {
        for m in &mut self.members {
            m.view = m.node.nodes()?;
        }
        let map = self.members[0].view.clone();
        for m in &mut self.members {
            if let Some(e) = map.iter().find(|e| e.id == m.node.id) {
                let host = m.entry.host.clone();
                m.entry = e.clone();
                if m.entry.host.is_empty() {
                    m.entry.host = host;
                }
            }
        }
        Ok(())
    }

    /// The entry node's whole view.
    pub fn map(&self) -> &[NodeEntry] {
        &self.members[0].view
    }

    /// Reachable primaries (by the entry node's map), in listing order.
    pub fn primaries(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.entry.is_primary())
    }

    pub fn primary_ids(&self) -> Vec<String> {
        self.primaries().map(|m| m.node.id.clone()).collect()
    }

    /// The replicas the entry node lists for `primary`.
    pub fn replicas_of(&self, primary: &str) -> Vec<&NodeEntry> {
        self.map()
            .iter()
            .filter(|e| e.is_replica() && e.master.as_deref() == Some(primary))
            .collect()
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.node.id == id)
    }

    pub fn member_mut(&mut self, id: &str) -> anyhow::Result<&mut Member> {
        self.members
            .iter_mut()
            .find(|m| m.node.id == id)
            .ok_or_else(|| anyhow!("node {} is not reachable", short(id)))
    }

    /// Every node id the entry node lists (reachable or not).
    pub fn known_ids(&self) -> Vec<&str> {
        self.map()
            .iter()
            .filter(|e| !e.is_transient())
            .map(|e| e.id.as_str())
            .collect()
    }

    /// A node id or unique prefix among the listed nodes.
    pub fn resolve(&self, prefix: &str) -> anyhow::Result<String> {
        resolve_id(prefix, self.known_ids())
    }

    /// `host:port (abcd1234)` for any listed node.
    pub fn label(&self, id: &str) -> String {
        match self.map().iter().find(|e| e.id == id) {
            Some(e) => {
                let addr = match self.member(id) {
                    Some(m) => m.node.addr.clone(),
                    None => e.addr(),
                };
                format!("{addr} ({})", short(id))
            }
            None => format!("unknown node {}", short(id)),
        }
    }

    /// `owner[slot]` by the entry node's map.
    pub fn owners(&self) -> Vec<Option<String>> {
        topology::slot_owners(self.map())
            .into_iter()
            .map(|o| o.map(str::to_string))
            .collect()
    }

    /// Slots no primary owns, by the entry node's map.
    pub fn uncovered(&self) -> Vec<u16> {
        self.owners()
            .iter()
            .enumerate()
            .filter(|(_, o)| o.is_none())
            .map(|(s, _)| s as u16)
            .collect()
    }

    /// Every slot some member shows a marker for.
    pub fn open_slots(&self) -> Vec<OpenSlot> {
        let mut open: BTreeMap<u16, OpenSlot> = BTreeMap::new();
        for m in &self.members {
            let Some(me) = m.me() else { continue };
            for (slot, to) in &me.migrating {
                open.entry(*slot)
                    .or_insert_with(|| OpenSlot::empty(*slot))
                    .migrating
                    .push((me.id.clone(), to.clone()));
            }
            for (slot, from) in &me.importing {
                open.entry(*slot)
                    .or_insert_with(|| OpenSlot::empty(*slot))
                    .importing
                    .push((me.id.clone(), from.clone()));
            }
        }
        open.into_values().collect()
    }

    /// Members whose view differs from the entry node's, with the first difference.
    pub fn disagreements(&self) -> Vec<String> {
        let reference = topology::signature(self.map());
        self.members[1..]
            .iter()
            .filter_map(|m| {
                let theirs = topology::signature(&m.view);
                topology::signature_difference(&reference, &theirs).map(|d| {
                    format!(
                        "{} disagrees with {}: {d}",
                        m.node.addr, self.members[0].node.addr
                    )
                })
            })
            .collect()
    }
}

impl OpenSlot {
    fn empty(slot: u16) -> OpenSlot {
        OpenSlot {
            slot,
            migrating: Vec::new(),
            importing: Vec::new(),
        }
    }
}

/// How long the tool waits for the cluster to settle after a change before giving up.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Polls `pending` (which says what is still missing, or `None` when done) every 100 ms,
/// printing a dot per second, until it is done or `SETTLE_TIMEOUT` passes.
pub fn wait_for(
    what: &str,
    mut pending: impl FnMut() -> anyhow::Result<Option<String>>,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let start = Instant::now();
    let mut last_dot = start;
    let mut last_reason = start;
    let mut shown: Option<String> = None;
    let mut printed = false;
    loop {
        let why = match pending() {
            Ok(None) => {
                if printed {
                    println!();
                }
                return Ok(());
            }
            Ok(Some(why)) => why,
            Err(e) => format!("{e:#}"),
        };
        if start.elapsed() > SETTLE_TIMEOUT {
            if printed {
                println!();
            }
            bail!(
                "gave up waiting for {what} after {}s: {why}",
                SETTLE_TIMEOUT.as_secs()
            );
        }
        if !printed {
            print!("Waiting for {what}");
            printed = true;
        }
        if last_dot.elapsed() >= Duration::from_secs(1) {
            print!(".");
            last_dot = Instant::now();
        }
        if last_reason.elapsed() >= Duration::from_secs(5) && shown.as_deref() != Some(&why) {
            print!(" ({why}) ");
            last_reason = Instant::now();
            shown = Some(why);
        }
        let _ = std::io::stdout().flush();
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether every node in `nodes` agrees with every other on the members, roles and slot
/// map, and reports `cluster_state:ok` — `None` when so, else what is missing.
pub fn settled(nodes: &mut [&mut Node], expect_ok: bool) -> anyhow::Result<Option<String>> {
    let mut reference: Option<(String, BTreeMap<String, String>)> = None;
    for n in nodes.iter_mut() {
        let view = n.nodes()?;
        if let Some(e) = view.iter().find(|e| e.is_transient()) {
            return Ok(Some(format!(
                "{} still has {} in a handshake",
                n.addr,
                e.addr()
            )));
        }
        let sig = topology::signature(&view);
        match &reference {
            None => reference = Some((n.addr.clone(), sig)),
            Some((addr, r)) => {
                if let Some(d) = topology::signature_difference(r, &sig) {
                    return Ok(Some(format!("{} and {addr} disagree: {d}", n.addr)));
                }
            }
        }
        if expect_ok {
            let info = n.cluster_info()?;
            let state = info.get("cluster_state").map(String::as_str);
            if state != Some("ok") {
                return Ok(Some(format!(
                    "{} reports cluster_state:{}",
                    n.addr,
                    state.unwrap_or("?")
                )));
            }
            // A Cairn primary takes writes only once a majority of the voters renews its
            // lease: right after the voters change (a new cluster), for a moment, not yet.
            if info.get("cairn_fenced").map(String::as_str) == Some("1") {
                return Ok(Some(format!(
                    "{} cannot reach a majority of the voters yet",
                    n.addr
                )));
            }
        }
    }
    Ok(None)
}

/// Whether every node in `nodes` lists every id in `ids` (out of a handshake) — `None`
/// when so, else who is missing whom.
pub fn all_known(nodes: &mut [&mut Node], ids: &[String]) -> anyhow::Result<Option<String>> {
    for n in nodes.iter_mut() {
        let view = n.nodes()?;
        for id in ids {
            if !view.iter().any(|e| &e.id == id && !e.is_transient()) {
                return Ok(Some(format!("{} does not know {} yet", n.addr, short(id))));
            }
        }
    }
    Ok(None)
}

/// The marker a member shows for `slot`.
pub fn marker_of(m: &Member, slot: u16) -> Option<Marker> {
    m.me().and_then(|e| e.marker(slot))
}
