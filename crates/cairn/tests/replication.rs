//! Replication between real `cairn` processes, driven with the `redis` crate: full and
//! partial resyncs, restarts and kills, flow control, WAIT, min-replicas, read-only
//! replicas, expiry that follows the primary, and PSYNC2 after a promotion.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use common::{CairnProcess, wait_until};
use redis::{Commands, Connection};

/// A primary that starts full syncs at once (tests do not need replicas to share one).
fn primary(extra: &[&str]) -> CairnProcess {
    let mut args = vec!["--repl-diskless-sync-delay", "0"];
    args.extend_from_slice(extra);
    CairnProcess::start(&args)
}

/// A replica of `of`.
fn replica_of(of: &CairnProcess, extra: &[&str]) -> CairnProcess {
    let target = format!("127.0.0.1 {}", of.addr.port());
    let mut args = vec![
        "--replicaof",
        target.as_str(),
        "--repl-diskless-sync-delay",
        "0",
    ];
    args.extend_from_slice(extra);
    CairnProcess::start(&args)
}

fn info(c: &mut Connection, section: &str) -> HashMap<String, String> {
    let text: String = redis::cmd("INFO").arg(section).query(c).expect("INFO");
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn field(c: &mut Connection, section: &str, name: &str) -> String {
    info(c, section).remove(name).unwrap_or_default()
}

fn num(c: &mut Connection, section: &str, name: &str) -> u64 {
    field(c, section, name).parse().unwrap_or(0)
}

fn link_up(r: &CairnProcess) {
    let mut c = r.client();
    wait_until(30, "the replica's link is up", || {
        field(&mut c, "replication", "master_link_status") == "up"
    });
}

fn digest(c: &mut Connection) -> String {
    redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(c)
        .expect("DEBUG DIGEST")
}

/// Waits until the replica holds everything the primary wrote so far, then compares the
/// two datasets' digests.
/// A primary may still change its data on its own meanwhile (background eviction, the
/// expiry sweep): digests are compared once its offset stood still across the reading.
fn assert_same_data(p: &CairnProcess, r: &CairnProcess) {
    let mut pc = p.client();
    let mut rc = r.client();
    for _ in 0..50 {
        let target = num(&mut pc, "replication", "master_repl_offset");
        wait_until(30, "the replica reached the primary's offset", || {
            num(&mut rc, "replication", "slave_repl_offset") >= target
        });
        let (a, b) = (digest(&mut pc), digest(&mut rc));
        if num(&mut pc, "replication", "master_repl_offset") != target {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        assert_eq!(a, b, "primary and replica digests differ");
        assert_ne!(a, "0".repeat(40), "the test wrote something");
        return;
    }
    panic!("the primary's offset never stood still long enough to compare");
}

/// Writes `n` keys `prefix:i` with values of `size` bytes, in pipelines.
fn fill(c: &mut Connection, prefix: &str, n: usize, size: usize) {
    let value = "v".repeat(size);
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut p = redis::pipe();
        for i in chunk {
            p.set(format!("{prefix}:{i}"), &value).ignore();
        }
        p.query::<()>(c).expect("fill");
    }
}

/// A mix of writes: plain and TTL sets, counters, deletes, expiry changes, several
/// databases, a FLUSHDB.
fn mixed_writes(c: &mut Connection, round: usize) {
    for i in 0..500 {
        let _: () = c.set(format!("m:{round}:{i}"), i).unwrap();
        let _: () = redis::cmd("SET")
            .arg(format!("t:{round}:{i}"))
            .arg("x")
            .arg("EX")
            .arg(1000)
            .query(c)
            .unwrap();
        let _: i64 = c.incr(format!("ctr:{}", i % 7), 1).unwrap();
        if i % 5 == 0 {
            let _: i64 = c.del(format!("m:{round}:{}", i / 2)).unwrap();
        }
        if i % 11 == 0 {
            let _: i64 = c.persist(format!("t:{round}:{i}")).unwrap();
        }
    }
    let _: () = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("1.5")
        .query(c)
        .unwrap();
    let _: () = redis::cmd("APPEND")
        .arg("log")
        .arg("line;")
        .query(c)
        .unwrap();
    // Hashes and sets: operations, random pops (journaled as what they popped), stores.
    for i in 0..200 {
        let _: i64 = redis::cmd("HSET")
            .arg(format!("h:{}", i % 3))
            .arg(format!("f:{round}:{i}"))
            .arg(i)
            .query(c)
            .unwrap();
        let _: i64 = redis::cmd("SADD")
            .arg(format!("s:{}", i % 2))
            .arg(if i % 2 == 0 {
                i.to_string()
            } else {
                format!("m{i}")
            })
            .query(c)
            .unwrap();
    }
    let _: i64 = redis::cmd("HINCRBY")
        .arg("h:0")
        .arg("ctr")
        .arg(5)
        .query(c)
        .unwrap();
    let _: String = redis::cmd("HINCRBYFLOAT")
        .arg("h:1")
        .arg("fl")
        .arg("0.1")
        .query(c)
        .unwrap();
    let _: i64 = redis::cmd("HDEL")
        .arg("h:2")
        .arg(format!("f:{round}:2"))
        .query(c)
        .unwrap();
    let _: Vec<String> = redis::cmd("SPOP").arg("s:1").arg(3).query(c).unwrap();
    let _: Option<String> = redis::cmd("SPOP").arg("s:0").query(c).unwrap();
    let _: i64 = redis::cmd("SMOVE")
        .arg("s:1")
        .arg("s:0")
        .arg(format!("m{}", 2 * round + 1))
        .query(c)
        .unwrap();
    let _: i64 = redis::cmd("SINTERSTORE")
        .arg(format!("inter:{round}"))
        .arg("s:0")
        .arg("s:1")
        .query(c)
        .unwrap();
    let _: i64 = redis::cmd("SUNIONSTORE")
        .arg(format!("union:{round}"))
        .arg("s:0")
        .arg("s:1")
        .query(c)
        .unwrap();
    // Sorted sets, small and past the listpack: fractional increments, pops, stores.
    for i in 0..300 {
        let _: i64 = redis::cmd("ZADD")
            .arg(format!("z:{}", i % 3))
            .arg(format!("{}.{i}", i % 17))
            .arg(format!("zm:{round}:{}", i / 3))
            .query(c)
            .unwrap();
    }
    let _: f64 = redis::cmd("ZINCRBY")
        .arg("z:0")
        .arg("0.1")
        .arg("zm:0:1")
        .query(c)
        .unwrap();
    let _: redis::Value = redis::cmd("ZPOPMIN").arg("z:1").arg(2).query(c).unwrap();
    let _: i64 = redis::cmd("ZREMRANGEBYSCORE")
        .arg("z:2")
        .arg("(3")
        .arg("5")
        .query(c)
        .unwrap();
    let _: i64 = redis::cmd("ZUNIONSTORE")
        .arg(format!("zu:{round}"))
        .arg(2)
        .arg("z:0")
        .arg("z:1")
        .arg("WEIGHTS")
        .arg("0.3")
        .arg("7")
        .query(c)
        .unwrap();
    let _: () = redis::cmd("SELECT").arg(3).query(c).unwrap();
    let _: () = c.set(format!("db3:{round}"), "three").unwrap();
    let _: () = c.set("db3:gone", "x").unwrap();
    let _: () = redis::cmd("FLUSHDB").query(c).unwrap();
    let _: () = c.set(format!("db3:kept:{round}"), "yes").unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(c).unwrap();
}

#[test]
fn a_replica_catches_up_from_empty_and_follows_every_kind_of_write() {
    let p = primary(&[]);
    let mut pc = p.client();
    fill(&mut pc, "base", 20_000, 32);
    mixed_writes(&mut pc, 0);

    // An empty node becomes a replica: full sync, then the stream.
    let r = replica_of(&p, &[]);
    link_up(&r);
    assert_same_data(&p, &r);
    let mut rc = r.client();
    assert_eq!(field(&mut rc, "replication", "role"), "slave");
    assert_eq!(num(&mut pc, "replication", "connected_slaves"), 1);
    assert_eq!(num(&mut pc, "stats", "sync_full"), 1);

    // Writes after the sync arrive through the stream.
    for round in 1..4 {
        mixed_writes(&mut pc, round);
    }
    assert_same_data(&p, &r);
    let v: String = rc.get("m:3:499").unwrap();
    assert_eq!(v, "499");
    let ttl: i64 = rc.ttl("t:3:1").unwrap();
    assert!(ttl > 900, "the TTL came along: {ttl}");
    let values: Vec<String> = redis::cmd("DEBUG")
        .arg("DIGEST-VALUE")
        .arg("f")
        .arg("log")
        .query(&mut rc)
        .unwrap();
    let expected: Vec<String> = redis::cmd("DEBUG")
        .arg("DIGEST-VALUE")
        .arg("f")
        .arg("log")
        .query(&mut pc)
        .unwrap();
    assert_eq!(values, expected);

    // ROLE on both sides.
    let role: redis::Value = redis::cmd("ROLE").query(&mut pc).unwrap();
    let text = format!("{role:?}");
    assert!(text.contains("master"), "{text}");
    assert!(text.contains(&r.addr.port().to_string()), "{text}");
    let role: redis::Value = redis::cmd("ROLE").query(&mut rc).unwrap();
    let text = format!("{role:?}");
    assert!(
        text.contains("slave") && text.contains("connected"),
        "{text}"
    );
}

#[test]
fn a_stale_replica_serves_its_old_data_until_the_new_is_loaded() {
    let p = primary(&[]);
    let mut pc = p.client();
    fill(&mut pc, "new", 2_000, 1000);
    let _: () = redis::cmd("DEBUG")
        .arg("SYNC-CHUNK-DELAY")
        .arg(50)
        .query(&mut pc)
        .unwrap();

    // A node with data of its own becomes a replica.
    let r = primary(&[]);
    let mut rc = r.client();
    let _: () = rc.set("old-only", "stale").unwrap();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(p.addr.port())
        .query(&mut rc)
        .unwrap();
    // Meanwhile (the snapshot takes about 1.5 s) its old data keeps answering.
    wait_until(10, "the full sync is in progress", || {
        field(&mut rc, "replication", "master_sync_in_progress") == "1"
    });
    let v: Option<String> = rc.get("old-only").unwrap();
    assert_eq!(v.as_deref(), Some("stale"));
    let e = rc.set::<_, _, ()>("k", "v").unwrap_err();
    assert_eq!(e.code(), Some("READONLY"), "{e}");

    // With replica-serve-stale-data no, it refuses instead.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("replica-serve-stale-data")
        .arg("no")
        .query(&mut rc)
        .unwrap();
    let e = rc.get::<_, Option<String>>("old-only").unwrap_err();
    assert_eq!(e.code(), Some("MASTERDOWN"), "{e}");
    // INFO still answers (a STALE command).
    assert_eq!(field(&mut rc, "replication", "role"), "slave");

    link_up(&r);
    let v: Option<String> = rc.get("old-only").unwrap();
    assert_eq!(v, None, "the old dataset was replaced whole");
    assert_same_data(&p, &r);
}

#[test]
fn a_replica_killed_and_restarted_continues_with_a_partial_resync() {
    let p = primary(&[]);
    let mut pc = p.client();
    fill(&mut pc, "a", 5_000, 64);
    let (dir, dir_s, port) = restartable("cairn-repl-restart");
    let replica_args = [
        "--dir",
        dir_s.as_str(),
        "--appendonly",
        "yes",
        "--port",
        port.as_str(),
    ];
    {
        let mut r = replica_of(&p, &replica_args);
        link_up(&r);
        mixed_writes(&mut pc, 0);
        assert_same_data(&p, &r);
        // Everything is on the replica's disk within a second (appendfsync everysec).
        std::thread::sleep(Duration::from_millis(1500));
        // kill -9: no shutdown, no final save.
        unsafe_kill9(&mut r);
    }
    // Writes go on while it is down.
    mixed_writes(&mut pc, 1);
    let full_before = num(&mut pc, "stats", "sync_full");
    let partial_before = num(&mut pc, "stats", "sync_partial_ok");
    let r = replica_of(&p, &replica_args);
    link_up(&r);
    assert_same_data(&p, &r);
    assert_eq!(
        num(&mut pc, "stats", "sync_full"),
        full_before,
        "no full sync"
    );
    assert_eq!(
        num(&mut pc, "stats", "sync_partial_ok"),
        partial_before + 1,
        "the restarted replica continued where its files end"
    );
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A data directory (emptied) and a free port for a replica that restarts as itself:
/// the directory, as text, and the port, as text.
fn restartable(name: &str) -> (std::path::PathBuf, String, String) {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dir_s = dir.display().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    (dir, dir_s, port)
}

/// SIGKILL through the child's pid (the handle's drop would also kill, but later).
fn unsafe_kill9(p: &mut CairnProcess) {
    let status = std::process::Command::new("kill")
        .arg("-9")
        .arg(p.pid().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    p.wait_exit(Duration::from_secs(5)).expect("it died");
}

#[test]
fn a_link_killed_mid_full_sync_retries_and_converges() {
    let p = primary(&[]);
    let mut pc = p.client();
    fill(&mut pc, "big", 3_000, 1000);
    // About 3 MB at 40 ms per 64 KB: the sync takes about 2 s.
    let _: () = redis::cmd("DEBUG")
        .arg("SYNC-CHUNK-DELAY")
        .arg(40)
        .query(&mut pc)
        .unwrap();
    let r = replica_of(&p, &[]);
    let mut rc = r.client();
    wait_until(10, "snapshot bytes arrive", || {
        num(&mut rc, "replication", "master_sync_read_bytes") > 0
    });
    // Cut the link from the replica's side, in the middle of the snapshot.
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("master")
        .query(&mut rc)
        .unwrap();
    assert_eq!(killed, 1);
    assert_ne!(field(&mut rc, "replication", "master_link_status"), "up");
    let _: () = redis::cmd("DEBUG")
        .arg("SYNC-CHUNK-DELAY")
        .arg(0)
        .query(&mut pc)
        .unwrap();
    link_up(&r);
    assert_same_data(&p, &r);
    assert!(
        num(&mut pc, "stats", "sync_full") >= 2,
        "the retry was a second full sync"
    );
}

#[test]
fn a_full_sync_under_a_heavy_write_load_finishes() {
    let p = primary(&[]);
    let mut pc = p.client();
    fill(&mut pc, "seed", 20_000, 100);
    // The snapshot takes a few seconds; a writer pours pipelined SETs in all along.
    let _: () = redis::cmd("DEBUG")
        .arg("SYNC-CHUNK-DELAY")
        .arg(20)
        .query(&mut pc)
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut c = p.client();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut pipe = redis::pipe();
                for i in 0..200 {
                    pipe.set(format!("load:{}", (n * 200 + i) % 50_000), n)
                        .ignore();
                }
                pipe.query::<()>(&mut c).expect("writes go on");
                n += 1;
            }
            n * 200
        })
    };
    let r = replica_of(&p, &[]);
    link_up(&r);
    // The link stays up under the load for a while: no resync loop.
    std::thread::sleep(Duration::from_secs(2));
    let mut rc = r.client();
    assert_eq!(field(&mut rc, "replication", "master_link_status"), "up");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 10_000, "the load was heavy: {written} writes");
    assert_same_data(&p, &r);
    assert_eq!(
        num(&mut pc, "stats", "sync_full"),
        1,
        "one full sync, no loop"
    );
}

