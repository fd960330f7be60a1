//! SLOWLOG, LATENCY and INFO errorstats against the real binary, beside a real
//! redis-server (7.0 here) where the replies are deterministic: entries are compared with
//! their id, time, duration and client port masked; everything else (arguments,
//! truncation, redaction, client name, errors, reply shapes) must be Redis's. Comparisons
//! with Redis are skipped, with a notice, when redis-server is not installed; the
//! Cairn-only checks always run. No test depends on how fast a command runs: the
//! thresholds used are 0 (everything), -1 (nothing), or DEBUG SLEEP well past them.

mod common;

use cairn_protocol::Frame;
use common::CairnProcess;
use common::versus::{Both, Resp, show};

fn words(line: &str) -> Vec<&[u8]> {
    line.split_whitespace().map(str::as_bytes).collect()
}

fn bulk(f: &Frame) -> &[u8] {
    match f {
        Frame::Bulk(b) => b,
        other => panic!("expected a bulk string, got {}", show(other)),
    }
}

fn int(f: &Frame) -> i64 {
    match f {
        Frame::Integer(n) => *n,
        other => panic!("expected an integer, got {}", show(other)),
    }
}

fn items(f: &Frame) -> &[Frame] {
    match f {
        Frame::Array(v) => v,
        other => panic!("expected an array, got {}", show(other)),
    }
}

fn ok(c: &mut Resp, line: &str) {
    assert_eq!(c.cmd(line), Frame::Simple(b"OK".to_vec()), "{line}");
}

/// A SLOWLOG GET reply with what legitimately differs masked: id, time, duration and the
/// client's port. The address must still be "127.0.0.1:<port>".
fn masked(f: &Frame) -> Frame {
    Frame::Array(
        items(f)
            .iter()
            .map(|e| {
                let e = items(e);
                assert_eq!(e.len(), 6, "an entry has six fields: {}", show(&e[0]));
                for field in &e[..3] {
                    assert!(int(field) >= 0);
                }
                let addr = String::from_utf8(bulk(&e[4]).to_vec()).unwrap();
                let (ip, port) = addr.rsplit_once(':').expect("ip:port");
                assert_eq!(ip, "127.0.0.1");
                port.parse::<u16>().expect("a port");
                Frame::Array(vec![e[3].clone(), e[5].clone()])
            })
            .collect(),
    )
}

/// Runs `line` on both, then compares the newest `n` slow log entries (masked).
fn logged_alike(both: &mut Both, line: &[&[u8]], n: usize) {
    let (c, r) = (both.cairn.call(line), both.redis.call(line));
    assert_eq!(
        std::mem::discriminant(&c),
        std::mem::discriminant(&r),
        "{}: Cairn {}, Redis {}",
        String::from_utf8_lossy(&line.concat()),
        show(&c),
        show(&r)
    );
    let line = format!("SLOWLOG GET {n}");
    let get = words(&line);
    let (c, r) = (
        masked(&both.cairn.call(&get)),
        masked(&both.redis.call(&get)),
    );
    assert_eq!(c, r, "Cairn logged {}, Redis {}", show(&c), show(&r));
}

