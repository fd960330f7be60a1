//! `cairn cluster reshard` and `cairn cluster rebalance`: plan slot moves, then run them
//! with the per-slot procedure of `migrate`.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};

use super::migrate::{self, MoveOptions, Outcome, SlotMove};
use super::plan::{self, Holder, Weighted};
use super::throttle::Interrupt;
use super::topology::{self, short};
use super::view::Cluster;

/// What `reshard` was asked.
pub struct Reshard<'a> {
    pub addr: &'a str,
    /// `all`, or node ids / prefixes separated by commas.
    pub from: &'a str,
    pub to: &'a str,
    pub slots: usize,
}

/// Refuses to plan on a cluster whose members disagree or that the entry cannot see whole.
fn require_settled(cluster: &Cluster) -> anyhow::Result<()> {
    for (e, why) in &cluster.unreachable {
        if e.is_primary() && e.slot_count() > 0 {
            bail!(
                "primary {} ({}) is unreachable: {why}",
                e.addr(),
                short(&e.id)
            );
        }
        println!(
            "[WARNING] {} ({}) is unreachable: {why}",
            e.addr(),
            short(&e.id)
        );
    }
    if let Some(d) = cluster.disagreements().first() {
        bail!("{d}; wait for the cluster to settle (`cairn cluster check`)");
    }
    Ok(())
}

/// The `--pipeline`, `--max-keys-per-sec` and `--replace` options as typed, to repeat them.
fn options_words(opts: &MoveOptions) -> String {
    let mut s = format!(" --pipeline {}", opts.pipeline);
    if let Some(r) = opts.max_keys_per_sec {
        s.push_str(&format!(" --max-keys-per-sec {r}"));
    }
    if opts.replace {
        s.push_str(" --replace");
    }
    s
}

/// Moves `slots` slots to `to` from the sources, in proportion to what each holds. Open
/// slots left by an interrupted reshard between the same nodes are finished first and
/// count towards the number.
pub fn reshard(req: &Reshard<'_>, opts: &MoveOptions) -> anyhow::Result<i32> {
    if req.slots == 0 {
        bail!("--slots must be at least 1");
    }
    let mut cluster = Cluster::load(req.addr)?;
    require_settled(&cluster)?;
    let to = cluster.resolve(req.to)?;
    let is_reachable_primary =
        |c: &Cluster, id: &str| c.member(id).is_some_and(|m| m.entry.is_primary());
    if !is_reachable_primary(&cluster, &to) {
        bail!("--to {} is not a reachable primary", cluster.label(&to));
    }
    let sources: Vec<String> = if req.from == "all" {
        cluster
            .primaries()
            .filter(|m| m.node.id != to && m.entry.slot_count() > 0)
            .map(|m| m.node.id.clone())
            .collect()
    } else {
        let mut v = Vec::new();
        for p in req.from.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let id = cluster.resolve(p)?;
            if id == to {
                bail!("{} is both a source and the target", cluster.label(&id));
            }
            if !is_reachable_primary(&cluster, &id) {
                bail!("--from {} is not a reachable primary", cluster.label(&id));
            }
            if !v.contains(&id) {
                v.push(id);
            }
        }
        v
    };
    if sources.is_empty() {
        bail!("no source primary holds any slot");
    }
    // Slots a previous run left open between these nodes are resumed; any other open slot
    // is someone else's business.
    let mut resumed = Vec::new();
    for o in cluster.open_slots() {
        match o.ends() {
            (Some(s), Some(t)) if o.consistent() && t == to && sources.iter().any(|x| x == s) => {
                resumed.push(SlotMove {
                    slot: o.slot,
                    from: s.to_string(),
                    to: to.clone(),
                })
            }
            _ => bail!(
                "slot {} is open ({}), not by a reshard from these sources to {}; \
                 settle it first with `cairn cluster fix {}`",
                o.slot,
                o.describe(),
                short(&to),
                req.addr
            ),
        }
    }
    resumed.truncate(req.slots);
    if !resumed.is_empty() {
        let list: Vec<u16> = resumed.iter().map(|m| m.slot).collect();
        println!(
            ">>> Resuming {} slot(s) an interrupted reshard left open: {}",
            resumed.len(),
            topology::format_ranges(&topology::ranges(list))
        );
    }
    let holders: Vec<Holder> = sources
        .iter()
        .map(|id| {
            let m = cluster.member(id).expect("checked reachable");
            Holder {
                id: id.clone(),
                slots: topology::expand(&m.entry.slots)
                    .filter(|s| !resumed.iter().any(|r| r.slot == *s))
                    .collect(),
            }
        })
        .collect();
    let wanted = req.slots - resumed.len();
    let picked = plan::reshard_slots(&holders, wanted);
    if picked.len() < wanted {
        bail!(
            "the sources hold only {} slot(s) besides those being resumed; asked to move {wanted}",
            picked.len()
        );
    }
    println!(
        ">>> Resharding {} slot(s) to {}",
        req.slots,
        cluster.label(&to)
    );
    for h in &holders {
        let mine: Vec<u16> = picked
            .iter()
            .filter(|(_, id)| id == &h.id)
            .map(|(s, _)| *s)
            .collect();
        if !mine.is_empty() {
            println!(
                "    from {}: {} slot(s) {}",
                cluster.label(&h.id),
                mine.len(),
                topology::format_ranges(&topology::ranges(mine.iter().copied()))
            );
        }
    }
    let mut moves = resumed;
    moves.extend(picked.into_iter().map(|(slot, from)| SlotMove {
        slot,
        from,
        to: to.clone(),
    }));
    let interrupt = Interrupt::install();
    match migrate::run_moves(&mut cluster, &moves, opts, &interrupt)? {
        Outcome::Done => Ok(0),
        Outcome::Interrupted { done, open } => {
            println!("{}", migrate::interrupted_message(&cluster, &open));
            let left = req.slots - done;
            let what = match open {
                Some(_) => format!(
                    "the open slot first, then the {} slot(s) not yet started",
                    left - 1
                ),
                None => format!("the {left} slot(s) not yet started"),
            };
            println!(
                "To resume the reshard ({what}):\n  \
                 cairn cluster reshard {} --from {} --to {} --slots {left}{}",
                req.addr,
                req.from,
                req.to,
                options_words(opts)
            );
            Ok(130)
        }
    }
}

