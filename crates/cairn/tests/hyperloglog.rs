//! HyperLogLog against the real binary, beside a real redis-server (7.0 here): every
//! reply, error and value byte held against Redis's own. The same hash, registers and
//! estimator give the same bytes and the same count, so HLL values move between the two
//! with GET/SET and DUMP/RESTORE and count identically on either side. Also: corrupt
//! values get Redis's errors, keyspace events and WATCH see what Redis's do, and the
//! journal replays PFADD / PFMERGE into identical values after a restart. Every
//! comparison is skipped, with a notice, when redis-server is not installed.

mod common;

use cairn_protocol::Frame;
use common::events::keyevents;
use common::versus::{Both, RedisServer, Same, show};
use common::{CairnProcess, q};
use redis::{Connection, Value};

/// A small deterministic generator (xorshift64*), for element sets and corruptions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn bulk(f: Frame) -> Vec<u8> {
    match f {
        Frame::Bulk(b) => b,
        other => panic!("not a bulk string: {}", show(&other)),
    }
}

/// Runs `args` on both servers; the replies must be equal. Binary-safe.
fn same(both: &mut Both, args: &[&[u8]]) {
    both.same(Same::Exactly, args);
}

/// PFADD of `elements` in commands of up to `chunk`, both servers answering alike.
fn add_all(both: &mut Both, key: &[u8], elements: &[Vec<u8>], chunk: usize) {
    for part in elements.chunks(chunk) {
        let mut args: Vec<&[u8]> = vec![b"PFADD", key];
        args.extend(part.iter().map(Vec::as_slice));
        same(both, &args);
    }
}

/// The value bytes, PFCOUNT and encoding of `key` agree on both servers.
fn agree(both: &mut Both, key: &[u8]) {
    same(both, &[b"GET", key]);
    same(both, &[b"PFDEBUG", b"ENCODING", key]);
    same(both, &[b"PFCOUNT", key]);
    // And once more, now from the cache PFCOUNT stored in the value.
    same(both, &[b"GET", key]);
    same(both, &[b"PFCOUNT", key]);
}

const SCRIPT: &str = "
    PFADD h a b c d e f g
    PFADD h a b
    PFADD h
    PFADD new
    PFADD new
    GET new
    PFCOUNT new
    GET new
    PFCOUNT h
    PFCOUNT h
    PFCOUNT nokey
    PFCOUNT nokey h
    PFCOUNT nokey other
    PFADD h2 e f g h i j
    PFCOUNT h h2
    PFCOUNT h h2 nokey
    GET h
    GET h2
    PFDEBUG ENCODING h
    PFDEBUG DECODE h
    PFDEBUG decode h2
    PFDEBUG GETREG new
    PFDEBUG ENCODING new
    PFDEBUG DECODE new
    PFDEBUG TODENSE new
    PFDEBUG TODENSE new
    GET new
    PFDEBUG ENCODING nokey
    PFDEBUG NOSUCH h
    PFDEBUG NOSUCH nokey
    PFDEBUG ENCODING h extra
    PFDEBUG ENCODING
    PFMERGE m h h2
    PFDEBUG ENCODING m
    PFDEBUG DECODE m
    GET m
    PFCOUNT m
    PFMERGE m
    GET m
    PFMERGE alone
    GET alone
    PFMERGE h h2 nokey
    GET h
    PFMERGE d new h
    PFDEBUG ENCODING d
    GET d
    PFCOUNT d
    OBJECT ENCODING h
    STRLEN h
    SET s hello
    PFADD s a
    PFCOUNT s
    PFCOUNT h s
    PFMERGE s h
    PFMERGE m s
    PFDEBUG ENCODING s
    SET n 12345678901234567
    PFCOUNT n
    PFADD n x
    RPUSH l a
    PFADD l a
    PFCOUNT l
    PFCOUNT h l
    PFMERGE l h
    PFMERGE h l
    PFDEBUG ENCODING l
    PFADD
    PFCOUNT
    PFMERGE
    PFSELFTEST extra
    EXPIRE h 100
    PFADD h zz
    TTL h
    PFMERGE h h2
    TTL h
";

#[test]
fn commands_answer_as_redis_does() {
    let Some(mut both) = Both::start(&[], &[]) else {
        return;
    };
    both.script(SCRIPT);
    // The same in RESP3.
    both.resp3();
    both.script("FLUSHALL");
    both.script(SCRIPT);
}