#[test]
fn slowlog_entries_are_redis_s() {
    let Some(mut both) = Both::start(&["--enable-debug-command", "yes"], &[]) else {
        return;
    };
    both.script(
        "CONFIG SET slowlog-log-slower-than 0
         SLOWLOG RESET
         CLIENT SETNAME me",
    );
    // Each entry: the command as sent, the client's address and name.
    logged_alike(&mut both, &words("SET k v"), 2);
    // Arguments: at most 32 (the last says how many more), each at most 128 bytes.
    let many: Vec<String> = (0..40).map(|i| format!("e{i}")).collect();
    let mut rpush: Vec<&[u8]> = vec![b"RPUSH", b"list"];
    rpush.extend(many.iter().map(|s| s.as_bytes()));
    logged_alike(&mut both, &rpush, 1);
    let long = "x".repeat(200);
    logged_alike(&mut both, &[b"SET", b"long", long.as_bytes()], 1);
    logged_alike(&mut both, &[b"SET", b"k", "y".repeat(128).as_bytes()], 1);
    // Secrets are redacted, whether or not the command succeeded.
    logged_alike(&mut both, &words("AUTH secret"), 1);
    logged_alike(&mut both, &words("AUTH user secret"), 1);
    logged_alike(
        &mut both,
        &words("HELLO 2 AUTH user secret SETNAME other"),
        1,
    );
    logged_alike(&mut both, &words("CONFIG SET masterauth secret"), 1);
    // A transaction: MULTI and the commands EXEC ran are logged, EXEC itself is not.
    both.script("MULTI\nSET a 1\nINCR a");
    logged_alike(&mut both, &words("EXEC"), 4);
    // Without a name (CLIENT SETNAME "" clears it), the name field is empty.
    logged_alike(&mut both, &[b"CLIENT", b"SETNAME", b""], 1);
    logged_alike(&mut both, &words("GET k"), 1);

    // Errors and edge cases.
    both.script(
        "SLOWLOG GET x
         SLOWLOG GET -2
         SLOWLOG GET 1 2
         SLOWLOG FOO
         SLOWLOG GET 0
         CONFIG SET slowlog-log-slower-than -2
         CONFIG SET slowlog-max-len -1
         CONFIG SET latency-monitor-threshold -1
         CONFIG SET latency-monitor-threshold abc
         ~CONFIG GET slowlog*
         CONFIG GET latency-monitor-threshold
         COMMAND INFO slowlog|help",
    );
    // Negative: nothing is logged.
    both.script(
        "CONFIG SET slowlog-log-slower-than -1
         SLOWLOG RESET
         PING
         SLOWLOG LEN
         SLOWLOG GET",
    );
    // max-len trims to the newest entries.
    both.script(
        "CONFIG SET slowlog-max-len 3
         CONFIG SET slowlog-log-slower-than 0
         PING
         PING
         PING
         PING
         CONFIG SET slowlog-log-slower-than -1
         SLOWLOG LEN",
    );
    let (c, r) = (
        masked(&both.cairn.cmd("SLOWLOG GET -1")),
        masked(&both.redis.cmd("SLOWLOG GET -1")),
    );
    assert_eq!(c, r, "Cairn {}, Redis {}", show(&c), show(&r));
    assert_eq!(items(&c).len(), 3);
    both.script("SLOWLOG RESET\nSLOWLOG LEN");
    // The same replies in RESP3.
    both.resp3();
    both.script("CONFIG SET slowlog-log-slower-than 0\nSLOWLOG RESET\nSET k v");
    let (c, r) = (
        masked(&both.cairn.cmd("SLOWLOG GET 2")),
        masked(&both.redis.cmd("SLOWLOG GET 2")),
    );
    assert_eq!(c, r, "Cairn {}, Redis {}", show(&c), show(&r));
}

/// The text of a bulk or verbatim reply.
fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => String::from_utf8(b.clone()).unwrap(),
        other => panic!("expected text, got {}", show(other)),
    }
}

/// Checks a LATENCY LATEST reply after one DEBUG SLEEP 0.02: the `command` event alone,
/// its latest sample and maximum at least the 20 ms slept.
fn latest_after_sleep(f: &Frame) {
    let events = items(f);
    assert_eq!(events.len(), 1, "{}", show(f));
    let e = items(&events[0]);
    assert_eq!(e.len(), 4);
    assert_eq!(bulk(&e[0]), b"command");
    assert!(int(&e[1]) > 0);
    assert!(int(&e[2]) >= 20, "{}", show(f));
    assert!(int(&e[3]) >= int(&e[2]));
}

/// A LATENCY HISTOGRAM entry's value: {calls, histogram_usec: {bucket: cumulative}},
/// as a map (RESP3) or a flat array (RESP2). Returns the calls.
fn histogram_entry(f: &Frame) -> i64 {
    let pairs: Vec<(Frame, Frame)> = match f {
        Frame::Map(m) => m.clone(),
        Frame::Array(v) => v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect(),
        other => panic!("expected a map, got {}", show(other)),
    };
    assert_eq!(pairs.len(), 2);
    assert_eq!(bulk(&pairs[0].0), b"calls");
    assert_eq!(bulk(&pairs[1].0), b"histogram_usec");
    let calls = int(&pairs[0].1);
    let buckets: Vec<i64> = match &pairs[1].1 {
        Frame::Map(m) => m.iter().flat_map(|(k, v)| [int(k), int(v)]).collect(),
        Frame::Array(v) => v.iter().map(int).collect(),
        other => panic!("expected a map, got {}", show(other)),
    };
    assert!(!buckets.is_empty() && buckets.len().is_multiple_of(2));
    // Power-of-two buckets (1, 2, 4, 8, 16, 33, 65, ... microseconds), counts cumulative.
    for w in buckets.chunks(2).collect::<Vec<_>>().windows(2) {
        assert!(w[1][0] > w[0][0] && w[1][1] > w[0][1], "{buckets:?}");
    }
    assert_eq!(*buckets.last().unwrap(), calls);
    calls
}

