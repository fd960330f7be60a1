//! Streams kept across the write stream's consumers: a replica, the append-only file and
//! snapshots hold the primary's entries, counters, groups, consumers and pending entries
//! (DEBUG DIGEST covers all of them), and a promoted replica hands out the same pending
//! entries.

mod common;

use common::events::{in_thread, wait_blocked};
use common::{CairnProcess, q};
use redis::{Connection, Value};

/// Writes that touch every part of a stream: ids of every form, trims, deletions, the
/// counters, groups, consumers, pending entries (read, re-read, acknowledged, claimed)
/// and a blocked XREADGROUP served by an XADD.
fn exercise(srv: &CairnProcess, c: &mut Connection) {
    for i in 1..=300 {
        let _: String = q(
            c,
            &[
                "XADD",
                "s",
                &format!("{i}-1"),
                "n",
                &i.to_string(),
                "k",
                "v",
            ],
        );
    }
    let _: String = q(c, &["XADD", "s", "*", "auto", "1"]);
    let _: String = q(c, &["XADD", "s", "MAXLEN", "~", "250", "*", "trimmed", "1"]);
    let _: String = q(
        c,
        &[
            "XADD", "s", "MINID", "=", "120", "*", "other", "fields", "x", "y",
        ],
    );
    let _: i64 = q(c, &["XDEL", "s", "150-1", "151-1", "9-9"]);
    let _: i64 = q(c, &["XTRIM", "s", "MAXLEN", "~", "150"]);
    let _: () = q(c, &["XGROUP", "CREATE", "s", "g1", "0"]);
    let _: () = q(c, &["XGROUP", "CREATE", "s", "g2", "$", "ENTRIESREAD", "3"]);
    let _: () = q(c, &["XGROUP", "CREATE", "fresh", "g", "$", "MKSTREAM"]);
    let _: i64 = q(c, &["XGROUP", "CREATECONSUMER", "s", "g1", "idle"]);
    let _: Value = q(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "alice",
            "COUNT",
            "5",
            "STREAMS",
            "s",
            ">",
        ],
    );
    let _: Value = q(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "bob",
            "COUNT",
            "3",
            "STREAMS",
            "s",
            ">",
        ],
    );
    let _: Value = q(
        c,
        &["XREADGROUP", "GROUP", "g1", "alice", "STREAMS", "s", "0"],
    );
    let _: Value = q(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "carol",
            "COUNT",
            "2",
            "NOACK",
            "STREAMS",
            "s",
            ">",
        ],
    );
    let first: Vec<(String, Value)> = q(c, &["XRANGE", "s", "-", "+", "COUNT", "1"]);
    let _: i64 = q(c, &["XACK", "s", "g1", &first[0].0]);
    let _: Value = q(
        c,
        &[
            "XCLAIM",
            "s",
            "g1",
            "bob",
            "0",
            &first[0].0,
            "FORCE",
            "RETRYCOUNT",
            "7",
        ],
    );
    let _: Value = q(
        c,
        &["XAUTOCLAIM", "s", "g1", "dave", "0", "0", "COUNT", "2"],
    );
    let _: i64 = q(c, &["XGROUP", "DELCONSUMER", "s", "g1", "idle"]);
    let _: () = q(c, &["XGROUP", "SETID", "s", "g2", "200-1"]);
    let _: () = q(
        c,
        &[
            "XSETID",
            "fresh",
            "5-5",
            "ENTRIESADDED",
            "9",
            "MAXDELETEDID",
            "3-3",
        ],
    );
    // A blocked read, served by a write from another client.
    let blocked = in_thread(
        srv,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "waiter",
            "BLOCK",
            "0",
            "STREAMS",
            "fresh",
            ">",
        ],
    );
    wait_blocked(c, 1);
    let _: String = q(c, &["XADD", "fresh", "6-1", "woke", "1"]);
    let got = blocked.join().unwrap().unwrap();
    assert_ne!(got, Value::Nil);
}

/// What must agree between two nodes: the dataset's digest, and each group's pending
/// entries with their owners, delivery times and counts.
fn state(c: &mut Connection) -> (String, Vec<Value>) {
    let digest: String = q(c, &["DEBUG", "DIGEST"]);
    let mut pel = Vec::new();
    for (key, group) in [("s", "g1"), ("s", "g2"), ("fresh", "g")] {
        pel.push(q(c, &["XPENDING", key, group, "-", "+", "100"]));
        pel.push(q(c, &["XINFO", "GROUPS", key]));
    }
    (digest, pel)
}

/// XPENDING's idle times move with the clock: each extended entry's third element
/// (`[id, consumer, idle, deliveries]`) zeroed, everything else as it was.
fn without_idle(v: &[Value]) -> Vec<Value> {
    fn mask(v: &Value) -> Value {
        match v {
            Value::Array(a)
                if a.len() == 4
                    && matches!(
                        (&a[0], &a[1], &a[2], &a[3]),
                        (
                            Value::BulkString(_),
                            Value::BulkString(_),
                            Value::Int(_),
                            Value::Int(_)
                        )
                    ) =>
            {
                Value::Array(vec![
                    a[0].clone(),
                    a[1].clone(),
                    Value::Int(0),
                    a[3].clone(),
                ])
            }
            Value::Array(a) => Value::Array(a.iter().map(mask).collect()),
            other => other.clone(),
        }
    }
    v.iter().map(mask).collect()
}

