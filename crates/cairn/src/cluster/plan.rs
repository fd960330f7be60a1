//! Decisions, apart from I/O: which node becomes a primary and which replicates whom at
//! create time, which slots a reshard takes, which moves a rebalance makes. Each is a pure
//! function of the cluster's shape, unit-tested below.

use super::topology::SLOTS;

/// How `create` lays out the nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePlan {
    /// `(node index, first slot, last slot)` for each primary, in slot order.
    pub primaries: Vec<(usize, u16, u16)>,
    /// `(replica node index, primary node index)`.
    pub replicas: Vec<(usize, usize)>,
}

/// The fewest primaries a cluster is created with (redis-cli's rule: with fewer, a
/// majority of primaries cannot survive the loss of one).
pub const MIN_PRIMARIES: usize = 3;

/// Lays out `hosts.len()` nodes (`hosts[i]` is node i's host) as primaries with `replicas`
/// replicas each. Primaries are picked round-robin across hosts; each replica goes to a
/// primary on another host where one is left, else to any; nodes beyond
/// `primaries * (replicas + 1)` become extra replicas of the primaries with fewest.
/// Slots are spread evenly in contiguous ranges, as redis-cli does.
pub fn create_plan(hosts: &[String], replicas: usize) -> Result<CreatePlan, String> {
    let n = hosts.len();
    let masters = n / (replicas + 1);
    if masters < MIN_PRIMARIES {
        return Err(format!(
            "{n} nodes with {replicas} replica(s) each make {masters} primaries; \
             a cluster needs at least {MIN_PRIMARIES} (that is {} nodes)",
            MIN_PRIMARIES * (replicas + 1)
        ));
    }
    // Interleave the hosts: one node from each host in turn.
    let mut by_host: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        match by_host.iter_mut().find(|(host, _)| *host == h) {
            Some((_, v)) => v.push(i),
            None => by_host.push((h, vec![i])),
        }
    }
    let mut order = Vec::with_capacity(n);
    for round in 0.. {
        let before = order.len();
        for (_, nodes) in &by_host {
            if let Some(&i) = nodes.get(round) {
                order.push(i);
            }
        }
        if order.len() == before {
            break;
        }
    }
    let primaries: Vec<usize> = order[..masters].to_vec();
    let mut rest: Vec<usize> = order[masters..].to_vec();
    let mut replicas_of = vec![0usize; masters];
    let mut plan_replicas = Vec::new();
    // Each round gives one replica to each primary (to those with fewest, for the nodes
    // left over at the end), matching as many as possible to a node on another host.
    while !rest.is_empty() {
        let fewest = *replicas_of.iter().min().expect("at least 3 primaries");
        let takers: Vec<usize> = (0..masters)
            .filter(|&p| replicas_of[p] == fewest)
            .take(rest.len())
            .collect();
        let matched = match_across_hosts(hosts, &takers, &primaries, &rest);
        let mut taken: Vec<usize> = matched.iter().flatten().copied().collect();
        for (&p, m) in takers.iter().zip(&matched) {
            let r = match m {
                Some(r) => *r,
                None => {
                    let r = *rest
                        .iter()
                        .find(|n| !taken.contains(n))
                        .expect("as many nodes as takers");
                    taken.push(r);
                    r
                }
            };
            replicas_of[p] += 1;
            plan_replicas.push((r, primaries[p]));
        }
        rest.retain(|n| !taken.contains(n));
    }
    Ok(CreatePlan {
        primaries: primaries
            .iter()
            .zip(even_ranges(masters))
            .map(|(&i, (a, b))| (i, a, b))
            .collect(),
        replicas: plan_replicas,
    })
}

