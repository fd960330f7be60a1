//! Who is alive, decided without sockets or sleeps: the node feeds in what its pings
//! learned and asks for verdicts.
//!
//! Every node pings every other node every ping interval; a pong is proof the peer was
//! alive when it answered. From that:
//!
//! - **Suspects**: peers that have not answered within `node_timeout`. Each node sends its
//!   suspects along with its pings.
//! - **Verdicts** (the Raft leader only): a node is *failed* when a majority of the voters
//!   suspect it (the leader's own view, and each voter's latest report). A failed primary
//!   with a live replica is failed over to the replica with the highest replication
//!   offset; a failed node that a majority hears again is marked alive.
//! - **Fencing**: a primary accepts writes only while a majority of the voters answered
//!   it within `lease` (half the node timeout). A failover needs a majority of voters
//!   to have missed the primary for the whole node timeout; any majority shares a voter
//!   with the primary's, and that voter's last pong to the primary is older than the
//!   lease by then. So the old primary has stopped acknowledging writes before its
//!   replacement is promoted, and two primaries never take writes for one slot.
//!
//!   A pong renews the lease only if the voter holds no log entry this node has not
//!   applied yet among those that can take a primary's slots (a failover, a role change,
//!   a removal; slot moves do not count, or a resharding, committing a change every few
//!   milliseconds, would starve every lease). Without that, a primary frozen past its failover (SIGSTOP, a long GC
//!   pause, a VM migration) would get fresh pongs the instant it runs again and take
//!   writes before the log tells it it is a replica now. A committed failover is in the
//!   log of a majority of the voters, so such a primary cannot gather a majority of
//!   renewing pongs until it has applied it, and then it is no longer a primary.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::bus::Ping;
use crate::config::{Change, Config, NodeId, Role};

pub struct Health {
    node_timeout: Duration,
    lease: Duration,
    /// When each peer last answered one of our pings.
    last_pong: HashMap<NodeId, Instant>,
    /// When each peer last answered without holding log entries we had not applied (the
    /// pongs that renew a primary's lease).
    lease_pong: HashMap<NodeId, Instant>,
    /// When each peer was first known (a peer never heard is suspected only after a whole
    /// timeout since then).
    known_since: HashMap<NodeId, Instant>,
    /// Each peer's latest report: when, and whom it suspected.
    reports: HashMap<NodeId, (Instant, Vec<NodeId>)>,
    /// Each peer's replication offset, as last reported.
    offsets: HashMap<NodeId, u64>,
    /// Whether each peer, as a replica, has completed a sync with its primary.
    synced: HashMap<NodeId, bool>,
}

impl Health {
    pub fn new(node_timeout: Duration) -> Health {
        Health {
            node_timeout,
            lease: node_timeout / 2,
            last_pong: HashMap::new(),
            lease_pong: HashMap::new(),
            known_since: HashMap::new(),
            reports: HashMap::new(),
            offsets: HashMap::new(),
            synced: HashMap::new(),
        }
    }

    /// `peer` answered a ping sent at `sent` with `ping`; this node had applied the log
    /// up to `applied` when it sent it.
    pub fn pong(&mut self, peer: NodeId, sent: Instant, ping: &Ping, applied: u64) {
        // Counted from when the ping left: the peer was alive at least then.
        let at = self.last_pong.entry(peer).or_insert(sent);
        if sent > *at {
            *at = sent;
        }
        if ping.log_index <= applied {
            let at = self.lease_pong.entry(peer).or_insert(sent);
            if sent > *at {
                *at = sent;
            }
        }
        self.reports.insert(peer, (sent, ping.suspects.clone()));
        self.offsets.insert(peer, ping.offset);
        self.synced.insert(peer, ping.synced);
    }

    /// A peer's report arrived in its ping to us.
    pub fn report(&mut self, now: Instant, ping: &Ping) {
        self.reports.insert(ping.from, (now, ping.suspects.clone()));
        self.offsets.insert(ping.from, ping.offset);
        self.synced.insert(ping.from, ping.synced);
    }