#[test]
fn a_replica_past_its_output_limit_is_cut_off_then_resyncs() {
    let p = primary(&["--client-output-buffer-limit", "replica 256kb 0 0"]);
    let mut pc = p.client();
    fill(&mut pc, "x", 2_000, 500);
    let _: () = redis::cmd("DEBUG")
        .arg("SYNC-CHUNK-DELAY")
        .arg(200)
        .query(&mut pc)
        .unwrap();
    let r = replica_of(&p, &[]);
    let mut rc = r.client();
    wait_until(10, "the full sync is in progress", || {
        field(&mut rc, "replication", "master_sync_in_progress") == "1"
    });
    // More than the limit arrives while the replica is still loading.
    fill(&mut pc, "burst", 1_000, 1000);
    wait_until(10, "the replica is disconnected for its output", || {
        num(
            &mut pc,
            "stats",
            "client_output_buffer_limit_disconnections",
        ) >= 1
    });
    let _: () = redis::cmd("DEBUG")
        .arg("SYNC-CHUNK-DELAY")
        .arg(0)
        .query(&mut pc)
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("replica 256mb 64mb 60")
        .query(&mut pc)
        .unwrap();
    link_up(&r);
    assert_same_data(&p, &r);
}

#[test]
fn wait_returns_how_many_replicas_acknowledged() {
    let p = primary(&[]);
    let mut pc = p.client();
    let r1 = replica_of(&p, &[]);
    let r2 = replica_of(&p, &[]);
    link_up(&r1);
    link_up(&r2);
    let _: () = pc.set("k", "v").unwrap();
    let n: i64 = redis::cmd("WAIT").arg(2).arg(5000).query(&mut pc).unwrap();
    assert_eq!(n, 2);
    // Asking for more than there are: the timeout, then the count.
    let started = Instant::now();
    let _: () = pc.set("k", "v2").unwrap();
    let n: i64 = redis::cmd("WAIT").arg(3).arg(300).query(&mut pc).unwrap();
    assert_eq!(n, 2);
    assert!(started.elapsed() >= Duration::from_millis(250));
    // One replica gone: only one acknowledges.
    drop(r2);
    wait_until(10, "the primary notices", || {
        num(&mut pc, "replication", "connected_slaves") == 1
    });
    let _: () = pc.set("k", "v3").unwrap();
    let n: i64 = redis::cmd("WAIT").arg(2).arg(300).query(&mut pc).unwrap();
    assert_eq!(n, 1);
    // A replica refuses WAIT.
    let mut rc = r1.client();
    let e = redis::cmd("WAIT")
        .arg(1)
        .arg(10)
        .query::<i64>(&mut rc)
        .unwrap_err();
    assert!(e.to_string().contains("replica"), "{e}");
}

