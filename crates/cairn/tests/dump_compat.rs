//! DUMP / RESTORE / MIGRATE between Cairn and a real redis-server (7.0 here): payloads
//! move both ways byte-compatibly (docs/dump-format.md). Hash and set payloads are
//! captured from redis-server at run time and decoded with `cairn_store::rdb`, and
//! payloads Cairn's encoder writes are RESTOREd into redis-server. Every test is skipped,
//! with a notice, when redis-server is not installed.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_store::rdb::{self, RdbValue};
use common::versus::RedisServer;
use common::{CairnProcess, cmd, q, qb};
use redis::{Connection, Value};

/// A Cairn node and a redis-server, each with a connection; `None` without redis-server.
fn both() -> Option<(CairnProcess, Connection, RedisServer, Connection)> {
    let redis = RedisServer::start(&[])?;
    let rcon = redis.client();
    let cairn = CairnProcess::start(&[]);
    let ccon = cairn.client();
    Some((cairn, ccon, redis, rcon))
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The error line of a binary command that must fail (without `-`).
fn errb(con: &mut Connection, args: &[&[u8]]) -> String {
    match cmd(args).query::<Value>(con) {
        Ok(v) => panic!(
            "{:?} succeeded with {v:?}",
            String::from_utf8_lossy(args[0])
        ),
        Err(e) => match (e.code(), e.detail()) {
            (Some(code), Some(detail)) => format!("{code} {detail}"),
            (Some(code), None) => code.to_string(),
            _ => panic!("not an error reply: {e}"),
        },
    }
}

fn dump(con: &mut Connection, key: &[u8]) -> Vec<u8> {
    qb(con, &[b"DUMP", key])
}

fn restore(con: &mut Connection, key: &[u8], payload: &[u8]) {
    assert_eq!(
        qb::<String>(con, &[b"RESTORE", key, b"0", payload]),
        "OK",
        "RESTORE {}",
        String::from_utf8_lossy(key)
    );
}

fn get(con: &mut Connection, key: &[u8]) -> Option<Vec<u8>> {
    qb(con, &[b"GET", key])
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// `n` bytes LZF cannot shrink (xorshift).
fn incompressible(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// The string values both directions are checked with, and their names.
fn string_cases() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("short", b"hello".to_vec()),
        ("empty", Vec::new()),
        ("int", b"12345".to_vec()),
        ("minus-one", b"-1".to_vec()),
        ("int8-edge", b"-128".to_vec()),
        ("int32-min", b"-2147483648".to_vec()),
        ("past-int32", b"2147483648".to_vec()),
        ("i64-max", b"9223372036854775807".to_vec()),
        ("leading-zero", b"007".to_vec()),
        ("minus-zero", b"-0".to_vec()),
        ("compressible", b"abcdefgh".repeat(2000)),
        ("incompressible", incompressible(20_000)),
        ("binary", b"\x00\r\n\xff\xfe binary \x00\x01".to_vec()),
        ("twenty-one", b"aaaaaaaaaaaaaaaaaaaaa".to_vec()),
    ]
}

// ---------------------------------------------------------------------------------------
// Strings, both ways
// ---------------------------------------------------------------------------------------

#[test]
fn strings_dumped_by_redis_restore_into_cairn() {
    let Some((_cairn, mut ccon, _redis, mut rcon)) = both() else {
        return;
    };
    for (name, value) in string_cases() {
        let key = name.as_bytes();
        qb::<()>(&mut rcon, &[b"SET", key, &value]);
        let payload = dump(&mut rcon, key);
        if name == "compressible" {
            // redis-server compressed it (RDB_ENC_LZF), so the LZF reader is exercised
            assert_eq!(&payload[..2], &[0x00, 0xc3], "Redis LZF-compresses {name}");
        }
        restore(&mut ccon, key, &payload);
        assert_eq!(get(&mut ccon, key), Some(value.clone()), "{name}");
        // Redis and Cairn write the same bytes whenever Redis did not compress
        if payload[1] != 0xc3 {
            assert_eq!(dump(&mut ccon, key), payload, "Cairn's DUMP of {name}");
        }
    }
    // integers are held as integers again
    assert_eq!(
        q::<String>(&mut ccon, &["OBJECT", "ENCODING", "int"]),
        "int"
    );
    assert_eq!(q::<i64>(&mut ccon, &["INCR", "int"]), 12346);
}

#[test]
fn strings_dumped_by_cairn_restore_into_redis() {
    let Some((_cairn, mut ccon, _redis, mut rcon)) = both() else {
        return;
    };
    for (name, value) in string_cases() {
        let key = name.as_bytes();
        qb::<()>(&mut ccon, &[b"SET", key, &value]);
        let payload = dump(&mut ccon, key);
        restore(&mut rcon, key, &payload);
        assert_eq!(get(&mut rcon, key), Some(value.clone()), "{name}");
    }
    // a value changed in place (APPEND: Cairn's raw form) and an INCRed integer
    q::<()>(&mut ccon, &["SET", "grown", "abc"]);
    q::<i64>(&mut ccon, &["APPEND", "grown", "def"]);
    q::<i64>(&mut ccon, &["INCRBY", "counter", "-70000"]);
    for key in [&b"grown"[..], b"counter"] {
        let payload = dump(&mut ccon, key);
        restore(&mut rcon, key, &payload);
    }
    assert_eq!(get(&mut rcon, b"grown").as_deref(), Some(&b"abcdef"[..]));
    assert_eq!(get(&mut rcon, b"counter").as_deref(), Some(&b"-70000"[..]));
    assert_eq!(
        q::<String>(&mut rcon, &["OBJECT", "ENCODING", "counter"]),
        "int"
    );
}

#[test]
fn restore_options_work_on_the_other_server_s_payloads() {
    let Some((_cairn, mut ccon, _redis, mut rcon)) = both() else {
        return;
    };
    qb::<()>(&mut rcon, &[b"SET", b"k", b"from redis"]);
    let from_redis = dump(&mut rcon, b"k");
    qb::<()>(&mut ccon, &[b"SET", b"k", b"from cairn"]);
    let from_cairn = dump(&mut ccon, b"k");
    for (con, payload, other) in [
        (&mut ccon, &from_redis, &b"from redis"[..]),
        (&mut rcon, &from_cairn, &b"from cairn"[..]),
    ] {
        // a relative TTL
        qb::<()>(con, &[b"RESTORE", b"rel", b"5000", payload]);
        let p: i64 = q(con, &["PTTL", "rel"]);
        assert!((4000..=5000).contains(&p), "pttl {p}");
        // ABSTTL
        let at = (now_ms() + 100_000).to_string();
        qb::<()>(
            con,
            &[b"RESTORE", b"abs", at.as_bytes(), payload, b"ABSTTL"],
        );
        assert_eq!(q::<String>(con, &["PEXPIRETIME", "abs"]), at);
        // an existing key: BUSYKEY, then REPLACE
        assert_eq!(
            errb(con, &[b"RESTORE", b"k", b"0", payload]),
            "BUSYKEY Target key name already exists."
        );
        assert_eq!(
            qb::<String>(con, &[b"RESTORE", b"k", b"0", payload, b"REPLACE"]),
            "OK"
        );
        assert_eq!(get(con, b"k").as_deref(), Some(other));
        assert_eq!(q::<i64>(con, &["PTTL", "k"]), -1);
    }
}

#[test]
fn damage_is_refused_with_the_same_words_on_both_servers() {
    let Some((_cairn, mut ccon, _redis, mut rcon)) = both() else {
        return;
    };
    qb::<()>(&mut rcon, &[b"SET", b"k", b"value"]);
    qb::<()>(&mut ccon, &[b"SET", b"k", b"value"]);
    let checksum = "ERR DUMP payload version or checksum are wrong";
    let bad_format = "ERR Bad data format";
    refuses_damaged_payloads(&mut rcon, &mut ccon);
    refuses_damaged_payloads(&mut ccon, &mut rcon);
    // a stream whose entry count lies (the length field of a one-entry stream says 2)
    q::<String>(&mut rcon, &["XADD", "stream", "1-1", "f", "v"]);
    let payload = dump(&mut rcon, b"stream");
    restore(&mut ccon, b"stream", &payload);
    let mut lying = payload[..payload.len() - 10].to_vec();
    // length 1, last id 1-1, first id 1-1, max deleted 0-0, entries added 1, no groups
    let at = lying
        .windows(9)
        .rposition(|w| w == [1, 1, 1, 1, 1, 0, 0, 1, 0])
        .expect("the stream's counters");
    lying[at] = 2;
    lying.extend_from_slice(&payload[payload.len() - 10..payload.len() - 8]);
    let crc = crc64(&lying);
    lying.extend_from_slice(&crc.to_le_bytes());
    // (Redis checks it only with sanitize-dump-payload; Cairn always does)
    assert_eq!(
        errb(&mut ccon, &[b"RESTORE", b"lying", b"0", &lying]),
        bad_format
    );
    // an RDB version redis-server 7.0 does not know (Redis 7.4's 12) with a good checksum:
    // Cairn reads it, 7.0 refuses it
    let payload = dump(&mut ccon, b"k");
    let mut v12 = payload[..payload.len() - 10].to_vec();
    v12.extend_from_slice(&12u16.to_le_bytes());
    let crc = crc64(&v12);
    v12.extend_from_slice(&crc.to_le_bytes());
    restore(&mut ccon, b"v12", &v12);
    assert_eq!(errb(&mut rcon, &[b"RESTORE", b"v12", b"0", &v12]), checksum);
}

/// Damaged copies of `source`'s DUMP of `k` are refused by `target` with Redis's words.
fn refuses_damaged_payloads(source: &mut Connection, target: &mut Connection) {
    let checksum = "ERR DUMP payload version or checksum are wrong";
    let payload = dump(source, b"k");
    let mut flipped = payload.clone();
    flipped[2] ^= 0x20;
    assert_eq!(errb(target, &[b"RESTORE", b"x", b"0", &flipped]), checksum);
    let truncated = &payload[..payload.len() - 1];
    assert_eq!(errb(target, &[b"RESTORE", b"x", b"0", truncated]), checksum);
    assert_eq!(errb(target, &[b"RESTORE", b"x", b"0", b"short"]), checksum);
}

/// Redis's CRC-64 (Jones, reflected), bit by bit: an independent check of the footer.
fn crc64(bytes: &[u8]) -> u64 {
    const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;
    let mut crc = 0u64;
    for &b in bytes {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
        }
    }
    crc
}

