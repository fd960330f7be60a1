//! `cairn cluster create`: make a cluster of empty nodes.
//!
//! The order matters for Cairn, which keeps the cluster's configuration in Raft: a node
//! cannot own slots before the nodes have met and formed one configuration. So:
//!
//! ```text
//! 0. every Cairn node: CONFIG SET cluster-secret s   where it has none (see `secret`)
//! 1. first node: CLUSTER MEET ip port      for every other node
//! 2. wait until every node's CLUSTER NODES lists every other node (out of a handshake)
//! 3. each primary: CLUSTER ADDSLOTSRANGE a b
//! 4. each replica: CLUSTER REPLICATE primary-id
//! 5. wait until every node reports the same members, roles and slots, and cluster_state:ok
//! ```
//!
//! (redis-cli assigns slots first and sets config epochs; neither is needed here.)

use std::io::{BufRead as _, Write as _};

use anyhow::{anyhow, bail};

use super::node::Node;
use super::plan;
use super::secret;
use super::view;

/// Refuses a node that is already part of something: it must know only itself, own no
/// slot and hold no key.
pub fn require_empty(node: &mut Node) -> anyhow::Result<()> {
    let info = node.cluster_info()?;
    let known = info.get("cluster_known_nodes").map(String::as_str);
    if known != Some("1") {
        bail!(
            "{} is not empty: it already knows {} node(s) (a node joins one cluster only; \
             remove it from the other first)",
            node.addr,
            known.unwrap_or("?")
        );
    }
    let assigned = info.get("cluster_slots_assigned").map(String::as_str);
    if assigned.is_some_and(|a| a != "0") {
        bail!("{} is not empty: it owns slots", node.addr);
    }
    let keys = node.dbsize()?;
    if keys > 0 {
        bail!("{} is not empty: it holds {keys} key(s)", node.addr);
    }
    Ok(())
}

/// Asks `question` on stdout and reads one line from stdin; only `yes` is a yes.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    print!("{question} ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// Creates a cluster of the nodes at `addrs` with `replicas` replicas per primary.
pub fn create(
    addrs: &[String],
    replicas: usize,
    yes: bool,
    cluster_secret: Option<&str>,
) -> anyhow::Result<i32> {
    let mut nodes = Vec::new();
    for a in addrs {
        let mut n = Node::connect(a)?;
        require_empty(&mut n)?;
        if let Some(other) = nodes.iter().find(|o: &&Node| o.id == n.id) {
            bail!("{} and {} are the same node", other.addr, n.addr);
        }
        nodes.push(n);
    }
    let hosts: Vec<String> = nodes.iter().map(Node::ip).collect::<anyhow::Result<_>>()?;
    let plan = plan::create_plan(&hosts, replicas).map_err(|e| anyhow!(e))?;

    println!(
        ">>> Performing hash slots allocation on {} nodes...",
        nodes.len()
    );
    for (i, &(_, a, b)) in plan.primaries.iter().enumerate() {
        println!("Master[{i}] -> Slots {a} - {b}");
    }
    for &(r, m) in &plan.replicas {
        println!("Adding replica {} to {}", nodes[r].addr, nodes[m].addr);
    }
    for &(p, a, b) in &plan.primaries {
        println!("M: {} {}", nodes[p].id, nodes[p].addr);
        println!("   slots:{a}-{b} ({} slots) master", b - a + 1);
    }
    for &(r, m) in &plan.replicas {
        println!("S: {} {}", nodes[r].id, nodes[r].addr);
        println!("   replicates {}", nodes[m].id);
    }
    if !yes && !confirm("Can I set the above configuration? (type 'yes' to accept):")? {
        println!("Aborted: nothing was changed.");
        return Ok(1);
    }

    secret::install(&mut nodes, cluster_secret)?;
    println!(">>> Sending CLUSTER MEET messages to join the cluster");
    let ids: Vec<String> = nodes.iter().map(|n| n.id.clone()).collect();
    let (first, rest) = nodes.split_first_mut().expect("at least 3 nodes");
    for n in rest.iter_mut() {
        first.meet(n)?;
    }
    {
        let mut refs: Vec<&mut Node> = nodes.iter_mut().collect();
        view::wait_for("the nodes to meet", || view::all_known(&mut refs, &ids))?;
    }

    println!(">>> Assigning slots");
    for &(p, a, b) in &plan.primaries {
        nodes[p].add_slot_ranges(&[(a, b)])?;
    }
    println!(">>> Setting replicas");
    for &(r, m) in &plan.replicas {
        let primary = nodes[m].id.clone();
        nodes[r].replicate(&primary)?;
    }
    {
        let mut refs: Vec<&mut Node> = nodes.iter_mut().collect();
        view::wait_for("the cluster to agree on the slot map", || {
            view::settled(&mut refs, true)
        })?;
    }
    println!(
        "[OK] Cluster created: {} primaries, {} replicas; every node agrees and reports cluster_state:ok.",
        plan.primaries.len(),
        plan.replicas.len()
    );
    println!(
        "    try it: redis-cli -c -h {} -p {}",
        nodes[0].host, nodes[0].port
    );
    Ok(0)
}
