//! Hash fields that expire one by one (HEXPIRE and its relatives, HGETDEL, HGETEX,
//! HSETEX) against the real binary: the reply codes and errors Redis 7.4/8.0 define,
//! lazy and active expiry with their notifications, and the times carried through the
//! AOF, snapshots and replication. redis-server 7.0 (what Debian has) predates these
//! commands, so the expectations here are Redis's documented and sourced behaviour.

mod common;

use std::time::Duration;

use common::{CairnProcess, err, q, wait_until};
use redis::Connection;

fn ints(con: &mut Connection, args: &[&str]) -> Vec<i64> {
    q(con, args)
}

fn info_num(con: &mut Connection, name: &str) -> i64 {
    let text: String = q(con, &["INFO", "stats"]);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

#[test]
fn hexpire_and_friends_answer_with_redis_codes() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    let _: i64 = q(
        &mut c,
        &["HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4"],
    );
    let enc: String = q(&mut c, &["OBJECT", "ENCODING", "h"]);
    assert_eq!(enc, "listpack");
    // -2 no such field, 1 set; a key that is not there answers -2 for each field.
    assert_eq!(
        ints(&mut c, &["HEXPIRE", "h", "100", "FIELDS", "2", "a", "zz"]),
        [1, -2]
    );
    assert_eq!(
        ints(
            &mut c,
            &["HEXPIRE", "nokey", "100", "FIELDS", "2", "a", "b"]
        ),
        [-2, -2]
    );
    let enc: String = q(&mut c, &["OBJECT", "ENCODING", "h"]);
    assert_eq!(enc, "listpackex");
    // NX: only fields without a time; XX: only with one; GT/LT against the old time, a
    // persistent field counting as infinitely late.
    assert_eq!(
        ints(
            &mut c,
            &["HEXPIRE", "h", "50", "NX", "FIELDS", "2", "a", "b"]
        ),
        [0, 1]
    );
    assert_eq!(
        ints(
            &mut c,
            &["HEXPIRE", "h", "50", "XX", "FIELDS", "2", "a", "c"]
        ),
        [1, 0]
    );
    assert_eq!(
        ints(
            &mut c,
            &["HEXPIRE", "h", "60", "GT", "FIELDS", "2", "a", "c"]
        ),
        [1, 0]
    );
    assert_eq!(
        ints(
            &mut c,
            &["HEXPIRE", "h", "70", "LT", "FIELDS", "2", "a", "c"]
        ),
        [0, 1]
    );
    assert_eq!(
        ints(&mut c, &["HTTL", "h", "FIELDS", "4", "a", "b", "c", "zz"]),
        [60, 50, 70, -2]
    );
    assert_eq!(ints(&mut c, &["HTTL", "h", "FIELDS", "1", "d"]), [-1]);
    let pttl = ints(&mut c, &["HPTTL", "h", "FIELDS", "1", "a"])[0];
    assert!((59_000..=60_000).contains(&pttl), "{pttl}");
    let now_ms = {
        let (s, us): (i64, i64) = q(&mut c, &["TIME"]);
        s * 1000 + us / 1000
    };
    let at = ints(&mut c, &["HPEXPIRETIME", "h", "FIELDS", "1", "a"])[0];
    assert!(
        (now_ms + 59_000..=now_ms + 60_100).contains(&at),
        "{at} vs {now_ms}"
    );
    let at_s = ints(&mut c, &["HEXPIRETIME", "h", "FIELDS", "1", "a"])[0];
    assert_eq!(at_s, (at + 999) / 1000);
    // Absolute forms; a time in the past deletes the field (2).
    let later = (now_ms / 1000 + 1000).to_string();
    assert_eq!(
        ints(&mut c, &["HEXPIREAT", "h", &later, "FIELDS", "1", "d"]),
        [1]
    );
    assert_eq!(
        ints(&mut c, &["HPEXPIREAT", "h", "1", "FIELDS", "1", "d"]),
        [2]
    );
    assert_eq!(
        ints(&mut c, &["HEXPIRE", "h", "0", "FIELDS", "1", "c"]),
        [2]
    );
    let len: i64 = q(&mut c, &["HLEN", "h"]);
    assert_eq!(len, 2);
    // HPERSIST: 1 made persistent, -1 had no time, -2 not there.
    let _: i64 = q(&mut c, &["HSET", "h", "p", "x"]);
    assert_eq!(
        ints(&mut c, &["HPERSIST", "h", "FIELDS", "3", "a", "p", "zz"]),
        [1, -1, -2]
    );
    assert_eq!(ints(&mut c, &["HTTL", "h", "FIELDS", "1", "a"]), [-1]);
    // HSET drops a field's time, HINCRBY keeps it.
    assert_eq!(
        ints(&mut c, &["HEXPIRE", "h", "100", "FIELDS", "2", "a", "p"]),
        [1, 1]
    );
    let _: i64 = q(&mut c, &["HINCRBY", "h", "a", "1"]);
    let _: i64 = q(&mut c, &["HSET", "h", "p", "y"]);
    assert_eq!(
        ints(&mut c, &["HTTL", "h", "FIELDS", "2", "a", "p"]),
        [100, -1]
    );
    // RENAME and COPY carry the times with the fields.
    let _: () = q(&mut c, &["RENAME", "h", "h2"]);
    let copied: i64 = q(&mut c, &["COPY", "h2", "h"]);
    assert_eq!(copied, 1);
    assert_eq!(
        ints(&mut c, &["HTTL", "h", "FIELDS", "2", "a", "p"]),
        [100, -1]
    );
    assert_eq!(
        ints(&mut c, &["HTTL", "h2", "FIELDS", "2", "a", "p"]),
        [100, -1]
    );
    // DUMP carries them (RDB 12's HASH_METADATA, as Redis 7.4 writes it).
    let payload: Vec<u8> = redis::cmd("DUMP").arg("h2").query(&mut c).unwrap();
    let n = payload.len();
    assert_eq!(u16::from_le_bytes([payload[n - 10], payload[n - 9]]), 12);
    let _: () = redis::cmd("RESTORE")
        .arg("h3")
        .arg(0)
        .arg(&payload)
        .query(&mut c)
        .unwrap();
    assert_eq!(
        ints(&mut c, &["HTTL", "h3", "FIELDS", "2", "a", "p"]),
        [100, -1]
    );
    // So does MIGRATE.
    let other = CairnProcess::start(&[]);
    let port = other.addr.port().to_string();
    let _: () = q(&mut c, &["MIGRATE", "127.0.0.1", &port, "h2", "0", "5000"]);
    let mut oc = other.client();
    assert_eq!(
        ints(&mut oc, &["HTTL", "h2", "FIELDS", "2", "a", "p"]),
        [100, -1]
    );
    // The last field deleted by a past time takes the key with it.
    let _: i64 = q(&mut c, &["HSET", "one", "f", "v"]);
    assert_eq!(
        ints(&mut c, &["HPEXPIRE", "one", "0", "FIELDS", "1", "f"]),
        [2]
    );
    let exists: i64 = q(&mut c, &["EXISTS", "one"]);
    assert_eq!(exists, 0);

    // Errors, in Redis's words and order (the type first).
    let _: () = q(&mut c, &["SET", "str", "v"]);
    assert!(err(&mut c, &["HEXPIRE", "str", "x", "FIELDS", "1", "a"]).starts_with("WRONGTYPE"));
    assert!(err(&mut c, &["HTTL", "str", "FIELDS", "1", "a"]).starts_with("WRONGTYPE"));
    assert_eq!(
        err(&mut c, &["HEXPIRE", "h", "10", "FIELDS", "0", "a"]),
        "ERR Parameter `numFields` should be greater than 0"
    );
    assert_eq!(
        err(&mut c, &["HEXPIRE", "h", "10", "FIELDS", "2", "a"]),
        "ERR The `numfields` parameter must match the number of arguments"
    );
    assert_eq!(
        err(
            &mut c,
            &["HEXPIRE", "h", "10", "NX", "XX", "FIELDS", "1", "a"]
        ),
        "ERR Mandatory argument FIELDS is missing or not at the right position"
    );
    assert_eq!(
        err(&mut c, &["HEXPIRE", "h", "-1", "FIELDS", "1", "a"]),
        "ERR invalid expire time, must be >= 0"
    );
    assert_eq!(
        err(&mut c, &["HEXPIRE", "h", "abc", "FIELDS", "1", "a"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(
            &mut c,
            &["HPEXPIREAT", "h", "99999999999999999", "FIELDS", "1", "a"]
        ),
        "ERR invalid expire time in 'hpexpireat' command"
    );
    assert_eq!(
        err(&mut c, &["HTTL", "h", "FIELDS", "-1", "a"]),
        "ERR Number of fields must be a positive integer"
    );
    assert_eq!(
        err(&mut c, &["HPERSIST", "h", "FIELD", "1", "a"]),
        "ERR Mandatory argument FIELDS is missing or not at the right position"
    );
    assert_eq!(
        err(&mut c, &["HEXPIRE", "h", "10", "FIELDS"]),
        "ERR wrong number of arguments for 'hexpire' command"
    );
}

#[test]
fn hgetdel_hgetex_and_hsetex_follow_redis_8() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    let _: i64 = q(&mut c, &["HSET", "g", "x", "1", "y", "2"]);
    let got: Vec<Option<String>> = q(&mut c, &["HGETDEL", "g", "FIELDS", "2", "x", "zz"]);
    assert_eq!(got, [Some("1".into()), None]);
    let got: Vec<Option<String>> = q(&mut c, &["HGETDEL", "g", "FIELDS", "1", "y"]);
    assert_eq!(got, [Some("2".into())]);
    let exists: i64 = q(&mut c, &["EXISTS", "g"]);
    assert_eq!(exists, 0, "the last field deleted takes the key");

    let _: i64 = q(&mut c, &["HSET", "g", "x", "1", "y", "2"]);
    let got: Vec<Option<String>> = q(
        &mut c,
        &["HGETEX", "g", "EX", "100", "FIELDS", "2", "x", "zz"],
    );
    assert_eq!(got, [Some("1".into()), None]);
    assert_eq!(
        ints(&mut c, &["HTTL", "g", "FIELDS", "2", "x", "y"]),
        [100, -1]
    );
    let _: Vec<Option<String>> = q(&mut c, &["HGETEX", "g", "PERSIST", "FIELDS", "1", "x"]);
    assert_eq!(ints(&mut c, &["HTTL", "g", "FIELDS", "1", "x"]), [-1]);
    let got: Vec<Option<String>> = q(&mut c, &["HGETEX", "g", "PXAT", "1", "FIELDS", "1", "x"]);
    assert_eq!(got, [Some("1".into())], "the value, then the field goes");
    let len: i64 = q(&mut c, &["HLEN", "g"]);
    assert_eq!(len, 1);
    let got: Vec<Option<String>> = q(&mut c, &["HGETEX", "nokey", "EX", "1", "FIELDS", "1", "x"]);
    assert_eq!(got, [None]);
    assert_eq!(
        err(&mut c, &["HGETEX", "g", "EX", "1", "FIELD", "1", "x"]),
        "ERR Mandatory argument FIELDS is missing or not at the right position"
    );

    // HSETEX: FXX on a missing key creates nothing; FNX sets all or none.
    let set: i64 = q(&mut c, &["HSETEX", "n", "FXX", "FIELDS", "1", "a", "1"]);
    assert_eq!(set, 0);
    let exists: i64 = q(&mut c, &["EXISTS", "n"]);
    assert_eq!(exists, 0);
    let set: i64 = q(
        &mut c,
        &[
            "HSETEX", "n", "FNX", "EX", "100", "FIELDS", "2", "a", "1", "b", "2",
        ],
    );
    assert_eq!(set, 1);
    assert_eq!(
        ints(&mut c, &["HTTL", "n", "FIELDS", "2", "a", "b"]),
        [100, 100]
    );
    let set: i64 = q(
        &mut c,
        &["HSETEX", "n", "FNX", "FIELDS", "2", "a", "9", "c", "3"],
    );
    assert_eq!(set, 0);
    let set: i64 = q(&mut c, &["HSETEX", "n", "KEEPTTL", "FIELDS", "1", "a", "9"]);
    assert_eq!(set, 1);
    assert_eq!(ints(&mut c, &["HTTL", "n", "FIELDS", "1", "a"]), [100]);
    let set: i64 = q(&mut c, &["HSETEX", "n", "FIELDS", "1", "a", "10"]);
    assert_eq!(set, 1);
    assert_eq!(ints(&mut c, &["HTTL", "n", "FIELDS", "1", "a"]), [-1]);
    let set: i64 = q(
        &mut c,
        &["HSETEX", "n", "FXX", "PX", "0", "FIELDS", "1", "b", "x"],
    );
    assert_eq!(set, 1);
    let b: Option<String> = q(&mut c, &["HGET", "n", "b"]);
    assert_eq!(b, None, "a time already past deletes what it set");
    assert_eq!(
        err(
            &mut c,
            &["HSETEX", "n", "EX", "1", "PX", "2", "FIELDS", "1", "a", "1"]
        ),
        "ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified"
    );
    assert_eq!(
        err(
            &mut c,
            &["HSETEX", "n", "FNX", "FXX", "FIELDS", "1", "a", "1"]
        ),
        "ERR Only one of FXX or FNX arguments can be specified"
    );
    assert_eq!(
        err(&mut c, &["HSETEX", "n", "FIELDS", "2", "a", "1"]),
        "ERR wrong number of arguments for 'hsetex' command"
    );
    assert_eq!(
        err(&mut c, &["HSETEX", "n", "NOPE", "FIELDS", "1", "a", "1"]),
        "ERR unknown argument: NOPE"
    );
    let _: () = q(&mut c, &["SET", "str", "v"]);
    assert!(err(&mut c, &["HSETEX", "str", "FIELDS", "1", "a", "1"]).starts_with("WRONGTYPE"));
    assert!(err(&mut c, &["HGETDEL", "str", "FIELDS", "1", "a"]).starts_with("WRONGTYPE"));
}

/// Fields nobody reads go by themselves (the active sweep), big and small hashes alike,
/// with `hexpired` (and `del` for a hash whose last field went) notifications; a read of
/// a field whose time passed never sees it.
#[test]
fn fields_expire_unread_with_notifications() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    let _: () = q(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Khg"]);
    let mut sub = srv.client();
    let mut ps = sub.as_pubsub();
    ps.psubscribe("__keyspace@0__:*").unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(10))).unwrap();

    // 50 small hashes with 2 volatile fields of 4; one that loses its only field; one big
    // hash (a table) with 300 volatile fields of 1000.
    for i in 0..50 {
        let k = format!("small:{i}");
        let _: i64 = q(
            &mut c,
            &["HSET", &k, "a", "1", "b", "2", "c", "3", "d", "4"],
        );
        assert_eq!(
            ints(&mut c, &["HPEXPIRE", &k, "100", "FIELDS", "2", "a", "b"]),
            [1, 1]
        );
    }
    let _: i64 = q(&mut c, &["HSET", "lonely", "f", "v"]);
    assert_eq!(
        ints(&mut c, &["HPEXPIRE", "lonely", "100", "FIELDS", "1", "f"]),
        [1]
    );
    let mut args: Vec<String> = vec!["HSET".into(), "big".into()];
    for i in 0..1000 {
        args.push(format!("field:{i}"));
        args.push("v".into());
    }
    let _: i64 = common::qb(
        &mut c,
        &args.iter().map(|s| s.as_bytes()).collect::<Vec<_>>(),
    );
    let mut args: Vec<String> = ["HPEXPIRE", "big", "100", "FIELDS", "300"]
        .map(String::from)
        .to_vec();
    args.extend((0..300).map(|i| format!("field:{i}")));
    let codes: Vec<i64> = common::qb(
        &mut c,
        &args.iter().map(|s| s.as_bytes()).collect::<Vec<_>>(),
    );
    assert_eq!(codes, vec![1; 300]);
    let enc: String = q(&mut c, &["OBJECT", "ENCODING", "big"]);
    assert_eq!(enc, "hashtable");

    // Nobody touches a key: the sweep must take 100 + 1 + 300 fields and the lonely key.
    let want = 50 * 2 + 1 + 300;
    wait_until(10, "the sweep expired every volatile field", || {
        info_num(&mut c, "expired_subkeys") == want
    });
    let keys: i64 = q(&mut c, &["DBSIZE"]);
    assert_eq!(keys, 51, "the lonely hash went with its last field");
    let len: i64 = q(&mut c, &["HLEN", "big"]);
    assert_eq!(len, 700);
    let len: i64 = q(&mut c, &["HLEN", "small:7"]);
    assert_eq!(len, 2);

    // After each write's own events (hset, hexpire), the sweep's.
    let mut want: Vec<(&str, &str)> = vec![
        ("__keyspace@0__:lonely", "hexpired"),
        ("__keyspace@0__:lonely", "del"),
        ("__keyspace@0__:big", "hexpired"),
        ("__keyspace@0__:small:0", "hexpired"),
    ];
    while !want.is_empty() {
        let m = ps
            .get_message()
            .unwrap_or_else(|e| panic!("{e}: no notification for {want:?}"));
        let ev: String = m.get_payload().unwrap();
        want.retain(|(ch, e)| (*ch, *e) != (m.get_channel_name(), ev.as_str()));
    }
    drop(ps);

    // Lazily: a field due is gone for a read even before the sweep comes by.
    let _: () = q(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let _: i64 = q(&mut c, &["HSET", "lazy", "f", "v", "g", "w"]);
    assert_eq!(
        ints(&mut c, &["HPEXPIRE", "lazy", "30", "FIELDS", "1", "f"]),
        [1]
    );
    std::thread::sleep(Duration::from_millis(60));
    let v: Option<String> = q(&mut c, &["HGET", "lazy", "f"]);
    assert_eq!(v, None);
    let all: Vec<String> = q(&mut c, &["HGETALL", "lazy"]);
    assert_eq!(all, ["g", "w"]);
}