// ---------------------------------------------------------------------------------------
// Hashes and sets: Redis's payloads decoded, Cairn's encoded payloads restored into Redis
// ---------------------------------------------------------------------------------------

type Pairs = BTreeSet<(Vec<u8>, Vec<u8>)>;

fn hgetall(con: &mut Connection, key: &str) -> Pairs {
    let flat: Vec<Vec<u8>> = q(con, &["HGETALL", key]);
    flat.chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

fn smembers(con: &mut Connection, key: &str) -> BTreeSet<Vec<u8>> {
    q(con, &["SMEMBERS", key])
}

fn hset(con: &mut Connection, key: &str, pairs: &Pairs) {
    for chunk in pairs.iter().collect::<Vec<_>>().chunks(100) {
        let mut c = redis::cmd("HSET");
        c.arg(key);
        for (f, v) in chunk {
            c.arg(f.as_slice()).arg(v.as_slice());
        }
        c.query::<i64>(con).unwrap();
    }
}

fn sadd(con: &mut Connection, key: &str, members: &BTreeSet<Vec<u8>>) {
    for chunk in members.iter().collect::<Vec<_>>().chunks(100) {
        let mut c = redis::cmd("SADD");
        c.arg(key);
        for m in chunk {
            c.arg(m.as_slice());
        }
        c.query::<i64>(con).unwrap();
    }
}

/// The hashes both directions are checked with: name, pairs, the object type Redis 7.0
/// writes for them.
fn hash_cases() -> Vec<(&'static str, Pairs, u8)> {
    let b = |s: &str| s.as_bytes().to_vec();
    let small: Pairs = [
        ("name", "cairn"),
        ("n", "12"),
        ("neg", "-5000"),
        ("big", "100000"),
        ("7", "x"),
        ("i64", "-9223372036854775808"),
        ("empty", ""),
    ]
    .iter()
    .map(|(f, v)| (b(f), b(v)))
    .collect();
    let repetitive: Pairs = (0..20)
        .map(|i| {
            (
                format!("field:{i:04}").into_bytes(),
                b"same-value-same-value".to_vec(),
            )
        })
        .collect();
    let large: Pairs = (0..600)
        .map(|i| (format!("f{i}").into_bytes(), i.to_string().into_bytes()))
        .collect();
    let long_values: Pairs = [
        (b("short"), b("v")),
        (b("long"), b"x".repeat(65)),
        (b("longer"), incompressible(5000)),
    ]
    .into_iter()
    .collect();
    let binary: Pairs = [(b"\x00\xff".to_vec(), b"\r\n".to_vec())]
        .into_iter()
        .collect();
    vec![
        ("hash:small", small, rdb::types::HASH_LISTPACK),
        ("hash:repetitive", repetitive, rdb::types::HASH_LISTPACK),
        ("hash:large", large, rdb::types::HASH),
        ("hash:long-values", long_values, rdb::types::HASH),
        ("hash:binary", binary, rdb::types::HASH_LISTPACK),
    ]
}

/// The sets both directions are checked with: name, members, the object type Redis 7.0
/// writes for them.
fn set_cases() -> Vec<(&'static str, BTreeSet<Vec<u8>>, u8)> {
    let ints = |v: &[i64]| v.iter().map(|i| i.to_string().into_bytes()).collect();
    vec![
        (
            "set:small-ints",
            ints(&[1, 2, 3, -7, 300]),
            rdb::types::SET_INTSET,
        ),
        (
            "set:int32",
            ints(&[-70000, 5, 1 << 30]),
            rdb::types::SET_INTSET,
        ),
        (
            "set:int64",
            ints(&[i64::MIN, 0, i64::MAX, 1 << 40]),
            rdb::types::SET_INTSET,
        ),
        (
            "set:strings",
            ["apple", "banana", "007", "1"]
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .collect(),
            rdb::types::SET,
        ),
        (
            "set:many-ints",
            ints(&(0..600).map(|i| i * 3).collect::<Vec<_>>()),
            rdb::types::SET,
        ),
        (
            "set:many-strings",
            (0..1000)
                .map(|i| format!("member-{i}").into_bytes())
                .collect(),
            rdb::types::SET,
        ),
    ]
}

fn as_pairs(v: RdbValue) -> Pairs {
    match v {
        RdbValue::Hash(pairs) => {
            let n = pairs.len();
            let set: Pairs = pairs.into_iter().collect();
            assert_eq!(set.len(), n, "no repeated fields");
            set
        }
        other => panic!("not a hash: {other:?}"),
    }
}

fn as_members(v: RdbValue) -> BTreeSet<Vec<u8>> {
    match v {
        RdbValue::Set(members) => {
            let n = members.len();
            let set: BTreeSet<Vec<u8>> = members.into_iter().collect();
            assert_eq!(set.len(), n, "no repeated members");
            set
        }
        other => panic!("not a set: {other:?}"),
    }
}

/// Cairn's encoder writes the very bytes Redis wrote for a packed value (listpack,
/// intset: their order is the payload's) that Redis did not LZF-compress.
fn same_bytes_when_uncompressed(key: &str, value: &RdbValue, payload: &[u8]) {
    let packed = [rdb::types::HASH_LISTPACK, rdb::types::SET_INTSET].contains(&payload[0]);
    if packed && payload[1] != 0xc3 {
        assert_eq!(
            rdb::encode_payload(value),
            payload,
            "Cairn's bytes for {key}"
        );
    }
}

#[test]
fn hashes_and_sets_dumped_by_redis_decode() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let mut rcon = redis.client();
    for (key, pairs, kind) in hash_cases() {
        hset(&mut rcon, key, &pairs);
        let payload = dump(&mut rcon, key.as_bytes());
        assert_eq!(payload[0], kind, "Redis's object type for {key}");
        if key == "hash:repetitive" {
            // the listpack blob itself is LZF-compressed
            assert_eq!(payload[1], 0xc3, "Redis compresses the blob of {key}");
        }
        let value = rdb::decode_payload(&payload).unwrap_or_else(|e| panic!("{key}: {e:?}"));
        same_bytes_when_uncompressed(key, &value, &payload);
        assert_eq!(as_pairs(value), pairs, "{key}");
    }
    for (key, members, kind) in set_cases() {
        sadd(&mut rcon, key, &members);
        let payload = dump(&mut rcon, key.as_bytes());
        assert_eq!(payload[0], kind, "Redis's object type for {key}");
        let value = rdb::decode_payload(&payload).unwrap_or_else(|e| panic!("{key}: {e:?}"));
        same_bytes_when_uncompressed(key, &value, &payload);
        assert_eq!(as_members(value), members, "{key}");
    }
}

