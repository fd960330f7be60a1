//! How to reach the cache and how to behave: one options struct, grown through builder
//! methods so new settings never break callers.

use std::time::Duration;

use crate::breaker::BreakerOptions;
use crate::jitter::Backoff;
use crate::near::NearOptions;

/// Where the cache is.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Topology {
    /// One node (a Cairn node, a Redis or Valkey primary).
    Standalone(String),
    /// Independent nodes; keys are spread over them by the client's ketama ring, as
    /// memcached clients do.
    Sharded(Vec<ShardNode>),
    /// A Redis Cluster (or a Cairn cluster): these seed URLs, the slot map from the server.
    Cluster(Vec<String>),
}

/// One node of a sharded topology.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ShardNode {
    /// `redis://host:port[/db]`; host and port also name the node on the ring, so every
    /// client must write them the same way (as with libmemcached).
    pub url: String,
    /// Its share of the keys relative to the other nodes.
    pub weight: u32,
}

impl ShardNode {
    /// A node of weight 1.
    pub fn new(url: impl Into<String>) -> ShardNode {
        ShardNode {
            url: url.into(),
            weight: 1,
        }
    }

    /// The same node with another weight.
    pub fn weight(mut self, weight: u32) -> ShardNode {
        self.weight = weight.max(1);
        self
    }
}

/// The wire protocol. RESP3 carries invalidations on the data connections themselves;
/// RESP2 needs one extra connection per node that receives them (CLIENT TRACKING REDIRECT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// RESP2 (every Redis, every Cairn).
    Resp2,
    /// RESP3 (Redis 6+, Valkey, Cairn).
    Resp3,
}

/// Polling the server's hot keys (Cairn's `HOTKEYS` command) to keep them in the near cache.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HotKeyOptions {
    /// How often to ask each node.
    pub every: Duration,
    /// How many of the hottest keys to ask for.
    pub count: usize,
    /// Sampled accesses a key needs to count as hot.
    pub min_accesses: u64,
}

impl Default for HotKeyOptions {
    fn default() -> HotKeyOptions {
        HotKeyOptions {
            every: Duration::from_secs(1),
            count: 32,
            min_accesses: 8,
        }
    }
}

impl HotKeyOptions {
    /// Asks for the `count` hottest keys every `every`; keys with at least `min_accesses`
    /// sampled accesses count as hot.
    pub fn new(every: Duration, count: usize, min_accesses: u64) -> HotKeyOptions {
        HotKeyOptions {
            every,
            count,
            min_accesses,
        }
    }
}

/// Everything the client needs to know.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Where the nodes are.
    pub topology: Topology,
    /// RESP2 or RESP3.
    pub protocol: Protocol,
    /// Multiplexed connections per node; each pipelines every concurrent request on it, so a
    /// few are enough to use a node's cores.
    pub connections_per_node: usize,
    /// Bound on making a connection.
    pub connect_timeout: Duration,
    /// Bound on every call, from send to reply.
    pub response_timeout: Duration,
    /// Waits between reconnection attempts (jittered).
    pub reconnect_backoff: Backoff,
    /// When a node is considered down and skipped (`open_for` is the dead timeout).
    pub breaker: BreakerOptions,
    /// The near cache, when wanted.
    pub near: Option<NearOptions>,
    /// Hot-key polling, when wanted (needs the near cache; Cairn only).
    pub hot_keys: Option<HotKeyOptions>,
    /// In cluster mode, read hot keys from replicas too.
    pub replica_reads_for_hot_keys: bool,
    /// Connections per node reserved for guarded fills (WATCH needs one to itself).
    pub fill_connections: usize,
    /// How often the cluster slot map is compared with the last one seen (a change flushes
    /// the near cache). RESP2 tracking connections are pinged at the same pace.
    pub health_check_every: Duration,
    /// How long a tombstone written by `invalidate` lives.
    pub tombstone_ttl: Duration,
}

impl ClientOptions {
    fn with_topology(topology: Topology) -> ClientOptions {
        ClientOptions {
            topology,
            protocol: Protocol::Resp3,
            connections_per_node: 2,
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            reconnect_backoff: Backoff::default(),
            breaker: BreakerOptions::default(),
            near: None,
            hot_keys: None,
            replica_reads_for_hot_keys: false,
            fill_connections: 8,
            health_check_every: Duration::from_secs(1),
            tombstone_ttl: Duration::from_secs(30),
        }
    }

    /// One node at `url` (`redis://host:port`).
    pub fn standalone(url: impl Into<String>) -> ClientOptions {
        ClientOptions::with_topology(Topology::Standalone(url.into()))
    }

    /// Independent nodes behind a ketama ring.
    pub fn sharded(nodes: impl IntoIterator<Item = ShardNode>) -> ClientOptions {
        ClientOptions::with_topology(Topology::Sharded(nodes.into_iter().collect()))
    }

    /// A cluster reached through these seeds.
    pub fn cluster<I, S>(seeds: I) -> ClientOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientOptions::with_topology(Topology::Cluster(
            seeds.into_iter().map(Into::into).collect(),
        ))
    }

    /// Speaks `protocol`.
    pub fn protocol(mut self, protocol: Protocol) -> ClientOptions {
        self.protocol = protocol;
        self
    }

    /// Keeps a near cache.
    pub fn near_cache(mut self, near: NearOptions) -> ClientOptions {
        self.near = Some(near);
        self
    }

    /// Bounds connecting and every call.
    pub fn timeouts(mut self, connect: Duration, response: Duration) -> ClientOptions {
        self.connect_timeout = connect;
        self.response_timeout = response;
        self
    }

    /// Opens this many multiplexed connections per node.
    pub fn connections_per_node(mut self, n: usize) -> ClientOptions {
        self.connections_per_node = n.max(1);
        self
    }

    /// Reconnects with this backoff.
    pub fn reconnect_backoff(mut self, backoff: Backoff) -> ClientOptions {
        self.reconnect_backoff = backoff;
        self
    }

    /// Uses these breaker settings (in sharded mode `open_for` is the dead timeout).
    pub fn breaker(mut self, breaker: BreakerOptions) -> ClientOptions {
        self.breaker = breaker;
        self
    }

    /// Polls hot keys into the near cache.
    pub fn hot_keys(mut self, hot: HotKeyOptions) -> ClientOptions {
        self.hot_keys = Some(hot);
        self
    }

    /// In cluster mode, spreads reads of hot keys over replicas.
    pub fn replica_reads_for_hot_keys(mut self, on: bool) -> ClientOptions {
        self.replica_reads_for_hot_keys = on;
        self
    }

    /// Checks health (slot map, RESP2 tracking connections) this often.
    pub fn health_check_every(mut self, every: Duration) -> ClientOptions {
        self.health_check_every = every;
        self
    }

    /// Keeps up to `n` connections per node for guarded fills.
    pub fn fill_connections(mut self, n: usize) -> ClientOptions {
        self.fill_connections = n;
        self
    }
}
