//! `cairn cluster add-node` and `cairn cluster del-node`.
//!
//! ```text
//! add-node:  existing: CLUSTER MEET ip port; wait until every node knows the new one;
//!            new: CLUSTER REPLICATE primary-id (as a replica); wait until all agree
//! del-node:  (refused while the node owns slots) its replicas: CLUSTER REPLICATE another;
//!            every other node: CLUSTER FORGET id ("Unknown node" is fine: on Cairn one
//!            FORGET is enough); with --shutdown: SHUTDOWN to the node
//! ```

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

use super::create::require_empty;
use super::node::{Node, error_text};
use super::topology::short;
use super::view::{self, Cluster};

/// What `add-node` was asked.
pub struct AddNode<'a> {
    pub new: &'a str,
    pub existing: &'a str,
    pub replica: bool,
    /// The primary to replicate (an id or prefix); the one with fewest replicas if unset.
    pub primary: Option<&'a str>,
}

pub fn add_node(req: &AddNode<'_>) -> anyhow::Result<i32> {
    let mut cluster = Cluster::load(req.existing)?;
    for (e, why) in &cluster.unreachable {
        println!(
            "[WARNING] {} ({}) is unreachable: {why}",
            e.addr(),
            short(&e.id)
        );
    }
    let mut new = Node::connect(req.new)?;
    if cluster.known_ids().contains(&new.id.as_str()) {
        bail!("{} is already a member of this cluster", new.addr);
    }
    require_empty(&mut new)?;
    let primary = if req.replica || req.primary.is_some() {
        let id = match req.primary {
            Some(p) => cluster.resolve(p)?,
            None => cluster
                .primaries()
                .filter(|m| !m.entry.is_failing())
                .min_by_key(|m| cluster.replicas_of(&m.node.id).len())
                .map(|m| m.node.id.clone())
                .ok_or_else(|| anyhow!("the cluster has no reachable primary"))?,
        };
        if !cluster.member(&id).is_some_and(|m| m.entry.is_primary()) {
            bail!("{} is not a reachable primary", cluster.label(&id));
        }
        Some(id)
    } else {
        None
    };

    println!(
        ">>> Adding node {} ({}) to the cluster of {}",
        new.addr,
        short(&new.id),
        cluster.members[0].node.addr
    );
    super::secret::share(&mut cluster.members[0].node, &mut new)?;
    cluster.members[0].node.meet(&mut new)?;
    let mut ids: Vec<String> = cluster.members.iter().map(|m| m.node.id.clone()).collect();
    ids.push(new.id.clone());
    {
        let mut refs: Vec<&mut Node> = cluster.members.iter_mut().map(|m| &mut m.node).collect();
        refs.push(&mut new);
        view::wait_for("every node to know the new one", || {
            view::all_known(&mut refs, &ids)
        })?;
    }
    if let Some(p) = &primary {
        println!(">>> Configuring it as a replica of {}", cluster.label(p));
        new.replicate(p)?;
    }
    {
        let mut refs: Vec<&mut Node> = cluster.members.iter_mut().map(|m| &mut m.node).collect();
        refs.push(&mut new);
        view::wait_for("the cluster to agree", || view::settled(&mut refs, true))?;
    }
    match primary {
        Some(p) => println!(
            "[OK] {} added as a replica of {}.",
            new.addr,
            cluster.label(&p)
        ),
        None => println!(
            "[OK] {} added as a primary with no slots; `cairn cluster rebalance {} --use-empty-masters` or `reshard` gives it some.",
            new.addr, cluster.members[0].node.addr
        ),
    }
    Ok(0)
}

/// What `del-node` was asked.
pub struct DelNode<'a> {
    pub addr: &'a str,
    pub id: &'a str,
    pub shutdown: bool,
}

