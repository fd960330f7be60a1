//! Lists and their blocking pops against the real binary: every command's replies and
//! errors held against a real redis-server's, byte for byte; and blocking as Redis's own
//! test suite exercises it (served before the pusher's reply, first blocked first served,
//! several waiters served by one push, MULTI, WRONGTYPE destinations, chains of BLMOVEs,
//! SWAPDB, CLIENT UNBLOCK, timeouts, disconnections), with the served pops journaled as
//! plain pops (replayed from the AOF after a restart).

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::events::{blocked_clients, in_thread, keyevents, wait_blocked};
use common::versus::Both;
use common::{CairnProcess, err, q};
use redis::{Connection, Value};

const SCRIPT: &str = "
    RPUSH l a b c
    LPUSH l z y
    LRANGE l 0 -1
    LLEN l
    LLEN nolist
    LINDEX l 0
    LINDEX l -1
    LINDEX l 100
    LINDEX l -100
    LINDEX l x
    LINDEX nolist 0
    LINDEX nolist x
    LSET l 1 Z
    LSET l -1 C
    LSET l 100 x
    LSET l x y
    LSET nolist 0 x
    LSET nolist x y
    LRANGE l 0 -1
    LRANGE l -100 100
    LRANGE l 2 1
    LRANGE l 5 10
    LRANGE l -2 -1
    LRANGE l x 1
    LRANGE nolist 0 -1
    LINSERT l BEFORE a A
    LINSERT l AFTER C D
    LINSERT l BEFORE nope x
    LINSERT l MIDDLE a x
    LINSERT nolist BEFORE a x
    LRANGE l 0 -1
    RPUSH dup a b a c a d a
    LPOS dup a
    LPOS dup a RANK -1
    LPOS dup a RANK 2
    LPOS dup a RANK -2 COUNT 2
    LPOS dup a COUNT 0
    LPOS dup a COUNT 2 MAXLEN 3
    LPOS dup a RANK -1 MAXLEN 2
    LPOS dup nope
    LPOS dup nope COUNT 0
    LPOS dup a RANK 0
    LPOS dup a COUNT -1
    LPOS dup a MAXLEN -1
    LPOS dup a RANK x
    LPOS dup a FOO 1
    LPOS dup a RANK
    LPOS nolist a
    LPOS nolist a COUNT 1
    LREM dup 2 a
    LRANGE dup 0 -1
    LREM dup -1 a
    LRANGE dup 0 -1
    LREM dup 0 a
    LREM dup 0 nope
    LREM dup x a
    LREM nolist 1 a
    LRANGE dup 0 -1
    LTRIM l 1 -2
    LRANGE l 0 -1
    LTRIM l 0 100
    LTRIM l x 1
    LTRIM nolist 0 1
    LTRIM l 5 1
    EXISTS l
    RPUSH p 1 2 3 4 5 6
    LPOP p
    LPOP p 2
    LPOP p 0
    LPOP p -1
    LPOP p x
    LPOP p 1 2
    RPOP p
    RPOP p 10
    EXISTS p
    LPOP nolist
    LPOP nolist 2
    LPOP nolist 0
    RPOP nolist
    LPUSHX nolist a
    RPUSHX nolist a
    EXISTS nolist
    RPUSH q a b c
    LPUSHX q x y
    RPUSHX q z
    LRANGE q 0 -1
    LMOVE q q2 LEFT RIGHT
    LMOVE q q2 RIGHT LEFT
    LMOVE q q2 UP LEFT
    LMOVE q q2 LEFT DOWN
    LMOVE noq q2 LEFT LEFT
    LMOVE q q LEFT RIGHT
    RPOPLPUSH q q2
    RPOPLPUSH noq q2
    LRANGE q 0 -1
    LRANGE q2 0 -1
    LMPOP 2 noq q LEFT
    LMPOP 2 q q2 RIGHT COUNT 2
    LMPOP 1 q2 LEFT COUNT 100
    LMPOP 1 q2 LEFT
    LMPOP 0 q LEFT
    LMPOP x q LEFT
    LMPOP -1 q LEFT
    LMPOP 1 q MIDDLE
    LMPOP 1 q LEFT COUNT 0
    LMPOP 1 q LEFT COUNT -1
    LMPOP 1 q LEFT COUNT x
    LMPOP 1 q LEFT COUNT 1 COUNT 2
    LMPOP 1 q LEFT EXTRA
    LMPOP 1 q
    EXISTS q q2
    SET str x
    LPUSH str a
    RPUSH str a
    LPUSHX str a
    LRANGE str 0 1
    LLEN str
    LINDEX str 0
    LSET str 0 x
    LPOP str
    LPOP str 0
    RPOP str 2
    LREM str 0 a
    LTRIM str 0 1
    LINSERT str BEFORE a b
    LPOS str a
    RPUSH ok a
    LMOVE str ok LEFT LEFT
    LMOVE ok str LEFT LEFT
    LRANGE ok 0 -1
    LMPOP 2 nolist str LEFT
    BLPOP str 0
    BLMOVE ok str LEFT LEFT 0
    LRANGE ok 0 -1
    RPUSH b1 x y z
    BLPOP nolist b1 0
    BRPOP nolist b1 0
    BLMOVE b1 b2 LEFT RIGHT 0
    BRPOPLPUSH b2 b1 0
    BLMPOP 0 2 nolist b1 RIGHT COUNT 5
    EXISTS b1 b2
    BLPOP nolist 0.01
    BRPOP nolist 0.01
    BLMOVE nolist b2 LEFT LEFT 0.01
    BRPOPLPUSH nolist b2 0.01
    BLMPOP 0.01 1 nolist LEFT
    BLPOP nolist -1
    BLPOP nolist abc
    BLMOVE nolist b2 LEFT SIDEWAYS 0
    BLMOVE nolist b2 LEFT LEFT x
    BLMPOP x 1 nolist LEFT
    BLMPOP 0 0 nolist LEFT
    BLMPOP 0 1 nolist LEFT COUNT 0
    LPUSH
    LPUSH l
    LRANGE l 0
    LINSERT l BEFORE a
    BLPOP nolist
    BLMOVE a b LEFT LEFT
    TYPE ok
    DEL ok