/// What `rebalance` was asked.
pub struct Rebalance<'a> {
    pub addr: &'a str,
    /// `id-prefix=weight` items.
    pub weights: &'a [String],
    pub use_empty_masters: bool,
    pub threshold: f64,
    pub simulate: bool,
}

/// Moves slots so each primary holds a share in proportion to its weight.
pub fn rebalance(req: &Rebalance<'_>, opts: &MoveOptions) -> anyhow::Result<i32> {
    let mut cluster = Cluster::load(req.addr)?;
    require_settled(&cluster)?;
    let mut weights: BTreeMap<String, f64> = BTreeMap::new();
    for w in req.weights {
        let (prefix, value) = w
            .split_once('=')
            .ok_or_else(|| anyhow!("--weight {w:?}: expected <node-id-prefix>=<weight>"))?;
        let value: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| anyhow!("--weight {w:?}: the weight must be a number >= 0"))?;
        weights.insert(cluster.resolve(prefix)?, value);
    }
    let interrupt = Interrupt::install();
    // Finish what an interrupted run left open, so the plan starts from settled slots.
    let open = cluster.open_slots();
    if !open.is_empty() {
        let mut moves = Vec::new();
        for o in &open {
            match o.ends() {
                (Some(s), Some(t))
                    if o.consistent()
                        && cluster.member(s).is_some()
                        && cluster.member(t).is_some() =>
                {
                    moves.push(SlotMove {
                        slot: o.slot,
                        from: s.to_string(),
                        to: t.to_string(),
                    })
                }
                _ => bail!(
                    "slot {} is open ({}); settle it first with `cairn cluster fix {}`",
                    o.slot,
                    o.describe(),
                    req.addr
                ),
            }
        }
        if req.simulate {
            println!(
                "[WARNING] {} slot(s) are open; a real run finishes them first",
                moves.len()
            );
        } else {
            println!(
                ">>> Finishing {} slot(s) an interrupted migration left open",
                moves.len()
            );
            if let Outcome::Interrupted { open, .. } =
                migrate::run_moves(&mut cluster, &moves, opts, &interrupt)?
            {
                println!("{}", migrate::interrupted_message(&cluster, &open));
                return Ok(130);
            }
            cluster.refresh()?;
        }
    }
    let nodes: Vec<Weighted> = cluster
        .primaries()
        .filter(|m| !m.entry.is_failing())
        .filter(|m| req.use_empty_masters || m.entry.slot_count() > 0)
        .map(|m| Weighted {
            holder: Holder {
                id: m.node.id.clone(),
                slots: topology::expand(&m.entry.slots).collect(),
            },
            weight: weights.get(&m.node.id).copied().unwrap_or(1.0),
        })
        .collect();
    for id in weights.keys() {
        if !nodes.iter().any(|n| &n.holder.id == id) {
            println!(
                "[WARNING] --weight for {} ignored: not a reachable primary{}",
                cluster.label(id),
                if req.use_empty_masters {
                    ""
                } else {
                    " with slots (see --use-empty-masters)"
                }
            );
        }
    }
    let plan = plan::rebalance(&nodes, req.threshold).map_err(|e| anyhow!(e))?;
    println!(">>> Slots per primary (held -> target):");
    for (id, have, target) in &plan.targets {
        println!("    {}: {have} -> {target}", cluster.label(id));
    }
    if plan.moves.is_empty() {
        println!(
            "*** No rebalancing needed: every primary is within {}% of its target (worst {:.2}%)",
            req.threshold, plan.worst_percent
        );
        return Ok(0);
    }
    for m in &plan.moves {
        println!(
            "Moving {} slot(s) from {} to {}",
            m.slots.len(),
            cluster.label(&m.from),
            cluster.label(&m.to)
        );
    }
    if req.simulate {
        println!("(--simulate: nothing was moved)");
        return Ok(0);
    }
    let moves: Vec<SlotMove> = plan
        .moves
        .iter()
        .flat_map(|m| {
            m.slots.iter().map(|&slot| SlotMove {
                slot,
                from: m.from.clone(),
                to: m.to.clone(),
            })
        })
        .collect();
    match migrate::run_moves(&mut cluster, &moves, opts, &interrupt)? {
        Outcome::Done => Ok(0),
        Outcome::Interrupted { open, .. } => {
            println!("{}", migrate::interrupted_message(&cluster, &open));
            println!(
                "To go on, run the same rebalance again: it finishes the open slot and plans \
                 from the slots as they are then."
            );
            Ok(130)
        }
    }
}