#[test]
fn min_replicas_to_write_refuses_writes_without_good_replicas() {
    let p = primary(&[
        "--min-replicas-to-write",
        "1",
        "--min-replicas-max-lag",
        "2",
    ]);
    let mut pc = p.client();
    let e = pc.set::<_, _, ()>("k", "v").unwrap_err();
    assert_eq!(e.code(), Some("NOREPLICAS"), "{e}");
    let _: Option<String> = pc.get("k").unwrap();
    let mut r = replica_of(&p, &[]);
    link_up(&r);
    wait_until(10, "a good replica counts", || {
        pc.set::<_, _, ()>("k", "v").is_ok()
    });
    assert_eq!(num(&mut pc, "replication", "min_slaves_good_slaves"), 1);
    // The replica stops acknowledging (SIGSTOP): after the lag, writes are refused.
    let pid = r.pid().to_string();
    std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap();
    wait_until(15, "writes are refused again", || {
        pc.set::<_, _, ()>("k", "v")
            .is_err_and(|e| e.code() == Some("NOREPLICAS"))
    });
    std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap();
    unsafe_kill9(&mut r);
}

#[test]
fn a_read_only_replica_refuses_writes_from_both_protocols() {
    let p = primary(&[]);
    let mc_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let r = replica_of(&p, &["--memcached-port", &mc_port]);
    link_up(&r);
    let mut rc = r.client();
    let e = rc.set::<_, _, ()>("k", "v").unwrap_err();
    assert_eq!(e.code(), Some("READONLY"), "{e}");
    let e = rc.del::<_, i64>("k").unwrap_err();
    assert_eq!(e.code(), Some("READONLY"), "{e}");
    // Inside MULTI the write is refused and EXEC aborts.
    let mut raw = r.raw();
    raw.roundtrip(b"MULTI\r\n", b"+OK\r\n");
    raw.roundtrip(
        b"SET a b\r\n",
        b"-READONLY You can't write against a read only replica.\r\n",
    );
    raw.roundtrip(
        b"EXEC\r\n",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    // memcached: storage (with its data block) and plain writes.
    let mut mc = common::raw_to(format!("127.0.0.1:{mc_port}").parse().unwrap());
    mc.roundtrip(
        b"set k 0 0 1\r\nx\r\n",
        b"SERVER_ERROR You can't write against a read only replica.\r\n",
    );
    mc.roundtrip(
        b"delete k\r\n",
        b"SERVER_ERROR You can't write against a read only replica.\r\n",
    );
    mc.roundtrip(b"get k\r\n", b"END\r\n");
    // replica-read-only no: local writes are allowed (and not sent anywhere).
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("replica-read-only")
        .arg("no")
        .query(&mut rc)
        .unwrap();
    let _: () = rc.set("local", "1").unwrap();
    let mut pc = p.client();
    let v: Option<String> = pc.get("local").unwrap();
    assert_eq!(v, None);
}

#[test]
fn expiry_on_a_replica_follows_the_primary() {
    let p = primary(&[]);
    let mut pc = p.client();
    let r = replica_of(&p, &[]);
    link_up(&r);
    let mut rc = r.client();
    // The primary keeps the key past its TTL (no sweep) so only a read expires it.
    let _: () = redis::cmd("DEBUG")
        .arg("SET-ACTIVE-EXPIRE")
        .arg(0)
        .query(&mut pc)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("soon")
        .arg("v")
        .arg("PX")
        .arg(300)
        .query(&mut pc)
        .unwrap();
    wait_until(5, "the key reached the replica", || {
        rc.get::<_, Option<String>>("soon").unwrap().is_some()
    });
    std::thread::sleep(Duration::from_millis(400));
    // Past its TTL the replica never serves it, but keeps it until the primary says.
    let v: Option<String> = rc.get("soon").unwrap();
    assert_eq!(v, None);
    let ttl: i64 = rc.pttl("soon").unwrap();
    assert_eq!(ttl, -2);
    let n: i64 = redis::cmd("DBSIZE").query(&mut rc).unwrap();
    assert_eq!(n, 1, "held until the primary's DEL");
    assert_eq!(num(&mut rc, "stats", "expired_keys"), 0);
    // A read on the primary expires it there; the DEL reaches the replica.
    let v: Option<String> = pc.get("soon").unwrap();
    assert_eq!(v, None);
    wait_until(5, "the DEL arrived", || {
        redis::cmd("DBSIZE").query::<i64>(&mut rc).unwrap() == 0
    });
}

#[test]
fn only_the_primary_evicts() {
    let p = primary(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    let r = replica_of(
        &p,
        &["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"],
    );
    link_up(&r);
    let mut pc = p.client();
    fill(&mut pc, "e", 30_000, 100);
    assert!(
        num(&mut pc, "stats", "evicted_keys") > 0,
        "the primary evicted"
    );
    assert_same_data(&p, &r);
    let mut rc = r.client();
    assert_eq!(
        num(&mut rc, "stats", "evicted_keys"),
        0,
        "the replica did not"
    );
}

#[test]
fn after_a_promotion_the_other_replica_continues_with_a_partial_resync() {
    let p = primary(&[]);
    let mut pc = p.client();
    fill(&mut pc, "p", 3_000, 50);
    let a = replica_of(&p, &[]);
    let b = replica_of(&p, &[]);
    link_up(&a);
    link_up(&b);
    mixed_writes(&mut pc, 0);
    assert_same_data(&p, &a);
    assert_same_data(&p, &b);
    drop(pc);
    drop(p);

    // The primary is gone: promote A, point B at it.
    let mut ac = a.client();
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut ac)
        .unwrap();
    assert_eq!(field(&mut ac, "replication", "role"), "master");
    assert_ne!(
        field(&mut ac, "replication", "master_replid2"),
        "0".repeat(40)
    );
    let mut bc = b.client();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(a.addr.port())
        .query(&mut bc)
        .unwrap();
    link_up(&b);
    assert_eq!(num(&mut ac, "stats", "sync_partial_ok"), 1);
    assert_eq!(num(&mut ac, "stats", "sync_full"), 0);
    // The new primary takes writes and B follows them.
    mixed_writes(&mut ac, 1);
    assert_same_data(&a, &b);
}

#[test]
fn client_list_and_kill_know_replicas_and_the_master_link() {
    let p = primary(&[]);
    let r = replica_of(&p, &[]);
    link_up(&r);
    let mut pc = p.client();
    let mut rc = r.client();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("replica")
        .query(&mut pc)
        .unwrap();
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains("flags=S"), "{list}");
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("master")
        .query(&mut rc)
        .unwrap();
    assert!(list.contains("flags=M"), "{list}");
    let normal: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("normal")
        .query(&mut pc)
        .unwrap();
    assert!(!normal.contains("flags=S"), "{normal}");
    // Killing the replica's connection on the primary: it reconnects and continues.
    let partial = num(&mut pc, "stats", "sync_partial_ok");
    let _: () = pc.set("before", "1").unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .query(&mut pc)
        .unwrap();
    assert_eq!(killed, 1);
    wait_until(10, "the replica reconnected", || {
        num(&mut pc, "stats", "sync_partial_ok") == partial + 1
    });
    let _: () = pc.set("after", "1").unwrap();
    assert_same_data(&p, &r);
}