#[test]
fn hashes_and_sets_encoded_by_cairn_restore_into_redis() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let mut rcon = redis.client();
    for (key, pairs, kind) in hash_cases() {
        let list: Vec<(&[u8], &[u8])> = pairs.iter().map(|(f, v)| (&f[..], &v[..])).collect();
        let payload = rdb::encode_hash(&list);
        assert_eq!(payload[0], kind, "Cairn's object type for {key}");
        restore(&mut rcon, key.as_bytes(), &payload);
        assert_eq!(hgetall(&mut rcon, key), pairs, "{key}");
        let encoding: String = q(&mut rcon, &["OBJECT", "ENCODING", key]);
        let want = if kind == rdb::types::HASH {
            "hashtable"
        } else {
            "listpack"
        };
        assert_eq!(encoding, want, "{key}");
        // and Redis's own DUMP of it reads back the same
        let again = rdb::decode_payload(&dump(&mut rcon, key.as_bytes())).unwrap();
        assert_eq!(as_pairs(again), pairs, "{key}");
    }
    for (key, members, kind) in set_cases() {
        let value = RdbValue::Set(members.iter().cloned().collect());
        let payload = rdb::encode_payload(&value);
        assert_eq!(payload[0], kind, "Cairn's object type for {key}");
        restore(&mut rcon, key.as_bytes(), &payload);
        assert_eq!(smembers(&mut rcon, key), members, "{key}");
        let encoding: String = q(&mut rcon, &["OBJECT", "ENCODING", key]);
        let want = if kind == rdb::types::SET {
            "hashtable"
        } else {
            "intset"
        };
        assert_eq!(encoding, want, "{key}");
        let again = rdb::decode_payload(&dump(&mut rcon, key.as_bytes())).unwrap();
        assert_eq!(as_members(again), members, "{key}");
    }
}

