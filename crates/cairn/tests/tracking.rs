//! Client-side caching against the real binary: CLIENT TRACKING in default, BCAST, OPTIN
//! and NOLOOP modes, invalidations as RESP3 pushes and as RESP2 messages through a
//! REDIRECT connection, invalidation by expiry and FLUSHALL, the bounded tracking table,
//! and the near caches of two real clients: redis-rs's (cache-aio) and redis-py's
//! (`cache_config=CacheConfig()`, run when python3 with redis-py >= 5.1 is installed;
//! `.ci/run` installs it).

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{CairnProcess, RawConn, err, q};

fn resp(parts: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", parts.len()).into_bytes();
    for p in parts {
        v.extend_from_slice(format!("${}\r\n{p}\r\n", p.len()).as_bytes());
    }
    v
}

/// A raw connection switched to RESP3 (HELLO's map skipped).
fn resp3(srv: &CairnProcess) -> RawConn {
    let mut c = srv.raw();
    c.send(&resp(&["HELLO", "3"]));
    c.send(&resp(&["ECHO", "hello-done"]));
    let mut got = Vec::new();
    while !got.ends_with(b"hello-done\r\n") {
        let mut b = [0u8; 4096];
        let n = c.s.read(&mut b).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&b[..n]);
    }
    c
}

fn invalidate(key: &str) -> Vec<u8> {
    format!(
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n${}\r\n{key}\r\n",
        key.len()
    )
    .into_bytes()
}

/// Sends PING and expects PONG next: nothing else was queued for this connection.
fn nothing_pending(c: &mut RawConn) {
    c.roundtrip(b"PING\r\n", b"+PONG\r\n");
}

#[test]
fn default_mode_invalidates_once_per_read() {
    let srv = CairnProcess::start(&[]);
    let mut other = srv.client();
    let mut c = resp3(&srv);
    c.roundtrip(&resp(&["CLIENT", "TRACKING", "ON"]), b"+OK\r\n");
    let _: () = q(&mut other, &["SET", "k", "1"]);
    c.roundtrip(&resp(&["GET", "k"]), b"$1\r\n1\r\n");
    // A key read while missing is tracked too: its creation invalidates.
    c.roundtrip(&resp(&["GET", "missing"]), b"_\r\n");
    let info: String = q(&mut other, &["INFO", "stats"]);
    assert!(info.contains("tracking_total_keys:2\r\n"), "{info}");
    let _: () = q(&mut other, &["SET", "k", "2"]);
    let expected = invalidate("k");
    assert_eq!(c.read_exact_len(expected.len()), expected);
    // Once told, the client is not told again until it reads the key again.
    let _: () = q(&mut other, &["SET", "k", "3"]);
    nothing_pending(&mut c);
    let _: () = q(&mut other, &["SET", "missing", "now"]);
    let expected = invalidate("missing");
    assert_eq!(c.read_exact_len(expected.len()), expected);
    // Every kind of change counts: here a DEL and an INCR.
    c.roundtrip(&resp(&["GET", "k"]), b"$1\r\n3\r\n");
    let _: i64 = q(&mut other, &["DEL", "k"]);
    let expected = invalidate("k");
    assert_eq!(c.read_exact_len(expected.len()), expected);
    c.roundtrip(&resp(&["MGET", "n1", "n2"]), b"*2\r\n_\r\n_\r\n");
    let _: i64 = q(&mut other, &["INCR", "n2"]);
    let expected = invalidate("n2");
    assert_eq!(c.read_exact_len(expected.len()), expected);
    // FLUSHALL sends a null invalidation.
    let _: () = q(&mut other, &["FLUSHALL"]);
    let expected = b">2\r\n$10\r\ninvalidate\r\n_\r\n";
    assert_eq!(c.read_exact_len(expected.len()), expected);
    // The client's own write invalidates too (no NOLOOP), after its reply.
    c.roundtrip(&resp(&["GET", "mine"]), b"_\r\n");
    let mut expected = b"+OK\r\n".to_vec();
    expected.extend_from_slice(&invalidate("mine"));
    c.roundtrip(&resp(&["SET", "mine", "x"]), &expected);
    // OFF stops it.
    c.roundtrip(&resp(&["CLIENT", "TRACKING", "OFF"]), b"+OK\r\n");
    c.roundtrip(&resp(&["GET", "k"]), b"_\r\n");
    let _: () = q(&mut other, &["SET", "k", "4"]);
    nothing_pending(&mut c);
    let info: String = q(&mut other, &["INFO", "clients"]);
    assert!(info.contains("tracking_clients:0\r\n"), "{info}");
}