#[test]
fn psync_replies_as_redis_does() {
    let p = primary(&[]);
    let mut pc = p.client();
    let _: () = pc.set("k", "v").unwrap();
    // A raw replica handshake.
    let mut s = std::net::TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"REPLCONF listening-port 1234\r\nREPLCONF capa eof capa psync2\r\nPSYNC ? -1\r\n")
        .unwrap();
    let mut rd = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    rd.read_line(&mut line).unwrap();
    assert_eq!(line, "+OK\r\n");
    line.clear();
    rd.read_line(&mut line).unwrap();
    assert_eq!(line, "+OK\r\n");
    line.clear();
    rd.read_line(&mut line).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "+FULLRESYNC", "{line}");
    assert_eq!(words[1].len(), 40);
    line.clear();
    rd.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("$EOF:") && line.len() == 5 + 40 + 2,
        "{line}"
    );
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("replica")
        .query(&mut pc)
        .unwrap();
    assert!(list.contains("flags=S"), "{list}");
    // Unknown REPLCONF options and bad PSYNC arguments get errors.
    let e = redis::cmd("REPLCONF")
        .arg("nonsense")
        .arg("1")
        .query::<()>(&mut pc)
        .unwrap_err();
    assert!(
        e.to_string().contains("Unrecognized REPLCONF option"),
        "{e}"
    );
    let e = redis::cmd("PSYNC")
        .arg("?")
        .arg("x")
        .query::<()>(&mut pc)
        .unwrap_err();
    assert!(e.to_string().contains("not an integer"), "{e}");
    let e = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(70000)
        .query::<()>(&mut pc)
        .unwrap_err();
    assert!(e.to_string().contains("Invalid master port"), "{e}");
}

