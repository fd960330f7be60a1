//! Pub/Sub against the real binary: several subscribers in RESP2 (through the `redis`
//! crate's PubSub) and RESP3 (raw push frames), patterns, shard channels, PUBSUB
//! introspection, RESP2's subscribed-mode rules, and a subscriber that stops reading
//! being cut off by `client-output-buffer-limit pubsub` while the others keep receiving.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{CairnProcess, err, q, start};
use redis::Value;

/// Waits (bounded) until `f` holds; fails the test with `what` otherwise.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn resp_array(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", parts.len()).into_bytes();
    for p in parts {
        v.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
        v.extend_from_slice(p);
        v.extend_from_slice(b"\r\n");
    }
    v
}

#[test]
fn subscribers_patterns_and_introspection_in_resp2() {
    let srv = CairnProcess::start(&[]);
    let mut publisher = srv.client();

    let mut subscribers: Vec<redis::Connection> = (0..3).map(|_| srv.client()).collect();
    let mut subs: Vec<redis::PubSub<'_>> = subscribers.iter_mut().map(|c| c.as_pubsub()).collect();
    for s in &mut subs {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    subs[0].subscribe(&["news", "sport"]).unwrap();
    subs[1].subscribe("news").unwrap();
    subs[2].psubscribe("n*").unwrap();

    assert_eq!(q::<i64>(&mut publisher, &["PUBLISH", "news", "hello"]), 3);
    assert_eq!(q::<i64>(&mut publisher, &["PUBLISH", "sport", "goal"]), 1);
    assert_eq!(q::<i64>(&mut publisher, &["PUBLISH", "nobody", "x"]), 1);
    assert_eq!(q::<i64>(&mut publisher, &["PUBLISH", "other", "x"]), 0);

    let m = subs[0].get_message().unwrap();
    assert_eq!(
        (m.get_channel_name(), m.get_payload::<String>().unwrap()),
        ("news", "hello".into())
    );
    let m = subs[0].get_message().unwrap();
    assert_eq!(
        (m.get_channel_name(), m.get_payload::<String>().unwrap()),
        ("sport", "goal".into())
    );
    let m = subs[1].get_message().unwrap();
    assert_eq!(m.get_payload::<String>().unwrap(), "hello");
    let m = subs[2].get_message().unwrap();
    assert_eq!(m.get_pattern::<String>().unwrap(), "n*");
    assert_eq!(
        (m.get_channel_name(), m.get_payload::<String>().unwrap()),
        ("news", "hello".into())
    );
    let m = subs[2].get_message().unwrap();
    assert_eq!(m.get_channel_name(), "nobody");

    let mut channels: Vec<String> = q(&mut publisher, &["PUBSUB", "CHANNELS"]);
    channels.sort();
    assert_eq!(channels, ["news", "sport"]);
    let only: Vec<String> = q(&mut publisher, &["PUBSUB", "CHANNELS", "s*"]);
    assert_eq!(only, ["sport"]);
    let numsub: Vec<Value> = q(
        &mut publisher,
        &["PUBSUB", "NUMSUB", "news", "sport", "none"],
    );
    assert_eq!(
        numsub,
        vec![
            Value::BulkString(b"news".to_vec()),
            Value::Int(2),
            Value::BulkString(b"sport".to_vec()),
            Value::Int(1),
            Value::BulkString(b"none".to_vec()),
            Value::Int(0),
        ]
    );
    assert_eq!(q::<i64>(&mut publisher, &["PUBSUB", "NUMPAT"]), 1);
    let list: String = q(&mut publisher, &["CLIENT", "LIST", "TYPE", "pubsub"]);
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(list.contains("sub=2 psub=0"), "{list}");
    assert!(list.contains("flags=P"), "{list}");
    let info: String = q(&mut publisher, &["INFO", "stats"]);
    assert!(info.contains("pubsub_channels:2\r\n"), "{info}");
    assert!(info.contains("pubsub_patterns:1\r\n"), "{info}");

    subs[0].unsubscribe("news").unwrap();
    subs[2].punsubscribe("n*").unwrap();
    assert_eq!(q::<i64>(&mut publisher, &["PUBLISH", "news", "again"]), 1);
    assert_eq!(q::<i64>(&mut publisher, &["PUBSUB", "NUMPAT"]), 0);
    let m = subs[1].get_message().unwrap();
    assert_eq!(m.get_payload::<String>().unwrap(), "again");

    // A subscriber that disconnects is no longer counted.
    drop(subs);
    drop(subscribers);
    eventually("closed subscribers leave the registry", || {
        q::<i64>(&mut publisher, &["PUBLISH", "news", "x"]) == 0
    });
    assert!(
        q::<Vec<String>>(&mut publisher, &["PUBSUB", "CHANNELS"]).is_empty(),
        "channels without subscribers are listed"
    );
}

#[test]
fn subscribed_mode_in_resp2_allows_only_pubsub_commands() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.raw();
    c.roundtrip(
        &resp_array(&[b"SUBSCRIBE", b"a", b"b"]),
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    c.roundtrip(
        &resp_array(&[b"GET", b"x"]),
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    c.roundtrip(b"PING\r\n", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    c.roundtrip(
        &resp_array(&[b"PING", b"hi"]),
        b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n",
    );
    // Subscribing again to a channel confirms it with an unchanged count.
    c.roundtrip(
        &resp_array(&[b"SUBSCRIBE", b"a"]),
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n",
    );
    c.roundtrip(
        &resp_array(&[b"PSUBSCRIBE", b"p*"]),
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:3\r\n",
    );
    c.roundtrip(
        &resp_array(&[b"PUNSUBSCRIBE"]),
        b"*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:2\r\n",
    );
    // UNSUBSCRIBE without channels leaves all of them (in any order), then the mode.
    c.send(&resp_array(&[b"UNSUBSCRIBE"]));
    let both = c.read_exact_len(2 * "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n".len());
    let text = String::from_utf8_lossy(&both);
    assert!(text.contains("$1\r\na\r\n"), "{text}");
    assert!(text.contains("$1\r\nb\r\n"), "{text}");
    assert!(text.ends_with(":0\r\n"), "{text}");
    // With nothing left, UNSUBSCRIBE confirms a null channel.
    c.roundtrip(
        &resp_array(&[b"UNSUBSCRIBE"]),
        b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
    );
    c.roundtrip(&resp_array(&[b"GET", b"x"]), b"$-1\r\n");
    c.roundtrip(b"PING\r\n", b"+PONG\r\n");
    // RESET leaves subscribed mode too.
    c.roundtrip(
        &resp_array(&[b"SUBSCRIBE", b"a"]),
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n",
    );
    c.roundtrip(b"RESET\r\n", b"+RESET\r\n");
    c.roundtrip(&resp_array(&[b"GET", b"x"]), b"$-1\r\n");
    let mut con = srv.client();
    let numsub: Vec<Value> = q(&mut con, &["PUBSUB", "NUMSUB", "a"]);
    assert_eq!(numsub[1], Value::Int(0));
}

#[test]
fn resp3_subscribers_get_push_frames_and_may_run_any_command() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.raw();
    c.send(&resp_array(&[b"HELLO", b"3"]));
    c.send(&resp_array(&[b"ECHO", b"end-of-hello"]));
    // Skip HELLO's map: read until the ECHO's reply.
    let mut hello = Vec::new();
    while !hello.ends_with(b"end-of-hello\r\n") {
        let mut b = [0u8; 1024];
        let n = c.s.read(&mut b).unwrap();
        assert!(n > 0, "closed during HELLO");
        hello.extend_from_slice(&b[..n]);
    }
    c.roundtrip(
        &resp_array(&[b"SUBSCRIBE", b"ch"]),
        b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
    );
    c.roundtrip(&resp_array(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    c.roundtrip(&resp_array(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    c.roundtrip(b"PING\r\n", b"+PONG\r\n");
    let mut publisher = srv.client();
    assert_eq!(q::<i64>(&mut publisher, &["PUBLISH", "ch", "hi"]), 1);
    let expected = b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n";
    assert_eq!(c.read_exact_len(expected.len()), expected);
    c.roundtrip(
        &resp_array(&[b"UNSUBSCRIBE", b"ch"]),
        b">3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n",
    );
}

#[test]
fn shard_channels_are_their_own_space() {
    let srv = CairnProcess::start(&[]);
    let mut publisher = srv.client();
    let mut c = srv.raw();
    c.roundtrip(
        &resp_array(&[b"SSUBSCRIBE", b"{user1}:events", b"{user1}:alerts"]),
        b"*3\r\n$10\r\nssubscribe\r\n$14\r\n{user1}:events\r\n:1\r\n*3\r\n$10\r\nssubscribe\r\n$14\r\n{user1}:alerts\r\n:2\r\n",
    );
    // PUBLISH does not reach a shard channel of the same name.
    assert_eq!(
        q::<i64>(&mut publisher, &["PUBLISH", "{user1}:events", "x"]),
        0
    );
    assert_eq!(
        q::<i64>(&mut publisher, &["SPUBLISH", "{user1}:events", "y"]),
        1
    );
    let expected = b"*3\r\n$8\r\nsmessage\r\n$14\r\n{user1}:events\r\n$1\r\ny\r\n";
    assert_eq!(c.read_exact_len(expected.len()), expected);
    let mut shard: Vec<String> = q(&mut publisher, &["PUBSUB", "SHARDCHANNELS"]);
    shard.sort();
    assert_eq!(shard, ["{user1}:alerts", "{user1}:events"]);
    assert!(q::<Vec<String>>(&mut publisher, &["PUBSUB", "CHANNELS"]).is_empty());
    let counts: Vec<Value> = q(&mut publisher, &["PUBSUB", "SHARDNUMSUB", "{user1}:alerts"]);
    assert_eq!(counts[1], Value::Int(1));
    let info: String = q(&mut publisher, &["INFO", "stats"]);
    assert!(info.contains("pubsubshard_channels:2\r\n"), "{info}");
    c.roundtrip(
        &resp_array(&[b"SUNSUBSCRIBE", b"{user1}:alerts"]),
        b"*3\r\n$12\r\nsunsubscribe\r\n$14\r\n{user1}:alerts\r\n:1\r\n",
    );
}

#[test]
fn pubsub_bad_input() {
    let (_srv, mut con) = start();
    assert_eq!(
        err(&mut con, &["PUBLISH", "ch"]),
        "ERR wrong number of arguments for 'publish' command"
    );
    assert_eq!(
        err(&mut con, &["SUBSCRIBE"]),
        "ERR wrong number of arguments for 'subscribe' command"
    );
    assert_eq!(
        err(&mut con, &["PUBSUB", "NUMPAT", "x"]),
        "ERR wrong number of arguments for 'pubsub|numpat' command"
    );
    assert_eq!(
        err(&mut con, &["PUBSUB", "NOPE"]),
        "ERR unknown subcommand 'NOPE'. Try PUBSUB HELP."
    );
    let help: Vec<String> = q(&mut con, &["PUBSUB", "HELP"]);
    assert!(help[0].starts_with("PUBSUB <subcommand>"), "{help:?}");
    // client-output-buffer-limit: Redis's default and its errors.
    let got: Vec<String> = q(&mut con, &["CONFIG", "GET", "client-output-buffer-limit"]);
    assert_eq!(
        got[1],
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
    let e = err(
        &mut con,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 1mb",
        ],
    );
    assert!(e.starts_with("ERR CONFIG SET failed"), "{e}");
    let e = err(
        &mut con,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "nobody 1 1 1",
        ],
    );
    assert!(e.contains("Invalid client class"), "{e}");
    let _: () = q(
        &mut con,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 512kb 10",
        ],
    );
    let got: Vec<String> = q(&mut con, &["CONFIG", "GET", "client-output-buffer-limit"]);
    assert_eq!(
        got[1],
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 10"
    );
}

/// A subscriber that never reads fills its output buffer; past the pubsub hard limit it
/// is disconnected, while a subscriber that reads gets every message.
#[test]
fn a_slow_subscriber_is_cut_off_and_fast_ones_keep_receiving() {
    let srv = CairnProcess::start(&[]);
    let mut publisher = srv.client();
    let _: () = q(
        &mut publisher,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 0 0",
        ],
    );

    let mut slow = srv.raw();
    slow.send(b"CLIENT ID\r\n");
    let mut line = String::new();
    while !line.ends_with("\r\n") {
        line.push(slow.read_exact_len(1)[0] as char);
    }
    let slow_id: u64 = line.trim().trim_start_matches(':').parse().unwrap();
    slow.roundtrip(
        &resp_array(&[b"SUBSCRIBE", b"feed"]),
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nfeed\r\n:1\r\n",
    );

    let mut fast_con = srv.client();
    let payload = "x".repeat(16 * 1024);
    let messages = 2_000; // 32 MB in all: far past 1 MB plus any socket buffering
    let reader = {
        let payload_len = payload.len();
        std::thread::spawn(move || {
            let mut sub = fast_con.as_pubsub();
            sub.subscribe("feed").unwrap();
            sub.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut got = 0;
            // The publisher waits for this subscription below (NUMSUB == 2).
            while got < messages {
                let m = sub.get_message().expect("fast subscriber timed out");
                assert_eq!(m.get_payload_bytes().len(), payload_len);
                got += 1;
            }
            got
        })
    };
    eventually("both subscribers registered", || {
        let v: Vec<Value> = q(&mut publisher, &["PUBSUB", "NUMSUB", "feed"]);
        v[1] == Value::Int(2)
    });
    let mut receivers = Vec::new();
    for _ in 0..messages {
        receivers.push(q::<i64>(&mut publisher, &["PUBLISH", "feed", &payload]));
    }
    assert_eq!(reader.join().unwrap(), messages);
    assert_eq!(receivers[0], 2);
    assert_eq!(
        *receivers.last().unwrap(),
        1,
        "the slow subscriber was never cut off"
    );
    let info: String = q(&mut publisher, &["INFO", "stats"]);
    assert!(
        info.contains("client_output_buffer_limit_disconnections:1\r\n"),
        "{info}"
    );
    // The server closed the slow client's connection: after the buffered messages, EOF.
    slow.s
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut sink = vec![0u8; 1 << 20];
    loop {
        match slow.s.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) => panic!("the slow subscriber was not disconnected: {e}"),
        }
    }
    eventually("the slow subscriber is gone from CLIENT LIST", || {
        let list: String = q(
            &mut publisher,
            &["CLIENT", "LIST", "ID", &slow_id.to_string()],
        );
        list.trim().is_empty()
    });
}
