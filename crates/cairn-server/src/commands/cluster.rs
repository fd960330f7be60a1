//! Cluster commands: CLUSTER (the client face, and the administration `cairn cluster`
//! and redis-cli drive), READONLY / READWRITE / ASKING, MIGRATE and RESTORE-ASKING.
//! Replies are Redis Cluster's, to the byte where clients parse them (CLUSTER SLOTS,
//! SHARDS, NODES, MOVED/ASK lines). Changes go through the cluster's Raft log
//! (`cairn_cluster`): the command answers once the change is committed.

use std::sync::Arc;
use std::time::Duration;

use cairn_cluster::{Change, Config, Node, NodeId, Role, SLOTS};
use cairn_protocol::Args;

use crate::cluster::state::Cluster;
use crate::commands::args::{help_reply, int_arg, is};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::migrate;
use crate::park::Park;
use crate::peer::{self, Peer};
use crate::spec::{Find, KeySpec, Spec, acl, flags::*, key};

const CLUSTER_SUBCOMMANDS: &[Command] = &[
    Spec::new("cluster|info", 2, "cluster")
        .flags(STALE)
        .tips(&["nondeterministic_output"])
        .doc("3.0.0", "Returns information about the state of a node.")
        .complexity("O(1)")
        .run(info),
    Spec::new("cluster|myid", 2, "cluster")
        .flags(STALE)
        .doc("3.0.0", "Returns the ID of a node.")
        .complexity("O(1)")
        .run(myid),
    Spec::new("cluster|myshardid", 2, "cluster")
        .flags(STALE)
        .tips(&["nondeterministic_output"])
        .doc("3.0.0", "Returns the shard ID of a node.")
        .complexity("O(1)")
        .run(myshardid),
    Spec::new("cluster|nodes", 2, "cluster")
        .flags(STALE)
        .tips(&["nondeterministic_output"])
        .doc("3.0.0", "Returns the cluster configuration for a node.")
        .complexity("O(N) where N is the total number of Cluster nodes")
        .run(nodes),
    Spec::new("cluster|slots", 2, "cluster")
        .flags(LOADING | STALE)
        .tips(&["nondeterministic_output"])
        .doc("3.0.0", "Returns the mapping of cluster slots to nodes.")
        .complexity("O(N) where N is the total number of Cluster nodes")
        .deprecated("7.0.0", "`CLUSTER SHARDS`")
        .run(slots),
    Spec::new("cluster|shards", 2, "cluster")
        .flags(LOADING | STALE)
        .tips(&["nondeterministic_output"])
        .doc("3.0.0", "Returns the mapping of cluster slots to shards.")
        .complexity("O(N) where N is the total number of cluster nodes")
        .run(shards),
    Spec::new("cluster|keyslot", 3, "cluster")
        .flags(STALE)
        .doc("3.0.0", "Returns the hash slot for a key.")
        .complexity("O(N) where N is the number of bytes in the key")
        .run(keyslot),
    Spec::new("cluster|countkeysinslot", 3, "cluster")
        .flags(STALE)
        .tips(&["nondeterministic_output"])
        .doc("3.0.0", "Returns the number of keys in a hash slot.")
        .complexity("O(1)")
        .run(countkeysinslot),
    Spec::new("cluster|getkeysinslot", 4, "cluster")
        .flags(STALE)
        .tips(&["nondeterministic_output"])
        .doc("3.0.0", "Returns the key names in a hash slot.")
        .complexity("O(N) where N is the number of requested keys")
        .run(getkeysinslot),
    Spec::new("cluster|count-failure-reports", 3, "cluster")
        .flags(ADMIN | STALE)
        .tips(&["nondeterministic_output"])
        .doc("3.0.0", "Returns the number of active failure reports active for a node.")
        .complexity("O(N) where N is the number of failure reports")
        .run(count_failure_reports),
    Spec::new("cluster|replicas", 3, "cluster")
        .flags(ADMIN | STALE)
        .tips(&["nondeterministic_output"])
        .doc("3.0.0", "Lists the replica nodes of a master node.")
        .complexity("O(1)")
        .run(replicas),
    Spec::new("cluster|slaves", 3, "cluster")
        .flags(ADMIN | STALE)
        .tips(&["nondeterministic_output"])
        .doc("3.0.0", "Lists the replica nodes of a master node.")
        .complexity("O(1)")
        .deprecated("5.0.0", "`CLUSTER REPLICAS`")
        .run(replicas),
    Spec::new("cluster|meet", -4, "cluster")
        .flags(ADMIN | STALE | NO_ASYNC_LOADING)
        .doc("3.0.0", "Forces a node to handshake with another node.")
        .complexity("O(1)")
        .run(meet),
    Spec::new("cluster|addslots", -3, "cluster")
        .flags(ADMIN | STALE | NO_ASYNC_LOADING)
        .tips(&["nondeterministic_output"])
        .doc("3.0.0", "Assigns new hash slots to a node.")
        .complexity("O(N) where N is the total number of hash slot arguments")
        .run(addslots),
    Spec::new("cluster|addslotsrange", -4, "cluster")
        .flags(ADMIN | STALE | NO_ASYNC_LOADING)
        .doc("3.0.0", "Assigns new hash slot ranges to a node.")
        .complexity("O(N) where N is the total number of the slots between the start slot and end slot arguments.")
        .run(addslotsrange),
    Spec::new("cluster|delslots", -3, "cluster")
        .flags(ADMIN | STALE | NO_ASYNC_LOADING)
        .tips(&["nondeterministic_output"])
        .doc("3.0.0", "Sets hash slots as unbound for a node.")
        .complexity("O(N) where N is the total number of hash slot arguments")
        .run(delslots),
    Spec::new("cluster|delslotsrange", -4, "cluster")
        .flags(ADMIN | STALE | NO_ASYNC_LOADING)
        .doc("3.0.0", "Sets hash slot ranges as unbound for a node.")
        .complexity("O(N) where N is the total number of the slots between the start slot and end slot arguments.")
        .run(delslotsrange),
    Spec::new("cluster|replicate", 3, "cluster")
        .flags(ADMIN | STALE | NO_ASYNC_LOADING)
        .doc("3.0.0", "Configure a node as replica of a master node.")
        .complexity("O(1)")
        .run(replicate),
    Spec::new("cluster|forget", 3, "cluster")
        .flags(ADMIN | STALE | NO_ASYNC_LOADING)
        .doc("3.0.0", "Removes a node from the nodes table.")
        .complexity("O(1)")
        .run(forget),
    Spec::new("cluster|setslot", -4, "cluster")
        .flags(ADMIN | STALE | NO_ASYNC_LOADING)
        .doc("3.0.0", "Binds a hash slot to a node.")
        .complexity("O(1)")
        .run(setslot),
    Spec::new("cluster|failover", -2, "cluster")
        .flags(ADMIN | STALE | NO_ASYNC_LOADING)
        .tips(&["nondeterministic_output"])
        .doc("3.0.0", "Forces a replica to perform a manual failover of its master.")
        .complexity("O(1)")
        .run(failover),
    Spec::new("cluster|saveconfig", 2, "cluster")
        .flags(ADMIN | STALE | NO_ASYNC_LOADING)
        .doc("3.0.0", "Forces a node to save the cluster configuration to disk.")
        .complexity("O(1)")
        .run(saveconfig),
    Spec::new("cluster|set-config-epoch", 3, "cluster")
        .flags(ADMIN | STALE | NO_ASYNC_LOADING)
        .doc("3.0.0", "Refused: epochs come from the cluster's Raft configuration.")
        .complexity("O(1)")
        .run(set_config_epoch),
    Spec::new("cluster|help", 2, "cluster")
        .flags(LOADING | STALE)
        .doc("3.0.0", "Returns helpful text about the different subcommands.")
        .complexity("O(1)")
        .run(help),
];