/// A hash's fields, sorted, and a set's members, sorted: how two servers are compared.
fn contents(con: &mut Connection, key: &str) -> Vec<Vec<u8>> {
    let kind: String = q(con, &["TYPE", key]);
    let mut items: Vec<Vec<u8>> = match kind.as_str() {
        "hash" => q::<Vec<(Vec<u8>, Vec<u8>)>>(con, &["HGETALL", key])
            .into_iter()
            .map(|(f, v)| [f, b"=".to_vec(), v].concat())
            .collect(),
        "set" => q(con, &["SMEMBERS", key]),
        other => panic!("{key} is a {other}"),
    };
    items.sort();
    items
}

/// Hashes and sets, small (listpack, intset) and big (tables), move both ways.
#[test]
fn hashes_and_sets_move_both_ways() {
    let Some((_cairn, mut ccon, _redis, mut rcon)) = both() else {
        return;
    };
    for con in [&mut ccon, &mut rcon] {
        q::<i64>(con, &["HSET", "h", "f", "v", "n", "12"]);
        q::<i64>(con, &["SADD", "ints", "1", "-7", "70000"]);
        q::<i64>(con, &["SADD", "words", "a", "b", "1"]);
        for i in 0..600 {
            q::<i64>(
                con,
                &["HSET", "bigh", &format!("f{i}"), &"x".repeat(i % 90)],
            );
            q::<i64>(con, &["SADD", "bigs", &format!("m{i}")]);
        }
    }
    for key in ["h", "ints", "words", "bigh", "bigs"] {
        let from_redis = dump(&mut rcon, key.as_bytes());
        let from_cairn = dump(&mut ccon, key.as_bytes());
        let copy = format!("{key}:copy");
        let _: () = qb(&mut ccon, &[b"RESTORE", copy.as_bytes(), b"0", &from_redis]);
        let _: () = qb(&mut rcon, &[b"RESTORE", copy.as_bytes(), b"0", &from_cairn]);
        let want = contents(&mut rcon, key);
        assert_eq!(
            contents(&mut ccon, &copy),
            want,
            "{key} from Redis into Cairn"
        );
        assert_eq!(
            contents(&mut rcon, &copy),
            want,
            "{key} from Cairn into Redis"
        );
    }
    let enc: String = q(&mut ccon, &["OBJECT", "ENCODING", "ints:copy"]);
    assert_eq!(enc, "intset");
    let enc: String = q(&mut ccon, &["OBJECT", "ENCODING", "bigh:copy"]);
    assert_eq!(enc, "hashtable");
}