/// Two writers changing their keys with operations (APPEND, SETRANGE, INCRBY, SETBIT)
/// until `stop`; each returns the values its keys must hold.
fn operation_writers(
    p: &CairnProcess,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<common::ops::OpModel>> {
    (0..2)
        .map(|t| {
            let mut c = p.client();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut model = common::ops::OpModel::resume(t, &mut c);
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 5 {
                    model.round(&mut c, n);
                    n += 1;
                }
                model
            })
        })
        .collect()
}

/// Waits for the writers, checks the replica holds the primary's data and every value
/// the writers made; returns whether the replica skipped commands its snapshot held (the
/// case under test happened).
fn writers_done_and_equal(
    p: &CairnProcess,
    r: &CairnProcess,
    writers: Vec<std::thread::JoinHandle<common::ops::OpModel>>,
) -> bool {
    let models: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_same_data(p, r);
    let mut rc = r.client();
    for m in &models {
        m.check(&mut rc);
    }
    skipped_by(r).is_some_and(|n| n > 0)
}

/// The number in the replica's "N commands skipped" line, once it logged one.
fn skipped_by(r: &CairnProcess) -> Option<u64> {
    r.startup.iter().chain(r.log_lines().iter()).find_map(|l| {
        let (_, rest) = l.split_once("the stream passed the cuts")?;
        rest.split_whitespace().find_map(|w| w.parse::<u64>().ok())
    })
}

