//! Transactions against the real binary: MULTI/EXEC/DISCARD queuing and errors, WATCH
//! against writes, deletes, FLUSHALL, expiry and eviction, optimistic increments racing on
//! several connections (no lost update), and EXEC's atomicity across shards checked by a
//! reader that must never see half a transaction.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{CairnProcess, err, limit_memory, q, start};
use redis::{Connection, Value};

fn exec(con: &mut Connection) -> Value {
    redis::cmd("EXEC").query(con).expect("EXEC")
}

#[test]
fn queued_commands_run_in_order_and_runtime_errors_do_not_abort() {
    let (srv, mut con) = start();
    let id = client_id(&mut con);
    let mut observer = srv.client();
    let _: () = q(&mut con, &["SET", "s", "text"]);
    assert_eq!(q::<String>(&mut con, &["MULTI"]), "OK");
    assert_eq!(q::<String>(&mut con, &["SET", "a", "1"]), "QUEUED");
    assert_eq!(q::<String>(&mut con, &["INCR", "a"]), "QUEUED");
    assert_eq!(q::<String>(&mut con, &["INCR", "s"]), "QUEUED");
    assert_eq!(q::<String>(&mut con, &["GET", "a"]), "QUEUED");
    let list: String = q(&mut observer, &["CLIENT", "LIST", "ID", &id]);
    assert!(list.contains(" multi=4 "), "{list}");
    // The redis crate turns an error inside EXEC's array into an error for the whole
    // reply, so the exact bytes are read from a raw connection.
    let mut raw = srv.raw();
    raw.roundtrip(b"MULTI\r\n", b"+OK\r\n");
    raw.roundtrip(b"SET a 1\r\n", b"+QUEUED\r\n");
    raw.roundtrip(b"INCR a\r\n", b"+QUEUED\r\n");
    raw.roundtrip(b"INCR s\r\n", b"+QUEUED\r\n");
    raw.roundtrip(b"GET a\r\n", b"+QUEUED\r\n");
    raw.roundtrip(
        b"EXEC\r\n",
        b"*4\r\n+OK\r\n:2\r\n-ERR value is not an integer or out of range\r\n$1\r\n2\r\n",
    );
    let _: () = q(&mut con, &["DISCARD"]);
    let list: String = q(&mut con, &["CLIENT", "LIST", "ID", &id]);
    assert!(list.contains(" multi=-1 "), "{list}");
    // An empty transaction answers an empty array.
    let _: () = q(&mut con, &["MULTI"]);
    assert_eq!(exec(&mut con), Value::Array(vec![]));
}

