//! The consistent-hash ring for client-side sharding over independent nodes.
//!
//! Points are placed exactly as libmemcached's weighted ketama places them
//! (`MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`, pylibmc's `"ketama": True`), so a key lands on the
//! node a libmemcached, pylibmc or uhashring client would pick for the same server list and
//! a team can share a pool of nodes between those clients and this one:
//!
//! ```text
//! digests per node = floor(weight / total_weight * 40 * nodes) (40 for equal weights)
//! point string     = "host-i"        when port is 11211 (memcached's default)
//!                    "host:port-i"   otherwise, i = 0 .. digests
//! points           = 4 per MD5 digest: bytes [4h+3, 4h+2, 4h+1, 4h] as a u32, h = 0..3
//! key hash         = first 4 bytes of MD5(key), little-endian
//! owner            = first point >= key hash, wrapping to the first point
//! ```
//!
//! Adding or removing one node of N moves only the keys between its points and their
//! predecessors: about 1/N of them (`tests::one_node_more_moves_about_one_nth`).

use md5::{Digest, Md5};

/// libmemcached's `MEMCACHED_POINTS_PER_SERVER_KETAMA`: 160 points, 40 digests of 4.
const POINTS_PER_SERVER: u32 = 160;
/// Each MD5 digest yields four 32-bit points.
const POINTS_PER_DIGEST: u32 = 4;
/// memcached's port; libmemcached leaves it out of the point strings.
const MEMCACHED_DEFAULT_PORT: u16 = 11211;

/// One member of a ring: where it is and how big a share of the keys it should take.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingNode {
    /// The host as written in the server list: the point strings are built from this text,
    /// so `localhost` and `127.0.0.1` are different nodes to every ketama client.
    pub host: String,
    /// The port, part of the point strings unless it is 11211.
    pub port: u16,
    /// A node of weight 2 gets twice the points, and so about twice the keys, of weight 1.
    pub weight: u32,
}

impl RingNode {
    /// A node of weight 1.
    pub fn new(host: impl Into<String>, port: u16) -> RingNode {
        RingNode {
            host: host.into(),
            port,
            weight: 1,
        }
    }

    /// The same node with another weight (0 counts as 1, as in libmemcached).
    pub fn with_weight(mut self, weight: u32) -> RingNode {
        self.weight = weight.max(1);
        self
    }

