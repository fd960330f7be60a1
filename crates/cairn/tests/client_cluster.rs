//! cairn-client in cluster mode against real clusters: three primaries (and, for the
//! failover test, a replica each) started here on ephemeral 127.0.0.1 ports, once as
//! redis-server processes and once as Cairn nodes, both built the same way: slots assigned
//! with CLUSTER ADDSLOTSRANGE, then joined with CLUSTER MEET, replicas attached with
//! CLUSTER REPLICATE. The Redis half is skipped, with a notice, when redis-server is not
//! installed.

use bytes::Bytes;
use cairn_client::{CacheClient, ClientOptions, NearOptions, slot::slot};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Redis,
    Cairn,
}

/// Runs an async test body once against a Redis Cluster and once against a Cairn cluster.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                super::$name(super::Kind::Redis).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cairn() {
                super::$name(super::Kind::Cairn).await;
            }
        }
    };
}

both!(cluster_keys_go_to_their_slot_owner_and_the_near_cache_stays_coherent);
both!(a_slot_move_flushes_the_near_cache_and_reads_follow_the_key);
both!(a_failover_flushes_the_near_cache_and_reads_follow_the_new_primary);

struct Node {
    child: Child,
    addr: SocketAddr,
    bus: u16,
    dir: std::path::PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Cluster {
    nodes: Vec<Node>,
    ids: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn conn(addr: SocketAddr) -> redis::Connection {
    redis::Client::open(format!("redis://{addr}"))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Runs `cmd` on `c`, again while a node answers CLUSTERDOWN: on a loaded machine a node
/// that missed the others' heartbeats refuses writes until it hears from a majority again,
/// and cluster clients retry then, as Redis Cluster's do.
fn query_retrying<T: redis::FromRedisValue>(cmd: &redis::Cmd, c: &mut redis::Connection) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match cmd.query(c) {
            Err(e)
                if (e.code() == Some("CLUSTERDOWN") || e.to_string().contains("CLUSTERDOWN"))
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            r => return r.unwrap(),
        }
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Node {
    fn start(kind: Kind) -> Node {
        let port = free_port();
        // The bus port is given, so it cannot land past 65535 as port + 10000 could.
        let bus = free_port();
        let dir = std::env::temp_dir().join(format!(
            "cairn-client-cluster-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = match kind {
            Kind::Redis => {
                let mut c = Command::new("redis-server");
                // Redis's default of 15 s would make the failover test wait as long.
                c.args(["--cluster-node-timeout", "2000"]);
                c
            }
            Kind::Cairn => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
                // The nodes meet by hand here, so they share a secret from the start.
                c.args([
                    "server",
                    "--cluster-secret",
                    "the client tests' cluster secret",
                ]);
                c
            }
        };
        let child = cmd
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-port", &bus.to_string()])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a server");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_until("the server answers", || {
            redis::Client::open(format!("redis://{addr}"))
                .and_then(|c| c.get_connection())
                .is_ok()
        });
        Node {
            child,
            addr,
            bus,
            dir,
        }
    }
}

impl Cluster {
    /// Three primaries owning 0-5460, 5461-10922, 10923-16383, with a replica each (nodes
    /// 3, 4, 5 of 0, 1, 2) if `replicas`; `None` for Redis without redis-server.
    fn start(kind: Kind, replicas: bool) -> Option<Cluster> {
        if kind == Kind::Redis
            && Command::new("redis-server")
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .is_err()
        {
            eprintln!("NOTICE: redis-server is not installed; its cluster tests skipped");
            return None;
        }
        let n = if replicas { 6 } else { 3 };
        let nodes: Vec<Node> = (0..n).map(|_| Node::start(kind)).collect();
        let ids: Vec<String> = nodes
            .iter()
            .map(|n| {
                redis::cmd("CLUSTER")
                    .arg("MYID")
                    .query::<String>(&mut conn(n.addr))
                    .unwrap()
            })
            .collect();
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (n, (lo, hi)) in nodes.iter().zip(ranges) {
            let _: () = redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(lo)
                .arg(hi)
                .query(&mut conn(n.addr))
                .unwrap();
        }
        let mut first = conn(nodes[0].addr);
        for n in &nodes[1..] {
            let _: () = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(n.addr.port())
                .arg(n.bus)
                .query(&mut first)
                .unwrap();
        }
        let known = format!("cluster_known_nodes:{n}");
        for node in &nodes {
            let mut c = conn(node.addr);
            wait_until("every node knows every other", || {
                let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut c).unwrap();
                info.contains(&known)
            });
        }
        for (i, node) in nodes.iter().enumerate().skip(3) {
            let mut c = conn(node.addr);
            wait_until("the replica attaches", || {
                redis::cmd("CLUSTER")
                    .arg("REPLICATE")
                    .arg(&ids[i - 3])
                    .query::<()>(&mut c)
                    .is_ok()
            });
        }
        for (i, node) in nodes.iter().enumerate() {
            let mut c = conn(node.addr);
            wait_until("the cluster is up, replicas in sync", || {
                let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut c).unwrap();
                let repl: String = redis::cmd("INFO").arg("replication").query(&mut c).unwrap();
                info.contains("cluster_state:ok")
                    && (i < 3 || repl.contains("master_link_status:up"))
            });
        }
        Some(Cluster { nodes, ids })
    }

