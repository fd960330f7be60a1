//! Random commands with hostile arguments against the real binary: every one must get
//! exactly one well-formed reply, and the server must keep serving. The seed is fixed, so
//! a failure replays; set CAIRN_FUZZ_SEED and CAIRN_FUZZ_COUNT to explore further.

mod common;

use std::io::Read;
use std::time::Duration;

use cairn_protocol::Frame;

/// Arguments chosen to hit edges: signs, overflow, floats, options, patterns, tags.
const ARGS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "7",
    "100",
    "100000",
    "-100000",
    "4294967",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1.5",
    "-0.5",
    "inf",
    "-inf",
    "nan",
    "1e308",
    "0x10",
    "",
    " ",
    "abc",
    "k1",
    "k2",
    "{t}a",
    "{t}b",
    "*",
    "k?",
    "[a-",
    "\\",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "NX",
    "XX",
    "GT",
    "LT",
    "GET",
    "KEEPTTL",
    "PERSIST",
    "MATCH",
    "COUNT",
    "TYPE",
    "string",
    "BIT",
    "BYTE",
    "LEN",
    "IDX",
    "MINMATCHLEN",
    "WITHMATCHLEN",
    "REPLACE",
    "ABSTTL",
    "IDLETIME",
    "FREQ",
    "DB",
    "ASYNC",
    "SYNC",
    "u8",
    "i64",
    "u63",
    "i1",
    "#1",
    "OVERFLOW",
    "FAIL",
    "SAT",
    "WRAP",
    "INCRBY",
    "SET",
    "AND",
    "OR",
    "XOR",
    "NOT",
    "ID",
    "ADDR",
    "SKIPME",
    "no",
    "yes",
    "ON",
    "OFF",
    "LIB-NAME",
    "maxmemory",
    "port",
    "*max*",
    "FILTERBY",
    "ACLCAT",
    "PATTERN",
    "FIELDS",
    "FNX",
    "FXX",
    "WITHVALUES",
    "NOVALUES",
    "WITHSCORES",
    "WITHSCORE",
    "BYSCORE",
    "BYLEX",
    "REV",
    "WEIGHTS",
    "AGGREGATE",
    "INCR",
    "GT",
    "LT",
    "CH",
    "MIN",
    "MAX",
    "-inf",
    "+inf",
    "(1.5",
    "[a",
    "(b",
    "-",
    "+",
    "1e300",
    "nan",
    "string",
    "\r\n",
    "\0binary\0",
    "STREAMS",
    "GROUP",
    "BLOCK",
    "MAXLEN",
    "MINID",
    "LIMIT",
    "~",
    "=",
    "NOMKSTREAM",
    "MKSTREAM",
    "ENTRIESREAD",
    "NOACK",
    "JUSTID",
    "FORCE",
    "IDLE",
    "RETRYCOUNT",
    "LASTID",
    "FULL",
    "$",
    ">",
    "0-0",
    "1-1",
    "1-*",
    "(1-1",
    "18446744073709551615-18446744073709551615",
];

/// Commands left out: they stop the server or this client on purpose, or sleep.
const SKIP: &[&str] = &[
    "shutdown",
    "debug",
    "quit",
    "client",
    "config",
    "reset",
    "hello",
    "auth",
    // One reply per channel, and subscribed mode changes what may follow (tests/pubsub.rs).
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "sunsubscribe",
    // PSYNC/SYNC turn the connection into a replica's (a snapshot follows, not a
    // reply), REPLICAOF makes the server a replica, WAIT blocks, REPLCONF ACK has no
    // reply by design (tests/replication.rs).
    "psync",
    "sync",
    "replicaof",
    "slaveof",
    "wait",
    "replconf",
    // MONITOR turns the connection into a monitor: lines for every command follow.
    "monitor",
];