#[test]
fn queuing_errors_abort_and_misuse_is_refused() {
    let (_srv, mut con) = start();
    assert_eq!(err(&mut con, &["EXEC"]), "ERR EXEC without MULTI");
    assert_eq!(err(&mut con, &["DISCARD"]), "ERR DISCARD without MULTI");
    let _: () = q(&mut con, &["MULTI"]);
    assert_eq!(
        err(&mut con, &["MULTI"]),
        "ERR MULTI calls can not be nested"
    );
    assert_eq!(q::<String>(&mut con, &["SET", "k", "v"]), "QUEUED");
    assert_eq!(
        err(&mut con, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert!(err(&mut con, &["NOSUCHCMD", "x"]).starts_with("ERR unknown command"));
    assert_eq!(
        err(&mut con, &["EXEC"]),
        "EXECABORT Transaction discarded because of previous errors."
    );
    // Nothing ran.
    assert_eq!(q::<Option<String>>(&mut con, &["GET", "k"]), None);
    // DISCARD drops the queue.
    let _: () = q(&mut con, &["MULTI"]);
    let _: String = q(&mut con, &["SET", "k", "v"]);
    assert_eq!(q::<String>(&mut con, &["DISCARD"]), "OK");
    assert_eq!(q::<Option<String>>(&mut con, &["GET", "k"]), None);
    // WATCH inside MULTI is an error that does not abort.
    let _: () = q(&mut con, &["MULTI"]);
    assert_eq!(
        err(&mut con, &["WATCH", "k"]),
        "ERR WATCH inside MULTI is not allowed"
    );
    let _: String = q(&mut con, &["SET", "k", "v"]);
    assert_eq!(exec(&mut con), Value::Array(vec![Value::Okay]));
}

/// Out of memory, as Redis 7.0 has it: nothing is queued (reads included) and EXEC
/// answers EXECABORT; a transaction queued before memory ran out runs if it only reads,
/// and is discarded with `EXECABORT ... because of: OOM ...` if it writes.
#[test]
fn out_of_memory_and_transactions_answer_as_redis_does() {
    let Some(redis) = common::versus::RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let filler = "x".repeat(100_000);
    // (connection, command): 0 runs the transactions, 1 turns memory off and on.
    let steps: &[(usize, &str)] = &[
        (1, "CONFIG SET maxmemory-policy noeviction"),
        (1, "CONFIG SET maxmemory 1"),
        (0, "MULTI"),
        (0, "GET filler"),
        (0, "SET k v"),
        (0, "EXEC"),
        (1, "CONFIG SET maxmemory 0"),
        (0, "MULTI"),
        (0, "SET k v"),
        (1, "CONFIG SET maxmemory 1"),
        (0, "EXEC"),
        (0, "DISCARD"),
        (1, "CONFIG SET maxmemory 0"),
        (0, "EXISTS k"),
        (0, "MULTI"),
        (0, "EXISTS k"),
        (0, "STRLEN filler"),
        (1, "CONFIG SET maxmemory 1"),
        (0, "EXEC"),
        (1, "CONFIG SET maxmemory 0"),
    ];
    let mut answers = Vec::new();
    for addr in [cairn.addr, redis.addr] {
        let mut c = [
            common::versus::Resp::connect(addr),
            common::versus::Resp::connect(addr),
        ];
        c[1].call(&[b"SET", b"filler", filler.as_bytes()]);
        let got: Vec<String> = steps
            .iter()
            .map(|&(i, line)| format!("{line}: {}", common::versus::show(&c[i].cmd(line))))
            .collect();
        answers.push(got);
    }
    assert_eq!(answers[0], answers[1]);
    assert!(
        answers[1].iter().any(|a| a.contains("because of: OOM")),
        "{:?}",
        answers[1]
    );
}

/// A write command that finds no key changes nothing: a watcher of that key still
/// commits, as in Redis (the store reported every write lookup as a write).
#[test]
fn write_commands_on_a_missing_key_leave_its_watchers_alone() {
    let srv = CairnProcess::start(&[]);
    let mut me = srv.client();
    let mut other = srv.client();
    let finds_nothing: &[&[&str]] = &[
        &["LPOP", "w"],
        &["ZPOPMIN", "w"],
        &["SREM", "w", "a"],
        &["ZREM", "w", "a"],
        &["HDEL", "w", "f"],
        &["ZADD", "w", "XX", "1", "a"],
        &["BLPOP", "w", "0.01"],
        &["BZPOPMIN", "w", "0.01"],
    ];
    for cmd in finds_nothing {
        let _: () = q(&mut me, &["WATCH", "w"]);
        let _: Value = redis::cmd(cmd[0]).arg(&cmd[1..]).query(&mut other).unwrap();
        let _: () = q(&mut me, &["MULTI"]);
        let _: () = q(&mut me, &["SET", "done", "1"]);
        assert_ne!(
            exec(&mut me),
            Value::Nil,
            "{cmd:?} failed the watcher's EXEC"
        );
    }
}

#[test]
fn watch_fails_exec_when_another_client_changes_the_key() {
    let srv = CairnProcess::start(&[]);
    let mut me = srv.client();
    let mut other = srv.client();
    let changes: &[&[&str]] = &[
        &["SET", "w", "changed"],
        &["DEL", "w"],
        &["APPEND", "w", "x"],
        &["EXPIRE", "w", "100"],
        &["RENAME", "w", "w2"],
        &["FLUSHALL"],
        &["FLUSHDB"],
        &["SWAPDB", "0", "1"],
    ];
    for change in changes {
        let _: () = q(&mut me, &["SET", "w", "1"]);
        let _: () = q(&mut me, &["WATCH", "w"]);
        let id = client_id(&mut me);
        let list: String = q(&mut me, &["CLIENT", "LIST", "ID", &id]);
        assert!(list.contains(" watch=1 "), "{list}");
        let info: String = q(&mut other, &["INFO", "clients"]);
        assert!(info.contains("watching_clients:1\r\n"), "{info}");
        assert!(info.contains("total_watched_keys:1\r\n"), "{info}");
        let _: Value = common::cmd(change).query(&mut other).unwrap();
        let _: () = q(&mut me, &["MULTI"]);
        let _: String = q(&mut me, &["SET", "w", "mine"]);
        assert_eq!(exec(&mut me), Value::Nil, "EXEC ran after {change:?}");
        let _: Value = common::cmd(&["FLUSHALL"]).query(&mut me).unwrap();
    }
    // Reads by others do not count; a key created after WATCH does.
    let _: () = q(&mut me, &["SET", "w", "1"]);
    let _: () = q(&mut me, &["WATCH", "w", "fresh"]);
    let _: Option<String> = q(&mut other, &["GET", "w"]);
    let _: i64 = q(&mut other, &["EXISTS", "w"]);
    let _: () = q(&mut me, &["MULTI"]);
    let _: String = q(&mut me, &["INCR", "w"]);
    assert_eq!(exec(&mut me), Value::Array(vec![Value::Int(2)]));
    let _: () = q(&mut me, &["WATCH", "fresh"]);
    let _: () = q(&mut other, &["SET", "fresh", "x"]);
    let _: () = q(&mut me, &["MULTI"]);
    let _: String = q(&mut me, &["GET", "w"]);
    assert_eq!(exec(&mut me), Value::Nil);
    // UNWATCH forgets; EXEC and DISCARD unwatch too.
    let _: () = q(&mut me, &["WATCH", "w"]);
    let _: () = q(&mut me, &["UNWATCH"]);
    let _: () = q(&mut other, &["SET", "w", "9"]);
    let _: () = q(&mut me, &["MULTI"]);
    let _: String = q(&mut me, &["GET", "w"]);
    assert_eq!(
        exec(&mut me),
        Value::Array(vec![Value::BulkString(b"9".to_vec())])
    );
    let info: String = q(&mut me, &["INFO", "clients"]);
    assert!(info.contains("total_watched_keys:0\r\n"), "{info}");
}

fn client_id(con: &mut Connection) -> String {
    q::<i64>(con, &["CLIENT", "ID"]).to_string()
}

#[test]
fn watch_under_expiry() {
    let (_srv, mut con) = start();
    // Expires after WATCH: EXEC fails, though nobody touched the key.
    let _: () = q(&mut con, &["SET", "k", "v", "PX", "100"]);
    let _: () = q(&mut con, &["WATCH", "k"]);
    std::thread::sleep(Duration::from_millis(250));
    let _: () = q(&mut con, &["MULTI"]);
    let _: String = q(&mut con, &["SET", "other", "1"]);
    assert_eq!(exec(&mut con), Value::Nil);
    // Already expired when watched: not a change.
    let _: () = q(&mut con, &["SET", "k", "v", "PX", "50"]);
    std::thread::sleep(Duration::from_millis(150));
    let _: () = q(&mut con, &["WATCH", "k"]);
    let _: () = q(&mut con, &["MULTI"]);
    let _: String = q(&mut con, &["SET", "other", "2"]);
    assert_eq!(exec(&mut con), Value::Array(vec![Value::Okay]));
}

#[test]
fn watch_fails_exec_when_the_key_is_evicted() {
    let (_srv, mut con) = start();
    let _: () = q(&mut con, &["SET", "watched", "v"]);
    let _: () = q(&mut con, &["WATCH", "watched"]);
    let mut other = _srv.client();
    limit_memory(&mut other, "allkeys-random", 2_000_000);
    let value = "x".repeat(1000);
    let mut i = 0;
    while q::<i64>(&mut other, &["EXISTS", "watched"]) == 1 {
        let mut p = redis::pipe();
        for _ in 0..100 {
            p.cmd("SET").arg(format!("fill:{i}")).arg(&value).ignore();
            i += 1;
        }
        let _: () = p.query(&mut other).unwrap();
        assert!(i < 1_000_000, "the watched key was never evicted");
    }
    let _: () = q(&mut con, &["MULTI"]);
    let _: String = q(&mut con, &["SET", "x", "1"]);
    assert_eq!(exec(&mut con), Value::Nil);
    let _: () = q(&mut other, &["CONFIG", "SET", "maxmemory", "0"]);
}

/// Four clients increment one counter with WATCH/GET/MULTI/SET/EXEC, retrying on a null
/// EXEC: every increment that EXEC acknowledged must be in the final value.
#[test]
fn optimistic_increments_lose_no_update() {
    let srv = CairnProcess::start(&[]);
    let per_client = 150;
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let mut con = srv.client();
            std::thread::spawn(move || {
                let mut retries = 0;
                for _ in 0..per_client {
                    loop {
                        let _: () = q(&mut con, &["WATCH", "counter"]);
                        let v: Option<i64> = q(&mut con, &["GET", "counter"]);
                        let _: () = q(&mut con, &["MULTI"]);
                        let next = (v.unwrap_or(0) + 1).to_string();
                        let _: String = q(&mut con, &["SET", "counter", &next]);
                        if exec(&mut con) != Value::Nil {
                            break;
                        }
                        retries += 1;
                    }
                }
                retries
            })
        })
        .collect();
    let retries: i32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let mut con = srv.client();
    assert_eq!(q::<i64>(&mut con, &["GET", "counter"]), 4 * per_client);
    eprintln!("optimistic increments: {retries} retries");
}