/// A full sync's snapshot is cut shard by shard while writes go on, and the stream after
/// it carries operations as themselves: an APPEND the snapshot already holds must not
/// be applied again. Writers keep operating through the sync; the replica ends with the
/// primary's data exactly, and says how many commands it skipped.
#[test]
fn a_full_sync_under_operations_applies_each_once() {
    let mut exercised = false;
    for _ in 0..4 {
        let p = primary(&["--shards", "16"]);
        let mut pc = p.client();
        fill(&mut pc, "filler", 100_000, 10);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers = operation_writers(&p, &stop);
        std::thread::sleep(Duration::from_millis(200));
        let r = replica_of(&p, &["--shards", "16"]);
        link_up(&r);
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        exercised = writers_done_and_equal(&p, &r, writers);
        if exercised {
            break;
        }
    }
    assert!(
        exercised,
        "no operation ever landed between the sync's start and its shard's cut: the test proved nothing"
    );
}

/// A replica restarted from its own snapshot (no AOF) continues its primary's stream from
/// where the snapshot started, and the stream from there holds operations the snapshot
/// holds already: they are skipped, shard by shard, and the data ends equal.
#[test]
fn a_replica_restarted_from_its_snapshot_applies_each_operation_once() {
    let p = primary(&["--shards", "16", "--repl-backlog-size", "256mb"]);
    let mut pc = p.client();
    fill(&mut pc, "filler", 100_000, 10);
    let (dir, dir_s, port) = restartable("cairn-repl-snap");
    let args = [
        "--dir",
        dir_s.as_str(),
        "--port",
        port.as_str(),
        "--shards",
        "16",
        "--save",
        "",
    ];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut exercised = false;
    let mut writers = operation_writers(&p, &stop);
    for _ in 0..4 {
        {
            let mut r = replica_of(&p, &args);
            link_up(&r);
            let mut rc = r.client();
            let saves = num(&mut rc, "persistence", "rdb_saves");
            let _: String = redis::cmd("BGSAVE").query(&mut rc).unwrap();
            wait_until(30, "the replica's snapshot is written", || {
                num(&mut rc, "persistence", "rdb_saves") > saves
            });
            // Dies with writes still coming: no shutdown, no final save.
            unsafe_kill9(&mut r);
        }
        let partial_before = num(&mut pc, "stats", "sync_partial_ok");
        let r = replica_of(&p, &args);
        link_up(&r);
        assert_eq!(
            num(&mut pc, "stats", "sync_partial_ok"),
            partial_before + 1,
            "the restarted replica continued from its snapshot"
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        exercised = writers_done_and_equal(&p, &r, writers);
        if exercised {
            break;
        }
        stop.store(false, std::sync::atomic::Ordering::Relaxed);
        writers = operation_writers(&p, &stop);
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        exercised,
        "no operation ever landed between the snapshot's start and its shard's cut: the test proved nothing"
    );
}