// ---------------------------------------------------------------------------------------
// MIGRATE from Cairn to redis-server
// ---------------------------------------------------------------------------------------

fn migrate(
    con: &mut Connection,
    to: SocketAddr,
    key: &str,
    options: &[&str],
) -> redis::RedisResult<Value> {
    let port = to.port().to_string();
    let mut args = vec!["MIGRATE", "127.0.0.1", port.as_str(), key, "0", "5000"];
    args.extend_from_slice(options);
    cmd(&args).query(con)
}

#[test]
fn migrate_moves_strings_to_redis_with_their_ttls() {
    let Some((_cairn, mut ccon, redis, mut rcon)) = both() else {
        return;
    };
    // one key with a TTL
    q::<()>(&mut ccon, &["SET", "a", "hello", "PX", "100000"]);
    assert_eq!(
        migrate(&mut ccon, redis.addr, "a", &[]).unwrap(),
        Value::Okay
    );
    assert_eq!(q::<i64>(&mut ccon, &["EXISTS", "a"]), 0);
    assert_eq!(get(&mut rcon, b"a").as_deref(), Some(&b"hello"[..]));
    let p: i64 = q(&mut rcon, &["PTTL", "a"]);
    assert!((90_000..=100_000).contains(&p), "pttl {p}");
    // several keys at once (an integer, a long compressible one, a binary one), REPLACE
    // over what Redis holds, COPY keeps them here
    let long = "xyz".repeat(10_000);
    q::<()>(&mut ccon, &["SET", "n", "-42"]);
    q::<()>(&mut ccon, &["SET", "long", &long]);
    qb::<()>(&mut ccon, &[b"SET", b"bin", b"\x00\xff\r\n"]);
    q::<()>(&mut rcon, &["SET", "n", "old"]);
    assert_eq!(
        migrate(
            &mut ccon,
            redis.addr,
            "",
            &["COPY", "REPLACE", "KEYS", "n", "long", "bin"]
        )
        .unwrap(),
        Value::Okay
    );
    assert_eq!(q::<i64>(&mut ccon, &["EXISTS", "n", "long", "bin"]), 3);
    assert_eq!(get(&mut rcon, b"n").as_deref(), Some(&b"-42"[..]));
    assert_eq!(get(&mut rcon, b"long"), Some(long.into_bytes()));
    assert_eq!(
        get(&mut rcon, b"bin").as_deref(),
        Some(&b"\x00\xff\r\n"[..])
    );
    assert_eq!(q::<i64>(&mut rcon, &["PTTL", "n"]), -1);
}