#[test]
fn command_docs_are_redis_s() {
    let Some(mut both) = Both::start(&[], &[]) else {
        return;
    };
    for c in ["pfadd", "pfcount", "pfmerge", "pfdebug", "pfselftest"] {
        both.script(&format!("COMMAND INFO {c}"));
    }
    both.script("COMMAND GETKEYS PFMERGE d s1 s2\nCOMMAND GETKEYS PFCOUNT a b c\nCOMMAND GETKEYS PFDEBUG GETREG k");
    both.script("PFSELFTEST");
}

/// Elements of several shapes: decimal numbers, every tail length of the hash's 8-byte
/// blocks, binary bytes, long strings, the empty string.
fn element_sets() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let numbers = (0..30_000u32).map(|i| i.to_string().into_bytes()).collect();
    let tails = (0..4000u32)
        .map(|i| {
            let len = (i % 23) as usize;
            let mut v = format!("{i:08}").into_bytes();
            v.resize(len.max(1), b'x');
            v.extend_from_slice(&i.to_le_bytes()[..(i % 5) as usize]);
            v
        })
        .collect();
    let binary = (0..6000)
        .map(|_| {
            let len = 1 + rng.below(40) as usize;
            (0..len).map(|_| rng.next() as u8).collect()
        })
        .collect();
    let long = (0..500u32)
        .map(|i| format!("{i}-{}", "long element ".repeat(1 + (i % 50) as usize)).into_bytes())
        .collect();
    let mut with_empty: Vec<Vec<u8>> = vec![Vec::new(), b" ".to_vec(), b"\0".to_vec()];
    with_empty.extend((0..50u32).map(|i| format!("e{i}").into_bytes()));
    vec![
        ("numbers", numbers),
        ("tails", tails),
        ("binary", binary),
        ("long", long),
        ("empty", with_empty),
    ]
}

/// Small and large cardinalities, in both encodings: after every batch the value's bytes,
/// its encoding and PFCOUNT are Redis's.
#[test]
fn estimates_and_bytes_equal_redis_s_for_many_item_sets() {
    let Some(mut both) = Both::start(&[], &[]) else {
        return;
    };
    for (name, elements) in element_sets() {
        let key = format!("hll:{name}").into_bytes();
        let mut done = 0;
        // Batches growing geometrically: 1, 2, 4, ... elements.
        let mut step = 1;
        while done < elements.len() {
            let end = (done + step).min(elements.len());
            add_all(&mut both, &key, &elements[done..end], 200);
            agree(&mut both, &key);
            done = end;
            step *= 2;
        }
    }
    // Unions of all of them, sparse and dense together.
    let keys: Vec<Vec<u8>> = element_sets()
        .iter()
        .map(|(n, _)| format!("hll:{n}").into_bytes())
        .collect();
    let mut args: Vec<&[u8]> = vec![b"PFCOUNT"];
    args.extend(keys.iter().map(Vec::as_slice));
    same(&mut both, &args);
    for pair in keys.windows(2) {
        same(&mut both, &[b"PFCOUNT", &pair[0], &pair[1]]);
        same(&mut both, &[b"PFMERGE", b"union", &pair[0], &pair[1]]);
        agree(&mut both, b"union");
    }
    let mut args: Vec<&[u8]> = vec![b"PFMERGE", b"everything"];
    args.extend(keys.iter().map(Vec::as_slice));
    same(&mut both, &args);
    agree(&mut both, b"everything");
}

