//! What a node says about the cluster: `CLUSTER NODES` parsed, slot ranges, and the
//! signature two nodes must share to agree. Pure: no I/O, unit-tested below.
//!
//! ```text
//! <id> <ip:port@cport[,hostname]> <flags> <master-id|-> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot> ...
//! 07c3...  127.0.0.1:30001@40001 myself,master - 0 1700000000000 1 connected 0-5460 [93->-292f...] [77-<-58e6...]
//! ```
//!
//! A slot item is `N`, `A-B`, `[N->-id]` (this node is MIGRATING slot N to `id`) or
//! `[N-<-id]` (IMPORTING slot N from `id`). Redis prints the bracketed markers only on the
//! `myself` line, so a slot's open state is learnt from the nodes at its two ends.

use std::collections::BTreeMap;

/// Number of hash slots in a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEntry {
    /// The 40-hex-digit node id.
    pub id: String,
    /// The IP (or hostname) as the node announces it; empty for a fresh node's own line.
    pub host: String,
    /// The client port.
    pub port: u16,
    /// The cluster bus port (`@cport`), when shown.
    pub bus_port: Option<u16>,
    /// `myself`, `master`, `slave`, `fail?`, `fail`, `handshake`, `noaddr`, `nofailover`, ...
    pub flags: Vec<String>,
    /// For a replica, the id of its primary.
    pub master: Option<String>,
    /// The node's configuration epoch.
    pub config_epoch: u64,
    /// Whether the link to the node is up (`connected`), as seen by the reporting node.
    pub connected: bool,
    /// Inclusive slot ranges the node owns, as the reporting node sees it.
    pub slots: Vec<(u16, u16)>,
    /// `[slot->-id]`: slots this node is migrating, and to whom.
    pub migrating: Vec<(u16, String)>,
    /// `[slot-<-id]`: slots this node is importing, and from whom.
    pub importing: Vec<(u16, String)>,
}

impl NodeEntry {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
    pub fn is_myself(&self) -> bool {
        self.has_flag("myself")
    }
    pub fn is_primary(&self) -> bool {
        self.has_flag("master")
    }
    pub fn is_replica(&self) -> bool {
        self.has_flag("slave")
    }
    /// Flagged failing (`fail`) or suspected (`fail?`) by the reporting node.
    pub fn is_failing(&self) -> bool {
        self.has_flag("fail") || self.has_flag("fail?")
    }
    /// Not yet a member with a usable identity: a handshake in progress or no address.
    pub fn is_transient(&self) -> bool {
        self.has_flag("handshake") || self.has_flag("noaddr")
    }
    /// `host:port`.
    pub fn addr(&self) -> String {
        join_host_port(&self.host, self.port)
    }
    pub fn slot_count(&self) -> usize {
        self.slots
            .iter()
            .map(|&(a, b)| usize::from(b) - usize::from(a) + 1)
            .sum()
    }
    pub fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
    }
    /// The open-slot marker this node shows for `slot`, if any.
    pub fn marker(&self, slot: u16) -> Option<Marker> {
        if let Some((_, to)) = self.migrating.iter().find(|(s, _)| *s == slot) {
            return Some(Marker::Migrating(to.clone()));
        }
        self.importing
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, from)| Marker::Importing(from.clone()))
    }
}

/// A node's migration state for one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// `[slot->-id]`: MIGRATING to `id`.
    Migrating(String),
    /// `[slot-<-id]`: IMPORTING from `id`.
    Importing(String),
}

/// `host:port`, with brackets around an IPv6 address.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `HOST:PORT` (or `[v6]:PORT`).
pub fn split_host_port(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("{addr:?} is not HOST:PORT"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{addr:?}: bad port {port:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), port))
}