";

#[test]
fn list_commands_answer_as_redis_does() {
    let Some(mut both) = Both::start(&[], &[]) else {
        return;
    };
    both.script(SCRIPT);
    both.resp3();
    both.script(
        "
        LPOP nolist
        LPOP nolist 2
        LINDEX nolist 0
        LPOS nolist a
        BLPOP nolist 0.01
        BLMOVE nolist x LEFT LEFT 0.01
        RPUSH r3 a b
        BLMPOP 0 1 r3 LEFT COUNT 5
        LMOVE r3 r4 LEFT LEFT
        ",
    );
}

/// Pushes and edits of a 300-element list, for two servers to answer alike.
fn long_list_script() -> String {
    let mut lines = String::new();
    for i in 0..300 {
        let side = if i % 3 == 0 { "LPUSH" } else { "RPUSH" };
        lines.push_str(&format!("{side} big e{i} {}\n", "x".repeat(i % 50)));
    }
    lines.push_str(
        "
        LLEN big
        LRANGE big 0 -1
        LRANGE big 100 140
        LRANGE big -50 -20
        LINDEX big 150
        LINDEX big -151
        LSET big 77 seventy-seven
        LINSERT big AFTER e99 after99
        LINSERT big BEFORE e200 before200
        LREM big 3 x
        LREM big -2 xxxxxxxxxx
        LPOS big e150
        LPOS big x COUNT 0 RANK -3
        LTRIM big 10 -10
        LRANGE big 0 -1
        LPOP big 33
        RPOP big 40
        LMPOP 1 big RIGHT COUNT 7
        LRANGE big 0 -1
        ",
    );
    lines
}

#[test]
fn long_lists_match_redis_through_many_nodes() {
    let Some(mut both) = Both::start(&[], &["--list-max-listpack-size", "7"]) else {
        return;
    };
    both.script(&long_list_script());
}