    /// The prefix of this node's point strings.
    fn point_name(&self) -> String {
        if self.port == MEMCACHED_DEFAULT_PORT {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A continuum of points, each naming the index of the node that owns it.
#[derive(Clone, Debug)]
pub struct Ring {
    /// Sorted by point value; the node index breaks ties so the order is deterministic.
    points: Vec<(u32, u32)>,
    /// How many points each node got (its share of the continuum, before hashing luck).
    points_per_node: Vec<u32>,
}

impl Ring {
    /// Builds the continuum for `nodes`; node `i` of the slice is index `i` in lookups.
    pub fn new(nodes: &[RingNode]) -> Ring {
        let n = nodes.len() as u32;
        let total: u64 = nodes.iter().map(|nd| u64::from(nd.weight.max(1))).sum();
        let mut points = Vec::new();
        let mut points_per_node = Vec::with_capacity(nodes.len());
        for (index, node) in nodes.iter().enumerate() {
            // libmemcached computes this in single-precision float; do the same so a weight
            // split that rounds one way there rounds the same way here.
            let pct = node.weight.max(1) as f32 / total as f32;
            let digests = (pct * (POINTS_PER_SERVER / POINTS_PER_DIGEST) as f32 * n as f32
                + 0.000_000_000_1)
                .floor() as u32;
            let name = node.point_name();
            for i in 0..digests {
                let digest = Md5::digest(format!("{name}-{i}").as_bytes());
                for h in 0..POINTS_PER_DIGEST as usize {
                    let b = &digest[h * 4..h * 4 + 4];
                    let value = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    points.push((value, index as u32));
                }
            }
            points_per_node.push(digests * POINTS_PER_DIGEST);
        }
        points.sort_unstable();
        Ring {
            points,
            points_per_node,
        }
    }

    /// The ketama hash of a key: the first four bytes of its MD5, little-endian.
    pub fn hash(key: &[u8]) -> u32 {
        let digest = Md5::digest(key);
        u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
    }

    /// The index of the node that owns `key`, or `None` for an empty ring.
    pub fn node_for(&self, key: &[u8]) -> Option<usize> {
        self.node_for_hash(Ring::hash(key))
    }

    /// The owner of a hash value: the first point at or after it, wrapping around.
    pub fn node_for_hash(&self, hash: u32) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let i = self.points.partition_point(|&(value, _)| value < hash);
        let (_, node) = self.points[if i == self.points.len() { 0 } else { i }];
        Some(node as usize)
    }

    /// How many points node `index` holds.
    pub fn points_of(&self, index: usize) -> u32 {
        self.points_per_node.get(index).copied().unwrap_or(0)
    }

    /// The number of points on the continuum.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True for a ring without nodes.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys whose placements the reference tool computed (the same list for every case).
    const KEYS: [&str; 18] = [
        "user:0",
        "user:1",
        "user:2",
        "user:3",
        "user:4",
        "user:5",
        "user:6",
        "user:7",
        "user:8",
        "user:9",
        "user:10",
        "user:11",
        "foo",
        "bar",
        "hello",
        "a",
        "",
        "session:42",
    ];

    fn owners(nodes: &[RingNode]) -> Vec<String> {
        let ring = Ring::new(nodes);
        KEYS.iter()
            .map(|k| {
                let n = &nodes[ring.node_for(k.as_bytes()).unwrap()];
                if n.port == MEMCACHED_DEFAULT_PORT {
                    n.host.clone()
                } else {
                    format!("{}:{}", n.host, n.port)
                }
            })
            .collect()
    }

    // The expected placements below were produced by uhashring 2.x (PyPI, `pip install
    // uhashring`), an independent ketama implementation compatible with libmemcached:
    //   HashRing(nodes=[...], hash_fn='ketama').get_node(key)
    // with node names "127.0.0.1:7001" etc. (so its point strings are "127.0.0.1:7001-i",
    // as libmemcached writes them for a non-default port) and "10.0.0.1" etc. for the
    // default-port case (libmemcached's "host-i").

    #[test]
    fn placements_match_uhashring_equal_weights() {
        let nodes: Vec<RingNode> = (7001..=7003)
            .map(|p| RingNode::new("127.0.0.1", p))
            .collect();
        let expected = [
            "7001", "7003", "7003", "7003", "7001", "7002", "7002", "7002", "7003", "7002", "7002",
            "7003", "7002", "7003", "7003", "7002", "7001", "7001",
        ];
        let got = owners(&nodes);
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(got[i], format!("127.0.0.1:{want}"), "key {:?}", KEYS[i]);
        }
    }

    #[test]
    fn placements_match_uhashring_weighted() {
        // weights 1, 3, 1: uhashring reports 96, 288 and 96 points.
        let nodes = vec![
            RingNode::new("127.0.0.1", 7001),
            RingNode::new("127.0.0.1", 7002).with_weight(3),
            RingNode::new("127.0.0.1", 7003),
        ];
        let ring = Ring::new(&nodes);
        assert_eq!(
            (ring.points_of(0), ring.points_of(1), ring.points_of(2)),
            (96, 288, 96)
        );
        let expected = [
            "7002", "7003", "7003", "7002", "7002", "7002", "7002", "7002", "7003", "7002", "7002",
            "7003", "7002", "7003", "7003", "7002", "7001", "7001",
        ];
        let got = owners(&nodes);
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(got[i], format!("127.0.0.1:{want}"), "key {:?}", KEYS[i]);
        }
    }