#[test]
fn expiry_invalidates() {
    let srv = CairnProcess::start(&[]);
    let mut other = srv.client();
    let mut c = resp3(&srv);
    c.roundtrip(&resp(&["CLIENT", "TRACKING", "ON"]), b"+OK\r\n");
    let _: () = q(&mut other, &["SET", "short", "v", "PX", "50"]);
    c.roundtrip(&resp(&["GET", "short"]), b"$1\r\nv\r\n");
    // Nobody touches the key: the active expiry sweep removes it and the client is told.
    let expected = invalidate("short");
    c.s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(c.read_exact_len(expected.len()), expected);
}

#[test]
fn resp2_redirect_through_the_invalidate_channel() {
    let srv = CairnProcess::start(&[]);
    let mut other = srv.client();
    let mut sink = srv.raw();
    let sink_id: i64 = {
        let mut con = srv.client();
        let _: () = q(&mut con, &["PING"]);
        // The raw connection's id: the newest client but `con`.
        let list: String = q(&mut con, &["CLIENT", "LIST"]);
        let me: i64 = q(&mut con, &["CLIENT", "ID"]);
        list.lines()
            .filter_map(|l| l.strip_prefix("id="))
            .filter_map(|l| l.split(' ').next())
            .filter_map(|id| id.parse::<i64>().ok())
            .filter(|id| *id != me)
            .max()
            .unwrap()
    };
    sink.roundtrip(
        &resp(&["SUBSCRIBE", "__redis__:invalidate"]),
        b"*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n",
    );
    let mut tracked = srv.client();
    let _: () = q(
        &mut tracked,
        &["CLIENT", "TRACKING", "ON", "REDIRECT", &sink_id.to_string()],
    );
    assert_eq!(q::<i64>(&mut tracked, &["CLIENT", "GETREDIR"]), sink_id);
    let _: Option<String> = q(&mut tracked, &["GET", "k"]);
    let _: () = q(&mut other, &["SET", "k", "v"]);
    let expected = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n";
    assert_eq!(sink.read_exact_len(expected.len()), expected);
    let list: String = q(&mut other, &["CLIENT", "LIST"]);
    assert!(list.contains(&format!("redir={sink_id}")), "{list}");
}

#[test]
fn bcast_prefixes_optin_and_noloop() {
    let srv = CairnProcess::start(&[]);
    let mut other = srv.client();

    let mut b = resp3(&srv);
    b.roundtrip(
        &resp(&[
            "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "cart:",
        ]),
        b"+OK\r\n",
    );
    let _: () = q(&mut other, &["SET", "user:1", "x"]);
    let expected = invalidate("user:1");
    assert_eq!(b.read_exact_len(expected.len()), expected);
    let _: () = q(&mut other, &["SET", "order:1", "x"]);
    nothing_pending(&mut b);
    let _: () = q(&mut other, &["SET", "cart:9", "x"]);
    let expected = invalidate("cart:9");
    assert_eq!(b.read_exact_len(expected.len()), expected);

    let mut o = resp3(&srv);
    o.roundtrip(&resp(&["CLIENT", "TRACKING", "ON", "OPTIN"]), b"+OK\r\n");
    o.roundtrip(&resp(&["GET", "a"]), b"_\r\n");
    o.roundtrip(&resp(&["CLIENT", "CACHING", "YES"]), b"+OK\r\n");
    o.roundtrip(&resp(&["GET", "b"]), b"_\r\n");
    let _: () = q(&mut other, &["SET", "a", "1"]);
    let _: () = q(&mut other, &["SET", "b", "1"]);
    let expected = invalidate("b");
    assert_eq!(o.read_exact_len(expected.len()), expected);
    nothing_pending(&mut o);

    let mut n = resp3(&srv);
    n.roundtrip(&resp(&["CLIENT", "TRACKING", "ON", "NOLOOP"]), b"+OK\r\n");
    n.roundtrip(&resp(&["GET", "own"]), b"_\r\n");
    n.roundtrip(&resp(&["SET", "own", "1"]), b"+OK\r\n");
    nothing_pending(&mut n);
    n.roundtrip(&resp(&["GET", "own"]), b"$1\r\n1\r\n");
    let _: () = q(&mut other, &["SET", "own", "2"]);
    let expected = invalidate("own");
    assert_eq!(n.read_exact_len(expected.len()), expected);
}