#[test]
fn compressed_lists_match_redis() {
    let compress = [
        "--list-compress-depth",
        "1",
        "--list-max-listpack-size",
        "5",
    ];
    let Some(mut both) = Both::start(&compress, &compress) else {
        return;
    };
    both.script(&long_list_script());
    // The middle of a long list of repetitive elements costs what it compresses to.
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    let fill = |c: &mut Connection, key: &str| {
        for chunk in 0..50 {
            let mut cmd = redis::cmd("RPUSH");
            cmd.arg(key);
            for i in 0..200 {
                cmd.arg(format!("session:{:06}:seen", (chunk * 200 + i) % 500));
            }
            let _: i64 = cmd.query(c).unwrap();
        }
    };
    fill(&mut c, "plain");
    let _: () = q(&mut c, &["CONFIG", "SET", "list-compress-depth", "1"]);
    fill(&mut c, "packed");
    let plain: i64 = q(&mut c, &["MEMORY", "USAGE", "plain"]);
    let packed: i64 = q(&mut c, &["MEMORY", "USAGE", "packed"]);
    assert!(
        packed * 2 < plain,
        "compressed {packed} bytes, plain {plain}"
    );
    let a: Vec<String> = q(&mut c, &["LRANGE", "plain", "0", "-1"]);
    let b: Vec<String> = q(&mut c, &["LRANGE", "packed", "0", "-1"]);
    assert_eq!(a, b);
    let d1: Vec<String> = q(&mut c, &["DEBUG", "DIGEST-VALUE", "plain"]);
    let d2: Vec<String> = q(&mut c, &["DEBUG", "DIGEST-VALUE", "packed"]);
    assert_eq!(d1, d2);
}

/// The id of the client blocked in BLPOP, as CLIENT LIST shows it (flag `b`).
fn blocked_client(c: &mut Connection) -> String {
    let list: String = q(c, &["CLIENT", "LIST"]);
    let line = list
        .lines()
        .find(|l| l.contains("cmd=blpop"))
        .expect("the blocked client in CLIENT LIST");
    assert!(line.contains("flags=b"), "{line}");
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("id="))
        .expect("an id")
        .to_string()
}

fn bulk_pair(v: Value) -> (String, String) {
    redis::from_redis_value(v).expect("a [key, element] pair")
}

#[test]
fn a_push_serves_waiters_in_order_before_its_own_reply() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    let first = in_thread(&srv, &["BLPOP", "jobs", "0"]);
    wait_blocked(&mut c, 1);
    let second = in_thread(&srv, &["BRPOP", "other", "jobs", "0"]);
    wait_blocked(&mut c, 2);
    let third = in_thread(&srv, &["BLPOP", "jobs", "0"]);
    wait_blocked(&mut c, 3);
    // Two elements serve the first two waiters; by the time RPUSH answers, they have
    // been served (nothing is left in the list), and the third still waits.
    let n: i64 = q(&mut c, &["RPUSH", "jobs", "one", "two"]);
    assert_eq!(n, 2);
    let exists: i64 = q(&mut c, &["EXISTS", "jobs"]);
    assert_eq!(exists, 0, "the waiters were served before RPUSH's reply");
    assert_eq!(
        bulk_pair(first.join().unwrap().unwrap()),
        ("jobs".into(), "one".into())
    );
    assert_eq!(
        bulk_pair(second.join().unwrap().unwrap()),
        ("jobs".into(), "two".into())
    );
    assert_eq!(blocked_clients(&mut c), 1);
    // CLIENT UNBLOCK: TIMEOUT answers as a timeout, ERROR with Redis's error.
    let blocked_id = blocked_client(&mut c);
    let done: i64 = q(&mut c, &["CLIENT", "UNBLOCK", &blocked_id]);
    assert_eq!(done, 1);
    assert_eq!(third.join().unwrap().unwrap(), Value::Nil);
    let again: i64 = q(&mut c, &["CLIENT", "UNBLOCK", &blocked_id]);
    assert_eq!(again, 0);
    let t = in_thread(&srv, &["BLPOP", "jobs", "0"]);
    wait_blocked(&mut c, 1);
    let id = blocked_client(&mut c);
    let done: i64 = q(&mut c, &["CLIENT", "UNBLOCK", &id, "ERROR"]);
    assert_eq!(done, 1);
    let e = t.join().unwrap().unwrap_err();
    assert!(e.to_string().contains("UNBLOCKED"), "{e}");
    assert_eq!(blocked_clients(&mut c), 0);
}