#[test]
fn latency_monitor_as_redis() {
    let Some(mut both) = Both::start(&["--enable-debug-command", "yes"], &[]) else {
        return;
    };
    both.script(
        "LATENCY LATEST
         LATENCY HISTORY command
         LATENCY GRAPH command
         LATENCY RESET
         LATENCY RESET command nosuch
         LATENCY HISTOGRAM nosuch
         LATENCY FOO
         LATENCY GRAPH
         LATENCY HISTORY
         LATENCY DOCTOR extra
         CONFIG SET latency-monitor-threshold 5
         DEBUG SLEEP 0.02",
    );
    for conn in [&mut both.cairn, &mut both.redis] {
        latest_after_sleep(&conn.cmd("LATENCY LATEST"));
        let h = conn.cmd("LATENCY HISTORY command");
        let samples = items(&h);
        assert_eq!(samples.len(), 1, "{}", show(&h));
        let s = items(&samples[0]);
        assert!(int(&s[0]) > 0 && int(&s[1]) >= 20);
        // The graph: header, a rule, one filled bar at the bottom row, then the label.
        let g = text(&conn.cmd("LATENCY GRAPH command"));
        let lines: Vec<&str> = g.lines().collect();
        assert!(lines[0].starts_with("command - high "), "{g}");
        assert_eq!(lines[1], "-".repeat(80));
        assert_eq!(&lines[2..7], [" ", " ", " ", "_", " "], "{g}");
        let d = text(&conn.cmd("LATENCY DOCTOR"));
        assert!(d.contains("1. command: 1 latency spikes"), "{d}");
    }
    both.script(
        "LATENCY RESET command nosuch
         LATENCY LATEST
         LATENCY HISTORY command
         LATENCY GRAPH command
         CONFIG SET latency-monitor-threshold 0",
    );
    // Only the subcommands without tips compare exactly: Cairn's COMMAND INFO sends tips
    // as simple strings, Redis as bulk strings, for every command.
    both.script("COMMAND INFO latency|help");
    // HISTOGRAM: the per-command latency histograms, for the commands named.
    both.script("SET k v\nSET k w\nGET k");
    for conn in [&mut both.cairn, &mut both.redis] {
        let f = conn.cmd("LATENCY HISTOGRAM set get nosuch");
        let pairs: Vec<(Frame, Frame)> = match &f {
            Frame::Array(v) => v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect(),
            other => panic!("{}", show(other)),
        };
        assert_eq!(pairs.len(), 2, "{}", show(&f));
        assert_eq!(bulk(&pairs[0].0), b"set");
        assert_eq!(histogram_entry(&pairs[0].1), 2);
        assert_eq!(bulk(&pairs[1].0), b"get");
        assert_eq!(histogram_entry(&pairs[1].1), 1);
    }
    both.resp3();
    both.script("LATENCY HISTOGRAM nosuch\nLATENCY LATEST");
    for conn in [&mut both.cairn, &mut both.redis] {
        let f = conn.cmd("LATENCY HISTOGRAM set");
        let Frame::Map(m) = &f else {
            panic!("{}", show(&f))
        };
        assert_eq!(m.len(), 1);
        assert_eq!(bulk(&m[0].0), b"set");
        assert_eq!(histogram_entry(&m[0].1), 2);
        assert!(matches!(conn.cmd("LATENCY DOCTOR"), Frame::Verbatim { .. }));
    }
}