/// The times go to the AOF, into snapshots and to replicas as absolute operations
/// (HPEXPIREAT), and an expiry as an HDEL: a restarted node and a replica hold the same
/// fields with the same times.
#[test]
fn field_times_survive_restarts_and_reach_replicas() {
    let dir = std::env::temp_dir().join(format!("cairn-hfe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    let write = |c: &mut Connection| {
        let _: i64 = q(c, &["HSET", "h", "keep", "1", "long", "2", "short", "3"]);
        assert_eq!(
            ints(c, &["HEXPIRE", "h", "1000", "FIELDS", "1", "long"]),
            [1]
        );
        assert_eq!(
            ints(c, &["HPEXPIRE", "h", "200", "FIELDS", "1", "short"]),
            [1]
        );
        let set: i64 = q(c, &["HSETEX", "s", "PX", "500000", "FIELDS", "1", "x", "y"]);
        assert_eq!(set, 1);
    };
    let check = |c: &mut Connection| {
        let ttl = ints(c, &["HTTL", "h", "FIELDS", "3", "keep", "long", "short"]);
        assert_eq!(ttl[0], -1);
        assert!((990..=1000).contains(&ttl[1]), "{ttl:?}");
        assert_eq!(ttl[2], -2, "the short field expired");
        let ttl = ints(c, &["HTTL", "s", "FIELDS", "1", "x"]);
        assert!((490..=500).contains(&ttl[0]), "{ttl:?}");
    };
    let check_after = |c: &mut Connection| {
        let ttl = ints(c, &["HTTL", "after", "FIELDS", "1", "f"]);
        assert!((990..=1000).contains(&ttl[0]), "{ttl:?}");
    };
    // AOF.
    {
        let srv =
            CairnProcess::start(&["--dir", d, "--appendonly", "yes", "--appendfsync", "always"]);
        let mut c = srv.client();
        write(&mut c);
        // Half of it into a rewritten base, the rest after it in the increment.
        let _: String = q(&mut c, &["BGREWRITEAOF"]);
        wait_until(30, "the rewrite finished", || {
            let text: String = q(&mut c, &["INFO", "persistence"]);
            text.contains("aof_rewrite_in_progress:0")
                && text.contains("aof_last_bgrewrite_status:ok")
        });
        let _: i64 = q(&mut c, &["HSET", "after", "f", "v"]);
        assert_eq!(
            ints(&mut c, &["HEXPIRE", "after", "1000", "FIELDS", "1", "f"]),
            [1]
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    {
        let srv = CairnProcess::start(&["--dir", d, "--appendonly", "yes"]);
        let mut c = srv.client();
        check(&mut c);
        check_after(&mut c);
        // Snapshot: the same state, from a SAVE, without the AOF.
        let _: () = q(&mut c, &["SAVE"]);
    }
    {
        let srv = CairnProcess::start(&["--dir", d, "--appendonly", "no"]);
        let mut c = srv.client();
        check(&mut c);
        check_after(&mut c);
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Replication: a replica holds the same times and loses a field when its primary's
    // sweep does.
    let p = CairnProcess::start(&["--repl-diskless-sync-delay", "0"]);
    let mut pc = p.client();
    let _: i64 = q(&mut pc, &["HSET", "before", "a", "1", "b", "2"]);
    assert_eq!(
        ints(&mut pc, &["HEXPIRE", "before", "1000", "FIELDS", "1", "a"]),
        [1]
    );
    let target = format!("127.0.0.1 {}", p.addr.port());
    let r = CairnProcess::start(&["--replicaof", &target]);
    let mut rc = r.client();
    wait_until(30, "the replica has the full sync", || {
        ints(&mut rc, &["HTTL", "before", "FIELDS", "1", "a"]) == [1000]
    });
    write(&mut pc);
    wait_until(10, "the replica's short field went", || {
        let len: i64 = q(&mut rc, &["HLEN", "h"]);
        len == 2
    });
    check(&mut rc);
    let (a, b): (String, String) = (
        q(&mut pc, &["DEBUG", "DIGEST"]),
        q(&mut rc, &["DEBUG", "DIGEST"]),
    );
    assert_eq!(a, b, "primary and replica hold the same fields and times");
}