#[test]
fn migrate_moves_a_3_mb_string_to_redis_whole() {
    let Some((_cairn, mut ccon, redis, mut rcon)) = both() else {
        return;
    };
    // every megabyte different, so a piece out of place or missing shows
    let mut value = incompressible(3 << 20);
    value[0] = b'<';
    value[(1 << 20) - 1] = b'|';
    value[1 << 20] = b'|';
    *value.last_mut().unwrap() = b'>';
    qb::<()>(&mut ccon, &[b"SET", b"big", &value, b"PX", b"200000"]);
    assert_eq!(
        migrate(&mut ccon, redis.addr, "big", &[]).unwrap(),
        Value::Okay
    );
    assert_eq!(q::<i64>(&mut ccon, &["EXISTS", "big"]), 0);
    assert_eq!(q::<i64>(&mut rcon, &["STRLEN", "big"]), 3 << 20);
    assert!(
        get(&mut rcon, b"big") == Some(value),
        "the 3 MB value arrived whole"
    );
    let p: i64 = q(&mut rcon, &["PTTL", "big"]);
    assert!((150_000..=200_000).contains(&p), "pttl {p}");
}

/// A big hash moves to redis-server in steps (RESTORE of the first, then HSETs), and a
/// big set likewise (SADDs): Redis holds every element.
#[test]
fn migrate_moves_big_collections_to_redis_in_steps() {
    let Some((_cairn, mut ccon, redis, mut rcon)) = both() else {
        return;
    };
    let mut hset = redis::cmd("HSET");
    hset.arg("h");
    let mut sadd = redis::cmd("SADD");
    sadd.arg("s");
    for i in 0..5_000 {
        hset.arg(format!("f{i}")).arg(i);
        sadd.arg(i * 3);
    }
    let _: i64 = hset.query(&mut ccon).unwrap();
    let _: i64 = sadd.query(&mut ccon).unwrap();
    let want_h: std::collections::BTreeMap<String, String> = q(&mut ccon, &["HGETALL", "h"]);
    let want_s: BTreeSet<String> = q(&mut ccon, &["SMEMBERS", "s"]);
    assert_eq!(
        migrate(&mut ccon, redis.addr, "", &["KEYS", "h", "s"]).unwrap(),
        Value::Okay
    );
    assert_eq!(q::<i64>(&mut ccon, &["EXISTS", "h", "s"]), 0);
    let got_h: std::collections::BTreeMap<String, String> = q(&mut rcon, &["HGETALL", "h"]);
    assert!(got_h == want_h, "redis holds {} fields", got_h.len());
    let got_s: BTreeSet<String> = q(&mut rcon, &["SMEMBERS", "s"]);
    assert!(got_s == want_s, "redis holds {} members", got_s.len());
}

