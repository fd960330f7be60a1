//! `cairn cluster check` (is the cluster whole and settled?) and `cairn cluster info`
//! (who holds what).

use super::topology::{self, NodeEntry, short};
use super::view::Cluster;

/// Prints each primary with its slots and replicas, as redis-cli's `--cluster check`.
fn print_layout(cluster: &Cluster) {
    for m in cluster.primaries() {
        print_entry(cluster, &m.entry);
    }
    for e in cluster.map().iter().filter(|e| e.is_replica()) {
        print_entry(cluster, e);
    }
}

fn print_entry(cluster: &Cluster, e: &NodeEntry) {
    let addr = cluster
        .member(&e.id)
        .map_or_else(|| e.addr(), |m| m.node.addr.clone());
    if e.is_primary() {
        println!("M: {} {addr}", e.id);
        println!(
            "   slots:[{}] ({} slots) master",
            topology::format_ranges(&e.slots),
            e.slot_count()
        );
        let n = cluster.replicas_of(&e.id).len();
        if n > 0 {
            println!("   {n} additional replica(s)");
        }
    } else {
        println!("S: {} {addr}", e.id);
        println!(
            "   slots: (0 slots) slave\n   replicates {}",
            e.master.as_deref().unwrap_or("-")
        );
    }
}

/// Returns 0 when every slot is covered, every node agrees, no slot is open and every
/// node is reachable and `cluster_state:ok`; else 1, after listing the problems.
pub fn check(addr: &str) -> anyhow::Result<i32> {
    let mut cluster = Cluster::load(addr)?;
    let mut problems = Vec::new();
    println!(
        ">>> Performing Cluster Check (using node {})",
        cluster.members[0].node.addr
    );
    print_layout(&cluster);

    for (e, why) in &cluster.unreachable {
        problems.push(format!(
            "{} ({}) is unreachable: {why}",
            e.addr(),
            short(&e.id)
        ));
    }
    for e in cluster.map().iter().filter(|e| e.is_failing()) {
        problems.push(format!(
            "{} ({}) is flagged {}",
            e.addr(),
            short(&e.id),
            e.flags.join(",")
        ));
    }
    for e in cluster.map().iter().filter(|e| e.is_replica()) {
        let known_primary = e
            .master
            .as_deref()
            .and_then(|p| cluster.map().iter().find(|x| x.id == p))
            .is_some_and(NodeEntry::is_primary);
        if !known_primary {
            problems.push(format!(
                "replica {} ({}) follows {}, which is not a known primary",
                e.addr(),
                short(&e.id),
                e.master.as_deref().map_or("nothing", short)
            ));
        }
    }
    for m in cluster.primaries() {
        if cluster.replicas_of(&m.node.id).is_empty() && m.entry.slot_count() > 0 {
            println!(
                "[WARNING] primary {} has no replica",
                cluster.label(&m.node.id)
            );
        }
    }

    let disagreements = cluster.disagreements();
    if disagreements.is_empty() {
        println!("[OK] All nodes agree about slots configuration.");
    }
    problems.extend(disagreements);

    println!(">>> Check for open slots...");
    let open = cluster.open_slots();
    for o in &open {
        problems.push(format!("slot {} is open: {}", o.slot, o.describe()));
    }
    if !open.is_empty() {
        let slots: Vec<u16> = open.iter().map(|o| o.slot).collect();
        println!(
            "[WARNING] Open slots: {} (`cairn cluster fix {addr}` finishes them, `--rollback` undoes them)",
            topology::format_ranges(&topology::ranges(slots))
        );
    }

    println!(">>> Check slots coverage...");
    let uncovered = cluster.uncovered();
    if uncovered.is_empty() {
        println!("[OK] All {} slots covered.", topology::SLOTS);
    } else {
        problems.push(format!(
            "Not all {} slots are covered by nodes: {} missing ({})",
            topology::SLOTS,
            uncovered.len(),
            topology::format_ranges(&topology::ranges(uncovered))
        ));
    }

    for m in &mut cluster.members {
        // A node that does not answer is one more problem to list, not the end of the check.
        match m.node.cluster_info() {
            Ok(info) => {
                let state = info.get("cluster_state").map_or("?", String::as_str);
                if state != "ok" {
                    problems.push(format!("{} reports cluster_state:{state}", m.node.addr));
                }
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }

    if problems.is_empty() {
        Ok(0)
    } else {
        for p in &problems {
            println!("[ERR] {p}");
        }
        println!("*** {} problem(s) found", problems.len());
        Ok(1)
    }
}

/// Per primary: address, slots, keys (DBSIZE), replicas; then the totals.
pub fn info(addr: &str) -> anyhow::Result<i32> {
    let mut cluster = Cluster::load(addr)?;
    let mut total_keys = 0u64;
    let mut primaries = 0usize;
    let ids = cluster.primary_ids();
    for id in &ids {
        let keys = cluster.member_mut(id)?.node.dbsize()?;
        total_keys += keys;
        primaries += 1;
        let m = cluster.member(id).expect("listed");
        let replicas = cluster.replicas_of(id);
        println!(
            "{} ({}) -> {keys} keys | {} slots | {} replica(s)",
            m.node.addr,
            short(id),
            m.entry.slot_count(),
            replicas.len()
        );
        println!("   slots: {}", topology::format_ranges(&m.entry.slots));
        for r in replicas {
            println!("   replica: {} ({})", r.addr(), short(&r.id));
        }
    }
    for (e, why) in &cluster.unreachable {
        println!("{} ({}) unreachable: {why}", e.addr(), short(&e.id));
    }
    println!("[OK] {total_keys} keys in {primaries} primaries.");
    println!(
        "{:.2} keys per slot on average.",
        total_keys as f64 / f64::from(topology::SLOTS)
    );
    Ok(0)
}