/// Parses the whole `CLUSTER NODES` reply.
pub fn parse_nodes(text: &str) -> Result<Vec<NodeEntry>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Result<NodeEntry, String> {
    let bad = |what: &str| format!("CLUSTER NODES line {line:?}: {what}");
    let f: Vec<&str> = line.split_ascii_whitespace().collect();
    if f.len() < 8 {
        return Err(bad("fewer than 8 fields"));
    }
    // ip:port@cport[,hostname]; the hostname (Redis 7) is only for display here.
    let address = f[1].split(',').next().unwrap_or_default();
    let (ip_port, bus) = match address.split_once('@') {
        Some((a, b)) => (a, Some(b)),
        None => (address, None),
    };
    let (host, port) = split_host_port(ip_port).map_err(|e| bad(&e))?;
    let bus_port = bus.and_then(|b| b.parse().ok());
    let master = (f[3] != "-").then(|| f[3].to_string());
    let config_epoch = f[6].parse().map_err(|_| bad("bad config epoch"))?;
    let mut entry = NodeEntry {
        id: f[0].to_string(),
        host,
        port,
        bus_port,
        flags: f[2].split(',').map(str::to_string).collect(),
        master,
        config_epoch,
        connected: f[7] == "connected",
        slots: Vec::new(),
        migrating: Vec::new(),
        importing: Vec::new(),
    };
    for item in &f[8..] {
        if let Some(inner) = item.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            if let Some((slot, to)) = inner.split_once("->-") {
                entry
                    .migrating
                    .push((parse_slot(slot).map_err(|e| bad(&e))?, to.to_string()));
            } else if let Some((slot, from)) = inner.split_once("-<-") {
                entry
                    .importing
                    .push((parse_slot(slot).map_err(|e| bad(&e))?, from.to_string()));
            } else {
                return Err(bad("unknown slot marker"));
            }
        } else if let Some((a, b)) = item.split_once('-') {
            let (a, b) = (
                parse_slot(a).map_err(|e| bad(&e))?,
                parse_slot(b).map_err(|e| bad(&e))?,
            );
            if a > b {
                return Err(bad("slot range runs backwards"));
            }
            entry.slots.push((a, b));
        } else {
            let s = parse_slot(item).map_err(|e| bad(&e))?;
            entry.slots.push((s, s));
        }
    }
    Ok(entry)
}

fn parse_slot(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(n) if n < SLOTS => Ok(n),
        _ => Err(format!("bad slot {s:?}")),
    }
}

/// Collapses ascending slots into inclusive ranges.
pub fn ranges(slots: impl IntoIterator<Item = u16>) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for s in slots {
        match out.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(s) => *hi = s,
            _ => out.push((s, s)),
        }
    }
    out
}

/// Expands inclusive ranges into slots.
pub fn expand(ranges: &[(u16, u16)]) -> impl Iterator<Item = u16> + '_ {
    ranges.iter().flat_map(|&(a, b)| a..=b)
}