/// The sparse → dense promotion happens at the same element as in Redis, for the default
/// `hll-sparse-max-bytes` and for smaller ones set at start-up or with CONFIG SET.
#[test]
fn promotion_happens_at_the_same_element() {
    let Some(mut both) = Both::start(
        &["--hll-sparse-max-bytes", "500"],
        &["--hll-sparse-max-bytes", "500"],
    ) else {
        return;
    };
    for (limit, key) in [("500", &b"p500"[..]), ("3000", b"p3000"), ("64", b"p64")] {
        same(
            &mut both,
            &[b"CONFIG", b"SET", b"hll-sparse-max-bytes", limit.as_bytes()],
        );
        let mut i = 0u32;
        loop {
            let e = format!("el{i}");
            same(&mut both, &[b"PFADD", key, e.as_bytes()]);
            same(&mut both, &[b"GET", key]);
            i += 1;
            let enc = both.redis.call(&[b"PFDEBUG", b"ENCODING", key]);
            same(&mut both, &[b"PFDEBUG", b"ENCODING", key]);
            if enc == Frame::Simple(b"dense".to_vec()) {
                break;
            }
            assert!(i < 10_000, "never promoted");
        }
        agree(&mut both, key);
    }
    // A register above 32 promotes at once. One element in 2^32 offers such a value;
    // this one (3130853818 as 8 little-endian bytes) was found by search.
    let element = 3_130_853_818u64.to_le_bytes();
    assert_eq!(cairn_store::hll::pattern(&element), (3655, 33));
    same(&mut both, &[b"PFADD", b"big", b"a", b"b"]);
    same(&mut both, &[b"PFDEBUG", b"ENCODING", b"big"]);
    same(&mut both, &[b"PFADD", b"big", &element]);
    same(&mut both, &[b"PFDEBUG", b"ENCODING", b"big"]);
    agree(&mut both, b"big");
}

/// HLLs made by one server are used by the other: copied with GET/SET and with
/// DUMP/RESTORE, they count the same, take more elements to the same bytes, and merge.
#[test]
fn values_move_between_redis_and_cairn_both_ways() {
    let Some(mut both) = Both::start(&[], &[]) else {
        return;
    };
    for (key, n) in [(&b"small"[..], 100u32), (b"large", 20_000)] {
        let elements: Vec<Vec<u8>> = (0..n).map(|i| format!("m{i}").into_bytes()).collect();
        // Made by Redis only, copied into Cairn with GET / SET.
        for part in elements.chunks(500) {
            let mut args: Vec<&[u8]> = vec![b"PFADD", key];
            args.extend(part.iter().map(Vec::as_slice));
            both.redis.call(&args);
        }
        let bytes = bulk(both.redis.call(&[b"GET", key]));
        assert_eq!(&bytes[..4], b"HYLL");
        assert_eq!(
            both.cairn.call(&[b"SET", key, &bytes]),
            Frame::Simple(b"OK".to_vec())
        );
        // Both hold it as SET made it (embstr when short); PFCOUNT makes it raw.
        both.redis.call(&[b"SET", key, &bytes]);
        same(&mut both, &[b"OBJECT", b"ENCODING", key]);
        agree(&mut both, key);
        same(&mut both, &[b"OBJECT", b"ENCODING", key]);
        same(&mut both, &[b"PFADD", key, b"one more", b"and another"]);
        agree(&mut both, key);
        // Redis's DUMP restored into Cairn.
        let dump = bulk(both.redis.call(&[b"DUMP", key]));
        let copy = [key, b":redis-dump"].concat();
        assert_eq!(
            both.cairn.call(&[b"RESTORE", &copy, b"0", &dump]),
            Frame::Simple(b"OK".to_vec())
        );
        both.redis.call(&[b"RESTORE", &copy, b"0", &dump]);
        agree(&mut both, &copy);
        // The other way: made by Cairn, copied into Redis with GET / SET and DUMP / RESTORE.
        let mine = [key, b":cairn"].concat();
        for part in elements.chunks(500) {
            let mut args: Vec<&[u8]> = vec![b"PFADD", &mine];
            args.extend(part.iter().map(Vec::as_slice));
            both.cairn.call(&args);
        }
        let bytes = bulk(both.cairn.call(&[b"GET", &mine]));
        both.redis.call(&[b"SET", &mine, &bytes]);
        agree(&mut both, &mine);
        let dump = bulk(both.cairn.call(&[b"DUMP", &mine]));
        let copy = [key, b":cairn-dump"].concat();
        assert_eq!(
            both.redis.call(&[b"RESTORE", &copy, b"0", &dump]),
            Frame::Simple(b"OK".to_vec())
        );
        both.cairn.call(&[b"RESTORE", &copy, b"0", &dump]);
        agree(&mut both, &copy);
        same(&mut both, &[b"PFMERGE", b"merged", key, &mine, &copy]);
        agree(&mut both, b"merged");
    }
}

