//! Keyspace notifications against the real binary: `notify-keyspace-events` flags, the
//! events of writes, expiries and evictions on both the keyspace and keyevent channels,
//! and their order when several connections write one key at once.

mod common;

use std::time::Duration;

use common::{CairnProcess, err, limit_memory, q};

/// Subscribes to every keyspace and keyevent channel; returns the subscriber.
fn listen(srv: &CairnProcess) -> redis::Connection {
    srv.client()
}

fn next(sub: &mut redis::PubSub<'_>) -> (String, String) {
    let m = sub.get_message().expect("an event within the timeout");
    (
        m.get_channel_name().to_string(),
        m.get_payload::<String>().unwrap(),
    )
}

#[test]
fn writes_expiries_and_evictions_are_published() {
    let srv = CairnProcess::start(&[]);
    let mut con = srv.client();
    assert_eq!(
        q::<Vec<String>>(&mut con, &["CONFIG", "GET", "notify-keyspace-events"])[1],
        ""
    );
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "notify-keyspace-events", "KEA"],
    );
    assert_eq!(
        q::<Vec<String>>(&mut con, &["CONFIG", "GET", "notify-keyspace-events"])[1],
        "AKE"
    );
    let mut l = listen(&srv);
    let mut sub = l.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    sub.psubscribe("__keyspace@0__:*").unwrap();
    sub.psubscribe("__keyevent@0__:*").unwrap();

    let _: () = q(&mut con, &["SET", "k", "v"]);
    assert_eq!(next(&mut sub), ("__keyspace@0__:k".into(), "set".into()));
    assert_eq!(next(&mut sub), ("__keyevent@0__:set".into(), "k".into()));
    let _: i64 = q(&mut con, &["INCRBY", "n", "5"]);
    assert_eq!(next(&mut sub).1, "incrby");
    assert_eq!(next(&mut sub), ("__keyevent@0__:incrby".into(), "n".into()));
    let _: i64 = q(&mut con, &["APPEND", "k", "w"]);
    assert_eq!(next(&mut sub).1, "append");
    next(&mut sub);
    let _: i64 = q(&mut con, &["EXPIRE", "k", "100"]);
    assert_eq!(next(&mut sub).1, "expire");
    next(&mut sub);
    let _: () = q(&mut con, &["RENAME", "k", "k2"]);
    assert_eq!(
        next(&mut sub),
        ("__keyspace@0__:k".into(), "rename_from".into())
    );
    next(&mut sub);
    assert_eq!(
        next(&mut sub),
        ("__keyspace@0__:k2".into(), "rename_to".into())
    );
    next(&mut sub);
    let _: i64 = q(&mut con, &["DEL", "k2", "nothing"]);
    assert_eq!(next(&mut sub), ("__keyspace@0__:k2".into(), "del".into()));
    next(&mut sub);
    // A missing key deletes nothing and publishes nothing: the next event is the expiry.
    let _: () = q(&mut con, &["SET", "short", "v", "PX", "30"]);
    assert_eq!(next(&mut sub).1, "set");
    next(&mut sub);
    assert_eq!(next(&mut sub).1, "expire");
    next(&mut sub);
    // Nobody reads it: the active expiry sweep removes it and says so.
    assert_eq!(
        next(&mut sub),
        ("__keyspace@0__:short".into(), "expired".into())
    );
    assert_eq!(
        next(&mut sub),
        ("__keyevent@0__:expired".into(), "short".into())
    );

    // Evictions.
    let _: () = q(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Ee"]);
    limit_memory(&mut con, "allkeys-random", 1_000_000);
    let value = "x".repeat(1000);
    let mut p = redis::pipe();
    for i in 0..3000 {
        p.cmd("SET").arg(format!("fill:{i}")).arg(&value).ignore();
    }
    let _: () = p.query(&mut con).unwrap();
    let (channel, key) = next(&mut sub);
    assert_eq!(channel, "__keyevent@0__:evicted");
    assert!(key.starts_with("fill:") || key == "n", "{key}");
    let _: () = q(&mut con, &["CONFIG", "SET", "maxmemory", "0"]);
}

#[test]
fn bad_flags_are_refused() {
    let srv = CairnProcess::start(&[]);
    let mut con = srv.client();
    let e = err(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "KQ"]);
    assert!(e.contains("notify-keyspace-events"), "{e}");
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "notify-keyspace-events", "gxK"],
    );
    assert_eq!(
        q::<Vec<String>>(&mut con, &["CONFIG", "GET", "notify-keyspace-events"])[1],
        "gxK"
    );
}

/// Two connections on two worker threads SET and DEL one key as fast as they can; the
/// keyspace channel must tell the key's story in order, so its last event matches whether
/// the key exists at the end.
#[test]
fn events_of_one_key_keep_the_order_of_its_changes() {
    let srv = CairnProcess::start(&["--threads", "2"]);
    let mut con = srv.client();
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "notify-keyspace-events", "Kg$"],
    );
    let mut l = listen(&srv);
    let mut sub = l.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    sub.subscribe("__keyspace@0__:contended").unwrap();
    let rounds = 2000;
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let mut c = srv.client();
            std::thread::spawn(move || {
                let mut events = 0;
                for _ in 0..rounds {
                    if w == 0 {
                        let _: () = q(&mut c, &["SET", "contended", "v"]);
                        events += 1;
                    } else {
                        events += q::<i64>(&mut c, &["DEL", "contended"]);
                    }
                }
                events
            })
        })
        .collect();
    let events: i64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    let exists = q::<i64>(&mut con, &["EXISTS", "contended"]) == 1;
    let mut last = String::new();
    for _ in 0..events {
        last = next(&mut sub).1;
    }
    assert_eq!(
        last,
        if exists { "set" } else { "del" },
        "the last event does not match the final state"
    );
}

/// `n` publishes new keys (created by any write, RENAME's destination included) and `m`
/// read misses; neither is part of `A`.
#[test]
fn new_keys_and_misses() {
    let srv = CairnProcess::start(&[]);
    let mut con = srv.client();
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "notify-keyspace-events", "Enm"],
    );
    let mut l = listen(&srv);
    let mut sub = l.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    sub.subscribe(&["__keyevent@0__:new", "__keyevent@0__:keymiss"])
        .unwrap();
    let _: Option<String> = q(&mut con, &["GET", "absent"]);
    assert_eq!(
        next(&mut sub),
        ("__keyevent@0__:keymiss".into(), "absent".into())
    );
    let _: () = q(&mut con, &["SET", "fresh", "v"]);
    assert_eq!(
        next(&mut sub),
        ("__keyevent@0__:new".into(), "fresh".into())
    );
    // Overwriting is not new.
    let _: () = q(&mut con, &["SET", "fresh", "w"]);
    let _: () = q(&mut con, &["RENAME", "fresh", "moved"]);
    assert_eq!(
        next(&mut sub),
        ("__keyevent@0__:new".into(), "moved".into())
    );
    let _: () = q(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "A"]);
    assert_eq!(
        q::<Vec<String>>(&mut con, &["CONFIG", "GET", "notify-keyspace-events"])[1],
        "A"
    );
}