#[test]
fn tracking_errors_and_introspection() {
    let srv = CairnProcess::start(&[]);
    let mut con = srv.client();
    assert_eq!(q::<i64>(&mut con, &["CLIENT", "GETREDIR"]), -1);
    assert_eq!(
        err(&mut con, &["CLIENT", "TRACKING", "ON", "PREFIX", "a"]),
        "ERR PREFIX option requires BCAST mode to be enabled"
    );
    assert_eq!(
        err(&mut con, &["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"]),
        "ERR You can't use both OPTIN and OPTOUT"
    );
    assert_eq!(
        err(&mut con, &["CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"]),
        "ERR OPTIN and OPTOUT are not compatible with BCAST"
    );
    assert_eq!(
        err(&mut con, &["CLIENT", "TRACKING", "ON", "REDIRECT", "99999"]),
        "ERR The client ID you want redirect to does not exist"
    );
    assert_eq!(
        err(
            &mut con,
            &[
                "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "ab", "PREFIX", "a"
            ]
        ),
        "ERR Prefix 'a' overlaps with an existing prefix 'ab'. Prefixes for a single client must not overlap."
    );
    assert_eq!(
        err(&mut con, &["CLIENT", "TRACKING", "MAYBE"]),
        "ERR syntax error"
    );
    assert!(
        err(&mut con, &["CLIENT", "CACHING", "YES"])
            .starts_with("ERR CLIENT CACHING can be called only")
    );
    let _: () = q(&mut con, &["CLIENT", "TRACKING", "ON", "OPTOUT", "NOLOOP"]);
    assert_eq!(
        err(&mut con, &["CLIENT", "CACHING", "YES"]),
        "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."
    );
    assert_eq!(q::<i64>(&mut con, &["CLIENT", "GETREDIR"]), 0);
    let info: Vec<redis::Value> = q(&mut con, &["CLIENT", "TRACKINGINFO"]);
    let text = format!("{info:?}");
    assert!(text.contains("optout") && text.contains("noloop"), "{text}");
    let list: String = q(&mut con, &["CLIENT", "INFO"]);
    assert!(
        list.contains("flags=t") && list.contains("redir=0"),
        "{list}"
    );
    let got: Vec<String> = q(&mut con, &["CONFIG", "GET", "tracking-table-max-keys"]);
    assert_eq!(got[1], "1000000");
}