/// Strings that are not HLLs, and HLLs whose bytes were damaged: Redis's WRONGTYPE and
/// INVALIDOBJ errors, or Redis's results where Redis finds nothing wrong.
#[test]
fn corrupt_values_get_redis_s_errors() {
    let Some(mut both) = Both::start(&[], &[]) else {
        return;
    };
    let header = |enc: u8| {
        let mut h = b"HYLL".to_vec();
        h.extend_from_slice(&[enc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]);
        h
    };
    let cat = |a: &[u8], b: &[u8]| [a, b].concat();
    let mut dense_wrong = header(0);
    dense_wrong.resize(12_303, 0);
    let mut dense_high = header(0);
    dense_high.resize(12_304, 0xff);
    let mut dense_51 = header(0);
    dense_51.resize(12_304, 0);
    for i in 0..16_384usize {
        // Every register 51 (0b110011), written as the 6-bit packing lays it out.
        let (byte, fb) = (i * 6 / 8, (i * 6) & 7);
        let at = 16 + byte;
        dense_51[at] |= (51u16 << fb) as u8;
        if at + 1 < dense_51.len() {
            dense_51[at + 1] |= (51u16 << fb >> 8) as u8;
        }
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("short", b"HYLL".to_vec()),
        ("magic", cat(b"HYLX", &header(1)[4..])),
        ("encoding 2", cat(&header(2), &[0x7f, 0xff])),
        ("dense too short", dense_wrong),
        ("header only", header(1)),
        ("too few registers", cat(&header(1), &[0x7e, 0x7f])),
        ("too many registers", cat(&header(1), &[0x7f, 0xff, 0x00])),
        ("val past the end", cat(&header(1), &[0x7f, 0xfd, 0x8f])),
        (
            "cut xzero",
            cat(&header(1), &[0x3f, 0x3f, 0x3f, 0x3e, 0x7f]),
        ),
        ("cut xzero short", cat(&header(1), &[0x7f])),
        ("dense all 63", dense_high),
        ("dense all 51", dense_51),
        (
            "cached count valid",
            cat(&header(1)[..15], &[0x00, 0x7f, 0xff]),
        ),
    ];
    for (name, bytes) in &cases {
        let key = name.as_bytes();
        for args in [
            &[b"SET", key, bytes][..],
            &[b"PFCOUNT", key],
            &[b"PFCOUNT", key],
            &[b"GET", key],
            &[b"PFCOUNT", key, b"nokey"],
            &[b"PFDEBUG", b"ENCODING", key],
            &[b"PFDEBUG", b"DECODE", key],
            &[b"PFMERGE", b"dest", key],
            &[b"PFMERGE", key, b"nokey"],
            &[b"GET", key],
            &[b"PFADD", key, b"a", b"b", b"c"],
            &[b"GET", key],
            &[b"PFDEBUG", b"TODENSE", key],
            &[b"GET", key],
            &[b"PFDEBUG", b"GETREG", key],
            &[b"PFCOUNT", key],
        ] {
            same(&mut both, args);
        }
    }
}

/// Real HLLs with random bytes overwritten: whatever Redis makes of them, Cairn makes the
/// same (errors, counts, the bytes PFADD leaves).
#[test]
fn damaged_values_behave_as_in_redis() {
    let Some(mut both) = Both::start(&[], &[]) else {
        return;
    };
    let mut rng = Rng(7);
    for round in 0..300u32 {
        let key = b"victim";
        let n = 1 + rng.below(if round % 4 == 0 { 3000 } else { 200 });
        let elements: Vec<Vec<u8>> = (0..n)
            .map(|i| format!("r{round}:{i}").into_bytes())
            .collect();
        both.redis.call(&[b"DEL", key]);
        for part in elements.chunks(500) {
            let mut args: Vec<&[u8]> = vec![b"PFADD", key];
            args.extend(part.iter().map(Vec::as_slice));
            both.redis.call(&args);
        }
        let mut bytes = bulk(both.redis.call(&[b"GET", key]));
        for _ in 0..1 + rng.below(3) {
            let at = 16 + rng.below(bytes.len() as u64 - 16) as usize;
            bytes[at] = rng.next() as u8;
        }
        if rng.below(5) == 0 {
            let cut = 16 + rng.below(bytes.len() as u64 - 16) as usize;
            bytes.truncate(cut);
        }
        same(&mut both, &[b"SET", key, &bytes]);
        same(&mut both, &[b"PFCOUNT", key]);
        same(&mut both, &[b"PFCOUNT", key, b"nokey"]);
        same(&mut both, &[b"PFDEBUG", b"DECODE", key]);
        let more: Vec<Vec<u8>> = (0..20)
            .map(|i| format!("more{round}:{i}").into_bytes())
            .collect();
        let mut args: Vec<&[u8]> = vec![b"PFADD", key];
        args.extend(more.iter().map(Vec::as_slice));
        same(&mut both, &args);
        same(&mut both, &[b"GET", key]);
        same(&mut both, &[b"PFCOUNT", key]);
        same(&mut both, &[b"PFMERGE", b"out", key]);
        same(&mut both, &[b"GET", b"out"]);
    }
}