// ---------------------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------------------

fn rpush(con: &mut Connection, key: &str, elements: &[Vec<u8>]) {
    for chunk in elements.chunks(500) {
        let mut c = redis::cmd("RPUSH");
        c.arg(key);
        for e in chunk {
            c.arg(&e[..]);
        }
        let _: i64 = c.query(con).unwrap();
    }
}

fn lrange(con: &mut Connection, key: &str) -> Vec<Vec<u8>> {
    q(con, &["LRANGE", key, "0", "-1"])
}

/// The lists both directions are checked with: one node, integers of every listpack
/// width, repeats and empty elements, an element longer than a node, many nodes.
fn list_cases() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let ints = [
        "0",
        "127",
        "128",
        "-1",
        "-4096",
        "4095",
        "4096",
        "32767",
        "-32769",
        "8388607",
        "-8388609",
        "2147483647",
        "2147483648",
        "-9223372036854775808",
        "007",
        "-0",
    ];
    vec![
        (
            "list:small",
            [&b"a"[..], b"b", b"c", b"1", b"-300", b"100000"]
                .map(<[u8]>::to_vec)
                .to_vec(),
        ),
        (
            "list:ints",
            ints.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ),
        (
            "list:repeats",
            [&b"x"[..], b"", b"x", b"", b"x"]
                .map(<[u8]>::to_vec)
                .to_vec(),
        ),
        (
            "list:long-element",
            vec![b"head".to_vec(), incompressible(20_000), b"tail".to_vec()],
        ),
        (
            "list:big",
            (0..5_000u32)
                .map(|i| match i % 3 {
                    0 => i.to_string().into_bytes(),
                    1 => format!("element:{i}").into_bytes(),
                    _ => vec![b'x'; (i % 200) as usize],
                })
                .collect(),
        ),
    ]
}

/// Lists keep their order both ways: Redis's payloads decode and RESTORE into Cairn,
/// Cairn's RESTORE into Redis (which reads them back the same from its own DUMP), and
/// where Redis did not compress a node Cairn writes the very same bytes.
#[test]
fn lists_move_both_ways_in_order() {
    let Some((_cairn, mut ccon, _redis, mut rcon)) = both() else {
        return;
    };
    for (key, elements) in list_cases() {
        rpush(&mut rcon, key, &elements);
        rpush(&mut ccon, key, &elements);
        let from_redis = dump(&mut rcon, key.as_bytes());
        let from_cairn = dump(&mut ccon, key.as_bytes());
        assert_eq!(from_redis[0], rdb::types::LIST_QUICKLIST_2, "{key}");
        assert_eq!(from_cairn[0], rdb::types::LIST_QUICKLIST_2, "{key}");
        assert_eq!(
            rdb::decode_payload(&from_redis),
            Ok(RdbValue::List(elements.clone())),
            "{key}"
        );
        if key == "list:small" {
            assert_eq!(from_cairn, from_redis, "Cairn's bytes for {key}");
        }
        let copy = format!("{key}:copy");
        restore(&mut ccon, copy.as_bytes(), &from_redis);
        restore(&mut rcon, copy.as_bytes(), &from_cairn);
        assert!(lrange(&mut ccon, &copy) == elements, "{key} from Redis");
        assert!(lrange(&mut rcon, &copy) == elements, "{key} from Cairn");
        let again = rdb::decode_payload(&dump(&mut rcon, copy.as_bytes())).unwrap();
        assert!(again == RdbValue::List(elements.clone()), "{key} again");
    }
}