/// Transactions that move one unit between keys on different shards, racing with readers
/// that read both keys at once (MGET locks both shards): if EXEC were not atomic across
/// shards a reader would see the sum change.
#[test]
fn exec_is_atomic_across_shards() {
    // Several worker threads, so that connections really run at the same time (with one,
    // a transaction is never interleaved whatever the locking).
    let srv = CairnProcess::start(&["--threads", "4"]);
    let mut con = srv.client();
    // Two keys in different slots (and, with 2+ shards, different shards).
    let (a, b) = ("acct:a", "acct:b");
    let _: () = q(&mut con, &["MSET", a, "1000", b, "1000"]);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let mut con = srv.client();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let v: Vec<i64> = q(&mut con, &["MGET", a, b]);
                    assert_eq!(v[0] + v[1], 2000, "saw half a transaction: {v:?}");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let mut con = srv.client();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    let (from, to) = if (i + w) % 2 == 0 { (a, b) } else { (b, a) };
                    let mut p = redis::pipe();
                    p.atomic().cmd("DECR").arg(from).cmd("INCR").arg(to);
                    let _: (i64, i64) = p.query(&mut con).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 0);
    let v: Vec<i64> = q(&mut con, &["MGET", a, b]);
    assert_eq!(v[0] + v[1], 2000);
}