pub const COMMANDS: &[Command] = &[
    Spec::new("cluster", -2, "cluster")
        .doc("3.0.0", "A container for Redis Cluster commands.")
        .complexity("Depends on subcommand.")
        .container(CLUSTER_SUBCOMMANDS),
    Spec::new("readonly", 1, "cluster")
        .flags(LOADING | STALE | FAST)
        .acl(acl::CONNECTION)
        .doc("3.0.0", "Enables read-only queries for a connection to a Redis Cluster replica node.")
        .complexity("O(1)")
        .run(readonly),
    Spec::new("readwrite", 1, "cluster")
        .flags(LOADING | STALE | FAST)
        .acl(acl::CONNECTION)
        .doc("3.0.0", "Enables read-write queries for a connection to a Reids Cluster replica node.")
        .complexity("O(1)")
        .run(readwrite),
    Spec::new("asking", 1, "cluster")
        .flags(FAST)
        .acl(acl::CONNECTION)
        .doc("3.0.0", "Signals that a cluster client is following an -ASK redirect.")
        .complexity("O(1)")
        .run(asking),
    Spec::new("migrate", -6, "generic")
        .flags(WRITE | MOVES_KEYS)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .keys(&[KeySpec::one(3, key::RW | key::ACCESS | key::DELETE), KeySpec::after("KEYS", -2, Find::Range { last: -1, step: 1, limit: 0 }, key::RW | key::ACCESS | key::DELETE | key::INCOMPLETE)])
        .tips(&["nondeterministic_output"])
        .doc("2.6.0", "Atomically transfers a key from one Redis instance to another.")
        .complexity("This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed.")
        .getkeys(migrate_keys)
        .run(migrate),
    Spec::new("restore-asking", -4, "server")
        .flags(WRITE | DENYOOM | ASKING)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .keys(&[KeySpec::one(1, key::OW | key::UPDATE)])
        .doc("3.0.0", "An internal command for migrating keys in a cluster.")
        .complexity("O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).")
        .run(super::keys::restore),
];