    /// Forgets peers that left the configuration; notes new ones.
    pub fn track(&mut self, now: Instant, peers: &[NodeId]) {
        self.known_since.retain(|id, _| peers.contains(id));
        self.last_pong.retain(|id, _| peers.contains(id));
        self.lease_pong.retain(|id, _| peers.contains(id));
        self.reports.retain(|id, _| peers.contains(id));
        self.offsets.retain(|id, _| peers.contains(id));
        self.synced.retain(|id, _| peers.contains(id));
        for &p in peers {
            self.known_since.entry(p).or_insert(now);
        }
    }

    fn heard_within(&self, now: Instant, peer: NodeId, within: Duration) -> bool {
        let since = self
            .last_pong
            .get(&peer)
            .or_else(|| self.known_since.get(&peer));
        since.is_some_and(|t| now.saturating_duration_since(*t) <= within)
    }

    /// Whether `peer` answered within the node timeout (or became known less than a
    /// timeout ago).
    pub fn alive(&self, now: Instant, peer: NodeId) -> bool {
        self.heard_within(now, peer, self.node_timeout)
    }

    /// Peers not heard within the node timeout.
    pub fn suspects(&self, now: Instant) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = self
            .known_since
            .keys()
            .copied()
            .filter(|&p| !self.heard_within(now, p, self.node_timeout))
            .collect();
        out.sort_unstable();
        out
    }

    pub fn offset(&self, peer: NodeId) -> Option<u64> {
        self.offsets.get(&peer).copied()
    }

    /// How many voters suspect `node`: this node's own view (if it is a voter) and the
    /// voters' reports that are recent enough to mean something.
    pub fn reports_against(
        &self,
        now: Instant,
        me: NodeId,
        voters: &[NodeId],
        node: NodeId,
    ) -> usize {
        let fresh = self.node_timeout * 2;
        let mine = self.suspects(now);
        voters
            .iter()
            .filter(|&&v| v != node)
            .filter(|&&v| {
                if v == me {
                    mine.contains(&node)
                } else {
                    self.reports.get(&v).is_some_and(|(at, s)| {
                        now.saturating_duration_since(*at) <= fresh && s.contains(&node)
                    })
                }
            })
            .count()
    }

    /// Whether this node, as a primary, may accept writes now (see the module's doc).
    pub fn writable(&self, now: Instant, me: NodeId, voters: &[NodeId]) -> bool {
        if voters.is_empty() {
            return true;
        }
        let heard = voters
            .iter()
            .filter(|&&v| {
                v == me
                    || self
                        .lease_pong
                        .get(&v)
                        .is_some_and(|t| now.saturating_duration_since(*t) <= self.lease)
            })
            .count();
        heard > voters.len() / 2
    }

    /// Until when this node, as a primary, may accept writes: the moment fewer than a
    /// majority of the voters will have answered within the lease. `None`: no limit (a
    /// node that is a majority of the voters by itself).
    pub fn lease_deadline(&self, me: NodeId, voters: &[NodeId], far: Instant) -> Option<Instant> {
        if voters.is_empty() {
            return None;
        }
        let majority = voters.len() / 2 + 1;
        let mut heard: Vec<Instant> = voters
            .iter()
            .filter_map(|&v| {
                if v == me {
                    Some(far)
                } else {
                    self.lease_pong.get(&v).copied()
                }
            })
            .collect();
        heard.sort_unstable_by(|a, b| b.cmp(a));
        match heard.get(majority - 1) {
            Some(&t) if t == far => None,
            Some(&t) => Some(t + self.lease),
            None => Some(far - Duration::from_secs(3600 * 24 * 365)),
        }
    }

    /// The leader's verdicts: changes to propose, in order. `me_synced`: whether this
    /// node, if a replica, has synced with its primary (it may be the one to promote).
    pub fn verdicts(
        &self,
        now: Instant,
        me: NodeId,
        me_synced: bool,
        voters: &[NodeId],
        config: &Config,
    ) -> Vec<Change> {
        let majority = voters.len() / 2 + 1;
        let mine = self.suspects(now);
        let mut out = Vec::new();
        for node in config.nodes.values() {
            if node.id == me {
                continue;
            }
            let failed = self.reports_against(now, me, voters, node.id) >= majority;
            if failed && !node.failed {
                out.push(Change::SetFailed {
                    node: node.id,
                    failed: true,
                });
            }
            if !failed && node.failed && !mine.contains(&node.id) {
                out.push(Change::SetFailed {
                    node: node.id,
                    failed: false,
                });
            }
            if failed && node.role == Role::Primary && config.slot_count(node.id) > 0 {
                // The live replica that holds the most of the primary's stream; one that
                // never completed a sync holds none of it and is not promoted (the slots
                // stay down rather than come back empty).
                let best = config
                    .replicas_of(node.id)
                    .into_iter()
                    .filter(|r| {
                        if r.id == me {
                            return me_synced;
                        }
                        !mine.contains(&r.id)
                            && self.heard_within(now, r.id, self.node_timeout)
                            && self.synced.get(&r.id).copied().unwrap_or(false)
                    })
                    .max_by_key(|r| (self.offset(r.id).unwrap_or(0), std::cmp::Reverse(r.id)));
                if let Some(r) = best {
                    out.push(Change::Failover { replica: r.id });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Node;

    const T: Duration = Duration::from_millis(1000);

    fn node(id: u64, role: Role) -> Node {
        Node {
            id,
            name: format!("{id:016x}{}", "0".repeat(24)),
            host: "127.0.0.1".into(),
            port: 7000 + id as u16,
            bus_port: 17000 + id as u16,
            role,
            epoch: 0,
            failed: false,
        }
    }

    /// Three primaries (1, 2, 3: the voters) each with a replica (4, 5, 6).
    fn cluster() -> Config {
        let mut c = Config::default();
        for id in 1..=6 {
            c.apply(&Change::AddNode(node(id, Role::Primary))).unwrap();
        }
        for id in 4..=6 {
            c.apply(&Change::Replicate {
                node: id,
                primary: id - 3,
            })
            .unwrap();
        }
        for (id, a, b) in [(1, 0, 5460), (2, 5461, 10922), (3, 10923, 16383)] {
            c.apply(&Change::AssignSlots {
                node: id,
                ranges: vec![(a, b)],
            })
            .unwrap();
        }
        c
    }

    fn ping(from: u64, offset: u64, suspects: Vec<u64>) -> Ping {
        Ping {
            from,
            offset,
            synced: true,
            suspects,
            log_index: 0,
        }
    }

    #[test]
    fn a_primary_that_a_majority_misses_fails_over_to_its_best_replica() {
        let start = Instant::now();
        let c = cluster();
        let voters = [1, 2, 3];
        let mut h = Health::new(T);
        h.track(start, &[2, 3, 4, 5, 6]);
        // Everyone answers node 1 (the leader) at first.
        for p in [2, 3, 4, 5, 6] {
            h.pong(p, start, &ping(p, 100, vec![]), 0);
        }
        let now = start + Duration::from_millis(500);
        assert!(h.verdicts(now, 1, true, &voters, &c).is_empty());
        // Node 2 stops answering; node 3 reports it too; node 5 is its replica.
        let later = start + Duration::from_millis(1600);
        for p in [3, 4, 5, 6] {
            h.pong(
                p,
                later,
                &ping(
                    p,
                    if p == 5 { 900 } else { 100 },
                    if p == 3 { vec![2] } else { vec![] },
                ),
                0,
            );
        }
        let v = h.verdicts(later, 1, true, &voters, &c);
        assert_eq!(
            v,
            vec![
                Change::SetFailed {
                    node: 2,
                    failed: true
                },
                Change::Failover { replica: 5 }
            ]
        );
    }

    #[test]
    fn a_replica_that_never_synced_is_not_promoted() {
        let start = Instant::now();
        let c = cluster();
        let mut h = Health::new(T);
        h.track(start, &[2, 3, 4, 5, 6]);
        let later = start + Duration::from_millis(1600);
        for p in [3, 4, 5, 6] {
            let mut pg = ping(p, 0, if p == 3 { vec![2] } else { vec![] });
            pg.synced = p != 5;
            h.pong(p, later, &pg, 0);
        }
        assert_eq!(
            h.verdicts(later, 1, true, &[1, 2, 3], &c),
            vec![Change::SetFailed {
                node: 2,
                failed: true
            }],
            "node 2 is failed, but its only replica holds none of its data"
        );
    }

    #[test]
    fn one_voter_alone_cannot_fail_a_node() {
        let start = Instant::now();
        let c = cluster();
        let mut h = Health::new(T);
        h.track(start, &[2, 3, 4, 5, 6]);
        let later = start + Duration::from_millis(1600);
        // Only this node (1) misses node 2; voter 3 still hears it.
        for p in [3, 4, 5, 6] {
            h.pong(p, later, &ping(p, 0, vec![]), 0);
        }
        assert!(h.verdicts(later, 1, true, &[1, 2, 3], &c).is_empty());
    }

    #[test]
    fn a_primary_cut_off_from_the_voters_stops_taking_writes_before_a_failover() {
        let start = Instant::now();
        let voters = [1, 2, 3];
        // Node 4 is a primary (not a voter) that hears the voters, then does not.
        let mut p = Health::new(T);
        p.track(start, &[1, 2, 3]);
        for v in voters {
            p.pong(v, start, &ping(v, 0, vec![]), 0);
        }
        assert!(p.writable(start + Duration::from_millis(100), 4, &voters));
        // Past the lease (half the timeout) without a majority: fenced.
        assert!(!p.writable(start + Duration::from_millis(600), 4, &voters));
        // One voter still answering is not a majority.
        p.pong(
            1,
            start + Duration::from_millis(550),
            &ping(1, 0, vec![]),
            0,
        );
        assert!(!p.writable(start + Duration::from_millis(600), 4, &voters));
        // The deadline the data plane checks says the same, without another clock read.
        let far = start + Duration::from_secs(3600);
        let deadline = p.lease_deadline(4, &voters, far).unwrap();
        assert_eq!(deadline, start + Duration::from_millis(500));
        // Voters that hold a log entry this primary has not applied (a failover it has not
        // heard of) do not renew its lease, however fresh their pongs.
        let mut q = Health::new(T);
        q.track(start, &[1, 2, 3]);
        let resumed = start + Duration::from_millis(5000);
        let ahead = Ping {
            log_index: 7,
            ..ping(2, 0, vec![])
        };
        let ahead3 = Ping {
            from: 3,
            ..ahead.clone()
        };
        q.pong(2, resumed, &ahead, 6);
        q.pong(3, resumed, &ahead3, 6);
        assert!(!q.writable(resumed, 4, &voters));
        q.pong(2, resumed, &ahead, 7);
        q.pong(3, resumed, &ahead3, 7);
        assert!(
            q.writable(resumed, 4, &voters),
            "once applied, the pongs count again"
        );
        // The voters' side: they fail it only after the whole timeout.
        let mut l = Health::new(T);
        l.track(start, &[2, 3, 4]);
        for n in [2, 3, 4] {
            l.pong(n, start, &ping(n, 0, vec![]), 0);
        }
        let at_lease = start + Duration::from_millis(600);
        assert!(!l.suspects(at_lease).contains(&4));
        let after = start + Duration::from_millis(1100);
        assert!(l.suspects(after).contains(&4));
    }

    #[test]
    fn a_failed_node_heard_again_is_cleared() {
        let start = Instant::now();
        let mut c = cluster();
        c.apply(&Change::SetFailed {
            node: 6,
            failed: true,
        })
        .unwrap();
        let mut h = Health::new(T);
        h.track(start, &[2, 3, 4, 5, 6]);
        for p in [2, 3, 4, 5, 6] {
            h.pong(p, start, &ping(p, 0, vec![]), 0);
        }
        assert_eq!(
            h.verdicts(start, 1, true, &[1, 2, 3], &c),
            vec![Change::SetFailed {
                node: 6,
                failed: false
            }]
        );
    }

    #[test]
    fn a_node_never_heard_is_suspected_only_after_a_timeout() {
        let start = Instant::now();
        let mut h = Health::new(T);
        h.track(start, &[9]);
        assert!(h.suspects(start + Duration::from_millis(900)).is_empty());
        assert_eq!(h.suspects(start + Duration::from_millis(1100)), vec![9]);
    }
}