pub fn del_node(req: &DelNode<'_>) -> anyhow::Result<i32> {
    let mut cluster = Cluster::load(req.addr)?;
    let id = cluster.resolve(req.id)?;
    let entry = cluster
        .map()
        .iter()
        .find(|e| e.id == id)
        .cloned()
        .expect("resolved among the listed");
    if entry.slot_count() > 0 {
        bail!(
            "{} still owns {} slot(s); move them away first, e.g. \
             `cairn cluster reshard {} --from {} --to <another primary> --slots {}` \
             or `cairn cluster rebalance {} --weight {}=0`",
            cluster.label(&id),
            entry.slot_count(),
            req.addr,
            short(&id),
            entry.slot_count(),
            req.addr,
            short(&id)
        );
    }
    if let Some(o) = cluster.open_slots().iter().find(|o| {
        o.migrating
            .iter()
            .chain(&o.importing)
            .any(|(a, b)| *a == id || *b == id)
    }) {
        bail!(
            "{} takes part in the open slot {} ({}); run `cairn cluster fix {}` first",
            cluster.label(&id),
            o.slot,
            o.describe(),
            req.addr
        );
    }
    if cluster.members[0].node.id == id {
        bail!(
            "{} is the node to delete; give the address of another member",
            req.addr
        );
    }
    println!(">>> Removing node {} from the cluster", cluster.label(&id));

    // Its replicas follow the primary with the fewest replicas instead.
    let orphans: Vec<String> = cluster
        .replicas_of(&id)
        .iter()
        .map(|e| e.id.clone())
        .collect();
    for r in orphans {
        let new_primary = cluster
            .primaries()
            .filter(|m| m.node.id != id && !m.entry.is_failing())
            .min_by_key(|m| cluster.replicas_of(&m.node.id).len())
            .map(|m| m.node.id.clone())
            .ok_or_else(|| anyhow!("no other primary for its replica {} to follow", short(&r)))?;
        println!(
            ">>> Its replica {} now replicates {}",
            cluster.label(&r),
            cluster.label(&new_primary)
        );
        cluster.member_mut(&r)?.node.replicate(&new_primary)?;
    }

    println!(">>> Sending CLUSTER FORGET messages to the cluster...");
    let others: Vec<String> = cluster
        .members
        .iter()
        .map(|m| m.node.id.clone())
        .filter(|m| *m != id)
        .collect();
    for o in &others {
        let node = &mut cluster.member_mut(o)?.node;
        match node.query::<()>(&["CLUSTER", "FORGET", &id]) {
            Ok(()) => {}
            // Already forgotten (on Cairn, the first FORGET reached every node).
            Err(e) if error_text(&e).contains("Unknown node") => {}
            Err(e) => bail!(
                "{}: CLUSTER FORGET {}: {}",
                node.addr,
                short(&id),
                error_text(&e)
            ),
        }
    }
    {
        let target = id.clone();
        let mut refs: Vec<&mut Node> = cluster
            .members
            .iter_mut()
            .filter(|m| m.node.id != target)
            .map(|m| &mut m.node)
            .collect();
        view::wait_for("every node to forget it", || {
            for n in refs.iter_mut() {
                if n.nodes()?.iter().any(|e| e.id == target) {
                    return Ok(Some(format!("{} still lists it", n.addr)));
                }
            }
            Ok(None)
        })?;
    }
    if req.shutdown {
        shutdown(&mut cluster, &id)?;
    }
    println!("[OK] {} removed.", entry.addr());
    Ok(0)
}

/// Sends SHUTDOWN to the removed node and waits until it no longer answers.
fn shutdown(cluster: &mut Cluster, id: &str) -> anyhow::Result<()> {
    if cluster.member(id).is_none() {
        println!("    {} is not reachable: nothing to shut down", short(id));
        return Ok(());
    }
    let node = &mut cluster.member_mut(id)?.node;
    println!(">>> Shutting down {}", node.addr);
    // The connection closes under the reply: an I/O error is the expected answer.
    if let Err(e) = node.query::<()>(&["SHUTDOWN"])
        && e.code().is_some()
    {
        bail!("{}: SHUTDOWN: {}", node.addr, error_text(&e));
    }
    let addr = node.addr.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Node::connect(&addr).is_ok() {
        if Instant::now() > deadline {
            bail!("{addr} still answers 30s after SHUTDOWN");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