fn cluster<'a>(ctx: &Ctx<'a>) -> Result<&'a Arc<Cluster>, CmdError> {
    ctx.server
        .cluster
        .get()
        .ok_or_else(|| CmdError::new("ERR This instance has cluster support disabled"))
}

/// Runs `op` after the reply of the commands before it; answers `+OK` or its error.
fn defer(
    ctx: &mut Ctx,
    op: impl std::future::Future<Output = Result<(), String>> + Send + 'static,
) -> CmdResult {
    ctx.park = Some(Park::Deferred(Box::pin(async move {
        op.await.map(|()| "OK".to_string())
    })));
    Ok(())
}

fn slot_arg(a: &[u8]) -> Result<u16, CmdError> {
    match int_arg(a) {
        Ok(n) if (0..SLOTS as i64).contains(&n) => Ok(n as u16),
        _ => Err(CmdError::new("ERR Invalid or out of range slot")),
    }
}

fn node_arg(config: &Config, a: &[u8]) -> Result<NodeId, CmdError> {
    let name = String::from_utf8_lossy(a);
    config
        .by_name(&name)
        .map(|n| n.id)
        .ok_or_else(|| CmdError::new(format!("ERR Unknown node {name}")))
}

/// The configuration's state as CLUSTER INFO reports it.
fn state_ok(ctx: &Ctx, c: &Config) -> bool {
    let full = c.slots_assigned() == SLOTS;
    let need_full = ctx.server.with_config(|c| c.cluster_require_full_coverage);
    let failed_owner = c
        .owned_ranges()
        .iter()
        .any(|&(_, _, o)| c.node(o).is_some_and(|n| n.failed));
    (full || !need_full) && !failed_owner
}