/// A big list moves to redis-server in steps (a RESTORE of its first elements, then
/// RPUSHes of the next), in order, with its TTL; elements of 300 KB make many steps.
#[test]
fn migrate_moves_big_lists_to_redis_in_steps_in_order() {
    let Some((_cairn, mut ccon, redis, mut rcon)) = both() else {
        return;
    };
    let mut elements: Vec<Vec<u8>> = (0..10_000u32)
        .map(|i| format!("e{i}").into_bytes())
        .collect();
    elements.extend((0..10u8).map(|i| vec![b'a' + i; 300_000]));
    elements.push(b"last".to_vec());
    rpush(&mut ccon, "l", &elements);
    let _: i64 = q(&mut ccon, &["EXPIRE", "l", "1000"]);
    let _: i64 = q(&mut rcon, &["RPUSH", "l", "stale"]);
    assert_eq!(
        migrate(&mut ccon, redis.addr, "l", &["REPLACE"]).unwrap(),
        Value::Okay
    );
    assert_eq!(q::<i64>(&mut ccon, &["EXISTS", "l"]), 0);
    let got = lrange(&mut rcon, "l");
    assert!(got == elements, "redis holds {} elements", got.len());
    let ttl: i64 = q(&mut rcon, &["TTL", "l"]);
    assert!((990..=1000).contains(&ttl), "ttl {ttl}");
}

// ---------------------------------------------------------------------------------------
// Sorted sets
// ---------------------------------------------------------------------------------------

fn zrange(con: &mut Connection, key: &str) -> Vec<(String, String)> {
    q(con, &["ZRANGE", key, "0", "-1", "WITHSCORES"])
}

/// Sorted sets move both ways, small (a listpack, byte-identical where Redis did not
/// compress it) and big (ZSET_2), with their scores spelled the same after.
#[test]
fn sorted_sets_move_both_ways() {
    let Some((_cairn, mut ccon, _redis, mut rcon)) = both() else {
        return;
    };
    let small = [
        "1", "a", "2", "b", "-3", "c", "inf", "d", "-inf", "e", "1.5", "f",
    ];
    for con in [&mut ccon, &mut rcon] {
        let mut c = redis::cmd("ZADD");
        c.arg("zs").arg(&small[..]);
        let _: i64 = c.query(con).unwrap();
        for chunk in (0..3000u32).collect::<Vec<_>>().chunks(500) {
            let mut c = redis::cmd("ZADD");
            c.arg("zb");
            for i in chunk {
                c.arg(f64::from(*i) / 3.0).arg(format!("member:{i}"));
            }
            let _: i64 = c.query(con).unwrap();
        }
    }
    for key in ["zs", "zb"] {
        let from_redis = dump(&mut rcon, key.as_bytes());
        let from_cairn = dump(&mut ccon, key.as_bytes());
        if key == "zs" {
            assert_eq!(from_cairn, from_redis, "Cairn's bytes for {key}");
        }
        let copy = format!("{key}:copy");
        restore(&mut ccon, copy.as_bytes(), &from_redis);
        restore(&mut rcon, copy.as_bytes(), &from_cairn);
        let want = zrange(&mut rcon, key);
        assert_eq!(zrange(&mut ccon, &copy), want, "{key} from Redis");
        assert_eq!(zrange(&mut rcon, &copy), want, "{key} from Cairn");
    }
}

/// A big sorted set moves to redis-server in steps (a RESTORE of its first members, then
/// ZADDs by ZSCAN cursor) and arrives whole.
#[test]
fn migrate_moves_big_sorted_sets_to_redis_in_steps() {
    let Some((_cairn, mut ccon, redis, mut rcon)) = both() else {
        return;
    };
    for chunk in (0..8000u32).collect::<Vec<_>>().chunks(1000) {
        let mut c = redis::cmd("ZADD");
        c.arg("z");
        for i in chunk {
            c.arg(f64::from(*i) * 0.1).arg(format!("m{i}"));
        }
        let _: i64 = c.query(&mut ccon).unwrap();
    }
    let want = zrange(&mut ccon, "z");
    assert_eq!(
        migrate(&mut ccon, redis.addr, "z", &[]).unwrap(),
        Value::Okay
    );
    assert_eq!(q::<i64>(&mut ccon, &["EXISTS", "z"]), 0);
    assert_eq!(zrange(&mut rcon, "z"), want);
}