/// Assigns to each taker (an index into `primaries`) a distinct node of `rest` on another
/// host than the primary's, for as many takers as possible (augmenting paths: a maximum
/// bipartite matching). `None` for a taker no such node is left for.
fn match_across_hosts(
    hosts: &[String],
    takers: &[usize],
    primaries: &[usize],
    rest: &[usize],
) -> Vec<Option<usize>> {
    // owner[j]: the taker (index into `takers`) that rest[j] is matched to
    let mut owner: Vec<Option<usize>> = vec![None; rest.len()];
    fn augment(
        t: usize,
        ok: &dyn Fn(usize, usize) -> bool,
        owner: &mut Vec<Option<usize>>,
        seen: &mut Vec<bool>,
    ) -> bool {
        for j in 0..owner.len() {
            if ok(t, j) && !seen[j] {
                seen[j] = true;
                if owner[j].is_none_or(|other| augment(other, ok, owner, seen)) {
                    owner[j] = Some(t);
                    return true;
                }
            }
        }
        false
    }
    let ok = |t: usize, j: usize| hosts[rest[j]] != hosts[primaries[takers[t]]];
    for t in 0..takers.len() {
        let mut seen = vec![false; rest.len()];
        augment(t, &ok, &mut owner, &mut seen);
    }
    (0..takers.len())
        .map(|t| owner.iter().position(|o| *o == Some(t)).map(|j| rest[j]))
        .collect()
}

/// `count` contiguous ranges covering every slot, sized as redis-cli sizes them
/// (3 primaries: 0-5460, 5461-10922, 10923-16383).
pub fn even_ranges(count: usize) -> Vec<(u16, u16)> {
    let per = f64::from(SLOTS) / count as f64;
    let mut cursor = 0.0f64;
    let mut first = 0u32;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let mut last = (cursor + per - 1.0).round() as u32;
        if last > u32::from(SLOTS) - 1 || i == count - 1 {
            last = u32::from(SLOTS) - 1;
        }
        out.push((first as u16, last as u16));
        first = last + 1;
        cursor += per;
    }
    out
}

/// A primary as the movers see it.
#[derive(Debug, Clone)]
pub struct Holder {
    pub id: String,
    /// Its slots, ascending.
    pub slots: Vec<u16>,
}

/// Picks `count` slots to take from `sources` for a reshard: each source gives in
/// proportion to what it holds (the largest first, rounding its share up, the others
/// down, then topping up in the same order), its lowest-numbered slots first.
/// Returns `(slot, source id)` pairs, at most as many as the sources hold.
pub fn reshard_slots(sources: &[Holder], count: usize) -> Vec<(u16, String)> {
    let mut sources: Vec<&Holder> = sources.iter().filter(|h| !h.slots.is_empty()).collect();
    sources.sort_by(|a, b| b.slots.len().cmp(&a.slots.len()).then(a.id.cmp(&b.id)));
    let total: usize = sources.iter().map(|h| h.slots.len()).sum();
    let count = count.min(total);
    let mut taken = vec![0usize; sources.len()];
    for (i, h) in sources.iter().enumerate() {
        let share = count as f64 * h.slots.len() as f64 / total as f64;
        let share = if i == 0 { share.ceil() } else { share.floor() } as usize;
        let already: usize = taken.iter().sum();
        taken[i] = share.min(h.slots.len()).min(count - already);
    }
    let mut i = 0;
    while taken.iter().sum::<usize>() < count {
        if taken[i] < sources[i].slots.len() {
            taken[i] += 1;
        }
        i = (i + 1) % sources.len();
    }
    let mut out = Vec::with_capacity(count);
    for (h, &n) in sources.iter().zip(&taken) {
        out.extend(h.slots[..n].iter().map(|&s| (s, h.id.clone())));
    }
    out
}

/// One step of a rebalance: `slots` go from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub from: String,
    pub to: String,
    pub slots: Vec<u16>,
}

/// A primary with its weight, for `rebalance`.
#[derive(Debug, Clone)]
pub struct Weighted {
    pub holder: Holder,
    /// Its share of the slots relative to the others; 0 drains it.
    pub weight: f64,
}

/// What `rebalance` would do.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebalance {
    /// `(id, slots held, slots it should hold)` per primary taking part.
    pub targets: Vec<(String, usize, usize)>,
    /// The worst deviation from the target, in percent of the target.
    pub worst_percent: f64,
    /// The moves, empty when every node is within the threshold.
    pub moves: Vec<Move>,
}