    fn seeds(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://{}", n.addr))
            .collect()
    }

    /// The node index that owns `key` by the initial assignment.
    fn owner(key: &[u8]) -> usize {
        match slot(key) {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        }
    }
}

async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn admin(addr: SocketAddr) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://{addr}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn near_client(cluster: &Cluster) -> CacheClient {
    CacheClient::connect(
        ClientOptions::cluster(cluster.seeds())
            .near_cache(NearOptions::for_prefixes(["user:"]))
            .health_check_every(Duration::from_millis(50))
            // Many servers on few cores: a slow call is not a lost connection here.
            .timeouts(Duration::from_secs(10), Duration::from_secs(10)),
    )
    .await
    .unwrap()
}

async fn cluster_keys_go_to_their_slot_owner_and_the_near_cache_stays_coherent(kind: Kind) {
    let Some(cluster) = Cluster::start(kind, false) else {
        return;
    };
    let client = near_client(&cluster).await;
    // routing: every key is stored on the primary of its slot
    let mut admins = Vec::new();
    for n in &cluster.nodes {
        admins.push(admin(n.addr).await);
    }
    for i in 0..100 {
        let k = format!("user:{i}");
        client.set(&k, &k, None).await.unwrap();
        let owner = Cluster::owner(k.as_bytes());
        let here: bool = redis::cmd("EXISTS")
            .arg(&k)
            .query_async(&mut admins[owner])
            .await
            .unwrap();
        assert!(here, "{k} on node {owner}");
        assert_eq!(
            client.node_for(&k),
            cluster.nodes[owner].addr.to_string(),
            "the client's slot map agrees"
        );
        assert_eq!(client.get(&k).await.unwrap().unwrap(), k.as_bytes());
    }
    // coherence: a writer on a plain connection to the owner counts up; after each write's
    // invalidation has arrived, no read may return less
    let key = "user:counter";
    let owner = Cluster::owner(key.as_bytes());
    let mut writer = admin(cluster.nodes[owner].addr).await;
    client.set(key, "0", None).await.unwrap();
    let floor = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (client, floor, stop) = (client.clone(), floor.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let before = floor.load(Ordering::SeqCst);
                let v = client.get("user:counter").await.unwrap().unwrap();
                let v: u64 = std::str::from_utf8(&v).unwrap().parse().unwrap();
                assert!(v >= before, "stale read {v} < {before}");
                tokio::task::yield_now().await;
            }
        }));
    }
    let near = client.near_cache().unwrap();
    for i in 1..=100u64 {
        client.get(key).await.unwrap();
        let seen = near.stats().invalidations;
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(i)
            .query_async(&mut writer)
            .await
            .unwrap();
        eventually("the invalidation arrives", async || {
            near.stats().invalidations > seen
        })
        .await;
        floor.store(i, Ordering::SeqCst);
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.await.unwrap();
    }
    assert!(client.stats().near.hits > 0);
}