/// A blocking pop on an empty key with timeout 0 waits for ever: the fuzzer's ones wait a
/// millisecond at most (their other arguments stay random).
fn bound_timeout(args: &mut [Vec<u8>]) {
    let at = match args[0].to_ascii_lowercase().as_slice() {
        b"blpop" | b"brpop" | b"bzpopmin" | b"bzpopmax" => {
            args.len().checked_sub(1).filter(|&i| i >= 2)
        }
        b"bzmpop" => Some(1),
        b"blmove" => Some(5),
        b"brpoplpush" => Some(3),
        b"blmpop" => Some(1),
        _ => None,
    };
    if let Some(slot) = at.and_then(|i| args.get_mut(i)) {
        *slot = b"0.001".to_vec();
    }
    // XREAD / XREADGROUP BLOCK n: a millisecond, wherever BLOCK is.
    if matches!(
        args[0].to_ascii_lowercase().as_slice(),
        b"xread" | b"xreadgroup"
    ) {
        for i in 1..args.len().saturating_sub(1) {
            if args[i].eq_ignore_ascii_case(b"block") {
                args[i + 1] = b"1".to_vec();
            }
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads exactly one reply frame.
fn read_frame(conn: &mut common::RawConn, buf: &mut Vec<u8>) -> Frame {
    loop {
        if let Some((frame, used)) = Frame::parse(buf).expect("well-formed reply") {
            buf.drain(..used);
            return frame;
        }
        let mut chunk = [0u8; 65536];
        let n = conn.s.read(&mut chunk).expect("reply arrives");
        assert!(n > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn random_commands_never_break_the_server() {
    let seed: u64 = std::env::var("CAIRN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_ca1e);
    let count: usize = std::env::var("CAIRN_FUZZ_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let srv = common::CairnProcess::start(&[]);
    let mut conn = srv.raw();
    conn.s
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();

    // every command and subcommand the server lists
    let mut buf = Vec::new();
    conn.send(&encode(&[b"COMMAND".to_vec(), b"LIST".to_vec()]));
    let Frame::Array(names) = read_frame(&mut conn, &mut buf) else {
        panic!("COMMAND LIST")
    };
    let names: Vec<Vec<String>> = names
        .into_iter()
        .filter_map(|f| match f {
            Frame::Bulk(b) => Some(String::from_utf8(b).unwrap()),
            _ => None,
        })
        .filter(|n| !SKIP.contains(&n.split('|').next().unwrap()))
        .map(|n| n.split('|').map(str::to_owned).collect())
        .collect();
    assert!(names.len() > 60, "{} commands", names.len());

    // xorshift stays at 0 from 0
    let mut rng = Rng(seed.max(1));
    let mut errors = 0;
    // Send in pipelined batches; each command must get exactly one reply, in order.
    for batch in 0..count / 100 {
        let mut wire = Vec::new();
        let mut sent = Vec::new();
        for _ in 0..100 {
            let mut args: Vec<Vec<u8>> = names[rng.below(names.len())]
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .collect();
            for _ in 0..rng.below(7) {
                args.push(ARGS[rng.below(ARGS.len())].as_bytes().to_vec());
            }
            bound_timeout(&mut args);
            wire.extend_from_slice(&encode(&args));
            sent.push(args);
        }
        conn.send(&wire);
        for args in &sent {
            match read_frame(&mut conn, &mut buf) {
                Frame::Error(_) => errors += 1,
                Frame::Push(p) => panic!("unexpected push {p:?} after {args:?}"),
                _ => {}
            }
        }
        assert!(
            buf.is_empty(),
            "batch {batch}: more replies than commands; sent {:?}",
            sent.iter()
                .map(|a| a
                    .iter()
                    .map(|x| String::from_utf8_lossy(x))
                    .collect::<Vec<_>>())
                .collect::<Vec<_>>()
        );
    }

    // still serving, on this connection and a new one (a random MULTI may still be open:
    // DISCARD answers OK or an error, either is fine)
    conn.send(b"DISCARD\r\n");
    read_frame(&mut conn, &mut buf);
    conn.send(b"PING\r\n");
    assert_eq!(
        read_frame(&mut conn, &mut buf),
        Frame::Simple(b"PONG".to_vec())
    );
    let mut fresh = srv.raw();
    fresh.roundtrip(b"PING\r\n", b"+PONG\r\n");
    // Random arguments are mostly wrong: the errors must have been answered, not dropped.
    assert!(
        errors > count / 10,
        "only {errors} errors in {count} random commands"
    );
}
