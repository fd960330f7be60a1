//! `cairn cluster fix`: settle slots an interrupted migration left open (finish moving
//! them, or with `--rollback` move them back), and with `--cover` give uncovered slots an
//! owner.
//!
//! An open slot's two ends come from its markers (`[s->-id]` on the source, `[s-<-id]` on
//! the target). When the source named is gone (it crashed and a replica took over), the
//! slot's current owner stands in for it. Keys move with the same per-slot procedure as a
//! reshard, which skips every step already done.

use std::collections::BTreeMap;

use anyhow::anyhow;

use super::migrate::{self, MoveOptions, Outcome, SlotMove};
use super::node::{Node, SetSlot};
use super::throttle::Interrupt;
use super::topology::{self, short};
use super::view::{self, Cluster, OpenSlot};

/// What `fix` was asked.
pub struct Fix<'a> {
    pub addr: &'a str,
    pub rollback: bool,
    pub cover: bool,
}

/// How one open slot is to be settled.
enum Settle {
    /// Move its keys (forward, or back for a rollback).
    Move(SlotMove),
    /// Nothing to move (the other end is gone): clear the markers, give it to `owner`.
    Assign { slot: u16, owner: String },
}

/// Returns 0 when the cluster is left without open or uncovered slots, 1 when something
/// needs a person, 130 when interrupted.
pub fn fix(req: &Fix<'_>, opts: &MoveOptions) -> anyhow::Result<i32> {
    let mut cluster = Cluster::load(req.addr)?;
    let mut problems = Vec::new();
    for (e, why) in &cluster.unreachable {
        println!(
            "[WARNING] {} ({}) is unreachable: {why}",
            e.addr(),
            short(&e.id)
        );
    }
    let open = cluster.open_slots();
    let mut plan = Vec::new();
    println!(">>> Checking for open slots...");
    for o in &open {
        println!("    slot {}: {}", o.slot, o.describe());
        match settle_plan(&cluster, o, req.rollback) {
            Ok(s) => plan.push(s),
            Err(why) => problems.push(format!("slot {}: {why}", o.slot)),
        }
    }
    let interrupt = Interrupt::install();
    let moves: Vec<SlotMove> = plan
        .iter()
        .filter_map(|s| match s {
            Settle::Move(m) => Some(m.clone()),
            Settle::Assign { .. } => None,
        })
        .collect();
    if !moves.is_empty() {
        let what = if req.rollback {
            "Rolling back"
        } else {
            "Finishing"
        };
        println!(">>> {what} {} open slot(s)", moves.len());
        if let Outcome::Interrupted { open, .. } =
            migrate::run_moves(&mut cluster, &moves, opts, &interrupt)?
        {
            println!("{}", migrate::interrupted_message(&cluster, &open));
            println!("Run `cairn cluster fix {}` again to go on.", req.addr);
            return Ok(130);
        }
    }
    for s in &plan {
        if let Settle::Assign { slot, owner } = s {
            assign_open(&mut cluster, *slot, owner)?;
        }
    }
    // Markers left on nodes that are neither end (a stray SETSLOT): clear them.
    cluster.refresh()?;
    for o in cluster.open_slots() {
        let settled_here = plan.iter().any(|s| match s {
            Settle::Move(m) => m.slot == o.slot,
            Settle::Assign { slot, .. } => *slot == o.slot,
        });
        if settled_here {
            for (id, _) in o.migrating.iter().chain(&o.importing) {
                println!(
                    "    slot {}: clearing a stray marker on {}",
                    o.slot,
                    cluster.label(id)
                );
                cluster
                    .member_mut(id)?
                    .node
                    .setslot(o.slot, SetSlot::Stable)?;
            }
        }
    }

    println!(">>> Checking slot coverage...");
    cluster.refresh()?;
    let uncovered = cluster.uncovered();
    if uncovered.is_empty() {
        println!("[OK] All {} slots covered.", topology::SLOTS);
    } else if !req.cover {
        problems.push(format!(
            "{} slot(s) have no owner ({}); `cairn cluster fix {} --cover` assigns them",
            uncovered.len(),
            topology::format_ranges(&topology::ranges(uncovered.iter().copied())),
            req.addr
        ));
    } else {
        problems.extend(cover(&mut cluster, &uncovered)?);
    }
    if problems.is_empty() {
        let mut nodes: Vec<&mut Node> = cluster.members.iter_mut().map(|m| &mut m.node).collect();
        view::wait_for("the nodes to agree", || view::settled(&mut nodes, false))?;
        println!("[OK] Nothing left to fix.");
        Ok(0)
    } else {
        for p in &problems {
            println!("[ERR] {p}");
        }
        Ok(1)
    }
}

