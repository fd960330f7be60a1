//! Which nodes vote: the live ones, at most [`crate::raft::MAX_VOTERS`], as nodes fail and
//! come back.
//!
//! Raft needs a majority of its voters to commit anything, failovers included. A voter
//! that died still counts in that majority until it is replaced, so a cluster that kept
//! its first voters for good would stop failing over after losing half of them, one after
//! another, even with most of its nodes alive (three primaries of six nodes, killed in
//! turn, left two live voters of five). So the leader, after every round of verdicts,
//! replaces the voters the configuration marks failed (a majority of the voters missed
//! them for the whole node timeout) by live learners, and promotes learners again while
//! fewer vote than the live nodes call for ([`crate::raft::voters_for`]). A node that
//! returns is cleared by the verdicts, then counts as live and is promoted back when
//! voters are wanted.
//!
//! Each change is one openraft membership change (joint consensus: the old and the new
//! voters both commit it), so it needs the majority that is still there, and the
//! cluster survives failures spaced by the time a failover takes; docs/cluster.md lists
//! what it survives and what it cannot. A membership change counts among the log entries
//! that stop a lease (`crate::raft::log`), so a primary cut off from the change cannot
//! renew its lease from voters that already judge by the new set.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use openraft::ChangeMembers;

use super::ClusterNode;
use crate::config::{Config, NodeId};
use crate::raft;

/// The voters the cluster should have, or `None` to keep `voters` as they are.
///
/// `members`: every node in Raft's membership (voters and learners); `alive`: whether the
/// leader hears a node now. `me`, the leader, always keeps its vote.
pub fn wanted(
    me: NodeId,
    voters: &BTreeSet<NodeId>,
    members: &BTreeSet<NodeId>,
    config: &Config,
    alive: impl Fn(NodeId) -> bool,
) -> Option<BTreeSet<NodeId>> {
    let failed = |id: NodeId| id != me && config.node(id).is_none_or(|n| n.failed);
    let live = |id: NodeId| !failed(id) && (id == me || alive(id));
    let mut next: BTreeSet<NodeId> = voters.iter().copied().filter(|&v| !failed(v)).collect();
    let want = raft::voters_for(members.iter().filter(|&&m| live(m)).count());
    for &m in members {
        if next.len() >= want {
            break;
        }
        if live(m) {
            next.insert(m);
        }
    }
    (next != *voters && !next.is_empty()).then_some(next)
}

impl ClusterNode {
    /// On the leader: moves the voter set to [`wanted`]'s, if it differs (bounded by the
    /// node timeout, as verdicts are).
    pub(super) async fn keep_voters(&self) {
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let voters: BTreeSet<NodeId> = membership.membership().voter_ids().collect();
        let members: BTreeSet<NodeId> =
            membership.membership().nodes().map(|(id, _)| *id).collect();
        let config = self.config();
        let now = Instant::now();
        let next = {
            let health = self.health.lock();
            wanted(self.me, &voters, &members, &config, |id| {
                health.alive(now, id)
            })
        };
        let Some(next) = next else {
            return;
        };
        let name = |id: &NodeId| config.node(*id).map_or(format!("{id:016x}"), |n| n.addr());
        tracing::warn!(
            "voters: {} (were {})",
            next.iter().map(name).collect::<Vec<_>>().join(", "),
            voters.iter().map(name).collect::<Vec<_>>().join(", ")
        );
        let change = self
            .raft
            .change_membership(ChangeMembers::ReplaceAllVoters(next), true);
        match tokio::time::timeout(self.opts.node_timeout.max(Duration::from_secs(1)), change).await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("the voters could not be changed: {e}"),
            Err(_) => tracing::warn!("the voters could not be changed within the node timeout"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Change, Node, Role};

    fn config(n: u64, failed: &[u64]) -> Config {
        let mut c = Config::default();
        for id in 1..=n {
            c.apply(&Change::AddNode(Node {
                id,
                name: format!("{id:016x}{}", "0".repeat(24)),
                host: "127.0.0.1".into(),
                port: 7000 + id as u16,
                bus_port: 17000 + id as u16,
                role: Role::Primary,
                epoch: 0,
                failed: false,
            }))
            .unwrap();
        }
        for &id in failed {
            c.apply(&Change::SetFailed {
                node: id,
                failed: true,
            })
            .unwrap();
        }
        c
    }

    fn set(ids: &[u64]) -> BTreeSet<u64> {
        ids.iter().copied().collect()
    }

    #[test]
    fn a_failed_voter_is_replaced_by_a_live_learner() {
        let c = config(6, &[1]);
        let next = wanted(
            2,
            &set(&[1, 2, 3, 4, 5]),
            &set(&[1, 2, 3, 4, 5, 6]),
            &c,
            |id| id != 1,
        );
        assert_eq!(next, Some(set(&[2, 3, 4, 5, 6])));
    }

    #[test]
    fn three_failures_in_turn_keep_a_majority_of_live_voters() {
        // Six nodes, five voters; nodes 1, 2 and 3 die one after another, each failure
        // confirmed (and the voters changed) before the next.
        let members = set(&[1, 2, 3, 4, 5, 6]);
        let mut voters = set(&[1, 2, 3, 4, 5]);
        let mut dead = Vec::new();
        for victim in [1, 2, 3] {
            dead.push(victim);
            let live_voters = voters.iter().filter(|v| !dead.contains(v)).count();
            assert!(
                live_voters > voters.len() / 2,
                "after losing node {victim}: {live_voters} of {voters:?} live, no majority"
            );
            let c = config(6, &dead);
            let alive = |id: u64| !dead.contains(&id);
            if let Some(next) = wanted(4, &voters, &members, &c, alive) {
                voters = next;
            }
            assert!(voters.iter().all(|v| !dead.contains(v)), "{voters:?}");
        }
        assert_eq!(voters, set(&[4, 5, 6]));
    }

    #[test]
    fn returning_nodes_vote_again_once_the_live_nodes_call_for_more_voters() {
        // Nodes 1 and 2 were failed and replaced; 2 is back (cleared) and heard. Four live
        // nodes call for three voters: nothing changes yet.
        let c = config(5, &[1]);
        assert_eq!(
            wanted(3, &set(&[3, 4, 5]), &set(&[1, 2, 3, 4, 5]), &c, |id| id
                != 1),
            None
        );
        // With node 1 back too, five live nodes call for five voters.
        let c = config(5, &[]);
        let next = wanted(3, &set(&[3, 4, 5]), &set(&[1, 2, 3, 4, 5]), &c, |_| true);
        assert_eq!(next, Some(set(&[1, 2, 3, 4, 5])));
    }

    #[test]
    fn a_suspect_that_is_not_yet_failed_keeps_its_vote() {
        // Node 1 is not heard, but no verdict has failed it: no change.
        let c = config(5, &[]);
        assert_eq!(
            wanted(
                2,
                &set(&[1, 2, 3, 4, 5]),
                &set(&[1, 2, 3, 4, 5]),
                &c,
                |id| id != 1
            ),
            None
        );
        assert_eq!(
            wanted(2, &set(&[1, 2, 3]), &set(&[1, 2, 3, 4, 5]), &c, |id| id
                != 1),
            None
        );
    }

    #[test]
    fn the_leader_never_loses_its_vote() {
        // Even if the configuration still marks it failed (it was cut off, then won an
        // election after coming back).
        let c = config(3, &[1]);
        assert_eq!(
            wanted(1, &set(&[1, 2, 3]), &set(&[1, 2, 3]), &c, |_| true),
            None
        );
    }
}