/// Plans a rebalance: each primary should hold slots in proportion to its weight (of the
/// slots the primaries hold between them). When every primary is within `threshold`
/// percent of its target, nothing moves; else slots go from the most over-weighted to the
/// most under-weighted until every one holds its target (the slots rounding leaves over go
/// to the largest remainders). Weight-0 primaries holding slots are drained.
pub fn rebalance(nodes: &[Weighted], threshold: f64) -> Result<Rebalance, String> {
    let total_weight: f64 = nodes.iter().map(|n| n.weight).sum();
    if total_weight <= 0.0 {
        return Err("every weight is 0: there is nowhere to put the slots".into());
    }
    let total: usize = nodes.iter().map(|n| n.holder.slots.len()).sum();
    let mut worst = 0.0f64;
    let mut targets = Vec::new();
    let mut balance: Vec<i64> = Vec::new();
    for n in nodes {
        let have = n.holder.slots.len();
        let expected = (total as f64 * n.weight / total_weight).floor() as usize;
        let off = if expected == 0 {
            if have == 0 { 0.0 } else { f64::INFINITY }
        } else {
            (have as f64 - expected as f64).abs() * 100.0 / expected as f64
        };
        worst = worst.max(off);
        targets.push((n.holder.id.clone(), have, expected));
        balance.push(have as i64 - expected as i64);
    }
    // Floors leave a remainder (less than one slot per node): it goes one slot each to
    // the nodes whose exact share lost the most to its floor, the neediest first on a tie.
    let remainder = total - targets.iter().map(|t| t.2).sum::<usize>();
    let fraction = |i: usize| {
        let exact = total as f64 * nodes[i].weight / total_weight;
        exact - exact.floor()
    };
    let mut order: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].weight > 0.0)
        .collect();
    order.sort_by(|&a, &b| {
        fraction(b)
            .total_cmp(&fraction(a))
            .then(balance[a].cmp(&balance[b]))
            .then(a.cmp(&b))
    });
    for &i in order.iter().take(remainder) {
        targets[i].2 += 1;
        balance[i] -= 1;
    }
    let mut plan = Rebalance {
        targets,
        worst_percent: worst,
        moves: Vec::new(),
    };
    if worst <= threshold {
        return Ok(plan);
    }
    // Pair the neediest receiver with the most over-weighted giver until both ends meet.
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| (balance[i], i));
    let mut left_slots: Vec<Vec<u16>> = nodes.iter().map(|n| n.holder.slots.clone()).collect();
    let (mut d, mut s) = (0usize, order.len() - 1);
    while d < s {
        let (di, si) = (order[d], order[s]);
        let n = (-balance[di]).min(balance[si]);
        if n > 0 {
            let n = n as usize;
            let slots: Vec<u16> = left_slots[si].drain(..n).collect();
            plan.moves.push(Move {
                from: nodes[si].holder.id.clone(),
                to: nodes[di].holder.id.clone(),
                slots,
            });
            balance[di] += n as i64;
            balance[si] -= n as i64;
        }
        if balance[di] == 0 {
            d += 1;
        }
        if balance[si] == 0 {
            s -= 1;
        }
        if n <= 0 && balance[di] != 0 && balance[si] != 0 {
            break;
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn slots_are_spread_as_redis_cli_spreads_them() {
        assert_eq!(
            even_ranges(3),
            vec![(0, 5460), (5461, 10922), (10923, 16383)]
        );
        for count in 1..40 {
            let r = even_ranges(count);
            assert_eq!(r[0].0, 0);
            assert_eq!(r[count - 1].1, SLOTS - 1);
            for w in r.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0);
            }
            let sizes: Vec<u16> = r.iter().map(|(a, b)| b - a + 1).collect();
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(hi - lo <= 1, "{count}: {sizes:?}");
        }
    }

    #[test]
    fn one_host_six_nodes_make_three_pairs() {
        let p = create_plan(&hosts(&["127.0.0.1"; 6]), 1).unwrap();
        assert_eq!(
            p.primaries,
            vec![(0, 0, 5460), (1, 5461, 10922), (2, 10923, 16383)]
        );
        assert_eq!(p.replicas, vec![(3, 0), (4, 1), (5, 2)]);
    }

    #[test]
    fn replicas_land_on_other_hosts_than_their_primary() {
        // three hosts, two nodes each, listed host by host
        let h = hosts(&["a", "a", "b", "b", "c", "c"]);
        let p = create_plan(&h, 1).unwrap();
        let prim_hosts: Vec<&str> = p.primaries.iter().map(|(i, ..)| h[*i].as_str()).collect();
        assert_eq!(prim_hosts, vec!["a", "b", "c"], "one primary per host");
        for (r, m) in &p.replicas {
            assert_ne!(h[*r], h[*m], "replica {r} of {m}");
        }
        // two hosts, 3 primaries with 2 replicas each: 9 nodes
        let h = hosts(&["a", "a", "a", "a", "a", "b", "b", "b", "b"]);
        let p = create_plan(&h, 2).unwrap();
        assert_eq!(p.replicas.len(), 6);
        let mut used: Vec<usize> = p.primaries.iter().map(|(i, ..)| *i).collect();
        used.extend(p.replicas.iter().map(|(r, _)| *r));
        used.sort_unstable();
        assert_eq!(used, (0..9).collect::<Vec<_>>(), "every node used once");
        for (_, m) in p.primaries.iter().map(|(i, ..)| (0, *i)) {
            let theirs: Vec<usize> = p
                .replicas
                .iter()
                .filter(|(_, p)| *p == m)
                .map(|(r, _)| *r)
                .collect();
            assert_eq!(theirs.len(), 2);
            assert!(
                theirs.iter().any(|r| h[*r] != h[m]),
                "primary {m} has a replica on the other host"
            );
        }
    }

    #[test]
    fn extra_nodes_become_extra_replicas_and_too_few_is_refused() {
        let p = create_plan(&hosts(&["h"; 8]), 1).unwrap();
        assert_eq!(p.primaries.len(), 4);
        let p = create_plan(&hosts(&["h"; 7]), 1).unwrap();
        assert_eq!(p.primaries.len(), 3);
        assert_eq!(p.replicas.len(), 4);
        let mut per = [0; 7];
        for (_, m) in &p.replicas {
            per[*m] += 1;
        }
        assert_eq!(per[..3].iter().sum::<i32>(), 4);
        assert!(per[..3].iter().all(|&c| c == 1 || c == 2));
        assert!(create_plan(&hosts(&["h"; 5]), 1).is_err());
        assert!(create_plan(&hosts(&["h"; 3]), 0).is_ok());
    }

    fn holder(id: &str, slots: impl IntoIterator<Item = u16>) -> Holder {
        Holder {
            id: id.into(),
            slots: slots.into_iter().collect(),
        }
    }

    #[test]
    fn reshard_takes_in_proportion_lowest_first() {
        let s = reshard_slots(&[holder("a", 0..5461)], 1000);
        assert_eq!(s.len(), 1000);
        assert_eq!(s[0], (0, "a".into()));
        assert_eq!(s[999], (999, "a".into()));
        let s = reshard_slots(&[holder("a", 0..100), holder("b", 100..400)], 10);
        let from_b = s.iter().filter(|(_, id)| id == "b").count();
        assert_eq!((s.len(), from_b), (10, 8), "{s:?}");
        assert_eq!(s[0], (100, "b".into()));
        // more than there is: everything
        assert_eq!(reshard_slots(&[holder("a", 0..3)], 10).len(), 3);
        // rounding losses are made up
        let s = reshard_slots(
            &[holder("a", 0..3), holder("b", 3..6), holder("c", 6..9)],
            4,
        );
        assert_eq!(s.len(), 4);
        let mut seen: Vec<u16> = s.iter().map(|(x, _)| *x).collect();
        seen.dedup();
        assert_eq!(seen.len(), 4);
    }

    fn w(id: &str, slots: std::ops::Range<u16>, weight: f64) -> Weighted {
        Weighted {
            holder: holder(id, slots),
            weight,
        }
    }

    fn after(nodes: &[Weighted], moves: &[Move]) -> Vec<usize> {
        nodes
            .iter()
            .map(|n| {
                let id = &n.holder.id;
                let gained: usize = moves
                    .iter()
                    .filter(|m| &m.to == id)
                    .map(|m| m.slots.len())
                    .sum();
                let lost: usize = moves
                    .iter()
                    .filter(|m| &m.from == id)
                    .map(|m| m.slots.len())
                    .sum();
                n.holder.slots.len() + gained - lost
            })
            .collect()
    }

    #[test]
    fn an_empty_primary_gets_its_share() {
        let nodes = [
            w("a", 0..5461, 1.0),
            w("b", 5461..10923, 1.0),
            w("c", 10923..16384, 1.0),
            w("d", 0..0, 1.0),
        ];
        let r = rebalance(&nodes, 2.0).unwrap();
        assert_eq!(r.worst_percent, 100.0);
        assert!(r.moves.iter().all(|m| m.to == "d"));
        let counts = after(&nodes, &r.moves);
        assert_eq!(counts.iter().sum::<usize>(), 16384);
        assert!(counts.iter().all(|&c| c == 4096), "{counts:?}");
        // no slot moves twice
        let mut all: Vec<u16> = r.moves.iter().flat_map(|m| m.slots.clone()).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn weights_and_threshold() {
        let even = [
            w("a", 0..5461, 1.0),
            w("b", 5461..10923, 1.0),
            w("c", 10923..16384, 1.0),
        ];
        assert!(rebalance(&even, 2.0).unwrap().moves.is_empty());
        // a holds 2% more than b: within a 3% threshold, over a 1% one
        let near = [w("a", 0..8300, 1.0), w("b", 8300..16384, 1.0)];
        assert!(rebalance(&near, 3.0).unwrap().moves.is_empty());
        assert!(!rebalance(&near, 1.0).unwrap().moves.is_empty());
        // weight 2 takes twice the share; weight 0 is drained
        let nodes = [
            w("a", 0..8192, 2.0),
            w("b", 8192..16384, 1.0),
            w("c", 0..0, 1.0),
        ];
        let r = rebalance(&nodes, 2.0).unwrap();
        let counts = after(&nodes, &r.moves);
        assert_eq!(counts, vec![8192, 4096, 4096]);
        let nodes = [w("a", 0..8192, 1.0), w("b", 8192..16384, 0.0)];
        let r = rebalance(&nodes, 2.0).unwrap();
        assert_eq!(after(&nodes, &r.moves), vec![16384, 0]);
        assert!(rebalance(&[w("a", 0..10, 0.0)], 2.0).is_err());
    }

    #[test]
    fn remainders_go_to_the_largest_fractions() {
        // 16384 over 3 leaves a remainder of 1
        let nodes = [w("a", 0..16384, 1.0), w("b", 0..0, 1.0), w("c", 0..0, 1.0)];
        let r = rebalance(&nodes, 2.0).unwrap();
        let counts = after(&nodes, &r.moves);
        assert_eq!(counts.iter().sum::<usize>(), 16384);
        assert!(counts.iter().all(|&c| c == 5461 || c == 5462), "{counts:?}");
        // 16384 * 2/5 = 6553.6, 16384 / 5 = 3276.8: the three .8 round up
        let nodes = [
            w("a", 0..4096, 2.0),
            w("b", 4096..8192, 1.0),
            w("c", 8192..12288, 1.0),
            w("d", 12288..16384, 1.0),
        ];
        let r = rebalance(&nodes, 2.0).unwrap();
        assert_eq!(after(&nodes, &r.moves), vec![6553, 3277, 3277, 3277]);
    }
}