#[test]
fn the_tracking_table_is_bounded_by_invalidating() {
    let srv = CairnProcess::start(&["--tracking-table-max-keys", "10"]);
    let mut other = srv.client();
    // A BCAST client hears of changes only: forgetting keys to bound the table is none.
    let mut bcast = resp3(&srv);
    bcast.roundtrip(&resp(&["CLIENT", "TRACKING", "ON", "BCAST"]), b"+OK\r\n");
    let mut c = resp3(&srv);
    c.roundtrip(&resp(&["CLIENT", "TRACKING", "ON"]), b"+OK\r\n");
    let mut got: Vec<u8> = Vec::new();
    for i in 0..20 {
        c.send(&resp(&["GET", &format!("k{i}")]));
    }
    c.send(b"PING\r\n");
    c.s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The invalidations follow the replies of the batch that caused them, in any
    // interleaving with the PONG.
    let text = |got: &[u8]| String::from_utf8_lossy(got).into_owned();
    while !(text(&got).contains("+PONG") && text(&got).matches("invalidate").count() >= 10) {
        let mut b = [0u8; 4096];
        let n = c.s.read(&mut b).unwrap();
        got.extend_from_slice(&b[..n]);
    }
    // A second PING after all that: nothing more was sent.
    c.send(b"PING\r\n");
    while text(&got).matches("+PONG").count() < 2 {
        let mut b = [0u8; 4096];
        let n = c.s.read(&mut b).unwrap();
        got.extend_from_slice(&b[..n]);
    }
    assert_eq!(
        text(&got).matches("invalidate").count(),
        10,
        "{}",
        text(&got)
    );
    let info: String = q(&mut other, &["INFO", "stats"]);
    assert!(info.contains("tracking_total_keys:10\r\n"), "{info}");
    nothing_pending(&mut bcast);
}

/// redis-rs's client-side cache (feature cache-aio) on a multiplexed RESP3 connection.
#[test]
fn redis_rs_near_cache_stays_coherent() {
    let srv = CairnProcess::start(&[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use redis::AsyncCommands;
        let client = redis::Client::open(srv.url_resp3()).unwrap();
        let config = redis::AsyncConnectionConfig::new()
            .set_cache_config(redis::caching::CacheConfig::new());
        let mut cached = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .unwrap();
        let mut writer = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = writer.set("user:1", "alice").await.unwrap();
        let v: String = cached.get("user:1").await.unwrap();
        assert_eq!(v, "alice");
        let v: String = cached.get("user:1").await.unwrap();
        assert_eq!(v, "alice");
        let stats = cached.get_cache_statistics().unwrap();
        assert_eq!((stats.hit, stats.miss), (1, 1));

        let _: () = writer.set("user:1", "bob").await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while cached.get_cache_statistics().unwrap().invalidate == 0 {
            assert!(
                Instant::now() < deadline,
                "no invalidation reached redis-rs"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let v: String = cached.get("user:1").await.unwrap();
        assert_eq!(v, "bob", "the near cache served a stale value");
    });
}

/// redis-py's client-side cache (redis-py >= 5.1, `protocol=3, cache_config=...`): it
/// refuses servers older than 7.4, reads through its cache, and must see a write made by
/// another client.
#[test]
fn redis_py_near_cache_stays_coherent() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import redis.cache"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: python3 with redis-py >= 5.1 is not installed (.ci/run installs it)");
        return;
    }
    let srv = CairnProcess::start(&[]);
    let port = srv.url().rsplit(':').next().unwrap().to_string();
    let script = r#"
import sys, time, redis
from redis.cache import CacheConfig
port = int(sys.argv[1])
cached = redis.Redis(host="127.0.0.1", port=port, protocol=3, cache_config=CacheConfig())
writer = redis.Redis(host="127.0.0.1", port=port)
writer.set("k", "v1")
assert cached.get("k") == b"v1"
assert cached.get("k") == b"v1"
cache = cached.get_cache()
assert cache.size == 1, cache.size
writer.set("k", "v2")
deadline = time.time() + 10
while True:
    v = cached.get("k")
    if v == b"v2":
        break
    assert time.time() < deadline, "stale value served: %r" % v
    time.sleep(0.01)