#[test]
fn keyspace_events_are_redis_s() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let commands: &[&[&str]] = &[
        &["PFADD", "h", "a", "b"],
        &["PFADD", "h", "a"],
        &["PFADD", "e"],
        &["PFADD", "e"],
        &["PFCOUNT", "h"],
        &["PFCOUNT", "h", "e", "missing"],
        &["PFCOUNT", "missing"],
        &["PFMERGE", "m", "h", "e"],
        &["PFMERGE", "m"],
        &["PFMERGE", "n", "missing"],
        &["PFDEBUG", "TODENSE", "h"],
        &["PFDEBUG", "GETREG", "e"],
        &["SET", "s", "x"],
        &["PFADD", "s", "a"],
        &["PFMERGE", "s", "h"],
    ];
    let from_redis = keyevents(|| redis.client(), commands);
    let from_cairn = keyevents(|| cairn.client(), commands);
    assert!(from_redis.len() >= 6, "{from_redis:?}");
    assert_eq!(from_cairn, from_redis);
}

/// WATCH sees what Redis's WATCH sees: PFADD that changed a register, PFMERGE, and the
/// cached count PFCOUNT writes back abort the transaction; a PFADD that changed nothing
/// and a PFCOUNT answered from the cache do not.
#[test]
fn watch_sees_what_redis_sees() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let run = |client: &dyn Fn() -> Connection| -> Vec<bool> {
        let mut a = client();
        let mut b = client();
        let _: i64 = q(&mut a, &["PFADD", "w", "x", "y"]);
        let mut outcomes = Vec::new();
        for other in [
            &["PFCOUNT", "w"][..], // computes and stores the cache: a change
            &["PFCOUNT", "w"],     // from the cache: no change
            &["PFADD", "w", "x"],  // nothing new
            &["PFADD", "w", "z"],  // a new register
            &["PFMERGE", "w", "w"],
            &["PFCOUNT", "w", "w"],
            &["PFDEBUG", "ENCODING", "w"],
        ] {
            let _: () = q(&mut a, &["WATCH", "w"]);
            let _: Value = common::cmd(other).query(&mut b).unwrap();
            let _: () = q(&mut a, &["MULTI"]);
            let _: () = q(&mut a, &["PING"]);
            let done: Value = q(&mut a, &["EXEC"]);
            outcomes.push(done != Value::Nil);
        }
        outcomes
    };
    let from_redis = run(&|| redis.client());
    let from_cairn = run(&|| cairn.client());
    assert_eq!(from_cairn, from_redis);
    assert_eq!(from_redis[..3], [false, true, true]);
}