    #[test]
    fn placements_match_uhashring_default_port() {
        let nodes: Vec<RingNode> = (1..=4)
            .map(|i| RingNode::new(format!("10.0.0.{i}"), MEMCACHED_DEFAULT_PORT))
            .collect();
        let expected = [4, 2, 4, 3, 2, 2, 4, 2, 2, 4, 3, 1, 2, 2, 2, 4, 2, 2];
        let got = owners(&nodes);
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(got[i], format!("10.0.0.{want}"), "key {:?}", KEYS[i]);
        }
    }

    fn keys(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("key:{i}").into_bytes()).collect()
    }

    fn nodes(n: u16) -> Vec<RingNode> {
        (0..n)
            .map(|i| RingNode::new("10.1.0.1", 7000 + i))
            .collect()
    }

    #[test]
    fn keys_spread_evenly_over_equal_nodes() {
        let ring = Ring::new(&nodes(4));
        let mut counts = [0usize; 4];
        for k in keys(100_000) {
            counts[ring.node_for(&k).unwrap()] += 1;
        }
        // 160 points per node keep each share within a few percent of 25%.
        for c in counts {
            assert!((20_000..30_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn weights_scale_the_share() {
        let mut ns = nodes(3);
        ns[1] = ns[1].clone().with_weight(2);
        let ring = Ring::new(&ns);
        let mut counts = [0usize; 3];
        for k in keys(100_000) {
            counts[ring.node_for(&k).unwrap()] += 1;
        }
        // expected 25% / 50% / 25%
        assert!((40_000..60_000).contains(&counts[1]), "{counts:?}");
        assert!(counts[0] < 32_000 && counts[2] < 32_000, "{counts:?}");
    }

    /// Counts keys whose owner (by node identity) differs between two node lists.
    fn moved(before: &[RingNode], after: &[RingNode], keys: &[Vec<u8>]) -> usize {
        let (rb, ra) = (Ring::new(before), Ring::new(after));
        keys.iter()
            .filter(|k| before[rb.node_for(k).unwrap()] != after[ra.node_for(k).unwrap()])
            .count()
    }

    #[test]
    fn one_node_more_moves_about_one_nth() {
        let ks = keys(100_000);
        let (five, six) = (nodes(5), nodes(6));
        let m = moved(&five, &six, &ks);
        // Ideal: 1/6 of the keys (16,667) move to the new node; modulo hashing would move 5/6.
        assert!((12_000..22_000).contains(&m), "moved {m}");
        // Every key that moved went to the new node: the others kept their owner.
        let (r5, r6) = (Ring::new(&five), Ring::new(&six));
        for k in &ks {
            let (b, a) = (r5.node_for(k).unwrap(), r6.node_for(k).unwrap());
            assert!(b == a || a == 5, "a key moved between two old nodes");
        }
    }

    #[test]
    fn one_node_less_moves_only_its_keys() {
        let ks = keys(100_000);
        let five = nodes(5);
        let four: Vec<RingNode> = five.iter().filter(|n| n.port != 7002).cloned().collect();
        let m = moved(&five, &four, &ks);
        let r5 = Ring::new(&five);
        let owned_by_removed = ks
            .iter()
            .filter(|k| five[r5.node_for(k).unwrap()].port == 7002)
            .count();
        // Exactly the removed node's keys move, and they are about 1/5 of all.
        assert_eq!(m, owned_by_removed);
        assert!((14_000..26_000).contains(&m), "moved {m}");
    }

    #[test]
    fn lookup_wraps_and_empty_ring_has_no_owner() {
        assert_eq!(Ring::new(&[]).node_for(b"x"), None);
        let ring = Ring::new(&nodes(2));
        let last = ring.points.last().unwrap().0;
        assert_eq!(
            ring.node_for_hash(last.wrapping_add(1).max(last)),
            ring.node_for_hash(last)
        );
        if last < u32::MAX {
            assert_eq!(
                ring.node_for_hash(u32::MAX),
                Some(ring.points[0].1 as usize)
            );
        }
    }
}