async fn a_slot_move_flushes_the_near_cache_and_reads_follow_the_key(kind: Kind) {
    let Some(cluster) = Cluster::start(kind, false) else {
        return;
    };
    let client = near_client(&cluster).await;
    let key = "user:moving";
    let s = slot(key.as_bytes());
    let from = Cluster::owner(key.as_bytes());
    let to = (from + 1) % 3;
    client.set(key, "before", None).await.unwrap();
    assert_eq!(client.get(key).await.unwrap(), Some(Bytes::from("before")));
    assert_eq!(client.get(key).await.unwrap(), Some(Bytes::from("before")));
    assert!(client.stats().near.hits >= 1, "served from L1");
    let flushes = client.stats().near.flushes;
    // move the slot: IMPORTING on the target, MIGRATING on the source, MIGRATE the key,
    // then give the slot to the target everywhere
    let (src, dst) = (cluster.nodes[from].addr, cluster.nodes[to].addr);
    let mut a = conn(src);
    let mut b = conn(dst);
    let _: () = query_retrying(
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(s)
            .arg("IMPORTING")
            .arg(&cluster.ids[from]),
        &mut b,
    );
    let _: () = query_retrying(
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(s)
            .arg("MIGRATING")
            .arg(&cluster.ids[to]),
        &mut a,
    );
    let _: redis::Value = query_retrying(
        redis::cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(dst.port())
            .arg(key)
            .arg(0)
            .arg(5000),
        &mut a,
    );
    // The target first, then the source, then the rest, as redis-cli does: the target's
    // claim carries a bumped epoch, so gossip from the source cannot take the slot back.
    let third = 3 - from - to;
    for n in [to, from, third] {
        let _: () = query_retrying(
            redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(s)
                .arg("NODE")
                .arg(&cluster.ids[to]),
            &mut conn(cluster.nodes[n].addr),
        );
    }
    // the new owner's copy changes behind the client's back (once it serves the slot).
    // A loaded machine can let Redis Cluster's gossip hand the slot back before the bumped
    // epoch spreads (seen once in CI on the redis-server half): the new owner is told
    // again, as an operator would; the subject here is the client following the move.
    eventually("the new owner serves the slot", async || {
        let served = redis::cmd("SET")
            .arg(key)
            .arg("after")
            .query::<()>(&mut b)
            .is_ok();
        if !served {
            let _ = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(s)
                .arg("NODE")
                .arg(&cluster.ids[to])
                .query::<()>(&mut b);
        }
        served
    })
    .await;
    eventually("the client sees the new slot map and flushes", async || {
        client.stats().near.flushes > flushes
    })
    .await;
    eventually("reads follow the key to its new node", async || {
        client.get(key).await.ok().flatten() == Some(Bytes::from("after"))
    })
    .await;
    assert_eq!(client.node_for(key), dst.to_string());
    // and the new node tracks our reads
    assert_tracked(&client, key, &mut b).await;
}

async fn a_failover_flushes_the_near_cache_and_reads_follow_the_new_primary(kind: Kind) {
    let Some(mut cluster) = Cluster::start(kind, true) else {
        return;
    };
    let client = near_client(&cluster).await;
    let key = "user:failover";
    let from = Cluster::owner(key.as_bytes());
    let replica = from + 3;
    client.set(key, "before", None).await.unwrap();
    // the replica holds it before the primary dies
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query(&mut conn(cluster.nodes[from].addr))
        .unwrap();
    assert_eq!(acked, 1);
    assert_eq!(client.get(key).await.unwrap(), Some(Bytes::from("before")));
    assert_eq!(client.get(key).await.unwrap(), Some(Bytes::from("before")));
    assert!(client.stats().near.hits >= 1, "served from L1");
    let flushes = client.stats().near.flushes;

    // kill -9 the primary; its replica takes over, and its copy changes behind the
    // client's back
    let _ = cluster.nodes[from].child.kill();
    let _ = cluster.nodes[from].child.wait();
    let mut b = conn(cluster.nodes[replica].addr);
    eventually("the replica is promoted and takes the write", async || {
        redis::cmd("SET")
            .arg(key)
            .arg("after")
            .query::<()>(&mut b)
            .is_ok()
    })
    .await;
    eventually(
        "the client notices and flushes its near cache",
        async || client.stats().near.flushes > flushes,
    )
    .await;
    eventually("reads follow the key to the new primary", async || {
        client.get(key).await.ok().flatten() == Some(Bytes::from("after"))
    })
    .await;
    // (redis-rs follows the MOVED at once; the client's own map, which routes its tracking
    // and breakers, follows at its next CLUSTER SLOTS)
    let promoted = cluster.nodes[replica].addr.to_string();
    eventually("the client's slot map names the new primary", async || {
        client.node_for(key) == promoted
    })
    .await;
    // and the new primary tracks our reads
    assert_tracked(&client, key, &mut b).await;
}

/// The node behind `owner` tracks the client's reads of `key`: after a read, a write there
/// on another connection reaches the client (its near cache is invalidated).
async fn assert_tracked(client: &CacheClient, key: &str, owner: &mut redis::Connection) {
    client.get(key).await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg("latest")
        .query(owner)
        .unwrap();
    eventually("the owner's invalidation arrives", async || {
        client.get(key).await.ok().flatten() == Some(Bytes::from("latest"))
    })
    .await;
}