print("ok")
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &port])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "redis-py failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tracking client that stops reading its invalidations is disconnected once they pass
/// `client-output-buffer-limit pubsub`, and the writers never wait for it.
#[test]
fn a_tracking_client_that_does_not_read_is_cut_off() {
    let srv = CairnProcess::start(&[]);
    let mut other = srv.client();
    let _: () = q(
        &mut other,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 256kb 0 0",
        ],
    );
    let mut c = resp3(&srv);
    c.send(b"CLIENT ID\r\n");
    let mut line = String::new();
    while !line.ends_with("\r\n") {
        line.push(c.read_exact_len(1)[0] as char);
    }
    let id = line.trim().trim_start_matches(':').to_string();
    c.roundtrip(&resp(&["CLIENT", "TRACKING", "ON", "BCAST"]), b"+OK\r\n");
    // ~40 MB of invalidations (1 KB key names), far past the limit and socket buffers.
    let name = "k".repeat(1000);
    for batch in 0..40 {
        let mut p = redis::pipe();
        for i in 0..1000 {
            p.cmd("SET")
                .arg(format!("{name}{batch}:{i}"))
                .arg("v")
                .ignore();
        }
        let _: () = p.query(&mut other).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list: String = q(&mut other, &["CLIENT", "LIST", "ID", &id]);
        if list.trim().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tracking client is still connected"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let info: String = q(&mut other, &["INFO", "stats"]);
    assert!(
        info.contains("client_output_buffer_limit_disconnections:1\r\n"),
        "{info}"
    );
}

/// A RESP3 client whose redirect target disconnects is told once, with a
/// `tracking-redir-broken` push carrying the target's id.
#[test]
fn a_broken_redirect_is_reported() {
    let srv = CairnProcess::start(&[]);
    let mut other = srv.client();
    let mut target = srv.client();
    let target_id: i64 = q(&mut target, &["CLIENT", "ID"]);
    let mut c = resp3(&srv);
    c.roundtrip(
        &resp(&[
            "CLIENT",
            "TRACKING",
            "ON",
            "REDIRECT",
            &target_id.to_string(),
        ]),
        b"+OK\r\n",
    );
    c.roundtrip(&resp(&["GET", "k"]), b"_\r\n");
    drop(target);
    let deadline = Instant::now() + Duration::from_secs(20);
    let id = target_id.to_string();
    while !q::<String>(&mut other, &["CLIENT", "LIST", "ID", &id])
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the target never went away");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _: () = q(&mut other, &["SET", "k", "v"]);
    let expected = format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{target_id}\r\n");
    assert_eq!(c.read_exact_len(expected.len()), expected.as_bytes());
    let info = {
        c.send(&resp(&["CLIENT", "TRACKINGINFO"]));
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("prefixes") {
            let mut b = [0u8; 1024];
            let n = c.s.read(&mut b).unwrap();
            got.extend_from_slice(&b[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    assert!(info.contains("broken_redirect"), "{info}");
}

/// The invalidation messages redis-server sends for multi-key writes: in BCAST mode one
/// message per command (a whole EXEC too) carrying every key, in default mode one per key.
#[test]
fn multi_key_writes_invalidate_as_redis_batches_them() {
    let Some(redis) = common::versus::RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let mut seen = Vec::new();
    for addr in [cairn.addr, redis.addr] {
        let mut bcast = common::versus::Resp::connect(addr);
        bcast.cmd("HELLO 3");
        bcast.cmd("CLIENT TRACKING ON BCAST");
        let mut default = common::versus::Resp::connect(addr);
        default.cmd("HELLO 3");
        default.cmd("CLIENT TRACKING ON");
        default.cmd("MGET a b c");
        let mut w = common::versus::Resp::connect(addr);
        let mut frames = Vec::new();
        w.cmd("MSET a 1 b 2 c 3");
        frames.push(bcast.read());
        for _ in 0..3 {
            frames.push(default.read());
        }
        w.cmd("MULTI");
        w.cmd("SET a 2");
        w.cmd("DEL b c");
        w.cmd("EXEC");
        frames.push(bcast.read());
        // Nothing else is pending: a PING answers next.
        bcast.send("PING");
        frames.push(bcast.read());
        seen.push(frames.iter().map(common::versus::show).collect::<Vec<_>>());
    }
    assert_eq!(seen[0], seen[1]);
}