fn info(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let cl = cluster(ctx)?;
    let c = cl.node.config();
    let me = c.node(cl.node.me);
    let fail_slots: usize = c
        .owned_ranges()
        .iter()
        .filter(|&&(_, _, o)| c.node(o).is_some_and(|n| n.failed))
        .map(|&(a, b, _)| (b - a) as usize + 1)
        .sum();
    let assigned = c.slots_assigned();
    let size = c
        .nodes
        .values()
        .filter(|n| n.is_primary() && c.slot_count(n.id) > 0)
        .count();
    let my_epoch = match me.map(|n| n.role) {
        Some(Role::Replica { of }) => c.node(of).map_or(0, |p| p.epoch),
        _ => me.map_or(0, |n| n.epoch),
    };
    let lines = [
        format!(
            "cluster_state:{}",
            if state_ok(ctx, &c) { "ok" } else { "fail" }
        ),
        format!("cluster_slots_assigned:{assigned}"),
        format!("cluster_slots_ok:{}", assigned - fail_slots),
        "cluster_slots_pfail:0".to_string(),
        format!("cluster_slots_fail:{fail_slots}"),
        // A node that has met nobody knows itself, as Redis counts it.
        format!("cluster_known_nodes:{}", c.nodes.len().max(1)),
        format!("cluster_size:{size}"),
        format!("cluster_current_epoch:{}", c.epoch),
        format!("cluster_my_epoch:{my_epoch}"),
        "cluster_stats_messages_sent:0".to_string(),
        "cluster_stats_messages_received:0".to_string(),
        "total_cluster_links_buffer_limit_exceeded:0".to_string(),
        format!("cairn_raft_term:{}", cl.node.raft_term()),
        format!(
            "cairn_raft_leader:{}",
            cl.node
                .leader()
                .and_then(|l| c.node(l))
                .map_or("-".to_string(), |n| n.name.clone())
        ),
        format!("cairn_voters:{}", cl.node.voters().len()),
        format!(
            "cairn_fenced:{}",
            u8::from(!cl.node.writable_at(std::time::Instant::now()))
        ),
    ];
    let mut text = lines.join("\r\n");
    text.push_str("\r\n");
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn myid(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let name = cluster(ctx)?.node.name.clone();
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

/// A shard is named after its primary.
fn shard_name(c: &Config, n: &Node) -> String {
    match n.role {
        Role::Replica { of } => c.node(of).map_or(n.name.clone(), |p| p.name.clone()),
        Role::Primary => n.name.clone(),
    }
}

fn myshardid(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let cl = cluster(ctx)?;
    let c = cl.node.config();
    let me = c
        .node(cl.node.me)
        .ok_or_else(|| CmdError::new("ERR this node has not joined a cluster"))?;
    let name = shard_name(&c, me);
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

/// One CLUSTER NODES line.
fn node_line(c: &Config, n: &Node, me: NodeId) -> String {
    let mut flags = Vec::new();
    if n.id == me {
        flags.push("myself");
    }
    flags.push(if n.is_primary() { "master" } else { "slave" });
    if n.failed {
        flags.push("fail");
    }
    let primary = match n.role {
        Role::Replica { of } => c.node(of).map_or("-".to_string(), |p| p.name.clone()),
        Role::Primary => "-".into(),
    };
    let epoch = match n.role {
        Role::Replica { of } => c.node(of).map_or(n.epoch, |p| p.epoch),
        Role::Primary => n.epoch,
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut line = format!(
        "{} {}:{}@{} {} {} 0 {} {} {}",
        n.name,
        n.host,
        n.port,
        n.bus_port,
        flags.join(","),
        primary,
        if n.failed { 0 } else { now_ms },
        epoch,
        if n.failed {
            "disconnected"
        } else {
            "connected"
        }
    );
    for (a, b) in c.ranges_of(n.id) {
        if a == b {
            line.push_str(&format!(" {a}"));
        } else {
            line.push_str(&format!(" {a}-{b}"));
        }
    }
    for (slot, m) in &c.migrations {
        if m.from == n.id
            && let Some(t) = c.node(m.to)
        {
            line.push_str(&format!(" [{slot}->-{}]", t.name));
        }
        if m.to == n.id
            && let Some(f) = c.node(m.from)
        {
            line.push_str(&format!(" [{slot}-<-{}]", f.name));
        }
    }
    line
}

fn nodes(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let cl = cluster(ctx)?;
    let c = cl.node.config();
    let mut text = String::new();
    if c.nodes.is_empty() {
        // Not joined yet: this node alone, as Redis shows a fresh node, with the slots
        // claimed meanwhile.
        text.push_str(&format!(
            "{} {}:{}@{} myself,master - 0 0 0 connected",
            cl.node.name,
            cl.node.options().host,
            cl.node.options().port,
            cl.node.options().bus_port
        ));
        for (a, b) in cl.node.claimed() {
            text.push_str(&if a == b {
                format!(" {a}")
            } else {
                format!(" {a}-{b}")
            });
        }
        text.push('\n');
    }
    for n in c.nodes.values() {
        text.push_str(&node_line(&c, n, cl.node.me));
        text.push('\n');
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn node_entry(ctx: &mut Ctx, n: &Node) {
    ctx.out.array(4);
    ctx.out.bulk(n.host.as_bytes());
    ctx.out.int(n.port as i64);
    ctx.out.bulk(n.name.as_bytes());
    ctx.out.map(0);
}

fn slots(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let cl = cluster(ctx)?;
    let c = cl.node.config();
    let ranges = c.owned_ranges();
    ctx.out.array(ranges.len());
    for (a, b, owner) in ranges {
        let Some(p) = c.node(owner) else {
            ctx.out.null();
            continue;
        };
        let replicas: Vec<&Node> = c
            .replicas_of(owner)
            .into_iter()
            .filter(|r| !r.failed)
            .collect();
        ctx.out.array(3 + replicas.len());
        ctx.out.int(a as i64);
        ctx.out.int(b as i64);
        node_entry(ctx, p);
        for r in replicas {
            node_entry(ctx, r);
        }
    }
    Ok(())
}

fn shards(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let cl = cluster(ctx)?;
    let c = cl.node.config();
    let primaries: Vec<&Node> = c.nodes.values().filter(|n| n.is_primary()).collect();
    let offset = ctx.server.persist.stream.offset();
    ctx.out.array(primaries.len());
    for p in primaries {
        ctx.out.map(2);
        ctx.out.bulk(b"slots");
        let ranges = c.ranges_of(p.id);
        ctx.out.array(ranges.len() * 2);
        for (a, b) in ranges {
            ctx.out.int(a as i64);
            ctx.out.int(b as i64);
        }
        ctx.out.bulk(b"nodes");
        let mut members = vec![p];
        members.extend(c.replicas_of(p.id));
        ctx.out.array(members.len());
        for n in members {
            ctx.out.map(7);
            ctx.out.bulk(b"id");
            ctx.out.bulk(n.name.as_bytes());
            ctx.out.bulk(b"port");
            ctx.out.int(n.port as i64);
            ctx.out.bulk(b"ip");
            ctx.out.bulk(n.host.as_bytes());
            ctx.out.bulk(b"endpoint");
            ctx.out.bulk(n.host.as_bytes());
            ctx.out.bulk(b"role");
            ctx.out.bulk(if n.is_primary() {
                b"master" as &[u8]
            } else {
                b"replica"
            });
            ctx.out.bulk(b"replication-offset");
            ctx.out
                .int(if n.id == cl.node.me { offset as i64 } else { 0 });
            ctx.out.bulk(b"health");
            ctx.out.bulk(if n.failed {
                b"fail" as &[u8]
            } else {
                b"online"
            });
        }
    }
    Ok(())
}

fn keyslot(ctx: &mut Ctx, args: Args) -> CmdResult {
    cluster(ctx)?;
    ctx.out.int(cairn_store::key_slot(args.get(2)) as i64);
    Ok(())
}

fn countkeysinslot(ctx: &mut Ctx, args: Args) -> CmdResult {
    cluster(ctx)?;
    let slot = slot_arg(args.get(2))?;
    let n = ctx.server.keyspace.lock(slot).db(ctx.db()).slot_len(slot);
    ctx.out.int(n as i64);
    Ok(())
}

fn getkeysinslot(ctx: &mut Ctx, args: Args) -> CmdResult {
    cluster(ctx)?;
    let slot = slot_arg(args.get(2))?;
    let count = int_arg(args.get(3))?;
    if count < 0 {
        return Err(CmdError::new("ERR Invalid number of keys"));
    }
    let now = ctx.now;
    let keys = ctx
        .server
        .keyspace
        .lock(slot)
        .db(ctx.db())
        .slot_keys(slot, count as usize, now);
    ctx.out.array(keys.len());
    for k in keys {
        ctx.out.bulk(&k);
    }
    Ok(())
}

fn count_failure_reports(ctx: &mut Ctx, args: Args) -> CmdResult {
    let cl = cluster(ctx)?;
    let id = node_arg(&cl.node.config(), args.get(2))?;
    ctx.out.int(cl.node.failure_reports(id) as i64);
    Ok(())
}

fn replicas(ctx: &mut Ctx, args: Args) -> CmdResult {
    let cl = cluster(ctx)?;
    let c = cl.node.config();
    let id = node_arg(&c, args.get(2))?;
    if !c.node(id).is_some_and(|n| n.is_primary()) {
        return Err(CmdError::new("ERR The specified node is not a master"));
    }
    let lines: Vec<String> = c
        .replicas_of(id)
        .into_iter()
        .map(|r| node_line(&c, r, cl.node.me))
        .collect();
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.bulk(l.as_bytes());
    }
    Ok(())
}

/// ```text
/// CLUSTER MEET ip port [cluster-bus-port]
/// ```
fn meet(ctx: &mut Ctx, args: Args) -> CmdResult {
    let node = cluster(ctx)?.node.clone();
    if args.len() > 5 {
        return Err(CmdError::syntax());
    }
    let host = String::from_utf8_lossy(args.get(2)).into_owned();
    let port = int_arg(args.get(3))
        .ok()
        .filter(|p| (1..=65535).contains(p))
        .ok_or_else(|| {
            CmdError::new(format!(
                "ERR Invalid base port specified: {}",
                String::from_utf8_lossy(args.get(3))
            ))
        })?;
    let bus = if args.len() == 5 {
        int_arg(args.get(4))
            .ok()
            .filter(|p| (1..=65535).contains(p))
            .ok_or_else(|| CmdError::new("ERR Invalid bus port specified"))?
    } else if port + 10000 <= 65535 {
        port + 10000
    } else {
        return Err(CmdError::new(
            "ERR the bus port (port + 10000) does not exist: give it as the third argument",
        ));
    };
    defer(ctx, async move { node.meet(host, bus as u16).await })
}

/// Slot ranges from `start end ...` pairs or single slots.
fn ranges(args: &Args, from: usize, pairs: bool) -> Result<Vec<(u16, u16)>, CmdError> {
    let mut out = Vec::new();
    let mut seen = vec![false; SLOTS];
    if pairs {
        if !(args.len() - from).is_multiple_of(2) {
            return Err(CmdError::arity(if from == 2 {
                "cluster|addslotsrange"
            } else {
                "cluster"
            }));
        }
        for i in (from..args.len()).step_by(2) {
            let (a, b) = (slot_arg(args.get(i))?, slot_arg(args.get(i + 1))?);
            if a > b {
                return Err(CmdError::new(format!(
                    "ERR start slot number {a} is greater than end slot number {b}"
                )));
            }
            out.push((a, b));
        }
    } else {
        for i in from..args.len() {
            let s = slot_arg(args.get(i))?;
            out.push((s, s));
        }
    }
    for &(a, b) in &out {
        for s in a..=b {
            if std::mem::replace(&mut seen[s as usize], true) {
                return Err(CmdError::new(format!(
                    "ERR Slot {s} specified multiple times"
                )));
            }
        }
    }
    Ok(out)
}

fn assign(ctx: &mut Ctx, args: Args, pairs: bool, add: bool) -> CmdResult {
    let node = cluster(ctx)?.node.clone();
    let ranges = ranges(&args, 2, pairs)?;
    if node.is_alone() {
        // Before the node meets a cluster (redis-cli --cluster create assigns slots
        // first): kept until it joins one, which assigns them.
        node.claim(&ranges, add).map_err(CmdError::new)?;
        ctx.out.ok();
        return Ok(());
    }
    let me = node.me;
    let c = node.config();
    // Tools written for Redis send DELSLOTS to every node (each Redis node forgets the
    // slots in its own view); here the first one did it for the whole cluster.
    if !add
        && ranges
            .iter()
            .all(|&(a, b)| (a..=b).all(|s| c.owner(s).is_none()))
    {
        ctx.out.ok();
        return Ok(());
    }
    let change = if add {
        Change::AssignSlots {
            node: me,
            ranges: ranges.clone(),
        }
    } else {
        Change::UnassignSlots {
            ranges: ranges.clone(),
        }
    };
    defer(ctx, async move {
        match node.propose(change).await {
            // Another node's DELSLOTS of the same slots committed first (this node's view
            // had not applied it yet): the slots are unassigned, as asked.
            Err(e)
                if !add
                    && e.contains("already unassigned")
                    && ranges
                        .iter()
                        .all(|&(a, b)| (a..=b).all(|s| node.config().owner(s).is_none())) =>
            {
                Ok(())
            }
            r => r,
        }
    })
}

fn addslots(ctx: &mut Ctx, args: Args) -> CmdResult {
    assign(ctx, args, false, true)
}

fn addslotsrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    assign(ctx, args, true, true)
}

fn delslots(ctx: &mut Ctx, args: Args) -> CmdResult {
    assign(ctx, args, false, false)
}

fn delslotsrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    assign(ctx, args, true, false)
}

fn replicate(ctx: &mut Ctx, args: Args) -> CmdResult {
    let node = cluster(ctx)?.node.clone();
    let c = node.config();
    let primary = node_arg(&c, args.get(2))?;
    let me = node.me;
    if primary == me {
        return Err(CmdError::new("ERR Can't replicate myself"));
    }
    defer(ctx, async move {
        node.propose(Change::Replicate { node: me, primary }).await
    })
}

fn forget(ctx: &mut Ctx, args: Args) -> CmdResult {
    let node = cluster(ctx)?.node.clone();
    let c = node.config();
    let id = node_arg(&c, args.get(2))?;
    if id == node.me {
        return Err(CmdError::new(
            "ERR I tried hard but I can't forget myself...",
        ));
    }
    if c.node(node.me).map(|n| n.role) == Some(Role::Replica { of: id }) {
        return Err(CmdError::new("ERR Can't forget my master!"));
    }
    defer(ctx, async move { node.forget(id).await })
}

/// ```text
/// CLUSTER SETSLOT slot IMPORTING node-id | MIGRATING node-id | NODE node-id | STABLE
/// ```
fn setslot(ctx: &mut Ctx, args: Args) -> CmdResult {
    let node = cluster(ctx)?.node.clone();
    let c = node.config();
    let slot = slot_arg(args.get(2))?;
    let me = node.me;
    let change = match (args.len(), args.get(3)) {
        (5, a) if is(a, "importing") => {
            let from = node_arg(&c, args.get(4))?;
            if c.owner(slot) == Some(me) {
                return Err(CmdError::new(format!(
                    "ERR I'm already the owner of hash slot {slot}"
                )));
            }
            Change::BeginMigration { slot, from, to: me }
        }
        (5, a) if is(a, "migrating") => {
            let to = node_arg(&c, args.get(4))?;
            if c.owner(slot) != Some(me) {
                return Err(CmdError::new(format!(
                    "ERR I'm not the owner of hash slot {slot}"
                )));
            }
            Change::BeginMigration { slot, from: me, to }
        }
        (5, a) if is(a, "node") => {
            let to = node_arg(&c, args.get(4))?;
            if to != me
                && c.owner(slot) == Some(me)
                && ctx.server.keyspace.lock(slot).db(0).slot_len(slot) > 0
            {
                return Err(CmdError::new(format!(
                    "ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
                )));
            }
            Change::FinishMigration { slot, to }
        }
        (4, a) if is(a, "stable") => Change::CancelMigration { slot },
        _ => return Err(CmdError::syntax()),
    };
    // redis-cli and `cairn cluster` send the same change to several nodes (IMPORTING to
    // the target, MIGRATING to the source, NODE to every primary): once committed, the
    // repeats change nothing and need no commit of their own.
    let already = match &change {
        Change::BeginMigration { from, to, .. } => c
            .migrations
            .get(&slot)
            .is_some_and(|m| m.from == *from && m.to == *to),
        Change::FinishMigration { to, .. } => {
            c.owner(slot) == Some(*to) && !c.migrations.contains_key(&slot)
        }
        Change::CancelMigration { .. } => !c.migrations.contains_key(&slot),
        _ => false,
    };
    if already {
        ctx.out.ok();
        return Ok(());
    }
    defer(ctx, async move { node.propose(change).await })
}

/// ```text
/// CLUSTER FAILOVER [FORCE|TAKEOVER]
/// ```
/// Without an option the primary is asked to hold its writes (CLIENT PAUSE WRITE) until
/// this replica holds every byte of its stream, so no acknowledged write is lost; then
/// the promotion is committed. FORCE and TAKEOVER commit it at once.
fn failover(ctx: &mut Ctx, args: Args) -> CmdResult {
    let node = cluster(ctx)?.node.clone();
    let force = match args.len() {
        2 => false,
        3 if is(args.get(2), "force") || is(args.get(2), "takeover") => true,
        _ => return Err(CmdError::syntax()),
    };
    let c = node.config();
    let Some(Role::Replica { of }) = c.node(node.me).map(|n| n.role) else {
        return Err(CmdError::new(
            "ERR You should send CLUSTER FAILOVER to a replica",
        ));
    };
    let primary = c.node(of).map(|p| (p.host.clone(), p.port));
    if !force && !ctx.server.replication.link().is_some_and(|l| l.is_up()) {
        return Err(CmdError::new(
            "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE",
        ));
    }
    let server = ctx.server.arc();
    let me = node.me;
    defer(ctx, async move {
        if !force {
            let (host, port) = primary.ok_or("ERR my master is unknown")?;
            catch_up(&server, &host, port).await?;
        }
        node.propose(Change::Failover { replica: me }).await
    })
}

/// Pauses the primary's writes and waits until this replica holds its whole stream.
async fn catch_up(server: &crate::server::Server, host: &str, port: u16) -> Result<(), String> {
    let mut conn = Peer::connect(host, port, Duration::from_secs(5))
        .await
        .map_err(|e| e.ioerr().to_string())?;
    call(&mut conn, &[b"CLIENT", b"PAUSE", b"10000", b"WRITE"]).await?;
    let info = call(&mut conn, &[b"INFO", b"replication"]).await?;
    let target: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or("ERR the master did not report its offset")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.persist.stream.offset() < target {
        if tokio::time::Instant::now() > deadline {
            let _ = call(&mut conn, &[b"CLIENT", b"UNPAUSE"]).await;
            return Err("ERR Manual failover timed out: the replica did not catch up".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// One command to another node: its reply's text; an error reply as `ERR <its line>`.
async fn call(conn: &mut Peer, args: &[&[u8]]) -> Result<String, String> {
    let reply = conn.call(args).await.map_err(|e| e.ioerr().to_string())?;
    peer::text(reply).map_err(|e| format!("ERR {e}"))
}

fn saveconfig(ctx: &mut Ctx, _args: Args) -> CmdResult {
    // Every change is on disk (fsynced by the Raft log) before it is applied.
    cluster(ctx)?;
    ctx.out.ok();
    Ok(())
}

/// CLUSTER SET-CONFIG-EPOCH epoch: Redis lets a tool give fresh nodes distinct epochs
/// (redis-cli --cluster create does, ignoring the reply); here every change commits with
/// the epoch the configuration gives it, so there is nothing to set.
fn set_config_epoch(ctx: &mut Ctx, args: Args) -> CmdResult {
    cluster(ctx)?;
    let epoch = String::from_utf8_lossy(args.get(2));
    if epoch.parse::<u64>().is_err() {
        return Err(CmdError::new(format!(
            "ERR Invalid config epoch specified: {epoch}"
        )));
    }
    Err(CmdError::new(
        "ERR epochs are assigned by Cairn's Raft configuration; SET-CONFIG-EPOCH is not needed",
    ))
}

fn help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "CLUSTER",
        &[
            "INFO | MYID | MYSHARDID | NODES | SLOTS | SHARDS",
            "    The cluster as this node serves it.",
            "KEYSLOT <key> | COUNTKEYSINSLOT <slot> | GETKEYSINSLOT <slot> <count>",
            "    Hash slots and their keys.",
            "MEET <ip> <port> [<bus-port>] | FORGET <node-id> | REPLICATE <node-id>",
            "    Join a node, remove one, make this node a replica (committed through Raft).",
            "ADDSLOTS(RANGE) | DELSLOTS(RANGE) | SETSLOT <slot> IMPORTING|MIGRATING|NODE|STABLE",
            "    Slot ownership and migration.",
            "FAILOVER [FORCE|TAKEOVER] | COUNT-FAILURE-REPORTS <node-id> | REPLICAS <node-id>",
            "    Promote this replica; failure reports; a master's replicas.",
        ],
    );
    Ok(())
}

fn readonly(ctx: &mut Ctx, _args: Args) -> CmdResult {
    cluster(ctx)?;
    ctx.session.readonly = true;
    ctx.out.ok();
    Ok(())
}

fn readwrite(ctx: &mut Ctx, _args: Args) -> CmdResult {
    cluster(ctx)?;
    ctx.session.readonly = false;
    ctx.out.ok();
    Ok(())
}

fn asking(ctx: &mut Ctx, _args: Args) -> CmdResult {
    cluster(ctx)?;
    ctx.session.asking = true;
    ctx.out.ok();
    Ok(())
}

/// MIGRATE's keys, as Redis's `migrateGetKeys`: the key argument, or, when it is empty,
/// every argument after KEYS (AUTH takes one argument and AUTH2 two before it).
fn migrate_keys<'a>(argc: usize, arg: &dyn Fn(usize) -> &'a [u8], out: &mut Vec<(usize, u32)>) {
    let (mut first, mut num) = (3, 1);
    let mut i = 6;
    while i < argc {
        let a = arg(i);
        if is(a, "keys") {
            if !arg(3).is_empty() {
                return;
            }
            first = i + 1;
            num = argc - first;
            break;
        }
        if is(a, "auth") {
            i += 1;
        } else if is(a, "auth2") {
            i += 2;
        }
        i += 1;
    }
    out.extend((first..first + num).map(|k| (k, key::RW | key::ACCESS | key::DELETE)));
}

/// ```text
/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
///         [AUTH2 username password] [KEYS key [key ...]]
/// ```
/// Parses the arguments; the keys are taken now and sent after the replies before this
/// one (`crate::migrate`, which says how). `NOKEY` when none of them is here.
fn migrate(ctx: &mut Ctx, args: Args) -> CmdResult {
    let host = String::from_utf8_lossy(args.get(1)).into_owned();
    let port = int_arg(args.get(2))?;
    if !(1..=65535).contains(&port) {
        return Err(CmdError::new("ERR Invalid port"));
    }
    let db = int_arg(args.get(4))?;
    let timeout = int_arg(args.get(5))?.max(1);
    let (mut copy, mut replace) = (false, false);
    let mut auth: Option<Vec<Vec<u8>>> = None;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut i = 6;
    while i < args.len() {
        let a = args.get(i);
        if is(a, "copy") {
            copy = true;
        } else if is(a, "replace") {
            replace = true;
        } else if is(a, "auth") && i + 1 < args.len() {
            auth = Some(vec![args.get(i + 1).to_vec()]);
            i += 1;
        } else if is(a, "auth2") && i + 2 < args.len() {
            auth = Some(vec![args.get(i + 1).to_vec(), args.get(i + 2).to_vec()]);
            i += 2;
        } else if is(a, "keys") {
            if !args.get(3).is_empty() {
                return Err(CmdError::new(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            keys.extend(args.tail(i + 1).iter().map(<[u8]>::to_vec));
            break;
        } else {
            return Err(CmdError::syntax());
        }
        i += 1;
    }
    if keys.is_empty() && !args.get(3).is_empty() {
        keys.push(args.get(3).to_vec());
    }
    let request = migrate::Request {
        host,
        port: port as u16,
        db,
        timeout: Duration::from_millis(timeout as u64),
        copy,
        replace,
        auth,
        keys,
    };
    let in_steps = ctx.may_park();
    let Some(batch) = migrate::take(ctx.server, ctx.db(), ctx.now, request, in_steps) else {
        ctx.out.simple("NOKEY");
        return Ok(());
    };
    if ctx.may_park() {
        ctx.park = Some(Park::Deferred(Box::pin(batch.send(ctx.server.arc()))));
    } else {
        // Inside EXEC: to its end before the next queued command, as in Redis.
        let line = batch.send_now(ctx.server).map_err(CmdError::new)?;
        ctx.out.simple(&line);
    }
    Ok(())
}