/// FLUSHALL, FLUSHDB and SWAPDB fail a watcher's EXEC only when the watched key was there
/// (before, or after a SWAPDB), as Redis 7.0's touchAllWatchedKeysInDb decides.
#[test]
fn flushes_and_swapdb_touch_only_watched_keys_that_exist_as_redis_does() {
    let Some(redis) = common::versus::RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    /// A name, what another client sets up, and what it does while the key is watched.
    type Scenario<'a> = (&'a str, &'a [&'a [&'a str]], &'a [&'a str]);
    let scenarios: &[Scenario] = &[
        ("flushall, key missing", &[], &["FLUSHALL"]),
        ("flushdb, key missing", &[], &["FLUSHDB"]),
        ("flushall, key there", &[&["SET", "w", "1"]], &["FLUSHALL"]),
        ("flushdb, key there", &[&["SET", "w", "1"]], &["FLUSHDB"]),
        ("swapdb, missing in both", &[], &["SWAPDB", "0", "1"]),
        (
            "swapdb, there in the other",
            &[&["SELECT", "1"], &["SET", "w", "x"], &["SELECT", "0"]],
            &["SWAPDB", "0", "1"],
        ),
        (
            "swapdb, there in this one",
            &[&["SET", "w", "1"]],
            &["SWAPDB", "0", "1"],
        ),
    ];
    let outcome = |c: &mut Connection, other: &mut Connection, setup: &[&[&str]], act: &[&str]| {
        let _: () = q(other, &["FLUSHALL"]);
        for cmd in setup {
            let _: Value = q(other, cmd);
        }
        let _: () = q(c, &["WATCH", "w"]);
        let _: Value = q(other, act);
        let _: () = q(c, &["MULTI"]);
        let _: () = q(c, &["PING"]);
        exec(c) != Value::Nil
    };
    for (name, setup, act) in scenarios {
        let (mut rc, mut ro) = (redis.client(), redis.client());
        let (mut cc, mut co) = (cairn.client(), cairn.client());
        let want = outcome(&mut rc, &mut ro, setup, act);
        assert_eq!(outcome(&mut cc, &mut co, setup, act), want, "{name}");
    }
}