#[test]
fn a_replica_holds_the_primary_s_streams_and_hands_out_the_same_pending_entries() {
    let primary = CairnProcess::start(&["--repl-diskless-sync-delay", "0"]);
    let target = format!("127.0.0.1 {}", primary.addr.port());
    let replica = CairnProcess::start(&[
        "--replicaof",
        target.as_str(),
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let mut p = primary.client();
    let mut r = replica.client();
    common::wait_until(30, "the replica's link is up", || {
        let text: String = q(&mut r, &["INFO", "replication"]);
        text.contains("master_link_status:up")
    });
    // A read blocked on the replica is served by what the primary's stream brings.
    let blocked = in_thread(&replica, &["XREAD", "BLOCK", "0", "STREAMS", "feed", "$"]);
    wait_blocked(&mut r, 1);
    let _: String = q(&mut p, &["XADD", "feed", "7-7", "from", "primary"]);
    let got: common::streams::Read =
        redis::from_redis_value(blocked.join().unwrap().unwrap()).unwrap();
    assert_eq!(
        got,
        vec![(
            "feed".to_string(),
            vec![(
                "7-7".to_string(),
                vec!["from".to_string(), "primary".to_string()]
            )]
        )]
    );
    exercise(&primary, &mut p);
    let (digest, pel) = state(&mut p);
    common::wait_until(30, "the replica holds the primary's digest", || {
        let d: String = q(&mut r, &["DEBUG", "DIGEST"]);
        d == digest
    });
    let (rd, rpel) = state(&mut r);
    assert_eq!(rd, digest);
    assert_eq!(without_idle(&rpel), without_idle(&pel));
    // Promoted, it hands out what the primary would have: alice's pending entries, and
    // the group's next new entry.
    let _: () = q(&mut r, &["REPLICAOF", "NO", "ONE"]);
    for c in [&mut p, &mut r] {
        let _: String = q(c, &["XADD", "s", "99999999999999-1", "after", "promotion"]);
    }
    let a: Value = q(
        &mut p,
        &["XREADGROUP", "GROUP", "g1", "alice", "STREAMS", "s", "0"],
    );
    let b: Value = q(
        &mut r,
        &["XREADGROUP", "GROUP", "g1", "alice", "STREAMS", "s", "0"],
    );
    assert_eq!(a, b);
    let a: Value = q(
        &mut p,
        &["XREADGROUP", "GROUP", "g1", "eve", "STREAMS", "s", ">"],
    );
    let b: Value = q(
        &mut r,
        &["XREADGROUP", "GROUP", "g1", "eve", "STREAMS", "s", ">"],
    );
    assert_eq!(a, b);
}

fn restart_keeps_streams(args: &[&str], save: bool) {
    let (digest, pel);
    {
        let srv = CairnProcess::start(args);
        let mut c = srv.client();
        exercise(&srv, &mut c);
        (digest, pel) = state(&mut c);
        if save {
            let _: () = q(&mut c, &["SAVE"]);
        }
    }
    let srv = CairnProcess::start(args);
    let mut c = srv.client();
    let (d, p) = state(&mut c);
    assert_eq!(d, digest);
    assert_eq!(without_idle(&p), without_idle(&pel));
    let enc: String = q(&mut c, &["OBJECT", "ENCODING", "s"]);
    assert_eq!(enc, "stream");
}

#[test]
fn streams_replay_from_the_aof() {
    let dir = std::env::temp_dir().join(format!("cairn-streams-aof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display().to_string();
    restart_keeps_streams(
        &[
            "--dir",
            &d,
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ],
        false,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_snapshot_brings_streams_back_with_their_groups() {
    let dir = std::env::temp_dir().join(format!("cairn-streams-rdb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display().to_string();
    restart_keeps_streams(&["--dir", &d], true);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A group read that finds nothing new, an XACK or XDEL that finds nothing, change
/// nothing: a watcher of the stream still commits (a write lookup would have reported the key written, and woken every other
/// blocked reader of it for nothing). One that delivers something fails the watcher.
#[test]
fn a_group_read_that_finds_nothing_new_leaves_watchers_alone() {
    let srv = CairnProcess::start(&[]);
    let mut me = srv.client();
    let mut other = srv.client();
    let _: String = q(&mut other, &["XADD", "s", "1-1", "f", "v"]);
    let _: () = q(&mut other, &["XGROUP", "CREATE", "s", "g", "$"]);
    let watched = |me: &mut Connection, other: &mut Connection, args: &[&str]| -> Value {
        let _: () = q(me, &["WATCH", "s"]);
        let _: Value = q(other, args);
        let _: () = q(me, &["MULTI"]);
        let _: () = q(me, &["SET", "done", "1"]);
        redis::cmd("EXEC").query(me).unwrap()
    };
    let read = ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"];
    assert_ne!(watched(&mut me, &mut other, &read), Value::Nil);
    // Nor does an XACK of an id nobody holds, or an XDEL of an id that is not there.
    let ack = ["XACK", "s", "g", "1-1", "9-9"];
    assert_ne!(watched(&mut me, &mut other, &ack), Value::Nil);
    let del = ["XDEL", "s", "9-9"];
    assert_ne!(watched(&mut me, &mut other, &del), Value::Nil);
    assert_eq!(
        watched(&mut me, &mut other, &["XDEL", "s", "1-1"]),
        Value::Nil
    );
    let _: String = q(&mut other, &["XADD", "s", "2-1", "f", "v"]);
    assert_eq!(watched(&mut me, &mut other, &read), Value::Nil);
}
