//! The cluster configuration: which nodes exist, which are primaries and which replicate
//! whom, who owns each of the 16384 hash slots, which slots are moving. It is the state
//! machine the voters replicate with Raft (`crate::raft`): every change is a [`Change`]
//! in the log, applied in the same order on every node by [`Config::apply`], which is
//! pure (no I/O, no clock) so it is tested on its own.
//!
//! A change that would break an invariant (a slot owned by two nodes, a replica of a
//! replica, a migration of a slot its source does not own) is refused when applied, with
//! the error the client who asked for it sees; the log keeps the entry, and every node
//! refuses it the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Hash slots, as Redis Cluster defines them.
pub const SLOTS: usize = 16384;

/// Slots in ascending order as inclusive ranges.
pub fn to_ranges(slots: impl IntoIterator<Item = u16>) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for slot in slots {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == slot => *end = slot,
            _ => out.push((slot, slot)),
        }
    }
    out
}

/// A node's number in Raft and in the configuration: the first 16 hex digits of its
/// 40-character name.
pub type NodeId = u64;

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Primary,
    Replica { of: NodeId },
}

/// One node of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    /// 40 hex characters (CLUSTER MYID).
    pub name: String,
    pub host: String,
    /// The RESP port clients use.
    pub port: u16,
    /// The cluster bus port (Raft and health checks).
    pub bus_port: u16,
    pub role: Role,
    /// The configuration epoch this node last took slots at (CLUSTER NODES); a failover
    /// gives the promoted replica a new one, higher than any before.
    pub epoch: u64,
    /// The voters judged it unreachable (CLUSTER NODES `fail`); cleared when it answers.
    pub failed: bool,
}

impl Node {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn is_primary(&self) -> bool {
        self.role == Role::Primary
    }
}

/// A slot on its way from one primary to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    pub from: NodeId,
    pub to: NodeId,
}

/// A change to the configuration: one Raft log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A node joins (CLUSTER MEET), as a primary without slots.
    AddNode(Node),
    /// A node leaves (CLUSTER FORGET, `cairn cluster del-node`); it must own no slots.
    RemoveNode(NodeId),
    /// `node` takes these unowned slots (CLUSTER ADDSLOTS / ADDSLOTSRANGE), as inclusive
    /// ranges.
    AssignSlots {
        node: NodeId,
        ranges: Vec<(u16, u16)>,
    },
    /// These slots become unowned (CLUSTER DELSLOTS).
    UnassignSlots { ranges: Vec<(u16, u16)> },
    /// `node` becomes a replica of `primary` (CLUSTER REPLICATE); it must own no slots.
    Replicate { node: NodeId, primary: NodeId },
    /// A slot starts moving (CLUSTER SETSLOT MIGRATING / IMPORTING).
    BeginMigration { slot: u16, from: NodeId, to: NodeId },
    /// The slot's keys have moved: `to` owns it now (CLUSTER SETSLOT NODE).
    FinishMigration { slot: u16, to: NodeId },
    /// The slot stops moving and stays where it is (CLUSTER SETSLOT STABLE).
    CancelMigration { slot: u16 },
    /// `replica` takes over its primary's slots under a new epoch; the old primary and
    /// the other replicas become its replicas (failover, automatic or CLUSTER FAILOVER).
    Failover { replica: NodeId },
    /// The voters' verdict on a node's health.
    SetFailed { node: NodeId, failed: bool },
    /// A node came back with a new address (a restart on another port).
    SetAddress {
        node: NodeId,
        host: String,
        port: u16,
        bus_port: u16,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The cluster's current epoch (CLUSTER INFO cluster_current_epoch): raised by every
    /// change of slot ownership.
    pub epoch: u64,
    pub nodes: BTreeMap<NodeId, Node>,
    /// Each slot's owner; 0 for none (node ids are never 0).
    slots: Vec<NodeId>,
    pub migrations: BTreeMap<u16, Migration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            epoch: 0,
            nodes: BTreeMap::new(),
            slots: vec![0; SLOTS],
            migrations: BTreeMap::new(),
        }
    }
}