/// What the journal holds replays to the same values: PFADD as its operation (sparse,
/// through promotion, dense), the SET of a new HLL, PFMERGE's result, PFDEBUG TODENSE's
/// conversion, and PFCOUNT's cached count as the PFCOUNT that stored it: after a
/// restart every value holds the very same bytes.
#[test]
fn the_journal_replays_identical_values() {
    let dir = std::env::temp_dir().join(format!("cairn-hll-aof-{}", std::process::id()));
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
        "--hll-sparse-max-bytes",
        "1000",
    ];
    let keys = [
        "sparse",
        "promoted",
        "dense",
        "empty",
        "merged",
        "converted",
        "corrupt",
    ];
    let get = |c: &mut Connection, k: &str| -> Option<Vec<u8>> { q(c, &["GET", k]) };
    let before: Vec<(Option<Vec<u8>>, i64)>;
    {
        let srv = CairnProcess::start(&args);
        let mut c = srv.client();
        let add = |c: &mut Connection, key: &str, from: u32, to: u32| {
            for lo in (from..to).step_by(100) {
                let mut cmd = redis::cmd("PFADD");
                cmd.arg(key);
                for i in lo..(lo + 100).min(to) {
                    cmd.arg(format!("e{i}"));
                }
                let _: i64 = cmd.query(c).unwrap();
            }
        };
        add(&mut c, "sparse", 0, 50);
        add(&mut c, "promoted", 0, 300);
        add(&mut c, "promoted", 300, 600);
        add(&mut c, "dense", 0, 5000);
        let _: i64 = q(&mut c, &["PFADD", "empty"]);
        let _: () = q(&mut c, &["PFMERGE", "merged", "sparse", "promoted"]);
        let _: i64 = q(&mut c, &["PFADD", "converted", "a", "b"]);
        let _: i64 = q(&mut c, &["PFDEBUG", "TODENSE", "converted"]);
        // Registers set before a corrupt spot stay set; the value is journaled whole.
        let mut bad = get(&mut c, "sparse").unwrap();
        bad.truncate(bad.len() - 1);
        let _: () = common::qb(&mut c, &[b"SET", b"corrupt", &bad]);
        let _: Value = redis::cmd("PFADD")
            .arg("corrupt")
            .arg((0..50).map(|i| format!("c{i}")).collect::<Vec<_>>())
            .query(&mut c)
            .unwrap_or(Value::Nil);
        // A PFCOUNT fills the cache (journaled as that PFCOUNT).
        let _: i64 = q(&mut c, &["PFCOUNT", "dense"]);
        before = keys
            .iter()
            .map(|k| {
                let n = redis::cmd("PFCOUNT").arg(*k).query(&mut c).unwrap_or(-1);
                (get(&mut c, k), n)
            })
            .collect();
    }
    let srv = CairnProcess::start(&args);
    let mut c = srv.client();
    for (k, (bytes, n)) in keys.iter().zip(&before) {
        let after = get(&mut c, k);
        let (a, b) = (after.as_ref().unwrap(), bytes.as_ref().unwrap());
        assert_eq!(a, b, "{k}");
        let count: i64 = redis::cmd("PFCOUNT").arg(*k).query(&mut c).unwrap_or(-1);
        assert_eq!(count, *n, "{k}");
    }
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A replica applies what the primary journals: PFADD as its operation (creating,
/// sparse, promoting, dense), PFMERGE's and PFDEBUG TODENSE's values, PFCOUNT's cached
/// count; its copies hold the primary's bytes, and count the same.
#[test]
fn a_replica_holds_the_primary_s_values() {
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
    let field = |c: &mut Connection, name: &str| -> u64 {
        let text: String = q(c, &["INFO", "replication"]);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    common::wait_until(30, "the replica's link is up", || {
        let text: String = q(&mut r, &["INFO", "replication"]);
        text.contains("master_link_status:up")
    });
    let add = |c: &mut Connection, key: &str, from: u32, to: u32| {
        for lo in (from..to).step_by(250) {
            let mut cmd = redis::cmd("PFADD");
            cmd.arg(key);
            for i in lo..(lo + 250).min(to) {
                cmd.arg(format!("r{i}"));
            }
            let _: i64 = cmd.query(c).unwrap();
        }
    };
    add(&mut p, "small", 0, 40);
    add(&mut p, "grows", 0, 4000);
    let _: i64 = q(&mut p, &["PFADD", "bare"]);
    let _: i64 = q(&mut p, &["PFADD", "small", "r1", "r2"]);
    let _: i64 = q(&mut p, &["PFCOUNT", "grows"]);
    let _: () = q(&mut p, &["PFMERGE", "merged", "small", "grows"]);
    let _: i64 = q(&mut p, &["PFADD", "todense", "a"]);
    let _: i64 = q(&mut p, &["PFDEBUG", "TODENSE", "todense"]);
    let offset = field(&mut p, "master_repl_offset");
    common::wait_until(30, "the replica caught up", || {
        field(&mut r, "slave_repl_offset") >= offset
    });
    for k in ["small", "grows", "bare", "merged", "todense"] {
        let a: Vec<u8> = q(&mut p, &["GET", k]);
        let b: Vec<u8> = q(&mut r, &["GET", k]);
        assert_eq!(a, b, "{k}");
        let (x, y): (i64, i64) = (q(&mut p, &["PFCOUNT", k]), q(&mut r, &["PFCOUNT", k]));
        assert_eq!(x, y, "{k}");
    }
}
