//! cairn-client against real servers: every test runs against a real Cairn node and, where
//! `redis-server` is installed, against a real Redis too (a notice is printed when it is
//! not). Faults are injected with a small TCP relay that can be cut and restored; no server
//! is mocked.

mod common;

use bytes::Bytes;
use cairn_client::{
    Backoff, BreakerOptions, BreakerState, CacheClient, ClientOptions, Error, HotKeyOptions,
    LoadOptions, NearOptions, Protocol, ShardNode, Source, SourceError, Write, WriteBehind,
    WriteMode, WriteThrough,
    patterns::{WriteBehindError, WriteBehindOptions},
};
use common::CairnProcess;
use common::versus::RedisServer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

// ---------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server of either kind.
enum Server {
    Cairn(CairnProcess),
    Redis(RedisServer),
}

impl Server {
    fn addr(&self) -> SocketAddr {
        match self {
            Server::Cairn(c) => c.addr,
            Server::Redis(r) => r.addr,
        }
    }
    fn url(&self) -> String {
        format!("redis://{}", self.addr())
    }
    fn kind(&self) -> &'static str {
        match self {
            Server::Cairn(_) => "cairn",
            Server::Redis(_) => "redis",
        }
    }
    /// A plain redis-rs connection: the "other application" that writes behind our back.
    async fn admin(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

/// A Cairn node, and a redis-server when installed.
fn servers() -> Vec<Server> {
    let mut v = vec![Server::Cairn(CairnProcess::start(&[]))];
    if let Some(r) = RedisServer::start(&[]) {
        v.push(Server::Redis(r));
    }
    v
}

/// Call timeouts for test clients: these tests start many servers at once on few cores,
/// and a slow call then is not a failure.
const GENEROUS: Duration = Duration::from_secs(10);

/// Polls `cond` until it holds; panics after a generous hang guard (it is not a timing
/// assertion: the condition must hold eventually, the guard only stops a broken test).
async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------
// A TCP relay that can be cut and restored, to take a node away and give it back
// ---------------------------------------------------------------------------------------

struct Relay {
    port: u16,
    target: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    async fn new(target: SocketAddr) -> Relay {
        let mut r = Relay {
            port: free_port(),
            target,
            task: None,
        };
        r.restore().await;
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Closes the listener and every relayed connection: the node is gone.
    fn cut(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listens again on the same port.
    async fn restore(&mut self) {
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        };
        let target = self.target;
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

// ---------------------------------------------------------------------------------------
// A source of truth in memory, with switches to make it slow or failing
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct MemSource {
    data: parking_lot_free::Mutex<HashMap<Bytes, Bytes>>,
    /// Every write applied, in order.
    log: parking_lot_free::Mutex<Vec<Write>>,
    loads: AtomicUsize,
    /// Batches to fail before succeeding (u64::MAX: fail for ever).
    fail_batches: AtomicU64,
    batches: AtomicUsize,
}

/// std's mutex under a short name (the test crate does not depend on parking_lot).
mod parking_lot_free {
    pub struct Mutex<T>(std::sync::Mutex<T>);
    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Mutex(std::sync::Mutex::new(T::default()))
        }
    }
    impl<T> Mutex<T> {
        pub fn lock(&self) -> std::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }
}

impl Source for MemSource {
    async fn load(&self, key: &[u8]) -> Result<Option<Bytes>, SourceError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(self.data.lock().get(key).cloned())
    }
    async fn store(&self, key: &[u8], value: &[u8]) -> Result<(), SourceError> {
        self.data
            .lock()
            .insert(Bytes::copy_from_slice(key), Bytes::copy_from_slice(value));
        Ok(())
    }
    async fn remove(&self, key: &[u8]) -> Result<(), SourceError> {
        self.data.lock().remove(key);
        Ok(())
    }
    async fn apply_batch(&self, writes: &[Write]) -> Result<(), SourceError> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        let left = self.fail_batches.load(Ordering::SeqCst);
        if left > 0 {
            if left != u64::MAX {
                self.fail_batches.store(left - 1, Ordering::SeqCst);
            }
            return Err("the database is down".into());
        }
        for w in writes {
            match w {
                Write::Put { key, value } => {
                    self.data.lock().insert(key.clone(), value.clone());
                }
                Write::Delete { key } => {
                    self.data.lock().remove(key);
                }
                _ => unreachable!(),
            }
            self.log.lock().push(w.clone());
        }
        Ok(())
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn near_client(url: &str, protocol: Protocol) -> CacheClient {
    CacheClient::connect(
        ClientOptions::standalone(url)
            .protocol(protocol)
            .near_cache(NearOptions::for_prefixes(["user:"]))
            .health_check_every(Duration::from_millis(50))
            .timeouts(GENEROUS, GENEROUS),
    )
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// Near cache
// ---------------------------------------------------------------------------------------

/// The promise under test: once the invalidation for a write has arrived, no read returns
/// a value older than that write. A writer on another connection counts up; after each
/// write it waits for the invalidation and raises the floor; readers hammering the key
/// must never read below the floor they saw before their read.
async fn coherence_under_concurrent_writers(server: &Server, protocol: Protocol) {
    let client = near_client(&server.url(), protocol).await;
    let mut writer = server.admin().await;
    let key = "user:counter";
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(0)
        .query_async(&mut writer)
        .await
        .unwrap();
    let floor = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (client, floor, stop) = (client.clone(), floor.clone(), stop_rx.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            while !*stop.borrow() {
                let before = floor.load(Ordering::SeqCst);
                let v = client.get("user:counter").await.unwrap().unwrap();
                let v: u64 = std::str::from_utf8(&v).unwrap().parse().unwrap();
                assert!(
                    v >= before,
                    "stale read: {v} after the invalidation for {before}"
                );
                reads += 1;
                tokio::task::yield_now().await;
            }
            reads
        }));
    }
    let near = client.near_cache().unwrap();
    for i in 1..=200u64 {
        // make sure the key is tracked, so this write must produce an invalidation
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
    stop_tx.send(true).unwrap();
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    let s = client.stats();
    assert!(reads > 200, "{reads}");
    assert!(s.near.hits > 0, "L1 was used: {s:?}");
    assert_eq!(client.get(key).await.unwrap(), Some(b("200")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_cache_is_coherent_under_concurrent_writers_resp3() {
    for server in servers() {
        eprintln!("against {}", server.kind());
        coherence_under_concurrent_writers(&server, Protocol::Resp3).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_cache_is_coherent_under_concurrent_writers_resp2_redirect() {
    for server in servers() {
        eprintln!("against {}", server.kind());
        coherence_under_concurrent_writers(&server, Protocol::Resp2).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_cache_keeps_only_opted_in_prefixes_and_counts_hits() {
    for server in servers() {
        let client = near_client(&server.url(), Protocol::Resp3).await;
        client.set("user:1", "ada", None).await.unwrap();
        client.set("order:1", "book", None).await.unwrap();
        for _ in 0..3 {
            assert_eq!(client.get("user:1").await.unwrap(), Some(b("ada")));
            assert_eq!(client.get("order:1").await.unwrap(), Some(b("book")));
        }
        // user:1 came from the server once, then from L1; order:1 never entered L1
        assert_eq!(client.stats().near.hits, 2, "{}", server.kind());
        assert_eq!(client.near_cache().unwrap().len(), 1);
        // our own write drops the key at once
        client.set("user:1", "grace", None).await.unwrap();
        assert_eq!(client.get("user:1").await.unwrap(), Some(b("grace")));
    }
}

/// Kills the client's connections on the server side: tracking is gone with them, so a
/// write made afterwards produces no invalidation. Only the flush on connection loss keeps
/// the near cache from serving the old value.
async fn flush_on_connection_loss(server: &Server, protocol: Protocol) {
    let client = near_client(&server.url(), protocol).await;
    let mut admin = server.admin().await;
    client.set("user:7", "old", None).await.unwrap();
    assert_eq!(client.get("user:7").await.unwrap(), Some(b("old")));
    assert_eq!(client.get("user:7").await.unwrap(), Some(b("old")));
    assert!(
        client.stats().near.hits >= 1,
        "{} {protocol:?}: {:?}",
        server.kind(),
        client.stats().near
    );
    let flushes = client.stats().near.flushes;
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut admin)
        .await
        .unwrap();
    let mut admin = server.admin().await;
    let _: () = redis::cmd("SET")
        .arg("user:7")
        .arg("new")
        .query_async(&mut admin)
        .await
        .unwrap();
    eventually("the near cache is flushed", async || {
        client.stats().near.flushes > flushes
    })
    .await;
    let mut got = None;
    for _ in 0..100 {
        // the first call after the kill may meet the dead connection; it must not succeed
        // with the old value
        match client.get("user:7").await {
            Ok(v) => {
                got = v;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    assert_eq!(got, Some(b("new")), "{} {protocol:?}", server.kind());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_cache_is_flushed_when_tracking_connections_drop() {
    for server in servers() {
        flush_on_connection_loss(&server, Protocol::Resp3).await;
        flush_on_connection_loss(&server, Protocol::Resp2).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_sends_a_null_invalidation_that_empties_the_near_cache() {
    for server in servers() {
        let client = near_client(&server.url(), Protocol::Resp3).await;
        client.set("user:1", "a", None).await.unwrap();
        client.get("user:1").await.unwrap();
        assert_eq!(client.near_cache().unwrap().len(), 1);
        let flushes = client.stats().near.flushes;
        let mut admin = server.admin().await;
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut admin)
            .await
            .unwrap();
        eventually("the null invalidation arrives", async || {
            client.stats().near.flushes > flushes
        })
        .await;
        assert_eq!(
            client.get("user:1").await.unwrap(),
            None,
            "{}",
            server.kind()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_keys_reported_by_the_server_are_served_from_the_near_cache() {
    let server = Server::Cairn(CairnProcess::start(&[]));
    let client = CacheClient::connect(
        ClientOptions::standalone(server.url())
            .near_cache(NearOptions::for_prefixes(Vec::<&str>::new()))
            .hot_keys(HotKeyOptions::new(Duration::from_millis(20), 8, 1))
            .timeouts(GENEROUS, GENEROUS),
    )
    .await
    .unwrap();
    client.set("trending", "cat video", None).await.unwrap();
    client.get("trending").await.unwrap();
    assert_eq!(client.stats().near.hits, 0, "not hot yet: not in L1");
    let mut admin = server.admin().await;
    eventually("the server reports the key hot", async || {
        for _ in 0..200 {
            let _: Option<String> = redis::cmd("GET")
                .arg("trending")
                .query_async(&mut admin)
                .await
                .unwrap();
        }
        client.near_cache().unwrap().is_hot(b"trending")
    })
    .await;
    client.get("trending").await.unwrap();
    assert_eq!(client.get("trending").await.unwrap(), Some(b("cat video")));
    assert!(client.stats().near.hits >= 1);
    // and it stays coherent: a write elsewhere is seen
    let _: () = redis::cmd("SET")
        .arg("trending")
        .arg("dog video")
        .query_async(&mut admin)
        .await
        .unwrap();
    eventually("the hot key's invalidation arrives", async || {
        client.get("trending").await.unwrap() == Some(b("dog video"))
    })
    .await;
    // Redis has no HOTKEYS: polling turns itself off, nothing fails
    if let Some(r) = RedisServer::start(&[]) {
        let c = CacheClient::connect(
            ClientOptions::standalone(format!("redis://{}", r.addr))
                .near_cache(NearOptions::default())
                .hot_keys(HotKeyOptions::default()),
        )
        .await
        .unwrap();
        assert!(c.hot_keys(5).await.is_empty());
        c.set("k", "v", None).await.unwrap();
        assert_eq!(c.get("k").await.unwrap(), Some(b("v")));
    }
}

// ---------------------------------------------------------------------------------------
// Stampede protection
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_calls_the_loader_once_for_a_thousand_callers() {
    for server in servers() {
        let client = near_client(&server.url(), Protocol::Resp3).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = watch::channel(false);
        let opts = LoadOptions::new(Duration::from_secs(60));
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            let (client, calls, opts) = (client.clone(), calls.clone(), opts.clone());
            let mut release = release_rx.clone();
            tasks.push(tokio::spawn(async move {
                client
                    .get_or_load("product:1", &opts, move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        release.wait_for(|r| *r).await.unwrap();
                        Ok(Some(b("widget")))
                    })
                    .await
            }));
        }
        eventually("all callers join the flight", async || {
            client.waiting_on("product:1") == 999
        })
        .await;
        release_tx.send(true).unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), Some(b("widget")));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{}", server.kind());
        // the value was stored: a new caller does not load
        let again = client
            .get_or_load("product:1", &opts, || async { panic!("must not load") })
            .await
            .unwrap();
        assert_eq!(again, Some(b("widget")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_single_flight_every_caller_loads() {
    let server = Server::Cairn(CairnProcess::start(&[]));
    // Default timeouts: the 50 callers outnumber the guarded-fill connections, and those
    // that get none load anyway once their wait for one times out.
    let client = CacheClient::connect(
        ClientOptions::standalone(server.url())
            .near_cache(NearOptions::for_prefixes(["user:"]))
            .health_check_every(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let (release_tx, release_rx) = watch::channel(false);
    let opts = LoadOptions::new(Duration::from_secs(60)).single_flight(false);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (client, calls, opts) = (client.clone(), calls.clone(), opts.clone());
        let mut release = release_rx.clone();
        tasks.push(tokio::spawn(async move {
            client
                .get_or_load("product:2", &opts, move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    release.wait_for(|r| *r).await.unwrap();
                    Ok(Some(b("gadget")))
                })
                .await
        }));
    }
    eventually("every caller is loading", async || {
        calls.load(Ordering::SeqCst) == 50
    })
    .await;
    release_tx.send(true).unwrap();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_results_are_cached_with_their_own_ttl() {
    for server in servers() {
        let client = near_client(&server.url(), Protocol::Resp3).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let opts = LoadOptions::new(Duration::from_secs(60)).negative_ttl(Duration::from_secs(30));
        for _ in 0..3 {
            let calls = calls.clone();
            let v = client
                .get_or_load("user:ghost", &opts, move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(None)
                })
                .await
                .unwrap();
            assert_eq!(v, None);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{}", server.kind());
        let mut admin = server.admin().await;
        let pttl: i64 = redis::cmd("PTTL")
            .arg("user:ghost")
            .query_async(&mut admin)
            .await
            .unwrap();
        assert!(pttl > 0 && pttl <= 30_000, "negative entry TTL {pttl}");
        // without negative caching, every miss loads
        let plain = LoadOptions::new(Duration::from_secs(60));
        for _ in 0..2 {
            let calls = calls.clone();
            client
                .get_or_load("user:ghost2", &plain, move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(None)
                })
                .await
                .unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_values_are_served_while_one_refresh_runs() {
    for server in servers() {
        let client = near_client(&server.url(), Protocol::Resp3).await;
        let version = Arc::new(AtomicUsize::new(1));
        let loader = |v: Arc<AtomicUsize>| {
            move || async move { Ok(Some(Bytes::from(v.load(Ordering::SeqCst).to_string()))) }
        };
        let opts = LoadOptions::new(Duration::from_millis(1))
            .ttl_jitter(0.0)
            .stale_while_revalidate(Duration::from_secs(60));
        let v = client
            .get_or_load("user:swr", &opts, loader(version.clone()))
            .await
            .unwrap();
        assert_eq!(v, Some(b("1")));
        version.store(2, Ordering::SeqCst);
        // past its 1 ms of freshness
        tokio::time::sleep(Duration::from_millis(5)).await;
        let v = client
            .get_or_load("user:swr", &opts, loader(version.clone()))
            .await
            .unwrap();
        assert_eq!(v, Some(b("1")), "the stale value, at once");
        assert!(client.stats().stale_served >= 1);
        eventually("the background refresh stores the new value", async || {
            client.quiesce().await;
            let mut admin = server.admin().await;
            let raw: Option<Vec<u8>> = redis::cmd("GET")
                .arg("user:swr")
                .query_async(&mut admin)
                .await
                .unwrap();
            raw.is_some_and(|r| r.ends_with(b"2"))
        })
        .await;
    }
}

// ---------------------------------------------------------------------------------------
// Failure handling
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_after_failures_degrades_reads_and_closes_after_a_probe() {
    for server in servers() {
        let mut relay = Relay::new(server.addr()).await;
        let client = CacheClient::connect(
            ClientOptions::standalone(relay.url())
                .breaker(BreakerOptions::new(3, Duration::from_millis(200)))
                .reconnect_backoff(Backoff::new(
                    Duration::from_millis(1),
                    Duration::from_millis(5),
                ))
                .timeouts(Duration::from_millis(500), Duration::from_millis(500)),
        )
        .await
        .unwrap();
        client.set("k", "v", None).await.unwrap();
        assert_eq!(client.breaker_states()[0].1, BreakerState::Closed);
        relay.cut();
        let mut failures = 0;
        while client.breaker_states()[0].1 != BreakerState::Open {
            assert!(client.get("k").await.is_err());
            failures += 1;
            assert!(failures <= 10, "the breaker never opened");
        }
        // open: refused at once, without touching the network
        assert!(matches!(client.get("k").await, Err(Error::NodeDown { .. })));
        // a read through get_or_load does not fail: the source answers
        let v = client
            .get_or_load("k", &LoadOptions::new(Duration::from_secs(1)), || async {
                Ok(Some(b("from the database")))
            })
            .await
            .unwrap();
        assert_eq!(v, Some(b("from the database")));
        assert!(client.stats().degraded >= 1);
        relay.restore().await;
        eventually("the probe closes the breaker", async || {
            client.get("k").await.is_ok()
        })
        .await;
        assert_eq!(
            client.breaker_states()[0].1,
            BreakerState::Closed,
            "{}",
            server.kind()
        );
        assert_eq!(client.get("k").await.unwrap(), Some(b("v")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_keys_land_on_their_ring_node_and_a_dead_node_is_skipped_not_remapped() {
    let a = Server::Cairn(CairnProcess::start(&[]));
    let bsrv = match RedisServer::start(&[]) {
        Some(r) => Server::Redis(r),
        None => Server::Cairn(CairnProcess::start(&[])),
    };
    let mut relay_b = Relay::new(bsrv.addr()).await;
    let client = CacheClient::connect(
        ClientOptions::sharded([ShardNode::new(a.url()), ShardNode::new(relay_b.url())])
            .breaker(BreakerOptions::new(2, Duration::from_secs(60))),
    )
    .await
    .unwrap();
    let keys: Vec<String> = (0..200).map(|i| format!("item:{i}")).collect();
    for k in &keys {
        client.set(k, k, None).await.unwrap();
    }
    // each key is on the node the ring names, and only there
    let (mut ca, mut cb) = (a.admin().await, bsrv.admin().await);
    let b_name = format!("127.0.0.1:{}", relay_b.port);
    let mut on_b = Vec::new();
    for k in &keys {
        let in_a: bool = redis::cmd("EXISTS")
            .arg(k)
            .query_async(&mut ca)
            .await
            .unwrap();
        let in_b: bool = redis::cmd("EXISTS")
            .arg(k)
            .query_async(&mut cb)
            .await
            .unwrap();
        let owner_is_b = client.node_for(k) == b_name;
        assert_eq!((in_a, in_b), (!owner_is_b, owner_is_b), "{k}");
        if owner_is_b {
            on_b.push(k.clone());
        }
    }
    assert!(on_b.len() > 40 && on_b.len() < 160, "{}", on_b.len());
    // node B dies: its keys fail (then fail fast), node A's keys are unaffected
    relay_b.cut();
    for k in on_b.iter().take(3) {
        assert!(client.get(k).await.is_err());
    }
    assert!(matches!(
        client.get(&on_b[5]).await,
        Err(Error::NodeDown { .. })
    ));
    let dbsize_a: i64 = redis::cmd("DBSIZE").query_async(&mut ca).await.unwrap();
    for k in &on_b {
        assert_eq!(client.node_for(k), b_name, "not remapped");
        assert!(client.set(k, "new", None).await.is_err());
    }
    let dbsize_a_after: i64 = redis::cmd("DBSIZE").query_async(&mut ca).await.unwrap();
    assert_eq!(dbsize_a, dbsize_a_after, "B's keys were not written to A");
    for k in keys.iter().filter(|k| !on_b.contains(k)) {
        assert_eq!(
            client.get(k).await.unwrap(),
            Some(Bytes::copy_from_slice(k.as_bytes()))
        );
    }
}

// ---------------------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------------------

type LoadFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<Bytes>, SourceError>> + Send>>;

/// A loader that reads the source and then waits for a signal before returning, so a
/// write can land between the read and the fill.
fn slow_load(
    source: Arc<MemSource>,
    key: &'static str,
    read_tx: tokio::sync::oneshot::Sender<()>,
    mut go: watch::Receiver<bool>,
) -> impl FnOnce() -> LoadFuture + Send + 'static {
    move || {
        Box::pin(async move {
            let v = source.load(key.as_bytes()).await?;
            let _ = read_tx.send(());
            go.wait_for(|g| *g).await.unwrap();
            Ok(v)
        })
    }
}

async fn stale_fill_race(server: &Server, guarded: bool) -> (Option<Bytes>, u64) {
    let mut admin = server.admin().await;
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut admin)
        .await
        .unwrap();
    let client = near_client(&server.url(), Protocol::Resp3).await;
    let source = Arc::new(MemSource::default());
    source.store(b"user:9", b"v1").await.unwrap();
    let opts = LoadOptions::new(Duration::from_secs(60)).guarded_fill(guarded);
    let wt = WriteThrough::new(
        client.clone(),
        source.clone(),
        opts.clone(),
        WriteMode::Invalidate,
    );
    // a reader misses and loads v1 ...
    let (read_tx, read_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = watch::channel(false);
    let reader = {
        let (client, opts) = (client.clone(), opts.clone());
        let load = slow_load(source.clone(), "user:9", read_tx, go_rx);
        tokio::spawn(async move { client.get_or_load("user:9", &opts, load).await })
    };
    read_rx.await.unwrap();
    // ... a writer updates the source and invalidates the cache ...
    wt.put("user:9", b("v2")).await.unwrap();
    // ... then the reader's fill happens
    go_tx.send(true).unwrap();
    assert_eq!(reader.await.unwrap().unwrap(), Some(b("v1")));
    client.flush_near_cache();
    let after = wt.get("user:9").await.unwrap();
    (after, client.stats().fills_aborted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_through_delete_variant_never_leaves_a_stale_value() {
    for server in servers() {
        let (after, aborted) = stale_fill_race(&server, true).await;
        assert_eq!(after, Some(b("v2")), "{}", server.kind());
        assert_eq!(aborted, 1, "the slow reader's fill lost to the write");
        // the race is real: with a plain fill the old value is what the cache keeps
        let (after, _) = stale_fill_race(&server, false).await;
        assert_eq!(
            after,
            Some(b("v1")),
            "unguarded fills store the stale value"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_through_and_write_through_update_variant() {
    for server in servers() {
        let client = near_client(&server.url(), Protocol::Resp3).await;
        let source = Arc::new(MemSource::default());
        source.store(b"user:1", b"ada").await.unwrap();
        let opts = LoadOptions::new(Duration::from_secs(60));
        let wt = WriteThrough::new(client.clone(), source.clone(), opts, WriteMode::Update);
        assert_eq!(wt.get("user:1").await.unwrap(), Some(b("ada")));
        assert_eq!(wt.get("user:1").await.unwrap(), Some(b("ada")));
        assert_eq!(source.loads.load(Ordering::SeqCst), 1);
        wt.put("user:1", b("grace")).await.unwrap();
        assert_eq!(wt.get("user:1").await.unwrap(), Some(b("grace")));
        assert_eq!(
            source.loads.load(Ordering::SeqCst),
            1,
            "updated, not invalidated"
        );
        wt.delete("user:1").await.unwrap();
        assert_eq!(wt.get("user:1").await.unwrap(), None);
        assert_eq!(source.loads.load(Ordering::SeqCst), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_behind_keeps_per_key_order_and_flushes_on_shutdown() {
    for server in servers() {
        let client = near_client(&server.url(), Protocol::Resp3).await;
        let source = Arc::new(MemSource::default());
        let wb = Arc::new(WriteBehind::new(
            client.clone(),
            source.clone(),
            LoadOptions::new(Duration::from_secs(60)),
            WriteBehindOptions::new(64, 16).flush_every(Duration::from_millis(2)),
        ));
        // 10 keys, each written 0..100 in order by its own task, all at once
        let mut tasks = Vec::new();
        for k in 0..10 {
            let wb = wb.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..100u32 {
                    wb.put(format!("user:{k}"), Bytes::from(i.to_string()))
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // the cache has the last value at once; reads see it
        assert_eq!(wb.get("user:3").await.unwrap(), Some(b("99")));
        wb.shutdown(Duration::from_secs(10)).await.unwrap();
        assert_eq!(wb.stats().pending, 0);
        // the source got every key's final value, and each key's writes in order
        let mut last: HashMap<Bytes, u32> = HashMap::new();
        for w in source.log.lock().iter() {
            let Write::Put { key, value } = w else {
                panic!()
            };
            let v: u32 = std::str::from_utf8(value).unwrap().parse().unwrap();
            if let Some(prev) = last.insert(key.clone(), v) {
                assert!(v > prev, "{key:?}: {v} after {prev}");
            }
        }
        for k in 0..10 {
            assert_eq!(last[&Bytes::from(format!("user:{k}"))], 99);
        }
        assert!(matches!(
            wb.put("user:0", b("late")).await,
            Err(WriteBehindError::Closed)
        ));
        eprintln!("{}: {:?}", server.kind(), wb.stats());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_behind_retries_failures_and_hands_back_what_it_could_not_apply() {
    let server = Server::Cairn(CairnProcess::start(&[]));
    let client = near_client(&server.url(), Protocol::Resp3).await;
    let fast_retry = Backoff::new(Duration::from_millis(1), Duration::from_millis(5));
    // fails three times, then works: nothing is lost
    let source = Arc::new(MemSource::default());
    source.fail_batches.store(3, Ordering::SeqCst);
    let wb = WriteBehind::new(
        client.clone(),
        source.clone(),
        LoadOptions::new(Duration::from_secs(60)),
        WriteBehindOptions::new(100, 10).retry(fast_retry.clone()),
    );
    for i in 0..5 {
        wb.put(format!("k{i}"), b("v")).await.unwrap();
    }
    wb.flush().await;
    assert!(wb.stats().failed_batches >= 3);
    assert_eq!(source.data.lock().len(), 5);
    assert_eq!(wb.last_error(), None);
    wb.shutdown(Duration::from_secs(1)).await.unwrap();
    // fails for ever: shutdown hands the writes back, in order
    let source = Arc::new(MemSource::default());
    source.fail_batches.store(u64::MAX, Ordering::SeqCst);
    let wb = WriteBehind::new(
        client.clone(),
        source.clone(),
        LoadOptions::new(Duration::from_secs(60)),
        WriteBehindOptions::new(100, 2).retry(fast_retry),
    );
    for i in 0..5 {
        wb.put(format!("k{i}"), Bytes::from(i.to_string()))
            .await
            .unwrap();
    }
    eventually("a failure is surfaced", async || wb.last_error().is_some()).await;
    match wb.shutdown(Duration::from_millis(50)).await {
        Err(WriteBehindError::Unflushed { writes, last_error }) => {
            let keys: Vec<&Bytes> = writes.iter().map(|w| w.key()).collect();
            assert_eq!(
                keys,
                ["k0", "k1", "k2", "k3", "k4"]
                    .map(b)
                    .iter()
                    .collect::<Vec<_>>()
            );
            assert!(last_error.contains("down"));
        }
        other => panic!("expected the unflushed writes back, got {other:?}"),
    }
    assert!(source.data.lock().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_behind_queue_is_bounded() {
    let server = Server::Cairn(CairnProcess::start(&[]));
    let client = near_client(&server.url(), Protocol::Resp3).await;
    let source = Arc::new(MemSource::default());
    source.fail_batches.store(u64::MAX, Ordering::SeqCst);
    let wb = WriteBehind::new(
        client,
        source.clone(),
        LoadOptions::new(Duration::from_secs(60)),
        WriteBehindOptions::new(2, 1)
            .flush_every(Duration::ZERO)
            .retry(Backoff::new(
                Duration::from_millis(1),
                Duration::from_millis(2),
            )),
    );
    // the worker takes the first write and keeps retrying it; two more fill the queue
    wb.put("a", b("1")).await.unwrap();
    eventually("the worker holds the first write", async || {
        source.batches.load(Ordering::SeqCst) > 0
    })
    .await;
    wb.put("b", b("1")).await.unwrap();
    wb.put("c", b("1")).await.unwrap();
    assert!(matches!(
        wb.try_put("d", b("1")).await,
        Err(WriteBehindError::Full)
    ));
    // the database comes back: the queue drains and the held-back write goes in
    source.fail_batches.store(0, Ordering::SeqCst);
    wb.put("d", b("1")).await.unwrap();
    wb.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_eq!(source.data.lock().len(), 4);
}