/// The node id of a 40-character node name.
pub fn id_of(name: &str) -> Option<NodeId> {
    let id = u64::from_str_radix(name.get(..16)?, 16).ok()?;
    (id != 0 && name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

impl Config {
    pub fn owner(&self, slot: u16) -> Option<NodeId> {
        match self.slots[slot as usize] {
            0 => None,
            id => Some(id),
        }
    }

    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(&id)
    }

    pub fn by_name(&self, name: &str) -> Option<&Node> {
        id_of(name).and_then(|id| self.nodes.get(&id))
    }

    /// Slots owned by `node`, as inclusive ranges in order.
    pub fn ranges_of(&self, node: NodeId) -> Vec<(u16, u16)> {
        to_ranges((0..SLOTS as u16).filter(|&s| self.slots[s as usize] == node))
    }

    /// Every owned range with its owner, in slot order (CLUSTER SLOTS).
    pub fn owned_ranges(&self) -> Vec<(u16, u16, NodeId)> {
        let mut out: Vec<(u16, u16, NodeId)> = Vec::new();
        for (slot, &owner) in self.slots.iter().enumerate() {
            if owner == 0 {
                continue;
            }
            let slot = slot as u16;
            match out.last_mut() {
                Some((_, end, o)) if *o == owner && *end + 1 == slot => *end = slot,
                _ => out.push((slot, slot, owner)),
            }
        }
        out
    }

    pub fn slots_assigned(&self) -> usize {
        self.slots.iter().filter(|&&o| o != 0).count()
    }

    pub fn slot_count(&self, node: NodeId) -> usize {
        self.slots.iter().filter(|&&o| o == node).count()
    }

    /// The replicas of `primary`, in id order.
    pub fn replicas_of(&self, primary: NodeId) -> Vec<&Node> {
        self.nodes
            .values()
            .filter(|n| n.role == Role::Replica { of: primary })
            .collect()
    }

    /// The primary a node belongs to: itself, or the one it replicates.
    pub fn primary_of(&self, node: NodeId) -> Option<NodeId> {
        match self.nodes.get(&node)?.role {
            Role::Primary => Some(node),
            Role::Replica { of } => Some(of),
        }
    }

    /// Applies one change. On error nothing changed.
    pub fn apply(&mut self, change: &Change) -> Result<(), String> {
        match change {
            Change::AddNode(node) => {
                if self.nodes.contains_key(&node.id) {
                    return Err(format!("ERR Node {} is already in the cluster", node.name));
                }
                self.nodes.insert(node.id, node.clone());
            }
            Change::RemoveNode(id) => {
                let node = self.known(*id)?;
                if self.slot_count(*id) > 0 {
                    return Err(format!(
                        "ERR Node {} still owns slots; move them first",
                        node.name
                    ));
                }
                if !self.replicas_of(*id).is_empty() {
                    return Err(format!(
                        "ERR Node {} still has replicas; move them first",
                        node.name
                    ));
                }
                if self
                    .migrations
                    .values()
                    .any(|m| m.from == *id || m.to == *id)
                {
                    return Err(format!("ERR Node {} takes part in a migration", node.name));
                }
                self.nodes.remove(id);
            }
            Change::AssignSlots { node, ranges } => {
                let n = self.known(*node)?;
                if !n.is_primary() {
                    return Err("ERR Only primaries can own slots".into());
                }
                for &(a, b) in ranges {
                    check_range(a, b)?;
                    for s in a..=b {
                        if self.slots[s as usize] != 0 {
                            return Err(format!("ERR Slot {s} is already busy"));
                        }
                    }
                }
                for &(a, b) in ranges {
                    for s in a..=b {
                        self.slots[s as usize] = *node;
                    }
                }
                self.epoch += 1;
                self.nodes.get_mut(node).expect("checked").epoch = self.epoch;
            }
            Change::UnassignSlots { ranges } => {
                for &(a, b) in ranges {
                    check_range(a, b)?;
                    for s in a..=b {
                        if self.slots[s as usize] == 0 {
                            return Err(format!("ERR Slot {s} is already unassigned"));
                        }
                        if self.migrations.contains_key(&s) {
                            return Err(format!("ERR Slot {s} is migrating"));
                        }
                    }
                }
                for &(a, b) in ranges {
                    for s in a..=b {
                        self.slots[s as usize] = 0;
                    }
                }
                self.epoch += 1;
            }
            Change::Replicate { node, primary } => {
                let p = self.known(*primary)?;
                if !p.is_primary() {
                    return Err("ERR I can only replicate a master, not a replica.".into());
                }
                if node == primary {
                    return Err("ERR Can't replicate myself".into());
                }
                self.known(*node)?;
                if self.slot_count(*node) > 0 {
                    return Err(
                        "ERR To set a master the node must be empty and without assigned slots."
                            .into(),
                    );
                }
                if !self.replicas_of(*node).is_empty() {
                    // Its replicas follow it to the new primary.
                    let theirs: Vec<NodeId> =
                        self.replicas_of(*node).iter().map(|r| r.id).collect();
                    for r in theirs {
                        self.nodes.get_mut(&r).expect("listed").role =
                            Role::Replica { of: *primary };
                    }
                }
                self.nodes.get_mut(node).expect("checked").role = Role::Replica { of: *primary };
            }
            Change::BeginMigration { slot, from, to } => {
                check_range(*slot, *slot)?;
                if self.owner(*slot) != Some(*from) {
                    return Err(format!("ERR I'm not the owner of hash slot {slot}"));
                }
                if from == to {
                    return Err("ERR The slot already belongs to that node".into());
                }
                if !self.known(*to)?.is_primary() {
                    return Err("ERR Target node is not a master".into());
                }
                if let Some(m) = self.migrations.get(slot)
                    && (m.from != *from || m.to != *to)
                {
                    return Err(format!("ERR Slot {slot} is already migrating elsewhere"));
                }
                self.migrations.insert(
                    *slot,
                    Migration {
                        from: *from,
                        to: *to,
                    },
                );
            }
            Change::FinishMigration { slot, to } => {
                check_range(*slot, *slot)?;
                let target = self.known(*to)?;
                if !target.is_primary() {
                    return Err("ERR Target node is not a master".into());
                }
                self.migrations.remove(slot);
                if self.slots[*slot as usize] != *to {
                    self.slots[*slot as usize] = *to;
                    self.epoch += 1;
                    self.nodes.get_mut(to).expect("checked").epoch = self.epoch;
                }
            }
            Change::CancelMigration { slot } => {
                self.migrations.remove(slot);
            }
            Change::Failover { replica } => {
                let node = self.known(*replica)?;
                let Role::Replica { of: old } = node.role else {
                    return Err("ERR You should send CLUSTER FAILOVER to a replica".into());
                };
                let siblings: Vec<NodeId> = self
                    .replicas_of(old)
                    .iter()
                    .map(|r| r.id)
                    .filter(|id| id != replica)
                    .collect();
                for s in self.slots.iter_mut() {
                    if *s == old {
                        *s = *replica;
                    }
                }
                for m in self.migrations.values_mut() {
                    if m.from == old {
                        m.from = *replica;
                    }
                    if m.to == old {
                        m.to = *replica;
                    }
                }
                self.epoch += 1;
                let epoch = self.epoch;
                let new = self.nodes.get_mut(replica).expect("checked");
                new.role = Role::Primary;
                new.epoch = epoch;
                new.failed = false;
                if let Some(o) = self.nodes.get_mut(&old) {
                    o.role = Role::Replica { of: *replica };
                }
                for s in siblings {
                    self.nodes.get_mut(&s).expect("listed").role = Role::Replica { of: *replica };
                }
            }
            Change::SetFailed { node, failed } => {
                self.known(*node)?;
                self.nodes.get_mut(node).expect("checked").failed = *failed;
            }
            Change::SetAddress {
                node,
                host,
                port,
                bus_port,
            } => {
                self.known(*node)?;
                let n = self.nodes.get_mut(node).expect("checked");
                n.host = host.clone();
                n.port = *port;
                n.bus_port = *bus_port;
            }
        }
        Ok(())
    }

    fn known(&self, id: NodeId) -> Result<&Node, String> {
        self.nodes
            .get(&id)
            .ok_or_else(|| format!("ERR Unknown node {id:016x}"))
    }
}

fn check_range(a: u16, b: u16) -> Result<(), String> {
    if a as usize >= SLOTS || b as usize >= SLOTS {
        return Err("ERR Invalid or out of range slot".into());
    }
    if a > b {
        return Err(format!(
            "ERR start slot number {a} is greater than end slot number {b}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: u64, role: Role) -> Node {
        Node {
            id: n,
            name: format!("{n:016x}{}", "0".repeat(24)),
            host: "127.0.0.1".into(),
            port: 7000 + n as u16,
            bus_port: 17000 + n as u16,
            role,
            epoch: 0,
            failed: false,
        }
    }

    fn three_shards() -> Config {
        let mut c = Config::default();
        for n in 1..=3 {
            c.apply(&Change::AddNode(node(n, Role::Primary))).unwrap();
        }
        for n in 4..=6 {
            c.apply(&Change::AddNode(node(n, Role::Primary))).unwrap();
            c.apply(&Change::Replicate {
                node: n,
                primary: n - 3,
            })
            .unwrap();
        }
        c.apply(&Change::AssignSlots {
            node: 1,
            ranges: vec![(0, 5460)],
        })
        .unwrap();
        c.apply(&Change::AssignSlots {
            node: 2,
            ranges: vec![(5461, 10922)],
        })
        .unwrap();
        c.apply(&Change::AssignSlots {
            node: 3,
            ranges: vec![(10923, 16383)],
        })
        .unwrap();
        c
    }

    #[test]
    fn slots_have_one_owner_each() {
        let mut c = three_shards();
        assert_eq!(c.slots_assigned(), SLOTS);
        assert_eq!(c.owner(0), Some(1));
        assert_eq!(c.owner(16383), Some(3));
        let before = c.clone();
        let e = c
            .apply(&Change::AssignSlots {
                node: 2,
                ranges: vec![(100, 100)],
            })
            .unwrap_err();
        assert!(e.contains("busy"), "{e}");
        assert_eq!(c, before, "a refused change changes nothing");
        assert_eq!(
            c.owned_ranges(),
            vec![(0, 5460, 1), (5461, 10922, 2), (10923, 16383, 3)]
        );
    }

    #[test]
    fn replicas_cannot_own_slots_nor_be_replicated() {
        let mut c = three_shards();
        assert!(
            c.apply(&Change::AssignSlots {
                node: 4,
                ranges: vec![(0, 0)]
            })
            .is_err()
        );
        let e = c
            .apply(&Change::Replicate {
                node: 5,
                primary: 4,
            })
            .unwrap_err();
        assert!(e.contains("only replicate a master"), "{e}");
        let e = c
            .apply(&Change::Replicate {
                node: 1,
                primary: 2,
            })
            .unwrap_err();
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn a_failover_moves_slots_and_roles_under_a_new_epoch() {
        let mut c = three_shards();
        c.apply(&Change::AddNode(node(7, Role::Primary))).unwrap();
        c.apply(&Change::Replicate {
            node: 7,
            primary: 1,
        })
        .unwrap();
        let epoch = c.epoch;
        c.apply(&Change::Failover { replica: 4 }).unwrap();
        assert!(c.epoch > epoch);
        assert_eq!(c.owner(0), Some(4));
        assert_eq!(c.slot_count(1), 0);
        assert_eq!(c.node(4).unwrap().role, Role::Primary);
        assert_eq!(c.node(4).unwrap().epoch, c.epoch);
        assert_eq!(c.node(1).unwrap().role, Role::Replica { of: 4 });
        assert_eq!(c.node(7).unwrap().role, Role::Replica { of: 4 });
        // The other shards are untouched.
        assert_eq!(c.owner(6000), Some(2));
        // Only a replica can be promoted.
        assert!(c.apply(&Change::Failover { replica: 2 }).is_err());
    }

    #[test]
    fn a_migration_hands_a_slot_over_once_finished() {
        let mut c = three_shards();
        let e = c
            .apply(&Change::BeginMigration {
                slot: 0,
                from: 2,
                to: 3,
            })
            .unwrap_err();
        assert!(e.contains("not the owner"), "{e}");
        c.apply(&Change::BeginMigration {
            slot: 0,
            from: 1,
            to: 3,
        })
        .unwrap();
        assert_eq!(c.migrations.get(&0), Some(&Migration { from: 1, to: 3 }));
        // Ownership does not change until the move is finished.
        assert_eq!(c.owner(0), Some(1));
        assert!(
            c.apply(&Change::UnassignSlots {
                ranges: vec![(0, 0)]
            })
            .is_err()
        );
        c.apply(&Change::FinishMigration { slot: 0, to: 3 })
            .unwrap();
        assert_eq!(c.owner(0), Some(3));
        assert!(c.migrations.is_empty());
        assert_eq!(c.ranges_of(1), vec![(1, 5460)]);
        assert_eq!(c.ranges_of(3), vec![(0, 0), (10923, 16383)]);
    }

    #[test]
    fn nodes_with_slots_or_replicas_cannot_leave() {
        let mut c = three_shards();
        assert!(c.apply(&Change::RemoveNode(1)).is_err());
        c.apply(&Change::RemoveNode(4)).unwrap();
        assert!(c.node(4).is_none());
    }

    #[test]
    fn names_map_to_ids() {
        let name = "07c37dfeb235213a872192d90877d0cd55635b91";
        assert_eq!(id_of(name), Some(0x07c3_7dfe_b235_213a));
        assert_eq!(id_of("xyz"), None);
        assert_eq!(id_of(&"0".repeat(40)), None);
    }
}