#[test]
fn multi_serves_after_exec_and_never_blocks_inside() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    let waiter = in_thread(&srv, &["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    // A push and a delete in one transaction leave nothing to serve.
    let _: Value = redis::pipe()
        .atomic()
        .cmd("LPUSH")
        .arg("k")
        .arg("gone")
        .cmd("DEL")
        .arg("k")
        .query(&mut c)
        .unwrap();
    assert_eq!(blocked_clients(&mut c), 1);
    // A push and a pop in one transaction: the transaction's pop wins.
    let (_, popped): (i64, String) = redis::pipe()
        .atomic()
        .cmd("LPUSH")
        .arg("k")
        .arg("mine")
        .cmd("LPOP")
        .arg("k")
        .query(&mut c)
        .unwrap();
    assert_eq!(popped, "mine");
    assert_eq!(blocked_clients(&mut c), 1);
    let _: i64 = q(&mut c, &["RPUSH", "k", "yours"]);
    assert_eq!(
        bulk_pair(waiter.join().unwrap().unwrap()),
        ("k".into(), "yours".into())
    );
    // Inside MULTI a blocking pop answers at once.
    let (r,): (Value,) = redis::pipe()
        .atomic()
        .cmd("BLPOP")
        .arg("empty")
        .arg("0")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, Value::Nil);
}