#[test]
fn error_stats_as_redis() {
    let Some(mut both) = Both::start(&[], &[]) else {
        return;
    };
    both.script(
        "CONFIG RESETSTAT
         RPUSH l a
         GET l
         LPUSH l
         NOSUCHCOMMAND x
         INCR l
         INFO errorstats",
    );
    let total = |c: &mut Resp| {
        text(&c.cmd("INFO stats"))
            .lines()
            .find(|l| l.starts_with("total_error_replies:"))
            .map(str::to_owned)
    };
    assert_eq!(total(&mut both.cairn), total(&mut both.redis));
    assert_eq!(
        total(&mut both.cairn).as_deref(),
        Some("total_error_replies:4")
    );
    both.script("CONFIG RESETSTAT\nINFO errorstats");
    assert_eq!(
        total(&mut both.cairn).as_deref(),
        Some("total_error_replies:0")
    );
}

/// The Cairn-only checks: the entry's own fields, ids across RESET, the log off and the
/// latency event of DEBUG SLEEP, whether or not redis-server is installed.
#[test]
fn slowlog_and_latency_on_cairn() {
    let server = CairnProcess::start(&["--slowlog-log-slower-than", "0", "--slowlog-max-len", "5"]);
    let mut c = Resp::connect(server.addr);
    ok(&mut c, "CLIENT SETNAME tester");
    ok(&mut c, "SET k v");
    let f = c.cmd("SLOWLOG GET 1");
    let e = items(&items(&f)[0]);
    let id = int(&e[0]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((int(&e[1]) - now).abs() < 60, "{}", show(&f));
    assert!(int(&e[2]) >= 0);
    assert_eq!(
        e[3],
        Frame::Array(vec![
            Frame::Bulk(b"SET".to_vec()),
            Frame::Bulk(b"k".to_vec()),
            Frame::Bulk(b"v".to_vec())
        ])
    );
    assert!(bulk(&e[4]).starts_with(b"127.0.0.1:"));
    assert_eq!(bulk(&e[5]), b"tester");
    // Ids keep counting across RESET; max-len keeps the newest.
    ok(&mut c, "SLOWLOG RESET");
    for _ in 0..7 {
        c.cmd("PING");
    }
    assert_eq!(int(&c.cmd("SLOWLOG LEN")), 5);
    let all = c.cmd("SLOWLOG GET -1");
    let ids: Vec<i64> = items(&all).iter().map(|e| int(&items(e)[0])).collect();
    assert_eq!(ids.len(), 5);
    assert!(ids.windows(2).all(|w| w[0] == w[1] + 1), "{ids:?}");
    assert!(ids[4] > id + 2, "{ids:?}");
    assert_eq!(items(&c.cmd("SLOWLOG GET")).len(), 5);
    assert_eq!(items(&c.cmd("SLOWLOG GET 2")).len(), 2);
    // Off: nothing is logged, from any connection.
    ok(&mut c, "CONFIG SET slowlog-log-slower-than -1");
    ok(&mut c, "SLOWLOG RESET");
    let mut other = Resp::connect(server.addr);
    other.cmd("PING");
    assert_eq!(int(&c.cmd("SLOWLOG LEN")), 0);
    // A slow command in another connection is in this one's log.
    ok(&mut c, "CONFIG SET slowlog-log-slower-than 10000");
    ok(&mut other, "DEBUG SLEEP 0.02");
    let f = c.cmd("SLOWLOG GET");
    let e = items(&items(&f)[0]);
    assert!(int(&e[2]) >= 20_000, "{}", show(&f));
    assert_eq!(bulk(&items(&e[3])[0]), b"DEBUG");
    assert_eq!(bulk(&e[5]), b"");
    // LATENCY: off by default, then DEBUG SLEEP is a `command` event.
    assert!(text(&c.cmd("LATENCY DOCTOR")).contains("Latency monitoring is disabled"));
    ok(&mut c, "CONFIG SET latency-monitor-threshold 10");
    assert_eq!(items(&c.cmd("LATENCY LATEST")).len(), 0);
    ok(&mut other, "DEBUG SLEEP 0.02");
    latest_after_sleep(&c.cmd("LATENCY LATEST"));
    assert_eq!(items(&c.cmd("LATENCY HISTORY command")).len(), 1);
    assert_eq!(int(&c.cmd("LATENCY RESET")), 1);
    assert_eq!(
        c.cmd("LATENCY GRAPH command"),
        Frame::Error(b"ERR No samples available for event 'command'".to_vec())
    );
    assert_eq!(c.cmd("CONFIG GET latency-monitor-threshold"), {
        Frame::Array(vec![
            Frame::Bulk(b"latency-monitor-threshold".to_vec()),
            Frame::Bulk(b"10".to_vec()),
        ])
    });
}