/// `0-5460,5470,6000-6001`.
pub fn format_ranges(ranges: &[(u16, u16)]) -> String {
    if ranges.is_empty() {
        return "(none)".to_string();
    }
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Slot owners as one node sees them: `owner[slot]` is the owning node's id.
pub fn slot_owners(entries: &[NodeEntry]) -> Vec<Option<&str>> {
    let mut owner = vec![None; usize::from(SLOTS)];
    for e in entries.iter().filter(|e| e.is_primary()) {
        for s in expand(&e.slots) {
            owner[usize::from(s)] = Some(e.id.as_str());
        }
    }
    owner
}

/// What every node must report identically for the cluster to agree: for each member,
/// its role, its primary and its slots. Entries in a handshake or without an address are
/// left out; other flags (`fail?`, `myself`) are not compared (failures are reported apart).
pub fn signature(entries: &[NodeEntry]) -> BTreeMap<String, String> {
    entries
        .iter()
        .filter(|e| !e.is_transient())
        .map(|e| {
            let role = if e.is_primary() { "primary" } else { "replica" };
            let master = e.master.as_deref().unwrap_or("-");
            // normalised: `0-5459 5460` and `0-5460` are the same claim
            let slots = ranges(expand(&e.slots).collect::<std::collections::BTreeSet<_>>());
            let value = format!("{role} {master} {}", format_ranges(&slots));
            (e.id.clone(), value)
        })
        .collect()
}

/// The first difference between two signatures, for a person to read.
pub fn signature_difference(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> Option<String> {
    for (id, va) in a {
        match b.get(id) {
            None => return Some(format!("{} is unknown", short(id))),
            Some(vb) if vb != va => {
                return Some(format!("{}: {va:?} against {vb:?}", short(id)));
            }
            _ => {}
        }
    }
    b.keys()
        .find(|id| !a.contains_key(*id))
        .map(|id| format!("{} is unknown to the other", short(id)))
}

/// The first 8 characters of a node id, as redis-cli prints them.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 slave 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 connected
824fe116063bc5fcf9f4ffd895bc17aee7731ac3 127.0.0.1:30006@31006 slave,fail 292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 0 1426238317741 6 disconnected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5459 5460 [93->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f] [77-<-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
";

    #[test]
    fn parses_every_field_and_the_markers() {
        let nodes = parse_nodes(NODES).unwrap();
        assert_eq!(nodes.len(), 6);
        let r = &nodes[0];
        assert_eq!(r.addr(), "127.0.0.1:30004");
        assert_eq!(r.bus_port, Some(31004));
        assert!(r.is_replica() && !r.is_primary());
        assert_eq!(
            r.master.as_deref(),
            Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
        );
        assert!(nodes[4].is_failing() && !nodes[4].connected);
        let me = &nodes[5];
        assert!(me.is_myself() && me.is_primary());
        assert_eq!(me.slots, vec![(0, 5459), (5460, 5460)]);
        assert_eq!(me.slot_count(), 5461);
        assert_eq!(
            me.marker(93),
            Some(Marker::Migrating(
                "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f".into()
            ))
        );
        assert_eq!(
            me.marker(77),
            Some(Marker::Importing(
                "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1".into()
            ))
        );
        assert_eq!(me.marker(78), None);
        let owners = slot_owners(&nodes);
        assert_eq!(owners[0], Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca"));
        assert_eq!(
            owners[16383],
            Some("292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f")
        );
    }

    #[test]
    fn a_fresh_node_has_no_ip_and_ipv6_is_bracketed() {
        let n = parse_nodes(
            "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca :30001@40001 myself,master - 0 0 0 connected\n",
        )
        .unwrap();
        assert_eq!((n[0].host.as_str(), n[0].port), ("", 30001));
        let n = parse_nodes("abc ::1:7000@17000 master - 0 0 0 connected 1\n").unwrap();
        assert_eq!(n[0].addr(), "[::1]:7000");
        assert_eq!(split_host_port("[::1]:7000").unwrap(), ("::1".into(), 7000));
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse_nodes("abc 127.0.0.1:1@2 master - 0 0 x connected").is_err());
        assert!(parse_nodes("abc 127.0.0.1:1@2 master - 0 0 0 connected 16384").is_err());
        assert!(parse_nodes("abc 127.0.0.1:1@2 master - 0 0 0 connected 9-3").is_err());
        assert!(parse_nodes("abc 127.0.0.1:1@2 master - 0 0 0 connected [5-x-y]").is_err());
        assert!(parse_nodes("abc 127.0.0.1:1@2 master").is_err());
    }

    #[test]
    fn ranges_round_trip() {
        let r = ranges([0, 1, 2, 5, 7, 8, 16383]);
        assert_eq!(r, vec![(0, 2), (5, 5), (7, 8), (16383, 16383)]);
        assert_eq!(format_ranges(&r), "0-2,5,7-8,16383");
        assert_eq!(
            expand(&r).collect::<Vec<_>>(),
            vec![0, 1, 2, 5, 7, 8, 16383]
        );
    }

    #[test]
    fn signatures_ignore_flags_other_than_the_role() {
        let a = parse_nodes(NODES).unwrap();
        let mut b = a.clone();
        b[5].flags = vec!["master".into()];
        b[5].slots = vec![(0, 5460)];
        b[2].config_epoch = 99;
        // the failing node is still listed with its role: failure is reported, not compared
        assert_eq!(signature(&a), signature(&b));
        b[1].slots = vec![(5461, 10921)];
        let d = signature_difference(&signature(&a), &signature(&b)).unwrap();
        assert!(d.starts_with("67ed2db8"), "{d}");
    }
}