#[test]
fn blmove_chains_and_wrong_destinations() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    // A waiter whose destination is not a list gets WRONGTYPE when served; the element
    // stays where it was.
    let _: () = q(&mut c, &["SET", "target", "nolist"]);
    let bad = in_thread(&srv, &["BRPOPLPUSH", "src", "target", "0"]);
    wait_blocked(&mut c, 1);
    let _: i64 = q(&mut c, &["RPUSH", "src", "foo"]);
    let e = bad.join().unwrap().unwrap_err();
    assert!(e.to_string().contains("WRONGTYPE"), "{e}");
    let left: Vec<String> = q(&mut c, &["LRANGE", "src", "0", "-1"]);
    assert_eq!(left, ["foo"]);
    let _: i64 = q(&mut c, &["DEL", "src"]);
    // l1 -> l2 -> l3: one push moves the element along the whole chain in one pass.
    let a = in_thread(&srv, &["BLMOVE", "l1", "l2", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut c, 1);
    let b = in_thread(&srv, &["BLMOVE", "l2", "l3", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut c, 2);
    let _: i64 = q(&mut c, &["RPUSH", "l1", "x"]);
    let l3: Vec<String> = q(&mut c, &["LRANGE", "l3", "0", "-1"]);
    assert_eq!(l3, ["x"]);
    assert_eq!(a.join().unwrap().unwrap(), Value::BulkString(b"x".to_vec()));
    assert_eq!(b.join().unwrap().unwrap(), Value::BulkString(b"x".to_vec()));
    // Circular: each one's destination is the other's source.
    let a = in_thread(&srv, &["BRPOPLPUSH", "c1", "c2", "0"]);
    wait_blocked(&mut c, 1);
    let b = in_thread(&srv, &["BRPOPLPUSH", "c2", "c1", "0"]);
    wait_blocked(&mut c, 2);
    let _: i64 = q(&mut c, &["RPUSH", "c1", "round"]);
    assert_eq!(
        a.join().unwrap().unwrap(),
        Value::BulkString(b"round".to_vec())
    );
    assert_eq!(
        b.join().unwrap().unwrap(),
        Value::BulkString(b"round".to_vec())
    );
    let c1: Vec<String> = q(&mut c, &["LRANGE", "c1", "0", "-1"]);
    assert_eq!(c1, ["round"]);
    let exists: i64 = q(&mut c, &["EXISTS", "c2"]);
    assert_eq!(exists, 0);
}

#[test]
fn waiters_leave_on_timeout_disconnect_and_wake_on_swapdb() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    let started = Instant::now();
    let r: Value = q(&mut c, &["BLPOP", "none", "0.2"]);
    assert_eq!(r, Value::Nil);
    assert!(started.elapsed() >= Duration::from_millis(190));
    // A client that goes away stops waiting.
    {
        let mut gone = srv.client();
        let mut cmd = redis::cmd("BLPOP");
        cmd.arg("k").arg("0");
        // Send without reading the reply, then drop the connection.
        gone.send_packed_command(&cmd.get_packed_command()).unwrap();
        wait_blocked(&mut c, 1);
    }
    wait_blocked(&mut c, 0);
    let _: i64 = q(&mut c, &["RPUSH", "k", "kept"]);
    let len: i64 = q(&mut c, &["LLEN", "k"]);
    assert_eq!(len, 1, "nobody took the element");
    // SWAPDB brings a list into the waiter's database.
    let _: () = q(&mut c, &["SELECT", "1"]);
    let _: i64 = q(&mut c, &["RPUSH", "swapped", "hello"]);
    let _: () = q(&mut c, &["SELECT", "0"]);
    let w = in_thread(&srv, &["BLPOP", "swapped", "0"]);
    wait_blocked(&mut c, 1);
    let _: () = q(&mut c, &["SWAPDB", "0", "1"]);
    assert_eq!(
        bulk_pair(w.join().unwrap().unwrap()),
        ("swapped".into(), "hello".into())
    );
    // A key that becomes a string keeps its waiter waiting.
    let w = in_thread(&srv, &["BLPOP", "s", "0"]);
    wait_blocked(&mut c, 1);
    let _: () = q(&mut c, &["SET", "s", "string"]);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(blocked_clients(&mut c), 1);
    let _: i64 = q(&mut c, &["DEL", "s"]);
    let _: i64 = q(&mut c, &["LPUSH", "s", "list"]);
    assert_eq!(
        bulk_pair(w.join().unwrap().unwrap()),
        ("s".into(), "list".into())
    );
    assert!(err(&mut c, &["BLPOP", "s", "-1"]).contains("timeout is negative"));
    // Redis 7.2's range checks (7.0 let these overflow).
    assert_eq!(
        err(&mut c, &["BLPOP", "s", "inf"]),
        "ERR timeout is out of range"
    );
    assert_eq!(
        err(&mut c, &["BLPOP", "s", "9223372036854775807"]),
        "ERR timeout is out of range"
    );
    // Redis 7.2 refuses the one rank that cannot be negated (7.0 answered garbage).
    assert_eq!(
        err(
            &mut c,
            &["LPOS", "s", "list", "RANK", "-9223372036854775808"]
        ),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
}

#[test]
fn served_pops_replay_from_the_aof_as_plain_pops() {
    let dir = std::env::temp_dir().join(format!("cairn-lists-aof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display().to_string();
    let args = [
        "--dir",
        d.as_str(),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    let before: Vec<String>;
    {
        let srv = CairnProcess::start(&args);
        let mut c = srv.client();
        let w = in_thread(&srv, &["BLMPOP", "0", "1", "q", "LEFT", "COUNT", "2"]);
        wait_blocked(&mut c, 1);
        let m = in_thread(&srv, &["BLMOVE", "m", "dst", "LEFT", "RIGHT", "0"]);
        wait_blocked(&mut c, 2);
        let _: i64 = q(&mut c, &["RPUSH", "q", "1", "2", "3", "4"]);
        let _: i64 = q(&mut c, &["RPUSH", "m", "a", "b"]);
        let _: Value = w.join().unwrap().unwrap();
        let _: Value = m.join().unwrap().unwrap();
        let _: i64 = q(&mut c, &["LPUSH", "dst", "first"]);
        let _: () = q(&mut c, &["LSET", "dst", "1", "A"]);
        let _: i64 = q(&mut c, &["LINSERT", "dst", "AFTER", "A", "after"]);
        before = q(&mut c, &["LRANGE", "dst", "0", "-1"]);
        assert_eq!(before, ["first", "A", "after"]);
        let qs: Vec<String> = q(&mut c, &["LRANGE", "q", "0", "-1"]);
        assert_eq!(qs, ["3", "4"]);
    }
    let srv = CairnProcess::start(&args);
    let mut c = srv.client();
    let after: Vec<String> = q(&mut c, &["LRANGE", "dst", "0", "-1"]);
    assert_eq!(after, before);
    let qs: Vec<String> = q(&mut c, &["LRANGE", "q", "0", "-1"]);
    assert_eq!(qs, ["3", "4"]);
    let m: Vec<String> = q(&mut c, &["LRANGE", "m", "0", "-1"]);
    assert_eq!(m, ["b"]);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn encodings_follow_redis_7_2() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    let _: i64 = q(&mut c, &["RPUSH", "l", "a", "b"]);
    let enc: String = q(&mut c, &["OBJECT", "ENCODING", "l"]);
    assert_eq!(enc, "listpack");
    let big = "x".repeat(5000);
    let _: i64 = q(&mut c, &["RPUSH", "l", &big, &big]);
    let enc: String = q(&mut c, &["OBJECT", "ENCODING", "l"]);
    assert_eq!(enc, "quicklist");
    let _: Vec<String> = q(&mut c, &["RPOP", "l", "2"]);
    let enc: String = q(&mut c, &["OBJECT", "ENCODING", "l"]);
    assert_eq!(enc, "listpack");
    let t: String = q(&mut c, &["TYPE", "l"]);
    assert_eq!(t, "list");
    let usage: i64 = q(&mut c, &["MEMORY", "USAGE", "l"]);
    assert!(usage > 0);
    assert!(err(&mut c, &["CONFIG", "SET", "list-max-listpack-size", "x"]).contains("ERR"));
    let _: () = q(&mut c, &["CONFIG", "SET", "list-max-ziplist-size", "-3"]);
    let v: Vec<String> = q(&mut c, &["CONFIG", "GET", "list-max-listpack-size"]);
    assert_eq!(v, ["list-max-listpack-size", "-3"]);
}

#[test]
fn list_events_are_redis_s() {
    let Some(redis) = common::versus::RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let commands: &[&[&str]] = &[
        &["RPUSH", "l", "a", "b", "c", "d"],
        &["LPUSH", "l", "z"],
        &["LPUSHX", "nolist", "z"],
        &["RPUSHX", "l", "e"],
        &["LSET", "l", "0", "Z"],
        &["LINSERT", "l", "BEFORE", "b", "B"],
        &["LINSERT", "l", "BEFORE", "nope", "x"],
        &["LREM", "l", "1", "B"],
        &["LREM", "l", "1", "nope"],
        &["LTRIM", "l", "0", "3"],
        &["LPOP", "l"],
        &["RPOP", "l", "1"],
        &["LMOVE", "l", "m", "LEFT", "RIGHT"],
        &["RPOPLPUSH", "l", "l"],
        &["LMPOP", "1", "l", "LEFT", "COUNT", "5"],
        &["BLPOP", "m", "0"],
        &["LPOP", "nolist"],
        &["RPUSH", "t", "1", "2"],
        &["LTRIM", "t", "5", "1"],
    ];
    let from_redis = keyevents(|| redis.client(), commands);
    let from_cairn = keyevents(|| cairn.client(), commands);
    assert!(from_redis.len() >= 20, "{from_redis:?}");
    assert_eq!(from_cairn, from_redis);
}

#[test]
fn killed_clients_and_demoted_primaries_release_their_waiters() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    // CLIENT KILL takes a blocked client's waiter with it.
    let t = in_thread(&srv, &["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    let id = blocked_client(&mut c);
    let killed: i64 = q(&mut c, &["CLIENT", "KILL", "ID", &id]);
    assert_eq!(killed, 1);
    assert!(t.join().unwrap().is_err());
    wait_blocked(&mut c, 0);
    let _: i64 = q(&mut c, &["RPUSH", "k", "kept"]);
    let len: i64 = q(&mut c, &["LLEN", "k"]);
    assert_eq!(len, 1);
    // A primary that becomes a replica answers its waiters with Redis's UNBLOCKED.
    let other = CairnProcess::start(&[]);
    let t = in_thread(&srv, &["BRPOP", "empty", "0"]);
    wait_blocked(&mut c, 1);
    let port = other.addr.port().to_string();
    let _: () = q(&mut c, &["REPLICAOF", "127.0.0.1", &port]);
    let e = t.join().unwrap().unwrap_err();
    assert!(
        e.to_string()
            .contains("force unblock from blocking operation, instance state changed"),
        "{e}"
    );
    assert_eq!(e.code(), Some("UNBLOCKED"), "{e}");
    assert_eq!(blocked_clients(&mut c), 0);
}