/// Decides how to settle one open slot, or says why a person must.
fn settle_plan(cluster: &Cluster, o: &OpenSlot, rollback: bool) -> Result<Settle, String> {
    if !o.consistent() {
        return Err(format!(
            "the markers tell more than one story ({}); settle it by hand with CLUSTER SETSLOT",
            o.describe()
        ));
    }
    let (named_source, named_target) = o.ends();
    let (named_source, named_target) = (
        named_source.expect("a consistent open slot has ends"),
        named_target.expect("a consistent open slot has ends"),
    );
    let owner = cluster.owners()[usize::from(o.slot)].clone();
    let live = |id: &str| {
        cluster
            .member(id)
            .is_some_and(|m| m.entry.is_primary() && !m.entry.is_failing())
    };
    // A source that crashed for good was replaced by a promoted replica, which owns the
    // slot now: it is the source.
    let source = if live(named_source) {
        named_source.to_string()
    } else {
        match owner.as_deref() {
            Some(o) if o != named_target && live(o) => {
                println!(
                    "    source {} is gone; its slot's owner {} stands in",
                    short(named_source),
                    cluster.label(o)
                );
                o.to_string()
            }
            _ => {
                return Err(format!(
                    "the source {} is gone and no live owner stands in",
                    short(named_source)
                ));
            }
        }
    };
    let target_live = live(named_target);
    let target = named_target.to_string();
    if rollback {
        if target_live {
            Ok(Settle::Move(SlotMove {
                slot: o.slot,
                from: target,
                to: source,
            }))
        } else {
            println!(
                "    target {} is unreachable: the keys it received cannot be moved back",
                short(&target)
            );
            Ok(Settle::Assign {
                slot: o.slot,
                owner: source,
            })
        }
    } else if target_live {
        Ok(Settle::Move(SlotMove {
            slot: o.slot,
            from: source,
            to: target,
        }))
    } else {
        Err(format!(
            "the target {} is unreachable: bring it back and run fix again, or keep the slot \
             on its source with `fix --rollback`",
            short(&target)
        ))
    }
}

/// Clears every marker for `slot` and makes `owner` its owner on every reachable primary.
fn assign_open(cluster: &mut Cluster, slot: u16, owner: &str) -> anyhow::Result<()> {
    let ids: Vec<String> = cluster.members.iter().map(|m| m.node.id.clone()).collect();
    for id in &ids {
        let m = cluster.member_mut(id)?;
        if view::marker_of(m, slot).is_some() {
            m.node.setslot(slot, SetSlot::Stable)?;
        }
    }
    cluster
        .member_mut(owner)?
        .node
        .setslot(slot, SetSlot::Node(owner))?;
    for id in cluster.primary_ids() {
        if id != owner {
            cluster
                .member_mut(&id)?
                .node
                .setslot(slot, SetSlot::Node(owner))?;
        }
    }
    println!("    slot {slot}: stays on {}", cluster.label(owner));
    Ok(())
}

/// Gives each uncovered slot an owner: the primary holding keys in it if there is one,
/// else the primary with the fewest slots. Returns what could not be done.
fn cover(cluster: &mut Cluster, uncovered: &[u16]) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let primaries: Vec<String> = cluster
        .primaries()
        .filter(|m| !m.entry.is_failing())
        .map(|m| m.node.id.clone())
        .collect();
    if primaries.is_empty() {
        return Err(anyhow!("no reachable primary to give the slots to"));
    }
    let mut count: BTreeMap<String, usize> = primaries
        .iter()
        .map(|id| {
            (
                id.clone(),
                cluster.member(id).map_or(0, |m| m.entry.slot_count()),
            )
        })
        .collect();
    let mut assign: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for &slot in uncovered {
        let mut holders = Vec::new();
        for id in &primaries {
            let keys = cluster.member_mut(id)?.node.count_keys(slot)?;
            if keys > 0 {
                holders.push((keys, id.clone()));
            }
        }
        holders.sort();
        let owner = match holders.last() {
            Some((_, id)) => id.clone(),
            None => primaries
                .iter()
                .min_by_key(|id| count[*id])
                .expect("not empty")
                .clone(),
        };
        if holders.len() > 1 {
            problems.push(format!(
                "slot {slot} had keys on {} nodes; given to {}, the others' keys must be \
                 moved or dropped by hand",
                holders.len(),
                cluster.label(&owner)
            ));
        }
        *count.get_mut(&owner).expect("a primary") += 1;
        assign.entry(owner).or_default().push(slot);
    }
    for (id, slots) in &assign {
        let ranges = topology::ranges(slots.iter().copied());
        println!(
            "    covering {} slot(s) with {}: {}",
            slots.len(),
            cluster.label(id),
            topology::format_ranges(&ranges)
        );
        cluster.member_mut(id)?.node.add_slot_ranges(&ranges)?;
    }
    Ok(problems)
}
